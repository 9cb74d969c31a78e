//! Output routing (Peregrine extension): which alerts an output takes, from its `match`
//! block — a priority range, rule names or globs, tags and sources — so that critical alerts
//! can page while the rest go to a ticket queue. Falco's outputs take every alert; the
//! per-output `min_priority` Peregrine already had is the range's lower end.
//!
//! Key decision: a route is evaluated on the enqueuing thread, before the alert is queued,
//! so an alert an output does not want costs it neither queue space nor a format. Every
//! criterion is a list that passes when it is empty or when any of its items matches, and
//! the criteria combine with AND. Rule patterns use Falco's `glob` syntax (one matcher
//! shared with silences and dedup overrides).

use crate::alert::Alert;
use peregrine_filter::compile::glob;
use peregrine_filter::priority::Priority;

/// Which alerts one output takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// The least severe priority taken (`min_priority`): an alert must be this severe or more.
    pub min_priority: Option<Priority>,
    /// The most severe priority taken (`max_priority`): an alert must be this severe or less.
    pub max_priority: Option<Priority>,
    /// Rule names or globs (`Write below *`).
    pub rules: Vec<String>,
    /// The alert must carry at least one of these tags.
    pub tags: Vec<String>,
    /// Event sources (`syscall`, `internal`).
    pub sources: Vec<String>,
}

impl Route {
    /// True when every criterion takes the alert (an empty route takes everything).
    pub fn accepts(&self, alert: &Alert) -> bool {
        // Priorities order most severe first: a larger value is less severe.
        if self.min_priority.is_some_and(|min| alert.priority > min)
            || self.max_priority.is_some_and(|max| alert.priority < max)
        {
            return false;
        }
        (self.rules.is_empty() || self.rules.iter().any(|p| glob(p, &alert.rule)))
            && (self.tags.is_empty() || alert.tags.iter().any(|t| self.tags.contains(t)))
            && (self.sources.is_empty() || self.sources.contains(&alert.source))
    }

    /// True for the route that takes every alert (nothing to check per alert).
    pub fn is_empty(&self) -> bool {
        *self == Route::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(rule: &str, p: Priority, tags: &[&str], source: &str) -> Alert {
        let mut a = Alert::new(1, rule, p, "out");
        a.tags = tags.iter().map(|t| t.to_string()).collect();
        a.source = source.into();
        a
    }

    #[test]
    fn priority_range_is_inclusive() {
        let r = Route {
            min_priority: Some(Priority::Error),
            max_priority: Some(Priority::Critical),
            ..Route::default()
        };
        let take = |p| r.accepts(&alert("r", p, &[], "syscall"));
        assert!(!take(Priority::Alert));
        assert!(take(Priority::Critical));
        assert!(take(Priority::Error));
        assert!(!take(Priority::Warning));
    }

    #[test]
    fn lists_match_any_and_criteria_combine() {
        let r = Route {
            rules: vec!["Write below *".into(), "Terminal shell in container".into()],
            tags: vec!["mitre_persistence".into(), "host".into()],
            sources: vec!["syscall".into()],
            ..Route::default()
        };
        assert!(r.accepts(&alert(
            "Write below etc",
            Priority::Error,
            &["host"],
            "syscall"
        )));
        assert!(r.accepts(&alert(
            "Terminal shell in container",
            Priority::Notice,
            &["container", "mitre_persistence"],
            "syscall"
        )));
        // Each criterion alone refuses.
        assert!(!r.accepts(&alert(
            "Read sensitive file",
            Priority::Error,
            &["host"],
            "syscall"
        )));
        assert!(!r.accepts(&alert(
            "Write below etc",
            Priority::Error,
            &["container"],
            "syscall"
        )));
        assert!(!r.accepts(&alert(
            "Write below etc",
            Priority::Error,
            &["host"],
            "k8s_audit"
        )));
        assert!(Route::default().accepts(&alert("x", Priority::Debug, &[], "internal")));
    }
}
