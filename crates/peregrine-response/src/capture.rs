//! The `capture` action: the events around an alert, written to a scap file.
//!
//! Key decision: the events are on the pipeline thread (the agent's recorder keeps the
//! rolling window Falco's rule-triggered capture uses), not on the response worker, so the
//! request is made where the alert is matched ([`crate::Responder::on_alert`]) and the agent
//! hands it to its recorder right after the event ([`crate::Responder::take_captures`]); the
//! worker only audits it, with the file's path. A capture touches no process, so it passes no
//! safety guard and spends no budget; in dry run no file is written. What bounds it: one file
//! per matched alert and policy, at most `max_bytes`, `seconds_after` of at most
//! [`MAX_AFTER_SECS`].

use std::path::PathBuf;
use std::time::Duration;

/// The longest look back a policy may ask for (the recorder's window keeps the largest
/// `seconds_before` of the policies loaded at start).
pub const MAX_BEFORE_SECS: u64 = 60;
/// The longest capture after the alert.
pub const MAX_AFTER_SECS: u64 = 600;
/// Where captures go unless the policy says otherwise.
pub const DEFAULT_DIRECTORY: &str = "/var/lib/peregrine/captures";

/// A `capture` action's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Events this long before the alert's event.
    pub before: Duration,
    /// And this long after it.
    pub after: Duration,
    pub directory: PathBuf,
    /// The file stops growing at this size (the events of the window first).
    pub max_bytes: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            before: Duration::from_secs(5),
            after: Duration::from_secs(5),
            directory: PathBuf::from(DEFAULT_DIRECTORY),
            max_bytes: 64 << 20,
        }
    }
}

/// A capture the recorder is asked to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub path: PathBuf,
    /// The alert's event time (ns since the epoch).
    pub event_ns: u64,
    pub before_ns: u64,
    pub after_ns: u64,
    pub max_bytes: u64,
}

/// File-name-safe form of a policy name.
fn safe_name(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Request {
    /// The request for `policy`'s capture of the event at `event_ns`:
    /// `DIRECTORY/peregrine_POLICY_EVENTNS.scap`.
    pub fn new(p: &Params, policy: &str, event_ns: u64) -> Request {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Request {
            path: p
                .directory
                .join(format!("peregrine_{}_{event_ns}.scap", safe_name(policy))),
            event_ns,
            before_ns: nanos(p.before),
            after_ns: nanos(p.after),
            max_bytes: p.max_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_is_safe_and_unique_per_event() {
        let r = Request::new(&Params::default(), "../capture me/now", 42);
        assert_eq!(
            r.path,
            PathBuf::from("/var/lib/peregrine/captures/peregrine____capture_me_now_42.scap")
        );
        assert_eq!((r.before_ns, r.after_ns), (5_000_000_000, 5_000_000_000));
    }
}
