//! Capture overhead benchmark (run by `bench/capture.sh`, as root).
//!
//! A forked child runs a tight syscall loop (getppid, or open+close of /dev/null) and reports
//! ns of its own CPU time (user + system, which includes the BPF programs running in its
//! context) per iteration: CPU time rather than wall-clock so that a busy shared machine
//! preempting the child does not count as capture cost. The agent (this process) is excluded from capture by design, which is why
//! the workload is a separate process. Modes:
//! - `baseline`: no programs loaded;
//! - `filtered`: programs attached, the loop's syscalls not selected (the in-kernel filter);
//! - `captured`: the loop's syscalls selected, every event delivered to this process and
//!   decoded (all parameters), draining on a 1 ms timer;
//!
//! and the sustained rate: the captured run's delivered events per second with the drop count.

use std::time::{Duration, Instant};

use peregrine_capture::{Capture, CaptureConfig};
use peregrine_event::{EventType, EventTypeSet};

#[derive(Clone, Copy, PartialEq)]
enum Work {
    Getppid,
    OpenClose,
}

fn spawn_loop(work: Work, iters: u64) -> (i32, i32, i32) {
    let mut go = [0i32; 2];
    let mut res = [0i32; 2];
    // SAFETY: valid out arrays.
    unsafe {
        libc::pipe(go.as_mut_ptr());
        libc::pipe(res.as_mut_ptr());
    }
    // SAFETY: the child uses only async-signal-safe calls and _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut b = [0u8; 1];
        // SAFETY: raw syscalls on our own fds and a static path.
        unsafe {
            libc::read(go[0], b.as_mut_ptr().cast(), 1);
            let mut t0: libc::timespec = std::mem::zeroed();
            let mut t1: libc::timespec = std::mem::zeroed();
            libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t0);
            for _ in 0..iters {
                match work {
                    Work::Getppid => {
                        libc::syscall(libc::SYS_getppid);
                    }
                    Work::OpenClose => {
                        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                        libc::close(fd);
                    }
                }
            }
            libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t1);
            let ns = (t1.tv_sec - t0.tv_sec) as i64 * 1_000_000_000 + (t1.tv_nsec - t0.tv_nsec);
            libc::write(res[1], (&ns as *const i64).cast(), 8);
            libc::_exit(0);
        }
    }
    // SAFETY: closing the child's ends.
    unsafe {
        libc::close(go[0]);
        libc::close(res[1]);
    }
    (pid, go[1], res[0])
}

fn release(go: i32) {
    // SAFETY: one byte to our own pipe.
    unsafe {
        libc::write(go, [1u8].as_ptr().cast(), 1);
        libc::close(go);
    }
}

fn finish(pid: i32, res: i32) -> i64 {
    let mut ns = 0i64;
    // SAFETY: reading 8 bytes from our pipe, reaping our child.
    unsafe {
        libc::read(res, (&mut ns as *mut i64).cast(), 8);
        libc::close(res);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    ns
}

fn set(names: &[&str]) -> EventTypeSet {
    names
        .iter()
        .filter_map(|n| EventType::from_name(n))
        .collect()
}

struct Outcome {
    ns_per_iter: f64,
    delivered: u64,
    drops: u64,
    secs: f64,
}

fn run(work: Work, iters: u64, selected: Option<&[&str]>, ring: u32) -> Outcome {
    let (pid, go, res) = spawn_loop(work, iters);
    let mut cap = selected.map(|names| {
        let cfg = CaptureConfig {
            ring_bytes: ring,
            syscalls: set(names),
            procexit: false,
            only_tgid: None,
            exclude_self: true,
        };
        Capture::open(&cfg).expect("capture (run as root)")
    });
    let start = Instant::now();
    release(go);
    let mut delivered = 0u64;
    let mut params = 0u64;
    let mut child_done = false;
    let mut ns = 0;
    while !child_done {
        if let Some(cap) = cap.as_mut() {
            cap.poll(Duration::from_millis(1), |ev| {
                delivered += 1;
                // Decode every parameter: the cost a consumer really pays.
                params += ev.params().filter(|(_, v)| v.is_ok()).count() as u64;
            })
            .expect("poll");
        }
        let mut status = 0;
        // SAFETY: non-blocking check on our child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            let mut b = [0u8; 8];
            // SAFETY: the child wrote its 8 bytes before exiting.
            unsafe { libc::read(res, b.as_mut_ptr().cast(), 8) };
            ns = i64::from_ne_bytes(b);
            child_done = true;
        } else if cap.is_none() {
            ns = finish(pid, res);
            child_done = true;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mut drops = 0;
    if let Some(cap) = cap.as_mut() {
        cap.drain(|_| delivered += 1);
        let c = cap.counters().expect("counters");
        drops = c.drops();
    }
    std::hint::black_box(params);
    Outcome {
        ns_per_iter: ns as f64 / iters as f64,
        delivered,
        drops,
        secs,
    }
}

fn main() {
    let iters: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let ring = 64 << 20;
    println!("iterations per run: {iters}; ns are per loop iteration (open+close = 2 syscalls)");
    let t = Instant::now();
    drop(Capture::open(&CaptureConfig::default()).expect("capture (run as root)"));
    println!(
        "startup: load + attach of the default selection in {:?}",
        t.elapsed()
    );
    println!(
        "{:<10} {:<9} {:>10} {:>10} {:>12} {:>10}",
        "workload", "mode", "ns/iter", "added ns", "delivered", "drops"
    );
    for (work, label, names) in [
        (Work::Getppid, "getppid", &["getppid"][..]),
        (Work::OpenClose, "open+close", &["openat", "close"][..]),
    ] {
        // The filtered mode selects an unrelated syscall so the programs run but drop early.
        let modes: [(&str, Option<&[&str]>); 3] = [
            ("baseline", None),
            ("filtered", Some(&["ptrace"])),
            ("captured", Some(names)),
        ];
        // Rounds interleave the modes so that drifting background load hits them alike; the
        // best (least disturbed) run of each mode is reported.
        let mut best: Vec<Option<Outcome>> = modes.iter().map(|_| None).collect();
        for _ in 0..5 {
            for (i, (_, sel)) in modes.iter().enumerate() {
                let o = run(work, iters, *sel, ring);
                if best[i]
                    .as_ref()
                    .is_none_or(|b| o.ns_per_iter < b.ns_per_iter)
                {
                    best[i] = Some(o);
                }
            }
        }
        let base = best[0].as_ref().map_or(0.0, |b| b.ns_per_iter);
        for ((mode, _), o) in modes.iter().zip(best.iter().flatten()) {
            println!(
                "{:<10} {:<9} {:>10.1} {:>10.1} {:>12} {:>10}",
                label,
                mode,
                o.ns_per_iter,
                o.ns_per_iter - base,
                o.delivered,
                o.drops
            );
            if *mode == "captured" {
                println!(
                    "{:<10} sustained {:.2} M events/s delivered+decoded, {} drops",
                    label,
                    o.delivered as f64 / o.secs / 1e6,
                    o.drops
                );
            }
        }
    }
}
