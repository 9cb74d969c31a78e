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

/// Upper bounds (seconds) of the time-to-detect histogram (the event's kernel timestamp to the
/// alert leaving the engine); a last `+Inf` bucket is implied. Finer than delivery's: the SLI's
/// p50/p95 sit in the low milliseconds, and Prometheus interpolates inside a bucket.
pub const DETECT_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Counters shared by the caller side of the queue.
#[derive(Debug, Default)]
pub struct Counters {
    by_priority: [AtomicU64; 8],
    by_rule: Mutex<HashMap<String, u64>>,
    rate_limited: AtomicU64,
    detect: Histogram<{ DETECT_BUCKETS.len() + 1 }>,
}

/// A fixed-bucket histogram of durations kept in atomics (counts per bucket, not cumulative).
#[derive(Debug)]
struct Histogram<const N: usize> {
    count: AtomicU64,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
    buckets: [AtomicU64; N],
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Histogram {
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl<const N: usize> Histogram<N> {
    /// Counts `ns` in the first bucket of `bounds` (seconds) that holds it, else in `+Inf`.
    fn observe(&self, ns: u64, bounds: &[f64]) {
        self.count.fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
        self.max_ns.fetch_max(ns, Relaxed);
        let secs = ns as f64 / 1e9;
        let i = bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(bounds.len())
            .min(N - 1);
        self.buckets[i].fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            count: self.count.load(Relaxed),
            sum_ns: self.sum_ns.load(Relaxed),
            max_ns: self.max_ns.load(Relaxed),
            buckets: self.buckets.iter().map(|b| b.load(Relaxed)).collect(),
        }
    }
}

impl Counters {
    /// One detection's delay: from the event's time to `now_ns` (both ns since the epoch).
    /// An event stamped after `now` (clock adjusted between the two) counts as 0.
    pub(crate) fn observe_detect(&self, event_ns: u64, now_ns: u64) {
        self.detect
            .observe(now_ns.saturating_sub(event_ns), &DETECT_BUCKETS);
    }

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
    /// Spooled outputs: alerts committed to the spool.
    pub(crate) spooled: AtomicU64,
    /// Spooled outputs: the oldest alerts dropped because the spool was full.
    pub(crate) spool_dropped: AtomicU64,
    /// Spooled outputs: alerts lost because the spool could not store them.
    pub(crate) unspooled: AtomicU64,
    /// Spooled outputs: delivery attempts that failed and will be tried again.
    pub(crate) retried: AtomicU64,
    /// Spooled outputs: alerts waiting in the spool, and the bytes they take (gauges).
    pub(crate) spool_pending: AtomicU64,
    pub(crate) spool_bytes: AtomicU64,
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

    /// A failure that loses nothing (it will be retried): remembered, not counted as an error.
    pub(crate) fn note_retry(&self, e: &crate::output::OutputError) {
        self.retried.fetch_add(1, Relaxed);
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
            spooled: self.spooled.load(Relaxed),
            spool_dropped: self.spool_dropped.load(Relaxed),
            retried: self.retried.load(Relaxed),
            spool_pending: self.spool_pending.load(Relaxed),
            spool_bytes: self.spool_bytes.load(Relaxed),
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
    /// Time to detect (event time → alert out of the engine) over [`DETECT_BUCKETS`]; empty
    /// unless the agent measures it (live capture only: a replayed capture's events are old).
    pub time_to_detect: LatencySnapshot,
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
            time_to_detect: c.detect.snapshot(),
            outputs,
        }
    }

    /// Alerts lost by any output for any reason (queue full, write error, shutdown, a full
    /// spool).
    pub fn total_lost(&self) -> u64 {
        self.outputs
            .iter()
            .map(|o| o.dropped_queue_full + o.errors + o.abandoned + o.spool_dropped)
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
    /// Alerts committed to the output's spool (0 without a spool).
    pub spooled: u64,
    /// The oldest spooled alerts dropped because the spool was full (lost).
    pub spool_dropped: u64,
    /// Delivery attempts that failed and were retried later (nothing lost).
    pub retried: u64,
    /// Alerts waiting in the spool now, and the bytes they take.
    pub spool_pending: u64,
    pub spool_bytes: u64,
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

    #[test]
    fn time_to_detect_buckets() {
        let c = Counters::default();
        let ms = 1_000_000;
        // 0.3 ms, exactly 1 ms, 7 ms, 2 s, 20 s, and a clock that stepped back.
        for (event, now) in [
            (0, 300_000),
            (5, 5 + ms),
            (0, 7 * ms),
            (0, 2_000 * ms),
            (0, 20_000 * ms),
            (9 * ms, ms),
        ] {
            c.observe_detect(event, now);
        }
        let d = Snapshot::new(&c, Vec::new()).time_to_detect;
        assert_eq!(d.count, 6);
        assert_eq!(d.max_ns, 20_000 * ms);
        assert_eq!(d.buckets, [2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
    }
}
