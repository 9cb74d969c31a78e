//! Synthetic event sequences through the state engine, asserting field values as Falco
//! prints them. Each step is a record built with the event crate's encoder, applied with
//! `State::update`, then checked through the `FieldSource` the rules use.

use std::net::Ipv4Addr;

use peregrine_event::builder::{AddrArg, Arg, RecordBuilder, TupleArg};
use peregrine_event::Event;
use peregrine_filter::fields::{info, resolve_text};
use peregrine_filter::format::render_value;
use peregrine_filter::{Extracted, FieldSource};
use peregrine_state::fd::{Fd, FdKind};
use peregrine_state::thread::Process;
use peregrine_state::users::UserDb;
use peregrine_state::{State, StateConfig};

const O_RDONLY: u32 = 0;
const O_WRONLY: u32 = 1;
const O_CREAT: u32 = 0o100;
const O_CLOEXEC: u32 = 0o2000000;
const O_DIRECTORY: u32 = 0o200000;
const CLONE_THREAD: u64 = 0x10000 | 0x100 | 0x400 | 0x800 | 0x200;

struct Sim {
    state: State,
    last: Vec<u8>,
    ts: u64,
}

impl Sim {
    /// A state with init (1) → sshd (50) → bash (100, cwd /root, stdio on /dev/pts/0).
    fn new() -> Self {
        let mut state = State::new(StateConfig {
            proc_root: None,
            container_sockets: Vec::new(),
            ..StateConfig::default()
        });
        let base = |pid, ppid, comm: &str, exe: &str| Process {
            pid,
            ppid,
            vpid: pid,
            sid: 100,
            vpgid: pid,
            comm: comm.into(),
            exe: exe.into(),
            exepath: exe.into(),
            cwd: "/".into(),
            loginuid: u32::MAX,
            start_ts: 1_000,
            ..Process::default()
        };
        state.insert_process(base(1, 0, "systemd", "/sbin/init"), &[(1, 1)]);
        state.insert_process(base(50, 1, "sshd", "/usr/sbin/sshd"), &[(50, 50)]);
        let mut bash = base(100, 50, "bash", "-bash");
        bash.cwd = "/root/".into();
        bash.uid = 1000;
        bash.gid = 50;
        bash.loginuid = 1000;
        bash.cap_effective = (1 << 21) | 1;
        for n in 0..3 {
            bash.fds.insert(n, Fd::new(FdKind::File, "/dev/pts/0"));
        }
        state.insert_process(bash, &[(100, 100)]);
        state.set_users(
            "",
            UserDb::parse(
                "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/zsh\n",
                "root:x:0:\nstaff:x:50:\n",
            ),
        );
        Sim {
            state,
            last: Vec::new(),
            ts: 1_000_000_000,
        }
    }

    /// A simulation on `state` as it is, the clock at 1 ns.
    fn on(state: State) -> Self {
        Sim {
            state,
            last: Vec::new(),
            ts: 1,
        }
    }

    /// A state from `config` with bash (100) and its child nginx (300) just cloned into the
    /// podman container `id` (its cgroup names it): the last event is that clone.
    fn nginx_in_libpod(config: StateConfig, id: &str) -> Self {
        let mut state = State::new(config);
        let bash = Process {
            pid: 100,
            ppid: 1,
            comm: "bash".into(),
            ..Process::default()
        };
        state.insert_process(bash, &[(100, 100)]);
        let mut sim = Sim::on(state);
        let cg = format!("memory=/libpod_parent/libpod-{id}");
        sim.ev(
            "clone",
            300,
            300,
            &[
                ("res", i(0)),
                ("ptid", i(100)),
                ("comm", s("nginx")),
                ("cgroups", list(&[&cg])),
            ],
        );
        sim
    }

    /// Applies one event of thread `tid` (process `pid`) with the given arguments.
    fn ev(&mut self, name: &str, tid: u32, pid: u32, args: &[(&str, Arg)]) -> &mut Self {
        self.ts += 1_000;
        let mut b = if name == "procexit" {
            RecordBuilder::procexit()
        } else {
            RecordBuilder::syscall(name).expect("event name")
        }
        .thread(tid, pid)
        .ts(self.ts);
        for (k, v) in args {
            b = b.arg(k, v.clone()).expect("argument");
        }
        self.last = b.build();
        let ev = Event::decode(&self.last, 0).expect("decodes");
        self.state.update(&ev);
        self
    }

    /// The value of `field` on the last event, rendered as Falco prints it (several values
    /// joined by `,`, none as `<NA>`).
    fn field(&mut self, field: &str) -> String {
        let req = resolve_text(field).expect("field");
        let ev = Event::decode(&self.last, 0).expect("decodes");
        let mut out = Extracted::default();
        self.state.source(&ev).extract(&req, &mut out);
        if out.is_empty() {
            return "<NA>".into();
        }
        let mut vals = Vec::new();
        for v in out.iter() {
            let mut s = String::new();
            render_value(info(req.id), v, &mut s);
            vals.push(s);
        }
        vals.join(",")
    }

    fn check(&mut self, expected: &[(&str, &str)]) -> &mut Self {
        for (f, want) in expected {
            assert_eq!(self.field(f), *want, "{f}");
        }
        self
    }
}

/// A request's head from a fake API socket's connection: up to the blank line, or what came
/// before the connection ended.
fn request_head(conn: &mut impl std::io::Read) -> Vec<u8> {
    let mut req = Vec::new();
    let mut b = [0u8; 256];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&b[..n]),
        }
    }
    req
}

fn s(v: &str) -> Arg {
    Arg::from(v)
}
fn i(v: i64) -> Arg {
    Arg::Int(v)
}
fn u(v: u64) -> Arg {
    Arg::Uint(v)
}
fn list(v: &[&str]) -> Arg {
    Arg::from(v)
}
fn v4(a: [u8; 4], p: u16) -> (Ipv4Addr, u16) {
    (Ipv4Addr::from(a), p)
}

#[test]
fn fork_exec_open_dup2_close_exit() {
    let mut sim = Sim::new();
    // bash forks: the parent's side, then the child's.
    sim.ev(
        "clone",
        100,
        100,
        &[
            ("res", i(200)),
            ("exe", s("-bash")),
            ("comm", s("bash")),
            ("cwd", s("/root")),
            ("flags", u(0x11)),
        ],
    )
    .check(&[("proc.name", "bash"), ("proc.pid", "100")]);
    sim.ev(
        "clone",
        200,
        200,
        &[
            ("res", i(0)),
            ("exe", s("-bash")),
            ("comm", s("bash")),
            ("ptid", i(100)),
            ("vpid", i(200)),
            ("vtid", i(200)),
            ("cwd", s("/root")),
        ],
    )
    .check(&[
        ("proc.name", "bash"),
        ("proc.pname", "bash"),
        ("proc.pid", "200"),
        ("proc.ppid", "100"),
        ("proc.cwd", "/root/"),
        ("proc.fdopencount", "3"),
        ("proc.duration", "1000"),
    ]);
    assert_eq!(sim.state.thread_count(), 4);
    sim.ev(
        "execve",
        200,
        200,
        &[
            ("res", i(0)),
            ("exe", s("cat")),
            ("args", list(&["../etc/passwd", "-n"])),
            ("comm", s("cat")),
            ("cwd", s("/root")),
            ("env", list(&["HOME=/root", "TERM=xterm"])),
            ("trusted_exepath", s("/usr/bin/cat")),
            ("filename", s("/bin/cat")),
            ("uid", u(1000)),
            ("gid", u(50)),
            ("loginuid", u(1000)),
            ("cap_effective", u(1 << 21)),
            ("exe_ino", u(4242)),
            ("flags", u(4)),
        ],
    )
    .check(&[
        ("proc.name", "cat"),
        ("proc.exe", "cat"),
        ("proc.exepath", "/usr/bin/cat"),
        ("proc.cmdline", "cat ../etc/passwd -n"),
        ("proc.args", "../etc/passwd -n"),
        ("proc.exeline", "cat ../etc/passwd -n"),
        ("proc.cmdnargs", "2"),
        ("proc.cmdlenargs", "15"),
        ("proc.pname", "bash"),
        ("proc.pexe", "-bash"),
        ("proc.pcmdline", "bash"),
        ("proc.aname[0]", "cat"),
        ("proc.aname[1]", "bash"),
        ("proc.aname[2]", "sshd"),
        ("proc.aname[3]", "systemd"),
        ("proc.aname[4]", "<NA>"),
        ("proc.aname", "bash,sshd,systemd"),
        ("proc.apid[2]", "50"),
        ("proc.aexepath[2]", "/usr/sbin/sshd"),
        ("proc.env", "HOME=/root TERM=xterm"),
        ("proc.env[TERM]", "xterm"),
        ("proc.env[NOPE]", "<NA>"),
        ("proc.sname", "bash"),
        ("proc.loginshellid", "100"),
        ("proc.exe_ino", "4242"),
        ("proc.is_exe_from_memfd", "true"),
        ("proc.is_exe_upper_layer", "false"),
        ("thread.cap_effective", "CAP_SYS_ADMIN"),
        ("thread.tid", "200"),
        ("thread.ismain", "true"),
        ("user.uid", "1000"),
        ("user.name", "alice"),
        ("user.homedir", "/home/alice"),
        ("user.shell", "/bin/zsh"),
        ("user.loginuid", "1000"),
        ("user.loginname", "alice"),
        ("group.gid", "50"),
        ("group.name", "staff"),
        ("container.id", "host"),
        ("container.name", "host"),
        ("evt.type", "execve"),
        ("evt.res", "SUCCESS"),
        ("evt.failed", "false"),
    ]);
    sim.ev(
        "openat",
        200,
        200,
        &[
            ("fd", i(3)),
            ("dirfd", i(-100)),
            ("name", s("../etc/passwd")),
            ("flags", u((O_RDONLY | O_CLOEXEC).into())),
            ("ino", u(77)),
        ],
    )
    .check(&[
        ("fd.num", "3"),
        ("fd.name", "/etc/passwd"),
        ("fd.nameraw", "../etc/passwd"),
        ("fd.directory", "/etc"),
        ("fd.filename", "passwd"),
        ("fd.type", "file"),
        ("fd.typechar", "f"),
        ("fd.ino", "77"),
        ("fd.containername", "host:/etc/passwd"),
        ("evt.is_open_read", "true"),
        ("evt.is_open_write", "false"),
        // libsinsp resolves a relative path in evt.arg (the raw one is in evt.args).
        ("evt.arg.name", "/etc/passwd"),
        ("evt.arg.fd", "<f>/etc/passwd"),
        ("evt.rawarg.fd", "3"),
        ("proc.fdopencount", "4"),
        ("fs.path.name", "/etc/passwd"),
    ]);
    sim.ev(
        "dup2",
        200,
        200,
        &[("res", i(0)), ("oldfd", i(3)), ("newfd", i(0))],
    )
    .check(&[
        ("fd.num", "3"),
        ("fd.name", "/etc/passwd"),
        ("proc.stdin.name", "/etc/passwd"),
        ("proc.stdin.type", "file"),
        ("proc.stdout.name", "/dev/pts/0"),
    ]);
    sim.ev("close", 200, 200, &[("res", i(0)), ("fd", i(3))])
        // The closed fd is still visible to the close event itself.
        .check(&[("fd.name", "/etc/passwd"), ("proc.fdopencount", "4")]);
    sim.ev("close", 200, 200, &[("res", i(-9)), ("fd", i(3))])
        .check(&[
            ("fd.name", "<NA>"),
            ("fd.num", "3"),
            ("proc.fdopencount", "3"),
            ("evt.res", "EBADF"),
            ("evt.rawres", "-9"),
            ("evt.failed", "true"),
        ]);
    sim.ev("procexit", 200, 200, &[("status", i(0))])
        .check(&[("proc.name", "cat")]);
    sim.ev("close", 100, 100, &[("res", i(0)), ("fd", i(1))]);
    assert!(sim.state.thread(200).is_none());
    assert!(sim.state.process(200).is_none());
    let c = sim.state.counters();
    assert_eq!((c.threads, c.threads_added, c.threads_removed), (3, 4, 1));
}

#[test]
fn chdir_then_relative_open_and_dirfd() {
    let mut sim = Sim::new();
    sim.ev(
        "chdir",
        100,
        100,
        &[("res", i(0)), ("path", s("/var//log/"))],
    )
    .check(&[("proc.cwd", "/var/log/")]);
    sim.ev("chdir", 100, 100, &[("res", i(0)), ("path", s("../lib"))])
        .check(&[("proc.cwd", "/var/lib/")]);
    sim.ev(
        "chdir",
        100,
        100,
        &[("res", i(-2)), ("path", s("/nonexistent"))],
    )
    .check(&[("proc.cwd", "/var/lib/"), ("evt.res", "ENOENT")]);
    sim.ev(
        "open",
        100,
        100,
        &[
            ("fd", i(3)),
            ("name", s("dpkg/status")),
            ("flags", u((O_WRONLY | O_CREAT).into())),
            ("mode", u(0o755)),
        ],
    )
    .check(&[
        ("fd.name", "/var/lib/dpkg/status"),
        ("evt.is_open_write", "true"),
        ("evt.is_open_create", "true"),
        ("evt.is_open_exec", "true"),
    ]);
    sim.ev(
        "openat",
        100,
        100,
        &[
            ("fd", i(4)),
            ("dirfd", i(-100)),
            ("name", s("/etc")),
            ("flags", u((O_RDONLY | O_DIRECTORY).into())),
        ],
    )
    .check(&[
        ("fd.type", "directory"),
        ("fd.typechar", "d"),
        ("fd.directory", "/etc"),
        ("fd.filename", "<NA>"),
    ]);
    sim.ev(
        "openat",
        100,
        100,
        &[
            ("fd", i(5)),
            ("dirfd", i(4)),
            ("name", s("ssh/sshd_config")),
            ("flags", u(O_RDONLY.into())),
        ],
    )
    .check(&[
        ("fd.name", "/etc/ssh/sshd_config"),
        ("fd.nameraw", "ssh/sshd_config"),
    ]);
    // A failed open is still described by fd.* for its own event, and never enters the table.
    sim.ev(
        "openat",
        100,
        100,
        &[
            ("fd", i(-13)),
            ("dirfd", i(-100)),
            ("name", s("/etc/shadow")),
            ("flags", u(O_RDONLY.into())),
        ],
    )
    .check(&[
        ("fd.name", "/etc/shadow"),
        ("evt.res", "EACCES"),
        ("proc.fdopencount", "6"),
    ]);
    sim.ev("fchdir", 100, 100, &[("res", i(0)), ("fd", i(4))])
        .check(&[("proc.cwd", "/etc/")]);
    sim.ev(
        "unlinkat",
        100,
        100,
        &[("res", i(0)), ("dirfd", i(4)), ("name", s("motd"))],
    )
    .check(&[
        ("fs.path.name", "/etc/motd"),
        ("fs.path.nameraw", "motd"),
        ("evt.abspath", "/etc/motd"),
    ]);
    sim.ev(
        "renameat",
        100,
        100,
        &[
            ("res", i(0)),
            ("olddirfd", i(-100)),
            ("oldpath", s("a")),
            ("newdirfd", i(4)),
            ("newpath", s("../b")),
        ],
    )
    .check(&[
        ("fs.path.source", "/etc/a"),
        ("fs.path.target", "/b"),
        ("fs.path.targetraw", "../b"),
        ("fs.path.name", "<NA>"),
    ]);
    sim.ev(
        "symlink",
        100,
        100,
        &[("res", i(0)), ("target", s("../x")), ("linkpath", s("l"))],
    )
    .check(&[("fs.path.source", "../x"), ("fs.path.target", "/etc/l")]);
}

#[test]
fn threads_share_fds_and_exec_closes_cloexec() {
    let mut sim = Sim::new();
    // The new thread's own record comes first and, like the kernel's, carries no flags: the
    // header (tid 101 in thread group 100) must be enough not to make it a new process.
    sim.ev(
        "clone",
        101,
        100,
        &[("res", i(0)), ("ptid", i(100)), ("vtid", i(101))],
    )
    .check(&[
        ("thread.tid", "101"),
        ("proc.pid", "100"),
        ("thread.ismain", "false"),
        ("proc.nthreads", "2"),
        ("proc.nchilds", "1"),
        ("proc.name", "bash"),
        ("proc.fdopencount", "3"),
    ]);
    sim.ev(
        "clone",
        100,
        100,
        &[("res", i(101)), ("flags", u(CLONE_THREAD))],
    )
    .check(&[("proc.nthreads", "2"), ("proc.fdopencount", "3")]);
    sim.ev(
        "openat",
        101,
        100,
        &[
            ("fd", i(3)),
            ("dirfd", i(-100)),
            ("name", s("/tmp/keep")),
            ("flags", u(O_RDONLY.into())),
        ],
    );
    sim.ev(
        "openat",
        101,
        100,
        &[
            ("fd", i(4)),
            ("dirfd", i(-100)),
            ("name", s("/tmp/drop")),
            ("flags", u((O_RDONLY | O_CLOEXEC).into())),
        ],
    );
    sim.ev(
        "pipe2",
        101,
        100,
        &[
            ("res", i(0)),
            ("fd1", i(5)),
            ("fd2", i(6)),
            ("ino", u(999)),
            ("flags", u(O_CLOEXEC.into())),
        ],
    );
    sim.ev(
        "dup3",
        101,
        100,
        &[
            ("res", i(7)),
            ("oldfd", i(3)),
            ("newfd", i(7)),
            ("flags", u(O_CLOEXEC.into())),
        ],
    );
    sim.ev(
        "fcntl",
        101,
        100,
        &[("res", i(8)), ("fd", i(4)), ("cmd", u(0))],
    );
    sim.ev(
        "memfd_create",
        101,
        100,
        &[("fd", i(9)), ("name", s("payload")), ("flags", u(0))],
    )
    .check(&[
        ("fd.type", "memfd"),
        ("fd.typechar", "m"),
        ("fd.name", "payload"),
    ]);
    sim.ev(
        "eventfd2",
        101,
        100,
        &[("res", i(10)), ("initval", u(0)), ("flags", u(0))],
    )
    .check(&[("fd.type", "event"), ("fd.typechar", "e")]);
    // The main thread sees what the other thread opened.
    sim.ev("close", 100, 100, &[("res", i(0)), ("fd", i(5))])
        .check(&[
            ("fd.name", ""),
            ("fd.type", "pipe"),
            ("proc.fdopencount", "11"),
        ]);
    sim.ev("close", 100, 100, &[("res", i(0)), ("fd", i(8))])
        .check(&[("fd.name", "/tmp/drop"), ("proc.fdopencount", "10")]);
    sim.ev(
        "execve",
        101,
        100,
        &[
            ("res", i(0)),
            ("exe", s("/bin/true")),
            ("comm", s("true")),
            ("filename", s("/bin/true")),
        ],
    )
    .check(&[
        ("proc.exepath", "/bin/true"),
        ("proc.nthreads", "1"),
        ("fd.types", "event,file,memfd"),
    ]);
    let p = sim.state.process(100).expect("process");
    let mut open: Vec<i64> = p.fds.keys().copied().collect();
    open.sort_unstable();
    // 0-2 stdio, 3 /tmp/keep, 9 memfd (no MFD_CLOEXEC), 10 eventfd; 4, 6, 7 were close-on-exec.
    assert_eq!(open, [0, 1, 2, 3, 9, 10]);
    sim.ev("close", 100, 100, &[("res", i(0)), ("fd", i(3))])
        .check(&[("fd.types", "event,file,memfd"), ("fd.types[3]", "file")]);
}

#[test]
fn socket_connect_then_sendto_renames() {
    let mut sim = Sim::new();
    sim.ev(
        "socket",
        100,
        100,
        &[
            ("fd", i(3)),
            ("domain", u(2)),
            ("type", u(1)),
            ("proto", u(0)),
        ],
    )
    .check(&[
        ("fd.type", "ipv4"),
        ("fd.typechar", "4"),
        ("fd.name", ""),
        ("fd.l4proto", "tcp"),
        ("fd.sockfamily", "ip"),
        ("fd.connected", "false"),
    ]);
    sim.ev(
        "connect",
        100,
        100,
        &[
            ("res", i(0)),
            ("fd", i(3)),
            (
                "tuple",
                Arg::Tuple(TupleArg::Inet(
                    v4([10, 0, 0, 5], 40312),
                    v4([93, 184, 216, 34], 443),
                )),
            ),
            (
                "addr",
                Arg::Addr(AddrArg::Inet(Ipv4Addr::new(93, 184, 216, 34), 443)),
            ),
        ],
    )
    .check(&[
        ("fd.name", "10.0.0.5:40312->93.184.216.34:443"),
        ("fd.cip", "10.0.0.5"),
        ("fd.sip", "93.184.216.34"),
        ("fd.lip", "10.0.0.5"),
        ("fd.rip", "93.184.216.34"),
        ("fd.cport", "40312"),
        ("fd.sport", "443"),
        ("fd.lport", "40312"),
        ("fd.rport", "443"),
        ("fd.is_server", "false"),
        ("fd.connected", "true"),
        ("fd.name_changed", "true"),
    ]);
    sim.ev(
        "socket",
        100,
        100,
        &[
            ("fd", i(4)),
            ("domain", u(2)),
            ("type", u(2)),
            ("proto", u(0)),
        ],
    )
    .check(&[("fd.l4proto", "udp")]);
    let to_dns = TupleArg::Inet(v4([10, 0, 0, 5], 5353), v4([8, 8, 8, 8], 53));
    sim.ev(
        "sendto",
        100,
        100,
        &[
            ("res", i(30)),
            ("fd", i(4)),
            ("tuple", Arg::Tuple(to_dns.clone())),
        ],
    )
    .check(&[
        ("fd.name", "10.0.0.5:5353->8.8.8.8:53"),
        ("fd.name_changed", "true"),
        ("fd.rport", "53"),
        ("evt.is_io", "true"),
        ("evt.is_io_write", "true"),
        ("evt.is_io_read", "false"),
        ("evt.io_dir", "w"),
    ]);
    sim.ev(
        "sendto",
        100,
        100,
        &[("res", i(30)), ("fd", i(4)), ("tuple", Arg::Tuple(to_dns))],
    )
    .check(&[("fd.name_changed", "false")]);
    sim.ev(
        "sendto",
        100,
        100,
        &[
            ("res", i(30)),
            ("fd", i(4)),
            (
                "tuple",
                Arg::Tuple(TupleArg::Inet(
                    v4([10, 0, 0, 5], 5353),
                    v4([1, 1, 1, 1], 53),
                )),
            ),
        ],
    )
    .check(&[
        ("fd.name", "10.0.0.5:5353->1.1.1.1:53"),
        ("fd.name_changed", "true"),
    ]);
    // A server: bind, listen, accept (the kernel reports the accepted socket's tuple client
    // → server, remote first, as Falco's drivers do).
    sim.ev(
        "socket",
        100,
        100,
        &[
            ("fd", i(5)),
            ("domain", u(2)),
            ("type", u(1)),
            ("proto", u(6)),
        ],
    );
    sim.ev(
        "bind",
        100,
        100,
        &[
            ("res", i(0)),
            ("fd", i(5)),
            (
                "addr",
                Arg::Addr(AddrArg::Inet(Ipv4Addr::UNSPECIFIED, 8080)),
            ),
        ],
    )
    .check(&[
        ("fd.name", "0.0.0.0:8080"),
        ("fd.is_server", "true"),
        ("fd.sport", "8080"),
    ]);
    sim.ev(
        "accept4",
        100,
        100,
        &[
            ("fd", i(6)),
            (
                "tuple",
                Arg::Tuple(TupleArg::Inet(
                    v4([127, 0, 0, 1], 51000),
                    v4([127, 0, 0, 1], 8080),
                )),
            ),
            ("flags", i(0)),
        ],
    )
    .check(&[
        ("fd.name", "127.0.0.1:51000->127.0.0.1:8080"),
        ("fd.is_server", "true"),
        ("fd.lport", "8080"),
        ("fd.rport", "51000"),
        ("fd.cport", "51000"),
        ("fd.typechar", "4"),
    ]);
    sim.ev(
        "socket",
        100,
        100,
        &[
            ("fd", i(7)),
            ("domain", u(1)),
            ("type", u(1)),
            ("proto", u(0)),
        ],
    )
    .check(&[("fd.type", "unix"), ("fd.sockfamily", "unix")]);
    sim.ev(
        "connect",
        100,
        100,
        &[
            ("res", i(0)),
            ("fd", i(7)),
            (
                "tuple",
                Arg::Tuple(TupleArg::Unix {
                    src: 0xabc,
                    dst: 0xdef,
                    path: b"/run/podman.sock".to_vec(),
                }),
            ),
        ],
    )
    .check(&[
        ("fd.name", "abc->def /run/podman.sock"),
        ("fd.typechar", "u"),
    ]);
}

#[test]
fn containers_from_cgroups_and_credentials() {
    let mut sim = Sim::new();
    let id = "3ad7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e";
    let cg = format!("memory=/libpod_parent/libpod-{id}");
    sim.ev(
        "clone",
        300,
        300,
        &[
            ("res", i(0)),
            ("ptid", i(100)),
            ("comm", s("sh")),
            ("vpid", i(1)),
            ("vtid", i(1)),
            ("cgroups", list(&["cpu=/", &cg])),
            ("flags", u(0x20000000)),
        ],
    )
    .check(&[
        ("container.id", "3ad7b26ded6d"),
        ("container.full_id", id),
        ("container.type", "podman"),
        ("proc.vpid", "1"),
        ("thread.vtid", "1"),
        ("proc.pid", "300"),
        (
            "thread.cgroups",
            &format!("cpu=/ memory=/libpod_parent/libpod-{id}"),
        ),
        (
            "thread.cgroup.memory",
            &format!("/libpod_parent/libpod-{id}"),
        ),
        ("thread.cgroup[cpu]", "/"),
        ("fd.containername", "<NA>"),
    ]);
    sim.ev("setuid", 300, 300, &[("res", i(0)), ("uid", u(0))])
        .check(&[("user.uid", "0")]);
    sim.ev(
        "setresgid",
        300,
        300,
        &[
            ("res", i(0)),
            ("rgid", u(5)),
            ("egid", u(6)),
            ("sgid", u(7)),
        ],
    )
    .check(&[("group.gid", "6")]);
    sim.ev(
        "capset",
        300,
        300,
        &[
            ("res", i(0)),
            ("cap_permitted", u(3)),
            ("cap_inheritable", u(0)),
            ("cap_effective", u(2)),
        ],
    )
    .check(&[
        ("thread.cap_permitted", "CAP_CHOWN CAP_DAC_OVERRIDE"),
        ("thread.cap_effective", "CAP_DAC_OVERRIDE"),
        ("thread.cap_inheritable", ""),
    ]);
}

#[test]
fn bounded_thread_table_counts_drops() {
    let mut state = State::new(StateConfig {
        proc_root: None,
        container_sockets: Vec::new(),
        max_threads: 3,
        ..StateConfig::default()
    });
    for tid in 1..=5u32 {
        let rec = RecordBuilder::syscall("close")
            .and_then(|b| b.thread(tid, tid).arg("res", 0i64))
            .expect("record")
            .build();
        state.update(&Event::decode(&rec, 0).expect("decodes"));
    }
    let c = state.counters();
    assert_eq!((c.threads, c.threads_dropped, c.events), (3, 2, 5));
}

/// The container plugin's `init_config` as the agent passes it: sockets sit under the host
/// root (`HOST_ROOT`), a disabled engine's socket is never connected to, and label values
/// longer than `label_max_len` are left out.
#[test]
fn engines_follow_init_config_under_the_host_root() {
    use std::io::Write;
    use std::os::unix::net::UnixListener;
    use std::path::{Path, PathBuf};
    let id = "4bd7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e";
    let run = |enabled: bool| -> (Sim, UnixListener, PathBuf) {
        let root = std::env::temp_dir().join(format!(
            "pg-state-hostroot-{}-{enabled}",
            std::process::id()
        ));
        std::fs::create_dir_all(root.join("run")).expect("dir");
        let sock = root.join("run/api.sock");
        let _ = std::fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let mut engines = peregrine_state::runtime::Engines::default();
        engines.docker.enabled = false;
        engines.containerd.enabled = false;
        engines.cri.enabled = false;
        engines.podman.enabled = enabled;
        engines.podman.sockets = vec![PathBuf::from("/run/api.sock")];
        engines.label_max_len = 5;
        let cfg = StateConfig {
            proc_root: None,
            ..StateConfig::for_host(&root, &engines)
        };
        (Sim::nginx_in_libpod(cfg, id), listener, root)
    };
    let answer = |listener: &UnixListener| -> bool {
        let Ok((mut conn, _)) = listener.accept() else {
            return false;
        };
        conn.set_nonblocking(false).expect("blocking");
        request_head(&mut conn);
        let body = r#"{"Name":"/web","Config":{"Image":"localhost/pg:1","Labels":{"app":"web","long":"longer than five"}}}"#;
        let resp = format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}");
        conn.write_all(resp.as_bytes()).expect("write");
        true
    };
    let wait = |sim: &mut Sim, listener: &UnixListener| -> (bool, bool) {
        let mut connected = false;
        for _ in 0..100 {
            connected |= answer(listener);
            sim.state.poll_containers();
            if sim.state.container_info(id).is_some() {
                return (connected, true);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        (connected, false)
    };
    let cleanup = |root: &Path| {
        let _ = std::fs::remove_dir_all(root);
    };

    let (mut sim, listener, root) = run(true);
    assert_eq!(wait(&mut sim, &listener), (true, true), "enabled: asked");
    sim.ev("close", 300, 300, &[("res", i(0)), ("fd", i(9))])
        .check(&[
            ("container.name", "web"),
            ("container.label[app]", "web"),
            ("container.label[long]", "<NA>"),
            ("container.labels", "app:web"),
        ]);
    cleanup(&root);

    let (mut sim, listener, root) = run(false);
    assert_eq!(
        wait(&mut sim, &listener),
        (false, false),
        "disabled: never asked"
    );
    sim.ev("close", 300, 300, &[("res", i(0)), ("fd", i(9))])
        .check(&[("container.id", "4bd7b26ded6d"), ("container.name", "<NA>")]);
    cleanup(&root);
}

#[test]
fn container_metadata_from_a_fake_api_socket() {
    use std::io::Write;
    use std::os::unix::net::UnixListener;
    let dir = std::env::temp_dir().join(format!("pg-state-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let sock = dir.join("api.sock");
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).expect("bind");
    let id = "3ad7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e";
    let server = std::thread::spawn(move || {
        // Two requests: the container, then an unknown one (404).
        let mut paths = Vec::new();
        for answer in [
            r#"{"Name":"/web","Image":"sha256:6f7e2741b66b99","Config":{"Image":"localhost/pgtest:v2","Labels":{"app":"web","io.kubernetes.pod.name":"web-0","io.kubernetes.pod.namespace":"prod"}},"State":{"StartedAt":"1970-01-01T00:00:01Z"},"HostConfig":{"Privileged":true,"NetworkMode":"host"},"NetworkSettings":{"IPAddress":"10.88.0.7"},"Mounts":[{"Source":"/var/run/docker.sock","Destination":"/var/run/docker.sock","Mode":"","RW":true,"Propagation":"rprivate"},{"Source":"/proc","Destination":"/host/proc","Mode":"ro","RW":false,"Propagation":""}]}"#,
            "",
        ] {
            let (mut s, _) = listener.accept().expect("accept");
            let req = request_head(&mut s);
            paths.push(
                String::from_utf8_lossy(&req)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            );
            let resp = if answer.is_empty() {
                "HTTP/1.0 404 Not Found\r\n\r\n{}".to_string()
            } else {
                format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{answer}")
            };
            s.write_all(resp.as_bytes()).expect("write");
        }
        paths
    });
    let mut sim = Sim::nginx_in_libpod(
        StateConfig {
            proc_root: None,
            container_sockets: vec![sock.clone()],
            ..StateConfig::default()
        },
        id,
    );
    // Never waits: the answer is not there yet on the event that asked.
    sim.check(&[("container.id", "3ad7b26ded6d"), ("container.name", "<NA>")]);
    let mut known = false;
    for _ in 0..400 {
        sim.state.poll_containers();
        if sim.state.container_info(id).is_some() {
            known = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(known, "the fake API answered: {:?}", sim.state.counters());
    sim.ev("close", 300, 300, &[("res", i(0)), ("fd", i(9))])
        .check(&[
        ("container.name", "web"),
        ("container.image", "localhost/pgtest:v2"),
        ("container.image.repository", "localhost/pgtest"),
        ("container.image.tag", "v2"),
        ("container.image.id", "6f7e2741b66b"),
        ("container.label[app]", "web"),
        ("container.label.app", "web"),
        // Kubernetes' own labels are left out, as the container plugin does.
        ("container.labels", "app:web"),
        ("container.privileged", "true"),
        ("container.host_network", "true"),
        ("container.host_pid", "false"),
        ("container.ip", "10.88.0.7"),
        ("container.start_ts", "1000000000"),
        ("k8s.pod.name", "web-0"),
        ("container.mount.dest[/proc*]", "/host/proc"),
        (
            "container.mount.dest[/var/run/docker.sock]",
            "/var/run/docker.sock",
        ),
        ("container.mount.dest[/etc]", "<NA>"),
        ("container.mount.source[/host/*]", "/proc"),
        ("container.mount.rdwr[/proc]", "false"),
        ("container.mount[1]", "/proc:/host/proc:ro:false:"),
        ("container.mount[/nothing]", "none"),
        (
            "container.mounts",
            "/var/run/docker.sock:/var/run/docker.sock::true:rprivate,/proc:/host/proc:ro:false:",
        ),
        ("k8s.ns.name", "prod"),
        ("container.type", "podman"),
    ]);
    // An unknown container: looked up once, failure cached and counted.
    let other = "aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeeeffff";
    let cg2 = format!("memory=/docker/{other}");
    sim.ev(
        "clone",
        400,
        400,
        &[
            ("res", i(0)),
            ("ptid", i(100)),
            ("comm", s("x")),
            ("cgroups", list(&[&cg2])),
        ],
    );
    let paths = server.join().expect("server");
    assert_eq!(paths[0], format!("GET /containers/{id}/json HTTP/1.0"));
    assert_eq!(paths[1], format!("GET /containers/{other}/json HTTP/1.0"));
    for _ in 0..400 {
        sim.state.poll_containers();
        if sim.state.counters().container_lookups_failed == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    sim.ev("close", 400, 400, &[("res", i(0)), ("fd", i(9))])
        .check(&[("container.name", "<NA>"), ("container.id", "aaaaaaaaaaaa")]);
    let c = sim.state.counters();
    assert_eq!((c.container_lookups, c.container_lookups_failed), (1, 1));
    // The console's view of the lookups: the known one with its name, the failed one with
    // what each source answered.
    let meta = sim.state.container_metadata();
    assert_eq!(meta.len(), 2, "{meta:?}");
    let known = meta.iter().find(|m| m.id == id).expect("known");
    assert_eq!(
        (&known.status, known.name.as_str()),
        (&peregrine_state::MetadataStatus::Known, "web")
    );
    let failed = meta.iter().find(|m| m.id == other).expect("failed");
    match &failed.status {
        peregrine_state::MetadataStatus::Failed(reason) => {
            // The worker's quick retries find the fake server gone: the last answer counts.
            assert!(reason.contains("api.sock: "), "{reason}");
            assert!(reason.contains("not in the OCI runtime state"), "{reason}")
        }
        s => panic!("{s:?}"),
    }
    assert_eq!(failed.attempts, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn orphans_move_to_their_reaper() {
    let mut sim = Sim::new();
    sim.ev(
        "clone",
        200,
        200,
        &[("res", i(0)), ("ptid", i(100)), ("comm", s("nohup"))],
    );
    sim.ev(
        "clone",
        300,
        300,
        &[("res", i(0)), ("ptid", i(200)), ("comm", s("daemon"))],
    )
    .check(&[("proc.pname", "nohup"), ("proc.aname[2]", "bash")]);
    sim.ev(
        "procexit",
        200,
        200,
        &[("status", i(0)), ("reaper_tid", i(1))],
    )
    .check(&[("proc.name", "nohup")]);
    sim.ev("close", 300, 300, &[("res", i(0)), ("fd", i(1))])
        .check(&[
            ("proc.ppid", "1"),
            ("proc.pname", "systemd"),
            ("proc.aname", "systemd"),
        ]);
    assert_eq!(sim.state.process(1).map(|p| p.nchildren), Some(2));
    assert_eq!(sim.state.process(100).map(|p| p.nchildren), Some(0));
    // A reaper the state does not know leaves the orphan without a parent.
    sim.ev(
        "clone",
        400,
        400,
        &[("res", i(0)), ("ptid", i(300)), ("comm", s("worker"))],
    );
    sim.ev(
        "procexit",
        300,
        300,
        &[("status", i(0)), ("reaper_tid", i(9999))],
    );
    sim.ev("close", 400, 400, &[("res", i(0)), ("fd", i(1))])
        .check(&[("proc.ppid", "0"), ("proc.pname", "<NA>")]);
}

/// Every field of the catalogue extracts without panicking on events with and without an fd,
/// in and out of containers, and the fields this crate implements all produce a value on a
/// rich event (so a catalogue addition or a dropped match arm shows up here).
#[test]
fn every_catalogue_field_extracts() {
    use peregrine_filter::fields::FIELDS;
    use peregrine_filter::{FieldArg, FieldRequest};
    let mut sim = Sim::new();
    sim.ev(
        "openat",
        100,
        100,
        &[
            ("fd", i(3)),
            ("dirfd", i(-100)),
            ("name", s("/etc/passwd")),
            ("flags", u(0)),
        ],
    );
    let mut with_value = 0;
    for f in FIELDS {
        let arg = if f.flags.arg_required {
            if f.flags.arg_index {
                FieldArg::Index(1)
            } else {
                FieldArg::Key("x".into())
            }
        } else {
            FieldArg::None
        };
        let req = FieldRequest { id: f.id, arg };
        let ev = Event::decode(&sim.last, 0).expect("decodes");
        let mut out = Extracted::default();
        sim.state.source(&ev).extract(&req, &mut out);
        if !out.is_empty() {
            with_value += 1;
        } else if std::env::var_os("PG_LIST_EMPTY").is_some() {
            eprintln!("no value: {}", f.name);
        }
        // A procexit (no fd, thread about to go) must not trip anything either.
        let rec = RecordBuilder::procexit().thread(100, 100).build();
        let ev = Event::decode(&rec, 0).expect("decodes");
        sim.state
            .source(&ev)
            .extract(&req, &mut Extracted::default());
    }
    // Measured when written: the evt/proc/thread/user/group/fd/fs.path/container-id fields
    // this crate implements; raise it as fields are added, never lower it silently.
    assert!(with_value >= 139, "{with_value} fields with a value");
}

/// Bug: an exec whose argv holds only argv[0] (or whose record leaves env/exe empty) kept the
/// previous image's arguments, environment and paths, so `/dev/shm/x` showed up as
/// `sh -c for f in …`. The new image must replace all of them.
#[test]
fn exec_without_args_replaces_previous_image() {
    let mut sim = Sim::new();
    sim.ev(
        "clone",
        200,
        200,
        &[("res", i(0)), ("ptid", i(100)), ("comm", s("bash"))],
    );
    sim.ev(
        "execve",
        200,
        200,
        &[
            ("res", i(0)),
            ("exe", s("sh")),
            ("args", list(&["-c", "for f in *; do :; done"])),
            ("comm", s("sh")),
            ("env", list(&["HOME=/root"])),
            ("trusted_exepath", s("/usr/bin/dash")),
        ],
    )
    .check(&[
        ("proc.cmdline", "sh -c for f in *; do :; done"),
        ("proc.env", "HOME=/root"),
    ]);
    // Each step: the exec's varying parameters, then what the fields must read.
    type Step<'a> = (&'a [(&'a str, Arg)], &'a [(&'a str, &'a str)]);
    let steps: &[Step] = &[
        // argv = ["/dev/shm/x"], empty environment, path from the kernel.
        (
            &[
                ("exe", s("/dev/shm/x")),
                ("comm", s("x")),
                ("trusted_exepath", s("/dev/shm/x")),
            ],
            &[
                ("proc.name", "x"),
                ("proc.args", ""),
                ("proc.cmdline", "x"),
                ("proc.exe", "/dev/shm/x"),
                ("proc.exepath", "/dev/shm/x"),
                ("proc.env", ""),
            ],
        ),
        // A memfd exec with argv = []: no exe, no path but the memfd's, nothing else.
        (
            &[("comm", s("3")), ("trusted_exepath", s("/memfd:payload"))],
            &[
                ("proc.name", "3"),
                ("proc.args", ""),
                ("proc.cmdline", "3"),
                ("proc.exe", ""),
                ("proc.exepath", "/memfd:payload"),
            ],
        ),
        // No path from the kernel and a relative argv[0]: the old image's path must not stay.
        (
            &[("exe", s("./y")), ("comm", s("y")), ("args", list(&["-v"]))],
            &[
                ("proc.cmdline", "y -v"),
                ("proc.exe", "./y"),
                ("proc.exepath", "./y"),
            ],
        ),
        // A record without comm names the process after argv[0], not the previous image.
        (
            &[("exe", s("/usr/bin/id"))],
            &[("proc.name", "id"), ("proc.cmdline", "id")],
        ),
    ];
    for (args, want) in steps {
        let mut all = vec![("res", i(0))];
        all.extend(args.iter().cloned());
        sim.ev("execve", 200, 200, &all).check(want);
    }
}

/// Bug: a process first seen at its exec (no clone seen, no /proc) got no parent; the exec
/// record's `ptid` names the parent thread.
#[test]
fn exec_of_unknown_process_takes_parent_from_ptid() {
    let mut sim = Sim::new();
    let exec = |ptid: i64, comm: &'static str| {
        vec![
            ("res", i(0)),
            ("exe", s(comm)),
            ("comm", s(comm)),
            ("ptid", i(ptid)),
        ]
    };
    sim.ev("execve", 300, 300, &exec(100, "ls")).check(&[
        ("proc.ppid", "100"),
        ("proc.pname", "bash"),
        ("proc.aname[2]", "sshd"),
    ]);
    assert_eq!(sim.state.process(100).map(|p| p.nchildren), Some(1));
    // A ptid naming a secondary thread: the parent is that thread's process.
    sim.ev(
        "clone",
        101,
        100,
        &[("res", i(0)), ("ptid", i(100)), ("flags", u(CLONE_THREAD))],
    );
    sim.ev("execve", 400, 400, &exec(101, "ps"))
        .check(&[("proc.ppid", "100"), ("proc.pname", "bash")]);
    // A known parent is not overwritten by a later exec's ptid.
    sim.ev("execve", 400, 400, &exec(50, "top"))
        .check(&[("proc.ppid", "100")]);
    assert_eq!(sim.state.process(100).map(|p| p.nchildren), Some(2));
    // A parent the state does not know still gives the pid.
    sim.ev("execve", 500, 500, &exec(7777, "sleep"))
        .check(&[("proc.ppid", "7777"), ("proc.pname", "<NA>")]);
}

/// Bug: every `fd.*` field read allocated a String for the container id. The fields that
/// use it must still read `host:` outside containers and the short id inside one.
#[test]
fn fd_fields_without_container_id_allocation() {
    let mut sim = Sim::new();
    sim.ev(
        "openat",
        100,
        100,
        &[
            ("fd", i(3)),
            ("dirfd", i(-100)),
            ("name", s("/etc/shadow")),
            ("flags", u(u64::from(O_RDONLY))),
        ],
    )
    .check(&[
        ("fd.name", "/etc/shadow"),
        ("fd.uid", "1003"),
        ("fd.containername", "host:/etc/shadow"),
        ("fd.containerdirectory", "host:/etc"),
    ]);
}

#[test]
fn category_follows_the_event_type_and_the_descriptor() {
    let mut sim = Sim::new();
    sim.ev(
        "openat",
        100,
        100,
        &[
            ("fd", i(5)),
            ("dirfd", i(-100)),
            ("name", s("/etc/hosts")),
            ("flags", u(u64::from(O_RDONLY))),
        ],
    )
    .check(&[
        ("evt.category", "file"),
        ("evt.latency", "0"),
        ("evt.latency.ns", "000000000"),
    ]);
    // close takes the category of the descriptor it closes.
    sim.ev("close", 100, 100, &[("res", i(0)), ("fd", i(5))])
        .check(&[("evt.category", "file")]);
    sim.ev(
        "socket",
        100,
        100,
        &[
            ("fd", i(6)),
            ("domain", u(2)),
            ("type", u(2)),
            ("proto", u(0)),
        ],
    )
    .check(&[("evt.category", "net")]);
    sim.ev(
        "sendto",
        100,
        100,
        &[
            ("res", i(4)),
            ("fd", i(6)),
            (
                "tuple",
                Arg::Tuple(TupleArg::Inet(
                    v4([10, 0, 0, 5], 5353),
                    v4([10, 0, 0, 1], 53),
                )),
            ),
        ],
    )
    .check(&[("evt.category", "net")]);
    sim.ev(
        "pipe2",
        100,
        100,
        &[("res", i(0)), ("fd1", i(7)), ("fd2", i(8))],
    )
    .check(&[("evt.category", "IPC")]);
    sim.ev("close", 100, 100, &[("res", i(0)), ("fd", i(7))])
        .check(&[("evt.category", "ipc")]);
    // A descriptor the state does not know: libsinsp says "unknown".
    sim.ev("close", 100, 100, &[("res", i(-9)), ("fd", i(99))])
        .check(&[("evt.category", "unknown")]);
    sim.ev("setuid", 100, 100, &[("res", i(0)), ("uid", u(0))])
        .check(&[("evt.category", "user")]);
    sim.ev("procexit", 100, 100, &[])
        .check(&[("evt.category", "process"), ("fdlist.names", "<NA>")]);
}

/// A container's users come from the root its processes see (`/proc/<pid>/root`); a process
/// that exited before its events were read no longer has one, and its parent in the same
/// container stands in.
#[test]
fn container_users_from_a_live_ancestor_when_the_process_is_gone() {
    let proc_root = std::env::temp_dir().join(format!("pg-users-proc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&proc_root);
    let etc = proc_root.join("700/root/etc");
    std::fs::create_dir_all(&etc).expect("fake proc");
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0:croot:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(etc.join("group"), "root:x:0:\nwww:x:33:\n").expect("group");
    let mut state = State::new(StateConfig {
        proc_root: Some(proc_root.clone()),
        container_sockets: Vec::new(),
        runtime_state_roots: Vec::new(),
        ..StateConfig::default()
    });
    let cid = "3ad7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e";
    let inside = |pid, ppid, comm: &str| Process {
        pid,
        ppid,
        comm: comm.into(),
        uid: 33,
        gid: 33,
        container_id: cid.into(),
        ..Process::default()
    };
    state.insert_process(inside(700, 1, "nginx"), &[(700, 700)]);
    // 701 has no /proc entry: it exited before the agent read its events.
    state.insert_process(inside(701, 700, "cat"), &[(701, 701)]);
    let mut sim = Sim::on(state);
    sim.ev("close", 701, 701, &[("res", i(0)), ("fd", i(3))])
        .check(&[("user.name", "web"), ("group.name", "www")]);
    // Loaded once, then answered from the cache (counted under the field source's shared
    // borrow of the state, and reported by `counters`).
    let c = sim.state.counters();
    assert_eq!(c.user_cache_misses, 1, "{c:?}");
    assert!(c.user_cache_hits >= 1, "{c:?}");
    let _ = std::fs::remove_dir_all(&proc_root);
}

/// The runtime's init joins the container's cgroup before it enters the container's root:
/// while it still sees the host's files, those must not be cached as the container's users
/// (a busybox container's root showed the host's shell).
#[test]
fn container_users_are_not_read_before_the_process_enters_its_root() {
    let proc_root = std::env::temp_dir().join(format!("pg-users-pivot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&proc_root);
    let write_etc = |dir: &std::path::Path, shell: &str| {
        std::fs::create_dir_all(dir.join("etc")).expect("etc");
        std::fs::write(
            dir.join("etc/passwd"),
            format!("root:x:0:0:root:/root:{shell}\n"),
        )
        .expect("passwd");
        std::fs::write(dir.join("etc/group"), "root:x:0:\n").expect("group");
    };
    let host = proc_root.join("host");
    let image = proc_root.join("image");
    write_etc(&host, "/bin/bash");
    write_etc(&image, "/bin/sh");
    std::fs::create_dir_all(proc_root.join("1")).expect("1");
    std::fs::create_dir_all(proc_root.join("800")).expect("800");
    std::os::unix::fs::symlink(&host, proc_root.join("1/root")).expect("host root");
    // Before pivot_root: the container's process still sees the host's root.
    std::os::unix::fs::symlink(&host, proc_root.join("800/root")).expect("pre-pivot root");
    let mut state = State::new(StateConfig {
        proc_root: Some(proc_root.clone()),
        container_sockets: Vec::new(),
        runtime_state_roots: Vec::new(),
        ..StateConfig::default()
    });
    state.insert_process(
        Process {
            pid: 800,
            ppid: 1,
            comm: "runc:[2:INIT]".into(),
            container_id: "5b1e0c3a9f2d".into(),
            ..Process::default()
        },
        &[(800, 800)],
    );
    let mut sim = Sim::on(state);
    sim.ev("close", 800, 800, &[("res", i(0)), ("fd", i(3))])
        .check(&[("user.name", "root"), ("user.shell", "<NA>")]);
    // After pivot_root: the image's users.
    std::fs::remove_file(proc_root.join("800/root")).expect("unlink");
    std::os::unix::fs::symlink(&image, proc_root.join("800/root")).expect("container root");
    sim.ev("close", 800, 800, &[("res", i(0)), ("fd", i(4))])
        .check(&[("user.name", "root"), ("user.shell", "/bin/sh")]);
    let _ = std::fs::remove_dir_all(&proc_root);
}

#[test]
fn socket_connect_then_poll_lists_its_descriptors() {
    let mut sim = Sim::new();
    let sock = |sim: &mut Sim, fd: i64| {
        sim.ev(
            "socket",
            100,
            100,
            &[
                ("fd", i(fd)),
                ("domain", u(2)),
                ("type", u(1)),
                ("proto", u(6)),
            ],
        );
    };
    sock(&mut sim, 3);
    sim.ev(
        "connect",
        100,
        100,
        &[
            ("res", i(0)),
            ("fd", i(3)),
            (
                "tuple",
                Arg::Tuple(TupleArg::Inet(
                    v4([10, 0, 0, 5], 40312),
                    v4([93, 184, 216, 34], 443),
                )),
            ),
        ],
    );
    sock(&mut sim, 5);
    sim.ev(
        "bind",
        100,
        100,
        &[
            ("res", i(0)),
            ("fd", i(5)),
            (
                "addr",
                Arg::Addr(AddrArg::Inet(Ipv4Addr::UNSPECIFIED, 8080)),
            ),
        ],
    )
    .check(&[("fdlist.nums", "<NA>"), ("fdlist.names", "<NA>")]);
    sim.ev(
        "pipe",
        100,
        100,
        &[("res", i(0)), ("fd1", i(6)), ("fd2", i(7)), ("ino", u(99))],
    );
    // The connected socket, the listening one, a pipe, the terminal and an fd never seen.
    let fds: &[(i64, u16)] = &[(3, 0x1), (5, 0x0), (6, 0x4), (0, 0x20), (9, 0x40)];
    sim.ev(
        "poll",
        100,
        100,
        &[("res", i(4)), ("fds", Arg::from(fds)), ("timeout", i(0))],
    )
    .check(&[
        ("fdlist.nums", "3,5,6,0,9"),
        (
            "fdlist.names",
            "10.0.0.5:40312->93.184.216.34:443,0.0.0.0:8080,<NA>,/dev/pts/0,<NA>",
        ),
        ("fdlist.cips", "10.0.0.5"),
        ("fdlist.sips", "93.184.216.34,0.0.0.0"),
        ("fdlist.cports", "40312"),
        ("fdlist.sports", "443,8080"),
        ("evt.arg.fds", "3:41 5:40 6:p4 0:f20 9:?40"),
        ("evt.arg[1]", "3:41 5:40 6:p4 0:f20 9:?40"),
        ("evt.args", "res=4 fds=3:41 5:40 6:p4 0:f20 9:?40 timeout=0"),
        ("fd.num", "<NA>"),
        ("evt.category", "wait"),
    ]);
    // Only files and pipes: no address or port has a value.
    let fds: &[(i64, u16)] = &[(6, 0x1), (0, 0x1)];
    sim.ev(
        "ppoll",
        100,
        100,
        &[("res", i(2)), ("fds", Arg::from(fds)), ("timeout", u(5))],
    )
    .check(&[
        ("fdlist.nums", "6,0"),
        ("fdlist.names", "<NA>,/dev/pts/0"),
        ("fdlist.cips", "<NA>"),
        ("fdlist.sports", "<NA>"),
        ("evt.arg.fds", "6:p1 0:f1"),
    ]);
    // An empty list has no value.
    sim.ev(
        "poll",
        100,
        100,
        &[
            ("res", i(0)),
            ("fds", Arg::Fds(Vec::new())),
            ("timeout", i(0)),
        ],
    )
    .check(&[("fdlist.nums", "<NA>"), ("evt.arg.fds", "")]);
}

/// readv/writev name their fd like read/write do, so `fd.*` fields resolve through the table.
#[test]
fn vector_io_resolves_its_descriptor() {
    let mut sim = Sim::new();
    sim.ev(
        "writev",
        100,
        100,
        &[
            ("res", i(5)),
            ("data", Arg::Bytes(b"hello".to_vec())),
            ("fd", i(1)),
            ("size", u(5)),
        ],
    )
    .check(&[
        ("fd.name", "/dev/pts/0"),
        ("fd.num", "1"),
        ("evt.is_io_write", "true"),
        ("evt.buffer", "hello"),
        ("evt.rawarg.size", "5"),
        ("evt.arg.data", "hello"),
        ("evt.category", "file"),
    ]);
    sim.ev(
        "preadv",
        100,
        100,
        &[
            ("res", i(3)),
            ("size", u(64)),
            ("data", Arg::Bytes(b"abc".to_vec())),
            ("fd", i(0)),
            ("pos", u(7)),
        ],
    )
    .check(&[
        ("fd.name", "/dev/pts/0"),
        ("evt.is_io_read", "true"),
        ("evt.rawarg.size", "64"),
        ("evt.arg.pos", "7"),
    ]);
}

/// fds that epoll, inotify, timerfd, io_uring, pidfd_open and open_by_handle_at create get
/// their type (and the handle's file its path); mmap/munmap/brk update the memory counters.
#[test]
fn fd_creating_and_memory_syscalls() {
    let mut sim = Sim::new();
    for (name, res_key, fd, fd_type) in [
        ("epoll_create", "res", 3, "eventpoll"),
        ("epoll_create1", "res", 4, "eventpoll"),
        ("inotify_init", "res", 5, "inotify"),
        ("inotify_init1", "res", 6, "inotify"),
        ("timerfd_create", "res", 7, "timerfd"),
        ("io_uring_setup", "res", 8, "io_uring"),
        ("pidfd_open", "fd", 9, "pidfd"),
    ] {
        sim.ev(name, 100, 100, &[(res_key, i(fd))])
            .check(&[("fd.num", &fd.to_string()), ("fd.type", fd_type)]);
    }
    sim.ev("epoll_create1", 100, 100, &[("res", i(-24))])
        .check(&[("fd.type", "<NA>")]);
    sim.ev(
        "open_by_handle_at",
        100,
        100,
        &[
            ("fd", i(10)),
            ("mountfd", i(3)),
            ("flags", u(O_RDONLY.into())),
            ("path", s("/etc/shadow")),
        ],
    )
    .check(&[("fd.name", "/etc/shadow"), ("fd.type", "file")]);
    sim.ev("close", 100, 100, &[("res", i(0)), ("fd", i(10))])
        .check(&[("fd.name", "/etc/shadow"), ("proc.fdopencount", "11")]);
    sim.ev(
        "mmap",
        100,
        100,
        &[
            ("res", u(0x7f00_0000_0000)),
            ("vm_size", u(20480)),
            ("vm_rss", u(4096)),
            ("vm_swap", u(8)),
            ("fd", i(-1)),
        ],
    )
    .check(&[
        ("proc.vmsize", "20480"),
        ("proc.vmrss", "4096"),
        ("proc.vmswap", "8"),
    ]);
    sim.ev(
        "brk",
        100,
        100,
        &[
            ("res", u(0x5000)),
            ("vm_size", u(16384)),
            ("vm_rss", u(2048)),
            ("vm_swap", u(0)),
        ],
    )
    .check(&[
        ("proc.vmsize", "16384"),
        ("proc.vmrss", "2048"),
        ("proc.vmswap", "0"),
    ]);
}

/// A non-blocking connect (EINPROGRESS) stays connected when getsockopt(SO_ERROR) reads 0, and
/// is not when it reads an error.
#[test]
fn so_error_completes_a_nonblocking_connect() {
    let mut sim = Sim::new();
    // PT_DYN: index 1 (PPM_SOCKOPT_IDX_ERRNO), then the error as a negative errno.
    let errno_val = |e: i64| {
        let mut b = vec![1u8];
        b.extend_from_slice(&(-e).to_le_bytes());
        Arg::Bytes(b)
    };
    for (fd, err, connected) in [(3, 0, "true"), (4, 111, "false")] {
        let sock = [
            ("fd", i(fd)),
            ("domain", u(2)),
            ("type", u(1)),
            ("proto", u(0)),
        ];
        sim.ev("socket", 100, 100, &sock);
        let tuple = TupleArg::Inet(v4([10, 0, 0, 5], 40000 + fd as u16), v4([10, 0, 0, 9], 80));
        sim.ev(
            "connect",
            100,
            100,
            &[
                ("res", i(-115)),
                ("fd", i(fd)),
                ("tuple", Arg::Tuple(tuple)),
            ],
        )
        // libsinsp without connection-status tracking (Falco's default) counts a connect in
        // progress as connected; SO_ERROR then settles it.
        .check(&[("fd.connected", "true")]);
        sim.ev(
            "getsockopt",
            100,
            100,
            &[
                ("res", i(0)),
                ("fd", i(fd)),
                ("level", u(1)),
                ("optname", u(4)),
                ("val", errno_val(err)),
                ("optlen", u(4)),
            ],
        )
        .check(&[("fd.connected", connected), ("evt.arg.optname", "SO_ERROR")]);
    }
}
