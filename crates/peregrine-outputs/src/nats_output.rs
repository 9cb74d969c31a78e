//! `nats_output` (Peregrine extension): each alert published on a NATS subject, or into a
//! JetStream stream with the server's acknowledgement awaited.
//!
//! Key decisions:
//! - **async-nats on a runtime of its own.** The maintained NATS client is async; this sink
//!   owns a one-worker tokio runtime (its thread keeps the connection's pings and reconnects
//!   going between alerts) and blocks its output thread on each publish, so the rest of the
//!   outputs stay plain threads. The cost is one more thread while the output is enabled.
//! - **The id is `Nats-Msg-Id`**, the header JetStream deduplicates on: an alert published
//!   twice (a retry after a lost ack) is stored once within the stream's duplicate window.
//! - **Delivery means acknowledged.** With `jetstream: true` an attempt succeeds when the
//!   stream's PubAck arrives; in core NATS when the server has the message (a flush). Either
//!   waits at most `timeout`; anything short of that is a transient failure the spool retries.
//! - Subject template: `{priority}` (lower case) and `{rule}` (the rule name with anything
//!   but letters, digits, `-` and `_` made `_`, so a rule never adds subject tokens). The
//!   sink reads the rule from Falco's JSON line, which it always gets (the payload).

use crate::format::FormatOptions;
use crate::output::{Item, Output, OutputError};
use peregrine_filter::priority::Priority;
use std::future::IntoFuture;
use std::time::Duration;

/// The `nats_output` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsConfig {
    /// `nats://host:port` (several comma-separated servers are accepted).
    pub url: String,
    /// Subject template: `{priority}` and `{rule}` are replaced.
    pub subject: String,
    /// Publish through JetStream and wait for its acknowledgement.
    pub jetstream: bool,
    /// The longest one attempt (connect, publish, acknowledgement) may take.
    pub timeout: Duration,
    /// The credential the server's `authorization` block asks for: a user and password, or
    /// a token. A wrong one makes every attempt fail (the spool keeps the alerts).
    pub auth: NatsAuth,
    /// `None`: plain TCP (unless the URL is `tls://`).
    pub tls: Option<NatsTls>,
}

/// TLS to nats-server: required, with the CA that signed the server's certificate and, for
/// mutual TLS, the client's certificate and key (PEM files).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NatsTls {
    pub ca_cert: Option<std::path::PathBuf>,
    pub client: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl NatsTls {
    /// `opts` requiring TLS with these files.
    pub fn apply(&self, mut opts: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
        opts = opts.require_tls(true);
        if let Some(ca) = &self.ca_cert {
            opts = opts.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.client {
            opts = opts.add_client_certificate(cert.clone(), key.clone());
        }
        opts
    }
}

/// How the client authenticates to nats-server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NatsAuth {
    #[default]
    None,
    UserPassword {
        user: String,
        password: String,
    },
    Token(String),
}

impl NatsAuth {
    /// `opts` with this credential.
    pub fn apply(&self, opts: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
        match self {
            NatsAuth::None => opts,
            NatsAuth::UserPassword { user, password } => {
                opts.user_and_password(user.clone(), password.clone())
            }
            NatsAuth::Token(t) => opts.token(t.clone()),
        }
    }
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            subject: "falco.{priority}".into(),
            jetstream: false,
            timeout: Duration::from_secs(5),
            auth: NatsAuth::None,
            tls: None,
        }
    }
}

pub struct NatsOutput {
    cfg: NatsConfig,
    runtime: tokio::runtime::Runtime,
    client: Option<async_nats::Client>,
}

impl NatsOutput {
    pub fn new(cfg: NatsConfig) -> Result<NatsOutput, OutputError> {
        if cfg.subject.is_empty() || cfg.subject.contains(char::is_whitespace) {
            return Err(OutputError::Config {
                key: "nats_output.subject".into(),
                reason: format!("not a NATS subject: '{}'", cfg.subject),
            });
        }
        if cfg.url.is_empty() {
            return Err(OutputError::Config {
                key: "nats_output.url".into(),
                reason: "the URL is empty".into(),
            });
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("output-nats-io")
            .enable_all()
            .build()
            .map_err(|e| OutputError::io("nats", "start its runtime", e))?;
        Ok(NatsOutput {
            cfg,
            runtime,
            client: None,
        })
    }

    /// The subject of an alert whose JSON line is `line`.
    pub fn subject(&self, line: &str, priority: Priority) -> String {
        crate::template::destination(&self.cfg.subject, line, priority)
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> OutputError {
        OutputError::Unavailable {
            output: "nats",
            target: self.cfg.url.clone(),
            reason: reason.to_string(),
        }
    }

    /// The client, connecting first if need be.
    fn client(&mut self) -> Result<async_nats::Client, OutputError> {
        let timeout = self.cfg.timeout;
        if self.client.is_none() {
            let mut opts = self.cfg.auth.apply(
                async_nats::ConnectOptions::new()
                    .connection_timeout(timeout)
                    .request_timeout(Some(timeout)),
            );
            if let Some(tls) = &self.cfg.tls {
                opts = tls.apply(opts);
            }
            // async-nats parses one URL per string: a comma-separated list is split here.
            let url: Vec<String> = self
                .cfg
                .url
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect();
            let client = self
                .runtime
                .block_on(async { tokio::time::timeout(timeout, opts.connect(url)).await })
                .map_err(|_| self.unavailable("connect timed out"))?
                .map_err(|e| self.unavailable(e))?;
            self.client = Some(client);
        }
        self.client
            .clone()
            .ok_or_else(|| self.unavailable("not connected"))
    }

    fn publish(
        &mut self,
        line: &str,
        priority: Priority,
        id: Option<&str>,
    ) -> Result<(), OutputError> {
        let subject = self.subject(line, priority);
        let timeout = self.cfg.timeout;
        let client = self.client()?;
        let mut headers = async_nats::HeaderMap::new();
        if let Some(id) = id {
            headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
        }
        let payload = line.to_string().into();
        let jetstream = self.cfg.jetstream;
        let sent: Result<(), String> = self.runtime.block_on(async move {
            let attempt = async {
                if jetstream {
                    let js = async_nats::jetstream::new(client);
                    let ack = js
                        .publish_with_headers(subject, headers, payload)
                        .await
                        .map_err(|e| e.to_string())?;
                    ack.await.map(|_| ()).map_err(|e| e.to_string())
                } else {
                    client
                        .publish_with_headers(subject, headers, payload)
                        .await
                        .map_err(|e| e.to_string())?;
                    client.flush().await.map_err(|e| e.to_string())
                }
            };
            tokio::time::timeout(timeout, attempt)
                .await
                .map_err(|_| "timed out".to_string())?
        });
        sent.map_err(|e| self.unavailable(e))
    }
}

impl Output for NatsOutput {
    fn name(&self) -> &str {
        "nats"
    }

    fn write(&mut self, line: &str, priority: Priority) -> Result<(), OutputError> {
        self.publish(line, priority, None)
    }

    fn write_with_id(
        &mut self,
        line: &str,
        priority: Priority,
        id: &str,
    ) -> Result<(), OutputError> {
        self.publish(line, priority, Some(id))
    }

    /// The whole batch is in flight at once: with JetStream the acknowledgements are awaited
    /// together, in core NATS one flush covers it; one round trip per batch, not per alert.
    fn write_batch(&mut self, items: &[Item<'_>]) -> Vec<Result<(), OutputError>> {
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => return vec![Err(e)],
        };
        let timeout = self.cfg.timeout;
        let msgs: Vec<(String, async_nats::HeaderMap, String)> = items
            .iter()
            .map(|it| {
                let mut h = async_nats::HeaderMap::new();
                h.insert(async_nats::header::NATS_MESSAGE_ID, it.id);
                (self.subject(it.line, it.priority), h, it.line.to_string())
            })
            .collect();
        if !self.cfg.jetstream {
            // Core NATS: the batch, then one flush; the server has all of it or the batch
            // counts as not delivered (a retry may then bring duplicates, by id).
            let n = msgs.len();
            let sent: Result<(), String> = self.runtime.block_on(async move {
                let attempt = async {
                    for (subject, headers, line) in msgs {
                        client
                            .publish_with_headers(subject, headers, line.into())
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    client.flush().await.map_err(|e| e.to_string())
                };
                tokio::time::timeout(timeout, attempt)
                    .await
                    .map_err(|_| "timed out".to_string())?
            });
            return match sent {
                Ok(()) => (0..n).map(|_| Ok(())).collect(),
                Err(e) => vec![Err(self.unavailable(e))],
            };
        }
        let outcomes: Vec<Result<(), String>> = self.runtime.block_on(async move {
            let js = async_nats::jetstream::new(client);
            let mut acks = Vec::with_capacity(msgs.len());
            for (subject, headers, line) in msgs {
                let sent = tokio::time::timeout(
                    timeout,
                    js.publish_with_headers(subject, headers, line.into()),
                )
                .await;
                acks.push(match sent {
                    Ok(Ok(ack)) => Ok(ack),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("timed out".to_string()),
                });
            }
            let mut out = Vec::with_capacity(acks.len());
            let deadline = tokio::time::Instant::now() + timeout;
            for ack in acks {
                out.push(match ack {
                    Ok(ack) => match tokio::time::timeout_at(deadline, ack.into_future()).await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("timed out".to_string()),
                    },
                    Err(e) => Err(e),
                });
            }
            out
        });
        let mut results = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            let failed = o.is_err();
            results.push(o.map_err(|e| self.unavailable(e)));
            if failed {
                break;
            }
        }
        results
    }

    fn format(&self) -> Option<FormatOptions> {
        Some(FormatOptions {
            json_output: true,
            json_include_output_property: true,
            json_include_output_fields_property: true,
            ..FormatOptions::default()
        })
    }

    fn reopen(&mut self) -> Result<(), OutputError> {
        self.client = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_template() {
        let out = NatsOutput::new(NatsConfig {
            subject: "falco.{priority}.{rule}".into(),
            ..NatsConfig::default()
        })
        .expect("valid");
        assert_eq!(
            out.subject(r#"{"rule":"Read a.b *file>"}"#, Priority::Warning),
            "falco.warning.Read_a_b__file_"
        );
        assert_eq!(
            out.subject("not json", Priority::Debug),
            "falco.debug.unknown"
        );
        match NatsOutput::new(NatsConfig {
            subject: "a b".into(),
            ..NatsConfig::default()
        }) {
            Err(OutputError::Config { key, .. }) => assert_eq!(key, "nats_output.subject"),
            _ => panic!("accepted"),
        }
    }
}
