//! Load + compile of Falco's three maintained rules files.

use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_rules::Loader;
use std::path::PathBuf;

fn upstream() -> PathBuf {
    match std::env::var_os("PEREGRINE_UPSTREAM") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/upstream"),
    }
}

fn bench_load(c: &mut Criterion) {
    let files: Vec<(String, String)> = [
        "rules/falco_rules.yaml",
        "rules/falco-incubating_rules.yaml",
        "rules/falco-sandbox_rules.yaml",
    ]
    .iter()
    .map(|f| {
        let p = upstream().join(f);
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        (p.display().to_string(), text)
    })
    .collect();
    c.bench_function("load_three_upstream_files", |b| {
        b.iter(|| {
            let mut l = Loader::new();
            for (name, text) in &files {
                l.load_str(name, text);
            }
            l.finish()
        })
    });
}

criterion_group!(benches, bench_load);
criterion_main!(benches);
