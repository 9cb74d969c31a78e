//! In-kernel shedding: opens of paths outside the needed atoms are counted, not sent, and so
//! are the closes of their fds; an fd number a shed open used and a later syscall reuses is
//! never shed wrongly (bpf/README.md, "Shedding").

mod common;

use common::*;
use peregrine_capture::ShedPaths;
use std::ffi::CString;

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn open(path: &CString, flags: i32) -> i32 {
    // SAFETY: a valid C string.
    unsafe { libc::open(path.as_ptr(), flags, 0o600) }
}

fn close_range(fd: i32) {
    // SAFETY: closes one fd of ours; close_range is not captured, so this close is invisible.
    unsafe { libc::syscall(libc::SYS_close_range, fd as u32, fd as u32, 0u32) };
}

#[test]
fn shed_opens_and_closes_with_fd_reuse() {
    if !peregrine_testkit::live("shed_opens_and_closes_with_fd_reuse") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pg-shed-{}", std::process::id()));
    let keep = dir.join("keep");
    let other = dir.join("other");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let p = |d: &std::path::Path, n: &str| {
        let path = d.join(n);
        std::fs::write(&path, b"x").unwrap();
        c(path.to_str().unwrap())
    };
    let (keep_a, keep_b, keep_c) = (p(&keep, "a"), p(&keep, "b"), p(&keep, "c"));
    let (sx, sy, sz, sp) = (
        p(&other, "x"),
        p(&other, "y"),
        p(&other, "z"),
        p(&other, "p"),
    );
    let missing_shed = c(other.join("missing").to_str().unwrap());
    let missing_kept = c(keep.join("missing").to_str().unwrap());
    let dotted = c(&format!("{}/../other/x", other.display()));
    let paths = ShedPaths {
        prefixes: vec![format!("{}/", keep.display()).into_bytes()],
        exact: vec![],
        suffixes: vec![b"/wanted-name".to_vec()],
    };
    let wanted = p(&other, "wanted-name");
    let other_dir = c(other.to_str().unwrap());
    let syscalls = ["open", "openat", "close", "dup2", "socket", "pipe2", "read"];
    let run = run_child_full(&syscalls, &[], 1 << 22, Some(&paths), |rep| {
        // (a) a needed open and its close are sent.
        let a = open(&keep_a, libc::O_RDONLY);
        rep.report(a as i64);
        let mut b = [0u8; 1];
        // SAFETY: reading into a local buffer from our fd.
        unsafe { libc::read(a, b.as_mut_ptr().cast(), 1) };
        // SAFETY: our fd.
        unsafe { libc::close(a) };
        // (b) 20 opens and closes of an unneeded path: all shed.
        for _ in 0..20 {
            let fd = open(&sx, libc::O_RDONLY);
            // SAFETY: our fd.
            unsafe { libc::close(fd) };
        }
        // A failed open of an unneeded path is shed, of a needed one sent.
        open(&missing_shed, libc::O_RDONLY);
        open(&missing_kept, libc::O_RDONLY);
        // Never shed: a path needing normalisation, and a needed suffix.
        let d = open(&dotted, libc::O_RDONLY);
        // SAFETY: our fd.
        unsafe { libc::close(d) };
        let w = open(&wanted, libc::O_RDONLY);
        // SAFETY: our fd.
        unsafe { libc::close(w) };
        // Never shed: a directory (relative opens and fchdir resolve from its name).
        let dfd = open(&other_dir, libc::O_RDONLY | libc::O_DIRECTORY);
        // SAFETY: our fd.
        unsafe { libc::close(dfd) };
        // (c) fd reuse. dup2 onto a shed open's fd: the mark goes, the close is sent.
        let y = open(&sy, libc::O_RDONLY);
        let kb = open(&keep_b, libc::O_RDONLY);
        // SAFETY: our fds.
        unsafe { libc::dup2(kb, y) };
        rep.report(y as i64);
        // SAFETY: our fds.
        unsafe {
            libc::close(y);
            libc::close(kb);
        }
        // A socket reusing the number of a shed open closed invisibly.
        let z = open(&sz, libc::O_RDONLY);
        close_range(z);
        // SAFETY: plain socket call.
        let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
        rep.report(z as i64);
        rep.report(s as i64);
        // SAFETY: our fd.
        unsafe { libc::close(s) };
        // A pipe reusing it likewise (its fds come back in user memory).
        let q = open(&sp, libc::O_RDONLY);
        close_range(q);
        let mut fds = [0i32; 2];
        // SAFETY: a valid two-int array.
        unsafe { libc::pipe2(fds.as_mut_ptr(), 0) };
        rep.report(q as i64);
        rep.report(fds[0] as i64);
        // SAFETY: our fds.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        // A needed open reusing the number of a shed, closed one.
        let r = open(&sx, libc::O_RDONLY);
        // SAFETY: our fd.
        unsafe { libc::close(r) };
        let kc = open(&keep_c, libc::O_RDONLY);
        rep.report(r as i64);
        rep.report(kc as i64);
        // SAFETY: our fd.
        unsafe { libc::close(kc) };
    });
    let _ = std::fs::remove_dir_all(&dir);
    let [a, y, z, s, q, pr, r, kc] = run.reported[..] else {
        panic!("reports: {:?}", run.reported);
    };
    // libc's open() is the openat syscall.
    let names: Vec<String> = run
        .events
        .iter()
        .filter(|e| e.name == "open" || e.name == "openat")
        .map(|e| e.get("name").to_string())
        .collect();
    let s_ = |c: &CString| c.to_str().unwrap().to_string();
    assert_eq!(
        names,
        vec![
            s_(&keep_a),
            s_(&missing_kept),
            s_(&dotted),
            s_(&wanted),
            s_(&other_dir),
            s_(&keep_b),
            s_(&keep_c)
        ],
        "only needed opens are sent"
    );
    // The reuse cases hit the same numbers (the lowest free fd), or the test proves nothing.
    assert_eq!((z, q, r), (s, pr, kc), "fd numbers were reused");
    let closes: Vec<String> = run
        .of("close")
        .iter()
        .map(|e| e.get("fd").to_string())
        .collect();
    let want: Vec<String> = [a, a, a, a, y, y + 1, s, pr, pr + 1, kc]
        .iter()
        .map(|v| v.to_string())
        .collect();
    // a (the keep file), the dotted, wanted-name and directory opens (same number as a), y
    // after dup2
    // and the keep_b fd, the socket, the pipe's two ends, keep_c.
    assert_eq!(closes, want);
    // The 20 loop opens, the failed one, y, z, p and the first open of the last case; the 20
    // loop closes and that open's close.
    assert_eq!(run.counters.shed_open_path, 20 + 5);
    assert_eq!(run.counters.shed_close, 20 + 1);
    assert_eq!(run.counters.drops(), 0);
}
