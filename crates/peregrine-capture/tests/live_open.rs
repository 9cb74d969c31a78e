//! Step (b): a child opens a file; the openat exit event arrives with exact parameters.

mod common;

use common::*;
use std::ffi::CString;

#[test]
fn openat_exit_carries_falco_params() {
    if !peregrine_testkit::live("openat_exit_carries_falco_params") {
        return;
    }
    check_openat(&[], "regs");
}

/// The same parameters when the arguments are stashed at sys_enter instead.
#[test]
fn openat_with_enter_stash_carries_the_same_params() {
    if !peregrine_testkit::live("openat_with_enter_stash_carries_the_same_params") {
        return;
    }
    check_openat(&["openat", "close"], "stash");
}

fn check_openat(at_enter: &[&str], tag: &str) {
    let path = CString::new(format!("/tmp/pg-live-open-{tag}-{}", std::process::id())).unwrap();
    std::fs::write(path.to_str().unwrap(), b"x").unwrap();
    let missing = c"/nonexistent/peregrine";
    let run = run_child_with(&["openat", "close"], at_enter, 1 << 20, |rep| {
        // SAFETY: plain syscalls on valid C strings.
        unsafe {
            let fd = libc::openat(
                libc::AT_FDCWD,
                path.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            );
            rep.report(fd as i64);
            libc::close(fd);
            libc::openat(
                libc::AT_FDCWD,
                missing.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT,
                0o600,
            );
        }
    });
    let (dev, ino) = dev_ino(&path);
    let fd = run.reported[0];
    let opens = run.of("openat");
    assert_eq!(opens.len(), 2, "{:?}", run.events);
    assert_eq!(
        opens[0].pick(&["fd", "dirfd", "name", "flags", "mode", "dev", "ino"]),
        format!(
            "fd={fd} dirfd=-100(AT_FDCWD) name={} flags=4097(O_RDONLY|O_CLOEXEC) mode=0 dev={dev} \
             ino={ino}",
            path.to_str().unwrap()
        )
    );
    assert_eq!(
        opens[1].pick(&["fd", "name", "flags", "mode", "dev", "ino"]),
        "fd=-2(ENOENT) name=/nonexistent/peregrine flags=6(O_CREAT|O_WRONLY) mode=0600 dev=0 ino=0"
    );
    assert_eq!(
        run.one("close").pick(&["res", "fd"]),
        format!("res=0 fd={fd}")
    );
    assert!(opens
        .iter()
        .all(|e| e.pid == run.child && e.tid == run.child));
    assert_eq!(run.counters.malformed, 0);
    assert_eq!(run.counters.drops(), 0);
    assert_eq!(run.counters.missing_enter, 0);
    let _ = std::fs::remove_file(path.to_str().unwrap());
}
