//! `redis_output` (Peregrine extension): each alert appended to a Redis stream (`XADD` with
//! `MAXLEN ~`) or published on a channel (`PUBLISH`).
//!
//! Key decisions:
//! - **A stream by default**: unlike pub/sub, a stream keeps alerts for consumers that are
//!   not connected right now, and its entry has room for the spool's stable id (field `id`,
//!   beside `priority` and `alert`, the line as the other outputs write it). `MAXLEN ~` keeps
//!   it bounded at Redis's cheapest trimming granularity. `PUBLISH` sends the bare line.
//! - The key (or channel) may contain `{priority}`, replaced by the alert's priority in
//!   lower case (`falco.{priority}` → `falco.critical`).
//! - One blocking connection, made on first use and again after any I/O error; a refused
//!   connection or a timeout is a transient failure (the spool retries), an error answer
//!   from Redis (a `WRONGTYPE` key) is final.

use crate::output::{Output, OutputError};
use peregrine_filter::priority::Priority;
use std::time::Duration;

/// The `redis_output` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Stream key or channel; `{priority}` is replaced.
    pub key: String,
    /// `PUBLISH` instead of `XADD`.
    pub publish: bool,
    /// Approximate stream length bound (`MAXLEN ~`); 0 leaves the stream unbounded.
    pub maxlen: u64,
    /// Connect, read and write timeout of one attempt.
    pub timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379".into(),
            key: "falco".into(),
            publish: false,
            maxlen: 100_000,
            timeout: Duration::from_secs(5),
        }
    }
}

pub struct RedisOutput {
    cfg: RedisConfig,
    client: redis::Client,
    conn: Option<redis::Connection>,
}

impl RedisOutput {
    pub fn new(cfg: RedisConfig) -> Result<RedisOutput, OutputError> {
        let client = redis::Client::open(cfg.url.as_str()).map_err(|e| OutputError::Config {
            key: "redis_output.url".into(),
            reason: e.to_string(),
        })?;
        if cfg.key.is_empty() {
            return Err(OutputError::Config {
                key: "redis_output.key".into(),
                reason: "the key is empty".into(),
            });
        }
        Ok(RedisOutput {
            cfg,
            client,
            conn: None,
        })
    }

    fn key(&self, priority: Priority) -> String {
        self.cfg
            .key
            .replace("{priority}", &priority.as_str().to_ascii_lowercase())
    }

    fn send(
        &mut self,
        line: &str,
        priority: Priority,
        id: Option<&str>,
    ) -> Result<(), OutputError> {
        let key = self.key(priority);
        let cmd = if self.cfg.publish {
            let mut c = redis::cmd("PUBLISH");
            c.arg(&key).arg(line);
            c
        } else {
            let mut c = redis::cmd("XADD");
            c.arg(&key);
            if self.cfg.maxlen > 0 {
                c.arg("MAXLEN").arg("~").arg(self.cfg.maxlen);
            }
            c.arg("*");
            if let Some(id) = id {
                c.arg("id").arg(id);
            }
            c.arg("priority")
                .arg(priority.as_str())
                .arg("alert")
                .arg(line);
            c
        };
        let conn = match self.conn.as_mut() {
            Some(c) => c,
            None => {
                let c = self.connect()?;
                self.conn.insert(c)
            }
        };
        match cmd.query::<redis::Value>(conn) {
            Ok(_) => Ok(()),
            Err(e) => {
                let transient = e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || matches!(
                        e.code(),
                        Some("LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN")
                    );
                if transient {
                    // The connection may be mid-answer: never reuse it.
                    self.conn = None;
                    Err(self.unavailable(e))
                } else {
                    Err(OutputError::Refused {
                        output: "redis",
                        target: key,
                        reason: e.to_string(),
                    })
                }
            }
        }
    }

    fn connect(&self) -> Result<redis::Connection, OutputError> {
        let c = self
            .client
            .get_connection_with_timeout(self.cfg.timeout)
            .map_err(|e| self.unavailable(e))?;
        c.set_read_timeout(Some(self.cfg.timeout))
            .and_then(|()| c.set_write_timeout(Some(self.cfg.timeout)))
            .map_err(|e| self.unavailable(e))?;
        Ok(c)
    }

    fn unavailable(&self, e: redis::RedisError) -> OutputError {
        OutputError::Unavailable {
            output: "redis",
            target: self.cfg.url.clone(),
            reason: e.to_string(),
        }
    }
}

impl Output for RedisOutput {
    fn name(&self) -> &str {
        "redis"
    }

    fn write(&mut self, line: &str, priority: Priority) -> Result<(), OutputError> {
        self.send(line, priority, None)
    }

    fn write_with_id(
        &mut self,
        line: &str,
        priority: Priority,
        id: &str,
    ) -> Result<(), OutputError> {
        self.send(line, priority, Some(id))
    }

    fn reopen(&mut self) -> Result<(), OutputError> {
        self.conn = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_template_and_bad_config() {
        let out = RedisOutput::new(RedisConfig {
            key: "falco.{priority}".into(),
            ..RedisConfig::default()
        })
        .expect("valid");
        assert_eq!(out.key(Priority::Critical), "falco.critical");
        for (cfg, key) in [
            (
                RedisConfig {
                    url: "http://x".into(),
                    ..RedisConfig::default()
                },
                "redis_output.url",
            ),
            (
                RedisConfig {
                    key: String::new(),
                    ..RedisConfig::default()
                },
                "redis_output.key",
            ),
        ] {
            match RedisOutput::new(cfg) {
                Err(OutputError::Config { key: k, .. }) => assert_eq!(k, key),
                _ => panic!("{key} accepted"),
            }
        }
    }
}
