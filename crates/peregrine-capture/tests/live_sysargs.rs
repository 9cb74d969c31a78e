//! Syscalls that used to arrive as Falco's generic event (res, ID, nativeID) and now carry
//! Falco's exit-event parameters: a child performs each one and the decoded parameters are
//! asserted exactly. Values the test cannot know in advance (fds, addresses, limits) are
//! reported by the child; events are picked by a parameter the child chose, because libc and
//! the harness itself make some of these calls too.

mod common;

use common::*;
use std::ffi::CString;
use std::mem::{size_of_val, zeroed};

/// A raw syscall's result as the kernel returned it (`-errno` on failure, not libc's -1).
fn sys(r: i64) -> i64 {
    if r < 0 {
        // SAFETY: reading this thread's errno.
        -i64::from(unsafe { *libc::__errno_location() })
    } else {
        r
    }
}

fn tmpdir(tag: &str) -> String {
    let d = format!("/tmp/pg-sysargs-{tag}-{}", std::process::id());
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmpdir");
    d
}

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}

/// The one `name` event whose parameter `key` renders as `value`.
fn find<'r>(run: &'r Run, name: &str, key: &str, value: &str) -> &'r Owned {
    let hits: Vec<&Owned> = run
        .of(name)
        .into_iter()
        .filter(|e| e.params.iter().any(|(n, v)| n == key && v == value))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one {name} with {key}={value}, got {:?}",
        run.of(name)
    );
    hits[0]
}

/// `(event, selector key, selector value, checked params, expected rendering)`.
type Expect = (
    &'static str,
    &'static str,
    String,
    &'static [&'static str],
    String,
);

fn check_all(run: &Run, table: &[Expect]) {
    let mut bad = Vec::new();
    for (name, key, val, fields, expected) in table {
        let got = find(run, name, key, val).pick(fields);
        if &got != expected {
            bad.push(format!(
                "{name}: got      {got}\n{name}: expected {expected}"
            ));
        }
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn io_syscalls() {
    if !peregrine_testkit::live("io_syscalls") {
        return;
    }
    let d = tmpdir("io");
    let (fa, fb, dirc) = (c(&format!("{d}/a")), c(&format!("{d}/b")), c(&d));
    let run = run_child(
        &[
            "read",
            "write",
            "pread64",
            "pwrite64",
            "lseek",
            "sendfile",
            "copy_file_range",
            "splice",
            "ioctl",
            "flock",
            "fstat",
            "getdents64",
            "socketpair",
            "shutdown",
            "getsockname",
        ],
        1 << 20,
        |rep| unsafe {
            let fd = libc::open(fa.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600);
            let fd2 = libc::open(fb.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600);
            let dfd = libc::open(dirc.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            rep.report(fd as i64);
            rep.report(fd2 as i64);
            rep.report(dfd as i64);
            libc::write(fd, c"hello peregrine".as_ptr().cast(), 15);
            libc::pwrite(fd, c"XY".as_ptr().cast(), 2, 100);
            libc::lseek(fd, 0, libc::SEEK_SET);
            let mut buf = [0u8; 4096];
            libc::read(fd, buf.as_mut_ptr().cast(), 5);
            libc::pread(fd, buf.as_mut_ptr().cast(), 2, 100);
            libc::read(987, buf.as_mut_ptr().cast(), 4);
            let mut off: libc::off_t = 0;
            libc::sendfile(fd2, fd, &mut off, 5);
            libc::copy_file_range(fd, std::ptr::null_mut(), fd2, std::ptr::null_mut(), 3, 0);
            let mut p = [0i32; 2];
            libc::pipe(p.as_mut_ptr());
            rep.report(p[1] as i64);
            libc::splice(
                fd,
                std::ptr::null_mut(),
                p[1],
                std::ptr::null_mut(),
                4,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_MORE,
            );
            libc::syscall(libc::SYS_ioctl, fd, libc::FIOCLEX, 0);
            libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB);
            libc::flock(fd, libc::LOCK_UN);
            let mut st: libc::stat = zeroed();
            libc::syscall(libc::SYS_fstat, fd2, &mut st);
            let n = libc::syscall(libc::SYS_getdents64, dfd, buf.as_mut_ptr(), 4096);
            rep.report(n);
            let mut sv = [0i32; 2];
            libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr());
            rep.report(sv[0] as i64);
            libc::shutdown(sv[0], libc::SHUT_WR);
            let mut sa: libc::sockaddr_un = zeroed();
            let mut sl = size_of_val(&sa) as libc::socklen_t;
            libc::getsockname(sv[0], (&mut sa as *mut libc::sockaddr_un).cast(), &mut sl);
        },
    );
    let [fd, fd2, dfd, p1, n, s0] = run.reported[..] else {
        panic!("reports {:?}", run.reported)
    };
    let s = |v: i64| v.to_string();
    let table: Vec<Expect> = vec![
        (
            "write",
            "fd",
            s(fd),
            &["res", "data", "fd", "size"],
            format!("res=15 data=hello peregrine fd={fd} size=15"),
        ),
        (
            "pwrite64",
            "fd",
            s(fd),
            &["res", "data", "size", "pos"],
            "res=2 data=XY size=2 pos=100".into(),
        ),
        (
            "lseek",
            "fd",
            s(fd),
            &["res", "offset", "whence"],
            "res=0 offset=0 whence=0(SEEK_SET)".into(),
        ),
        (
            "read",
            "fd",
            s(fd),
            &["res", "data", "size"],
            "res=5 data=hello size=5".into(),
        ),
        (
            "read",
            "fd",
            "987".into(),
            &["res", "data", "size"],
            "res=-9(EBADF) data=<NA> size=4".into(),
        ),
        (
            "pread64",
            "fd",
            s(fd),
            &["res", "data", "size", "pos"],
            "res=2 data=XY size=2 pos=100".into(),
        ),
        (
            "sendfile",
            "out_fd",
            s(fd2),
            &["res", "offset", "in_fd", "size"],
            format!("res=5 offset=5 in_fd={fd} size=5"),
        ),
        (
            "copy_file_range",
            "fdin",
            s(fd),
            &["res", "fdout", "offout", "offin", "len"],
            format!("res=3 fdout={fd2} offout=0 offin=0 len=3"),
        ),
        (
            "splice",
            "fd_in",
            s(fd),
            &["res", "fd_out", "size", "flags"],
            format!("res=4 fd_out={p1} size=4 flags=5(SPLICE_F_MOVE|SPLICE_F_MORE)"),
        ),
        (
            "ioctl",
            "fd",
            s(fd),
            &["res", "request", "argument"],
            format!("res=0 request={} argument=0", libc::FIOCLEX),
        ),
        (
            "flock",
            "operation",
            "6(LOCK_EX|LOCK_NB)".into(),
            &["res", "fd"],
            format!("res=0 fd={fd}"),
        ),
        (
            "flock",
            "operation",
            "8(LOCK_UN)".into(),
            &["res", "fd"],
            format!("res=0 fd={fd}"),
        ),
        ("fstat", "fd", s(fd2), &["res"], "res=0".into()),
        ("getdents64", "fd", s(dfd), &["res"], format!("res={n}")),
        (
            "socketpair",
            "fd1",
            s(s0),
            &["res", "domain", "type", "proto"],
            "res=0 domain=1(AF_UNIX) type=1 proto=0".into(),
        ),
        (
            "shutdown",
            "fd",
            s(s0),
            &["res", "how"],
            "res=0 how=1(SHUT_WR)".into(),
        ),
    ];
    check_all(&run, &table);
    assert!(n > 0, "getdents64 returned {n}");
    // Falco's getsockname event has no parameters.
    let gs = run.one("getsockname");
    assert!(gs.params.is_empty(), "{gs:?}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn path_syscalls() {
    if !peregrine_testkit::live("path_syscalls") {
        return;
    }
    let d = tmpdir("path");
    let (f, link, missing, dirc) = (
        c(&format!("{d}/f")),
        c(&format!("{d}/l")),
        c(&format!("{d}/missing")),
        c(&d),
    );
    let run = run_child(
        &[
            "stat", "lstat", "access", "chown", "lchown", "fchown", "fchownat", "getcwd", "chroot",
        ],
        1 << 20,
        |rep| unsafe {
            let fd = libc::open(f.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600);
            let dfd = libc::open(dirc.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            rep.report(fd as i64);
            rep.report(dfd as i64);
            libc::symlink(f.as_ptr(), link.as_ptr());
            let mut st: libc::stat = zeroed();
            libc::syscall(libc::SYS_stat, f.as_ptr(), &mut st);
            libc::syscall(libc::SYS_stat, missing.as_ptr(), &mut st);
            libc::syscall(libc::SYS_lstat, link.as_ptr(), &mut st);
            libc::syscall(libc::SYS_access, f.as_ptr(), libc::R_OK | libc::W_OK);
            libc::syscall(libc::SYS_access, missing.as_ptr(), libc::F_OK);
            libc::syscall(libc::SYS_chown, f.as_ptr(), 1234, 5678);
            libc::syscall(libc::SYS_lchown, link.as_ptr(), 4321, 8765);
            libc::fchown(fd, 11, 22);
            libc::fchownat(dfd, c"l".as_ptr(), 33, 44, libc::AT_SYMLINK_NOFOLLOW);
            libc::chdir(dirc.as_ptr());
            let mut buf = [0u8; 512];
            let n = libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len());
            rep.report(n);
            libc::chroot(dirc.as_ptr());
            libc::chroot(missing.as_ptr());
        },
    );
    let [fd, dfd, cwd_len] = run.reported[..] else {
        panic!("reports {:?}", run.reported)
    };
    let table: Vec<Expect> = vec![
        ("stat", "path", format!("{d}/f"), &["res"], "res=0".into()),
        (
            "stat",
            "path",
            format!("{d}/missing"),
            &["res"],
            "res=-2(ENOENT)".into(),
        ),
        ("lstat", "path", format!("{d}/l"), &["res"], "res=0".into()),
        (
            "access",
            "name",
            format!("{d}/f"),
            &["res", "mode"],
            "res=0 mode=6(R_OK|W_OK)".into(),
        ),
        (
            "access",
            "name",
            format!("{d}/missing"),
            &["res", "mode"],
            "res=-2(ENOENT) mode=0(F_OK)".into(),
        ),
        (
            "chown",
            "path",
            format!("{d}/f"),
            &["res", "uid", "gid"],
            "res=0 uid=1234 gid=5678".into(),
        ),
        (
            "lchown",
            "path",
            format!("{d}/l"),
            &["res", "uid", "gid"],
            "res=0 uid=4321 gid=8765".into(),
        ),
        (
            "fchown",
            "fd",
            fd.to_string(),
            &["res", "uid", "gid"],
            "res=0 uid=11 gid=22".into(),
        ),
        (
            "fchownat",
            "dirfd",
            dfd.to_string(),
            &["res", "pathname", "uid", "gid", "flags"],
            "res=0 pathname=l uid=33 gid=44 flags=1(AT_SYMLINK_NOFOLLOW)".into(),
        ),
        (
            "getcwd",
            "path",
            d.clone(),
            &["res"],
            format!("res={cwd_len}"),
        ),
        ("chroot", "path", d.clone(), &["res"], "res=0".into()),
        (
            "chroot",
            "path",
            format!("{d}/missing"),
            &["res"],
            "res=-2(ENOENT)".into(),
        ),
    ];
    check_all(&run, &table);
    assert_eq!(cwd_len as usize, d.len() + 1);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn signal_memory_and_identity_syscalls() {
    if !peregrine_testkit::live("signal_memory_and_identity_syscalls") {
        return;
    }
    // SAFETY: plain getters.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let run = run_child(
        &[
            "kill",
            "tkill",
            "tgkill",
            "mmap",
            "mprotect",
            "mlock",
            "munlock",
            "mlock2",
            "mlockall",
            "munlockall",
            "munmap",
            "brk",
            "getuid",
            "geteuid",
            "getgid",
            "getegid",
            "getresuid",
            "getresgid",
            "getrlimit",
            "setrlimit",
            "prlimit64",
        ],
        1 << 20,
        |rep| unsafe {
            let me = libc::getpid();
            libc::kill(me, libc::SIGWINCH);
            libc::kill(2_000_000_000, libc::SIGKILL);
            libc::syscall(libc::SYS_tkill, me, libc::SIGURG);
            libc::syscall(libc::SYS_tgkill, me, me, libc::SIGCHLD);
            let a = libc::mmap(
                std::ptr::null_mut(),
                8192,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            rep.report(a as i64);
            libc::mprotect(a, 4096, libc::PROT_READ | libc::PROT_EXEC);
            libc::mlock(a, 4096);
            libc::munlock(a, 4096);
            libc::syscall(libc::SYS_mlock2, a, 4096, libc::MLOCK_ONFAULT);
            libc::mlockall(libc::MCL_ONFAULT); // EINVAL without CURRENT or FUTURE
            libc::munlockall();
            libc::munmap(a, 8192);
            let b = libc::syscall(libc::SYS_brk, 0);
            rep.report(b);
            libc::getuid();
            libc::geteuid();
            libc::getgid();
            libc::getegid();
            let (mut r, mut e, mut s) = (7u32, 7u32, 7u32);
            libc::getresuid(&mut r, &mut e, &mut s);
            libc::getresgid(&mut r, &mut e, &mut s);
            let mut rl: libc::rlimit = zeroed();
            libc::syscall(libc::SYS_getrlimit, libc::RLIMIT_NOFILE, &mut rl);
            rep.report(rl.rlim_cur as i64);
            rep.report(rl.rlim_max as i64);
            let core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::syscall(libc::SYS_setrlimit, libc::RLIMIT_CORE, &core);
            libc::syscall(
                libc::SYS_prlimit64,
                0,
                libc::RLIMIT_NOFILE,
                std::ptr::null::<libc::rlimit>(),
                &mut rl,
            );
        },
    );
    let [addr, brk, cur, max] = run.reported[..] else {
        panic!("reports {:?}", run.reported)
    };
    let child = run.child;
    let table: Vec<Expect> = vec![
        (
            "kill",
            "pid",
            child.to_string(),
            &["res", "sig"],
            "res=0 sig=28(SIGWINCH)".into(),
        ),
        (
            "kill",
            "pid",
            "2000000000".into(),
            &["res", "sig"],
            "res=-3(ESRCH) sig=9(SIGKILL)".into(),
        ),
        (
            "tkill",
            "tid",
            child.to_string(),
            &["res", "sig"],
            "res=0 sig=23(SIGURG)".into(),
        ),
        (
            "tgkill",
            "pid",
            child.to_string(),
            &["res", "tid", "sig"],
            format!("res=0 tid={child} sig=17(SIGCHLD)"),
        ),
        (
            "mmap",
            "length",
            "8192".into(),
            &["res", "addr", "prot", "flags", "fd", "offset"],
            format!(
                "res={addr} addr=0 prot=3(PROT_READ|PROT_WRITE) \
                 flags=10(MAP_PRIVATE|MAP_ANONYMOUS) fd=-1(EPERM) offset=0"
            ),
        ),
        (
            "mprotect",
            "addr",
            addr.to_string(),
            &["res", "length", "prot"],
            "res=0 length=4096 prot=5(PROT_READ|PROT_EXEC)".into(),
        ),
        (
            "mlock",
            "addr",
            addr.to_string(),
            &["res", "len"],
            "res=0 len=4096".into(),
        ),
        (
            "munlock",
            "addr",
            addr.to_string(),
            &["res", "len"],
            "res=0 len=4096".into(),
        ),
        (
            "mlock2",
            "addr",
            addr.to_string(),
            &["res", "len", "flags"],
            "res=0 len=4096 flags=1(MLOCK_ONFAULT)".into(),
        ),
        (
            "mlockall",
            "res",
            "-22(EINVAL)".into(),
            &["flags"],
            "flags=4(MCL_ONFAULT)".into(),
        ),
        ("munlockall", "res", "0".into(), &["res"], "res=0".into()),
        (
            "munmap",
            "addr",
            addr.to_string(),
            &["res", "length"],
            "res=0 length=8192".into(),
        ),
        (
            "brk",
            "res",
            brk.to_string(),
            &["res"],
            format!("res={brk}"),
        ),
        (
            "getuid",
            "uid",
            uid.to_string(),
            &["uid"],
            format!("uid={uid}"),
        ),
        (
            "geteuid",
            "euid",
            uid.to_string(),
            &["euid"],
            format!("euid={uid}"),
        ),
        (
            "getgid",
            "gid",
            gid.to_string(),
            &["gid"],
            format!("gid={gid}"),
        ),
        (
            "getegid",
            "egid",
            gid.to_string(),
            &["egid"],
            format!("egid={gid}"),
        ),
        (
            "getresuid",
            "res",
            "0".into(),
            &["ruid", "euid", "suid"],
            format!("ruid={uid} euid={uid} suid={uid}"),
        ),
        (
            "getresgid",
            "res",
            "0".into(),
            &["rgid", "egid", "sgid"],
            format!("rgid={gid} egid={gid} sgid={gid}"),
        ),
        (
            "getrlimit",
            "resource",
            "7(RLIMIT_NOFILE)".into(),
            &["res", "cur", "max"],
            format!("res=0 cur={cur} max={max}"),
        ),
        (
            "setrlimit",
            "resource",
            "4(RLIMIT_CORE)".into(),
            &["res", "cur", "max"],
            "res=0 cur=0 max=0".into(),
        ),
        (
            "prlimit64",
            "resource",
            "7(RLIMIT_NOFILE)".into(),
            &["res", "newcur", "newmax", "oldcur", "oldmax", "pid"],
            format!("res=0 newcur=0 newmax=0 oldcur={cur} oldmax={max} pid=0"),
        ),
    ];
    check_all(&run, &table);
    // The memory counters are the process's own: present and plausible.
    let mmap = find(&run, "mmap", "length", "8192");
    for k in ["vm_size", "vm_rss"] {
        let v: u64 = mmap.get(k).parse().expect("number");
        assert!(v > 0, "{k}={v}");
    }
}

#[test]
fn fd_creating_syscalls() {
    if !peregrine_testkit::live("fd_creating_syscalls") {
        return;
    }
    let run = run_child(
        &[
            "epoll_create",
            "epoll_create1",
            "epoll_wait",
            "inotify_init",
            "inotify_init1",
            "timerfd_create",
            "pidfd_open",
            "pidfd_getfd",
            "seccomp",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "getpeername",
        ],
        1 << 20,
        |rep| unsafe {
            let e1 = libc::syscall(libc::SYS_epoll_create, 5) as i32;
            let e2 = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            rep.report(e1 as i64);
            rep.report(e2 as i64);
            let mut evs: [libc::epoll_event; 4] = zeroed();
            libc::syscall(libc::SYS_epoll_wait, e1, evs.as_mut_ptr(), 4, 0);
            let i1 = libc::syscall(libc::SYS_inotify_init);
            let i2 = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            rep.report(i1);
            rep.report(i2 as i64);
            let t = libc::timerfd_create(libc::CLOCK_MONOTONIC, 0);
            rep.report(t as i64);
            let me = libc::getpid();
            let pfd = libc::syscall(libc::SYS_pidfd_open, me, 0);
            rep.report(pfd);
            let got = libc::syscall(libc::SYS_pidfd_getfd, pfd, e1, 0);
            rep.report(got);
            let action: u32 = 0x8000_0000; // SECCOMP_RET_KILL_PROCESS
            libc::syscall(libc::SYS_seccomp, 2, 0, &action); // SECCOMP_GET_ACTION_AVAIL
                                                             // struct io_uring_params is 120 bytes; the kernel fills it on success.
            let mut params = [0u32; 30];
            let ring = sys(libc::syscall(
                libc::SYS_io_uring_setup,
                4,
                params.as_mut_ptr(),
            ));
            rep.report(ring);
            rep.report(params[0] as i64); // sq_entries
            rep.report(params[1] as i64); // cq_entries
            rep.report(params[5] as i64); // features
            let entered = sys(libc::syscall(
                libc::SYS_io_uring_enter,
                ring,
                0,
                0,
                0,
                0usize,
                0,
            ));
            rep.report(entered);
            let reg = sys(libc::syscall(
                libc::SYS_io_uring_register,
                ring,
                1,
                0usize,
                0,
            ));
            rep.report(reg);
            // Not a socket: ENOTSOCK, but the events are still sent.
            libc::getpeername(t, std::ptr::null_mut(), std::ptr::null_mut());
        },
    );
    let [e1, e2, i1, i2, t, pfd, got, ring, sq, cq, feats, entered, reg] = run.reported[..] else {
        panic!("reports {:?}", run.reported)
    };
    let child = run.child;
    // How the decoder renders a result: `-9(EBADF)` for a failure (io_uring may be disabled).
    let errno = |v: i64| match peregrine_event::value::errno_name(v) {
        Some(n) if v < 0 => format!("{v}({n})"),
        _ => v.to_string(),
    };
    let table: Vec<Expect> = vec![
        (
            "epoll_create",
            "res",
            e1.to_string(),
            &["size"],
            "size=5".into(),
        ),
        (
            "epoll_create1",
            "res",
            e2.to_string(),
            &["flags"],
            "flags=1(EPOLL_CLOEXEC)".into(),
        ),
        (
            "epoll_wait",
            "res",
            "0".into(),
            &["maxevents"],
            "maxevents=4".into(),
        ),
        (
            "inotify_init",
            "res",
            i1.to_string(),
            &["flags"],
            "flags=0".into(),
        ),
        (
            "inotify_init1",
            "res",
            i2.to_string(),
            &["flags"],
            "flags=3(IN_NONBLOCK|IN_CLOEXEC)".into(),
        ),
        (
            "timerfd_create",
            "res",
            t.to_string(),
            &["clockid", "flags"],
            format!("clockid={} flags=0", libc::CLOCK_MONOTONIC),
        ),
        (
            "pidfd_open",
            "fd",
            pfd.to_string(),
            &["pid", "flags"],
            format!("pid={child} flags=0"),
        ),
        (
            "pidfd_getfd",
            "fd",
            got.to_string(),
            &["pid_fd", "target_fd", "flags"],
            format!("pid_fd={pfd} target_fd={e1} flags=0"),
        ),
        (
            "seccomp",
            "op",
            "2".into(),
            &["res", "flags"],
            "res=0 flags=0".into(),
        ),
        (
            "io_uring_setup",
            "entries",
            "4".into(),
            &["res", "sq_entries", "cq_entries", "flags", "sq_thread_cpu"],
            format!(
                "res={} sq_entries={sq} cq_entries={cq} flags=0 sq_thread_cpu=0",
                errno(ring)
            ),
        ),
        (
            "io_uring_enter",
            "fd",
            errno(ring),
            &["res", "to_submit", "min_complete", "flags", "sig"],
            format!(
                "res={} to_submit=0 min_complete=0 flags=0 sig=0",
                errno(entered)
            ),
        ),
        (
            "io_uring_register",
            "fd",
            errno(ring),
            &["res", "opcode", "arg", "nr_args"],
            format!(
                "res={} opcode=1(IORING_UNREGISTER_BUFFERS) arg=0 nr_args=0",
                errno(reg)
            ),
        ),
    ];
    check_all(&run, &table);
    assert!(
        [e1, e2, i1, i2, t, pfd, got].iter().all(|&fd| fd >= 0),
        "{:?}",
        run.reported
    );
    if ring >= 0 {
        assert_eq!((sq, cq), (4, 8));
        let setup = find(&run, "io_uring_setup", "entries", "4");
        let rendered = setup.get("features");
        assert!(
            // Falco's names cover the first 11 feature bits; newer ones are dropped.
            rendered.starts_with(&format!("{}(IORING_FEAT_SINGLE_MMAP|", feats & 0x7ff)),
            "{rendered}"
        );
    }
    assert!(run.one("getpeername").params.is_empty());
}

#[test]
fn ipc_and_misc_syscalls() {
    if !peregrine_testkit::live("ipc_and_misc_syscalls") {
        return;
    }
    let d = tmpdir("ipc");
    let (f, dirc) = (c(&format!("{d}/f")), c(&d));
    std::fs::write(format!("{d}/f"), b"x").expect("file");
    let run = run_child(
        &[
            "nanosleep",
            "futex",
            "semget",
            "semop",
            "semctl",
            "open_by_handle_at",
        ],
        1 << 20,
        |rep| unsafe {
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 1000,
            };
            libc::syscall(
                libc::SYS_nanosleep,
                &ts,
                std::ptr::null_mut::<libc::timespec>(),
            );
            let word = 0u32;
            rep.report(&word as *const u32 as i64);
            libc::syscall(
                libc::SYS_futex,
                &word,
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                1,
            );
            let id = libc::syscall(
                libc::SYS_semget,
                libc::IPC_PRIVATE,
                2,
                libc::IPC_CREAT | 0o600,
            );
            rep.report(id);
            // struct sembuf { u16 sem_num; i16 sem_op; i16 sem_flg; } x 2
            let ops: [i16; 6] = [0, 1, 0x1000, 1, 2, 0o4000];
            libc::syscall(libc::SYS_semop, id, ops.as_ptr(), 2);
            libc::syscall(libc::SYS_semctl, id, 0, libc::SETVAL, 5);
            libc::syscall(libc::SYS_semctl, id, 0, libc::IPC_RMID, 0);
            // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[128]; }
            let mut h = [0u32; 34];
            h[0] = 128;
            let mut mount_id = 0i32;
            let named = sys(libc::syscall(
                libc::SYS_name_to_handle_at,
                libc::AT_FDCWD,
                f.as_ptr(),
                h.as_mut_ptr(),
                &mut mount_id,
                0,
            ));
            let mfd = libc::open(dirc.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            rep.report(mfd as i64);
            let fd = sys(libc::syscall(
                libc::SYS_open_by_handle_at,
                mfd,
                h.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            ));
            rep.report(named);
            rep.report(fd);
        },
    );
    let [addr, id, mfd, named, fd] = run.reported[..] else {
        panic!("reports {:?}", run.reported)
    };
    let table: Vec<Expect> = vec![
        (
            "nanosleep",
            "interval",
            "1000".into(),
            &["res"],
            "res=0".into(),
        ),
        (
            "futex",
            "addr",
            addr.to_string(),
            &["res", "op", "val"],
            "res=0 op=129(FUTEX_PRIVATE_FLAG|FUTEX_WAKE) val=1".into(),
        ),
        (
            "semget",
            "res",
            id.to_string(),
            &["key", "nsems", "semflg"],
            "key=0 nsems=2 semflg=8192(IPC_CREAT)".into(),
        ),
        (
            "semop",
            "semid",
            id.to_string(),
            &[
                "res",
                "nsops",
                "sem_num_0",
                "sem_op_0",
                "sem_flg_0",
                "sem_num_1",
                "sem_op_1",
                "sem_flg_1",
            ],
            "res=0 nsops=2 sem_num_0=0 sem_op_0=1 sem_flg_0=2(SEM_UNDO) \
             sem_num_1=1 sem_op_1=2 sem_flg_1=1(IPC_NOWAIT)"
                .into(),
        ),
        (
            "semctl",
            "cmd",
            "4096(SETVAL)".into(),
            &["res", "semid", "semnum", "val"],
            format!("res=0 semid={id} semnum=0 val=5"),
        ),
        (
            "semctl",
            "cmd",
            "4(IPC_RMID)".into(),
            &["res", "semid", "val"],
            format!("res=0 semid={id} val=0"),
        ),
        (
            "open_by_handle_at",
            "mountfd",
            mfd.to_string(),
            &["flags"],
            "flags=4097(O_RDONLY|O_CLOEXEC)".into(),
        ),
    ];
    check_all(&run, &table);
    assert!(id >= 0, "semget failed: {id}");
    let obh = find(&run, "open_by_handle_at", "mountfd", &mfd.to_string());
    if named == 0 {
        // The filesystem gives file handles: the opened file is identified.
        let (dev, ino) = dev_ino(&f);
        assert_eq!(
            obh.pick(&["path", "dev", "ino"]),
            format!("path={d}/f dev={dev} ino={ino}")
        );
        assert!(fd >= 0, "open_by_handle_at: {fd}");
        assert_eq!(obh.get("fd"), fd.to_string());
    } else {
        eprintln!("{d}: no file handles ({named}); open_by_handle_at checked on failure only");
        assert_eq!(obh.get("path"), "<NA>");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn sockopt_syscalls() {
    if !peregrine_testkit::live("sockopt_syscalls") {
        return;
    }
    let run = run_child(&["setsockopt", "getsockopt"], 1 << 20, |rep| unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        rep.report(s as i64);
        let one: i32 = 1;
        let p = (&one as *const i32).cast();
        libc::setsockopt(s, libc::SOL_SOCKET, libc::SO_REUSEADDR, p, 4);
        libc::setsockopt(s, libc::IPPROTO_TCP, libc::TCP_NODELAY, p, 4);
        let mut v = 0i32;
        let mut len: libc::socklen_t = 4;
        let vp = (&mut v as *mut i32).cast();
        libc::getsockopt(s, libc::SOL_SOCKET, libc::SO_TYPE, vp, &mut len);
        libc::getsockopt(s, libc::SOL_SOCKET, libc::SO_ERROR, vp, &mut len);
        libc::getsockopt(987, libc::SOL_SOCKET, libc::SO_RCVBUF, vp, &mut len);
    });
    let [s] = run.reported[..] else {
        panic!("reports {:?}", run.reported)
    };
    let fields: &[&str] = &["res", "fd", "level", "optname", "val", "optlen"];
    let table: Vec<Expect> = vec![
        (
            "setsockopt",
            "optname",
            "2(SO_REUSEADDR)".into(),
            fields,
            format!("res=0 fd={s} level=1(SOL_SOCKET) optname=2(SO_REUSEADDR) val=1 optlen=4"),
        ),
        (
            "setsockopt",
            "level",
            "2(SOL_TCP)".into(),
            fields,
            format!("res=0 fd={s} level=2(SOL_TCP) optname=0 val=<NA> optlen=4"),
        ),
        (
            "getsockopt",
            "optname",
            "3(SO_TYPE)".into(),
            fields,
            format!("res=0 fd={s} level=1(SOL_SOCKET) optname=3(SO_TYPE) val=1 optlen=4"),
        ),
        (
            "getsockopt",
            "optname",
            "4(SO_ERROR)".into(),
            fields,
            format!("res=0 fd={s} level=1(SOL_SOCKET) optname=4(SO_ERROR) val=0 optlen=4"),
        ),
        (
            "getsockopt",
            "fd",
            "987".into(),
            fields,
            "res=-9(EBADF) fd=987 level=1(SOL_SOCKET) optname=8(SO_RCVBUF) val=<NA> optlen=0"
                .into(),
        ),
    ];
    check_all(&run, &table);
}

#[test]
fn mmsg_and_fsconfig_syscalls() {
    if !peregrine_testkit::live("mmsg_and_fsconfig_syscalls") {
        return;
    }
    let run = run_child(
        &["sendmmsg", "recvmmsg", "fsconfig"],
        1 << 20,
        |rep| unsafe {
            let mut sv = [0i32; 2];
            libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, sv.as_mut_ptr());
            rep.report(sv[0] as i64);
            rep.report(sv[1] as i64);
            let mut out = [*b"first!", *b"second"];
            let mut iov: [libc::iovec; 2] = zeroed();
            let mut msgs: [libc::mmsghdr; 2] = zeroed();
            for k in 0..2 {
                iov[k].iov_base = out[k].as_mut_ptr().cast();
                iov[k].iov_len = 6;
                msgs[k].msg_hdr.msg_iov = &mut iov[k];
                msgs[k].msg_hdr.msg_iovlen = 1;
            }
            libc::syscall(libc::SYS_sendmmsg, sv[0], msgs.as_mut_ptr(), 2, 0);
            let mut inb = [[0u8; 16]; 2];
            let mut iov_in: [libc::iovec; 2] = zeroed();
            let mut msgs_in: [libc::mmsghdr; 2] = zeroed();
            for k in 0..2 {
                iov_in[k].iov_base = inb[k].as_mut_ptr().cast();
                iov_in[k].iov_len = 16;
                msgs_in[k].msg_hdr.msg_iov = &mut iov_in[k];
                msgs_in[k].msg_hdr.msg_iovlen = 1;
            }
            libc::syscall(
                libc::SYS_recvmmsg,
                sv[1],
                msgs_in.as_mut_ptr(),
                2,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut::<libc::timespec>(),
            );
            let fs = sys(libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 0));
            rep.report(fs);
            libc::syscall(
                libc::SYS_fsconfig,
                fs,
                1,
                c"size".as_ptr(),
                c"1M".as_ptr(),
                0,
            );
            libc::syscall(libc::SYS_fsconfig, fs, 0, c"ro".as_ptr(), 0usize, 0);
            libc::syscall(libc::SYS_fsconfig, fs, 6, 0usize, 0usize, 0);
        },
    );
    let [s0, s1, fs] = run.reported[..] else {
        panic!("reports {:?}", run.reported)
    };
    let mut table: Vec<Expect> = vec![
        (
            "sendmmsg",
            "fd",
            s0.to_string(),
            &["res", "size", "data"],
            "res=2 size=6 data=first!".into(),
        ),
        (
            "recvmmsg",
            "fd",
            s1.to_string(),
            &["res", "size", "data", "msgcontrol"],
            "res=2 size=6 data=first! msgcontrol=<NA>".into(),
        ),
    ];
    let fsconfig: Vec<Expect> = vec![
        (
            "fsconfig",
            "cmd",
            "1(FSCONFIG_SET_STRING)".into(),
            &["res", "fd", "key", "value_bytebuf", "value_charbuf", "aux"],
            format!("res=0 fd={fs} key=size value_bytebuf=<NA> value_charbuf=1M aux=0"),
        ),
        (
            "fsconfig",
            "cmd",
            "0(FSCONFIG_SET_FLAG)".into(),
            &["res", "key", "value_charbuf"],
            "res=0 key=ro value_charbuf=<NA>".into(),
        ),
        (
            "fsconfig",
            "cmd",
            "6(FSCONFIG_CMD_CREATE)".into(),
            &["res", "key"],
            "res=0 key=<NA>".into(),
        ),
    ];
    // fsopen needs CAP_SYS_ADMIN in the initial user namespace; without it only the
    // message syscalls are checked.
    if fs >= 0 {
        table.extend(fsconfig);
    } else {
        eprintln!("fsopen failed ({fs}): fsconfig not checked");
    }
    check_all(&run, &table);
}
