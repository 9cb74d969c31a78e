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
}

impl Stats {
    pub(crate) fn new(rules: usize) -> Stats {
        Stats {
            rule_matches: vec![0; rules],
            ..Stats::default()
        }
    }

    /// Re-indexes the per-rule counters for a reloaded rule set: a rule keeps its count
    /// under its name (indexes change when rules are added or removed), and the counts of
    /// rules that are gone are kept apart, so a reload never lowers a total.
    pub(crate) fn rekey_rules<'a>(
        &mut self,
        old_names: impl Iterator<Item = &'a str>,
        new_names: impl Iterator<Item = &'a str>,
    ) {
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

    /// The `_sum` of `/metrics` was 0 while samples counted: every sample adds its latency.
    #[test]
    fn record_keeps_the_sum() {
        let mut h = LatencyHistogram::default();
        h.record(Duration::from_nanos(300));
        h.record(Duration::from_micros(2));
        assert_eq!((h.samples(), h.sum_ns), (2, 2_300));
    }
}
