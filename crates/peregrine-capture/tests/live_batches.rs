//! Per-CPU batches: a CPU that goes quiet still delivers what it holds. A child makes three
//! captured syscalls and then spins on a shared flag without making any more (blocking would
//! switch it out, and a context switch ships the batch too), so its records never fill a
//! batch and no later record on its CPU ships them by age: the CPU-pinned batch timer does
//! (or a preemption of the spinning child). No timing is asserted; the deadline only bounds
//! a failure.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;
use peregrine_capture::{Capture, CaptureConfig};
use peregrine_event::Value;

#[test]
fn a_quiet_cpus_batch_is_shipped_by_its_timer() {
    if !peregrine_testkit::live("a_quiet_cpus_batch_is_shipped_by_its_timer") {
        return;
    }
    let mut go = [0i32; 2];
    // SAFETY: a valid out array.
    unsafe { assert_eq!(libc::pipe(go.as_mut_ptr()), 0) };
    // SAFETY: an anonymous shared page, checked; it outlives both processes' use of it.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED, "mmap");
    // SAFETY: page-aligned, zeroed, shared memory; only accessed atomically.
    let done = unsafe { &*page.cast::<AtomicU32>() };
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
            // Quiet, and on the CPU, until the test has seen the records.
            while done.load(Ordering::Acquire) == 0 {
                std::hint::spin_loop();
            }
            libc::_exit(0);
        }
    }
    let mut cap = Capture::open(&CaptureConfig {
        ring_bytes: 1 << 20,
        priority_ring_bytes: CaptureConfig::default().priority_ring_bytes,
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
    // The kernel counts a shipped batch just after the ring has it: settle before reading.
    let extra = cap
        .drain_all(Duration::from_secs(10), |_| {})
        .expect("drain");
    let batched = cap.batched().expect("batched");
    let counters = cap.counters().expect("counters");
    done.store(1, Ordering::Release);
    // SAFETY: reaping our child, then unmapping the page nobody uses any more.
    unsafe {
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        libc::munmap(page, 4096);
    }
    assert_eq!(
        fds,
        [Some(1000), Some(1001), Some(1002)],
        "in order, each once; {counters:?}"
    );
    assert_eq!(
        (batched, extra),
        (0, 0),
        "nothing left in the batches, nothing more sent"
    );
    assert_eq!((counters.events, counters.drops()), (3, 0), "{counters:?}");
}

/// A thread that keeps migrating between CPUs: its records sit in one CPU's batch, then in
/// another's. They must still arrive in the order it made them (the batch is shipped when the
/// thread is switched out, which a migration requires).
#[test]
fn a_migrating_threads_records_stay_in_order() {
    if !peregrine_testkit::live("a_migrating_threads_records_stay_in_order") {
        return;
    }
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.clamp(1, 64) as usize;
    const N: i32 = 2000;
    let run = run_child(&["close"], 1 << 22, |_| {
        for i in 0..N {
            if i % 10 == 0 {
                // SAFETY: a zeroed cpu_set_t with one CPU set; setting our own affinity.
                unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET((i as usize / 10) % cpus, &mut set);
                    libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
                }
            }
            // SAFETY: closing a never-opened fd only returns EBADF.
            unsafe { libc::close(10_000 + i) };
        }
    });
    let fds: Vec<String> = run
        .of("close")
        .iter()
        .map(|e| e.get("fd").to_string())
        .collect();
    let want: Vec<String> = (0..N).map(|i| (10_000 + i).to_string()).collect();
    assert_eq!(fds.len(), want.len(), "{:?}", run.counters);
    let first_wrong = fds.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(first_wrong, None, "records out of order: {fds:?}");
}
