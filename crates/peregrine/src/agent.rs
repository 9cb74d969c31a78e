//! The agent: live detection (kernel capture → state → rules → alerts) or replay of a capture
//! file through the very same pipeline.
//!
//! Key decision: this module only wires library pieces — `peregrine-engine` owns the pipeline,
//! the live source and the replay converter; the outputs crate owns alert formatting. Signals
//! set a flag that the capture loop checks between drains (every ≤10 ms), so SIGINT/SIGTERM
//! end the run cleanly: what the kernel already wrote is processed and the statistics are
//! printed, as Falco does on exit.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use peregrine_engine::interest::BaseSyscalls;
use peregrine_engine::live::LiveSource;
use peregrine_engine::replay::replay_file;
use peregrine_engine::{AlertSink, Engine, Match, Pipeline, Settings};
use peregrine_outputs::{Alert, FormatOptions};
use peregrine_rules::{Matching, RuleSet};
use peregrine_state::StateConfig;

use crate::config::{Config, EngineKind, RuleMatching};

/// Kernel ring buffer size for the live capture.
const RING_BYTES: u32 = 8 << 20;

/// What the agent runs with: the validated configuration and the selected rules.
pub struct AgentArgs<'a> {
    pub config: &'a Config,
    pub rules: RuleSet,
    /// `-M SECS`: stop after this long.
    pub duration: Option<Duration>,
    /// `peregrine replay FILE`; otherwise `engine.kind=replay` decides.
    pub replay: Option<PathBuf>,
}

/// Writes each match to stdout in Falco's text or JSON shape, formatted by the outputs crate.
/// TODO(lead): the other falco.yaml outputs (file, syslog, program, http) go through
/// `peregrine_outputs::OutputsConfig::from_tree(..).build()?.enqueue(alert)` with the same
/// [`to_alert`]; the agent only needs the config tree to build that dispatcher.
struct Stdout<W: Write> {
    out: W,
    format: FormatOptions,
    hostname: String,
    alerts: u64,
}

impl<W: Write> Stdout<W> {
    fn new(out: W, config: &Config) -> Self {
        Stdout {
            out,
            format: FormatOptions {
                json_output: config.json_output,
                json_include_output_property: config.json_include_output_property,
                json_include_tags_property: config.json_include_tags_property,
                json_include_message_property: config.json_include_message_property,
                json_include_output_fields_property: config.json_include_output_fields_property,
                time_format_iso_8601: config.time_format_iso_8601,
            },
            hostname: peregrine_outputs::hostname(),
            alerts: 0,
        }
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

impl<W: Write> AlertSink for Stdout<W> {
    fn alert(&mut self, m: &Match<'_>) {
        self.alerts += 1;
        let line = self.format.format(&to_alert(m, &self.hostname));
        // A closed stdout must not stop detection; the count still reports the alert.
        let _ = writeln!(self.out, "{line}");
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
    if let Some(file) = replay {
        // Replay is a batch job: buffered output, flushed at the end.
        let mut sink = Stdout::new(
            std::io::BufWriter::new(std::io::stdout().lock()),
            args.config,
        );
        let (pipe, stats) = replay_file(engine, &file, &mut sink)
            .with_context(|| format!("replaying {}", file.display()))?;
        sink.out.flush()?;
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
    // Alerts must appear promptly on a terminal or pipe: flush after every drain.
    let mut sink = Stdout::new(LineFlush(std::io::stdout()), args.config);
    live.run(&mut pipe, &mut sink, &stop, deadline)?;
    let c = live.counters()?;
    print_stats(
        &pipe,
        &format!(", kernel: {} events, {} drops", c.events, c.drops()),
    );
    Ok(0)
}

/// stdout flushed at every line (alerts are rare; latency matters more than syscalls).
struct LineFlush(std::io::Stdout);

impl Write for LineFlush {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut lock = self.0.lock();
        let n = lock.write(buf)?;
        lock.flush()?;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().flush()
    }
}
