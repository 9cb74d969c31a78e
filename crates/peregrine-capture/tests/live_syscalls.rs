//! Step (c): a child performs each captured syscall; the decoded parameters are asserted
//! exactly (values the test cannot know in advance, such as fds and ports, are reported by
//! the child).

mod common;

use common::*;
use std::ffi::{CStr, CString};
use std::mem::{size_of, zeroed};

fn tmpdir(tag: &str) -> String {
    let d = format!("/tmp/pg-live-{tag}-{}", std::process::id());
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

#[test]
fn file_syscalls() {
    if !peregrine_testkit::live("file_syscalls") {
        return;
    }
    let d = tmpdir("files");
    let p = |n: &str| c(&format!("{d}/{n}"));
    let (dir_a, file_a, file_b, link_h, link_s, file_c, file_d, dir_b, file_e, legacy) = (
        p("a"),
        p("f1"),
        p("f2"),
        p("hard"),
        p("soft"),
        p("f3"),
        p("f4"),
        p("b"),
        p("f5"),
        p("legacy"),
    );
    let dirc = c(&d);
    let run = run_child(
        &[
            "mkdir",
            "mkdirat",
            "creat",
            "chmod",
            "fchmod",
            "fchmodat",
            "link",
            "linkat",
            "symlink",
            "symlinkat",
            "rename",
            "renameat",
            "renameat2",
            "unlink",
            "unlinkat",
            "rmdir",
            "open",
            "openat2",
        ],
        1 << 20,
        |rep| unsafe {
            libc::mkdir(dir_a.as_ptr(), 0o750);
            let dfd = libc::open(dirc.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            rep.report(dfd as i64);
            libc::mkdirat(dfd, c"b".as_ptr(), 0o700);
            let fd = libc::creat(file_a.as_ptr(), 0o644);
            rep.report(fd as i64);
            libc::chmod(file_a.as_ptr(), 0o600);
            libc::fchmod(fd, 0o640);
            libc::fchmodat(dfd, c"f1".as_ptr(), 0o444, 0);
            libc::link(file_a.as_ptr(), link_h.as_ptr());
            libc::linkat(dfd, c"f1".as_ptr(), dfd, c"f1b".as_ptr(), 0);
            libc::symlink(c"f1".as_ptr(), link_s.as_ptr());
            libc::symlinkat(c"f1".as_ptr(), dfd, c"soft2".as_ptr());
            libc::rename(link_h.as_ptr(), file_b.as_ptr());
            libc::renameat(dfd, c"f2".as_ptr(), dfd, c"f3".as_ptr());
            libc::syscall(
                libc::SYS_renameat2,
                dfd,
                c"f3".as_ptr(),
                dfd,
                c"f4".as_ptr(),
                libc::RENAME_NOREPLACE,
            );
            libc::unlink(file_d.as_ptr());
            libc::unlinkat(dfd, c"b".as_ptr(), libc::AT_REMOVEDIR);
            libc::rmdir(dir_a.as_ptr());
            libc::rmdir(dir_b.as_ptr()); // already gone: ENOENT
            let lfd = libc::syscall(
                libc::SYS_open,
                legacy.as_ptr(),
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
                0o600,
            );
            rep.report(lfd);
            // struct open_how { u64 flags; u64 mode; u64 resolve; }
            let how: [u64; 3] = [
                (libc::O_RDONLY | libc::O_NOFOLLOW) as u64,
                0,
                libc::RESOLVE_NO_SYMLINKS,
            ];
            let o2 = libc::syscall(
                libc::SYS_openat2,
                dfd,
                c"f1".as_ptr(),
                how.as_ptr(),
                24usize,
            );
            rep.report(o2);
            let _ = (&file_c, &file_e);
        },
    );
    let (dfd, fd, lfd, o2) = (
        run.reported[0],
        run.reported[1],
        run.reported[2],
        run.reported[3],
    );
    let check = |name: &str, fields: &[&str], expected: String| {
        assert_eq!(run.one(name).pick(fields), expected, "{name}");
    };
    check(
        "mkdir",
        &["res", "path", "mode"],
        format!("res=0 path={d}/a mode=488"),
    );
    check(
        "mkdirat",
        &["res", "dirfd", "path", "mode"],
        format!("res=0 dirfd={dfd} path=b mode=448"),
    );
    check(
        "creat",
        &["fd", "name", "mode"],
        format!("fd={fd} name={d}/f1 mode=0644"),
    );
    let (dev, ino) = dev_ino(&file_a);
    check("creat", &["dev", "ino"], format!("dev={dev} ino={ino}"));
    check(
        "chmod",
        &["res", "filename", "mode"],
        format!("res=0 filename={d}/f1 mode=0600(S_IWUSR|S_IRUSR)"),
    );
    check(
        "fchmod",
        &["res", "fd", "mode"],
        format!("res=0 fd={fd} mode=0640(S_IRGRP|S_IWUSR|S_IRUSR)"),
    );
    check(
        "fchmodat",
        &["res", "dirfd", "filename", "mode"],
        format!("res=0 dirfd={dfd} filename=f1 mode=0444(S_IROTH|S_IRGRP|S_IRUSR)"),
    );
    check(
        "link",
        &["res", "oldpath", "newpath"],
        format!("res=0 oldpath={d}/f1 newpath={d}/hard"),
    );
    check(
        "linkat",
        &["res", "olddir", "oldpath", "newdir", "newpath", "flags"],
        format!("res=0 olddir={dfd} oldpath=f1 newdir={dfd} newpath=f1b flags=0"),
    );
    check(
        "symlink",
        &["res", "target", "linkpath"],
        format!("res=0 target=f1 linkpath={d}/soft"),
    );
    check(
        "symlinkat",
        &["res", "target", "linkdirfd", "linkpath"],
        format!("res=0 target=f1 linkdirfd={dfd} linkpath=soft2"),
    );
    check(
        "rename",
        &["res", "oldpath", "newpath"],
        format!("res=0 oldpath={d}/hard newpath={d}/f2"),
    );
    check(
        "renameat",
        &["res", "olddirfd", "oldpath", "newdirfd", "newpath"],
        format!("res=0 olddirfd={dfd} oldpath=f2 newdirfd={dfd} newpath=f3"),
    );
    check(
        "renameat2",
        &["res", "oldpath", "newpath", "flags"],
        "res=0 oldpath=f3 newpath=f4 flags=1(RENAME_NOREPLACE)".to_string(),
    );
    check("unlink", &["res", "path"], format!("res=0 path={d}/f4"));
    check(
        "unlinkat",
        &["res", "dirfd", "name", "flags"],
        format!("res=0 dirfd={dfd} name=b flags=512(AT_REMOVEDIR)"),
    );
    let rmdirs = run.of("rmdir");
    assert_eq!(rmdirs.len(), 2);
    assert_eq!(
        rmdirs[0].pick(&["res", "path"]),
        format!("res=0 path={d}/a")
    );
    assert_eq!(
        rmdirs[1].pick(&["res", "path"]),
        format!("res=-2(ENOENT) path={d}/b")
    );
    let (ldev, lino) = dev_ino(&legacy);
    // The directory open goes through openat (glibc), the legacy open(2) through open.
    check(
        "open",
        &["fd", "name", "flags", "mode", "dev", "ino"],
        format!(
            "fd={lfd} name={d}/legacy flags=16423(O_EXCL|O_CREAT|O_RDWR|O_F_CREATED) mode=0600 \
             dev={ldev} ino={lino}"
        ),
    );
    check(
        "openat2",
        &["fd", "dirfd", "name", "flags", "resolve", "ino"],
        format!("fd={o2} dirfd={dfd} name=f1 flags=1(O_RDONLY) resolve=4 ino={ino}"),
    );
    let _ = std::fs::remove_dir_all(&d);
}

fn exec_argv(args: &[&CStr]) -> Vec<*const libc::c_char> {
    args.iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

#[test]
fn execve_with_args_env_and_failure() {
    if !peregrine_testkit::live("execve_with_args_env_and_failure") {
        return;
    }
    let argv = exec_argv(&[c"echo", c"hello", c"world"]);
    let envp = exec_argv(&[c"A=1", c"PEREGRINE=test"]);
    let run = run_child(&["execve"], 1 << 20, |_| unsafe {
        libc::execve(c"/nonexistent/bin".as_ptr(), argv.as_ptr(), envp.as_ptr());
        let devnull = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        libc::dup2(devnull, 1);
        libc::execve(c"/bin/echo".as_ptr(), argv.as_ptr(), envp.as_ptr());
    });
    let execs = run.of("execve");
    assert_eq!(execs.len(), 2, "{:?}", run.events);
    assert_eq!(
        execs[0].pick(&["res", "filename"]),
        "res=-2(ENOENT) filename=/nonexistent/bin"
    );
    let (_, ino) = dev_ino(c"/usr/bin/echo");
    let e = execs[1];
    assert_eq!(
        e.pick(&[
            "res",
            "exe",
            "args",
            "env",
            "filename",
            "trusted_exepath",
            "comm",
            "exe_ino",
            "uid",
            "flags"
        ]),
        format!(
            "res=0 exe=echo args=hello world env=A=1 PEREGRINE=test filename=/bin/echo \
             trusted_exepath=/usr/bin/echo comm=echo exe_ino={ino} uid=0 flags=1(EXE_WRITABLE)"
        )
    );
    let me = std::process::id();
    assert_eq!(
        e.pick(&["tid", "pid", "ptid"]),
        format!("tid={0} pid={0} ptid={me}", run.child)
    );
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(e.get("cwd"), cwd.to_str().unwrap());
    assert_ne!(e.get("cap_effective"), "0");
    assert_ne!(e.get("exe_ino_mtime"), "0");
    // cgroups: "controller=path" for every v1 controller the child inherited from us.
    let cgroups: Vec<&str> = e.get("cgroups").split(' ').collect();
    let ours = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mut checked = 0;
    for line in ours.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        for ctrl in ctrls
            .split(',')
            .filter(|c| ["memory", "cpuset", "pids"].contains(c))
        {
            let item = format!("{ctrl}={path}");
            assert!(
                cgroups.contains(&item.as_str()),
                "{item} not in {cgroups:?}"
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no v1 controllers in {ours}");
}

#[test]
fn execveat_from_memfd() {
    if !peregrine_testkit::live("execveat_from_memfd") {
        return;
    }
    let image = std::fs::read("/usr/bin/true").unwrap();
    let argv = exec_argv(&[c"fromfd", c"x"]);
    let envp = exec_argv(&[]);
    let run = run_child(&["execveat", "memfd_create"], 1 << 20, |rep| unsafe {
        let fd = libc::memfd_create(c"pgmemfd".as_ptr(), libc::MFD_CLOEXEC);
        rep.report(fd as i64);
        libc::write(fd, image.as_ptr().cast(), image.len());
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    });
    let fd = run.reported[0];
    assert_eq!(
        run.one("memfd_create").pick(&["fd", "name", "flags"]),
        format!("fd={fd} name=pgmemfd flags=1(MFD_CLOEXEC)")
    );
    let e = run.one("execveat");
    assert_eq!(
        e.pick(&["res", "exe", "args", "flags", "trusted_exepath"]),
        "res=0 exe=fromfd args=x flags=5(EXE_WRITABLE|EXE_FROM_MEMFD) \
         trusted_exepath=/memfd:pgmemfd"
    );
    assert_eq!(e.params.len(), 30);
}

unsafe fn sockaddr4(port: u16) -> libc::sockaddr_in {
    let mut a: libc::sockaddr_in = zeroed();
    a.sin_family = libc::AF_INET as u16;
    a.sin_port = port.to_be();
    a.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
    a
}

unsafe fn sockaddr6(port: u16) -> libc::sockaddr_in6 {
    let mut a: libc::sockaddr_in6 = zeroed();
    a.sin6_family = libc::AF_INET6 as u16;
    a.sin6_port = port.to_be();
    a.sin6_addr.s6_addr[15] = 1;
    a
}

unsafe fn local_port(fd: i32) -> i64 {
    let mut ss: libc::sockaddr_storage = zeroed();
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    libc::getsockname(
        fd,
        (&mut ss as *mut libc::sockaddr_storage).cast(),
        &mut len,
    );
    // sin_port and sin6_port sit at the same offset.
    let sin = &*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>();
    u16::from_be(sin.sin_port) as i64
}

/// TCP over loopback: listener, connect, accept; reports fds and ports.
fn tcp_run(v6: bool) -> Run {
    run_child(
        &["socket", "bind", "listen", "connect", "accept", "accept4"],
        1 << 20,
        |rep| unsafe {
            let fam = if v6 { libc::AF_INET6 } else { libc::AF_INET };
            let l = libc::socket(fam, libc::SOCK_STREAM, 0);
            let (a4, a6) = (sockaddr4(0), sockaddr6(0));
            let (ptr, len): (*const libc::sockaddr, u32) = if v6 {
                (
                    (&a6 as *const libc::sockaddr_in6).cast(),
                    size_of::<libc::sockaddr_in6>() as u32,
                )
            } else {
                (
                    (&a4 as *const libc::sockaddr_in).cast(),
                    size_of::<libc::sockaddr_in>() as u32,
                )
            };
            libc::bind(l, ptr, len);
            libc::listen(l, 8);
            let lport = local_port(l) as u16;
            let c = libc::socket(fam, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            let (d4, d6) = (sockaddr4(lport), sockaddr6(lport));
            let (dptr, dlen): (*const libc::sockaddr, u32) = if v6 {
                (
                    (&d6 as *const libc::sockaddr_in6).cast(),
                    size_of::<libc::sockaddr_in6>() as u32,
                )
            } else {
                (
                    (&d4 as *const libc::sockaddr_in).cast(),
                    size_of::<libc::sockaddr_in>() as u32,
                )
            };
            libc::connect(c, dptr, dlen);
            let s = libc::accept4(
                l,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            );
            for v in [l as i64, lport as i64, c as i64, local_port(c), s as i64] {
                rep.report(v);
            }
        },
    )
}

fn check_tcp(run: &Run, lo: &str, fam: &str) {
    let [l, lport, c, cport, s] = run.reported[..] else {
        panic!("reports {:?}", run.reported)
    };
    let socks = run.of("socket");
    assert_eq!(socks.len(), 2);
    assert_eq!(
        socks[0].pick(&["fd", "domain", "type", "proto"]),
        format!("fd={l} domain={fam} type=1 proto=0")
    );
    assert_eq!(
        run.one("bind").pick(&["res", "addr", "fd"]),
        format!("res=0 addr={lo}:0 fd={l}")
    );
    assert_eq!(
        run.one("listen").pick(&["res", "fd", "backlog"]),
        format!("res=0 fd={l} backlog=8")
    );
    assert_eq!(
        run.one("connect").pick(&["res", "tuple", "fd", "addr"]),
        format!("res=0 tuple={lo}:{cport}->{lo}:{lport} fd={c} addr={lo}:{lport}")
    );
    assert_eq!(
        run.one("accept4")
            .pick(&["fd", "tuple", "queuemax", "flags"]),
        format!("fd={s} tuple={lo}:{cport}->{lo}:{lport} queuemax=8 flags=524288")
    );
}

#[test]
fn tcp_ipv4_connect_accept() {
    if !peregrine_testkit::live("tcp_ipv4_connect_accept") {
        return;
    }
    check_tcp(&tcp_run(false), "127.0.0.1", "2(AF_INET)");
}

#[test]
fn tcp_ipv6_connect_accept() {
    if !peregrine_testkit::live("tcp_ipv6_connect_accept") {
        return;
    }
    check_tcp(&tcp_run(true), "::1", "10(AF_INET6)");
}

#[test]
fn udp_connect_send_recv() {
    if !peregrine_testkit::live("udp_connect_send_recv") {
        return;
    }
    let run = run_child(
        &["connect", "sendto", "recvfrom", "sendmsg", "recvmsg"],
        1 << 20,
        |rep| unsafe {
            let srv = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
            let a = sockaddr4(0);
            libc::bind(srv, (&a as *const libc::sockaddr_in).cast(), 16);
            let sport = local_port(srv) as u16;
            let cl = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
            let d = sockaddr4(sport);
            libc::connect(cl, (&d as *const libc::sockaddr_in).cast(), 16);
            libc::sendto(cl, c"hello".as_ptr().cast(), 5, 0, std::ptr::null(), 0);
            let mut buf = [0u8; 16];
            libc::recvfrom(
                srv,
                buf.as_mut_ptr().cast(),
                16,
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            // An unconnected client: the tuple's peer comes from the sendto/recvfrom address.
            let u = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
            let dst = (&d as *const libc::sockaddr_in).cast();
            libc::sendto(u, c"again".as_ptr().cast(), 5, 0, dst, 16);
            let mut from: libc::sockaddr_in = zeroed();
            let mut flen = 16u32;
            let fromp = (&mut from as *mut libc::sockaddr_in).cast();
            libc::recvfrom(srv, buf.as_mut_ptr().cast(), 16, 0, fromp, &mut flen);
            rep.report(local_port(u));
            let mut out = *b"world";
            let mut iov = libc::iovec {
                iov_base: out.as_mut_ptr().cast(),
                iov_len: 5,
            };
            let mut mh: libc::msghdr = zeroed();
            mh.msg_iov = &mut iov;
            mh.msg_iovlen = 1;
            libc::sendmsg(cl, &mh, 0);
            let mut inb = [0u8; 16];
            let mut iov_in = libc::iovec {
                iov_base: inb.as_mut_ptr().cast(),
                iov_len: 16,
            };
            let mut mh_in: libc::msghdr = zeroed();
            mh_in.msg_iov = &mut iov_in;
            mh_in.msg_iovlen = 1;
            libc::recvmsg(srv, &mut mh_in, 0);
            for v in [srv as i64, sport as i64, cl as i64, local_port(cl)] {
                rep.report(v);
            }
        },
    );
    let [uport, srv, sport, cl, cport] = run.reported[..] else {
        panic!("reports {:?}", run.reported)
    };
    let lo = "127.0.0.1";
    let (sends, recvs) = (run.of("sendto"), run.of("recvfrom"));
    assert_eq!((sends.len(), recvs.len()), (2, 2), "{:?}", run.events);
    // The unconnected socket is bound to the wildcard address; the peer is sendto's.
    assert_eq!(
        sends[1].pick(&["res", "data", "tuple"]),
        format!("res=5 data=again tuple=0.0.0.0:{uport}->{lo}:{sport}")
    );
    assert_eq!(
        recvs[1].pick(&["res", "data", "tuple"]),
        format!("res=5 data=again tuple={lo}:{uport}->{lo}:{sport}")
    );
    assert_eq!(
        run.one("connect").pick(&["res", "tuple", "fd"]),
        format!("res=0 tuple={lo}:{cport}->{lo}:{sport} fd={cl}")
    );
    assert_eq!(
        sends[0].pick(&["res", "data", "fd", "size", "tuple"]),
        format!("res=5 data=hello fd={cl} size=5 tuple={lo}:{cport}->{lo}:{sport}")
    );
    assert_eq!(
        recvs[0].pick(&["res", "data", "fd", "size"]),
        format!("res=5 data=hello fd={srv} size=16")
    );
    assert_eq!(
        run.one("sendmsg")
            .pick(&["res", "data", "fd", "size", "tuple"]),
        format!("res=5 data=world fd={cl} size=5 tuple={lo}:{cport}->{lo}:{sport}")
    );
    assert_eq!(
        run.one("recvmsg").pick(&["res", "size", "data", "fd"]),
        format!("res=5 size=5 data=world fd={srv}")
    );
}

#[test]
fn packet_and_unix_sockets() {
    if !peregrine_testkit::live("packet_and_unix_sockets") {
        return;
    }
    let path = format!("/tmp/pg-live-unix-{}", std::process::id());
    let _ = std::fs::remove_file(&path);
    let cpath = c(&path);
    let run = run_child(
        &["socket", "connect", "socketpair"],
        1 << 20,
        |rep| unsafe {
            let p = libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW,
                (libc::ETH_P_ALL as u16).to_be() as i32,
            );
            rep.report(p as i64);
            let l = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            let mut a: libc::sockaddr_un = zeroed();
            a.sun_family = libc::AF_UNIX as u16;
            for (i, b) in cpath.as_bytes().iter().enumerate() {
                a.sun_path[i] = *b as libc::c_char;
            }
            let alen = (2 + cpath.as_bytes().len() + 1) as u32;
            libc::bind(l, (&a as *const libc::sockaddr_un).cast(), alen);
            libc::listen(l, 1);
            let cl = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            libc::connect(cl, (&a as *const libc::sockaddr_un).cast(), alen);
            rep.report(cl as i64);
            let mut sv = [0i32; 2];
            libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, sv.as_mut_ptr());
            rep.report(sv[0] as i64);
            rep.report(sv[1] as i64);
        },
    );
    let [p, cl, s0, s1] = run.reported[..] else {
        panic!("reports {:?}", run.reported)
    };
    let socks = run.of("socket");
    assert_eq!(
        socks[0].pick(&["fd", "domain", "type", "proto"]),
        format!("fd={p} domain=17(AF_PACKET) type=3 proto=768")
    );
    assert_eq!(
        socks[1].pick(&["domain", "type"]),
        "domain=1(AF_UNIX) type=1"
    );
    let conn = run.one("connect");
    assert_eq!(
        conn.pick(&["res", "fd", "addr"]),
        format!("res=0 fd={cl} addr={path}")
    );
    assert!(conn.get("tuple").ends_with(&format!(" {path}")), "{conn:?}");
    let sp = run.one("socketpair");
    assert_eq!(
        sp.pick(&["res", "fd1", "fd2"]),
        format!("res=0 fd1={s0} fd2={s1}")
    );
    assert_ne!(sp.get("source"), "0");
    assert_ne!(sp.get("peer"), "0");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn dup_family_and_socket_on_stdin() {
    if !peregrine_testkit::live("dup_family_and_socket_on_stdin") {
        return;
    }
    let run = run_child(&["dup", "dup2", "dup3", "close"], 1 << 20, |rep| unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        rep.report(s as i64);
        libc::dup2(s, 0);
        let d = libc::dup(s);
        rep.report(d as i64);
        libc::dup3(s, 40, libc::O_CLOEXEC);
        libc::close(d);
        libc::close(999);
    });
    let [s, d] = run.reported[..] else {
        panic!("reports {:?}", run.reported)
    };
    assert_eq!(
        run.one("dup2").pick(&["res", "oldfd", "newfd"]),
        format!("res=0 oldfd={s} newfd=0")
    );
    assert_eq!(
        run.one("dup").pick(&["res", "oldfd"]),
        format!("res={d} oldfd={s}")
    );
    assert_eq!(
        run.one("dup3").pick(&["res", "oldfd", "newfd", "flags"]),
        format!("res=40 oldfd={s} newfd=40 flags=4096(O_CLOEXEC)")
    );
    let closes = run.of("close");
    assert_eq!(closes[0].pick(&["res", "fd"]), format!("res=0 fd={d}"));
    assert_eq!(closes[1].pick(&["res", "fd"]), "res=-9(EBADF) fd=999");
}

#[test]
fn credentials_namespaces_mount_ptrace_module() {
    if !peregrine_testkit::live("credentials_namespaces_mount_ptrace_module") {
        return;
    }
    let d = tmpdir("mnt");
    let dc = c(&d);
    let run = run_child(
        &[
            "unshare",
            "setns",
            "mount",
            "umount2",
            "ptrace",
            "init_module",
            "setuid",
            "setgid",
            "setresuid",
            "openat",
            "setsid",
            "setpgid",
        ],
        1 << 20,
        |rep| unsafe {
            libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWUTS);
            let ns = libc::open(c"/proc/self/ns/uts".as_ptr(), libc::O_RDONLY);
            rep.report(ns as i64);
            libc::setns(ns, libc::CLONE_NEWUTS);
            libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            );
            libc::mount(
                c"none".as_ptr(),
                dc.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                std::ptr::null(),
            );
            libc::umount2(dc.as_ptr(), libc::MNT_DETACH);
            libc::ptrace(libc::PTRACE_ATTACH, 0x7fff_fff0, 0, 0);
            // On the stack: a static string's page may not be mapped in the forked child, and
            // the kernel rejects an 8-byte image before touching it, so nothing faults it in
            // (BPF cannot fault pages in; such reads count as read_failures).
            let img = *b"notanelf";
            let uargs = *b"x=1\0";
            let r = libc::syscall(
                libc::SYS_init_module,
                img.as_ptr(),
                img.len(),
                uargs.as_ptr(),
            );
            rep.report(if r < 0 {
                -(*libc::__errno_location()) as i64
            } else {
                r
            });
            libc::setpgid(0, 0);
            let sid = libc::setsid();
            rep.report(sid as i64);
            libc::setgid(65534);
            libc::setresuid(65534, 65534, 65534);
            libc::setuid(0);
        },
    );
    let ns = run.reported[0];
    let init = run.reported[1];
    assert_eq!(
        run.one("unshare").pick(&["res", "flags"]),
        "res=0 flags=160(CLONE_NEWNS|CLONE_NEWUTS)"
    );
    assert_eq!(
        run.one("setns").pick(&["res", "fd", "nstype"]),
        format!("res=0 fd={ns} nstype=128(CLONE_NEWUTS)")
    );
    let mounts = run.of("mount");
    assert_eq!(mounts.len(), 2);
    assert_eq!(
        mounts[1].pick(&["res", "dev", "dir", "type", "flags"]),
        format!("res=0 dev=none dir={d} type=tmpfs flags=6(NOSUID|NODEV)")
    );
    assert_eq!(
        run.one("umount2").pick(&["res", "name", "flags"]),
        format!("res=0 name={d} flags=2")
    );
    assert_eq!(
        run.one("ptrace").pick(&["res", "request", "pid"]),
        "res=-3(ESRCH) request=11(PTRACE_ATTACH) pid=2147483632"
    );
    let im = run.one("init_module");
    assert_eq!(
        im.pick(&["img", "length", "uargs"]),
        "img=notanelf length=8 uargs=x=1"
    );
    assert_eq!(
        im.get("res").split('(').next(),
        Some(init.to_string().as_str())
    );
    assert_eq!(run.one("setgid").pick(&["res", "gid"]), "res=0 gid=65534");
    // After setpgid(0, 0) the child leads its process group, so setsid fails with EPERM
    // (-1 as a PT_PID result, rendered without an errno name).
    assert_eq!(run.reported[2], -1);
    assert_eq!(
        run.one("setpgid").pick(&["res", "pid", "pgid"]),
        "res=0 pid=0 pgid=0"
    );
    assert_eq!(run.one("setsid").get("res"), "-1");
    assert_eq!(
        run.one("setresuid").pick(&["res", "ruid", "euid", "suid"]),
        "res=0 ruid=65534 euid=65534 suid=65534"
    );
    assert_eq!(
        run.one("setuid").pick(&["res", "uid"]),
        "res=-1(EPERM) uid=0"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn fork_and_procexit() {
    if !peregrine_testkit::live("fork_and_procexit") {
        return;
    }
    let run = run_child(
        &["clone", "clone3", "fork", "vfork"],
        1 << 20,
        |rep| unsafe {
            let g = libc::fork();
            if g == 0 {
                libc::_exit(0);
            }
            rep.report(g as i64);
            libc::waitpid(g, std::ptr::null_mut(), 0);
            libc::_exit(3);
        },
    );
    let g = run.reported[0];
    let clones: Vec<_> = run
        .events
        .iter()
        .filter(|e| ["clone", "clone3", "fork"].contains(&e.name.as_str()))
        .collect();
    assert_eq!(clones.len(), 1, "{:?}", run.events);
    let me = std::process::id();
    assert_eq!(
        clones[0].pick(&["res", "tid", "pid", "ptid"]),
        format!("res={g} tid={0} pid={0} ptid={me}", run.child)
    );
    assert!(
        clones[0].get("flags").contains("CLONE_CHILD_SETTID"),
        "{:?}",
        clones[0]
    );
    let exit = run
        .events
        .iter()
        .find(|e| e.name == "procexit" && e.tid == run.child)
        .expect("procexit");
    assert_eq!(
        exit.pick(&["status", "ret", "sig"]),
        "status=768 ret=3 sig=0"
    );
}

/// Executes `merged/<name>` from an overlay mounted in a private mount namespace.
fn exec_on_overlay(root: &str, name: &str) -> Run {
    let merged = c(&format!("{root}/merged"));
    let opts = c(&format!(
        "lowerdir={root}/lower,upperdir={root}/upper,workdir={root}/work"
    ));
    let exe = c(&format!("{root}/merged/{name}"));
    let argv = exec_argv(&[c"ovl"]);
    let envp = exec_argv(&[]);
    run_child(&["execve"], 1 << 20, |_| unsafe {
        libc::unshare(libc::CLONE_NEWNS);
        libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        );
        libc::mount(
            c"overlay".as_ptr(),
            merged.as_ptr(),
            c"overlay".as_ptr(),
            0,
            opts.as_ptr().cast(),
        );
        libc::execve(exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
    })
}

#[test]
fn exec_from_overlay_upper_and_lower_layers() {
    if !peregrine_testkit::live("exec_from_overlay_upper_and_lower_layers") {
        return;
    }
    let root = tmpdir("ovl");
    for d in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir_all(format!("{root}/{d}")).unwrap();
    }
    std::fs::copy("/usr/bin/true", format!("{root}/lower/low")).unwrap();
    std::fs::copy("/usr/bin/true", format!("{root}/upper/up")).unwrap();
    for (name, flags) in [
        ("low", "9(EXE_WRITABLE|EXE_LOWER_LAYER)"),
        ("up", "3(EXE_WRITABLE|EXE_UPPER_LAYER)"),
    ] {
        let run = exec_on_overlay(&root, name);
        assert_eq!(
            run.one("execve").pick(&["res", "flags", "trusted_exepath"]),
            format!("res=0 flags={flags} trusted_exepath={root}/merged/{name}")
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn open_on_overlay_reports_the_layer() {
    if !peregrine_testkit::live("open_on_overlay_reports_the_layer") {
        return;
    }
    let root = tmpdir("ovlopen");
    for d in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir_all(format!("{root}/{d}")).unwrap();
    }
    std::fs::write(format!("{root}/lower/low"), b"l").unwrap();
    std::fs::write(format!("{root}/upper/up"), b"u").unwrap();
    let merged = c(&format!("{root}/merged"));
    let opts = c(&format!(
        "lowerdir={root}/lower,upperdir={root}/upper,workdir={root}/work"
    ));
    let (low, up, new) = (
        c(&format!("{root}/merged/low")),
        c(&format!("{root}/merged/up")),
        c(&format!("{root}/merged/new")),
    );
    let run = run_child(&["openat", "creat"], 1 << 20, |_| unsafe {
        libc::unshare(libc::CLONE_NEWNS);
        libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        );
        libc::mount(
            c"overlay".as_ptr(),
            merged.as_ptr(),
            c"overlay".as_ptr(),
            0,
            opts.as_ptr().cast(),
        );
        libc::open(low.as_ptr(), libc::O_RDONLY);
        libc::open(up.as_ptr(), libc::O_RDONLY);
        libc::creat(new.as_ptr(), 0o600);
    });
    let opens = run.of("openat");
    assert_eq!(opens.len(), 2, "{:?}", run.events);
    assert_eq!(
        opens[0].get("flags"),
        "65537(O_RDONLY|FD_LOWER_LAYER)",
        "{:?}",
        run.events
    );
    assert_eq!(opens[1].get("flags"), "32769(O_RDONLY|FD_UPPER_LAYER)");
    assert_eq!(
        run.one("creat").get("creat_flags"),
        "1(FD_UPPER_LAYER_CREAT)"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// Falco's O_F_CREATED: set in the flags of an open that created its file, and only then.
#[test]
fn open_flags_say_whether_the_file_was_created() {
    if !peregrine_testkit::live("open_flags_say_whether_the_file_was_created") {
        return;
    }
    let d = tmpdir("created");
    let (fresh, fresh2, fresh3) = (
        c(&format!("{d}/fresh")),
        c(&format!("{d}/fresh2")),
        c(&format!("{d}/fresh3")),
    );
    let run = run_child(&["open", "openat", "openat2"], 1 << 20, |_| unsafe {
        let creat = libc::O_WRONLY | libc::O_CREAT;
        libc::openat(libc::AT_FDCWD, fresh.as_ptr(), creat, 0o600); // creates
        libc::openat(libc::AT_FDCWD, fresh.as_ptr(), creat, 0o600); // exists already
        libc::openat(libc::AT_FDCWD, fresh.as_ptr(), libc::O_RDONLY); // no O_CREAT
        libc::syscall(libc::SYS_open, fresh2.as_ptr(), creat, 0o600); // creates
        let how: [u64; 3] = [creat as u64, 0o600, 0];
        let path = fresh3.as_ptr();
        for _ in 0..2 {
            // The first creates the file, the second finds it.
            libc::syscall(
                libc::SYS_openat2,
                libc::AT_FDCWD,
                path,
                how.as_ptr(),
                24usize,
            );
        }
    });
    let flags = |name: &str| -> Vec<&str> { run.of(name).iter().map(|e| e.get("flags")).collect() };
    let (created, existing) = ("16390(O_CREAT|O_WRONLY|O_F_CREATED)", "6(O_CREAT|O_WRONLY)");
    assert_eq!(
        flags("openat"),
        [created, existing, "1(O_RDONLY)"],
        "{:?}",
        run.events
    );
    assert_eq!(flags("open"), [created]);
    assert_eq!(flags("openat2"), [created, existing]);
    let _ = std::fs::remove_dir_all(&d);
}

/// sendmsg/recvmsg data spans the iovecs in order, up to the bytes transferred and the
/// 80-byte snaplen, as Falco captures it.
#[test]
fn msg_data_spans_iovecs_up_to_the_snaplen() {
    if !peregrine_testkit::live("msg_data_spans_iovecs_up_to_the_snaplen") {
        return;
    }
    let run = run_child(&["sendmsg", "recvmsg"], 1 << 20, |_| unsafe {
        let srv = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        let a = sockaddr4(0);
        libc::bind(srv, (&a as *const libc::sockaddr_in).cast(), 16);
        let cl = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        let d = sockaddr4(local_port(srv) as u16);
        libc::connect(cl, (&d as *const libc::sockaddr_in).cast(), 16);
        // No allocation in the child (the test process is multi-threaded): fixed arrays.
        let send = |parts: &[&[u8]]| {
            let mut iov = [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; 4];
            for (v, p) in iov.iter_mut().zip(parts) {
                v.iov_base = p.as_ptr() as *mut libc::c_void;
                v.iov_len = p.len();
            }
            let mut mh: libc::msghdr = zeroed();
            mh.msg_iov = iov.as_mut_ptr();
            mh.msg_iovlen = parts.len();
            libc::sendmsg(cl, &mh, 0);
        };
        send(&[b"hello", b"", b" ", b"world"]);
        send(&[&[b'a'; 50], &[b'b'; 50], &[b'c'; 8]]);
        // Received into a 4-byte and a 64-byte vector: "hell" + "o world".
        for _ in 0..2 {
            let (mut head, mut tail) = ([0u8; 4], [0u8; 128]);
            let mut iov = [
                libc::iovec {
                    iov_base: head.as_mut_ptr().cast(),
                    iov_len: head.len(),
                },
                libc::iovec {
                    iov_base: tail.as_mut_ptr().cast(),
                    iov_len: tail.len(),
                },
            ];
            let mut mh: libc::msghdr = zeroed();
            mh.msg_iov = iov.as_mut_ptr();
            mh.msg_iovlen = 2;
            libc::recvmsg(srv, &mut mh, 0);
        }
    });
    let long = format!("{}{}", "a".repeat(50), "b".repeat(30));
    let sends: Vec<String> = run
        .of("sendmsg")
        .iter()
        .map(|e| e.pick(&["res", "data"]))
        .collect();
    assert_eq!(
        sends,
        [
            "res=11 data=hello world".to_string(),
            format!("res=108 data={long}")
        ],
        "{:?}",
        run.events
    );
    let recvs: Vec<String> = run
        .of("recvmsg")
        .iter()
        .map(|e| e.pick(&["res", "data"]))
        .collect();
    assert_eq!(
        recvs,
        [
            "res=11 data=hello world".to_string(),
            format!("res=108 data={long}")
        ]
    );
    assert_eq!(run.counters.read_failures, 0);
}

/// An iovec over `b` (no allocation: the child may not allocate).
fn iov(b: &[u8]) -> libc::iovec {
    libc::iovec {
        iov_base: b.as_ptr() as *mut libc::c_void,
        iov_len: b.len(),
    }
}

/// readv/writev/preadv/pwritev: Falco's exit parameters, the data gathered across the
/// vectors up to the 80-byte snaplen, `size` the sum of the vectors' lengths; a write's data
/// is reported even when the call fails, a failed read has none.
#[test]
fn vector_io_gathers_data_and_sizes() {
    if !peregrine_testkit::live("vector_io_gathers_data_and_sizes") {
        return;
    }
    let d = tmpdir("vec");
    let file = c(&format!("{d}/data"));
    let names = ["readv", "writev", "preadv", "pwritev"];
    let run = run_child(&names, 1 << 20, |rep| unsafe {
        let mut p = [0i32; 2];
        libc::pipe(p.as_mut_ptr());
        rep.report(p[0].into());
        rep.report(p[1].into());
        let long = ([b'a'; 50], [b'b'; 50], [b'c'; 8]);
        libc::writev(
            p[1],
            [iov(b"hello"), iov(b""), iov(b" "), iov(b"world")].as_ptr(),
            4,
        );
        libc::writev(p[1], [iov(&long.0), iov(&long.1), iov(&long.2)].as_ptr(), 3);
        // The kernel fails this call before touching the buffer, and BPF cannot fault a page
        // in: touch it first, so that what is asserted is the capture, not the page cache.
        let oops = b"oops";
        std::ptr::read_volatile(oops.as_ptr());
        libc::writev(-1, [iov(oops)].as_ptr(), 1);
        let (mut head, mut tail, mut big) = ([0u8; 4], [0u8; 7], [0u8; 200]);
        let rd = [
            libc::iovec {
                iov_base: head.as_mut_ptr().cast(),
                iov_len: head.len(),
            },
            libc::iovec {
                iov_base: tail.as_mut_ptr().cast(),
                iov_len: tail.len(),
            },
            libc::iovec {
                iov_base: big.as_mut_ptr().cast(),
                iov_len: big.len(),
            },
        ];
        libc::readv(p[0], rd.as_ptr(), 2); // "hello world" into 4 + 7 bytes
        libc::readv(p[0], rd[1..].as_ptr(), 2); // 108 bytes into 7 + 200
        libc::readv(-1, rd.as_ptr(), 1);
        let fd = libc::open(file.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600);
        rep.report(fd.into());
        libc::pwritev(fd, [iov(b"abc"), iov(b"def")].as_ptr(), 2, 3);
        libc::preadv(fd, rd[..2].as_ptr(), 2, 4); // "bcdef": 4 + 1 bytes
    });
    let (r, w, fd) = (run.reported[0], run.reported[1], run.reported[2]);
    let long = format!("{}{}", "a".repeat(50), "b".repeat(30));
    let all = |name: &str, fields: &[&str]| -> Vec<String> {
        run.of(name).iter().map(|e| e.pick(fields)).collect()
    };
    assert_eq!(
        all("writev", &["res", "data", "fd", "size"]),
        [
            format!("res=11 data=hello world fd={w} size=11"),
            format!("res=108 data={long} fd={w} size=108"),
            "res=-9(EBADF) data=oops fd=-1(EPERM) size=4".to_string(),
        ],
        "{:?}",
        run.events
    );
    assert_eq!(
        all("readv", &["res", "size", "data", "fd"]),
        [
            format!("res=11 size=11 data=hello world fd={r}"),
            format!("res=108 size=207 data={long} fd={r}"),
            "res=-9(EBADF) size=0 data=<NA> fd=-1(EPERM)".to_string(),
        ]
    );
    assert_eq!(
        all("pwritev", &["res", "data", "fd", "size", "pos"]),
        [format!("res=6 data=abcdef fd={fd} size=6 pos=3")]
    );
    assert_eq!(
        all("preadv", &["res", "size", "data", "fd", "pos"]),
        [format!("res=5 size=11 data=bcdef fd={fd} pos=4")]
    );
    assert_eq!(run.counters.read_failures, 0);
    let _ = std::fs::remove_dir_all(&d);
}

/// poll/ppoll report the descriptors with the events the kernel returned, in Falco's
/// PPM_POLL* values, at most 16 of them; ppoll's timeout in ns (-1 without one) and the
/// first word of its signal mask. The timeout is read at exit, when the kernel has written
/// back the time left, so only its range is known here.
#[test]
fn poll_reports_the_fd_list() {
    if !peregrine_testkit::live("poll_reports_the_fd_list") {
        return;
    }
    let run = run_child(&["poll", "ppoll"], 1 << 20, |rep| unsafe {
        let mut p = [0i32; 2];
        libc::pipe(p.as_mut_ptr());
        rep.report(p[0].into());
        rep.report(p[1].into());
        libc::write(p[1], b"x".as_ptr().cast(), 1);
        let pfd = |fd: i32, events: i16| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let mut set = [
            pfd(p[0], libc::POLLIN),
            pfd(p[1], libc::POLLOUT),
            pfd(-1, libc::POLLIN),
        ];
        libc::poll(set.as_mut_ptr(), 3, 0);
        let ts = libc::timespec {
            tv_sec: 1000,
            tv_nsec: 5000,
        };
        libc::ppoll(set.as_mut_ptr(), 1, &ts, std::ptr::null());
        let mut mask: libc::sigset_t = zeroed();
        libc::sigemptyset(&mut mask);
        libc::sigaddset(&mut mask, libc::SIGUSR1);
        libc::ppoll(set[1..].as_mut_ptr(), 1, std::ptr::null(), &mask);
        // Data left and no writer: POLLIN|POLLHUP, which Falco numbers 0x21.
        libc::close(p[1]);
        libc::poll(set.as_mut_ptr(), 1, 0);
        let mut many = [pfd(-1, libc::POLLIN); 20];
        libc::poll(many.as_mut_ptr(), 20, 0);
    });
    let (r, w) = (run.reported[0], run.reported[1]);
    let polls: Vec<String> = run
        .of("poll")
        .iter()
        .map(|e| e.pick(&["res", "fds", "timeout"]))
        .collect();
    let sixteen = vec!["-1:?0"; 16].join(" ");
    assert_eq!(
        polls,
        [
            format!("res=2 fds={r}:?1 {w}:?4 -1:?0 timeout=0"),
            format!("res=1 fds={r}:?21 timeout=0"),
            format!("res=0 fds={sixteen} timeout=0"),
        ],
        "{:?}",
        run.events
    );
    let ppolls = run.of("ppoll");
    assert_eq!(ppolls.len(), 2, "{:?}", run.events);
    assert_eq!(
        ppolls[0].pick(&["res", "fds", "sigmask"]),
        format!("res=1 fds={r}:?1 sigmask=0")
    );
    let left: u64 = ppolls[0].get("timeout").parse().expect("a number");
    assert!(left > 0 && left <= 1_000_000_005_000, "{left}");
    assert_eq!(
        ppolls[1].pick(&["res", "fds", "timeout", "sigmask"]),
        format!("res=1 fds={w}:?4 timeout=18446744073709551615 sigmask=512")
    );
    assert_eq!(run.counters.read_failures, 0);
}

#[test]
fn select_reports_its_result() {
    if !peregrine_testkit::live("select_reports_its_result") {
        return;
    }
    // The raw syscall: libc may implement select() with pselect6.
    let run = run_child(&["select", "pselect6"], 1 << 20, |_| unsafe {
        let mut p = [0i32; 2];
        libc::pipe(p.as_mut_ptr());
        libc::write(p[1], b"x".as_ptr().cast(), 1);
        let mut rd: libc::fd_set = zeroed();
        libc::FD_SET(p[0], &mut rd);
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        let none = std::ptr::null_mut::<libc::fd_set>();
        libc::syscall(libc::SYS_select, p[0] + 1, &mut rd, none, none, &mut tv);
        // An fd that was just closed (within the fd table, or select would ignore it): EBADF.
        let closed = libc::dup(p[0]);
        libc::close(closed);
        let mut bad: libc::fd_set = zeroed();
        libc::FD_SET(closed, &mut bad);
        libc::syscall(libc::SYS_select, closed + 1, &mut bad, none, none, &mut tv);
    });
    let selects: Vec<String> = run
        .of("select")
        .iter()
        .map(|e| format!("{} {}", e.pick(&["res"]), e.params.len()))
        .collect();
    assert_eq!(selects, ["res=1 1", "res=-9(EBADF) 1"], "{:?}", run.events);
    assert!(run.of("pselect6").is_empty(), "{:?}", run.events);
}
