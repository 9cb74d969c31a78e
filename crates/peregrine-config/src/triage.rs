//! The triage keys (Peregrine extensions): `dedup`, `silences`, `silences_api` and
//! `state_dir`, read into the triage crate's [`TriageConfig`].
//!
//! `dedup.enabled` defaults to on in Peregrine's built-in configuration (no file read) and
//! to off under a configuration file that does not set it, so Falco's falco.yaml loaded
//! unchanged behaves as in Falco: every alert goes out.

use std::path::PathBuf;
use std::time::Duration;

use peregrine_triage::silence::Origin;
use peregrine_triage::{DedupConfig, DedupOverride, Silence, TriageConfig, TriageError};
use serde_json::Value;

use crate::{boolean, string, ConfigError};

pub(crate) fn bad(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        key: key.to_string(),
        reason: reason.into(),
    }
}

fn duration(key: &str, v: &Value) -> Result<Duration, ConfigError> {
    let text = string(key, v)?;
    crate::parse_duration(&text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            bad(
                key,
                format!("expected a duration such as 60s or 5m, got '{text}'"),
            )
        })
}

fn strings(key: &str, v: &Value) -> Result<Vec<String>, ConfigError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, s)| string(&format!("{key}[{i}]"), s))
            .collect(),
        _ => Err(bad(key, "expected a list of strings")),
    }
}

/// `v` as a mapping whose keys are all in `known` (the first other one is the error).
pub(crate) fn mapping<'a>(
    key: &str,
    v: &'a Value,
    known: &[&str],
) -> Result<&'a serde_json::Map<String, Value>, ConfigError> {
    let Value::Object(m) = v else {
        return Err(bad(key, "expected a mapping"));
    };
    if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(bad(
            &format!("{key}.{}", crate::printable_key(k)),
            format!("unknown key (expected one of: {})", known.join(", ")),
        ));
    }
    Ok(m)
}

fn dedup(v: &Value, builtin: bool) -> Result<DedupConfig, ConfigError> {
    let mut d = DedupConfig {
        enabled: builtin,
        ..DedupConfig::default()
    };
    let m = mapping(
        "dedup",
        v,
        &[
            "enabled",
            "window",
            "fields",
            "max_fingerprints",
            "overrides",
        ],
    )?;
    if let Some(x) = m.get("enabled") {
        d.enabled = boolean("dedup.enabled", x)?;
    }
    if let Some(x) = m.get("window") {
        d.window = duration("dedup.window", x)?;
    }
    if let Some(x) = m.get("fields") {
        d.fields = Some(strings("dedup.fields", x)?);
    }
    if let Some(x) = m.get("max_fingerprints") {
        let n = crate::number("dedup.max_fingerprints", x)?;
        if n < 1.0 || n.fract() != 0.0 {
            return Err(bad("dedup.max_fingerprints", "expected a positive integer"));
        }
        d.max_fingerprints = n as usize;
    }
    if let Some(x) = m.get("overrides") {
        let Value::Array(items) = x else {
            return Err(bad("dedup.overrides", "expected a list of entries"));
        };
        for (i, item) in items.iter().enumerate() {
            let key = format!("dedup.overrides[{i}]");
            let o = mapping(
                &key,
                item,
                &["rules", "tags", "enabled", "fields", "window"],
            )?;
            let list = |name: &str| {
                o.get(name)
                    .map(|v| strings(&format!("{key}.{name}"), v))
                    .transpose()
            };
            let entry = DedupOverride {
                rules: list("rules")?.unwrap_or_default(),
                tags: list("tags")?.unwrap_or_default(),
                enabled: o
                    .get("enabled")
                    .map(|v| boolean(&format!("{key}.enabled"), v))
                    .transpose()?,
                fields: list("fields")?,
                window: o
                    .get("window")
                    .map(|v| duration(&format!("{key}.window"), v))
                    .transpose()?,
            };
            if entry.rules.is_empty() && entry.tags.is_empty() {
                return Err(bad(
                    &key,
                    "needs rules or tags to say which alerts it is for",
                ));
            }
            d.overrides.push(entry);
        }
    }
    Ok(d)
}

fn triage_error(e: TriageError) -> ConfigError {
    match e {
        TriageError::Invalid { key, reason } => ConfigError::Value { key, reason },
        other => bad("silences", other.to_string()),
    }
}

fn silences(v: &Value) -> Result<Vec<Silence>, ConfigError> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(bad("silences", "expected a list of silences")),
    };
    let mut out: Vec<Silence> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = format!("silences[{i}]");
        if item.get("duration_seconds").is_some() {
            // Relative to what? A configuration is read at every start.
            return Err(bad(
                &format!("{key}.duration_seconds"),
                "only for silences made over the API; use ends_at (or weekly)",
            ));
        }
        let s = Silence::from_json(item, &key, Origin::Config, Some(format!("config-{i}")), 0)
            .map_err(triage_error)?;
        if out.iter().any(|o| o.id == s.id) {
            return Err(bad(
                &format!("{key}.name"),
                format!("'{}' names another silence too", s.id),
            ));
        }
        out.push(s);
    }
    Ok(out)
}

/// Reads the triage keys of an expanded root; `builtin` is true when no file was read.
pub(crate) fn read(root: &Value, builtin: bool) -> Result<TriageConfig, ConfigError> {
    let mut t = TriageConfig::default();
    t.dedup.enabled = builtin;
    if let Some(v) = root.get("dedup").filter(|v| !v.is_null()) {
        t.dedup = dedup(v, builtin)?;
    }
    if let Some(v) = root.get("silences") {
        t.silences = silences(v)?;
    }
    if let Some(v) = root.get("silences_api").filter(|v| !v.is_null()) {
        let m = mapping("silences_api", v, &["enabled"])?;
        if let Some(x) = m.get("enabled") {
            t.api_enabled = boolean("silences_api.enabled", x)?;
        }
    }
    if let Some(v) = root.get("state_dir").filter(|v| !v.is_null()) {
        let s = string("state_dir", v)?;
        if s.is_empty() {
            return Err(bad("state_dir", "empty path"));
        }
        t.state_dir = PathBuf::from(s);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dedup_is_on_only_in_the_builtin_configuration() {
        assert!(read(&json!({}), true).expect("ok").dedup.enabled);
        assert!(!read(&json!({}), false).expect("ok").dedup.enabled);
        assert!(
            read(&json!({"dedup": {"enabled": true}}), false)
                .expect("ok")
                .dedup
                .enabled
        );
        assert!(
            !read(&json!({"dedup": {"enabled": "false"}}), true)
                .expect("ok")
                .dedup
                .enabled
        );
        // A dedup block without `enabled` keeps the default of its configuration.
        assert!(
            read(&json!({"dedup": {"window": "5s"}}), true)
                .expect("ok")
                .dedup
                .enabled
        );
    }

    #[test]
    fn reads_every_key() {
        let t = read(
            &json!({
                "dedup": {"window": "2m", "fields": ["container.id"], "max_fingerprints": 50,
                    "overrides": [{"rules": ["Write below *"], "window": "10s"},
                                  {"tags": "noisy", "enabled": false}]},
                "silences": [{"name": "backup", "matchers": ["container.image.repository=*/backup"],
                    "weekly": {"days": ["sat"], "start": "01:00", "end": "03:00"}},
                    {"matchers": ["k8s.ns.name=staging"], "ends_at": "2027-01-01T00:00:00Z"}],
                "silences_api": {"enabled": true},
                "state_dir": "/tmp/pg-state",
            }),
            false,
        )
        .expect("valid");
        assert_eq!(t.dedup.window, Duration::from_secs(120));
        assert_eq!(t.dedup.fields, Some(vec!["container.id".to_string()]));
        assert_eq!(t.dedup.max_fingerprints, 50);
        assert_eq!(t.dedup.overrides[0].window, Some(Duration::from_secs(10)));
        assert_eq!(t.dedup.overrides[1].tags, vec!["noisy".to_string()]);
        assert_eq!(t.dedup.overrides[1].enabled, Some(false));
        assert_eq!(t.silences[0].id, "backup");
        assert_eq!(t.silences[1].id, "config-1");
        assert!(t.api_enabled);
        assert_eq!(t.state_dir, PathBuf::from("/tmp/pg-state"));
    }

    #[test]
    fn errors_name_the_key_path() {
        for (tree, key) in [
            (json!({"dedup": {"window": "soon"}}), "dedup.window"),
            (json!({"dedup": {"window": "0s"}}), "dedup.window"),
            (
                json!({"dedup": {"max_fingerprints": 0}}),
                "dedup.max_fingerprints",
            ),
            (json!({"dedup": {"fields": [[1]]}}), "dedup.fields[0]"),
            (json!({"dedup": {"colour": 1}}), "dedup.colour"),
            (
                json!({"dedup": {"overrides": [{"window": "1s"}]}}),
                "dedup.overrides[0]",
            ),
            (
                json!({"dedup": {"overrides": [{"rules": "x", "window": "x"}]}}),
                "dedup.overrides[0].window",
            ),
            (json!({"silences": {"a": 1}}), "silences"),
            (
                json!({"silences": [{"matchers": ["nokey"]}]}),
                "silences[0].matchers[0]",
            ),
            (
                json!({"silences": [{"matchers": ["a=b"], "weekly": {"days": ["x"], "start": "1:00", "end": "2:00"}}]}),
                "silences[0].weekly.days",
            ),
            (
                json!({"silences": [{"name": "a", "matchers": ["a=b"]}, {"name": "a", "matchers": ["a=c"]}]}),
                "silences[1].name",
            ),
            (
                json!({"silences": [{"matchers": ["a=b"], "duration_seconds": 5}]}),
                "silences[0].duration_seconds",
            ),
            (
                json!({"silences_api": {"enabled": "perhaps"}}),
                "silences_api.enabled",
            ),
            (json!({"state_dir": ""}), "state_dir"),
        ] {
            match read(&tree, false) {
                Err(ConfigError::Value { key: k, .. }) => assert_eq!(k, key, "{tree}"),
                other => panic!("{tree}: expected an error for {key}, got {other:?}"),
            }
        }
    }
}
