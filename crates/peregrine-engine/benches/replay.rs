//! Replay throughput: the largest stored capture (sysdig-inspect's 502Error.scap) with Falco's
//! stable rules, held in memory and replayed whole per iteration (scap decode → conversion →
//! state → rules), plus the pipeline alone over pre-converted records. Throughput is in
//! capture events per second; peak RSS is printed at the end.
//!
//! `cargo bench -p peregrine-engine --bench replay`

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use peregrine_engine::replay::{replay_reader, replay_state_config, seed_state, Converter};
use peregrine_engine::{CountingSink, Engine, Pipeline, Settings};
use peregrine_event::Event;
use peregrine_rules::Loader;
use peregrine_scap::Reader;

use peregrine_testkit::upstream::dir as upstream;

fn engine() -> Arc<Engine> {
    let mut l = Loader::compile_once();
    l.load_file(upstream().join("rules/falco_rules.yaml"));
    let (rules, res) = l.finish();
    assert!(res.successful(), "{}", res.as_text());
    Arc::new(Engine::new(rules, Settings::default()))
}

fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn bench(c: &mut Criterion) {
    let path = upstream().join("captures/sysdig-inspect/502Error.scap");
    let bytes = std::fs::read(&path).expect("capture");
    let engine = engine();

    // Events in the file, and the converted records for the pipeline-only bench.
    let mut rd = Reader::new(&bytes[..]).expect("open");
    let mut conv = Converter::new();
    let mut records: Vec<Vec<u8>> = Vec::new();
    let mut pids = rustc_hash_pids(rd.metadata());
    while let Ok(Some(ev)) = rd.next_event() {
        if let Some(r) = conv.convert(&ev, |tid| pids.get(&tid).copied()) {
            records.push(r.to_vec());
        }
    }
    let read = conv.stats().read;
    pids.clear();
    let meta = rd.into_metadata();

    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Elements(read));
    g.bench_function("502Error.scap full replay", |b| {
        b.iter(|| {
            let rd = Reader::new(&bytes[..]).expect("open");
            let mut pipe = Pipeline::new(engine.clone(), replay_state_config());
            let mut sink = CountingSink::default();
            replay_reader(rd, "502Error.scap", &mut pipe, &mut sink).expect("replay");
            pipe.stats().events
        })
    });
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("502Error.scap pipeline only", |b| {
        b.iter(|| {
            let mut pipe = Pipeline::new(engine.clone(), replay_state_config());
            seed_state(&meta, pipe.state_mut());
            let mut sink = CountingSink::default();
            for r in &records {
                if let Ok(ev) = Event::decode(r, 0) {
                    pipe.process(&ev, &mut sink);
                }
            }
            pipe.stats().events
        })
    });
    g.finish();
    eprintln!(
        "capture events: {read}, replayed records: {}, peak RSS: {} kB",
        records.len(),
        peak_rss_kb().unwrap_or(0)
    );
}

fn rustc_hash_pids(meta: &peregrine_scap::Metadata) -> std::collections::HashMap<u64, i64> {
    meta.threads.iter().map(|t| (t.tid, t.pid as i64)).collect()
}

criterion_group!(benches, bench);
criterion_main!(benches);
