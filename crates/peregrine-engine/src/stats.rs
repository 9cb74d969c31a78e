//! Engine statistics: event counters, per-rule matches and a log₂ histogram of evaluation
//! latency. Plain integers owned by the pipeline (one writer), read through the API; a
//! histogram with fixed power-of-two buckets costs one `leading_zeros` per sample.

use std::time::Duration;

/// Number of latency buckets: bucket `i` holds samples below `2^(i+7)` ns (128 ns … 4 ms),
/// the last one everything slower.
pub const LATENCY_BUCKETS: usize = 16;

/// Evaluation latency of sampled events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    pub buckets: [u64; LATENCY_BUCKETS],
    /// Sum of the sampled latencies in ns (the Prometheus histogram's `_sum`).
    pub sum_ns: u64,
}

impl LatencyHistogram {
    /// The bucket of a duration.
    pub fn bucket(d: Duration) -> usize {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let bits = 64 - (ns >> 7).leading_zeros() as usize;
        bits.min(LATENCY_BUCKETS - 1)
    }

    /// Upper bound of bucket `i` in ns (`None` for the open last bucket).
    pub fn upper_ns(i: usize) -> Option<u64> {
        (i + 1 < LATENCY_BUCKETS).then(|| 1u64 << (i + 7))
    }

    pub fn record(&mut self, d: Duration) {
        self.buckets[Self::bucket(d)] += 1;
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    pub fn samples(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// Buckets of [`RuleLatency`]: four per power of two from 16 ns, the last one open (past
/// about 268 ms).
pub const RULE_LATENCY_BUCKETS: usize = 96;

/// Sampled evaluation times of one rule's condition: a log-linear histogram (four buckets per
/// octave, so a quantile is known within 25%) that costs one `leading_zeros` per sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleLatency {
    pub count: u64,
    pub sum_ns: u64,
    pub buckets: [u64; RULE_LATENCY_BUCKETS],
}

impl Default for RuleLatency {
    fn default() -> Self {
        RuleLatency {
            count: 0,
            sum_ns: 0,
            buckets: [0; RULE_LATENCY_BUCKETS],
        }
    }
}

impl RuleLatency {
    /// The bucket of `ns`: octave `e` (from 2^4) and its top two bits below the leading one.
    pub fn bucket(ns: u64) -> usize {
        let ns = ns.max(16);
        let e = 63 - ns.leading_zeros() as usize;
        let sub = ((ns >> (e - 2)) & 3) as usize;
        ((e - 4) * 4 + sub).min(RULE_LATENCY_BUCKETS - 1)
    }

    /// The exclusive upper bound of bucket `i` in ns.
    pub fn upper_ns(i: usize) -> u64 {
        let (e, sub) = (i / 4 + 4, (i % 4) as u64);
        (5 + sub) << (e - 2)
    }

    pub fn record(&mut self, ns: u64) {
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.buckets[Self::bucket(ns)] += 1;
    }

    /// The `q` quantile (0 < q ≤ 1) as the upper bound of its bucket; `None` without samples.
    pub fn quantile_ns(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        // The rank of the quantile, at least the first sample.
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Self::upper_ns(i));
            }
        }
        Some(Self::upper_ns(RULE_LATENCY_BUCKETS - 1))
    }
}

/// What a pipeline has done.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Events given to the pipeline.
    pub events: u64,
    /// Events that had at least one candidate rule for their type.
    pub evaluated: u64,
    /// Records that did not decode.
    pub decode_errors: u64,
    /// Engine swaps seen.
    pub reloads: u64,
    /// Matches per rule index of the current engine.
    pub rule_matches: Vec<u64>,
    /// Matches of rules that a reload removed, by name: the run's totals keep them.
    pub retired_matches: std::collections::BTreeMap<String, u64>,
    pub latency: LatencyHistogram,
    /// Sampled evaluation time per rule index of the current engine: each rule of a sampled
    /// event's type is timed on its own (see [`crate::Settings::latency_sample`]).
    pub rule_latency: Vec<RuleLatency>,
}

impl Stats {
    pub(crate) fn new(rules: usize) -> Stats {
        Stats {
            rule_matches: vec![0; rules],
            rule_latency: vec![RuleLatency::default(); rules],
            ..Stats::default()
        }
    }

    /// Re-indexes the per-rule counters for a reloaded rule set: a rule keeps its count
    /// under its name (indexes change when rules are added or removed), and the counts of
    /// rules that are gone are kept apart, so a reload never lowers a total.
    /// Latencies follow their rule by name too; those of removed rules are dropped.
    pub(crate) fn rekey_rules<'a>(
        &mut self,
        old_names: impl Iterator<Item = &'a str> + Clone,
        new_names: impl Iterator<Item = &'a str> + Clone,
    ) {
        let mut latency: std::collections::HashMap<&str, RuleLatency> = old_names
            .clone()
            .zip(std::mem::take(&mut self.rule_latency))
            .filter(|(_, l)| l.count > 0)
            .collect();
        self.rule_latency = new_names
            .clone()
            .map(|name| latency.remove(name).unwrap_or_default())
            .collect();
        let mut by_name: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for (name, &n) in old_names.zip(&self.rule_matches) {
            if n > 0 {
                *by_name.entry(name).or_default() += n;
            }
        }
        let mut next: Vec<u64> = new_names
            .map(|name| {
                by_name.remove(name).unwrap_or(0) + self.retired_matches.remove(name).unwrap_or(0)
            })
            .collect();
        for (name, n) in by_name {
            *self.retired_matches.entry(name.to_string()).or_default() += n;
        }
        std::mem::swap(&mut self.rule_matches, &mut next);
    }

    pub(crate) fn count_match(&mut self, idx: u32) {
        if let Some(n) = self.rule_matches.get_mut(idx as usize) {
            *n += 1;
        }
    }

    pub(crate) fn record_rule(&mut self, idx: u32, ns: u64) {
        if let Some(l) = self.rule_latency.get_mut(idx as usize) {
            l.record(ns);
        }
    }

    /// Total matches, including those of rules a reload removed.
    pub fn matches(&self) -> u64 {
        self.rule_matches.iter().sum::<u64>() + self.retired_matches.values().sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        let check = |ns: u64, b: usize| {
            assert_eq!(
                LatencyHistogram::bucket(Duration::from_nanos(ns)),
                b,
                "{ns}"
            )
        };
        check(0, 0);
        check(127, 0);
        check(128, 1);
        check(255, 1);
        check(256, 2);
        check(1_000_000, 13);
        check(u64::MAX, LATENCY_BUCKETS - 1);
        assert_eq!(LatencyHistogram::upper_ns(0), Some(128));
        assert_eq!(LatencyHistogram::upper_ns(LATENCY_BUCKETS - 1), None);
    }

    #[test]
    fn rule_latency_buckets_and_quantiles() {
        assert_eq!(RuleLatency::bucket(0), 0);
        assert_eq!(RuleLatency::bucket(16), 0);
        assert_eq!(RuleLatency::bucket(19), 0);
        assert_eq!(RuleLatency::bucket(20), 1);
        assert_eq!(RuleLatency::bucket(31), 3);
        assert_eq!(RuleLatency::bucket(32), 4);
        assert_eq!(RuleLatency::bucket(u64::MAX), RULE_LATENCY_BUCKETS - 1);
        // Every value lies below its bucket's upper bound and at or above the previous one's.
        for ns in [16u64, 17, 100, 1_000, 12_345, 1_000_000, 200_000_000] {
            let b = RuleLatency::bucket(ns);
            assert!(ns < RuleLatency::upper_ns(b), "{ns}");
            if b > 0 {
                assert!(ns >= RuleLatency::upper_ns(b - 1), "{ns}");
            }
        }
        let mut l = RuleLatency::default();
        assert_eq!(l.quantile_ns(0.5), None);
        for _ in 0..98 {
            l.record(100);
        }
        l.record(10_000);
        l.record(10_000);
        assert_eq!((l.count, l.sum_ns), (100, 29_800));
        // p50 within 25% above 100 ns, p99 within 25% above 10 µs.
        let p50 = l.quantile_ns(0.5).expect("samples");
        let p99 = l.quantile_ns(0.99).expect("samples");
        assert!((100..=125).contains(&p50), "{p50}");
        assert!((10_000..=12_500).contains(&p99), "{p99}");
    }

    /// The `_sum` of `/metrics` was 0 while samples counted: every sample adds its latency.
    #[test]
    fn record_keeps_the_sum() {
        let mut h = LatencyHistogram::default();
        h.record(Duration::from_nanos(300));
        h.record(Duration::from_micros(2));
        assert_eq!((h.samples(), h.sum_ns), (2, 2_300));
    }
}
