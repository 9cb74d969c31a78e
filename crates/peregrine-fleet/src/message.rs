//! What travels on the streams, and how the server reads it.
//!
//! - `<prefix>.alerts.<host>`: an alert (or a response record, `source: response`) exactly as
//!   Falco's JSON output prints it (with `output_fields`), its id in `Nats-Msg-Id` — what the
//!   agent's spooled JetStream output publishes. The host is the subject's last token (the
//!   agent's `fleet.host`), not the alert's `hostname`, so agents with their own identity on
//!   one machine stay apart.
//! - `<prefix>.heartbeat.<host>`: a [`Heartbeat`] as JSON.
//!
//! Anything else on those subjects — not JSON, not an object, a field missing or of the wrong
//! type, a host token that is not the subject's — is [`Bad`]: counted, acknowledged and
//! skipped by the server, never stored.

use std::collections::BTreeMap;

use peregrine_store::{Container, Context, Record};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest message read (a Falco alert is a few kB; the server's `max_payload` is 1 MB).
pub const MAX_MESSAGE: usize = 256 * 1024;

/// The `kind` a heartbeat carries, so a foreign JSON document is not taken for one.
pub const HEARTBEAT_KIND: &str = "peregrine.heartbeat.v1";

/// An agent's periodic report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// [`HEARTBEAT_KIND`].
    pub kind: String,
    /// `fleet.host`.
    pub host: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The agent's version.
    pub version: String,
    /// The rules engine version.
    #[serde(default)]
    pub engine_version: String,
    /// SHA-256 over the loaded rules files' names and digests.
    #[serde(default)]
    pub rules_hash: String,
    /// SHA-256 over the configuration files' names and digests.
    #[serde(default)]
    pub config_hash: String,
    /// Kernel events handed to the rules since the agent started.
    #[serde(default)]
    pub events: u64,
    /// Events the kernel dropped since the agent started.
    #[serde(default)]
    pub drops: u64,
    /// Alerts the agent raised since it started.
    #[serde(default)]
    pub alerts: u64,
    #[serde(default)]
    pub uptime_s: u64,
    /// The agent's clock when it sent this (ns since the epoch); the server judges coverage
    /// by the stream's own time of receipt, not by this.
    #[serde(default)]
    pub time_ns: u64,
    /// The agent is stopping: this is its last heartbeat.
    #[serde(default)]
    pub stopping: bool,
}

/// Why a message was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Bad {
    #[error("{0} bytes, more than the {MAX_MESSAGE} read")]
    TooLarge(usize),
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a Falco alert: {0}")]
    NotAlert(&'static str),
    #[error("not a heartbeat: {0}")]
    NotHeartbeat(&'static str),
    #[error("subject '{0}' is not <prefix>.<kind>.<host>")]
    Subject(String),
}

/// The host token of `subject` (`<prefix>.<kind>.<host>`).
pub fn subject_host<'a>(subject: &'a str, prefix: &str, kind: &str) -> Result<&'a str, Bad> {
    subject
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('.'))
        .and_then(|r| r.strip_prefix(kind))
        .and_then(|r| r.strip_prefix('.'))
        .filter(|h| !h.is_empty() && !h.contains('.'))
        .ok_or_else(|| Bad::Subject(subject.chars().take(128).collect()))
}

/// An alert message as a store record. `id` is the message's `Nats-Msg-Id` (the alert's
/// stable id), or the stream sequence when the publisher set none.
pub fn alert_record(host: &str, id: String, payload: &[u8]) -> Result<Record, Bad> {
    if payload.len() > MAX_MESSAGE {
        return Err(Bad::TooLarge(payload.len()));
    }
    let v: Value = serde_json::from_slice(payload).map_err(|e| Bad::NotJson(e.to_string()))?;
    let Value::Object(o) = &v else {
        return Err(Bad::NotAlert("not a JSON object"));
    };
    let text = |k: &'static str| -> Result<String, Bad> {
        o.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or(Bad::NotAlert(k))
    };
    let rule = text("rule")?;
    let priority_name = text("priority")?;
    let priority = peregrine_filter::priority::Priority::parse(&priority_name)
        .ok_or(Bad::NotAlert("priority"))?;
    let time_ns =
        peregrine_triage::timefmt::parse_rfc3339(&text("time")?).ok_or(Bad::NotAlert("time"))?;
    let output = rule_output(&text("output")?, priority);
    let source = o
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or("syscall")
        .to_string();
    let tags = match o.get("tags") {
        Some(Value::Array(t)) => t
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or(Bad::NotAlert("tags")))
            .collect::<Result<Vec<_>, _>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(Bad::NotAlert("tags")),
    };
    let fields = o.get("output_fields").and_then(Value::as_object);
    let field = |k: &str| {
        fields
            .and_then(|f| f.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let container = field("container.id")
        .filter(|c| *c != "host")
        .map(|id| Container {
            id: id.to_string(),
            name: field("container.name").unwrap_or_default().to_string(),
            image: field("container.image.repository")
                .or_else(|| field("container.image"))
                .unwrap_or_default()
                .to_string(),
            ..Container::default()
        });
    Ok(Record {
        id,
        time_ns,
        rule,
        priority: priority.as_str().to_string(),
        severity: peregrine_outputs::alert::syslog_severity(priority),
        source,
        hostname: host.to_string(),
        tags,
        output,
        json: String::from_utf8_lossy(payload).into_owned(),
        context: Context {
            ancestry: Vec::new(),
            container,
        },
        // A response record's link to its alert is the agent's store's (by rule, pid and
        // time); Falco's JSON does not carry it, so the fleet store keeps the record unlinked.
        refers_to: None,
    })
}

/// Falco's `output` without its `<time>: <Priority> ` prefix, as the store keeps it.
fn rule_output(output: &str, priority: peregrine_filter::priority::Priority) -> String {
    output
        .split_once(": ")
        .filter(|(t, _)| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_digit() || b == b':' || b == b'.')
        })
        .and_then(|(_, rest)| {
            let (p, rest) = rest.split_once(' ')?;
            (peregrine_filter::priority::Priority::parse(p) == Some(priority)).then_some(rest)
        })
        .unwrap_or(output)
        .to_string()
}

/// A heartbeat message, checked against its subject's host.
pub fn heartbeat(host: &str, payload: &[u8]) -> Result<Heartbeat, Bad> {
    if payload.len() > MAX_MESSAGE {
        return Err(Bad::TooLarge(payload.len()));
    }
    let hb: Heartbeat = serde_json::from_slice(payload).map_err(|e| Bad::NotJson(e.to_string()))?;
    if hb.kind != HEARTBEAT_KIND {
        return Err(Bad::NotHeartbeat("kind"));
    }
    if hb.host != host {
        return Err(Bad::NotHeartbeat("host differs from the subject's"));
    }
    Ok(hb)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALERT: &str = r#"{"hostname":"box","output":"12:00:00.000000000: Warning x","output_fields":{"container.id":"abc","container.name":"web","proc.name":"sh"},"priority":"Warning","rule":"Shell","source":"syscall","tags":["a","b"],"time":"2026-12-07T12:00:00.000000000Z"}"#;

    #[test]
    fn an_alert_becomes_a_record_of_the_subject_host() {
        let host = subject_host("peregrine.alerts.node-2", "peregrine", "alerts").expect("ok");
        let r = alert_record(host, "id-1".into(), ALERT.as_bytes()).expect("alert");
        assert_eq!(r.hostname, "node-2");
        assert_eq!((r.rule.as_str(), r.severity), ("Shell", 4));
        assert_eq!(r.tags, vec!["a", "b"]);
        assert_eq!(r.output, "x");
        assert_eq!(
            r.context.container.as_ref().map(|c| c.name.as_str()),
            Some("web")
        );
        assert!(r.time_ns > 0);
    }

    #[test]
    fn foreign_messages_are_bad() {
        for bad in [
            "not json",
            "[1,2]",
            r#"{"rule":"x"}"#,
            r#"{"rule":"x","priority":"Loud","time":"2026-12-07T12:00:00Z","output":"o"}"#,
            r#"{"rule":"x","priority":"Warning","time":"yesterday","output":"o"}"#,
            r#"{"rule":"x","priority":"Warning","time":"2026-12-07T12:00:00Z","output":"o","tags":[1]}"#,
        ] {
            assert!(
                alert_record("h", "i".into(), bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
        assert!(alert_record("h", "i".into(), &vec![b' '; MAX_MESSAGE + 1]).is_err());
        assert!(subject_host("peregrine.alerts", "peregrine", "alerts").is_err());
        assert!(subject_host("other.alerts.h", "peregrine", "alerts").is_err());
        let hb = |host: &str, kind: &str| {
            serde_json::to_vec(&Heartbeat {
                kind: kind.into(),
                host: host.into(),
                version: "0.1.0".into(),
                ..Heartbeat::default()
            })
            .expect("json")
        };
        assert!(heartbeat("a", &hb("a", HEARTBEAT_KIND)).is_ok());
        assert!(heartbeat("a", &hb("b", HEARTBEAT_KIND)).is_err());
        assert!(heartbeat("a", &hb("a", "something.else")).is_err());
        assert!(heartbeat("a", b"{}").is_err());
    }
}
