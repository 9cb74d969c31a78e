//! Destination templates shared by the message-bus outputs (NATS subjects, MQTT topics):
//! `{priority}` becomes the alert's priority in lower case and `{rule}` its rule name as one
//! token, so an alert's fields can choose where it goes but never add levels to the name.

use peregrine_filter::priority::Priority;

/// `template` filled in for the alert whose JSON line is `line`.
pub(crate) fn destination(template: &str, line: &str, priority: Priority) -> String {
    let mut out = template.replace("{priority}", &priority.as_str().to_ascii_lowercase());
    if out.contains("{rule}") {
        // Parsed only when asked for: most templates name the priority alone.
        let rule = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("rule").and_then(|r| r.as_str()).map(token))
            .unwrap_or_else(|| "unknown".into());
        out = out.replace("{rule}", &rule);
    }
    out
}

/// A rule name as one subject token or topic level: anything but `[A-Za-z0-9_-]` becomes `_`
/// (NATS's `.`, `*`, `>` and MQTT's `/`, `+`, `#` are separators or wildcards).
fn token(rule: &str) -> String {
    rule.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
