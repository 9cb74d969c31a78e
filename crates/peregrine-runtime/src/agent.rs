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
//! snapshot of Falco's web server is refreshed and deduplication's due summaries are sent.
//! Every match passes through `peregrine-triage` (silences, then deduplication) before the
//! dispatcher; the silences API shares the triage's silence store with the web server.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peregrine_config::{Config, EngineKind};
use peregrine_engine::live::{LiveOptions, LiveSource};
use peregrine_engine::replay::replay_file_through;
use peregrine_engine::{
    AlertSink, Engine, EngineHandle, Match, Pipeline, Settings, SourcePipeline,
};
use peregrine_outputs::{Alert, Dispatcher, OutputValue};
use peregrine_response::{Policies, PolicyHandle, Responder};
use peregrine_rules::RuleSet;
use peregrine_state::StateConfig;
use peregrine_triage::{Silences, Triage};
use peregrine_web::metrics::{
    rule_matches, BuildInfo, FileDigest, MetricsOptions, MetricsSnapshot, RunInfo, SnapshotAlerts,
};
use peregrine_web::{Collect, Versions, WebServer};
use signal_hook::consts::{SIGHUP, SIGUSR1};
use signal_hook::iterator::Signals;

use crate::drops::{Actions, DropMonitor, DropStats};
use crate::error::{Context, Result, RuntimeError};
use crate::live::{self, Seed};

/// How often the `/metrics` snapshot is refreshed while capturing.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// The shortest `metrics.interval` honoured for the snapshot alert (Falco's own floor).
const MIN_METRICS_INTERVAL: Duration = Duration::from_millis(100);

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
    /// The rules as loaded (files or embedded text), for the `sha256_rules_files` metrics.
    pub rules_inputs: Vec<peregrine_rules::RulesInput>,
    /// The configuration files read (main file, then drop-ins), for the `sha256_config_files`
    /// metrics.
    pub config_files: Vec<PathBuf>,
    /// The response policies of `response_files` (loaded with the rules, reloaded with them).
    pub policies: Policies,
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
    policies: Option<(PolicyHandle, Option<Arc<crate::kkill::KernelKiller>>)>,
    reload: Reloader,
    config: Config,
    watched: Vec<PathBuf>,
    stop: Arc<AtomicBool>,
    reloaded_ns: Arc<AtomicU64>,
) -> Result<std::thread::JoinHandle<()>> {
    let mut signals = Signals::new([SIGHUP]).context("installing the SIGHUP handler")?;
    let watch = config.watch_config_files;
    // Taken before the thread starts (and so before the agent says it is capturing): a change
    // made right after start-up is a change, not the baseline a late thread would record.
    let mut seen = fingerprint(&watched);
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            let mut changed = false;
            // Which watched files changed since the last reload, for its log line.
            let mut changed_files: Vec<&PathBuf> = Vec::new();
            let files = watched
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let files = peregrine_filter::escape::terminal_safe(&files);
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(RELOAD_POLL);
                let hup = signals.pending().count() > 0;
                if watch {
                    let now = fingerprint(&watched);
                    if now != seen {
                        // Reload once the file has been stable for a poll, so that a
                        // half-written file (truncate, then write) is not loaded.
                        for (i, f) in watched.iter().enumerate() {
                            if now.get(i) != seen.get(i) && !changed_files.contains(&f) {
                                changed_files.push(f);
                            }
                        }
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
                    "SIGHUP".to_string()
                } else {
                    let names: Vec<String> = changed_files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect();
                    peregrine_filter::escape::terminal_safe(&format!(
                        "{} changed",
                        names.join(", ")
                    ))
                };
                changed_files.clear();
                                // Rules and response policies are published together or not at all.
                let loaded = reload()
                    .and_then(|rules| engine_for(&config, rules).map_err(|e| e.to_string()))
                    .and_then(|engine| {
                        Policies::load(&config.response_files)
                            .map(|p| (engine, p))
                            .map_err(|e| format!("response policies:\n{e}"))
                    });
                match loaded {
                    Ok((engine, new_policies)) => {
                        let active = engine.rules().active_count();
                        let n = new_policies.policies.len();
                        // Kernel kill filters stand for rules: the new ones are written
                        // aside and swapped in around the publication (crate::kkill).
                        let next = match &policies {
                            Some((_, Some(_))) => Some(crate::kkill::plan_next(
                                &new_policies,
                                engine.rules(),
                                &config.response,
                            )),
                            _ => None,
                        };
                        let publish = || {
                            handle.swap(engine);
                            if let Some((p, _)) = &policies {
                                *p.lock().unwrap_or_else(|e| e.into_inner()) =
                                    Arc::new(new_policies);
                            }
                        };
                        match (&policies, next) {
                            (Some((_, Some(k))), Some(next)) => k.reload(next, publish),
                            _ => publish(),
                        }
                        reloaded_ns.store(epoch_ns(), Ordering::Relaxed);
                        // Response policies are named only when the run has them.
                        let responses = policies
                            .as_ref()
                            .map_or(String::new(), |_| format!(", {n} response policies"));
                        log::info!(
                            "{why}: rules reloaded, {active} rules active{responses} (files: {files})"
                        );
                    }
                    Err(report) => log::error!(
                        "{why}: the new rules do not load, keeping the running ones:\n{report}"
                    ),
                }
            }
        })
        .context("starting the reload thread")
}

/// Hands each match to triage, and what triage lets through to the outputs dispatcher;
/// never blocks (full queues drop and count).
struct Dispatch<'a> {
    outputs: &'a Dispatcher,
    triage: Triage,
    /// Triage's output for one call, reused.
    pass: Vec<Alert>,
    hostname: String,
    /// `static_fields`, added to every alert after the rule's extra fields.
    static_fields: Vec<(String, OutputValue)>,
    /// Set by SIGUSR1. Outputs reopen "before their next write" anyway, so passing the request
    /// on when the next alert arrives is equivalent and keeps the dispatcher on one thread.
    reopen: Arc<AtomicBool>,
    /// Response policies (live runs only): each alert is offered to them.
    responder: Option<&'a Responder>,
    /// The alert store's feed (`alert_store.enabled`): what passes triage, with context.
    store: Option<crate::store::StoreFeed>,
    /// The match being handled (its rule, event time and process), for the store's
    /// context: only the alert of that match gets it, not a summary triage sends meanwhile.
    subject: Option<(String, u64, peregrine_state::thread::Subject)>,
    /// Live capture: each alert's delay from the event's kernel time is measured (a replayed
    /// capture's events are as old as the file, so they are not).
    measure_detect: bool,
}

impl<'a> Dispatch<'a> {
    fn new(outputs: &'a Dispatcher, config: &Config, triage: Triage) -> Result<Self> {
        let reopen = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(SIGUSR1, reopen.clone())
            .context("installing the SIGUSR1 handler")?;
        Ok(Dispatch {
            outputs,
            triage,
            pass: Vec::new(),
            hostname: peregrine_outputs::hostname(),
            static_fields: config
                .static_fields
                .iter()
                .map(|(k, v)| (k.clone(), OutputValue::Str(v.clone())))
                .collect(),
            reopen,
            responder: None,
            store: None,
            subject: None,
            measure_detect: false,
        })
    }
}

impl Dispatch<'_> {
    fn send_passed(&mut self) {
        for alert in self.pass.drain(..) {
            if let Some(store) = self.store.as_mut() {
                let subject = self
                    .subject
                    .as_ref()
                    .filter(|(rule, t, _)| *rule == alert.rule && *t == alert.time_ns)
                    .map(|(_, _, s)| s);
                store.alert(&alert, subject);
            }
            self.outputs.enqueue(alert);
        }
    }

    /// Sends the deduplication summaries that are due.
    fn tick(&mut self) {
        self.triage.tick(epoch_ns(), &mut self.pass);
        self.send_passed();
    }

    /// At exit: sends every summary still owed and reports what triage did; hands back the
    /// store's feed for the response records still to come ([`finish_store`]).
    fn finish(
        mut self,
    ) -> (
        peregrine_triage::TriageSnapshot,
        Option<crate::store::StoreFeed>,
    ) {
        self.triage.flush(&mut self.pass);
        self.send_passed();
        (self.triage.snapshot(epoch_ns()), self.store.take())
    }
}

/// Stores what is queued, stops the store's writer and says what it did.
fn finish_store(store: Option<crate::store::StoreFeed>) {
    if let Some(store) = store {
        let s = store.finish();
        eprintln!(
            "Alert store: {} stored, {} dropped (queue full), {} failed",
            s.inserted, s.dropped, s.failed
        );
    }
}

impl Dispatch<'_> {}

/// The outputs crate's alert for one engine match.
pub(crate) fn to_alert(
    m: &Match<'_>,
    hostname: &str,
    static_fields: &[(String, OutputValue)],
) -> Alert {
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

impl Dispatch<'_> {
    /// An alert, made here or elsewhere (another source's thread): triage, then the outputs.
    fn offer(&mut self, alert: Alert, now: u64) {
        if self.reopen.swap(false, Ordering::Relaxed) {
            log::info!("SIGUSR1: reopening outputs");
            self.outputs.reopen();
        }
        self.triage.offer(alert, now, &mut self.pass);
        self.send_passed();
    }
}

impl AlertSink for Dispatch<'_> {
    fn alert(&mut self, m: &Match<'_>) {
        let now = epoch_ns();
        if self.measure_detect {
            self.outputs.observe_detect(m.time_ns, now);
        }
        let alert = to_alert(m, &self.hostname, &self.static_fields);
        if let Some(r) = self.responder {
            r.on_alert(&alert, m.subject.cloned());
            forward_records(r, self.outputs, &self.static_fields, self.store.as_mut());
        }
        if self.store.is_some() {
            self.subject = m
                .subject
                .map(|s| (m.rule.name.clone(), m.time_ns, s.clone()));
        }
        self.offer(alert, now);
        self.subject = None;
    }

    fn matched_event(&mut self, state: &peregrine_state::State) {
        if let Some(store) = self.store.as_mut() {
            store.context(state);
        }
    }
}

/// Turns another source's matches into alerts for the capture loop, which offers them to
/// triage and the outputs between its slices (one dispatcher, one triage, as for syscalls).
struct ToChannel {
    tx: std::sync::mpsc::SyncSender<Alert>,
    hostname: String,
    static_fields: Vec<(String, OutputValue)>,
}

impl AlertSink for ToChannel {
    fn alert(&mut self, m: &Match<'_>) {
        // The capture loop gone (exit) is the only failure: nothing left to deliver to.
        let _ = self
            .tx
            .send(to_alert(m, &self.hostname, &self.static_fields));
    }
}

/// Alerts of the audit thread waiting for the capture loop.
const AUDIT_QUEUE: usize = 4096;
/// The capture loop's slice while the audit source runs: the most an audit alert waits.
const AUDIT_SLICE: Duration = Duration::from_millis(100);

/// What the audit thread returns: its pipeline (for the summary) and its figures.
type AuditOutcome = Result<(SourcePipeline, crate::audit::AuditStats)>;

/// Starts the `k8s_audit` source's thread beside the capture when it is enabled.
fn spawn_audit(
    config: &Config,
    handle: Arc<EngineHandle>,
    mut sink: ToChannel,
    stop: Arc<AtomicBool>,
    deadline: Option<Instant>,
    webhook: Arc<crate::audit::WebhookCounters>,
) -> Result<Option<std::thread::JoinHandle<AuditOutcome>>> {
    let Some(cfg) = config.k8saudit.clone().filter(|_| config.sources.k8s_audit) else {
        return Ok(None);
    };
    let thread = std::thread::Builder::new()
        .name("peregrine-k8saudit".into())
        .spawn(move || {
            let mut pipe = SourcePipeline::with_handle(handle, peregrine_k8saudit::SOURCE);
            let stats = crate::audit::run(&cfg, &mut pipe, &mut sink, &stop, deadline, webhook)?;
            Ok((pipe, stats))
        })
        .context("starting the k8s_audit source thread")?;
    Ok(Some(thread))
}

/// A plugin source's thread, by source name.
type PluginThread = (
    String,
    std::thread::JoinHandle<Result<crate::plugins::PluginStats>>,
);

/// Starts a thread per enabled plugin source beside the capture, each with its own event loop
/// and rules (as Falco runs one loop per source); their alerts join the audit source's queue.
fn spawn_plugin_sources(
    config: &Config,
    handle: &Arc<EngineHandle>,
    sink: &ToChannel,
    stop: &Arc<AtomicBool>,
    deadline: Option<Instant>,
) -> Result<Vec<PluginThread>> {
    let mut out = Vec::new();
    for source in &config.plugin_sources {
        let Some(plugin) = crate::plugins::host()
            .sources()
            .find(|p| p.event_source.as_deref() == Some(source.as_str()))
            .cloned()
        else {
            continue;
        };
        let (handle, stop, source_name) = (handle.clone(), stop.clone(), source.clone());
        let mut sink = ToChannel {
            tx: sink.tx.clone(),
            hostname: sink.hostname.clone(),
            static_fields: sink.static_fields.clone(),
        };
        let t = std::thread::Builder::new()
            .name(format!("peregrine-plugin-{}", out.len()))
            .spawn(move || {
                let mut pipe = SourcePipeline::with_handle(handle, &source_name);
                crate::plugins::run_source(&plugin, &mut pipe, &mut sink, &stop, deadline)
            })
            .context("starting a plugin source thread")?;
        out.push((source.clone(), t));
    }
    Ok(out)
}

/// What the audit-only loop needs of [`AgentArgs`] beyond the configuration.
struct AuditOnly<'a> {
    duration: Option<Duration>,
    reload: Option<Reloader>,
    watched: Vec<PathBuf>,
    rules_inputs: &'a [peregrine_rules::RulesInput],
    config_files: &'a [PathBuf],
}

/// The `k8s_audit` source alone (`--enable-source k8s_audit`, or `syscall` disabled): its
/// event loop on a thread until its input ends, a signal or `-M`, while this thread hands its
/// alerts to triage, the outputs and the alert store and keeps `/metrics` fresh, with the web
/// server and the reloads of the capture mode.
fn run_audit_only(
    config: &Config,
    args: AuditOnly<'_>,
    engine: Engine,
    outputs: Dispatcher,
    triage: Triage,
) -> Result<i32> {
    if config.k8saudit.is_none() {
        return Err(RuntimeError::Invalid(
            "no event source enabled: k8s_audit needs the k8saudit plugin".into(),
        ));
    }
    // Checked before anything starts (`spawn_audit` starts nothing then).
    if !config.sources.k8s_audit {
        return Err(RuntimeError::Invalid(
            "no event source enabled: k8s_audit is disabled".into(),
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let handle = EngineHandle::new(engine);
    let webhook = Arc::new(crate::audit::WebhookCounters::default());
    let (web, store) =
        start_web_and_store(config, &handle, &triage.silences, None, None, &webhook)?;
    let reloaded_ns = Arc::new(AtomicU64::new(epoch_ns()));
    let reloader = match args.reload {
        Some(r) => Some(reload_thread(
            handle.clone(),
            None,
            r,
            config.clone(),
            args.watched,
            stop.clone(),
            reloaded_ns.clone(),
        )?),
        None => None,
    };
    let deadline = args.duration.map(|d| Instant::now() + d);
    let mut sink = Dispatch::new(&outputs, config, triage)?;
    sink.store = store;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Alert>(AUDIT_QUEUE);
    let to_channel = ToChannel {
        tx,
        hostname: sink.hostname.clone(),
        static_fields: sink.static_fields.clone(),
    };
    let Some(audit) = spawn_audit(config, handle, to_channel, stop.clone(), deadline, webhook)?
    else {
        return Err(RuntimeError::Invalid(
            "the k8s_audit source did not start".into(),
        ));
    };
    if let Some((server, _)) = &web {
        server.set_ready();
    }
    let web_metrics = web.as_ref().and_then(|(_, m)| m.clone());
    let audit_run = |reload_ns| RunInfo {
        evt_source: peregrine_k8saudit::SOURCE.to_string(),
        ..run_info(args.rules_inputs, args.config_files, reload_ns)
    };
    let mut run = audit_run(reloaded_ns.load(Ordering::Relaxed));
    let mut next_snapshot = Instant::now();
    // Until the source's thread ends (input over, signal, `-M`): once it has, the queue
    // holds all it sent.
    while !audit.is_finished() {
        if let Ok(alert) = rx.recv_timeout(AUDIT_SLICE) {
            sink.offer(alert, epoch_ns());
        }
        while let Ok(alert) = rx.try_recv() {
            sink.offer(alert, epoch_ns());
        }
        sink.tick();
        if let Some(metrics) = web_metrics
            .as_ref()
            .filter(|_| Instant::now() >= next_snapshot)
        {
            let reload_ns = reloaded_ns.load(Ordering::Relaxed);
            if reload_ns != run.reload_ns {
                run = audit_run(reload_ns);
            }
            let snap = audit_snapshot(config, &outputs, &sink.triage, &run);
            *metrics.lock().unwrap_or_else(|p| p.into_inner()) = snap;
            next_snapshot = Instant::now() + METRICS_INTERVAL;
        }
    }
    while let Ok(alert) = rx.try_recv() {
        sink.offer(alert, epoch_ns());
    }
    let result = audit.join().unwrap_or_else(|_| {
        Err(RuntimeError::Invalid(
            "the k8s_audit source panicked".into(),
        ))
    });
    let (triaged, store) = sink.finish();
    finish_store(store);
    if let Some((server, _)) = web {
        server.shutdown();
    }
    shutdown_outputs(outputs);
    print_triage(&triaged);
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = reloader {
        let _ = t.join();
    }
    let (pipe, stats) = result?;
    print_source_stats(&pipe, &stats);
    Ok(0)
}

/// The `/metrics` snapshot of the audit-only loop: what it has of the capture mode's (no
/// capture, state or syscall engine counters; its alerts per rule are the outputs').
fn audit_snapshot(
    config: &Config,
    outputs: &Dispatcher,
    triage: &Triage,
    run: &RunInfo,
) -> MetricsSnapshot {
    let mut snap = MetricsSnapshot {
        build: Some(build_info()),
        hostname: Some(peregrine_outputs::hostname()),
        outputs: Some(outputs.snapshot()),
        run: Some(RunInfo {
            now_ns: epoch_ns(),
            ..run.clone()
        }),
        options: metrics_options(config),
        triage: Some(triage.snapshot(epoch_ns())),
        host_root: Some(config.host_root.clone()),
        ..MetricsSnapshot::default()
    };
    snap.refresh_system();
    snap
}

/// A loaded plugin's source alone (`--enable-source NAME`, or `syscall` disabled): its event
/// loop on this thread until the source ends, a signal or `-M`.
fn run_plugin_only(
    config: &Config,
    source: &str,
    duration: Option<Duration>,
    engine: Engine,
    outputs: Dispatcher,
    triage: Triage,
) -> Result<i32> {
    let host = crate::plugins::host();
    let Some(plugin) = host
        .sources()
        .find(|p| p.event_source.as_deref() == Some(source))
    else {
        return Err(RuntimeError::Invalid(format!(
            "no loaded plugin provides the event source {source}"
        )));
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let mut pipe = SourcePipeline::new(Arc::new(engine), source);
    let mut sink = Dispatch::new(&outputs, config, triage)?;
    let deadline = duration.map(|d| Instant::now() + d);
    let result = crate::plugins::run_source(plugin, &mut pipe, &mut sink, &stop, deadline);
    let (triaged, _store) = sink.finish();
    shutdown_outputs(outputs);
    print_triage(&triaged);
    let stats = result?;
    eprintln!("Events detected: {}", pipe.counts.values().sum::<u64>());
    eprintln!(
        "Events processed: {} ({} source {}, {} plugin errors)",
        pipe.events,
        peregrine_filter::escape::terminal_safe(&plugin.name),
        peregrine_filter::escape::terminal_safe(source),
        stats.errors
    );
    for (rule, n) in &pipe.counts {
        eprintln!("   {}: {n}", peregrine_filter::escape::terminal_safe(rule));
    }
    Ok(0)
}

/// The end-of-run summary of a plugin source.
fn print_source_stats(pipe: &SourcePipeline, stats: &crate::audit::AuditStats) {
    eprintln!("Events detected: {}", pipe.counts.values().sum::<u64>());
    eprintln!(
        "Events processed: {} ({} source {}, {} rejected)",
        pipe.events,
        stats.events,
        pipe.source(),
        stats.rejected
    );
    if !pipe.counts.is_empty() {
        eprintln!("Triggered rules by rule name:");
        for (rule, n) in &pipe.counts {
            eprintln!("   {rule}: {n}");
        }
    }
}

/// Hands the records of finished response actions to the outputs (`source: response`) and
/// to the alert store.
fn forward_records(
    r: &Responder,
    outputs: &Dispatcher,
    static_fields: &[(String, OutputValue)],
    mut store: Option<&mut crate::store::StoreFeed>,
) {
    for mut rec in r.records() {
        rec.extra_fields.extend(static_fields.iter().cloned());
        if let Some(s) = store.as_deref_mut() {
            s.response(&rec);
        }
        outputs.enqueue(rec);
    }
}

/// The shared snapshot `/metrics` serves, when metrics are enabled.
type SharedMetrics = Arc<Mutex<MetricsSnapshot>>;

/// A started web server and its `/metrics` snapshot.
type Web = (WebServer, Option<SharedMetrics>);

/// Starts Falco's web server when the configuration has an enabled `webserver` block, with
/// the silences API over `silences` and, when response policies run, the isolated
/// containers' API over `isolation`, when `silences_api.enabled`.
fn start_web(
    config: &Config,
    silences: &Arc<Silences>,
    isolation: Option<Arc<peregrine_response::isolate::Registry>>,
    alerts: Option<peregrine_web::alerts_api::Api>,
    debug: Option<peregrine_web::debug_api::Api>,
    metrics_text: Option<peregrine_web::server::MetricsText>,
    live: Option<Arc<peregrine_web::console::Live>>,
) -> Result<Option<Web>> {
    let Some(web) = config.webserver.as_ref().filter(|w| w.enabled) else {
        if config.triage.api_enabled {
            log::warn!(
                "silences_api.enabled is set but the web server is not (webserver.enabled): \
                 no silences API"
            );
        }
        return Ok(None);
    };
    // The console's overview shows events/s, drops and time to detect from the same snapshot,
    // so it is kept with the console on even when `/metrics` is not served.
    let prometheus = config.metrics.enabled && web.prometheus_metrics_enabled;
    let metrics = (prometheus || config.console.enabled)
        .then(|| Arc::new(Mutex::new(MetricsSnapshot::default())));
    let versions = Versions::peregrine(&peregrine_rules::version::ENGINE_VERSION);
    let collect = metrics
        .clone()
        .filter(|_| prometheus)
        .map(|m| m as Arc<dyn Collect>);
    // Bound (and its certificate loaded) before the capture, so a bad address or certificate
    // stops the agent at once; `/healthz` says ok only once the capture is attached.
    let console = config.console.enabled.then(|| config.console.clone());
    if alerts.is_some() && console.is_none() {
        log::info!("alert store: the alerts API is served only with console.enabled");
    }
    let extras = peregrine_web::Extras {
        silences: config.triage.api_enabled.then(|| silences.clone()),
        isolation: isolation.filter(|_| config.triage.api_enabled),
        alerts: alerts.filter(|_| console.is_some()),
        debug: debug.filter(|_| console.is_some()),
        console,
        metrics_text,
        fleet: None,
        counters: metrics.clone().map(|m| m as Arc<dyn Collect>),
        live,
    };
    let server = WebServer::start_pending_with(web, &versions, collect, extras)?;
    Ok(Some((server, metrics)))
}

/// The alert store (with the console's live queue) and the web server over it, as the capture
/// and the audit-only loops start them; `/metrics` adds the store's, the debug view's and the
/// k8saudit webhook's counters to the snapshot's.
fn start_web_and_store(
    config: &Config,
    handle: &Arc<EngineHandle>,
    silences: &Arc<Silences>,
    isolation: Option<Arc<peregrine_response::isolate::Registry>>,
    debug: Option<&crate::debug::Debug>,
    webhook: &Arc<crate::audit::WebhookCounters>,
) -> Result<(Option<Web>, Option<crate::store::StoreFeed>)> {
    // The console's live queue, fed by the store's writer once each batch is stored.
    let live = config
        .console
        .enabled
        .then(|| Arc::new(peregrine_web::console::Live::new()));
    let store = crate::store::StoreFeed::open(
        &config.alert_store,
        peregrine_store::Hooks {
            stored: live.as_ref().map(|l| l.on_stored()),
            retained: live.as_ref().map(|l| l.on_retained()),
        },
    );
    let alerts_api = store.as_ref().map(|(_, s)| peregrine_web::alerts_api::Api {
        store: crate::store::api_store(s),
        rules: Arc::new(crate::store::rules_view(handle.clone())),
    });
    let store_metrics = store
        .as_ref()
        .map(|(f, s)| crate::store::metrics_text(f, s));
    let debug_metrics = debug.map(crate::debug::Debug::metrics_text);
    let webhook_on = config
        .k8saudit
        .as_ref()
        .filter(|_| config.sources.k8s_audit)
        .is_some_and(|c| {
            matches!(
                peregrine_k8saudit::OpenParams::parse(&c.open_params),
                Ok(peregrine_k8saudit::OpenParams::Webhook { .. })
            )
        });
    let webhook_metrics = webhook_on.then(|| {
        let w = webhook.clone();
        Arc::new(move || w.prometheus_text()) as peregrine_web::server::MetricsText
    });
    let extra_metrics = [store_metrics, debug_metrics, webhook_metrics]
        .into_iter()
        .flatten()
        .reduce(|a, b| Arc::new(move || a() + &b()));
    let web = start_web(
        config,
        silences,
        isolation,
        alerts_api,
        debug.map(|d| d.api(handle.clone())),
        extra_metrics,
        live,
    )?;
    Ok((web, store.map(|(f, _)| f)))
}

/// Now, ns since the epoch.
pub(crate) fn epoch_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The engine name Peregrine reports in `falcosecurity_scap_engine_name_info` and
/// `scap.engine_name`. Peregrine's probe is its own, but it is the same kind of driver as
/// libscap's `modern_bpf`: CO-RE eBPF programs on the raw syscall tracepoints writing to a BPF
/// ring buffer, no kernel module, selected with Falco's `engine.kind: modern_ebpf`. Falco's
/// dashboards and fleet alerts use this label to tell which driver a node runs (e.g. "nodes
/// still on kmod"); `modern_bpf` puts Peregrine nodes in the right group. What Peregrine is
/// shows in `falcosecurity_falco_version_info` and `peregrine_falco_compat_info`.
const ENGINE_NAME: &str = "modern_bpf";

/// The run's fixed facts for the metrics, with the digests of the loaded files.
fn run_info(
    args_rules: &[peregrine_rules::RulesInput],
    config_files: &[PathBuf],
    reload_ns: u64,
) -> RunInfo {
    let rules_files = args_rules
        .iter()
        .flat_map(|i| match i {
            peregrine_rules::RulesInput::File(p) => FileDigest::of_path(p),
            peregrine_rules::RulesInput::Text { name, content } => vec![FileDigest {
                file_name: std::path::Path::new(name)
                    .file_name()
                    .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned()),
                sha256: peregrine_web::metrics::sha256_hex(content.as_bytes()),
            }],
        })
        .collect();
    RunInfo {
        engine_name: ENGINE_NAME.to_string(),
        evt_source: "syscall".to_string(),
        kernel_release: std::fs::read_to_string(crate::host_file("/proc/sys/kernel/osrelease"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        rules_files,
        config_files: config_files
            .iter()
            .flat_map(|p| FileDigest::of_path(p))
            .collect(),
        reload_ns,
        now_ns: 0,
    }
}

/// Falco's `metrics.*_enabled` groups.
fn metrics_options(config: &Config) -> MetricsOptions {
    let m = &config.metrics;
    MetricsOptions {
        rules_counters: m.rules_counters_enabled,
        resource_utilization: m.resource_utilization_enabled,
        state_counters: m.state_counters_enabled,
        kernel_event_counters: m.kernel_event_counters_enabled,
    }
}

/// The `falcosecurity_falco_version_info` facts.
fn build_info() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        engine_version: peregrine_rules::version::ENGINE_VERSION.to_string(),
        falco_compat_version: crate::FALCO_COMPAT_VERSION.to_string(),
    }
}

/// Copies every counter of the running agent into one metrics snapshot.
fn snapshot(
    config: &Config,
    pipe: &Pipeline,
    live: &LiveSource,
    outputs: &Dispatcher,
    responder: Option<&Responder>,
    triage: &Triage,
    run: &RunInfo,
) -> MetricsSnapshot {
    let stats = pipe.stats();
    let mut snap = MetricsSnapshot {
        build: Some(build_info()),
        hostname: Some(peregrine_outputs::hostname()),
        capture: live.counters().ok(),
        state: Some(pipe.state().counters()),
        engine: Some(stats.clone()),
        rules: rule_matches(
            pipe.engine().rules(),
            &stats.rule_matches,
            config.metrics.include_empty_values,
        ),
        outputs: Some(outputs.snapshot()),
        process: None,
        host: None,
        run: Some(RunInfo {
            now_ns: epoch_ns(),
            ..run.clone()
        }),
        options: metrics_options(config),
        response: responder.map(Responder::snapshot),
        triage: Some(triage.snapshot(epoch_ns())),
        host_root: Some(config.host_root.clone()),
    };
    snap.refresh_system();
    snap
}

/// Triage's exit summary, on stderr.
fn print_triage(t: &peregrine_triage::TriageSnapshot) {
    for line in t.summary_lines() {
        eprintln!("{line}");
    }
}

/// Drains the outputs (bounded by [`DRAIN_DEADLINE`]) and reports what could not be delivered.
pub(crate) fn shutdown_outputs(outputs: Dispatcher) {
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
    // Spooled outputs: what reached the destination and what waits for the next run.
    for o in snap
        .outputs
        .iter()
        .filter(|o| o.spooled > 0 || o.spool_pending > 0)
    {
        eprintln!(
            "Output {}: {} delivered, {} failed, {} retried, {} spooled, {} spool drops, \
             {} waiting in the spool",
            o.name, o.delivered, o.errors, o.retried, o.spooled, o.spool_dropped, o.spool_pending
        );
    }
}

/// The engine for `rules` under `config`; fails when an `append_output` entry does not compile.
pub(crate) fn engine_for(
    config: &Config,
    rules: RuleSet,
) -> std::result::Result<Engine, peregrine_engine::extra::ExtraOutputError> {
    Engine::with_append_output(
        rules,
        Settings {
            matching: config.rule_matching,
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
        return Err(RuntimeError::Invalid(
            "engine.kind=replay needs engine.replay.capture_file".into(),
        ));
    }
    let engine = engine_for(args.config, args.rules)?;
    let outputs = args
        .config
        .outputs
        .build()
        .context("starting the outputs")?;
    let triage = Triage::from_config(&args.config.triage).context("loading the silences")?;
    if !args.config.sources.syscall {
        if !args.config.sources.k8s_audit {
            if let Some(source) = args.config.plugin_sources.first() {
                return run_plugin_only(
                    args.config,
                    source,
                    args.duration,
                    engine,
                    outputs,
                    triage,
                );
            }
        }
        let only = AuditOnly {
            duration: args.duration,
            reload: args.reload,
            watched: args.watched,
            rules_inputs: &args.rules_inputs,
            config_files: &args.config_files,
        };
        return run_audit_only(args.config, only, engine, outputs, triage);
    }
    if let Some(file) = replay {
        if !args.policies.is_empty() {
            // A capture's processes are not this machine's: acting on their pids could hit
            // whatever runs under those numbers now.
            log::warn!("replay: response policies are not applied to a capture file");
        }
        let mut sink = Dispatch::new(&outputs, args.config, triage)?;
        sink.store = crate::store::StoreFeed::open(
            &args.config.alert_store,
            peregrine_store::Hooks::default(),
        )
        .map(|(f, _)| f);
        let fleet = crate::fleet::FleetFeed::start(
            args.config,
            &run_info(&args.rules_inputs, &args.config_files, epoch_ns()),
        );
        let static_fields = sink.static_fields.clone();
        // A capture file has no loss counters: only `simulate_drops` makes drops here, as in
        // Falco, whose drop manager also runs on capture files.
        let mut monitor = DropMonitor::new(
            &args.config.syscall_event_drops,
            DropStats::default(),
            false,
        );
        let mut pipe = peregrine_engine::replay::replay_pipeline(Arc::new(engine));
        if let Some(ext) = crate::plugins::syscall_extension() {
            pipe.set_extension(ext);
        }
        let result = replay_file_through(pipe, &file, &mut sink, &mut |ts| {
            monitor
                .on_event(ts, DropStats::default)
                .is_none_or(|a| !perform(a, &outputs, &static_fields))
        });
        let (triaged, store) = sink.finish();
        finish_store(store);
        // Deliver what matched even if the capture ended in an error.
        shutdown_outputs(outputs);
        print_triage(&triaged);
        if let Some(f) = fleet {
            if let Ok((pipe, _)) = &result {
                let s = pipe.stats();
                f.update(s.events, 0, s.rule_matches.iter().sum());
            }
            f.stop();
        }
        let (pipe, stats) = result.with_context(|| format!("replaying {}", file.display()))?;
        eprint!("{}", monitor.summary());
        print_stats(
            &pipe,
            &format!(
                ", {} capture events read, {} not convertible",
                stats.convert.read,
                stats.convert.unknown + stats.convert.unsupported
            ),
        );
        if stats.stopped {
            log::error!("Drop manager internal error");
            return Ok(1);
        }
        return Ok(0);
    }

    // Live runs follow a handle so reloads can publish new rules under the running pipeline.
    let handle = EngineHandle::new(engine);
    // The responder runs only when policies are configured, so a run without them starts no
    // thread and pays nothing per alert.
    // `capture` actions need the recorder's window of recent events.
    let capture_window = if args.config.response_files.is_empty() {
        None
    } else {
        args.policies.capture_window()
    };
    let mut responder = if args.config.response_files.is_empty() {
        None
    } else {
        let n = args.policies.policies.len();
        let r = Responder::start(args.policies, args.config.response.clone())
            .map_err(|e| RuntimeError::Invalid(e.to_string()))?;
        log::info!(
            "response: {n} policies active{}",
            if args.config.response.dry_run {
                " (dry run: actions are logged, not carried out)"
            } else {
                ""
            }
        );
        Some(r)
    };
    let engine = handle.load();
    let audit_handle = handle.clone();
    let mut pipe = Pipeline::with_handle(
        handle.clone(),
        StateConfig::for_host(&args.config.host_root, &args.config.containers),
    );
    if let Some(ext) = crate::plugins::syscall_extension() {
        pipe.set_extension(ext);
    }
    // The console's debug view: the event tap on the pipeline and the loop's snapshot.
    let console_on =
        args.config.console.enabled && args.config.webserver.as_ref().is_some_and(|w| w.enabled);
    let mut debug = console_on.then(crate::debug::Debug::new);
    if let Some(d) = &debug {
        pipe.set_tap(d.tap.clone());
    }
    // Up before the capture (see `start_web`), but not healthy until it is attached.
    let webhook = Arc::new(crate::audit::WebhookCounters::default());
    let (web, store) = start_web_and_store(
        args.config,
        &handle,
        &triage.silences,
        responder.as_ref().map(Responder::isolation),
        debug.as_ref(),
        &webhook,
    )?;
    let opts = LiveOptions {
        base: args.config.base_syscalls.clone(),
        // `engine.modern_ebpf.buf_size_preset`, Falco's 8 MiB by default.
        ring_bytes: args.config.ring_buffer_bytes,
        // Rule-triggered capture (and the `capture` action) records every event: nothing may
        // be shed under it.
        shed: args.config.shed && !args.config.capture.enabled && capture_window.is_none(),
        ..LiveOptions::default()
    };
    log::info!(
        "The chosen syscall buffer dimension is: {} bytes ({} MBs)",
        opts.ring_bytes,
        opts.ring_bytes >> 20
    );
    let mut live = live::start(&mut pipe, opts, Seed::Required)?;
    // In-kernel kill: which kill policy runs in the kernel, which from user space, and why.
    let kkill = responder.as_ref().and_then(|r| {
        let k = crate::kkill::load(
            &mut live.source,
            &engine,
            &r.handle(),
            &args.config.response,
        )?;
        r.attach_kernel(k.clone());
        Some(k)
    });
    // A probe that reads "ok" can trust that events are being watched from now on.
    if let Some((server, _)) = &web {
        server.set_ready();
    }
    let stop = live.stop.clone();
    let reloaded_ns = Arc::new(AtomicU64::new(epoch_ns()));
    let reloader = match args.reload {
        Some(r) => Some(reload_thread(
            handle,
            responder.as_ref().map(|r| (r.handle(), kkill.clone())),
            r,
            args.config.clone(),
            args.watched,
            stop.clone(),
            reloaded_ns.clone(),
        )?),
        None => None,
    };
    log::info!(
        "capturing {} event types; {} rules active",
        live.source.selected().len(),
        engine.rules().active_count()
    );
    log_shedding(live.source.shedding());
    let deadline = args.duration.map(|d| Instant::now() + d);
    let mut sink = Dispatch::new(&outputs, args.config, triage)?;
    sink.responder = responder.as_ref();
    sink.store = store;
    sink.measure_detect = true;
    let static_fields = sink.static_fields.clone();
    let (audit_tx, audit_rx) = std::sync::mpsc::sync_channel::<Alert>(AUDIT_QUEUE);
    let audit_stop = Arc::new(AtomicBool::new(false));
    let plugin_threads = spawn_plugin_sources(
        args.config,
        &audit_handle,
        &ToChannel {
            tx: audit_tx.clone(),
            hostname: sink.hostname.clone(),
            static_fields: static_fields.clone(),
        },
        &audit_stop,
        deadline,
    )?;
    let audit = spawn_audit(
        args.config,
        audit_handle,
        ToChannel {
            tx: audit_tx,
            hostname: sink.hostname.clone(),
            static_fields: static_fields.clone(),
        },
        audit_stop.clone(),
        deadline,
        webhook,
    )?;
    let mut drops = DropMonitor::new(
        &args.config.syscall_event_drops,
        live.source
            .counters()
            .map(|c| drop_stats(&c))
            .unwrap_or_default(),
        true,
    );
    let mut exit_code = 0;
    // Rule-triggered capture (`capture.enabled`, or `capture` actions) sees every event after
    // the pipeline. A reload that adds the first `capture` action finds no window: the
    // action then fails, audited.
    let mut recorder = crate::recorder::Recorder::with_response(
        &args.config.capture,
        &args.config.host_root,
        capture_window,
    );
    if let (Some(r), Some(_)) = (&responder, capture_window) {
        r.enable_captures();
    }
    // Falco's `metrics.output_rule`: the snapshot alert every `metrics.interval`.
    let metrics_cfg = &args.config.metrics;
    let snapshot_alerts = (metrics_cfg.enabled && metrics_cfg.output_rule).then(|| {
        (
            SnapshotAlerts::default(),
            metrics_cfg.interval.max(MIN_METRICS_INTERVAL),
        )
    });
    let mut snapshot_alerts = snapshot_alerts.map(|(a, every)| (a, every, Instant::now() + every));
    let web_metrics = web.as_ref().and_then(|(_, m)| m.clone());
    let mut run = run_info(
        &args.rules_inputs,
        &args.config_files,
        reloaded_ns.load(Ordering::Relaxed),
    );
    let fleet = crate::fleet::FleetFeed::start(args.config, &run);
    let slice_len = snapshot_alerts
        .as_ref()
        .map_or(METRICS_INTERVAL, |(_, every, _)| {
            METRICS_INTERVAL.min(*every)
        });
    // Audit alerts wait for the end of a slice: keep that short while the source runs.
    let slice_len = if audit.is_some() || !plugin_threads.is_empty() {
        slice_len.min(AUDIT_SLICE)
    } else {
        slice_len
    };
    // The capture loop runs in slices so that the metrics snapshot is refreshed between them;
    // each slice drains what the kernel wrote, so slicing loses nothing.
    let result = loop {
        let slice_end = Instant::now() + slice_len;
        let until = deadline.map_or(slice_end, |d| d.min(slice_end));
        // Falco checks drops at the first event a second after the last check; the counters
        // are read when the slice returns (at most a slice later), as the capture is busy
        // draining while events are handed out.
        let mut due = None;
        let slice = live.run(&mut pipe, Some(until), |pipe, ev| {
            if drops.tick(ev.ts) {
                due = Some(ev.ts);
            }
            process(&mut recorder, pipe, ev, &mut sink);
        });
        if let Err(e) = slice {
            break Err(e);
        }
        while let Ok(alert) = audit_rx.try_recv() {
            sink.offer(alert, epoch_ns());
        }
        sink.tick();
        if let (Some(ts), Ok(c)) = (due, live.source.counters()) {
            let exit = drops
                .check(ts, drop_stats(&c))
                .is_some_and(|a| perform(a, &outputs, &static_fields));
            if exit {
                log::error!("Drop manager internal error");
                exit_code = 1;
                break Ok(());
            }
        }
        if let Some(r) = &responder {
            forward_records(r, &outputs, &static_fields, sink.store.as_mut());
        }
        if let Some(d) = debug.as_mut() {
            d.refresh(&pipe, &live.source, epoch_ns());
        }
        if let Some(f) = &fleet {
            let s = pipe.stats();
            let drops = live.source.counters().map_or(0, |c| c.drops());
            f.update(s.events, drops, s.rule_matches.iter().sum());
        }
        let alert_due = snapshot_alerts
            .as_ref()
            .is_some_and(|(_, _, next)| Instant::now() >= *next);
        if web_metrics.is_some() || alert_due {
            let reload_ns = reloaded_ns.load(Ordering::Relaxed);
            if reload_ns != run.reload_ns {
                // The rules (and maybe the configuration) were read again: new digests.
                run = run_info(&args.rules_inputs, &args.config_files, reload_ns);
            }
            let snap = snapshot(
                args.config,
                &pipe,
                &live.source,
                &outputs,
                responder.as_ref(),
                &sink.triage,
                &run,
            );
            if let (true, Some((alerts, every, next))) = (alert_due, snapshot_alerts.as_mut()) {
                let mut alert = alerts.alert(
                    &snap,
                    metrics_cfg.convert_memory_to_mb,
                    metrics_cfg.include_empty_values,
                );
                alert.extra_fields.extend(static_fields.iter().cloned());
                outputs.enqueue(alert);
                *next = Instant::now() + *every;
            }
            if let Some(metrics) = &web_metrics {
                *metrics.lock().unwrap_or_else(|p| p.into_inner()) = snap;
            }
        }
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            break Ok(());
        }
    };
    // Events the kernel still held in its per-CPU batches are processed before the figures.
    let flushed = live.finish(&mut pipe, |pipe, ev| {
        process(&mut recorder, pipe, ev, &mut sink)
    });
    let result = result.and_then(|()| flushed.map(drop));
    if let Some(rec) = recorder.as_mut() {
        rec.finish();
    }
    audit_stop.store(true, Ordering::Relaxed);
    let audit_result = audit.map(|t| {
        // Keep draining while it stops: it may be waiting for room in the queue.
        while !t.is_finished() {
            while let Ok(alert) = audit_rx.try_recv() {
                sink.offer(alert, epoch_ns());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        t.join()
    });
    let mut plugin_results = Vec::new();
    for (name, t) in plugin_threads {
        while !t.is_finished() {
            while let Ok(alert) = audit_rx.try_recv() {
                sink.offer(alert, epoch_ns());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        plugin_results.push((name, t.join()));
    }
    while let Ok(alert) = audit_rx.try_recv() {
        sink.offer(alert, epoch_ns());
    }
    let (triaged, mut store) = sink.finish();
    // Actions already queued finish (each bounded by its own timeout) and reach the outputs
    // and the store.
    if let Some(r) = responder.as_mut() {
        r.finish();
        forward_records(r, &outputs, &static_fields, store.as_mut());
        eprintln!("{}", r.snapshot().summary());
        if let Some(k) = &kkill {
            eprintln!("{}", k.summary());
        }
    }
    finish_store(store);
    eprint!("{}", drops.summary());
    if let Some((server, _)) = web {
        server.shutdown();
    }
    shutdown_outputs(outputs);
    if let Some(f) = fleet {
        f.stop();
    }
    print_triage(&triaged);
    for (name, r) in plugin_results {
        let name = peregrine_filter::escape::terminal_safe(&name);
        match r {
            Ok(Ok(stats)) => eprintln!(
                "Plugin source {name}: {} events, {} plugin errors",
                stats.events, stats.errors
            ),
            Ok(Err(e)) => log::error!("{name} source: {e}"),
            Err(_) => log::error!("{name} source: its thread panicked"),
        }
    }
    match audit_result {
        Some(Ok(Ok((pipe, stats)))) => print_source_stats(&pipe, &stats),
        Some(Ok(Err(e))) => log::error!("k8s_audit source: {e}"),
        Some(Err(_)) => log::error!("k8s_audit source: its thread panicked"),
        None => {}
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = reloader {
        let _ = t.join();
    }
    result?;
    let (c, l) = live.source.counters_and_lanes()?;
    print_stats(
        &pipe,
        &format!(
            ", kernel: {} events, {} drops; priority lane: {} events, {} dropped (ring full); \
             bulk lane: {} events, {} dropped (ring full); shed (not drops): {} opens of \
             unneeded paths, {} closes of their fds",
            c.events,
            c.drops(),
            l.priority_events,
            l.priority_drops_ring_full,
            l.bulk_events,
            l.bulk_drops_ring_full,
            c.shed_open_path,
            c.shed_close
        ),
    );
    Ok(exit_code)
}

/// Says at start-up whether the kernel sheds opens, and if not because of a rule, which.
fn log_shedding(needs: Option<&peregrine_rules::shed::PathNeeds>) {
    use peregrine_rules::shed::PathNeeds;
    match needs {
        None => log::info!("shedding: off (engine.shed: false, or capture.enabled)"),
        Some(PathNeeds::Atoms(a)) => log::info!(
            "shedding: opens of paths outside the rules' {} path prefixes, names and suffixes",
            a.len()
        ),
        Some(PathNeeds::Every { rule, why }) => log::info!(
            "shedding: no open is shed: {} {why}",
            rule.as_deref().map_or_else(
                || "an added output field".to_string(),
                |r| format!("rule '{}'", peregrine_filter::escape::terminal_safe(r))
            )
        ),
    }
}

/// The capture's counters in Falco's terms. The capture sorts buffer-full drops into four
/// syscall families, reported under the nearest of Falco's categories (file → open, net →
/// connect, process → clone/fork, other → other interest).
fn drop_stats(c: &peregrine_capture::Counters) -> DropStats {
    use peregrine_capture::Family;
    let family = |f: Family| c.drops_by_family.get(f as usize).copied().unwrap_or(0);
    DropStats {
        n_evts: c.events + c.drops(),
        n_drops: c.drops(),
        n_drops_buffer: c.drops_ring_full,
        n_drops_buffer_open_exit: family(Family::File),
        n_drops_buffer_connect_exit: family(Family::Net),
        n_drops_buffer_clone_fork_exit: family(Family::Process),
        n_drops_buffer_other_interest_exit: family(Family::Other),
        // A record too large to send is the kernel side's own limit, Falco's "bug" class.
        n_drops_bug: c.drops_too_large,
        ..DropStats::default()
    }
}

/// One event through the pipeline, and through the rule-triggered recorder when it is on;
/// then the captures the responder's `capture` actions asked for, while the event that
/// triggered them is the newest of the recorder's window.
fn process(
    recorder: &mut Option<crate::recorder::Recorder>,
    pipe: &mut Pipeline,
    ev: &peregrine_event::Event<'_>,
    sink: &mut Dispatch<'_>,
) {
    match recorder.as_mut() {
        Some(rec) => {
            rec.process(pipe, ev, sink);
            if let Some(r) = sink.responder {
                for req in r.take_captures() {
                    rec.respond(&req, pipe.state());
                }
            }
        }
        None => pipe.process(ev, sink),
    }
}

/// Runs the drop monitor's actions: `log` at debug level, `alert` through the outputs with
/// `static_fields` added, `exit` as critical lines. Returns true when the agent must stop.
fn perform(
    actions: Actions,
    outputs: &Dispatcher,
    static_fields: &[(String, OutputValue)],
) -> bool {
    for line in &actions.log {
        log::debug!("{line}");
    }
    if let Some(mut alert) = actions.alert {
        alert.extra_fields.extend(static_fields.iter().cloned());
        outputs.enqueue(alert);
    }
    for line in &actions.exit {
        log::error!("{line}");
    }
    !actions.exit.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_outputs::{FormatOptions, RateLimit};

    /// The capture's counters map onto Falco's, drops included in the events.
    #[test]
    fn capture_counters_in_falco_terms() {
        let mut c = peregrine_capture::Counters {
            events: 100,
            drops_ring_full: 7,
            drops_too_large: 2,
            missing_enter: 1,
            ..Default::default()
        };
        c.drops_by_family[peregrine_capture::Family::Net as usize] = 5;
        c.drops_by_family[peregrine_capture::Family::File as usize] = 2;
        let s = drop_stats(&c);
        assert_eq!((s.n_evts, s.n_drops, s.n_drops_buffer), (110, 10, 7));
        assert_eq!(
            (
                s.n_drops_buffer_connect_exit,
                s.n_drops_buffer_open_exit,
                s.n_drops_bug
            ),
            (5, 2, 2)
        );
    }

    /// The alert action reaches the outputs with the static fields; exit asks to stop.
    #[test]
    fn actions_reach_the_outputs() {
        let outputs = Dispatcher::new(FormatOptions::default(), Vec::new(), RateLimit::default())
            .expect("dispatcher");
        let static_fields = vec![("env".to_string(), OutputValue::Str("prod".into()))];
        let mut alert = Alert::new(
            5,
            crate::drops::DROP_RULE,
            peregrine_outputs::Priority::Debug,
            "m",
        );
        alert.source = peregrine_outputs::INTERNAL_SOURCE.into();
        let acts = Actions {
            log: vec!["m".into()],
            alert: Some(alert),
            exit: Vec::new(),
        };
        assert!(!perform(acts, &outputs, &static_fields));
        let snap = outputs.snapshot();
        assert_eq!(snap.alerts_by_rule.get(crate::drops::DROP_RULE), Some(&1));
        let exit = Actions {
            exit: vec!["m".into(), "Exiting.".into()],
            ..Actions::default()
        };
        assert!(perform(exit, &outputs, &static_fields));
    }
}
