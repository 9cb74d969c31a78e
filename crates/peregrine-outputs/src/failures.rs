//! What an output's worker says about its failures in the agent's log: a failing output
//! (refused connection, HTTP 5xx, a full disk) must be visible while it fails, not only as a
//! count at exit.
//!
//! Key decision: one line at the first failure, then at most one per [`INTERVAL`] with how
//! many failures it stands for, and one line when the output delivers again. A dead endpoint
//! under an alert storm therefore costs one log line per 10 s, not one per alert. The causes
//! are escaped: they quote what a peer or the file system answered.

use std::time::{Duration, Instant};

/// Least time between two failure lines of one output.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// The failure state of one output.
#[derive(Debug, Default)]
pub(crate) struct FailureLog {
    /// When the last line was logged; `None` while the output works.
    last_logged: Option<Instant>,
    /// Failures since the last logged line (not logged themselves).
    suppressed: u64,
    /// Failures since the output last worked.
    failing_for: u64,
}

impl FailureLog {
    /// A failure of output `name`; the line to log now, if any.
    pub(crate) fn failed(&mut self, name: &str, cause: &str, now: Instant) -> Option<String> {
        self.failing_for += 1;
        let due = self
            .last_logged
            .is_none_or(|at| now.saturating_duration_since(at) >= INTERVAL);
        if !due {
            self.suppressed += 1;
            return None;
        }
        let cause = peregrine_filter::escape::terminal_safe(cause);
        let line = match std::mem::take(&mut self.suppressed) {
            0 => format!("Output {name} failed, alert lost: {cause}"),
            n => format!(
                "Output {name} failed, alert lost: {cause} ({n} more lost since the last report)"
            ),
        };
        self.last_logged = Some(now);
        Some(line)
    }

    /// A success of output `name`; a line when it had been failing.
    pub(crate) fn succeeded(&mut self, name: &str) -> Option<String> {
        self.last_logged.take()?;
        let failed = std::mem::take(&mut self.failing_for);
        self.suppressed = 0;
        Some(format!(
            "Output {name} delivers again ({failed} alerts lost while it failed)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_failure_at_once_then_one_line_per_interval_then_recovery() {
        let t0 = Instant::now();
        let mut log = FailureLog::default();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(
            log.failed("http", "refused\x1b[31m", at(0)).as_deref(),
            Some("Output http failed, alert lost: refused\\e[31m")
        );
        for s in 1..10 {
            assert_eq!(log.failed("http", "refused", at(s)), None);
        }
        assert_eq!(
            log.failed("http", "refused", at(10)).as_deref(),
            Some("Output http failed, alert lost: refused (9 more lost since the last report)")
        );
        assert_eq!(log.failed("http", "refused", at(11)), None);
        assert_eq!(
            log.succeeded("http").as_deref(),
            Some("Output http delivers again (12 alerts lost while it failed)")
        );
        // Working: nothing to say; a new failure is reported at once.
        assert_eq!(log.succeeded("http"), None);
        assert!(log.failed("http", "refused", at(12)).is_some());
    }
}
