//! Delivery telemetry for the metrics endpoint: alerts by rule and priority, drops, output
//! errors and delivery latency.
//!
//! Key decision: the hot path only touches atomics (plus one uncontended lock for the
//! per-rule map, keyed by the rule name so no allocation happens after a rule's first
//! alert); readers take a [`Snapshot`], a plain value the web server can render however it
//! likes.

use crate::alert::syslog_severity;
use peregrine_filter::priority::Priority;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the delivery-latency histogram buckets; a last `+Inf` bucket
/// is implied.
pub const LATENCY_BUCKETS: [f64; 7] = [0.0001, 0.001, 0.01, 0.1, 1.0, 10.0, 60.0];

/// Counters shared by the caller side of the queue.
#[derive(Debug, Default)]
pub struct Counters {
    by_priority: [AtomicU64; 8],
    by_rule: Mutex<HashMap<String, u64>>,
    rate_limited: AtomicU64,
}

impl Counters {
    pub(crate) fn count_alert(&self, rule: &str, priority: Priority) {
        self.by_priority[usize::from(syslog_severity(priority))].fetch_add(1, Relaxed);
        // A poisoned lock only means another thread panicked mid-increment: keep counting.
        let mut map = self.by_rule.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(rule) {
            Some(n) => *n += 1,
            None => {
                map.insert(rule.to_string(), 1);
            }
        }
    }

    pub(crate) fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Relaxed);
    }
}

/// Counters of one output, updated by its worker and by the enqueuing side.
#[derive(Debug, Default)]
pub struct OutputStats {
    /// Alerts accepted into this output's queue.
    pub(crate) enqueued: AtomicU64,
    /// Alerts written successfully.
    pub(crate) delivered: AtomicU64,
    /// Alerts refused because the queue was full.
    pub(crate) dropped_queue_full: AtomicU64,
    /// Alerts below the output's minimum priority (not drops: policy).
    pub(crate) filtered: AtomicU64,
    /// Alerts left in the queue when the shutdown deadline passed.
    pub(crate) abandoned: AtomicU64,
    /// Failed writes (each one alert lost) and failed reopen/flush calls.
    pub(crate) errors: AtomicU64,
    /// Failed writes only: with `delivered` and `abandoned`, what accounts for every alert
    /// taken into the queue, so that a shutdown can count the ones a stuck output still holds.
    pub(crate) failed_writes: AtomicU64,
    /// The text of the most recent error, for logs and the metrics page.
    pub(crate) last_error: Mutex<Option<String>>,
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    latency_max_ns: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
}

impl OutputStats {
    pub(crate) fn count_error(&self, e: &crate::output::OutputError) {
        self.errors.fetch_add(1, Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }

    pub(crate) fn observe_latency(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_ns.fetch_add(ns, Relaxed);
        self.latency_max_ns.fetch_max(ns, Relaxed);
        let secs = d.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[i].fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, name: &str) -> OutputSnapshot {
        OutputSnapshot {
            name: name.to_string(),
            enqueued: self.enqueued.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            abandoned: self.abandoned.load(Relaxed),
            errors: self.errors.load(Relaxed),
            failed_writes: self.failed_writes.load(Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            latency: LatencySnapshot {
                count: self.latency_count.load(Relaxed),
                sum_ns: self.latency_sum_ns.load(Relaxed),
                max_ns: self.latency_max_ns.load(Relaxed),
                buckets: self
                    .latency_buckets
                    .iter()
                    .map(|b| b.load(Relaxed))
                    .collect(),
            },
        }
    }
}

/// A point-in-time copy of all counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Alerts handed to the queue, per rule (before rate limiting).
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Same, per priority.
    pub alerts_by_priority: Vec<(Priority, u64)>,
    /// Alerts refused by the `outputs.rate` token bucket.
    pub rate_limited: u64,
    pub outputs: Vec<OutputSnapshot>,
}

impl Snapshot {
    pub(crate) fn new(c: &Counters, outputs: Vec<OutputSnapshot>) -> Snapshot {
        let by_rule = c.by_rule.lock().unwrap_or_else(|p| p.into_inner());
        Snapshot {
            alerts_by_rule: by_rule.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            alerts_by_priority: Priority::ALL
                .iter()
                .zip(&c.by_priority)
                .map(|(p, n)| (*p, n.load(Relaxed)))
                .collect(),
            rate_limited: c.rate_limited.load(Relaxed),
            outputs,
        }
    }

    /// Alerts lost by any output for any reason (queue full, write error, shutdown).
    pub fn total_lost(&self) -> u64 {
        self.outputs
            .iter()
            .map(|o| o.dropped_queue_full + o.errors + o.abandoned)
            .sum()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputSnapshot {
    pub name: String,
    pub enqueued: u64,
    pub delivered: u64,
    pub dropped_queue_full: u64,
    pub filtered: u64,
    pub abandoned: u64,
    pub errors: u64,
    /// Alerts lost because a write failed (each one also counts in `errors`).
    pub failed_writes: u64,
    pub last_error: Option<String>,
    pub latency: LatencySnapshot,
}

/// Delivery latency (enqueue → written), as a histogram over [`LATENCY_BUCKETS`] (not
/// cumulative; the last entry is `+Inf`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencySnapshot {
    pub count: u64,
    pub sum_ns: u64,
    pub max_ns: u64,
    pub buckets: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets() {
        let s = OutputStats::default();
        for us in [50, 100, 101, 5_000, 70_000_000] {
            s.observe_latency(Duration::from_micros(us));
        }
        let snap = s.snapshot("x").latency;
        assert_eq!(snap.count, 5);
        assert_eq!(snap.max_ns, 70_000_000_000);
        assert_eq!(snap.buckets, [2, 1, 1, 0, 0, 0, 0, 1]);
    }
}
