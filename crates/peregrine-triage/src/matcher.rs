//! Matchers on alerts, as silences write them: `KEY=VALUE`, where KEY is `rule`, `tags` (the
//! alert carries a matching tag), `priority`, `source` or any output field
//! (`k8s.ns.name`, `container.image.repository`), and VALUE is an exact string or, when it
//! holds `*`, `?` or `[`, a Falco glob (`*/backup`). `KEY!=VALUE` negates.
//!
//! Output fields are looked up among the alert's `output_fields` then its extra and static
//! fields: a field the rule's output does not print has no value, which only `!=` matches.

use peregrine_filter::compile::glob;
use peregrine_filter::format::OutputValue;
use peregrine_filter::priority::Priority;
use peregrine_outputs::Alert;

/// Longest accepted matcher text; longer is refused rather than stored.
pub const MAX_MATCHER_LEN: usize = 1024;

/// What a matcher compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Rule,
    Tags,
    Priority,
    Source,
    Field(String),
}

/// An exact value or a glob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    Exact(String),
    Glob(String),
}

impl Pattern {
    pub fn new(text: &str) -> Pattern {
        if text.contains(['*', '?', '[']) {
            Pattern::Glob(text.to_string())
        } else {
            Pattern::Exact(text.to_string())
        }
    }

    pub fn matches(&self, s: &str) -> bool {
        match self {
            Pattern::Exact(e) => e == s,
            Pattern::Glob(g) => glob(g, s),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Pattern::Exact(s) | Pattern::Glob(s) => s,
        }
    }
}

/// One `KEY=VALUE` (or `KEY!=VALUE`) test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matcher {
    pub target: Target,
    pub pattern: Pattern,
    pub negate: bool,
    /// `priority=`: the parsed priority (compared by value, so `info` and `Informational`
    /// are the same).
    priority: Option<Priority>,
}

impl Matcher {
    /// Parses `KEY=VALUE` / `KEY!=VALUE`; the error says what is wrong, for the caller to
    /// put next to the key path or in a 400 answer.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        if text.len() > MAX_MATCHER_LEN {
            return Err(format!("longer than {MAX_MATCHER_LEN} bytes"));
        }
        let Some(eq) = text.find('=') else {
            return Err("expected KEY=VALUE or KEY!=VALUE".into());
        };
        let (key, negate) = match text[..eq].strip_suffix('!') {
            Some(k) => (k, true),
            None => (&text[..eq], false),
        };
        let key = key.trim();
        let value = &text[eq + 1..];
        if key.is_empty() {
            return Err("the key before '=' is empty".into());
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the key holds white space or control characters".into());
        }
        let target = match key {
            "rule" => Target::Rule,
            "tags" | "tag" => Target::Tags,
            "priority" => Target::Priority,
            "source" => Target::Source,
            field => Target::Field(field.to_string()),
        };
        let mut priority = None;
        if target == Target::Priority {
            priority = Some(
                Priority::parse(value)
                    .ok_or_else(|| format!("unknown priority '{}'", crate::printable(value)))?,
            );
        }
        Ok(Matcher {
            target,
            pattern: Pattern::new(value),
            negate,
            priority,
        })
    }

    pub fn matches(&self, alert: &Alert) -> bool {
        let hit = match &self.target {
            Target::Rule => self.pattern.matches(&alert.rule),
            Target::Tags => alert.tags.iter().any(|t| self.pattern.matches(t)),
            Target::Priority => self.priority == Some(alert.priority),
            Target::Source => self.pattern.matches(&alert.source),
            Target::Field(f) => match raw_field(alert, f) {
                // The common case compares in place, with no copy per alert.
                Some(OutputValue::Str(v)) => self.pattern.matches(v),
                Some(v) => value_text(v).is_some_and(|v| self.pattern.matches(&v)),
                None => false,
            },
        };
        hit != self.negate
    }

    /// The matcher as it was written (normalised: no spaces around the key).
    pub fn text(&self) -> String {
        let key = match &self.target {
            Target::Rule => "rule",
            Target::Tags => "tags",
            Target::Priority => "priority",
            Target::Source => "source",
            Target::Field(f) => f,
        };
        let op = if self.negate { "!=" } else { "=" };
        format!("{key}{op}{}", self.pattern.as_str())
    }
}

/// The text of an output field of the alert (rule fields first, then extra/static fields);
/// `None` when the alert has no such field or its value is null.
pub fn field_value(alert: &Alert, field: &str) -> Option<String> {
    value_text(raw_field(alert, field)?)
}

fn raw_field<'a>(alert: &'a Alert, field: &str) -> Option<&'a OutputValue> {
    alert
        .output_fields
        .iter()
        .chain(&alert.extra_fields)
        .find(|(k, _)| k == field)
        .map(|(_, v)| v)
}

/// Appends the text of an output field to `out` (nothing when absent or null).
pub(crate) fn push_field_text(alert: &Alert, field: &str, out: &mut String) {
    match raw_field(alert, field) {
        Some(OutputValue::Str(s)) => out.push_str(s),
        Some(v) => out.push_str(&value_text(v).unwrap_or_default()),
        None => {}
    }
}

fn value_text(v: &OutputValue) -> Option<String> {
    Some(match v {
        OutputValue::Null => return None,
        OutputValue::Str(s) => s.clone(),
        OutputValue::Bool(b) => b.to_string(),
        OutputValue::Int(i) => i.to_string(),
        OutputValue::UInt(u) => u.to_string(),
        OutputValue::Double(d) => d.to_string(),
        other => {
            let mut s = String::new();
            other.write_json(&mut s);
            s
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        let mut a = Alert::new(1, "Write below etc", Priority::Error, "out");
        a.tags = vec!["filesystem".into(), "mitre_persistence".into()];
        a.output_fields = vec![
            ("k8s.ns.name".into(), OutputValue::Str("staging".into())),
            (
                "container.image.repository".into(),
                OutputValue::Str("registry.local/backup".into()),
            ),
            ("proc.pid".into(), OutputValue::Int(42)),
            ("fd.name".into(), OutputValue::Null),
        ];
        a.extra_fields = vec![("env".into(), OutputValue::Str("prod".into()))];
        a
    }

    fn m(s: &str) -> bool {
        Matcher::parse(s).expect(s).matches(&alert())
    }

    #[test]
    fn equality_and_globs() {
        assert!(m("rule=Write below etc"));
        assert!(m("rule=Write below *"));
        assert!(!m("rule=Write below"));
        assert!(m("k8s.ns.name=staging"));
        assert!(!m("k8s.ns.name=prod"));
        assert!(m("container.image.repository=*/backup"));
        assert!(!m("container.image.repository=*/web"));
        assert!(m("tags=mitre_*"));
        assert!(!m("tags=container"));
        assert!(m("priority=error") && m("priority=ERROR") && !m("priority=warning"));
        assert!(m("source=syscall"));
        assert!(m("proc.pid=42"));
        assert!(m("env=prod"), "static fields are fields too");
    }

    #[test]
    fn negation_and_missing_fields() {
        assert!(m("k8s.ns.name!=prod"));
        assert!(!m("k8s.ns.name!=staging"));
        assert!(!m("fd.name=*"), "a null value matches nothing");
        assert!(m("fd.name!=x"));
        assert!(!m("k8s.pod.name=*"));
        assert!(m("k8s.pod.name!=*"));
    }

    #[test]
    fn bad_matchers_say_why() {
        for (bad, why) in [
            ("rule", "KEY=VALUE"),
            ("=x", "empty"),
            ("priority=loud", "unknown priority"),
            ("a b=c", "white space"),
        ] {
            let e = Matcher::parse(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(Matcher::parse(&"x=".repeat(600)).is_err());
        assert_eq!(
            Matcher::parse(" rule != a*").expect("valid").text(),
            "rule!= a*"
        );
    }
}
