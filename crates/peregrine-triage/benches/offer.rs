//! Cost of `Triage::offer` on the thread that hands alerts to the outputs: a repeat folded
//! into an open window (the alert storm case dedup exists for), a new fingerprint each time
//! (windows opened and evicted at the bound), and the check against ten silences of which
//! none matches.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use peregrine_outputs::{Alert, OutputValue, Priority};
use peregrine_triage::silence::Origin;
use peregrine_triage::{DedupConfig, Silence, Silences, Triage};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

fn alert(container: &str) -> Alert {
    let mut a = Alert::new(
        1_795_899_903_123_456_789,
        "Read sensitive file untrusted",
        Priority::Warning,
        "Sensitive file opened for reading by non-trusted program (file=/etc/shadow)",
    );
    a.tags = vec!["T1555".into(), "filesystem".into(), "host".into()];
    a.output_fields = vec![
        ("fd.name".into(), OutputValue::Str("/etc/shadow".into())),
        (
            "proc.exepath".into(),
            OutputValue::Str("/usr/bin/cat".into()),
        ),
        ("container.id".into(), OutputValue::Str(container.into())),
        (
            "proc.cmdline".into(),
            OutputValue::Str("cat /etc/shadow".into()),
        ),
        ("k8s.ns.name".into(), OutputValue::Str("prod".into())),
    ];
    a
}

fn silences(n: usize) -> Arc<Silences> {
    let list = (0..n)
        .map(|i| {
            Silence::from_json(
                &serde_json::json!({"matchers": [format!("k8s.ns.name=staging-{i}"), "rule=Read *"]}),
                "s",
                Origin::Config,
                Some(format!("s{i}")),
                0,
            )
            .expect("valid")
        })
        .collect();
    Arc::new(Silences::new(list, None).expect("silences"))
}

fn dedup() -> DedupConfig {
    DedupConfig {
        enabled: true,
        window: Duration::from_secs(3600),
        max_fingerprints: 10_000,
        ..DedupConfig::default()
    }
}

fn bench(c: &mut Criterion) {
    let mut out = Vec::with_capacity(4);
    let mut t = Triage::new(dedup(), silences(0));
    t.offer(alert("c1"), 0, &mut out);
    c.bench_function("offer/repeat_in_window", |b| {
        b.iter_batched(
            || alert("c1"),
            |a| {
                t.offer(black_box(a), 1, &mut out);
                out.clear();
            },
            BatchSize::SmallInput,
        )
    });
    let mut t = Triage::new(dedup(), silences(0));
    let mut n = 0u64;
    c.bench_function("offer/new_fingerprint_at_bound", |b| {
        b.iter_batched(
            || {
                n += 1;
                alert(&format!("{n:012x}"))
            },
            |a| {
                t.offer(black_box(a), 1, &mut out);
                out.clear();
            },
            BatchSize::SmallInput,
        )
    });
    let mut t = Triage::new(DedupConfig::default(), silences(10));
    c.bench_function("offer/ten_silences_none_matching", |b| {
        b.iter_batched(
            || alert("c1"),
            |a| {
                t.offer(black_box(a), 1, &mut out);
                out.clear();
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
