//! `alertmanager_output` (Peregrine extension): each alert becomes one Prometheus
//! Alertmanager alert, posted to the v2 API (`POST <url>/api/v2/alerts`).
//!
//! Key decisions:
//! - **Labels identify, annotations describe.** Alertmanager merges alerts with equal label
//!   sets, so the labels are what names a situation: `alertname` (the rule), `priority`,
//!   `hostname`, `source`, and the container and pod when the alert has them, plus any output
//!   fields listed in `extra_labels`. The alert's text and the spool's stable id are
//!   annotations (`summary`, `peregrine_alert_id`), so a retry after a lost answer updates the
//!   same Alertmanager alert instead of making a second one.
//! - `startsAt` is the event's time and `endsAt` now plus `resolve_timeout`: a behaviour
//!   that stops repeating resolves on its own, as Prometheus's alerts do.
//! - The sink reads the alert's fields, so it always gets Falco's JSON line (with
//!   `output_fields`), whatever `json_output` says for the other outputs.

use crate::format::{iso_time, FormatOptions};
use crate::output::{Output, OutputError};
use peregrine_filter::priority::Priority;
use serde_json::{Map, Value};
use std::time::Duration;

/// Output fields that become labels when present, and their label names.
const FIELD_LABELS: [(&str, &str); 5] = [
    ("container.id", "container_id"),
    ("container.name", "container_name"),
    ("container.image.repository", "container_image"),
    ("k8s.ns.name", "k8s_ns_name"),
    ("k8s.pod.name", "k8s_pod_name"),
];

/// The `alertmanager_output` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL (`http://host:9093`); `/api/v2/alerts` is appended.
    pub url: String,
    /// How long after the last repeat an alert resolves (`endsAt`).
    pub resolve_timeout: Duration,
    /// Output fields that also become labels (`proc.name` → `proc_name`).
    pub extra_labels: Vec<String>,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            url: String::new(),
            resolve_timeout: Duration::from_secs(300),
            extra_labels: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

pub struct AlertmanagerOutput {
    cfg: AlertmanagerConfig,
    endpoint: String,
    agent: ureq::Agent,
}

impl AlertmanagerOutput {
    pub fn new(cfg: AlertmanagerConfig) -> Result<AlertmanagerOutput, OutputError> {
        let base = cfg.url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(OutputError::Config {
                key: "alertmanager_output.url".into(),
                reason: format!("expected an http:// or https:// URL, got '{}'", cfg.url),
            });
        }
        let endpoint = format!("{base}/api/v2/alerts");
        let agent = ureq::AgentBuilder::new()
            .timeout(cfg.timeout)
            .redirects(0)
            .build();
        Ok(AlertmanagerOutput {
            cfg,
            endpoint,
            agent,
        })
    }

    /// The v2 API body for one alert line (Falco's JSON).
    pub fn body(&self, line: &str, id: Option<&str>) -> Result<Vec<u8>, OutputError> {
        let v: Value = serde_json::from_str(line).map_err(|e| OutputError::Http {
            url: self.endpoint.clone(),
            reason: format!("alert is not JSON: {e}"),
        })?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
        let mut labels = Map::new();
        for (k, src) in [
            ("alertname", "rule"),
            ("priority", "priority"),
            ("hostname", "hostname"),
            ("source", "source"),
        ] {
            labels.insert(k.into(), text(src).into());
        }
        let fields = v.get("output_fields").and_then(Value::as_object);
        let field = |name: &str| -> Option<String> {
            match fields?.get(name)? {
                Value::String(s) if !s.is_empty() && s != "<NA>" => Some(s.clone()),
                Value::Null | Value::String(_) => None,
                other => Some(other.to_string()),
            }
        };
        for (f, label) in FIELD_LABELS {
            if let Some(value) = field(f) {
                labels.insert(label.into(), value.into());
            }
        }
        for f in &self.cfg.extra_labels {
            if let Some(value) = field(f) {
                labels.insert(label_name(f), value.into());
            }
        }
        let mut annotations = Map::new();
        annotations.insert("summary".into(), text("output").into());
        if let Some(id) = id {
            annotations.insert("peregrine_alert_id".into(), id.into());
        }
        let mut ends = String::new();
        iso_time(
            epoch_ns().saturating_add(nanos(self.cfg.resolve_timeout)),
            &mut ends,
        );
        let alert = serde_json::json!([{
            "labels": labels,
            "annotations": annotations,
            "startsAt": text("time"),
            "endsAt": ends,
        }]);
        Ok(alert.to_string().into_bytes())
    }

    fn post(&mut self, line: &str, id: Option<&str>) -> Result<(), OutputError> {
        let body = self.body(line, id)?;
        match self
            .agent
            .post(&self.endpoint)
            .set("Content-Type", "application/json")
            .send_bytes(&body)
        {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(code, _)) if code == 429 || code >= 500 => {
                Err(OutputError::Unavailable {
                    output: "alertmanager",
                    target: self.endpoint.clone(),
                    reason: format!("HTTP status {code}"),
                })
            }
            Err(ureq::Error::Status(code, _)) => Err(OutputError::Http {
                url: self.endpoint.clone(),
                reason: format!("HTTP status {code}"),
            }),
            Err(ureq::Error::Transport(t)) => Err(OutputError::Unavailable {
                output: "alertmanager",
                target: self.endpoint.clone(),
                reason: t.to_string(),
            }),
        }
    }
}

impl Output for AlertmanagerOutput {
    fn name(&self) -> &str {
        "alertmanager"
    }

    fn write(&mut self, line: &str, _priority: Priority) -> Result<(), OutputError> {
        self.post(line, None)
    }

    fn write_with_id(
        &mut self,
        line: &str,
        _priority: Priority,
        id: &str,
    ) -> Result<(), OutputError> {
        self.post(line, Some(id))
    }

    fn format(&self) -> Option<FormatOptions> {
        Some(FormatOptions {
            json_output: true,
            json_include_output_property: true,
            json_include_output_fields_property: true,
            ..FormatOptions::default()
        })
    }
}

/// A Prometheus label name for a field: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn label_name(field: &str) -> String {
    let mut s: String = field
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn epoch_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(nanos)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_annotations_from_the_json_line() {
        let out = AlertmanagerOutput::new(AlertmanagerConfig {
            url: "http://127.0.0.1:9093/".into(),
            extra_labels: vec!["proc.name".into(), "fd.name".into()],
            ..AlertmanagerConfig::default()
        })
        .expect("valid");
        assert_eq!(out.endpoint, "http://127.0.0.1:9093/api/v2/alerts");
        let line = r#"{"hostname":"h1","output":"12:00:00: Warning x","output_fields":{"container.id":"abc","container.name":"<NA>","k8s.pod.name":null,"proc.name":"cat","fd.name":null},"priority":"Warning","rule":"R 1","source":"syscall","tags":[],"time":"2026-11-28T21:05:03.123456789Z"}"#;
        let body: Value =
            serde_json::from_slice(&out.body(line, Some("id-1")).expect("body")).expect("json");
        let a = &body[0];
        assert_eq!(
            a["labels"],
            serde_json::json!({"alertname": "R 1", "priority": "Warning", "hostname": "h1",
                "source": "syscall", "container_id": "abc", "proc_name": "cat"})
        );
        assert_eq!(
            a["annotations"],
            serde_json::json!({"summary": "12:00:00: Warning x", "peregrine_alert_id": "id-1"})
        );
        assert_eq!(a["startsAt"], "2026-11-28T21:05:03.123456789Z");
        assert!(a["endsAt"].as_str().is_some_and(|t| t > "2026"));
    }

    #[test]
    fn a_url_without_scheme_names_the_key() {
        match AlertmanagerOutput::new(AlertmanagerConfig {
            url: "127.0.0.1:9093".into(),
            ..AlertmanagerConfig::default()
        }) {
            Err(OutputError::Config { key, .. }) => assert_eq!(key, "alertmanager_output.url"),
            _ => panic!("accepted"),
        }
        assert_eq!(label_name("k8s.ns.name"), "k8s_ns_name");
        assert_eq!(label_name("1x"), "_1x");
    }
}
