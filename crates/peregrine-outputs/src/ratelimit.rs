//! Falco's alert token bucket (`outputs.rate` alerts per second, `outputs.max_burst`).
//!
//! The clock is a parameter so the behaviour is tested without sleeping.

/// A token bucket that starts full. `rate == 0` means unlimited (Falco's current default).
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    /// Falco's alert limiter treats a rate of 0 as "no limit"; its drop manager's bucket
    /// does not (0 means the burst is all there is).
    zero_is_unlimited: bool,
    max: f64,
    tokens: f64,
    last_ns: u64,
}

impl TokenBucket {
    pub fn new(rate: f64, max_burst: u64, now_ns: u64) -> TokenBucket {
        TokenBucket {
            rate: rate.max(0.0),
            zero_is_unlimited: true,
            max: max_burst as f64,
            tokens: max_burst as f64,
            last_ns: now_ns,
        }
    }

    /// A bucket of `max_burst` tokens (possibly fractional) gaining `rate` per second, full at
    /// any first claim whatever its clock: the clock starts at 0, as Falco's drop manager's
    /// bucket effectively does when it is fed event times older than its start. A rate of 0
    /// never refills.
    pub fn with_burst(rate: f64, max_burst: f64) -> TokenBucket {
        let max = if max_burst.is_finite() {
            max_burst.max(0.0)
        } else {
            0.0
        };
        TokenBucket {
            rate: if rate.is_finite() { rate.max(0.0) } else { 0.0 },
            zero_is_unlimited: false,
            max,
            tokens: max,
            last_ns: 0,
        }
    }

    /// Takes one token if there is one at `now_ns`.
    pub fn claim(&mut self, now_ns: u64) -> bool {
        if self.rate == 0.0 && self.zero_is_unlimited {
            return true;
        }
        let elapsed = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        self.last_ns = self.last_ns.max(now_ns);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.max);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let s = 1_000_000_000;
        let mut b = TokenBucket::new(2.0, 3, 10 * s);
        let got: Vec<bool> = (0..5).map(|_| b.claim(10 * s)).collect();
        assert_eq!(got, [true, true, true, false, false]);
        // Half a second at 2/s refills exactly one token.
        assert!(b.claim(10 * s + s / 2));
        assert!(!b.claim(10 * s + s / 2));
        // A long pause refills only up to the burst.
        let got: Vec<bool> = (0..4).map(|_| b.claim(100 * s)).collect();
        assert_eq!(got, [true, true, true, false]);
        // A clock going backwards grants nothing.
        assert!(!b.claim(50 * s));
    }

    #[test]
    fn burst_buckets() {
        let s = 1_000_000_000;
        // Full at the first claim, even far from the clock's start; fractional bursts.
        let mut b = TokenBucket::with_burst(1.0, 2.5);
        let got: Vec<bool> = (0..3).map(|_| b.claim(1_470_000_000 * s)).collect();
        assert_eq!(got, [true, true, false]);
        // A rate of 0 is not "unlimited" here: the burst is all there is.
        let mut z = TokenBucket::with_burst(0.0, 1.0);
        assert_eq!([z.claim(s), z.claim(100 * s)], [true, false]);
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let mut b = TokenBucket::new(0.0, 0, 0);
        assert!((0..10_000).all(|_| b.claim(0)));
    }
}
