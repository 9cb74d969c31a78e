//! Response: policies that act on alerts — kill the process (or its group, or its
//! container's init), pause, stop or kill its container through the runtime's API, run a
//! script, call a webhook — guarded, budgeted and audited.
//!
//! Key decision: matching runs on the pipeline thread right after the alert (a few string
//! compares per policy), acting runs on one worker thread behind a bounded queue, so a slow
//! runtime, script or webhook never holds up detection; a full queue drops the job and counts
//! it. The cost is that actions run one after another: a script with a long timeout delays
//! the next kill by up to that timeout. Each action passes, in order: the budget (global and
//! per policy, a breaker per minute), the safety guard ([`guard`]: identity through a pidfd,
//! never pid 1, kernel threads, the agent, its ancestors or a protected executable), then
//! runs — or, in dry run, stops just before the last step and says what it would have done.
//! Every outcome goes to the audit log (JSON lines, 0600), to the metrics, and back to the
//! caller as an alert-shaped record (`source: response`) for the normal outputs.
//!
//! A container no Docker-compatible API knows (containerd's, CRI-O's) is paused, stopped or
//! killed through containerd's task API, the OCI runtime binary or its cgroup and init
//! ([`oci`]), found by the runc state the state crate reads.
//!
//! `isolate` ([`isolate`]) loads drop rules into the container's network namespace and keeps
//! a registry of isolated containers (in `state_dir`) that the web API lists and reverses;
//! `capture` ([`capture`]) is requested on the pipeline thread, where the events are, and
//! audited by the worker with its file's path.
//!
//! A kill the kernel can decide from the event alone runs in the kernel too ([`kernel`]: the
//! policy is placed there at start, and the worker reports the kernel's kill instead of
//! killing again), behind the same budget and audit.

#![forbid(unsafe_code)]

pub mod act;
pub mod budget;
pub mod capture;
mod child;
pub mod guard;
pub mod isolate;
pub mod kernel;
pub mod oci;
pub mod policy;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use act::{Kind, Outcome, Subject};
pub use policy::{Policies, Policy, PolicyError, PolicyErrors};

use peregrine_filter::escape::terminal_safe;
use peregrine_outputs::{Alert, FormatOptions, OutputValue, Priority};

/// The `source` of the records of actions.
pub const RESPONSE_SOURCE: &str = "response";
/// The `rule` of the records of actions.
pub const RESPONSE_RULE: &str = "Response action";

/// Upper bounds (seconds) of the event-to-action histogram's buckets; one more, open, bucket
/// follows.
pub const LATENCY_BOUNDS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `response` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Global dry run (`response.dry_run`, `--dry-run-actions`).
    pub dry_run: bool,
    /// Actions per minute, all policies together, before the global breaker opens.
    pub budget_per_minute: u32,
    /// Executables never acted on (globs).
    pub protected_exes: Vec<String>,
    /// The JSON-lines audit log; `None`: none (outputs and metrics still see every action).
    pub audit_file: Option<PathBuf>,
    /// Docker-compatible API sockets, tried in order.
    pub sockets: Vec<PathBuf>,
    /// containerd API sockets, for containers found in its runc state (`Tasks/Pause`,
    /// `Tasks/Kill`), tried in order.
    pub containerd_sockets: Vec<PathBuf>,
    /// runc state roots (as the host names them; read below `host_root`).
    pub runtime_state_roots: Vec<PathBuf>,
    /// The OCI runtime binary for containers no API acts on; `None`: `runc`, else `crun`.
    pub oci_runtime: Option<PathBuf>,
    /// Jobs waiting for the worker before new ones are dropped.
    pub queue: usize,
    /// Falco's `HOST_ROOT`: the guard reads `/proc` and `isolate` enters namespaces below it.
    pub host_root: PathBuf,
    /// `state_dir`: where the isolated containers are kept across restarts; `None`: in
    /// memory only.
    pub state_dir: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dry_run: false,
            budget_per_minute: 60,
            protected_exes: guard::DEFAULT_PROTECTED
                .iter()
                .map(|s| s.to_string())
                .collect(),
            audit_file: None,
            sockets: peregrine_state::runtime::default_sockets(),
            containerd_sockets: vec![PathBuf::from("/run/containerd/containerd.sock")],
            runtime_state_roots: peregrine_state::oci::default_state_roots(),
            oci_runtime: None,
            queue: 1024,
            host_root: PathBuf::from("/"),
            state_dir: None,
        }
    }
}

/// Why the responder could not start.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error("response.audit_file: cannot open {path}: {source}")]
    Audit {
        path: String,
        source: std::io::Error,
    },
    #[error("starting the response worker: {0}")]
    Worker(std::io::Error),
}

/// Counters for the metrics and the exit summary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// (action, outcome) → count.
    pub actions: BTreeMap<(String, String), u64>,
    /// Per bucket of [`LATENCY_BOUNDS`] plus the open one: completed actions by time from
    /// the triggering event.
    pub latency_buckets: Vec<u64>,
    pub latency_sum_seconds: f64,
    pub breaker_trips: u64,
    /// Jobs dropped because the queue was full.
    pub dropped: u64,
    /// Alerts at least one policy matched.
    pub matched_alerts: u64,
}

impl Snapshot {
    fn new() -> Snapshot {
        Snapshot {
            latency_buckets: vec![0; LATENCY_BOUNDS.len() + 1],
            ..Snapshot::default()
        }
    }

    fn count(&mut self, action: &str, kind: Kind) {
        *self
            .actions
            .entry((action.to_string(), kind.as_str().to_string()))
            .or_default() += 1;
    }

    fn record_latency(&mut self, seconds: f64) {
        let i = LATENCY_BOUNDS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(LATENCY_BOUNDS.len());
        if let Some(b) = self.latency_buckets.get_mut(i) {
            *b += 1;
        }
        self.latency_sum_seconds += seconds;
    }

    /// Actions with `outcome`, all actions together.
    pub fn total(&self, kind: Kind) -> u64 {
        self.actions
            .iter()
            .filter(|((_, o), _)| o == kind.as_str())
            .map(|(_, n)| n)
            .sum()
    }

    /// The exit summary line.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = Kind::ALL
            .iter()
            .map(|k| format!("{} {}", self.total(*k), k.as_str()))
            .collect();
        format!(
            "Response actions: {} (alerts matched: {}; breaker trips: {}; dropped: {})",
            parts.join(", "),
            self.matched_alerts,
            self.breaker_trips,
            self.dropped
        )
    }
}

/// The running policies; a reload replaces them whole.
pub type PolicyHandle = Arc<Mutex<Arc<Policies>>>;

struct Job {
    alert: Alert,
    subject: Option<Subject>,
    policies: Vec<Arc<Policy>>,
    /// By policy name: the file its `capture` action writes.
    captures: Vec<(String, PathBuf)>,
}

/// The responder: match on the caller's thread, act on the worker.
pub struct Responder {
    policies: PolicyHandle,
    jobs: Option<SyncSender<Job>>,
    records: Receiver<Alert>,
    counters: Arc<Mutex<Snapshot>>,
    worker: Option<std::thread::JoinHandle<()>>,
    isolation: Arc<isolate::Registry>,
    /// Captures requested by matched alerts, for the agent's recorder.
    captures: Mutex<Vec<capture::Request>>,
    /// Whether `captures` may hold some: the agent asks after every event, so the usual
    /// answer costs one load.
    captures_pending: std::sync::atomic::AtomicBool,
    /// Whether the agent keeps a window of events for `capture` actions (set once at start):
    /// without one no request is made, so none piles up, and the action fails, audited.
    capture_window: std::sync::atomic::AtomicBool,
    dry_run: bool,
    kernel: kernel::Slot,
}

impl Responder {
    /// Opens the audit log (created 0600) and starts the worker.
    pub fn start(policies: Policies, settings: Settings) -> Result<Responder, ResponseError> {
        let audit = match &settings.audit_file {
            Some(path) => Some(open_audit(path).map_err(|source| ResponseError::Audit {
                path: path.display().to_string(),
                source,
            })?),
            None => None,
        };
        let (tx, rx) = mpsc::sync_channel::<Job>(settings.queue.max(1));
        let (rec_tx, rec_rx) = mpsc::channel();
        let counters = Arc::new(Mutex::new(Snapshot::new()));
        let isolation = Arc::new(isolate::Registry::open(
            &settings.host_root,
            settings.state_dir.as_deref(),
        ));
        let dry_run = settings.dry_run;
        let kernel = kernel::Slot::default();
        let state_roots = settings
            .runtime_state_roots
            .iter()
            .map(|r| peregrine_state::host_path(&settings.host_root, &r.to_string_lossy()))
            .collect();
        let mut worker = Worker {
            state_roots,
            kernel: kernel.clone(),
            kernel_off: false,
            kernel_budget_spent: false,
            kernel_latency: None,
            guard: guard::Guard::under(&settings.host_root, settings.protected_exes.clone()),
            isolation: isolation.clone(),
            global: budget::Budget::per_minute(settings.budget_per_minute),
            per_policy: BTreeMap::new(),
            settings,
            audit,
            records: rec_tx,
            counters: counters.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("pg-response".into())
            .spawn(move || {
                for job in rx {
                    worker.job(job);
                }
            })
            .map_err(ResponseError::Worker)?;
        Ok(Responder {
            policies: Arc::new(Mutex::new(Arc::new(policies))),
            jobs: Some(tx),
            records: rec_rx,
            counters,
            worker: Some(handle),
            isolation,
            captures: Mutex::new(Vec::new()),
            captures_pending: std::sync::atomic::AtomicBool::new(false),
            capture_window: std::sync::atomic::AtomicBool::new(false),
            dry_run,
            kernel,
        })
    }

    /// The isolated containers, for the web API's list and unisolate.
    pub fn isolation(&self) -> Arc<isolate::Registry> {
        self.isolation.clone()
    }

    /// Says that the agent's recorder keeps a window of events and takes the captures
    /// (the agent calls it at start when a `capture` action is loaded).
    pub fn enable_captures(&self) {
        self.capture_window
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// The captures matched alerts asked for since the last call; the agent hands them to
    /// its recorder right after the event, which is then still in the recorder's window.
    pub fn take_captures(&self) -> Vec<capture::Request> {
        use std::sync::atomic::Ordering;
        if !self.captures_pending.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *self.captures.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Lets the worker report the kernel's kills ([`kernel::KernelKills`]) instead of
    /// killing again, and switch the kernel's filters off when a breaker opens.
    pub fn attach_kernel(&self, k: Arc<dyn kernel::KernelKills>) {
        *self.kernel.lock().unwrap_or_else(|p| p.into_inner()) = Some(k);
    }

    /// Where a reload publishes new policies.
    pub fn handle(&self) -> PolicyHandle {
        self.policies.clone()
    }

    /// Hands `alert` to the matching policies; never blocks.
    pub fn on_alert(&self, alert: &Alert, subject: Option<Subject>) {
        let current = self
            .policies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let policies: Vec<Arc<Policy>> = current.matching(alert).cloned().collect();
        if policies.is_empty() {
            return;
        }
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        c.matched_alerts += 1;
        let Some(jobs) = &self.jobs else { return };
        let mut captures = Vec::new();
        let recording = self
            .capture_window
            .load(std::sync::atomic::Ordering::Acquire);
        for p in policies.iter().filter(|_| recording) {
            for a in &p.actions {
                if let policy::Action::Capture(params) = a {
                    let req = capture::Request::new(params, &p.name, alert.time_ns);
                    captures.push((p.name.clone(), req.path.clone()));
                    if !(self.dry_run || p.dry_run) {
                        self.captures
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(req);
                        self.captures_pending
                            .store(true, std::sync::atomic::Ordering::Release);
                    }
                }
            }
        }
        let job = Job {
            alert: alert.clone(),
            subject,
            policies,
            captures,
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = jobs.try_send(job) {
            c.dropped += 1;
        }
    }

    /// The records of finished actions, for the outputs.
    pub fn records(&self) -> impl Iterator<Item = Alert> + '_ {
        self.records.try_iter()
    }

    pub fn snapshot(&self) -> Snapshot {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Lets the worker finish what is queued; the records it produced stay readable.
    pub fn finish(&mut self) {
        self.jobs = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.finish();
    }
}

fn open_audit(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

struct Worker {
    settings: Settings,
    /// `settings.runtime_state_roots` below `host_root`.
    state_roots: Vec<PathBuf>,
    guard: guard::Guard,
    isolation: Arc<isolate::Registry>,
    global: budget::Budget,
    /// By policy name: a reload keeps what was spent.
    per_policy: BTreeMap<String, budget::Budget>,
    audit: Option<std::fs::File>,
    records: mpsc::Sender<Alert>,
    counters: Arc<Mutex<Snapshot>>,
    /// The in-kernel kill, when the agent loaded one; its filters are off while a breaker
    /// it tripped is open (`kernel_off`).
    kernel: kernel::Slot,
    kernel_off: bool,
    /// The kernel reported a match it only observed, its budget spent (said once a spell).
    kernel_budget_spent: bool,
    /// The latency of the kernel's kill being recorded (match to signal), not the report's.
    kernel_latency: Option<u64>,
}

/// What one action of a job acts with.
struct Acting<'a> {
    dry_run: bool,
    subject: Option<&'a Subject>,
    rule: &'a str,
    capture_file: Option<&'a std::path::Path>,
}

fn epoch_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Worker {
    fn job(&mut self, job: Job) {
        let json = FormatOptions {
            json_output: true,
            ..FormatOptions::default()
        }
        .json_line(&job.alert);
        for policy in &job.policies {
            let dry_run = self.settings.dry_run || policy.dry_run;
            let mut so_far: Vec<(String, Outcome)> = Vec::new();
            for action in &policy.actions {
                let capture_file = job
                    .captures
                    .iter()
                    .find(|(p, _)| *p == policy.name)
                    .map(|(_, f)| f.as_path());
                let cx = Acting {
                    dry_run,
                    subject: job.subject.as_ref(),
                    rule: &job.alert.rule,
                    capture_file,
                };
                let outcome = match self.reported_by_kernel(policy, action, &job) {
                    Some(o) => o,
                    None => self.gated(policy, action, &cx, &json, &so_far),
                };
                let done_ns = epoch_ns();
                self.record(policy, action, &job, &outcome, dry_run, done_ns);
                so_far.push((action.name().to_string(), outcome));
            }
        }
    }

    /// Budget, then the action. A capture touches no process: it is bounded by its own
    /// size and duration, not by the budget.
    fn gated(
        &mut self,
        policy: &Policy,
        action: &policy::Action,
        acting: &Acting<'_>,
        json: &str,
        so_far: &[(String, Outcome)],
    ) -> Outcome {
        let now = Instant::now();
        if matches!(action, policy::Action::Capture(_)) {
            let cx = self.context(policy, acting);
            return act::run(&cx, action, acting.subject, json, so_far);
        }
        let global = self.global.check(now);
        let own = match policy.budget {
            Some(n) => {
                let b = self
                    .per_policy
                    .entry(policy.name.clone())
                    .or_insert_with(|| budget::Budget::per_minute(n));
                Some(b.check(now))
            }
            None => None,
        };
        for (scope, take) in [("global", Some(global)), ("policy", own)] {
            if let Some(budget::Take::Refused { tripped }) = take {
                let limit = match scope {
                    "global" => self.settings.budget_per_minute,
                    _ => policy.budget.unwrap_or(0),
                };
                if tripped {
                    self.counters
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .breaker_trips += 1;
                    log::warn!(
                        "response: the {scope} budget of {limit} actions per minute is spent (policy '{}'): circuit breaker open, further actions are skipped until the window moves on",
                        terminal_safe(&policy.name)
                    );
                }
                return Outcome {
                    kind: Kind::Breaker,
                    detail: format!("{scope} budget of {limit} actions per minute spent"),
                };
            }
        }
        let cx = self.context(policy, acting);
        let outcome = act::run(&cx, action, acting.subject, json, so_far);
        if matches!(outcome.kind, Kind::Done | Kind::DryRun | Kind::Failed) {
            self.global.spend(now);
            if let Some(b) = self.per_policy.get_mut(&policy.name) {
                b.spend(now);
            }
        }
        outcome
    }

    fn context<'a>(&'a self, policy: &'a Policy, acting: &Acting<'a>) -> act::Context<'a> {
        act::Context {
            guard: &self.guard,
            sockets: &self.settings.sockets,
            runtimes: oci::Runtimes {
                state_roots: &self.state_roots,
                containerd_sockets: &self.settings.containerd_sockets,
                binary: self.settings.oci_runtime.as_deref(),
                host_root: &self.settings.host_root,
            },
            dry_run: acting.dry_run,
            isolation: Some(&self.isolation),
            origin: (&policy.name, acting.rule),
            capture_file: acting.capture_file,
        }
    }

    fn record(
        &mut self,
        policy: &Policy,
        action: &policy::Action,
        job: &Job,
        outcome: &Outcome,
        dry_run: bool,
        done_ns: u64,
    ) {
        let latency_ns = self
            .kernel_latency
            .take()
            .unwrap_or_else(|| done_ns.saturating_sub(job.alert.time_ns));
        {
            let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
            c.count(action.name(), outcome.kind);
            if outcome.kind == Kind::Done {
                c.record_latency(latency_ns as f64 / 1e9);
            }
        }
        let subject = job.subject.clone().unwrap_or_default();
        let file = match action {
            policy::Action::Capture(_) => job
                .captures
                .iter()
                .find(|(p, _)| *p == policy.name)
                .map(|(_, f)| f.display().to_string()),
            _ => None,
        };
        let mut line = serde_json::json!({
            "time_ns": done_ns,
            "event_time_ns": job.alert.time_ns,
            "latency_ns": latency_ns,
            "policy": policy.name,
            "action": action.name(),
            "outcome": outcome.kind.as_str(),
            "dry_run": dry_run,
            "detail": outcome.detail,
            "rule": job.alert.rule,
            "priority": job.alert.priority.as_str(),
            "pid": subject.pid,
            "tid": subject.tid,
            "container_id": &*subject.container_id,
        });
        if let Some(f) = &file {
            line["file"] = serde_json::Value::from(f.as_str());
        }
        if let Some(f) = self.audit.as_mut() {
            if let Err(e) = writeln!(f, "{line}") {
                log::error!("response: writing the audit log: {e}");
            }
        }
        log::info!(
            "response: policy '{}' {} → {}: {}",
            terminal_safe(&policy.name),
            action.name(),
            outcome.kind.as_str(),
            terminal_safe(&outcome.detail)
        );
        let priority = match outcome.kind {
            Kind::Done | Kind::DryRun => Priority::Notice,
            Kind::Refused | Kind::Skipped => Priority::Informational,
            Kind::Breaker | Kind::Failed => Priority::Warning,
        };
        let mut rec = Alert::new(
            done_ns,
            RESPONSE_RULE,
            priority,
            &format!(
                "Response {} {} (policy={} rule={} pid={} container_id={} detail={})",
                action.name(),
                outcome.kind.as_str(),
                policy.name,
                job.alert.rule,
                subject.pid,
                subject.container_id,
                outcome.detail
            ),
        );
        rec.source = RESPONSE_SOURCE.to_string();
        rec.hostname.clone_from(&job.alert.hostname);
        let s = |v: &str| OutputValue::Str(v.to_string());
        rec.output_fields = vec![
            ("response.policy".into(), s(&policy.name)),
            ("response.action".into(), s(action.name())),
            ("response.outcome".into(), s(outcome.kind.as_str())),
            ("response.dry_run".into(), OutputValue::Bool(dry_run)),
            ("response.detail".into(), s(&outcome.detail)),
            ("response.rule".into(), s(&job.alert.rule)),
            ("response.latency_ns".into(), OutputValue::UInt(latency_ns)),
            ("proc.pid".into(), OutputValue::Int(subject.pid)),
            ("container.id".into(), s(&subject.container_id)),
        ];
        if let Some(f) = &file {
            rec.output_fields.push(("response.file".into(), s(f)));
        }
        let _ = self.records.send(rec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dry-run flood on a real process: two actions fit the policy's budget, the rest
    /// meet an open breaker (tripped once); the process lives; the audit log (0600), the
    /// records and the counters all say so.
    #[test]
    fn a_flood_trips_the_breaker_and_everything_is_audited() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("pg-responder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let audit = dir.join("audit.jsonl");
        let policies = policy::parse(
            "p.yaml",
            "- policy: flood\n  dry_run: true\n  budget: 2\n  match: {rules: [Marker]}\n  actions: [kill: {}]\n",
        )
        .expect("policies");
        let mut r = Responder::start(
            policies,
            Settings {
                audit_file: Some(audit.clone()),
                ..Settings::default()
            },
        )
        .expect("starts");
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let subject = Subject {
            pid: i64::from(child.id()),
            tid: i64::from(child.id()),
            start_ts: epoch_ns(),
            container_id: "".into(),
        };
        let alert = Alert::new(epoch_ns(), "Marker", Priority::Warning, "m");
        for _ in 0..4 {
            r.on_alert(&alert, Some(subject.clone()));
        }
        r.on_alert(&Alert::new(1, "Other", Priority::Warning, "m"), None);
        r.finish();
        assert!(child.try_wait().expect("wait").is_none(), "dry run killed");
        let _ = child.kill();
        let _ = child.wait();
        let mode = std::fs::metadata(&audit)
            .expect("audit")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
            .expect("audit")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        let outcomes: Vec<&str> = lines.iter().filter_map(|l| l["outcome"].as_str()).collect();
        assert_eq!(
            outcomes,
            ["dry_run", "dry_run", "breaker_open", "breaker_open"]
        );
        assert!(lines[0]["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("would kill pid {}", subject.pid))));
        let records: Vec<Alert> = r.records().collect();
        assert_eq!(records.len(), 4);
        assert!(records
            .iter()
            .all(|a| a.source == RESPONSE_SOURCE && a.rule == RESPONSE_RULE));
        let snap = r.snapshot();
        assert_eq!(
            (snap.total(Kind::DryRun), snap.total(Kind::Breaker)),
            (2, 2)
        );
        assert_eq!((snap.breaker_trips, snap.matched_alerts), (1, 4));
        assert_eq!(
            snap.summary(),
            "Response actions: 0 done, 2 dry_run, 0 refused, 0 skipped, 2 breaker_open, 0 failed (alerts matched: 4; breaker trips: 1; dropped: 0)"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
