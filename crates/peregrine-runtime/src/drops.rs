//! Falco's `syscall_event_drops`: watching the kernel's loss counters and acting on them.
//!
//! Falco's regression suite and its users rely on the exact behaviour, so this follows
//! Falco's drop manager rather than inventing a policy: the check runs at most once per second
//! of *event* time (the first event more than a second after the previous check), compares
//! the drops of that interval with its events, and above `threshold` counts an occurrence and,
//! if a token bucket (`rate`, `max_burst`) allows, runs the actions: `log` (a debug line),
//! `alert` (the `Falco internal: syscall event drop` notification with Falco's fields),
//! `exit`. `simulate_drops` adds one drop per check with a threshold of 0, which is how
//! Falco's tests drive all of this from a capture file.
//!
//! The monitor is a plain state machine fed with timestamps and counter snapshots, so replay,
//! the live agent and the unit tests drive the same code.

use peregrine_outputs::ratelimit::TokenBucket;
use peregrine_outputs::{Alert, OutputValue, Priority, INTERNAL_SOURCE};

use peregrine_config::{DropAction, EventDrops};

/// Falco's rule name (and message prefix) for the drop notification.
pub const DROP_RULE: &str = "Falco internal: syscall event drop";

const ONE_SECOND_NS: u64 = 1_000_000_000;

/// Cumulative capture counters, in Falco's terms (`scap_stats`). Buffer-full drops by
/// syscall family are those the capture distinguishes; the others stay 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropStats {
    /// Events the kernel side handled, drops included.
    pub n_evts: u64,
    /// Every drop, whatever the cause.
    pub n_drops: u64,
    pub n_drops_buffer: u64,
    pub n_drops_buffer_clone_fork_exit: u64,
    pub n_drops_buffer_execve_exit: u64,
    pub n_drops_buffer_connect_exit: u64,
    pub n_drops_buffer_open_exit: u64,
    pub n_drops_buffer_dir_file_exit: u64,
    pub n_drops_buffer_other_interest_exit: u64,
    pub n_drops_buffer_close_exit: u64,
    pub n_drops_buffer_proc_exit: u64,
    pub n_drops_scratch_map: u64,
    pub n_drops_pf: u64,
    pub n_drops_bug: u64,
}

impl DropStats {
    /// The counters as Falco's alert names them, in one place for `delta` and the alert.
    fn named(&self) -> [(&'static str, u64); 14] {
        [
            ("n_evts", self.n_evts),
            ("n_drops", self.n_drops),
            ("n_drops_buffer_total", self.n_drops_buffer),
            (
                "n_drops_buffer_clone_fork_exit",
                self.n_drops_buffer_clone_fork_exit,
            ),
            (
                "n_drops_buffer_execve_exit",
                self.n_drops_buffer_execve_exit,
            ),
            (
                "n_drops_buffer_connect_exit",
                self.n_drops_buffer_connect_exit,
            ),
            ("n_drops_buffer_open_exit", self.n_drops_buffer_open_exit),
            (
                "n_drops_buffer_dir_file_exit",
                self.n_drops_buffer_dir_file_exit,
            ),
            (
                "n_drops_buffer_other_interest_exit",
                self.n_drops_buffer_other_interest_exit,
            ),
            ("n_drops_buffer_close_exit", self.n_drops_buffer_close_exit),
            ("n_drops_buffer_proc_exit", self.n_drops_buffer_proc_exit),
            ("n_drops_scratch_map", self.n_drops_scratch_map),
            ("n_drops_page_faults", self.n_drops_pf),
            ("n_drops_bug", self.n_drops_bug),
        ]
    }

    /// `self - earlier`, counter by counter (a counter that went back counts as 0).
    fn since(&self, earlier: &DropStats) -> DropStats {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        DropStats {
            n_evts: d(self.n_evts, earlier.n_evts),
            n_drops: d(self.n_drops, earlier.n_drops),
            n_drops_buffer: d(self.n_drops_buffer, earlier.n_drops_buffer),
            n_drops_buffer_clone_fork_exit: d(
                self.n_drops_buffer_clone_fork_exit,
                earlier.n_drops_buffer_clone_fork_exit,
            ),
            n_drops_buffer_execve_exit: d(
                self.n_drops_buffer_execve_exit,
                earlier.n_drops_buffer_execve_exit,
            ),
            n_drops_buffer_connect_exit: d(
                self.n_drops_buffer_connect_exit,
                earlier.n_drops_buffer_connect_exit,
            ),
            n_drops_buffer_open_exit: d(
                self.n_drops_buffer_open_exit,
                earlier.n_drops_buffer_open_exit,
            ),
            n_drops_buffer_dir_file_exit: d(
                self.n_drops_buffer_dir_file_exit,
                earlier.n_drops_buffer_dir_file_exit,
            ),
            n_drops_buffer_other_interest_exit: d(
                self.n_drops_buffer_other_interest_exit,
                earlier.n_drops_buffer_other_interest_exit,
            ),
            n_drops_buffer_close_exit: d(
                self.n_drops_buffer_close_exit,
                earlier.n_drops_buffer_close_exit,
            ),
            n_drops_buffer_proc_exit: d(
                self.n_drops_buffer_proc_exit,
                earlier.n_drops_buffer_proc_exit,
            ),
            n_drops_scratch_map: d(self.n_drops_scratch_map, earlier.n_drops_scratch_map),
            n_drops_pf: d(self.n_drops_pf, earlier.n_drops_pf),
            n_drops_bug: d(self.n_drops_bug, earlier.n_drops_bug),
        }
    }
}

/// What one check asks of the caller. The monitor has no outputs or logger of its own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Actions {
    /// Debug-level log lines (`log`).
    pub log: Vec<String>,
    /// The notification to send (`alert`), without static fields.
    pub alert: Option<Alert>,
    /// Critical log lines, after which the agent stops with an error (`exit`).
    pub exit: Vec<String>,
}

/// Falco's drop manager. See the module documentation.
#[derive(Clone, Debug)]
pub struct DropMonitor {
    actions: Vec<DropAction>,
    threshold: f64,
    simulate: bool,
    /// Whether the counters come from an eBPF capture (the alert's `ebpf_enabled`).
    ebpf: bool,
    bucket: TokenBucket,
    /// Event time after which the next check runs; 0 until the first event.
    next_check_ns: u64,
    last: DropStats,
    /// Checks that found drops above the threshold (Falco's "event drop detected").
    detected: u64,
    /// Of those, the ones the token bucket let through ("num times actions taken").
    taken: u64,
}

impl DropMonitor {
    /// A monitor whose first interval starts from `initial` counters.
    pub fn new(config: &EventDrops, initial: DropStats, ebpf: bool) -> DropMonitor {
        DropMonitor {
            actions: config.actions.clone(),
            threshold: if config.simulate_drops {
                0.0
            } else {
                config.threshold
            },
            simulate: config.simulate_drops,
            ebpf,
            bucket: TokenBucket::with_burst(config.rate, config.max_burst),
            next_check_ns: 0,
            last: initial,
            detected: 0,
            taken: 0,
        }
    }

    /// Notes an event at `ts_ns`; true when a check is due now (call [`DropMonitor::check`]
    /// with the current counters). The first event starts the clock.
    pub fn tick(&mut self, ts_ns: u64) -> bool {
        if self.next_check_ns == 0 {
            self.next_check_ns = ts_ns.saturating_add(ONE_SECOND_NS);
            return false;
        }
        if ts_ns <= self.next_check_ns {
            return false;
        }
        self.next_check_ns = ts_ns.saturating_add(ONE_SECOND_NS);
        true
    }

    /// Compares `now` with the previous check's counters; returns what to do, if anything.
    pub fn check(&mut self, ts_ns: u64, now: DropStats) -> Option<Actions> {
        let mut delta = now.since(&self.last);
        self.last = now;
        let mut actions = Actions::default();
        if self.simulate {
            log::info!("Simulating syscall event drop");
            delta.n_drops += 1;
        }
        if delta.n_drops == 0 {
            return None;
        }
        // Falco divides by the events of the interval, which include the drops; with none
        // counted the ratio is infinite, i.e. above any threshold.
        let ratio = delta.n_drops as f64 / delta.n_evts as f64;
        if ratio.is_nan() || ratio <= self.threshold {
            return None;
        }
        self.detected += 1;
        if !self.bucket.claim(ts_ns) {
            log::debug!("Syscall event drop but token bucket depleted, skipping actions");
            return None;
        }
        self.taken += 1;
        let message = format!(
            "{DROP_RULE}. {} system calls dropped in last second.",
            delta.n_drops
        );
        for action in &self.actions {
            match action {
                DropAction::Ignore => {}
                DropAction::Log => actions.log.push(message.clone()),
                DropAction::Alert => actions.alert = Some(self.alert(ts_ns, &message, &delta)),
                DropAction::Exit => {
                    actions.exit.push(message.clone());
                    actions.exit.push("Exiting.".into());
                }
            }
        }
        Some(actions)
    }

    /// [`DropMonitor::tick`] then, when due, [`DropMonitor::check`] with `stats()`.
    pub fn on_event(&mut self, ts_ns: u64, stats: impl FnOnce() -> DropStats) -> Option<Actions> {
        if self.tick(ts_ns) {
            self.check(ts_ns, stats())
        } else {
            None
        }
    }

    /// Falco's notification: every counter of the interval as a string, and `ebpf_enabled`.
    fn alert(&self, ts_ns: u64, message: &str, delta: &DropStats) -> Alert {
        let mut alert = Alert::new(ts_ns, DROP_RULE, Priority::Debug, message);
        alert.source = INTERNAL_SOURCE.to_string();
        alert.output_fields = delta
            .named()
            .iter()
            .map(|(k, v)| (k.to_string(), OutputValue::Str(v.to_string())))
            .chain([(
                "ebpf_enabled".to_string(),
                OutputValue::Str(u8::from(self.ebpf).to_string()),
            )])
            .collect();
        alert
    }

    /// Falco's end-of-run summary lines (printed on stderr).
    pub fn summary(&self) -> String {
        format!(
            "Syscall event drop monitoring:\n   - event drop detected: {} occurrences\n   - num times actions taken: {}\n",
            self.detected, self.taken
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = ONE_SECOND_NS;

    fn config(actions: &[DropAction], simulate: bool) -> EventDrops {
        EventDrops {
            threshold: 0.1,
            actions: actions.to_vec(),
            rate: 0.03333,
            max_burst: 10.0,
            simulate_drops: simulate,
        }
    }

    fn stats(n_evts: u64, n_drops: u64) -> DropStats {
        DropStats {
            n_evts,
            n_drops,
            n_drops_buffer: n_drops,
            ..DropStats::default()
        }
    }

    /// The check runs at the first event more than a second after the previous one, on
    /// event time; the first event only starts the clock.
    #[test]
    fn checks_once_per_second_of_event_time() {
        let mut m = DropMonitor::new(&config(&[DropAction::Log], false), stats(0, 0), true);
        let due: Vec<bool> = [
            10 * S,
            10 * S + 1,
            11 * S,
            11 * S + 1,
            11 * S + 2,
            12 * S + 1,
            13 * S,
        ]
        .iter()
        .map(|&t| m.tick(t))
        .collect();
        assert_eq!(due, [false, false, false, true, false, false, true]);
        // The next check is a second after the last one (13 s), not on a fixed grid.
        assert!(!m.tick(14 * S));
        assert!(m.tick(14 * S + 1));
    }

    /// Threshold on the interval's own counters, occurrences counted even when the bucket
    /// refuses the actions, actions in Falco's order with Falco's texts.
    #[test]
    fn threshold_bucket_and_actions() {
        let mut cfg = config(
            &[DropAction::Log, DropAction::Alert, DropAction::Exit],
            false,
        );
        cfg.max_burst = 1.0;
        cfg.rate = 1.0;
        let mut m = DropMonitor::new(&cfg, stats(1000, 0), false);
        // (time, cumulative events, cumulative drops, occurrence, actions taken)
        let steps = [
            (1, 2000, 50, false, false),  // 50 of 1000: 5 %, under 10 %
            (2, 3000, 300, true, true),   // 250 of 1000
            (3, 4000, 600, true, true),   // a second later: one token again
            (3, 5000, 900, true, false),  // same instant: the bucket is empty
            (4, 6000, 900, false, false), // no new drops
        ];
        let mut detected = 0;
        for (t, evts, drops, occurs, acts) in steps {
            let got = m.check(t * S, stats(evts, drops));
            detected += u64::from(occurs);
            assert_eq!(got.is_some(), acts, "t={t}");
            assert_eq!(m.detected, detected, "t={t}");
            if let Some(a) = got {
                let n = drops
                    - match t {
                        2 => 50,
                        _ => 300,
                    };
                let msg = format!(
                    "Falco internal: syscall event drop. {n} system calls dropped in last second."
                );
                assert_eq!(a.log, std::slice::from_ref(&msg));
                assert_eq!(a.exit, [msg.clone(), "Exiting.".to_string()]);
                let alert = a.alert.expect("alert action");
                assert_eq!(
                    (alert.rule.as_str(), alert.priority, alert.source.as_str()),
                    (DROP_RULE, Priority::Debug, INTERNAL_SOURCE)
                );
                assert_eq!(alert.output, msg);
                assert_eq!(alert.time_ns, t * S);
                let field = |k: &str| {
                    alert
                        .output_fields
                        .iter()
                        .find(|(name, _)| name == k)
                        .map(|(_, v)| v.clone())
                };
                assert_eq!(field("n_drops"), Some(OutputValue::Str(n.to_string())));
                assert_eq!(
                    field("n_drops_buffer_total"),
                    Some(OutputValue::Str(n.to_string()))
                );
                assert_eq!(field("n_evts"), Some(OutputValue::Str("1000".into())));
                assert_eq!(field("ebpf_enabled"), Some(OutputValue::Str("0".into())));
                assert_eq!(alert.output_fields.len(), 15);
            }
        }
        assert_eq!((m.detected, m.taken), (3, 2));
        assert_eq!(
            m.summary(),
            "Syscall event drop monitoring:\n   - event drop detected: 3 occurrences\n   - num times actions taken: 2\n"
        );
    }

    /// `simulate_drops`: every due check finds one drop, even with no counters at all
    /// (replay), and `ignore` still counts the actions as taken, as Falco does.
    #[test]
    fn simulated_drops_with_ignore() {
        let mut m = DropMonitor::new(&config(&[DropAction::Ignore], true), stats(0, 0), false);
        let mut results = Vec::new();
        for t in 0..12u64 {
            results.push(m.on_event(100 * S + t * S + 1, || stats(0, 0)));
        }
        // The first event starts the clock; a check is due every 1 s + 1 ns after that.
        let taken = results.iter().filter(|r| r.is_some()).count();
        assert_eq!(taken as u64, m.taken);
        assert!(results.iter().flatten().all(|a| *a == Actions::default()));
        assert_eq!((m.detected, m.taken), (5, 5));
    }
}
