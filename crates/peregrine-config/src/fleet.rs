//! The `fleet` block (Peregrine extension): where the agent publishes its alerts, response
//! records and heartbeat for `peregrine server`, and where that server reads them.
//!
//! One block serves both ends, so an agent and its server read the same NATS servers,
//! credential and subject prefix from the same file. The alerts go through a spooled
//! JetStream output built from this block (`OutputsConfig::fleet`), so nothing is lost while
//! NATS is down; the heartbeat is published by the runtime (`peregrine-fleet`).

use std::time::Duration;

use peregrine_outputs::nats_output::{NatsAuth, NatsConfig, NatsTls};
use peregrine_outputs::queue::Backoff;
use peregrine_outputs::spool::SpoolConfig;
use peregrine_outputs::Route;
use serde_json::Value;

use crate::triage::{bad, mapping};
use crate::{boolean, string, ConfigError};

/// The default `fleet.subject_prefix`.
pub const DEFAULT_PREFIX: &str = "peregrine";
/// The default `fleet.heartbeat_interval`: a dead agent shows as missing within a minute
/// with the server's default coverage window of three intervals.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

/// The `fleet` keys.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetConfig {
    pub enabled: bool,
    /// `nats://host:port` URLs of the cluster's servers; the client fails over between them.
    pub servers: Vec<String>,
    pub auth: NatsAuth,
    /// `fleet.tls` (with `ca_cert`, `client_cert`, `client_key`).
    pub tls: Option<NatsTls>,
    /// The first subject token: alerts go to `<prefix>.alerts.<host>`, heartbeats to
    /// `<prefix>.heartbeat.<host>`.
    pub subject_prefix: String,
    /// This agent's identity in the fleet: a subject token (letters, digits, `-`, `_`).
    pub host: String,
    /// Free-form labels carried in the heartbeat (cluster, zone, role, …).
    pub labels: Vec<(String, String)>,
    pub heartbeat_interval: Duration,
    /// One attempt's limit (connect, publish, acknowledgement).
    pub timeout: Duration,
    pub retry: Backoff,
    pub spool: SpoolConfig,
    /// Replicas of the streams `peregrine server` creates (3 on a three-node cluster).
    pub stream_replicas: usize,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            enabled: false,
            servers: vec!["nats://127.0.0.1:4222".into()],
            auth: NatsAuth::None,
            tls: None,
            subject_prefix: DEFAULT_PREFIX.into(),
            host: host_token(&peregrine_outputs::hostname()),
            labels: Vec::new(),
            heartbeat_interval: DEFAULT_HEARTBEAT,
            timeout: Duration::from_secs(5),
            retry: Backoff::default(),
            spool: SpoolConfig::default(),
            stream_replicas: 1,
        }
    }
}

impl FleetConfig {
    /// The servers as the log and `nats_output` show them (comma-separated).
    pub fn url(&self) -> String {
        self.servers.join(",")
    }

    /// The subject of this agent's alerts.
    pub fn alert_subject(&self) -> String {
        format!("{}.alerts.{}", self.subject_prefix, self.host)
    }

    /// The subject of this agent's heartbeats.
    pub fn heartbeat_subject(&self) -> String {
        format!("{}.heartbeat.{}", self.subject_prefix, self.host)
    }

    /// The spooled JetStream output that carries the alerts and response records.
    pub fn alert_sink(&self) -> peregrine_outputs::config::SinkConfig<NatsConfig> {
        peregrine_outputs::config::SinkConfig {
            enabled: true,
            route: Route::default(),
            spool: Some(self.spool.clone()),
            retry: self.retry,
            settings: NatsConfig {
                url: self.url(),
                subject: self.alert_subject(),
                jetstream: true,
                timeout: self.timeout,
                auth: self.auth.clone(),
                tls: self.tls.clone(),
            },
        }
    }
}

/// `name` as a subject token: anything but letters, digits, `-` and `_` becomes `_`.
pub fn host_token(name: &str) -> String {
    let t: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if t.is_empty() {
        "unknown".into()
    } else {
        t
    }
}

fn token(key: &str, v: &Value) -> Result<String, ConfigError> {
    let s = string(key, v)?;
    if s.is_empty() || host_token(&s) != s {
        return Err(bad(
            key,
            format!(
                "'{}' is not a NATS subject token (letters, digits, '-' and '_' only)",
                peregrine_filter::escape::terminal_safe(&s)
            ),
        ));
    }
    Ok(s)
}

/// Reads `fleet`.
pub(crate) fn read(root: &Value) -> Result<FleetConfig, ConfigError> {
    let mut c = FleetConfig::default();
    let Some(v) = root.get("fleet").filter(|v| !v.is_null()) else {
        return Ok(c);
    };
    let m = mapping(
        "fleet",
        v,
        &[
            "enabled",
            "servers",
            "user",
            "password",
            "token",
            "subject_prefix",
            "host",
            "labels",
            "heartbeat_interval",
            "timeout_ms",
            "retry",
            "spool",
            "stream_replicas",
            "tls",
            "ca_cert",
            "client_cert",
            "client_key",
        ],
    )?;
    if let Some(x) = m.get("enabled") {
        c.enabled = boolean("fleet.enabled", x)?;
    }
    if let Some(x) = m.get("servers") {
        let list = match x {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, s)| string(&format!("fleet.servers[{i}]"), s))
                .collect::<Result<Vec<_>, _>>()?,
            other => vec![string("fleet.servers", other)?],
        };
        if list.is_empty() || list.iter().any(|s| s.trim().is_empty()) {
            return Err(bad("fleet.servers", "expected one or more nats:// URLs"));
        }
        if let Some(s) = list.iter().find(|s| !s.contains("://")) {
            return Err(bad(
                "fleet.servers",
                format!(
                    "'{}' is not a URL (nats://host:port or tls://host:port)",
                    peregrine_filter::escape::terminal_safe(s)
                ),
            ));
        }
        c.servers = list;
    }
    let text = |k: &str| -> Result<String, ConfigError> {
        m.get(k)
            .map(|x| string(&format!("fleet.{k}"), x))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    c.auth = peregrine_outputs::config::nats_auth(
        "fleet",
        text("user")?,
        text("password")?,
        text("token")?,
    )?;
    let tls = match m.get("tls") {
        Some(x) => boolean("fleet.tls", x)?,
        None => false,
    };
    c.tls = peregrine_outputs::config::nats_tls(
        "fleet",
        tls,
        text("ca_cert")?,
        text("client_cert")?,
        text("client_key")?,
    )?;
    if let Some(x) = m.get("subject_prefix") {
        c.subject_prefix = token("fleet.subject_prefix", x)?;
    }
    if let Some(x) = m.get("host") {
        c.host = token("fleet.host", x)?;
    }
    if let Some(x) = m.get("labels").filter(|v| !v.is_null()) {
        let Value::Object(labels) = x else {
            return Err(bad("fleet.labels", "expected a mapping of names to values"));
        };
        for (k, v) in labels {
            let key = format!("fleet.labels.{}", crate::printable_key(k));
            c.labels.push((k.clone(), string(&key, v)?));
        }
    }
    if let Some(x) = m.get("heartbeat_interval") {
        let text = string("fleet.heartbeat_interval", x)?;
        c.heartbeat_interval = crate::parse_duration(&text)
            .filter(|d| *d >= Duration::from_secs(1))
            .ok_or_else(|| {
                bad(
                    "fleet.heartbeat_interval",
                    format!("expected a duration of at least 1s such as 15s, got '{text}'"),
                )
            })?;
    }
    if let Some(x) = m.get("stream_replicas") {
        let n = crate::number("fleet.stream_replicas", x)?;
        if n.fract() != 0.0 || !(1.0..=5.0).contains(&n) {
            return Err(bad("fleet.stream_replicas", "expected 1 to 5"));
        }
        c.stream_replicas = n as usize;
    }
    peregrine_outputs::config::read_delivery(root, "fleet", &mut c.timeout, &mut c.retry)?;
    let mut spool = Some(c.spool.clone());
    peregrine_outputs::config::read_spool(root, "fleet", &mut spool)?;
    if let Some(s) = spool {
        c.spool = s;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_block() {
        let c = read(&json!({"fleet": {
            "enabled": true, "servers": ["nats://a:4222", "nats://b:4222"],
            "user": "agent", "password": "pw", "subject_prefix": "pg", "host": "node-1",
            "labels": {"zone": "eu"}, "heartbeat_interval": "2s", "timeout_ms": 700,
            "spool": {"dir": "/tmp/s"}, "stream_replicas": 3}}))
        .expect("valid");
        assert!(c.enabled);
        assert_eq!(c.url(), "nats://a:4222,nats://b:4222");
        assert_eq!(
            c.auth,
            NatsAuth::UserPassword {
                user: "agent".into(),
                password: "pw".into()
            }
        );
        assert_eq!(c.alert_subject(), "pg.alerts.node-1");
        assert_eq!(c.heartbeat_subject(), "pg.heartbeat.node-1");
        assert_eq!(c.labels, vec![("zone".to_string(), "eu".to_string())]);
        assert_eq!(c.heartbeat_interval, Duration::from_secs(2));
        assert_eq!(c.timeout, Duration::from_millis(700));
        assert_eq!(c.spool.dir, std::path::PathBuf::from("/tmp/s"));
        assert_eq!(c.stream_replicas, 3);
        let sink = c.alert_sink();
        assert!(sink.settings.jetstream && sink.spool.is_some_and(|s| s.enabled));
        let tls = read(&json!({"fleet": {"tls": true, "ca_cert": "/ca.pem",
            "client_cert": "/c.pem", "client_key": "/c.key"}}))
        .expect("tls");
        let want = NatsTls {
            ca_cert: Some("/ca.pem".into()),
            client: Some(("/c.pem".into(), "/c.key".into())),
        };
        assert_eq!(tls.tls.as_ref(), Some(&want));
        assert_eq!(tls.alert_sink().settings.tls, Some(want));
        assert_eq!(
            read(&json!({"fleet": {"token": "t0k3n"}}))
                .expect("ok")
                .auth,
            NatsAuth::Token("t0k3n".into())
        );
    }

    #[test]
    fn errors_name_the_key() {
        let err = |v: Value| read(&v).expect_err("bad").to_string();
        assert!(err(json!({"fleet": {"host": "a.b"}})).contains("fleet.host"));
        assert!(err(json!({"fleet": {"subject_prefix": "a b"}})).contains("fleet.subject_prefix"));
        assert!(err(json!({"fleet": {"servers": []}})).contains("fleet.servers"));
        assert!(err(json!({"fleet": {"servers": "localhost"}})).contains("fleet.servers"));
        assert!(err(json!({"fleet": {"user": "u"}})).contains("fleet.password"));
        assert!(
            err(json!({"fleet": {"user": "u", "password": "p", "token": "t"}}))
                .contains("fleet.token")
        );
        assert!(err(json!({"fleet": {"heartbeat_interval": "10ms"}}))
            .contains("fleet.heartbeat_interval"));
        assert!(err(json!({"fleet": {"stream_replicas": 9}})).contains("fleet.stream_replicas"));
        assert!(err(json!({"fleet": {"timeout_ms": 0}})).contains("fleet.timeout_ms"));
        assert!(err(json!({"fleet": {"hots": "x"}})).contains("fleet.hots"));
        assert!(err(json!({"fleet": {"labels": {"a": [1]}}})).contains("fleet.labels.a"));
        assert!(err(json!({"fleet": {"ca_cert": "/ca.pem"}})).contains("fleet.tls"));
        assert!(
            err(json!({"fleet": {"tls": true, "client_cert": "/c.pem"}}))
                .contains("fleet.client_key")
        );
    }

    #[test]
    fn hostnames_become_tokens() {
        assert_eq!(host_token("web-1.example.com"), "web-1_example_com");
        assert_eq!(host_token(""), "unknown");
    }
}
