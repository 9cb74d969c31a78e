//! Feeds the alert store (`alert_store`): what passed triage, with the process ancestry and
//! the container taken from the state at alert time, and the response records linked to the
//! alert that triggered them.
//!
//! The context is read in [`AlertSink::matched_event`](peregrine_engine::AlertSink), once per
//! matching event, while the state is still as the rules saw it: a bounded walk up the parent
//! chain (`alert_store.ancestry_depth` processes) and one container lookup, both in memory.
//! The records then go to the store's writer thread without waiting; a full queue drops and
//! counts (the outputs still deliver the alert).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use peregrine_config::AlertStoreConfig;
use peregrine_outputs::{Alert, FormatOptions, OutputValue};
use peregrine_state::thread::Subject;
use peregrine_state::State;
use peregrine_store::{
    AlertStore, Ancestor, Container, Context, Pod, Record, Retention, SqliteStore, Writer,
};

/// Alerts remembered for linking the response records that follow them: a response
/// finishes within its action's timeout, long before this many later alerts.
const RECENT: usize = 4_096;

/// How often retention runs.
const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// (rule, pid, event time): what a response record says about its alert.
type LinkKey = (String, i64, u64);

/// The agent's side of the store.
pub(crate) struct StoreFeed {
    writer: Writer,
    depth: usize,
    format: FormatOptions,
    /// Records of the current event, waiting for [`StoreFeed::context`].
    pending: Vec<(Record, Option<Subject>)>,
    recent: VecDeque<(LinkKey, String)>,
}

/// What the store did in a run, for the exit summary.
pub(crate) struct StoreSummary {
    pub inserted: u64,
    pub dropped: u64,
    pub failed: u64,
}

impl StoreFeed {
    /// Opens the store when `alert_store.enabled`. A store that cannot be opened is logged
    /// and left out: detection and the outputs go on without it. `hooks` are called with each
    /// batch once it is stored and after retention deleted alerts (the console's live queue
    /// and overview).
    pub fn open(
        cfg: &AlertStoreConfig,
        hooks: peregrine_store::Hooks,
    ) -> Option<(StoreFeed, Arc<SqliteStore>)> {
        if !cfg.enabled {
            return None;
        }
        let store = match SqliteStore::open(&cfg.path) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                log::warn!("alert store off: {e}");
                return None;
            }
        };
        let retention = Retention {
            max_age: cfg.max_age,
            max_bytes: cfg.max_bytes,
            every: RETENTION_EVERY,
        };
        let writer = match Writer::start_hooked(store.clone(), retention, hooks) {
            Ok(w) => w,
            Err(e) => {
                log::warn!("alert store off: {e}");
                return None;
            }
        };
        log::info!(
            "alert store: {} (ancestry depth {})",
            cfg.path.display(),
            cfg.ancestry_depth
        );
        Some((
            StoreFeed {
                writer,
                depth: cfg.ancestry_depth,
                format: FormatOptions {
                    json_output: true,
                    ..FormatOptions::default()
                },
                pending: Vec::new(),
                recent: VecDeque::with_capacity(RECENT),
            },
            store,
        ))
    }

    fn record(&self, alert: &Alert) -> Record {
        Record {
            // Time-ordered (v7): the store's id index grows at its end instead of at random.
            id: uuid::Uuid::now_v7().to_string(),
            time_ns: alert.time_ns,
            rule: alert.rule.clone(),
            priority: alert.priority.as_str().to_string(),
            severity: peregrine_outputs::alert::syslog_severity(alert.priority),
            source: alert.source.clone(),
            hostname: alert.hostname.clone(),
            tags: alert.tags.clone(),
            output: alert.output.clone(),
            json: self.format.json_line(alert),
            context: Context::default(),
            refers_to: None,
        }
    }

    /// An alert that passed triage. With a subject (a rule match), it waits for the
    /// event's [`StoreFeed::context`]; without (a summary), it goes now.
    pub fn alert(&mut self, alert: &Alert, subject: Option<&Subject>) {
        let r = self.record(alert);
        if let Some(s) = subject {
            if self.recent.len() >= RECENT {
                self.recent.pop_front();
            }
            self.recent
                .push_back(((r.rule.clone(), s.pid, r.time_ns), r.id.clone()));
        }
        match subject {
            Some(s) => self.pending.push((r, Some(s.clone()))),
            None => {
                self.writer.offer(r);
            }
        }
    }

    /// The current event's records get their ancestry and container from `state` and go to
    /// the writer.
    pub fn context(&mut self, state: &State) {
        for (mut r, subject) in self.pending.drain(..) {
            if let Some(s) = subject {
                r.context = context_of(state, &s, self.depth);
            }
            self.writer.offer(r);
        }
    }

    /// Sends what still waits for a context (none is coming).
    pub fn flush(&mut self) {
        for (r, _) in self.pending.drain(..) {
            self.writer.offer(r);
        }
    }

    /// A response record (`source: response`), linked to the alert that triggered it.
    pub fn response(&mut self, rec: &Alert) {
        let mut r = self.record(rec);
        let field = |k: &str| {
            rec.output_fields
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v)
        };
        let rule = match field("response.rule") {
            Some(OutputValue::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let pid = match field("proc.pid") {
            Some(OutputValue::Int(p)) => Some(*p),
            _ => None,
        };
        let latency = match field("response.latency_ns") {
            Some(OutputValue::UInt(n)) => Some(*n),
            _ => None,
        };
        if let (Some(rule), Some(pid), Some(latency)) = (rule, pid, latency) {
            let key = (rule, pid, rec.time_ns.saturating_sub(latency));
            r.refers_to = self
                .recent
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|(_, id)| id.clone());
        }
        self.writer.offer(r);
    }

    /// Stores what is queued and stops the writer.
    pub fn finish(mut self) -> StoreSummary {
        self.flush();
        let c = self.writer.counters();
        self.writer.finish();
        StoreSummary {
            inserted: c.inserted.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }
}

/// The ancestry (the subject's process first, `depth` processes at most) and the container.
fn context_of(state: &State, s: &Subject, depth: usize) -> Context {
    let table = state.table();
    let mut ancestry = Vec::new();
    if let Some(p) = table.procs.get(&s.pid).filter(|_| depth > 0) {
        let mut cmdline = Vec::new();
        for q in std::iter::once(p).chain(table.ancestors(p)).take(depth) {
            cmdline.clear();
            q.write_cmdline(&mut cmdline);
            ancestry.push(Ancestor {
                pid: q.pid,
                ppid: q.ppid,
                exe: if q.exepath.is_empty() {
                    q.exe.to_string()
                } else {
                    q.exepath.to_string()
                },
                cmdline: String::from_utf8_lossy(&cmdline).into_owned(),
                uid: q.uid,
                user: String::new(),
                start_ns: q.start_ts,
            });
        }
    }
    let container = (!s.container_id.is_empty()).then(|| {
        let info = state.container_info(&s.container_id);
        let labels = info.map(|i| i.labels.clone()).unwrap_or_default();
        let label = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let pod = label("io.kubernetes.pod.name").map(|name| Pod {
            name,
            namespace: label("io.kubernetes.pod.namespace").unwrap_or_default(),
            labels: info.map(|i| i.pod_labels.clone()).unwrap_or_default(),
        });
        Container {
            id: s.container_id.to_string(),
            name: info.map(|i| i.name.clone()).unwrap_or_default(),
            image: info.map(|i| i.image.clone()).unwrap_or_default(),
            labels,
            pod,
        }
    });
    Context {
        ancestry,
        container,
    }
}

/// The loaded rules as the API lists them.
pub(crate) fn rules_view(
    handle: Arc<peregrine_engine::EngineHandle>,
) -> impl Fn() -> Vec<peregrine_web::alerts_api::RuleInfo> + Send + Sync + 'static {
    move || {
        let engine = handle.load();
        let set = engine.rules();
        set.rules()
            .iter()
            .enumerate()
            .map(|(i, r)| peregrine_web::alerts_api::RuleInfo {
                name: r.name.clone(),
                enabled: u32::try_from(i).is_ok_and(|i| set.is_active(i)),
                source: r.source.clone(),
                priority: r.priority.as_str().to_string(),
                tags: r.tags.iter().cloned().collect(),
                description: r.desc.clone(),
                condition: r.condition_text.clone(),
                file: r.file.clone(),
                line: r.line,
            })
            .collect()
    }
}

/// The store's series for `/metrics`.
pub(crate) fn metrics_text(
    feed: &StoreFeed,
    store: &Arc<SqliteStore>,
) -> peregrine_web::server::MetricsText {
    let counters = feed.writer.counters();
    let store = store.clone();
    Arc::new(move || peregrine_store::prometheus_text(&counters, store.size_bytes().unwrap_or(0)))
}

/// The dyn store the web server's API reads.
pub(crate) fn api_store(s: &Arc<SqliteStore>) -> Arc<dyn AlertStore> {
    s.clone()
}
