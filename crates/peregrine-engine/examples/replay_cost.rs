//! User-space cost per event, as a tracked number (run by `bench/replay-cost.sh`).
//!
//! Falco's stable rules (`falco_rules.yaml`, unchanged) and a stored capture (default: the
//! largest, sysdig-inspect's 502Error.scap) held in memory. Two measurements, each repeated
//! until at least `PG_REPLAY_RECORDS` records (default 2,000,000) went through:
//! - **pipeline**: records already in Peregrine's kernel layout, decoded and run through the
//!   state and the rules — what every event the kernel sends costs the live agent;
//! - **replay**: the whole replay (scap decoding, conversion of the file's older events,
//!   state, rules), per capture event and per record.
//!
//! Time is this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), so preemption on a shared
//! machine does not count; start-up (rules, file) is outside it. The passes are
//! `#[inline(never)]` functions so that callgrind can count the timed ones alone
//! (`--toggle-collect='replay_cost::timed_*'`, the warm-up left out): instruction counts do
//! not depend on the load.
//!
//! `replay_cost [CAPTURE]`; `PG_REPLAY_ONLY=pipeline` skips the replay (a workload for
//! `perf record`); `PG_REPLAY_TAP=1` attaches an unwatched event tap to the pipeline pass
//! (the console's cost when no one samples), `PG_REPLAY_TAP=COND` one that samples COND.

use std::path::PathBuf;
use std::sync::Arc;

use peregrine_engine::replay::{replay_reader, replay_state_config, seed_state, Converter};
use peregrine_engine::{CountingSink, Engine, Pipeline, Settings};
use peregrine_event::Event;
use peregrine_rules::Loader;
use peregrine_scap::{Metadata, Reader};
use peregrine_testkit::upstream::dir as upstream;

fn cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// One pass of the pipeline over converted records; returns the events processed.
#[inline(never)]
fn pass_pipeline(engine: &Arc<Engine>, meta: &Metadata, records: &[Vec<u8>]) -> u64 {
    let mut pipe = Pipeline::new(engine.clone(), replay_state_config());
    // `PG_REPLAY_TAP=1`: as the agent runs with the console on, an event tap no one watches;
    // `PG_REPLAY_TAP=COND`: someone samples events matching COND. Off by default, so the
    // tracked figure stays comparable.
    let tap = std::env::var("PG_REPLAY_TAP").ok().map(|cond| {
        let tap = Arc::new(peregrine_engine::tap::Tap::new());
        pipe.set_tap(tap.clone());
        let watching = (cond != "1").then(|| {
            let filter = engine
                .rules()
                .compile_filter(&cond)
                .expect("PG_REPLAY_TAP compiles");
            tap.watch(filter, peregrine_engine::tap::MAX_SAMPLE)
                .expect("room")
        });
        (tap, watching)
    });
    seed_state(meta, pipe.state_mut());
    let mut sink = CountingSink::default();
    for r in records {
        if let Ok(ev) = Event::decode(r, 0) {
            pipe.process(&ev, &mut sink);
        }
    }
    drop(tap);
    pipe.stats().events
}

/// One whole replay of the file; returns the events processed.
#[inline(never)]
fn pass_replay(engine: &Arc<Engine>, bytes: &[u8]) -> u64 {
    let rd = Reader::new(bytes).expect("capture opens");
    let mut pipe = Pipeline::new(engine.clone(), replay_state_config());
    let mut sink = CountingSink::default();
    replay_reader(rd, "capture", &mut pipe, &mut sink).expect("replay");
    pipe.stats().events
}

/// The timed passes of the pipeline, apart from the warm-up so that callgrind counts them
/// alone (`--toggle-collect='replay_cost::timed_*'`): the warm-up also pays one-time set-up
/// (the parameter position table, `LazyLock`s), ≈ 216 instructions per record of a single pass.
#[inline(never)]
fn timed_pipeline(reps: u64, engine: &Arc<Engine>, meta: &Metadata, records: &[Vec<u8>]) -> u64 {
    (0..reps)
        .map(|_| pass_pipeline(engine, meta, records))
        .sum()
}

/// The timed whole replays (see [`timed_pipeline`]).
#[inline(never)]
fn timed_replay(reps: u64, engine: &Arc<Engine>, bytes: &[u8]) -> u64 {
    (0..reps).map(|_| pass_replay(engine, bytes)).sum()
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| upstream().join("captures/sysdig-inspect/502Error.scap"));
    let want: u64 = std::env::var("PG_REPLAY_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let bytes = std::fs::read(&path).expect("capture file");
    let mut l = Loader::compile_once();
    l.load_file(upstream().join("rules/falco_rules.yaml"));
    let (rules, res) = l.finish();
    assert!(res.successful(), "{}", res.as_text());
    let engine = Arc::new(Engine::new(rules, Settings::default()));

    let mut rd = Reader::new(&bytes[..]).expect("capture opens");
    let mut conv = Converter::new();
    let pids: std::collections::HashMap<u64, i64> = rd
        .metadata()
        .threads
        .iter()
        .map(|t| (t.tid, t.pid as i64))
        .collect();
    let mut records: Vec<Vec<u8>> = Vec::new();
    while let Ok(Some(ev)) = rd.next_event() {
        if let Some(r) = conv.convert(&ev, |tid| pids.get(&tid).copied()) {
            records.push(r.to_vec());
        }
    }
    let file_events = conv.stats().read;
    let meta = rd.into_metadata();
    let reps = want.div_ceil(records.len().max(1) as u64).max(1);
    println!(
        "{}: {file_events} capture events, {} records; {reps} passes each; Falco's stable rules",
        path.display(),
        records.len()
    );

    // A warm-up pass of each, outside the timing.
    pass_pipeline(&engine, &meta, &records);
    pass_replay(&engine, &bytes);

    let t = cpu_ns();
    let n = timed_pipeline(reps, &engine, &meta, &records);
    let pipe_ns = (cpu_ns() - t) as f64 / n.max(1) as f64;
    println!("pipeline (decode -> state -> rules): {pipe_ns:.1} CPU ns per record ({n} records)");
    if std::env::var("PG_REPLAY_ONLY").is_ok_and(|v| v == "pipeline") {
        return;
    }
    let t = cpu_ns();
    let m = timed_replay(reps, &engine, &bytes);
    let replay_cpu = (cpu_ns() - t) as f64;
    println!(
        "replay (scap -> convert -> state -> rules): {:.1} CPU ns per record, {:.1} per capture event",
        replay_cpu / m.max(1) as f64,
        replay_cpu / (file_events * reps).max(1) as f64
    );
}
