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
    pub latency: LatencyHistogram,
}

impl Stats {
    pub(crate) fn new(rules: usize) -> Stats {
        Stats {
            rule_matches: vec![0; rules],
            ..Stats::default()
        }
    }

    pub(crate) fn reset_rules(&mut self, rules: usize) {
        self.rule_matches.clear();
        self.rule_matches.resize(rules, 0);
    }

    pub(crate) fn count_match(&mut self, idx: u32) {
        if let Some(n) = self.rule_matches.get_mut(idx as usize) {
            *n += 1;
        }
    }

    /// Total matches.
    pub fn matches(&self) -> u64 {
        self.rule_matches.iter().sum()
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
}
