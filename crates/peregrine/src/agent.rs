//! The agent: live detection (kernel capture → state → rules → alerts) or replay of a capture
//! file through the very same pipeline.
//!
//! Key decision: this module only wires library pieces — `peregrine-engine` owns the pipeline,
//! the live source and the replay converter; the outputs crate owns alert formatting. Signals
//! set a flag that the capture loop checks between drains (every ≤10 ms), so SIGINT/SIGTERM
//! end the run cleanly: what the kernel already wrote is processed and the statistics are
//! printed, as Falco does on exit. Alerts go to a `peregrine_outputs::Dispatcher` built from
//! the falco.yaml tree (the outputs crate owns those keys); it never blocks the pipeline, is
//! reopened on SIGUSR1 and drained with a deadline at exit.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use peregrine_engine::interest::BaseSyscalls;
use peregrine_engine::live::LiveSource;
use peregrine_engine::replay::replay_file;
use peregrine_engine::{AlertSink, Engine, Match, Pipeline, Settings};
use peregrine_outputs::{Alert, Dispatcher};
use peregrine_rules::{Matching, RuleSet};
use peregrine_state::StateConfig;
use signal_hook::consts::SIGUSR1;

use crate::config::{Config, EngineKind, RuleMatching};

/// Kernel ring buffer size for the live capture.
const RING_BYTES: u32 = 8 << 20;

/// How long the outputs may take to deliver queued alerts at exit.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// What the agent runs with: the validated configuration and the selected rules.
pub struct AgentArgs<'a> {
    pub config: &'a Config,
    pub rules: RuleSet,
    /// `-M SECS`: stop after this long.
    pub duration: Option<Duration>,
    /// `peregrine replay FILE`; otherwise `engine.kind=replay` decides.
    pub replay: Option<PathBuf>,
}

/// Hands each match to the outputs dispatcher; never blocks (full queues drop and count).
struct Dispatch<'a> {
    outputs: &'a Dispatcher,
    hostname: String,
    /// Set by SIGUSR1. Outputs reopen "before their next write" anyway, so passing the request
    /// on when the next alert arrives is equivalent and keeps the dispatcher on one thread.
    reopen: Arc<AtomicBool>,
}

impl<'a> Dispatch<'a> {
    fn new(outputs: &'a Dispatcher) -> Result<Self> {
        let reopen = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(SIGUSR1, reopen.clone())
            .context("installing the SIGUSR1 handler")?;
        Ok(Dispatch {
            outputs,
            hostname: peregrine_outputs::hostname(),
            reopen,
        })
    }
}

/// The outputs crate's alert for one engine match.
fn to_alert(m: &Match<'_>, hostname: &str) -> Alert {
    Alert {
        time_ns: m.time_ns,
        rule: m.rule.name.clone(),
        priority: m.rule.priority,
        source: m.rule.source.clone(),
        hostname: hostname.to_string(),
        tags: m.rule.tags.iter().cloned().collect(),
        output: m.output.to_string(),
        output_fields: m.output_fields.to_vec(),
        extra_fields: Vec::new(),
    }
}

impl AlertSink for Dispatch<'_> {
    fn alert(&mut self, m: &Match<'_>) {
        if self.reopen.swap(false, Ordering::Relaxed) {
            log::info!("SIGUSR1: reopening outputs");
            self.outputs.reopen();
        }
        self.outputs.enqueue(to_alert(m, &self.hostname));
    }
}

/// Drains the outputs (bounded by [`DRAIN_DEADLINE`]) and reports what could not be delivered.
fn shutdown_outputs(outputs: Dispatcher) {
    let (report, snap) = outputs.shutdown(DRAIN_DEADLINE);
    if !report.unfinished.is_empty() {
        log::warn!(
            "outputs not drained within {DRAIN_DEADLINE:?}: {}",
            report.unfinished.join(", ")
        );
    }
    let lost = snap.total_lost();
    if lost > 0 {
        eprintln!("Alerts lost by outputs: {lost}");
    }
}

fn engine_for(config: &Config, rules: RuleSet) -> Engine {
    Engine::new(
        rules,
        Settings {
            matching: match config.rule_matching {
                RuleMatching::First => Matching::First,
                RuleMatching::All => Matching::All,
            },
            ..Settings::default()
        },
    )
}

/// Falco's end-of-run summary, on stderr.
fn print_stats(pipe: &Pipeline, extra: &str) {
    let s = pipe.stats();
    eprintln!("Events detected: {}", s.matches());
    eprintln!(
        "Events processed: {} ({} evaluated){extra}",
        s.events, s.evaluated
    );
    let counts = pipe.rule_counts();
    if !counts.is_empty() {
        eprintln!("Triggered rules by rule name:");
        for (rule, n) in counts {
            eprintln!("   {rule}: {n}");
        }
    }
}

/// Runs the agent; returns the process exit code.
pub fn run(args: AgentArgs<'_>) -> Result<i32> {
    let replay = args.replay.clone().or_else(|| match &args.config.engine {
        EngineKind::Replay { capture_file } => capture_file.clone(),
        _ => None,
    });
    if let (None, EngineKind::Replay { .. }) = (&replay, &args.config.engine) {
        anyhow::bail!("engine.kind=replay needs engine.replay.capture_file");
    }
    let engine = Arc::new(engine_for(args.config, args.rules));
    let outputs = args
        .config
        .outputs
        .build()
        .context("starting the outputs")?;
    if let Some(file) = replay {
        let mut sink = Dispatch::new(&outputs)?;
        let result = replay_file(engine, &file, &mut sink);
        drop(sink);
        // Deliver what matched even if the capture ended in an error.
        shutdown_outputs(outputs);
        let (pipe, stats) = result.with_context(|| format!("replaying {}", file.display()))?;
        print_stats(
            &pipe,
            &format!(
                ", {} capture events read, {} not convertible",
                stats.convert.read,
                stats.convert.unknown + stats.convert.unsupported
            ),
        );
        return Ok(0);
    }

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handler")?;
    }
    let base = BaseSyscalls {
        custom_set: args.config.base_syscalls.custom_set.clone(),
        repair: args.config.base_syscalls.repair,
        all: args.config.base_syscalls.all,
    };
    let mut pipe = Pipeline::new(engine.clone(), StateConfig::default());
    let seeded = pipe.state_mut().seed_from_proc().context("reading /proc")?;
    log::info!("state seeded with {seeded} processes from /proc");
    let mut live =
        LiveSource::open(&engine, base, RING_BYTES).context("attaching to the kernel")?;
    log::info!(
        "capturing {} event types; {} rules active",
        live.selected().len(),
        engine.rules().active_count()
    );
    let deadline = args.duration.map(|d| Instant::now() + d);
    let mut sink = Dispatch::new(&outputs)?;
    let result = live.run(&mut pipe, &mut sink, &stop, deadline);
    drop(sink);
    shutdown_outputs(outputs);
    result?;
    let c = live.counters()?;
    print_stats(
        &pipe,
        &format!(", kernel: {} events, {} drops", c.events, c.drops()),
    );
    Ok(0)
}
