//! `response_files` and the `response` block: where response policies are and how the
//! responder acts (Peregrine's own keys; Falco has none). The values become the response
//! crate's own [`Settings`]; the policies files are read by that crate.

use serde_json::Value;
use std::path::PathBuf;

use peregrine_response::Settings;

use crate::ConfigError;

/// Reads the `response` mapping over the response crate's defaults.
pub fn settings(value: &Value) -> Result<Settings, ConfigError> {
    let mut s = Settings::default();
    if value.is_null() {
        return Ok(s);
    }
    if !value.is_object() {
        return Err(ConfigError::Value {
            key: "response".into(),
            reason: "expected a mapping".into(),
        });
    }
    if let Some(v) = value.get("dry_run") {
        s.dry_run = crate::boolean("response.dry_run", v)?;
    }
    if let Some(v) = value.get("budget_per_minute") {
        let key = "response.budget_per_minute";
        let text = crate::string(key, v)?;
        s.budget_per_minute = text.parse().map_err(|_| ConfigError::Value {
            key: key.into(),
            reason: format!(
                "expected a whole number of actions, got '{}'",
                peregrine_filter::escape::terminal_safe(&text)
            ),
        })?;
    }
    if let Some(v) = value.get("protected_executables") {
        s.protected_exes = strings("response.protected_executables", v)?;
    }
    if let Some(v) = value.get("audit_file") {
        let path = crate::string("response.audit_file", v)?;
        s.audit_file = (!path.is_empty()).then(|| PathBuf::from(path));
    }
    if let Some(v) = value.get("runtime_sockets") {
        s.sockets = strings("response.runtime_sockets", v)?
            .into_iter()
            .map(PathBuf::from)
            .collect();
    }
    if let Some(v) = value.get("containerd_sockets") {
        s.containerd_sockets = absolute_paths("response.containerd_sockets", v)?;
    }
    if let Some(v) = value.get("runtime_state_roots") {
        s.runtime_state_roots = absolute_paths("response.runtime_state_roots", v)?;
    }
    if let Some(v) = value.get("oci_runtime") {
        let path = crate::string("response.oci_runtime", v)?;
        s.oci_runtime = (!path.is_empty()).then(|| PathBuf::from(path));
        if let Some(p) = s.oci_runtime.as_ref().filter(|p| !p.is_absolute()) {
            return Err(ConfigError::Value {
                key: "response.oci_runtime".into(),
                reason: format!(
                    "expected an absolute path, got '{}'",
                    peregrine_filter::escape::terminal_safe(&p.to_string_lossy())
                ),
            });
        }
    }
    Ok(s)
}

/// A list of absolute paths (they are joined below `HOST_ROOT`, so a relative one would
/// name nothing).
fn absolute_paths(key: &str, v: &Value) -> Result<Vec<PathBuf>, ConfigError> {
    let paths: Vec<PathBuf> = strings(key, v)?.into_iter().map(PathBuf::from).collect();
    if let Some(p) = paths.iter().find(|p| !p.is_absolute()) {
        return Err(ConfigError::Value {
            key: key.into(),
            reason: format!(
                "expected absolute paths, got '{}'",
                peregrine_filter::escape::terminal_safe(&p.to_string_lossy())
            ),
        });
    }
    Ok(paths)
}

fn strings(key: &str, v: &Value) -> Result<Vec<String>, ConfigError> {
    match v {
        Value::Array(items) => items.iter().map(|i| crate::string(key, i)).collect(),
        Value::Null => Ok(Vec::new()),
        other => Ok(vec![crate::string(key, other)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_and_defaults() {
        let d = settings(&Value::Null).expect("defaults");
        assert_eq!(d, Settings::default());
        assert!(d.protected_exes.iter().any(|e| e == "/usr/bin/kubelet"));
        let s = settings(&json!({
            "dry_run": "true",
            "budget_per_minute": 5,
            "protected_executables": ["/opt/x"],
            "audit_file": "/var/log/pg.jsonl",
            "runtime_sockets": "/run/a.sock",
        }))
        .expect("reads");
        assert!(s.dry_run);
        assert_eq!(s.budget_per_minute, 5);
        assert_eq!(s.protected_exes, ["/opt/x"]);
        assert_eq!(s.audit_file, Some(PathBuf::from("/var/log/pg.jsonl")));
        assert_eq!(s.sockets, [PathBuf::from("/run/a.sock")]);
        assert_eq!(
            d.containerd_sockets,
            [PathBuf::from("/run/containerd/containerd.sock")]
        );
        assert_eq!(d.oci_runtime, None);
        let s = settings(&json!({
            "containerd_sockets": ["/run/k3s/containerd/containerd.sock"],
            "runtime_state_roots": "/run/k3s/containerd/runc",
            "oci_runtime": "/usr/local/bin/crun",
        }))
        .expect("reads");
        assert_eq!(
            s.containerd_sockets,
            [PathBuf::from("/run/k3s/containerd/containerd.sock")]
        );
        assert_eq!(
            s.runtime_state_roots,
            [PathBuf::from("/run/k3s/containerd/runc")]
        );
        assert_eq!(s.oci_runtime, Some(PathBuf::from("/usr/local/bin/crun")));
        let e = settings(&json!({"oci_runtime": "runc"})).expect_err("relative");
        assert_eq!(
            e.to_string(),
            "invalid value for 'response.oci_runtime': expected an absolute path, got 'runc'"
        );
        let e = settings(&json!({"runtime_state_roots": ["run/runc"]})).expect_err("relative");
        assert!(
            e.to_string()
                .starts_with("invalid value for 'response.runtime_state_roots'"),
            "{e}"
        );
        let e = settings(&json!({"budget_per_minute": "lots"})).expect_err("bad");
        assert_eq!(
            e.to_string(),
            "invalid value for 'response.budget_per_minute': expected a whole number of actions, got 'lots'"
        );
    }

    /// `-o response_files[]=…` appends, as for `rules_files`; the block's keys take `-o` too
    /// and raise no unknown-key warning.
    #[test]
    fn from_options() {
        let opts: Vec<String> = [
            "response_files[]=/a.yaml",
            "response_files[]=/b.yaml",
            "response.dry_run=true",
            "response.audit_file=/tmp/x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let loaded = crate::load(None, &opts).expect("options");
        let (cfg, warnings) = crate::Config::from_tree(&loaded.tree).expect("config");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            cfg.response_files,
            [PathBuf::from("/a.yaml"), PathBuf::from("/b.yaml")]
        );
        assert!(cfg.response.dry_run);
        assert_eq!(cfg.response.audit_file, Some(PathBuf::from("/tmp/x")));
        // Filled in from `state_dir` and HOST_ROOT.
        assert_eq!(cfg.response.state_dir, Some(cfg.triage.state_dir.clone()));
        assert_eq!(cfg.response.host_root, cfg.host_root);
    }
}
