//! Events per second from a plugin source: the `ticker` test plugin's `next_batch` alone
//! (the events copied out of its batches, as the host does), against the same events through
//! Peregrine's source pipeline with one rule that extracts a plugin field from every event
//! and one that reads `evt.*` fields. Run by `bench/plugins.sh`; not a test (the numbers
//! depend on the machine and its load).
//!
//!   plugin_bench [EVENTS] [BATCH]     (default 2,000,000 events, 512 per batch)

use std::sync::Arc;
use std::time::Instant;

use peregrine_engine::{CountingSink, Engine, Settings, SourcePipeline};
use peregrine_plugins::{c_source, Batch, ErrorLog, FieldCache, Host, PluginConfig, SourceFields};
use peregrine_rules::RulesInput;

const RULES: &str = r#"
- rule: Tick message
  desc: reads a plugin field on every event, never matches
  condition: ticker.msg = "no such tick"
  output: "%ticker.msg"
  priority: INFO
  source: ticker
- rule: Late tick
  desc: matches one event in 100,000 (an output rendered now and then)
  condition: ticker.n > 0 and evt.num > 0 and ticker.even = true and ticker.msg endswith "00000"
  output: "tick %ticker.n at %evt.time (%evt.plugininfo)"
  priority: INFO
  source: ticker
"#;

fn main() {
    let mut args = std::env::args().skip(1);
    let events: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let batch: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(512);
    let host = Host::load(&[PluginConfig {
        name: "ticker".into(),
        library_path: peregrine_testkit::plugins::test_plugin("ticker"),
        init_config: format!("{{\"batch\": {batch}}}"),
        open_params: events.to_string(),
    }])
    .expect("the ticker plugin loads");
    let p = host.get("ticker").expect("loaded");

    // 1. next_batch alone.
    let start = Instant::now();
    let mut inst = p.open(&p.open_params).expect("open");
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        let status = inst.next_batch(&mut buf, 0).expect("next_batch");
        n += buf.len() as u64;
        if status == Batch::Eof {
            break;
        }
    }
    drop(inst);
    let raw = start.elapsed();

    // 2. The same source through the pipeline and the rules.
    let loaded = peregrine_rules::load::load_with(
        &[RulesInput::Text {
            name: "bench.yaml".into(),
            content: RULES.into(),
        }],
        &host.native_plugins(),
    );
    assert!(loaded.successful(), "{}", loaded.report(false));
    let mut pipe = SourcePipeline::new(
        Arc::new(Engine::new(loaded.ruleset, Settings::default())),
        "ticker",
    );
    let mut sink = CountingSink::default();
    let mut errors = ErrorLog::default();
    let mut cache = FieldCache::default();
    let src_name = c_source(p);
    let start = Instant::now();
    let mut inst = p.open(&p.open_params).expect("open");
    let mut m = 0u64;
    loop {
        buf.clear();
        let status = inst.next_batch(&mut buf, 0).expect("next_batch");
        for ev in &buf {
            m += 1;
            let mut src = SourceFields {
                host: &host,
                plugin: p,
                event: ev,
                num: m,
                hostname: "bench",
                c_source: &src_name,
                errors: &mut errors,
                cache: &mut cache,
            };
            pipe.process(&mut src, ev.ts(), &mut sink);
        }
        if status == Batch::Eof {
            break;
        }
    }
    drop(inst);
    let piped = start.elapsed();
    assert_eq!((n, m, errors.total), (events, events, 0));
    let rate = |k: u64, d: std::time::Duration| k as f64 / d.as_secs_f64();
    println!("events: {events}, batch: {batch}");
    println!(
        "next_batch alone:        {:>12.0} events/s ({:.2} s)",
        rate(n, raw),
        raw.as_secs_f64()
    );
    println!(
        "through Peregrine rules: {:>12.0} events/s ({:.2} s), {} alerts",
        rate(m, piped),
        piped.as_secs_f64(),
        sink.counts.values().sum::<u64>()
    );
    println!(
        "Peregrine's share of the time: {:.0} %",
        100.0 * (1.0 - raw.as_secs_f64() / piped.as_secs_f64())
    );
}
