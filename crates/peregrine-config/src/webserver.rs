//! Falco's `webserver` block of falco.yaml. Read here rather than in `peregrine-web` so that
//! the configuration does not depend on the server (and, through its metrics page, on the
//! kernel capture); the server takes the typed [`WebConfig`].

use crate::ConfigError;
use serde_json::Value;
use std::path::PathBuf;

/// Falco's `webserver` configuration block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebConfig {
    pub enabled: bool,
    pub listen_address: String,
    pub listen_port: u16,
    pub k8s_healthz_endpoint: String,
    pub prometheus_metrics_enabled: bool,
    /// Serve HTTPS with [`WebConfig::ssl_certificate`]; the server refuses to start when the
    /// file cannot be used, never falling back to plain HTTP.
    pub ssl_enabled: bool,
    /// Falco's combined PEM file: the certificate chain and the private key together.
    pub ssl_certificate: PathBuf,
}

impl Default for WebConfig {
    /// Falco's defaults.
    fn default() -> Self {
        WebConfig {
            enabled: true,
            listen_address: "0.0.0.0".into(),
            listen_port: 8765,
            k8s_healthz_endpoint: "/healthz".into(),
            prometheus_metrics_enabled: false,
            ssl_enabled: false,
            ssl_certificate: PathBuf::from("/etc/falco/falco.pem"),
        }
    }
}

/// A bad `webserver` value, reported as the configuration's [`ConfigError::Value`] under
/// `webserver.<key>`.
struct Invalid {
    key: &'static str,
    reason: String,
}

impl From<Invalid> for ConfigError {
    fn from(e: Invalid) -> Self {
        ConfigError::Value {
            key: format!("webserver.{}", e.key),
            reason: e.reason,
        }
    }
}

impl WebConfig {
    /// Reads the `webserver` node of the configuration tree (absent = Falco's defaults).
    /// Returns warnings for unknown keys (`threadiness` has no meaning here and is accepted).
    pub fn from_value(node: Option<&Value>) -> Result<(WebConfig, Vec<String>), ConfigError> {
        let (cfg, unknown) = Self::read(node)?;
        let warnings = unknown
            .iter()
            .map(|k| format!("unknown key 'webserver.{k}' ignored"))
            .collect();
        Ok((cfg, warnings))
    }

    /// [`WebConfig::from_value`] with the unknown keys apart (the configuration's schema check
    /// reports those with every other unknown key).
    pub(crate) fn read(node: Option<&Value>) -> Result<(WebConfig, Vec<String>), ConfigError> {
        let mut cfg = WebConfig::default();
        let mut unknown = Vec::new();
        let Some(node) = node.filter(|v| !v.is_null()) else {
            return Ok((cfg, unknown));
        };
        let map = node.as_object().ok_or(Invalid {
            key: "",
            reason: "expected a mapping".into(),
        })?;
        for (key, v) in map {
            match key.as_str() {
                "enabled" => cfg.enabled = bool_value("enabled", v)?,
                "listen_address" => cfg.listen_address = string_value("listen_address", v)?,
                "listen_port" => {
                    let n = u64_value("listen_port", v)?;
                    cfg.listen_port = u16::try_from(n).map_err(|_| Invalid {
                        key: "listen_port",
                        reason: format!("{n} is not a TCP port"),
                    })?;
                }
                "k8s_healthz_endpoint" => {
                    let path = string_value("k8s_healthz_endpoint", v)?;
                    if !path.starts_with('/') {
                        return Err(Invalid {
                            key: "k8s_healthz_endpoint",
                            reason: format!("'{path}' must start with '/'"),
                        }
                        .into());
                    }
                    cfg.k8s_healthz_endpoint = path;
                }
                "prometheus_metrics_enabled" => {
                    cfg.prometheus_metrics_enabled = bool_value("prometheus_metrics_enabled", v)?
                }
                "ssl_enabled" => cfg.ssl_enabled = bool_value("ssl_enabled", v)?,
                "ssl_certificate" => {
                    let path = string_value("ssl_certificate", v)?;
                    if path.is_empty() {
                        return Err(Invalid {
                            key: "ssl_certificate",
                            reason: "empty path".into(),
                        }
                        .into());
                    }
                    cfg.ssl_certificate = PathBuf::from(path);
                }
                // The server's own runtime sizes itself; Falco's thread count has no meaning.
                "threadiness" => {}
                other => unknown.push(other.to_string()),
            }
        }
        Ok((cfg, unknown))
    }
}

fn bool_value(key: &'static str, v: &Value) -> Result<bool, Invalid> {
    // Values set with `-o key=value` arrive as strings.
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        _ => Err(Invalid {
            key,
            reason: format!("expected true or false, got {v}"),
        }),
    }
}

fn u64_value(key: &'static str, v: &Value) -> Result<u64, Invalid> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.ok_or_else(|| Invalid {
        key,
        reason: format!("expected a non-negative integer, got {v}"),
    })
}

fn string_value(key: &'static str, v: &Value) -> Result<String, Invalid> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(Invalid {
            key,
            reason: format!("expected a string, got {v}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_values() {
        let check = |v: Value, expected: Result<WebConfig, &str>, warnings: usize| match (
            WebConfig::from_value(Some(&v)),
            expected,
        ) {
            (Ok((cfg, w)), Ok(exp)) => {
                assert_eq!(cfg, exp, "{v}");
                assert_eq!(w.len(), warnings, "{v}: {w:?}");
            }
            (Err(e), Err(msg)) => assert!(e.to_string().contains(msg), "{v}: {e}"),
            (got, exp) => panic!("{v}: got {got:?}, expected {exp:?}"),
        };
        let d = WebConfig::default;
        check(json!({}), Ok(d()), 0);
        check(Value::Null, Ok(d()), 0);
        check(
            json!({"enabled": "false", "listen_port": "9000", "prometheus_metrics_enabled": true}),
            Ok(WebConfig {
                enabled: false,
                listen_port: 9000,
                prometheus_metrics_enabled: true,
                ..d()
            }),
            0,
        );
        check(
            json!({"ssl_enabled": true, "threadiness": 0, "bogus": 1}),
            Ok(WebConfig {
                ssl_enabled: true,
                ..d()
            }),
            1,
        );
        check(
            json!({"ssl_enabled": "true", "ssl_certificate": "/tmp/x.pem"}),
            Ok(WebConfig {
                ssl_enabled: true,
                ssl_certificate: "/tmp/x.pem".into(),
                ..d()
            }),
            0,
        );
        check(json!({"ssl_certificate": ""}), Err("empty path"), 0);
        check(
            json!({"listen_port": 70000}),
            Err("70000 is not a TCP port"),
            0,
        );
        check(json!({"listen_port": -1}), Err("listen_port"), 0);
        check(json!({"enabled": "yes"}), Err("expected true or false"), 0);
        check(
            json!({"k8s_healthz_endpoint": "health"}),
            Err("must start with '/'"),
            0,
        );
        check(json!([1]), Err("expected a mapping"), 0);
    }
}
