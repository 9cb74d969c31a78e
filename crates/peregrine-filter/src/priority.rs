//! Falco's rule priorities (`priority_type`): what a rule declares, what `priority:` in
//! falco.yaml filters on and what alerts and syslog severities carry.
//!
//! Key decision: the type lives here, in the condition-language crate, because both the rules
//! loader and the outputs need it and the outputs must not depend on the rules loader just
//! for an enum. The cost is a module that has nothing to do with conditions; the rules crate
//! re-exports it (`peregrine_rules::Priority`, `peregrine_rules::info::Priority`).

/// A rule's priority (Falco's `priority_type`, most severe first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Informational,
    Debug,
}

impl Priority {
    /// Every priority, most severe first.
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];

    /// Parses every spelling Falco accepts, case-insensitively (`INFO` and `INFORMATIONAL`).
    pub fn parse(s: &str) -> Option<Priority> {
        let l = s.trim().to_ascii_lowercase();
        Some(match l.as_str() {
            "emergency" => Priority::Emergency,
            "alert" => Priority::Alert,
            "critical" => Priority::Critical,
            "error" => Priority::Error,
            "warning" => Priority::Warning,
            "notice" => Priority::Notice,
            "info" | "informational" => Priority::Informational,
            "debug" => Priority::Debug,
            _ => return None,
        })
    }

    /// Falco's canonical name (`format_priority`, as in `-l` and alerts' `priority`).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_priority_spelling() {
        let cases = [
            ("EMERGENCY", Priority::Emergency),
            ("alert", Priority::Alert),
            ("Critical", Priority::Critical),
            ("ERROR", Priority::Error),
            ("warning", Priority::Warning),
            ("NOTICE", Priority::Notice),
            ("INFO", Priority::Informational),
            ("informational", Priority::Informational),
            ("debug", Priority::Debug),
        ];
        for (s, p) in cases {
            assert_eq!(Priority::parse(s), Some(p), "{s}");
        }
        assert_eq!(Priority::parse("WARN"), None);
        assert_eq!(Priority::parse(""), None);
    }
}
