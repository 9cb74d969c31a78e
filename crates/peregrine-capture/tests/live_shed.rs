//! In-kernel shedding: opens of paths outside the needed atoms are counted, not sent, and so
//! are the closes of their fds; an fd number a shed open used and a later syscall reuses is
//! never shed wrongly (bpf/README.md, "Shedding").

mod common;

use common::*;
use peregrine_capture::{Capture, CaptureConfig, ShedPaths};
use std::ffi::CString;

/// One test at a time: a child forked while another test's fds are open inherits them, and
/// the fd-reuse assertions count on the lowest free numbers.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

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
    let _serial = serial();
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

/// The kernel's normalisation test (8 bytes a step) agrees with user space's
/// `peregrine_rules::shed::never_shed` wherever the pair of bytes falls in a word: every path
/// that needs normalisation is sent, every other one (matching no atom) shed; and only the last
/// bytes of a path, as many as the longest suffix has, decide a suffix match.
#[test]
fn normalisation_and_suffix_tests_hold_at_every_byte_offset() {
    if !peregrine_testkit::live("normalisation_and_suffix_tests_hold_at_every_byte_offset") {
        return;
    }
    let _serial = serial();
    let base = std::env::temp_dir().join(format!("pg-shed-norm-{}", std::process::id()));
    let mut paths: Vec<String> = Vec::new();
    for pad in 0..17 {
        let d = format!("{}/{}", base.display(), "d".repeat(pad));
        for tail in [
            "/./x",
            "//x",
            "/../x",
            "/.x",
            "/x..y",
            "/x",
            "/x.y",
            "/x-y.z",
            "/x/y",
            "/tail-name",
            "/long-tail-name",
            "/x-tail-name",
        ] {
            paths.push(format!("{d}{tail}"));
        }
    }
    // Kept paths around the kernel's window (256 bytes with the NUL): up to 255 bytes the
    // record takes the copy the shed test read, longer ones are read again from user memory.
    for len in [254, 255, 256, 300] {
        let tail = "/long-tail-name";
        let mut p = base.display().to_string();
        while p.len() + tail.len() < len {
            // Components of at most 40 bytes; the last takes what is left (at least 21).
            let left = len - tail.len() - p.len();
            let n = if left > 60 { 40 } else { left };
            p.push('/');
            p.push_str(&"p".repeat(n - 1));
        }
        p.push_str(tail);
        assert_eq!(p.len(), len, "{p}");
        paths.push(p);
    }
    // Two suffixes: the longest (10 bytes) sets how much of a path the kernel reverses.
    let shed = ShedPaths {
        prefixes: vec![],
        exact: vec![],
        suffixes: vec![b"/tail-name".to_vec(), b"-name".to_vec()],
    };
    let cpaths: Vec<CString> = paths.iter().map(|p| c(p)).collect();
    let run = run_child_full(&["open", "openat"], &[], 1 << 22, Some(&shed), |_| {
        // Missing files: a failed open is tested like any other.
        for p in &cpaths {
            open(p, libc::O_RDONLY);
        }
    });
    let sent: Vec<String> = run
        .events
        .iter()
        .filter(|e| e.name == "open" || e.name == "openat")
        .map(|e| e.get("name").to_string())
        .collect();
    let want: Vec<String> = paths
        .iter()
        .filter(|p| peregrine_rules::shed::never_shed(p.as_bytes()) || p.ends_with("-name"))
        .cloned()
        .collect();
    assert_eq!(sent, want, "sent opens");
    assert_eq!(
        run.counters.shed_open_path,
        (paths.len() - want.len()) as u64
    );
}

/// The marks belong to the process, as its fd table does: an fd a thread opened (shed) and
/// another thread closes is shed, and a sent open by one thread clears the stale mark another
/// thread's shed open left on the same number.
#[test]
fn threads_share_their_process_marks() {
    if !peregrine_testkit::live("threads_share_their_process_marks") {
        return;
    }
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("pg-shed-thr-{}", std::process::id()));
    let keep = dir.join("keep");
    std::fs::create_dir_all(&keep).unwrap();
    let unneeded = dir.join("x");
    std::fs::write(&unneeded, b"x").unwrap();
    std::fs::write(keep.join("a"), b"x").unwrap();
    let (sx, ka) = (
        c(unneeded.to_str().unwrap()),
        c(keep.join("a").to_str().unwrap()),
    );
    let shed = ShedPaths {
        prefixes: vec![format!("{}/", keep.display()).into_bytes()],
        ..Default::default()
    };
    let run = run_child_full(&["openat", "close"], &[], 1 << 22, Some(&shed), |rep| {
        // A shed open on a second thread, its close here.
        let fd = std::thread::scope(|s| s.spawn(|| open(&sx, libc::O_RDONLY)).join().unwrap());
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
        // A shed open here, closed invisibly; a second thread's needed open reuses the number.
        let y = open(&sx, libc::O_RDONLY);
        close_range(y);
        let k = std::thread::scope(|s| s.spawn(|| open(&ka, libc::O_RDONLY)).join().unwrap());
        // SAFETY: our fd.
        unsafe { libc::close(k) };
        rep.report(fd as i64);
        rep.report(y as i64);
        rep.report(k as i64);
    });
    let _ = std::fs::remove_dir_all(&dir);
    let [fd, y, k] = run.reported[..] else {
        panic!("reports: {:?}", run.reported);
    };
    assert_eq!((fd, y), (y, k), "fd numbers were reused");
    let closes: Vec<String> = run
        .of("close")
        .iter()
        .map(|e| e.get("fd").to_string())
        .collect();
    // Only the needed open's close: the first close was shed from another thread's mark.
    assert_eq!(closes, vec![k.to_string()]);
    assert_eq!(run.counters.shed_open_path, 2);
    assert_eq!(run.counters.shed_close, 1);
}

/// An open that returns an fd from PG_SHED_MAX_FDS up is shed but keeps no mark: its close is
/// sent (the state ignores the close of an fd it does not know).
#[test]
fn a_high_fd_open_is_shed_and_its_close_sent() {
    if !peregrine_testkit::live("a_high_fd_open_is_shed_and_its_close_sent") {
        return;
    }
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("pg-shed-high-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unneeded = dir.join("x");
    std::fs::write(&unneeded, b"x").unwrap();
    let sx = c(unneeded.to_str().unwrap());
    let shed = ShedPaths {
        exact: vec![b"/nonexistent".to_vec()],
        ..Default::default()
    };
    let max = peregrine_capture::SHED_MAX_FDS as i32;
    let run = run_child_full(&["openat", "close"], &[], 1 << 22, Some(&shed), |rep| {
        // SAFETY: raising our own soft limit within the hard one, and filling the fd table
        // with fcntl dups (not captured) so the next open returns fd `max`.
        unsafe {
            let mut lim: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
            lim.rlim_cur = lim.rlim_max.min(4 * max as u64);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            let low = open(&sx, libc::O_RDONLY);
            for _ in 0..max {
                if libc::fcntl(low, libc::F_DUPFD, 0) >= max - 1 {
                    break;
                }
            }
            // The lowest fd free again (its mark stays): a low shed open takes it, the next
            // one gets `max`.
            close_range(low);
            let l = open(&sx, libc::O_RDONLY);
            let h = open(&sx, libc::O_RDONLY);
            libc::close(h);
            libc::close(l);
            rep.report(l as i64);
            rep.report(h as i64);
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    let [l, h] = run.reported[..] else {
        panic!("reports: {:?}", run.reported);
    };
    assert!(l < max as i64 && h >= max as i64, "fds {l} and {h}");
    let closes: Vec<String> = run
        .of("close")
        .iter()
        .map(|e| e.get("fd").to_string())
        .collect();
    assert_eq!(closes, vec![h.to_string()]);
    assert_eq!(run.counters.shed_open_path, 3);
    assert_eq!(run.counters.shed_close, 1);
}

/// Marks left while shedding was off are stale once it is back on (a new shedding period):
/// an fd whose shed open's mark outlived it — closed, and its number reused by an open sent
/// while shedding was off, neither of which consumed the mark — has its close sent.
#[test]
fn marks_from_before_shedding_was_off_are_stale() {
    if !peregrine_testkit::live("marks_from_before_shedding_was_off_are_stale") {
        return;
    }
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("pg-shed-gen-{}", std::process::id()));
    let keep = dir.join("keep");
    std::fs::create_dir_all(&keep).unwrap();
    let unneeded = dir.join("x");
    std::fs::write(&unneeded, b"x").unwrap();
    std::fs::write(keep.join("a"), b"x").unwrap();
    let (sx, ka) = (
        c(unneeded.to_str().unwrap()),
        c(keep.join("a").to_str().unwrap()),
    );
    let paths = ShedPaths {
        prefixes: vec![format!("{}/", keep.display()).into_bytes()],
        ..Default::default()
    };
    let pipe = || {
        let mut fds = [0i32; 2];
        // SAFETY: a valid out array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        (fds[0], fds[1])
    };
    // Parent → child cues, child → parent "stage done" with the fds it used.
    let (cue_r, cue_w) = pipe();
    let (done_r, done_w) = pipe();
    // SAFETY: the child uses only async-signal-safe calls and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        let mut b = [0u8; 1];
        // SAFETY: raw syscalls on our own fds and C strings made before the fork.
        unsafe {
            let report = |v: i64| libc::write(done_w, (&v as *const i64).cast(), 8);
            libc::read(cue_r, b.as_mut_ptr().cast(), 1);
            // Shedding on: a shed open marks its fd.
            let n = open(&sx, libc::O_RDONLY);
            report(n as i64);
            libc::read(cue_r, b.as_mut_ptr().cast(), 1);
            // Shedding off: the close is sent and the needed open reusing the number is sent;
            // neither touches the mark.
            libc::close(n);
            let k = open(&ka, libc::O_RDONLY);
            report(k as i64);
            libc::read(cue_r, b.as_mut_ptr().cast(), 1);
            // Shedding on again: this close must be sent.
            libc::close(k);
            report(0);
            libc::_exit(0);
        }
    }
    let config = CaptureConfig {
        ring_bytes: 1 << 22,
        priority_ring_bytes: CaptureConfig::default().priority_ring_bytes,
        syscalls: set(&["openat", "close"]),
        procexit: true,
        only_tgid: Some(pid as u32),
        exclude_self: true,
    };
    let mut cap = Capture::open(&config).expect("capture opens");
    let step = |cap: &mut Capture, shed: Option<&ShedPaths>| -> i64 {
        cap.set_shed(shed).expect("shedding");
        // SAFETY: one byte to our pipe, then 8 bytes back from the child.
        unsafe {
            libc::write(cue_w, [1u8].as_ptr().cast(), 1);
            let mut v = [0u8; 8];
            assert_eq!(
                libc::read(done_r, v.as_mut_ptr().cast(), 8),
                8,
                "child report"
            );
            i64::from_ne_bytes(v)
        }
    };
    let n = step(&mut cap, Some(&paths));
    let k = step(&mut cap, None);
    step(&mut cap, Some(&paths));
    // SAFETY: reaping our child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    let mut closes = 0;
    cap.drain_all(std::time::Duration::from_secs(10), |ev| {
        if ev.name() == "close" && ev.tid() == pid as u32 {
            closes += 1;
        }
    })
    .expect("drain");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(n, k, "the needed open reused the number");
    let counters = cap.counters().expect("counters");
    // Both closes sent: the one while shedding was off, and the stale-marked one after.
    assert_eq!(closes, 2, "closes sent");
    assert_eq!(counters.shed_open_path, 1);
    assert_eq!(counters.shed_close, 0);
}
