//! State-update cost per event (fd and process events) and memory for 10,000 live threads.
//!
//! Run: `cargo bench -p peregrine-state`. Times are thread CPU time per event, decode
//! included; each scenario also has a "decode only" pass over the same records, the floor to
//! compare against in the same run (the machine is shared, absolute times drift). The memory
//! figure is printed once before the timing runs; it counts live heap bytes through a counting
//! allocator, so it is exact for this process and independent of the allocator's page caching.
//! Instruction counts: `bench/state-callgrind.sh`. Results: `BENCHMARKS.md`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_event::builder::{Arg, RecordBuilder};
use peregrine_event::Event;
use peregrine_state::fd::{Fd, FdKind};
use peregrine_state::thread::Process;
use peregrine_state::{State, StateConfig};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Counting is on only while the memory figure is taken: the timed passes should pay for the
/// system allocator, not for this counter's atomic updates.
static COUNTING: AtomicBool = AtomicBool::new(false);

fn count(add: usize, sub: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_add(add, Ordering::Relaxed);
        LIVE.fetch_sub(sub, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size(), 0);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        count(0, l.size());
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        count(new, l.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// CPU time of this thread: the machine is shared, and wall time would count the time other
/// processes held the CPU.
fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn config() -> StateConfig {
    StateConfig {
        proc_root: None,
        container_sockets: Vec::new(),
        ..StateConfig::default()
    }
}

/// A process as a typical shell-started one looks: a command line, an environment of a few
/// hundred bytes, cgroups, stdio and two more fds.
fn typical(pid: i64) -> Process {
    let mut p = Process {
        pid,
        ppid: 1,
        vpid: pid,
        sid: pid,
        vpgid: pid,
        comm: "python3".into(),
        exe: "/usr/bin/python3".into(),
        exepath: "/usr/bin/python3.11".into(),
        args: vec!["-m".into(), "http.server".into(), "8080".into()].into(),
        env: (0..8)
            .map(|i| format!("VARIABLE_{i}=some-value-{i}-xxxxxxxxxxxx"))
            .collect(),
        cwd: "/home/user/project/".into(),
        cgroups: vec![(
            "memory".into(),
            "/process_api/1b70673d04b87f88fe089b6f9e21e2a1".into(),
        )]
        .into(),
        ..Process::default()
    };
    for n in 0..5 {
        p.fds.insert(n, Fd::new(FdKind::File, "/dev/pts/0"));
    }
    p
}

fn memory_report() {
    COUNTING.store(true, Ordering::Relaxed);
    let before = LIVE.load(Ordering::Relaxed);
    let mut state = State::new(config());
    for pid in 0..10_000 {
        state.insert_process(typical(pid + 2), &[(pid + 2, pid + 2)]);
    }
    let used = LIVE.load(Ordering::Relaxed).wrapping_sub(before);
    COUNTING.store(false, Ordering::Relaxed);
    println!(
        "memory: {} live threads (1 per process, 5 fds, 8 env vars each) = {:.1} MB ({} bytes/thread)",
        state.thread_count(),
        used as f64 / 1e6,
        used / state.thread_count().max(1)
    );
    black_box(&state);
}

fn rec(name: &str, tid: u32, args: &[(&str, Arg)]) -> Vec<u8> {
    let mut b = RecordBuilder::syscall(name)
        .expect("name")
        .thread(tid, tid)
        .ts(1);
    for (k, v) in args {
        b = b.arg(k, v.clone()).expect("arg");
    }
    b.build()
}

/// The benchmark's event sequences: (name, records, events per pass).
struct Scenarios {
    fd: Vec<Vec<u8>>,
    process: Vec<Vec<u8>>,
}

fn scenarios() -> Scenarios {
    let open = rec(
        "openat",
        100,
        &[
            ("fd", Arg::Int(7)),
            ("dirfd", Arg::Int(-100)),
            ("name", Arg::from("/etc/ld.so.cache")),
            ("flags", Arg::Uint(0o2000000)),
        ],
    );
    let close = rec("close", 100, &[("res", Arg::Int(0)), ("fd", Arg::Int(7))]);
    let fd = vec![open, close];
    let fork_parent = rec(
        "clone",
        100,
        &[
            ("res", Arg::Int(200)),
            ("comm", Arg::from("python3")),
            ("flags", Arg::Uint(0x11)),
        ],
    );
    let fork_child = rec(
        "clone",
        200,
        &[
            ("res", Arg::Int(0)),
            ("ptid", Arg::Int(100)),
            ("vpid", Arg::Int(200)),
            ("vtid", Arg::Int(200)),
        ],
    );
    let exec = rec(
        "execve",
        200,
        &[
            ("res", Arg::Int(0)),
            ("exe", Arg::from("/bin/ls")),
            ("args", Arg::from(&["-l", "/tmp"][..])),
            ("comm", Arg::from("ls")),
            ("trusted_exepath", Arg::from("/usr/bin/ls")),
        ],
    );
    let exit = RecordBuilder::procexit().thread(200, 200).ts(1).build();
    let poke = rec("close", 100, &[("res", Arg::Int(-9)), ("fd", Arg::Int(99))]);
    Scenarios {
        fd,
        process: vec![fork_parent, fork_child, exec, exit, poke],
    }
}

fn fresh_state() -> State {
    let mut state = State::new(config());
    state.insert_process(typical(100), &[(100, 100)]);
    state
}

/// The floor: decoding each record and visiting its parameters, with no state.
#[inline(never)]
fn pass_decode(recs: &[Vec<u8>], iters: u64) {
    for _ in 0..iters {
        for r in recs {
            let ev = Event::decode(black_box(r), 0).expect("decodes");
            black_box(ev.params().count());
        }
    }
}

/// Decoding plus the state update.
#[inline(never)]
fn pass_update(state: &mut State, recs: &[Vec<u8>], iters: u64) {
    for _ in 0..iters {
        for r in recs {
            let ev = Event::decode(black_box(r), 0).expect("decodes");
            state.update(&ev);
        }
    }
}

/// Thread CPU time of `pass` divided by `n`, its events per iteration (criterion divides by
/// the iterations).
fn per_event(n: usize, pass: impl FnOnce()) -> std::time::Duration {
    let start = thread_cpu();
    pass();
    (thread_cpu() - start) / n as u32
}

/// One line per scenario with the figures BENCHMARKS.md reports: the floor and the update
/// pass per event, the state's own share (their difference) and the update/floor ratio. Both
/// passes run alternately, several rounds, and each keeps its fastest round, so a burst of
/// load on a shared machine affects neither (criterion's figures follow for the detail).
fn summary(sc: &Scenarios) {
    const ROUNDS: usize = 7;
    const ITERS: u64 = 40_000;
    for (name, recs) in [("openat+close", &sc.fd), ("fork+exec+exit", &sc.process)] {
        let mut state = fresh_state();
        // Thread CPU time of ITERS passes, in ns per event.
        let ns = |d: std::time::Duration| d.as_secs_f64() * 1e9 / ITERS as f64;
        let (mut f, mut u) = (f64::MAX, f64::MAX);
        for _ in 0..ROUNDS {
            f = f.min(ns(per_event(recs.len(), || pass_decode(recs, ITERS))));
            u = u.min(ns(per_event(recs.len(), || {
                pass_update(&mut state, recs, ITERS)
            })));
        }
        println!(
            "summary {name}: decode only (floor) {f:.1} ns/event, update {u:.1} ns/event, \
             state's share {:.1} ns/event, update/floor {:.2}",
            u - f,
            u / f
        );
    }
}

fn bench(c: &mut Criterion) {
    let sc = scenarios();
    // Under callgrind (`PEREGRINE_BENCH_ITERS=N PEREGRINE_BENCH_ONLY=fd|process valgrind
    // --tool=callgrind --toggle-collect='update::pass_*' <bench binary>`, see
    // bench/state-callgrind.sh), run one scenario's passes N times and stop: the inclusive
    // instruction count of each `pass_*` divided by N × events is instructions per event.
    if let Some(n) = std::env::var("PEREGRINE_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let only = std::env::var("PEREGRINE_BENCH_ONLY").unwrap_or_default();
        let recs = if only == "process" {
            &sc.process
        } else {
            &sc.fd
        };
        let mut state = fresh_state();
        // One-time tables (parameter positions) are built here, outside the measured passes.
        let warm = sc.process.last().expect("the failed close");
        state.update(&Event::decode(warm, 0).expect("decodes"));
        pass_decode(recs, n);
        pass_update(&mut state, recs, n);
        return;
    }
    memory_report();
    summary(&sc);
    for (name, recs) in [("openat+close", &sc.fd), ("fork+exec+exit", &sc.process)] {
        c.bench_function(&format!("decode only/{name} (per event, the floor)"), |b| {
            b.iter_custom(|iters| per_event(recs.len(), || pass_decode(recs, iters)))
        });
        let mut state = fresh_state();
        c.bench_function(&format!("update/{name} (per event)"), |b| {
            b.iter_custom(|iters| per_event(recs.len(), || pass_update(&mut state, recs, iters)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
