//! The one place where the binary calls the library crates (condition parser, field catalogue,
//! rules loader).
//!
//! Key design decision: the commands in `main.rs` speak only the small types defined here, so
//! the libraries can change their APIs (and did, while they were being written in parallel)
//! with edits confined to this file. The cost is a little copying of rule metadata.

use crate::config::{Priority, RuleSelection, Selector};
use serde_json::Value;

/// A feature the linked libraries do not provide yet.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{0} is not available in this build yet")]
    Unavailable(&'static str),
}

/// One rules file to load: the name shown in results and its text.
#[derive(Clone, Debug)]
#[expect(dead_code, reason = "read once the rules loader lands")]
pub struct RulesInput {
    pub name: String,
    pub content: String,
}

/// Rule metadata the binary shows.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleInfo {
    pub name: String,
    pub desc: String,
    pub priority: Priority,
    pub source: String,
    pub tags: Vec<String>,
    pub enabled: bool,
}

/// The outcome of loading rules files, as Falco reports it.
pub struct Loaded {
    /// No file had an error.
    pub successful: bool,
    pub has_warnings: bool,
    /// Falco's `-V` text for all files.
    pub text: String,
    /// Falco's `{"falco_load_results": [...]}`.
    pub json: Value,
    /// The rules in definition order.
    pub rules: Vec<RuleInfo>,
}

/// `render(parse(expr))`, or the parse error as Falco words it.
pub fn parse_condition(expr: &str) -> Result<Result<String, String>, BackendError> {
    use peregrine_filter::{parser, render};
    Ok(match parser::parse(expr) {
        Ok(ast) => Ok(render::render(&ast)),
        Err(e) => Err(format!(
            "{} (at line {}, column {})",
            e.message, e.pos.line, e.pos.col
        )),
    })
}

/// Loads the inputs in order, as one rule set.
pub fn load(inputs: &[RulesInput]) -> Result<Loaded, BackendError> {
    let _ = inputs;
    Err(BackendError::Unavailable("the rules loader"))
}

/// Falco's describe JSON for one rule (`-l`).
pub fn describe(inputs: &[RulesInput], rule: &str) -> Result<Value, BackendError> {
    let _ = (inputs, rule);
    Err(BackendError::Unavailable("rule description"))
}

/// Applies the `rules:` selections and the minimum priority to the rules' enabled flags, in
/// Falco's order: selections in sequence, then rules below `min` are dropped.
pub fn apply_selection(rules: &mut [RuleInfo], selections: &[RuleSelection], min: Priority) {
    for sel in selections {
        let (enable, selector) = match sel {
            RuleSelection::Enable(s) => (true, s),
            RuleSelection::Disable(s) => (false, s),
        };
        for rule in rules.iter_mut() {
            let hit = match selector {
                Selector::Rule(pattern) => wildcard_match(pattern, &rule.name),
                Selector::Tag(tag) => rule.tags.iter().any(|t| t == tag),
            };
            if hit {
                rule.enabled = enable;
            }
        }
    }
    for rule in rules.iter_mut() {
        if rule.priority > min {
            rule.enabled = false;
        }
    }
}

/// `*` matches any run of characters; everything else is literal (Falco's rule-name patterns).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// One field of the catalogue, as `--list` prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldEntry {
    pub name: &'static str,
    pub ty: &'static str,
    pub desc: &'static str,
    pub filter_only: bool,
}

/// A field class (`evt`, `process`, `fd`, …) and its fields.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldClass {
    pub name: &'static str,
    pub desc: &'static str,
    pub source: &'static str,
    pub fields: Vec<FieldEntry>,
}

/// The field catalogue grouped by class, in catalogue order; deprecated fields are left out,
/// as `falco --list` leaves them out.
pub fn field_classes() -> Vec<FieldClass> {
    use peregrine_filter::fields::CLASSES;
    CLASSES
        .iter()
        .map(|c| FieldClass {
            name: c.name,
            desc: c.desc,
            source: c.source,
            fields: c
                .fields()
                .filter(|f| !f.flags.deprecated)
                .map(|f| FieldEntry {
                    name: f.name,
                    ty: f.ty.name(),
                    desc: f.desc,
                    filter_only: f.flags.filter_only,
                })
                .collect(),
        })
        .filter(|c| !c.fields.is_empty())
        .collect()
}

/// `falco --list` text layout for the whole catalogue (`verbose` adds field types).
pub fn fields_text(verbose: bool) -> String {
    let mut out = String::new();
    peregrine_filter::fields::write_list(&mut out, verbose, false);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_falco_rule_patterns() {
        for (pattern, text, expected) in [
            ("*", "anything", true),
            ("*", "", true),
            ("Write below *", "Write below etc", true),
            ("Write below *", "Read below etc", false),
            ("*shell*", "Terminal shell in container", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(
                wildcard_match(pattern, text),
                expected,
                "{pattern} vs {text}"
            );
        }
    }

    fn rule(name: &str, priority: Priority, tags: &[&str]) -> RuleInfo {
        RuleInfo {
            name: name.into(),
            desc: String::new(),
            priority,
            source: "syscall".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            enabled: true,
        }
    }

    #[test]
    fn selections_apply_in_order_then_priority() {
        let mut rules = vec![
            rule("a", Priority::Critical, &["network"]),
            rule("b", Priority::Warning, &["network"]),
            rule("c", Priority::Error, &["host"]),
        ];
        apply_selection(
            &mut rules,
            &[
                RuleSelection::Disable(Selector::Rule("*".into())),
                RuleSelection::Enable(Selector::Tag("network".into())),
            ],
            Priority::Error,
        );
        let enabled: Vec<_> = rules
            .iter()
            .filter(|r| r.enabled)
            .map(|r| &r.name)
            .collect();
        assert_eq!(enabled, ["a"]);
    }
}
