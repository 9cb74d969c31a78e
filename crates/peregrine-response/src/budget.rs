//! Budgets of actions per minute and the circuit breaker they trip.
//!
//! Key decision: a sliding window of the last minute's action times (at most `limit` of
//! them are kept, so memory is bounded by the budget). When the window is full the breaker
//! opens: every further action is refused until the oldest one leaves the window, and the
//! opening is reported once (the caller logs and counts it), not once per refused action.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// What [`Budget::take`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    Granted,
    /// Refused; `tripped` is true for the first refusal since the breaker was last closed.
    Refused {
        tripped: bool,
    },
}

#[derive(Clone, Debug)]
pub struct Budget {
    limit: u32,
    times: VecDeque<Instant>,
    open: bool,
}

impl Budget {
    /// `limit` actions per minute; 0 refuses everything.
    pub fn per_minute(limit: u32) -> Budget {
        Budget {
            limit,
            times: VecDeque::new(),
            open: false,
        }
    }

    fn expire(&mut self, now: Instant) {
        while self
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.times.pop_front();
        }
    }

    /// Whether an action may run now, without spending the budget.
    pub fn check(&mut self, now: Instant) -> Take {
        self.expire(now);
        if self.times.len() < self.limit as usize {
            self.open = false;
            return Take::Granted;
        }
        let tripped = !self.open;
        self.open = true;
        Take::Refused { tripped }
    }

    /// Records one action at `now`.
    pub fn spend(&mut self, now: Instant) {
        self.times.push_back(now);
    }

    /// `check`, then `spend` when granted.
    pub fn take(&mut self, now: Instant) -> Take {
        let t = self.check(now);
        if t == Take::Granted {
            self.spend(now);
        }
        t
    }

    pub fn is_open(&self) -> bool {
        self.open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_trips_once_and_closes_when_the_window_moves_on() {
        let t0 = Instant::now();
        let mut b = Budget::per_minute(2);
        assert_eq!(b.take(t0), Take::Granted);
        assert_eq!(b.take(t0 + Duration::from_secs(1)), Take::Granted);
        assert_eq!(
            b.take(t0 + Duration::from_secs(2)),
            Take::Refused { tripped: true }
        );
        assert_eq!(
            b.take(t0 + Duration::from_secs(3)),
            Take::Refused { tripped: false }
        );
        assert!(b.is_open());
        // The first action leaves the window: one more fits.
        assert_eq!(b.take(t0 + Duration::from_secs(60)), Take::Granted);
        assert!(!b.is_open());
        assert_eq!(
            b.take(t0 + Duration::from_secs(60)),
            Take::Refused { tripped: true }
        );
    }

    #[test]
    fn check_does_not_spend_and_zero_refuses() {
        let t0 = Instant::now();
        let mut b = Budget::per_minute(1);
        assert_eq!(b.check(t0), Take::Granted);
        assert_eq!(b.check(t0), Take::Granted);
        assert_eq!(
            Budget::per_minute(0).take(t0),
            Take::Refused { tripped: true }
        );
    }
}
