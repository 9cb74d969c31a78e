//! The agent: live detection (kernel capture → state → rules → alerts) or replay of a capture
//! file through the very same pipeline.
//!
//! Key decision: this module only wires library pieces — `peregrine-engine` owns the pipeline,
//! the live source and the replay converter; the outputs crate owns alert formatting. Signals
//! set a flag that the capture loop checks between drains (every ≤2 ms), so SIGINT/SIGTERM
//! end the run cleanly: what the kernel already wrote is processed and the statistics are
//! printed, as Falco does on exit. Alerts go to a `peregrine_outputs::Dispatcher` built from
//! the falco.yaml tree (the outputs crate owns those keys); it never blocks the pipeline, is
//! reopened on SIGUSR1 and drained with a deadline at exit. Live runs follow an
//! `EngineHandle`, so SIGHUP or a watched file change swaps the rules under the running
//! pipeline; the capture loop runs in one-second slices between which the `/metrics`
//! snapshot of Falco's web server is refreshed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use peregrine_engine::interest::BaseSyscalls;
use peregrine_engine::live::LiveSource;
use peregrine_engine::replay::replay_file;
use peregrine_engine::{AlertSink, Engine, EngineHandle, Match, Pipeline, Settings};
use peregrine_outputs::ratelimit::TokenBucket;
use peregrine_outputs::{Alert, Dispatcher, OutputValue, Priority};
use peregrine_rules::{Matching, RuleSet};
use peregrine_state::StateConfig;
use signal_hook::consts::{SIGHUP, SIGUSR1};
use signal_hook::iterator::Signals;

use crate::config::{Config, DropAction, EngineKind, EventDrops, RuleMatching};
use crate::metrics::{rule_matches, BuildInfo, MetricsSnapshot};
use crate::web::{Collect, Versions, WebServer};

/// Kernel ring buffer size for the live capture.
const RING_BYTES: u32 = 8 << 20;

/// How often the `/metrics` snapshot is refreshed while capturing.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);

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
    /// Builds the rules afresh for SIGHUP and watched-file reloads; `Err` carries Falco's
    /// load report, and the running rules stay.
    pub reload: Option<Reloader>,
    /// Files whose change triggers a reload when `watch_config_files` is on.
    pub watched: Vec<PathBuf>,
}

/// See [`AgentArgs::reload`].
pub type Reloader = Box<dyn Fn() -> std::result::Result<RuleSet, String> + Send>;

/// How often the reload thread looks at signals, watched files and the stop flag.
const RELOAD_POLL: Duration = Duration::from_millis(200);

/// Size and modification time: what "the file changed" means for the watcher.
fn fingerprint(files: &[PathBuf]) -> Vec<Option<(u64, std::time::SystemTime)>> {
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            Some((m.len(), m.modified().ok()?))
        })
        .collect()
}

/// Runs until `stop`: on SIGHUP or a watched-file change, builds the new rules and publishes
/// them through `handle`; the pipeline switches before its next event, so nothing is lost.
/// A rules set that fails to load is reported and the running one stays.
fn reload_thread(
    handle: Arc<EngineHandle>,
    reload: Reloader,
    config: Config,
    watched: Vec<PathBuf>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    let mut signals = Signals::new([SIGHUP]).context("installing the SIGHUP handler")?;
    let watch = config.watch_config_files;
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            let mut seen = fingerprint(&watched);
            let mut changed = false;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(RELOAD_POLL);
                let hup = signals.pending().count() > 0;
                if watch {
                    let now = fingerprint(&watched);
                    if now != seen {
                        // Reload once the file has been stable for a poll, so that a
                        // half-written file (truncate, then write) is not loaded.
                        seen = now;
                        changed = true;
                        if !hup {
                            continue;
                        }
                    }
                }
                if !hup && !changed {
                    continue;
                }
                changed = false;
                let why = if hup {
                    "SIGHUP"
                } else {
                    "a watched file changed"
                };
                match reload()
                    .and_then(|rules| engine_for(&config, rules).map_err(|e| e.to_string()))
                {
                    Ok(engine) => {
                        let active = engine.rules().active_count();
                        handle.swap(engine);
                        log::info!("{why}: rules reloaded, {active} rules active");
                    }
                    Err(report) => log::error!(
                        "{why}: the new rules do not load, keeping the running ones:\n{report}"
                    ),
                }
            }
        })
        .context("starting the reload thread")
}

/// Hands each match to the outputs dispatcher; never blocks (full queues drop and count).
struct Dispatch<'a> {
    outputs: &'a Dispatcher,
    hostname: String,
    /// `static_fields`, added to every alert after the rule's extra fields.
    static_fields: Vec<(String, OutputValue)>,
    /// Set by SIGUSR1. Outputs reopen "before their next write" anyway, so passing the request
    /// on when the next alert arrives is equivalent and keeps the dispatcher on one thread.
    reopen: Arc<AtomicBool>,
}

impl<'a> Dispatch<'a> {
    fn new(outputs: &'a Dispatcher, config: &Config) -> Result<Self> {
        let reopen = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(SIGUSR1, reopen.clone())
            .context("installing the SIGUSR1 handler")?;
        Ok(Dispatch {
            outputs,
            hostname: peregrine_outputs::hostname(),
            static_fields: config
                .static_fields
                .iter()
                .map(|(k, v)| (k.clone(), OutputValue::Str(v.clone())))
                .collect(),
            reopen,
        })
    }
}

/// The outputs crate's alert for one engine match.
fn to_alert(m: &Match<'_>, hostname: &str, static_fields: &[(String, OutputValue)]) -> Alert {
    Alert {
        time_ns: m.time_ns,
        rule: m.rule.name.clone(),
        priority: m.rule.priority,
        source: m.rule.source.clone(),
        hostname: hostname.to_string(),
        tags: m.rule.tags.iter().cloned().collect(),
        output: m.output.to_string(),
        output_fields: m.output_fields.to_vec(),
        extra_fields: m
            .extra_fields
            .iter()
            .chain(static_fields)
            .cloned()
            .collect(),
    }
}

impl AlertSink for Dispatch<'_> {
    fn alert(&mut self, m: &Match<'_>) {
        if self.reopen.swap(false, Ordering::Relaxed) {
            log::info!("SIGUSR1: reopening outputs");
            self.outputs.reopen();
        }
        self.outputs
            .enqueue(to_alert(m, &self.hostname, &self.static_fields));
    }
}

/// The shared snapshot `/metrics` serves, when metrics are enabled.
type SharedMetrics = Arc<Mutex<MetricsSnapshot>>;

/// Starts Falco's web server when the configuration has an enabled `webserver` block.
fn start_web(config: &Config) -> Result<Option<(WebServer, Option<SharedMetrics>)>> {
    let Some(web) = config.webserver.as_ref().filter(|w| w.enabled) else {
        return Ok(None);
    };
    let metrics = (config.metrics_enabled && web.prometheus_metrics_enabled)
        .then(|| Arc::new(Mutex::new(MetricsSnapshot::default())));
    let versions = Versions::peregrine(&peregrine_rules::version::ENGINE_VERSION);
    let collect = metrics.clone().map(|m| m as Arc<dyn Collect>);
    let server = WebServer::start(web, &versions, collect)?;
    Ok(Some((server, metrics)))
}

/// Copies every counter of the running agent into one metrics snapshot.
fn snapshot(
    config: &Config,
    pipe: &Pipeline,
    live: &LiveSource,
    outputs: &Dispatcher,
) -> MetricsSnapshot {
    let stats = pipe.stats();
    let mut snap = MetricsSnapshot {
        build: Some(BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            engine_version: peregrine_rules::version::ENGINE_VERSION.to_string(),
            falco_compat_version: crate::FALCO_COMPAT_VERSION.to_string(),
        }),
        hostname: Some(peregrine_outputs::hostname()),
        capture: live.counters().ok(),
        state: Some(pipe.state().counters()),
        engine: Some(stats.clone()),
        rules: rule_matches(
            pipe.engine().rules(),
            &stats.rule_matches,
            config.metrics_include_empty_values,
        ),
        outputs: Some(outputs.snapshot()),
        process: None,
        host: None,
    };
    snap.refresh_system();
    snap
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

/// The engine for `rules` under `config`; fails when an `append_output` entry does not compile.
fn engine_for(
    config: &Config,
    rules: RuleSet,
) -> std::result::Result<Engine, peregrine_engine::extra::ExtraOutputError> {
    Engine::with_append_output(
        rules,
        Settings {
            matching: match config.rule_matching {
                RuleMatching::First => Matching::First,
                RuleMatching::All => Matching::All,
            },
            ..Settings::default()
        },
        &config.append_output,
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
    let engine = engine_for(args.config, args.rules)?;
    let outputs = args
        .config
        .outputs
        .build()
        .context("starting the outputs")?;
    if let Some(file) = replay {
        let mut sink = Dispatch::new(&outputs, args.config)?;
        let result = replay_file(Arc::new(engine), &file, &mut sink);
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
    // Live runs follow a handle so reloads can publish new rules under the running pipeline.
    let handle = EngineHandle::new(engine);
    let reloader = match args.reload {
        Some(r) => Some(reload_thread(
            handle.clone(),
            r,
            args.config.clone(),
            args.watched,
            stop.clone(),
        )?),
        None => None,
    };
    let engine = handle.load();
    let mut pipe = Pipeline::with_handle(handle, StateConfig::default());
    let seeded = pipe.state_mut().seed_from_proc().context("reading /proc")?;
    log::info!("state seeded with {seeded} processes from /proc");
    // Up before the capture, so health checks answer as soon as the agent is attached.
    let web = start_web(args.config)?;
    let mut live =
        LiveSource::open(&engine, base, RING_BYTES).context("attaching to the kernel")?;
    log::info!(
        "capturing {} event types; {} rules active",
        live.selected().len(),
        engine.rules().active_count()
    );
    let deadline = args.duration.map(|d| Instant::now() + d);
    let mut sink = Dispatch::new(&outputs, args.config)?;
    let mut drops = DropWatch::new(&args.config.syscall_event_drops);
    let mut exit_code = 0;
    // Rule-triggered capture (`capture.enabled`) sees every event after the pipeline.
    let mut recorder = crate::capture::Recorder::new(&args.config.capture);
    // The capture loop runs in slices so that the metrics snapshot is refreshed between them;
    // each slice drains what the kernel wrote, so slicing loses nothing.
    let result = loop {
        let slice_end = Instant::now() + METRICS_INTERVAL;
        let until = deadline.map_or(slice_end, |d| d.min(slice_end));
        let slice = match recorder.as_mut() {
            Some(rec) => live.run_with(&mut pipe, &stop, Some(until), |pipe, ev| {
                rec.process(pipe, ev, &mut sink)
            }),
            None => live.run(&mut pipe, &mut sink, &stop, Some(until)),
        };
        if let Err(e) = slice {
            break Err(e);
        }
        if let Ok(c) = live.counters() {
            if drops.check(&c, &outputs) {
                log::error!("syscall event drops: exiting, as syscall_event_drops.actions asks");
                exit_code = 1;
                break Ok(());
            }
        }
        if let Some((_, Some(metrics))) = &web {
            let snap = snapshot(args.config, &pipe, &live, &outputs);
            *metrics.lock().unwrap_or_else(|p| p.into_inner()) = snap;
        }
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            break Ok(());
        }
    };
    if let Some(rec) = recorder.as_mut() {
        rec.finish();
    }
    drop(sink);
    if drops.taken > 0 {
        eprintln!("Syscall event drop actions taken: {}", drops.taken);
    }
    if let Some((server, _)) = web {
        server.shutdown();
    }
    shutdown_outputs(outputs);
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = reloader {
        let _ = t.join();
    }
    result?;
    let c = live.counters()?;
    print_stats(
        &pipe,
        &format!(", kernel: {} events, {} drops", c.events, c.drops()),
    );
    Ok(exit_code)
}

/// Falco's `syscall_event_drops`: once per slice, compares the kernel's drop counter with the
/// events of the slice and, above the threshold and within the rate limit, runs the actions.
struct DropWatch {
    config: EventDrops,
    last: Option<(u64, u64)>,
    bucket: TokenBucket,
    started: Instant,
    /// Times the actions ran (Falco's "num times actions taken").
    taken: u64,
}

impl DropWatch {
    fn new(config: &EventDrops) -> Self {
        DropWatch {
            config: config.clone(),
            last: None,
            bucket: TokenBucket::new(config.rate, config.max_burst, 0),
            started: Instant::now(),
            taken: 0,
        }
    }

    /// Returns true when an `exit` action asks the agent to stop.
    fn check(&mut self, c: &peregrine_capture::Counters, outputs: &Dispatcher) -> bool {
        let now = (c.events, c.drops());
        let Some(prev) = self.last.replace(now) else {
            return false;
        };
        let events = now.0.saturating_sub(prev.0);
        let dropped = now.1.saturating_sub(prev.1);
        if dropped == 0 {
            return false;
        }
        let ratio = dropped as f64 / (events + dropped) as f64;
        let now_ns = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if ratio <= self.config.threshold || !self.bucket.claim(now_ns) {
            return false;
        }
        self.taken += 1;
        let message = format!(
            "Falco internal: syscall event drop. {dropped} system calls dropped in last second."
        );
        let mut exit = false;
        for action in &self.config.actions {
            match action {
                DropAction::Ignore => {}
                DropAction::Log => log::error!("{message}"),
                DropAction::Alert => {
                    let time_ns = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
                    let mut alert = Alert::new(
                        time_ns,
                        "Falco internal: syscall event drop",
                        Priority::Debug,
                        &message,
                    );
                    alert.output_fields = vec![
                        ("n_drops".into(), OutputValue::UInt(dropped)),
                        ("n_evts".into(), OutputValue::UInt(events)),
                        ("n_drops_pct".into(), OutputValue::Double(ratio * 100.0)),
                        (
                            "n_drops_buffer_total".into(),
                            OutputValue::UInt(c.drops_ring_full),
                        ),
                    ];
                    outputs.enqueue(alert);
                }
                DropAction::Exit => exit = true,
            }
        }
        exit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_outputs::{FormatOptions, RateLimit};

    fn counters(events: u64, drops: u64) -> peregrine_capture::Counters {
        peregrine_capture::Counters {
            events,
            drops_ring_full: drops,
            ..Default::default()
        }
    }

    #[test]
    fn drop_actions_follow_threshold_and_rate() {
        let outputs = Dispatcher::new(FormatOptions::default(), Vec::new(), RateLimit::default())
            .expect("dispatcher");
        let mut watch = DropWatch::new(&EventDrops {
            threshold: 0.1,
            actions: vec![DropAction::Alert, DropAction::Exit],
            rate: 0.000_001,
            max_burst: 1,
            simulate_drops: false,
        });
        let alerts = |o: &Dispatcher| {
            o.snapshot()
                .alerts_by_rule
                .get("Falco internal: syscall event drop")
                .copied()
        };
        // (events, drops cumulative, exit requested, drop alerts so far)
        for (events, drops, exit, n) in [
            (100, 0, false, None),      // first sample: a baseline only
            (200, 5, false, None),      // 5 of 105 is under 10 %
            (300, 100, true, Some(1)),  // 95 of 195: actions run
            (400, 300, false, Some(1)), // over again, but the burst is spent
        ] {
            assert_eq!(
                watch.check(&counters(events, drops), &outputs),
                exit,
                "{events}/{drops}"
            );
            assert_eq!(alerts(&outputs), n, "{events}/{drops}");
        }
        assert_eq!(watch.taken, 1);
    }
}
