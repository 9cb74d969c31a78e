//! Falco's alert token bucket (`outputs.rate` alerts per second, `outputs.max_burst`).
//!
//! The clock is a parameter so the behaviour is tested without sleeping.

/// A token bucket that starts full. `rate == 0` means unlimited (Falco's current default).
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    max: f64,
    tokens: f64,
    last_ns: u64,
}

impl TokenBucket {
    pub fn new(rate: f64, max_burst: u64, now_ns: u64) -> TokenBucket {
        TokenBucket {
            rate: rate.max(0.0),
            max: max_burst as f64,
            tokens: max_burst as f64,
            last_ns: now_ns,
        }
    }

    /// Takes one token if there is one at `now_ns`.
    pub fn claim(&mut self, now_ns: u64) -> bool {
        if self.rate == 0.0 {
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
    fn zero_rate_is_unlimited() {
        let mut b = TokenBucket::new(0.0, 0, 0);
        assert!((0..10_000).all(|_| b.claim(0)));
    }
}
