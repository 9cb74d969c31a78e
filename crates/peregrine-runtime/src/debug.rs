//! The console's debug view, agent side: the event tap attached to the pipeline and the
//! snapshot of drops, rule latency and container metadata that the loop publishes for
//! `peregrine_web::debug_api` once per interval (the loop owns the pipeline, the state and
//! the capture, so the web server reads a copy and never locks them).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peregrine_engine::live::LiveSource;
use peregrine_engine::tap::Tap;
use peregrine_engine::{EngineHandle, Pipeline};
use peregrine_web::debug_api::{Api, DebugSnapshot, RuleTiming, SharedSnapshot};

/// How often the snapshot is refreshed (the loop may slice more finely for the audit source).
const REFRESH: Duration = Duration::from_secs(1);

/// The debug view's agent half; made only with the console on.
pub(crate) struct Debug {
    pub tap: Arc<Tap>,
    snapshot: SharedSnapshot,
    /// The kernel's event total and when it was read, for events/s.
    last: Option<(Instant, u64)>,
}

impl Debug {
    pub fn new() -> Debug {
        Debug {
            tap: Arc::new(Tap::new()),
            snapshot: Arc::new(Mutex::new(DebugSnapshot::default())),
            last: None,
        }
    }

    /// The web server's half.
    pub fn api(&self, engine: Arc<EngineHandle>) -> Api {
        Api {
            engine,
            tap: self.tap.clone(),
            snapshot: self.snapshot.clone(),
        }
    }

    /// Per-rule latency on `/metrics`.
    pub fn metrics_text(&self) -> peregrine_web::server::MetricsText {
        let snap = self.snapshot.clone();
        Arc::new(move || {
            peregrine_web::debug_api::metrics_text(&snap.lock().unwrap_or_else(|p| p.into_inner()))
        })
    }

    /// Publishes a new snapshot when the last one is [`REFRESH`] old.
    pub fn refresh(&mut self, pipe: &Pipeline, live: &LiveSource, now_ns: u64) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|(t, _)| now.duration_since(t) < REFRESH)
        {
            return;
        }
        // Counters that cannot be read leave the CPUs empty rather than stop detection.
        let cpus = live.per_cpu_counters().unwrap_or_default();
        let events: u64 = cpus.iter().map(|c| c.events).sum();
        let events_per_sec = match self.last {
            Some((t, before)) => {
                events.saturating_sub(before) as f64 / now.duration_since(t).as_secs_f64()
            }
            None => 0.0,
        };
        self.last = Some((now, events));
        let engine = pipe.engine();
        let rules = engine
            .rules()
            .rules()
            .iter()
            .zip(&pipe.stats().rule_latency)
            .filter(|(_, l)| l.count > 0)
            .map(|(r, l)| RuleTiming {
                name: r.name.clone(),
                latency: l.clone(),
            })
            .collect();
        let state = pipe.state();
        let c = state.counters();
        let snap = DebugSnapshot {
            now_ns,
            cpus,
            events_per_sec,
            latency_sample: engine.settings().latency_sample,
            rules,
            containers: state.container_metadata(),
            lookups: c.container_lookups,
            lookups_failed: c.container_lookups_failed,
            requests_dropped: c.container_requests_dropped,
        };
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = snap;
    }
}
