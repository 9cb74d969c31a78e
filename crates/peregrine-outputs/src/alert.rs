//! The alert a rule match produces, as the outputs see it: everything already extracted, so
//! formatting and delivery never touch the event or the process state again.

use peregrine_filter::format::OutputValue;
use peregrine_filter::priority::Priority;

/// One rule match, ready to be formatted.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Event time, nanoseconds since the Unix epoch.
    pub time_ns: u64,
    pub rule: String,
    pub priority: Priority,
    /// The event source (`syscall`).
    pub source: String,
    /// See [`hostname`].
    pub hostname: String,
    /// The rule's tags. Falco keeps them in a `std::set`, so they print sorted and unique
    /// whatever order they are given in.
    pub tags: Vec<String>,
    /// The rule output rendered for the event (plus any `append_output` `extra_output`),
    /// without the time and priority prefix.
    pub output: String,
    /// The values of the output's fields, keyed as Falco keys `output_fields`.
    pub output_fields: Vec<(String, OutputValue)>,
    /// `append_output` `extra_fields` and static fields: they join `output_fields` in the
    /// JSON (and win over a rule field of the same name, as in Falco).
    pub extra_fields: Vec<(String, OutputValue)>,
}

impl Alert {
    /// An alert with no tags and no fields, for sources that have nothing else to say.
    pub fn new(time_ns: u64, rule: &str, priority: Priority, output: &str) -> Alert {
        Alert {
            time_ns,
            rule: rule.to_string(),
            priority,
            source: "syscall".to_string(),
            hostname: hostname(),
            tags: Vec::new(),
            output: output.to_string(),
            output_fields: Vec::new(),
            extra_fields: Vec::new(),
        }
    }
}

/// The host name Falco puts in alerts: `FALCO_HOSTNAME` when set and not empty, else the
/// kernel's host name (read from procfs rather than through `gethostname`, so this crate
/// needs no `unsafe`).
pub fn hostname() -> String {
    hostname_from(std::env::var("FALCO_HOSTNAME").ok())
}

fn hostname_from(env: Option<String>) -> String {
    if let Some(h) = env.filter(|h| !h.is_empty()) {
        return h;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// Syslog severity of a priority: Falco's priorities are numbered like syslog levels.
pub fn syslog_severity(p: Priority) -> u8 {
    match p {
        Priority::Emergency => 0,
        Priority::Alert => 1,
        Priority::Critical => 2,
        Priority::Error => 3,
        Priority::Warning => 4,
        Priority::Notice => 5,
        Priority::Informational => 6,
        Priority::Debug => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_hostname_wins_unless_empty() {
        assert_eq!(hostname_from(Some("edge-7".into())), "edge-7");
        let kernel = hostname_from(None);
        assert!(!kernel.is_empty() && !kernel.ends_with('\n'));
        assert_eq!(hostname_from(Some(String::new())), kernel);
    }

    #[test]
    fn severities_follow_priority_order() {
        for (i, p) in Priority::ALL.iter().enumerate() {
            assert_eq!(usize::from(syslog_severity(*p)), i);
        }
    }
}
