//! The alert store and console keys (Peregrine extensions): `alert_store` and `console`.
//!
//! `alert_store.enabled` defaults to on in Peregrine's built-in configuration (no file read)
//! and to off under a configuration file that does not set it, like `dedup`: Falco's
//! falco.yaml loaded unchanged writes nothing new to disk.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::triage::{bad, mapping};
use crate::{boolean, string, ConfigError};

/// Where the alert store lives and what it keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertStoreConfig {
    pub enabled: bool,
    /// The SQLite file.
    pub path: PathBuf,
    /// Processes kept per alert: the event's process and its ancestors (`0`: none).
    pub ancestry_depth: usize,
    /// `retention.max_age`: alerts older than this are deleted.
    pub max_age: Option<Duration>,
    /// `retention.max_bytes`: the oldest alerts go until the file fits.
    pub max_bytes: Option<u64>,
}

/// The default `alert_store.path`.
pub const DEFAULT_STORE_PATH: &str = "/var/lib/peregrine/alerts.db";
/// The default `alert_store.ancestry_depth`: the process and five ancestors, enough for
/// `containerd-shim → sh → bash → python3 → cat` and its like.
pub const DEFAULT_ANCESTRY_DEPTH: usize = 6;
/// The deepest ancestry kept: each ancestor is a row of the alert's context.
pub const MAX_ANCESTRY_DEPTH: usize = 64;

impl Default for AlertStoreConfig {
    fn default() -> Self {
        AlertStoreConfig {
            enabled: false,
            path: PathBuf::from(DEFAULT_STORE_PATH),
            ancestry_depth: DEFAULT_ANCESTRY_DEPTH,
            max_age: Some(Duration::from_secs(30 * 86_400)),
            max_bytes: Some(1 << 30),
        }
    }
}

/// What a credential may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Everything: read, acknowledge, resolve, silence.
    Admin,
    /// Reads only: every state-changing request is refused (403).
    ReadOnly,
}

/// A console user (`console.users[i]`).
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    pub name: String,
    pub password: String,
    pub role: Role,
}

impl std::fmt::Debug for ConsoleUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleUser")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The `console` block: who may use the API (and the console pages to come).
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    pub enabled: bool,
    /// `console.token`, else the `PEREGRINE_CONSOLE_TOKEN` environment variable: full access.
    pub token: Option<String>,
    /// `console.read_only_token`: read access only.
    pub read_only_token: Option<String>,
    pub users: Vec<ConsoleUser>,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// `console.allow_remote`: serve the console and its API to clients other than loopback.
    /// Off by default: the webserver listens on every address (for Kubernetes probes and
    /// Prometheus, as Falco's does), but the console is for whoever is on the host until it
    /// is opened on purpose.
    pub allow_remote: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: false,
            token: None,
            read_only_token: None,
            users: Vec::new(),
            session_ttl: Duration::from_secs(12 * 3600),
            allow_remote: false,
        }
    }
}

impl std::fmt::Debug for ConsoleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleConfig")
            .field("enabled", &self.enabled)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field(
                "read_only_token",
                &self.read_only_token.as_ref().map(|_| "<set>"),
            )
            .field("users", &self.users)
            .field("session_ttl", &self.session_ttl)
            .field("allow_remote", &self.allow_remote)
            .finish()
    }
}

impl ConsoleConfig {
    /// True when at least one credential is configured.
    pub fn has_credentials(&self) -> bool {
        self.token.is_some() || self.read_only_token.is_some() || !self.users.is_empty()
    }
}

/// Shortest token accepted: a guessable token is no protection.
pub const MIN_TOKEN_LEN: usize = 16;

fn duration(key: &str, v: &Value) -> Result<Duration, ConfigError> {
    let text = string(key, v)?;
    crate::parse_duration(&text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            bad(
                key,
                format!("expected a duration such as 7d or 12h, got '{text}'"),
            )
        })
}

/// Sizes as a number of bytes or with a unit: `512MB`, `2GB`, `100KiB`.
fn bytes(key: &str, v: &Value) -> Result<u64, ConfigError> {
    let text = string(key, v)?;
    let t = text.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => 0,
    };
    num.parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && mult > 0)
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| {
            bad(
                key,
                format!("expected a size such as 1GB or 500MiB, got '{text}'"),
            )
        })
}

fn token(key: &str, v: &Value) -> Result<Option<String>, ConfigError> {
    if v.is_null() {
        return Ok(None);
    }
    let t = string(key, v)?;
    if t.is_empty() {
        return Ok(None);
    }
    check_token(key, &t)?;
    Ok(Some(t))
}

fn check_token(key: &str, t: &str) -> Result<(), ConfigError> {
    if t.len() < MIN_TOKEN_LEN || t.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(bad(
            key,
            format!("expected at least {MIN_TOKEN_LEN} printable characters without spaces"),
        ));
    }
    Ok(())
}

/// Reads `alert_store`; `builtin` is true when no file was read.
pub(crate) fn alert_store(root: &Value, builtin: bool) -> Result<AlertStoreConfig, ConfigError> {
    let mut c = AlertStoreConfig {
        enabled: builtin,
        ..AlertStoreConfig::default()
    };
    let Some(v) = root.get("alert_store").filter(|v| !v.is_null()) else {
        return Ok(c);
    };
    let m = mapping(
        "alert_store",
        v,
        &["enabled", "path", "ancestry_depth", "retention"],
    )?;
    if let Some(x) = m.get("enabled") {
        c.enabled = boolean("alert_store.enabled", x)?;
    }
    if let Some(x) = m.get("path") {
        let p = string("alert_store.path", x)?;
        if p.is_empty() {
            return Err(bad("alert_store.path", "empty path"));
        }
        c.path = PathBuf::from(p);
    }
    if let Some(x) = m.get("ancestry_depth") {
        let n = crate::number("alert_store.ancestry_depth", x)?;
        if n.fract() != 0.0 || !(0.0..=MAX_ANCESTRY_DEPTH as f64).contains(&n) {
            return Err(bad(
                "alert_store.ancestry_depth",
                format!("expected an integer from 0 to {MAX_ANCESTRY_DEPTH}"),
            ));
        }
        c.ancestry_depth = n as usize;
    }
    if let Some(r) = m.get("retention").filter(|v| !v.is_null()) {
        let r = mapping("alert_store.retention", r, &["max_age", "max_bytes"])?;
        if let Some(x) = r.get("max_age") {
            c.max_age = if x.is_null() {
                None
            } else {
                Some(duration("alert_store.retention.max_age", x)?)
            };
        }
        if let Some(x) = r.get("max_bytes") {
            c.max_bytes = if x.is_null() {
                None
            } else {
                Some(bytes("alert_store.retention.max_bytes", x)?)
            };
        }
    }
    Ok(c)
}

/// Reads `console`; `env_token` is `PEREGRINE_CONSOLE_TOKEN`, used when `console.token` is
/// not set.
pub(crate) fn console(
    root: &Value,
    env_token: Option<String>,
) -> Result<ConsoleConfig, ConfigError> {
    let mut c = ConsoleConfig::default();
    if let Some(v) = root.get("console").filter(|v| !v.is_null()) {
        let m = mapping(
            "console",
            v,
            &[
                "enabled",
                "token",
                "read_only_token",
                "users",
                "session_ttl",
                "allow_remote",
            ],
        )?;
        if let Some(x) = m.get("enabled") {
            c.enabled = boolean("console.enabled", x)?;
        }
        if let Some(x) = m.get("token") {
            c.token = token("console.token", x)?;
        }
        if let Some(x) = m.get("read_only_token") {
            c.read_only_token = token("console.read_only_token", x)?;
        }
        if let Some(x) = m.get("session_ttl") {
            c.session_ttl = duration("console.session_ttl", x)?;
        }
        if let Some(x) = m.get("allow_remote") {
            c.allow_remote = boolean("console.allow_remote", x)?;
        }
        if let Some(x) = m.get("users").filter(|v| !v.is_null()) {
            let Value::Array(items) = x else {
                return Err(bad(
                    "console.users",
                    "expected a list of {name, password, role}",
                ));
            };
            for (i, item) in items.iter().enumerate() {
                let key = format!("console.users[{i}]");
                let u = mapping(&key, item, &["name", "password", "role"])?;
                let field = |k: &str| -> Result<String, ConfigError> {
                    let v = u
                        .get(k)
                        .ok_or_else(|| bad(&format!("{key}.{k}"), "missing"))?;
                    string(&format!("{key}.{k}"), v)
                };
                let name = field("name")?;
                if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic()) {
                    return Err(bad(
                        &format!("{key}.name"),
                        "expected a name without spaces",
                    ));
                }
                let password = field("password")?;
                if password.len() < 8 {
                    return Err(bad(
                        &format!("{key}.password"),
                        "expected at least 8 characters",
                    ));
                }
                let role = match u.get("role") {
                    None => Role::Admin,
                    Some(r) => match string(&format!("{key}.role"), r)?.as_str() {
                        "admin" => Role::Admin,
                        "read_only" => Role::ReadOnly,
                        other => {
                            return Err(bad(
                                &format!("{key}.role"),
                                format!("expected 'admin' or 'read_only', got '{other}'"),
                            ))
                        }
                    },
                };
                if c.users.iter().any(|o| o.name == name) {
                    return Err(bad(
                        &format!("{key}.name"),
                        "a user of that name is listed twice",
                    ));
                }
                c.users.push(ConsoleUser {
                    name,
                    password,
                    role,
                });
            }
        }
    }
    if c.token.is_none() {
        if let Some(t) = env_token.filter(|t| !t.is_empty()) {
            check_token("PEREGRINE_CONSOLE_TOKEN", &t)?;
            c.token = Some(t);
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_store_is_on_only_in_the_builtin_configuration() {
        assert!(alert_store(&json!({}), true).expect("ok").enabled);
        assert!(!alert_store(&json!({}), false).expect("ok").enabled);
        let c = alert_store(
            &json!({"alert_store": {"enabled": true, "path": "/tmp/a.db", "ancestry_depth": 3,
                "retention": {"max_age": "7d", "max_bytes": "500MiB"}}}),
            false,
        )
        .expect("ok");
        assert_eq!(c.path, PathBuf::from("/tmp/a.db"));
        assert_eq!(c.ancestry_depth, 3);
        assert_eq!(c.max_age, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(c.max_bytes, Some(500 << 20));
    }

    #[test]
    fn errors_name_the_key_path() {
        let err = |v: Value| alert_store(&v, true).expect_err("bad").to_string();
        assert!(err(json!({"alert_store": {"ancestry_depth": 1000}}))
            .contains("alert_store.ancestry_depth"));
        assert!(
            err(json!({"alert_store": {"retention": {"max_bytes": "lots"}}}))
                .contains("alert_store.retention.max_bytes")
        );
        assert!(
            err(json!({"alert_store": {"retention": {"max_age": "1x"}}}))
                .contains("alert_store.retention.max_age")
        );
        assert!(err(json!({"alert_store": {"colour": 1}})).contains("alert_store.colour"));
        let cerr = |v: Value| console(&v, None).expect_err("bad").to_string();
        assert!(cerr(json!({"console": {"token": "short"}})).contains("console.token"));
        assert!(cerr(
            json!({"console": {"users": [{"name": "a", "password": "longenough", "role": "god"}]}})
        )
        .contains("console.users[0].role"));
        assert!(cerr(json!({"console": {"users": [{"name": "a"}]}}))
            .contains("console.users[0].password"));
        assert!(console(&json!({}), Some("bad token".into()))
            .expect_err("bad")
            .to_string()
            .contains("PEREGRINE_CONSOLE_TOKEN"));
    }

    #[test]
    fn the_environment_token_applies_unless_the_file_sets_one() {
        let env = Some("env-token-0123456789".to_string());
        assert_eq!(console(&json!({}), env.clone()).expect("ok").token, env);
        let c = console(&json!({"console": {"token": "file-token-0123456789"}}), env).expect("ok");
        assert_eq!(c.token.as_deref(), Some("file-token-0123456789"));
        assert!(
            !format!("{c:?}").contains("file-token"),
            "Debug hides secrets"
        );
    }
}
