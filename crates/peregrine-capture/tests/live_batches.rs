//! Per-CPU batches: a CPU that goes quiet still delivers what it holds. A child makes three
//! captured syscalls and then blocks without making any more, so its records never fill a
//! batch and no later record on its CPU ships them by age: only the CPU-pinned batch timer can
//! deliver them. No timing is asserted; the deadline only bounds a failure.

mod common;

use std::time::{Duration, Instant};

use common::*;
use peregrine_capture::{Capture, CaptureConfig};
use peregrine_event::Value;

#[test]
fn a_quiet_cpus_batch_is_shipped_by_its_timer() {
    if skip_unless_root("a_quiet_cpus_batch_is_shipped_by_its_timer") {
        return;
    }
    let mut go = [0i32; 2];
    let mut done = [0i32; 2];
    // SAFETY: valid out arrays.
    unsafe {
        assert_eq!(libc::pipe(go.as_mut_ptr()), 0);
        assert_eq!(libc::pipe(done.as_mut_ptr()), 0);
    }
    // SAFETY: the child only calls async-signal-safe functions and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        let mut b = [0u8; 1];
        // SAFETY: reads and closes on our own pipe fds; closing unopened fds only fails.
        unsafe {
            libc::read(go[0], b.as_mut_ptr().cast(), 1);
            for fd in [1000, 1001, 1002] {
                libc::close(fd);
            }
            // Quiet until the test has seen the records.
            libc::read(done[0], b.as_mut_ptr().cast(), 1);
            libc::_exit(0);
        }
    }
    let mut cap = Capture::open(&CaptureConfig {
        ring_bytes: 1 << 20,
        syscalls: set(&["close"]),
        procexit: false,
        only_tgid: Some(pid as u32),
        exclude_self: true,
    })
    .expect("capture opens");
    // SAFETY: releasing the child.
    unsafe { libc::write(go[1], [1u8].as_ptr().cast(), 1) };

    let mut fds = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while fds.len() < 3 && Instant::now() < deadline {
        cap.poll(Duration::from_millis(20), |ev| {
            if ev.name() == "close" && ev.pid() == pid as u32 {
                let fd = ev.params().find_map(|(info, v)| match (info.name, v) {
                    ("fd", Ok(Value::Int(fd))) => Some(fd),
                    _ => None,
                });
                fds.push(fd);
            }
        })
        .expect("poll");
    }
    let batched = cap.batched().expect("batched");
    let counters = cap.counters().expect("counters");
    // SAFETY: letting the child exit, then reaping it.
    unsafe {
        libc::write(done[1], [1u8].as_ptr().cast(), 1);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    assert_eq!(
        fds,
        [Some(1000), Some(1001), Some(1002)],
        "in order, each once; {counters:?}"
    );
    assert_eq!(batched, 0, "nothing left in the batches");
    assert_eq!((counters.events, counters.drops()), (3, 0), "{counters:?}");
}
