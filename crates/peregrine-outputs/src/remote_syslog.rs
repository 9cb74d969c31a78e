//! `remote_syslog_output` (Peregrine extension): alerts as RFC 5424 syslog messages over TCP,
//! or TLS (RFC 5425, rustls, trusting `ca_cert` or the system bundle), to a remote collector
//! (rsyslog, syslog-ng), framed by octet counting (RFC 6587), the framing that survives a
//! newline inside a message.
//!
//! Falco's `syslog_output` writes to the local daemon's datagram socket (`syslog.rs`); this
//! sink is for a collector elsewhere, which a datagram would reach without any guarantee. A
//! message is `<PRI>1 TIME HOST falco - ALERT [peregrine@32473 id=… rule=… priority=…] TEXT`:
//! PRI from the facility (`user` unless set) and the priority, TIME and HOST the alert's, the
//! stable id and the rule as structured data so a collector can drop duplicates and filter
//! without parsing the text. Delivered means written to the connection (plain TCP syslog has
//! no acknowledgement): a connection the collector closed is noticed before writing, a write
//! error drops the connection, and the spool retries; what a collector killed outright had
//! received but not yet processed is beyond any sender's reach.

use crate::alert::syslog_severity;
use crate::format::FormatOptions;
use crate::output::{Output, OutputError};
use peregrine_filter::priority::Priority;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// The private enterprise number of the structured data element: 32473 is the number
/// RFC 5612 reserves for documentation and examples.
const SD_ID: &str = "peregrine@32473";

/// The `remote_syslog_output` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSyslogConfig {
    /// `host:port` of the collector.
    pub address: String,
    /// Syslog facility number (1 = user, as Falco's local syslog output).
    pub facility: u8,
    /// Connect and write timeout.
    pub timeout: Duration,
    /// TLS (RFC 5425) instead of plain TCP.
    pub tls: bool,
    /// PEM file of the CA that signed the collector's certificate (TLS); empty: the system
    /// bundle.
    pub ca_cert: String,
}

impl Default for RemoteSyslogConfig {
    fn default() -> Self {
        RemoteSyslogConfig {
            address: String::new(),
            facility: 1,
            timeout: Duration::from_secs(5),
            tls: false,
            ca_cert: String::new(),
        }
    }
}

pub struct RemoteSyslogOutput {
    cfg: RemoteSyslogConfig,
    conn: Option<Conn>,
    tls: Option<Arc<rustls::ClientConfig>>,
    pid: u32,
}

/// A connection to the collector.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    /// True when the collector closed or reset the connection. Over TLS the collector does
    /// send records (session tickets, close_notify): they are read and processed here.
    fn closed(&mut self) -> bool {
        let t = match self {
            Conn::Plain(s) => return peer_closed(s),
            Conn::Tls(t) => t,
        };
        if t.sock.set_nonblocking(true).is_err() {
            return true;
        }
        let closed = loop {
            match t.conn.read_tls(&mut t.sock) {
                Ok(0) => break true,
                Ok(_) => match t.conn.process_new_packets() {
                    Ok(state) if state.peer_has_closed() => break true,
                    Ok(_) => {}
                    Err(_) => break true,
                },
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                Err(_) => break true,
            }
        };
        closed || t.sock.set_nonblocking(false).is_err()
    }

    fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(data).and_then(|()| s.flush()),
            Conn::Tls(t) => t.write_all(data).and_then(|()| t.flush()),
        }
    }
}

impl RemoteSyslogOutput {
    pub fn new(cfg: RemoteSyslogConfig) -> Result<RemoteSyslogOutput, OutputError> {
        if cfg
            .address
            .rsplit_once(':')
            .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            return Err(OutputError::Config {
                key: "remote_syslog_output.address".into(),
                reason: format!("expected host:port, got '{}'", cfg.address),
            });
        }
        if cfg.facility > 23 {
            return Err(OutputError::Config {
                key: "remote_syslog_output.facility".into(),
                reason: format!("a syslog facility is 0 to 23, got {}", cfg.facility),
            });
        }
        let tls = if cfg.tls {
            let http = crate::http::HttpConfig {
                ca_cert: cfg.ca_cert.clone(),
                ca_path: String::new(),
                ..crate::http::HttpConfig::default()
            };
            let c = crate::http::tls_config(&http).map_err(|e| OutputError::Config {
                key: "remote_syslog_output.ca_cert".into(),
                reason: e.to_string(),
            })?;
            Some(Arc::new(c))
        } else {
            None
        };
        Ok(RemoteSyslogOutput {
            cfg,
            conn: None,
            tls,
            pid: std::process::id(),
        })
    }

    /// The RFC 5424 message for one alert (Falco's JSON line), without framing.
    pub fn message(&self, line: &str, priority: Priority, id: Option<&str>) -> String {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| serde_json::json!({"output": line}));
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default();
        let pri = u32::from(self.cfg.facility) * 8 + u32::from(syslog_severity(priority));
        let field = |s: &str| {
            // HOSTNAME and TIMESTAMP are printable ASCII without spaces, or nil.
            let t: String = s
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(255)
                .collect();
            if t.is_empty() {
                "-".to_string()
            } else {
                t
            }
        };
        let mut sd = format!("[{SD_ID}");
        if let Some(id) = id {
            sd.push_str(&format!(" id=\"{}\"", sd_escape(id)));
        }
        sd.push_str(&format!(
            " rule=\"{}\" priority=\"{}\"]",
            sd_escape(text("rule")),
            priority.as_str()
        ));
        format!(
            "<{pri}>1 {} {} falco {} ALERT {sd} {}",
            field(text("time")),
            field(text("hostname")),
            self.pid,
            text("output")
        )
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> OutputError {
        OutputError::Unavailable {
            output: "remote_syslog",
            target: self.cfg.address.clone(),
            reason: reason.to_string(),
        }
    }

    fn connect(&self) -> Result<Conn, OutputError> {
        let addr = self
            .cfg
            .address
            .to_socket_addrs()
            .map_err(|e| self.unavailable(e))?
            .next()
            .ok_or_else(|| self.unavailable("no address"))?;
        let s =
            TcpStream::connect_timeout(&addr, self.cfg.timeout).map_err(|e| self.unavailable(e))?;
        s.set_write_timeout(Some(self.cfg.timeout))
            .map_err(|e| self.unavailable(e))?;
        let _ = s.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok(Conn::Plain(s));
        };
        let host = self
            .cfg
            .address
            .rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
            .unwrap_or_default()
            .to_string();
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(|e| self.unavailable(format!("server name: {e}")))?;
        let conn =
            rustls::ClientConnection::new(tls.clone(), name).map_err(|e| self.unavailable(e))?;
        s.set_read_timeout(Some(self.cfg.timeout))
            .map_err(|e| self.unavailable(e))?;
        let mut stream = rustls::StreamOwned::new(conn, s);
        // Handshake now, so a bad certificate shows as this attempt's error.
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| self.unavailable(format!("TLS handshake: {e}")))?;
        }
        Ok(Conn::Tls(Box::new(stream)))
    }

    fn send(
        &mut self,
        line: &str,
        priority: Priority,
        id: Option<&str>,
    ) -> Result<(), OutputError> {
        let msg = self.message(line, priority, id);
        let framed = format!("{} {msg}", msg.len());
        // Syslog over TCP has no acknowledgement, and a write to a connection whose peer has
        // gone still succeeds once: look for the peer's close first (a collector never
        // sends anything, so a readable socket means EOF or a reset).
        if self.conn.as_mut().is_some_and(Conn::closed) {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(self.connect()?);
        }
        let written = match self.conn.as_mut() {
            Some(c) => c.send(framed.as_bytes()),
            None => return Err(self.unavailable("not connected")),
        };
        written.map_err(|e| {
            self.conn = None;
            self.unavailable(e)
        })
    }
}

/// True when the collector closed or reset the connection.
fn peer_closed(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    let r = s.peek(&mut [0u8; 1]);
    let closed = match r {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    closed || s.set_nonblocking(false).is_err()
}

/// RFC 5424 PARAM-VALUE escaping: `"`, `\` and `]` take a backslash.
fn sd_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Output for RemoteSyslogOutput {
    fn name(&self) -> &str {
        "remote_syslog"
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

    fn format(&self) -> Option<FormatOptions> {
        Some(FormatOptions {
            json_output: true,
            json_include_output_property: true,
            ..FormatOptions::default()
        })
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
    fn rfc5424_message() {
        let out = RemoteSyslogOutput::new(RemoteSyslogConfig {
            address: "127.0.0.1:514".into(),
            ..RemoteSyslogConfig::default()
        })
        .expect("valid");
        let line = r#"{"hostname":"node 1","output":"12:00:00: Critical x","priority":"Critical","rule":"R \"a\" ]","time":"2026-11-28T21:05:03.123456789Z"}"#;
        let m = out.message(line, Priority::Critical, Some("u-1"));
        let want = format!(
            "<10>1 2026-11-28T21:05:03.123456789Z node1 falco {} ALERT \
             [peregrine@32473 id=\"u-1\" rule=\"R \\\"a\\\" \\]\" priority=\"Critical\"] \
             12:00:00: Critical x",
            std::process::id()
        );
        assert_eq!(m, want);
        for (address, facility, key) in [
            ("nohost", 1, "remote_syslog_output.address"),
            ("h:99999", 1, "remote_syslog_output.address"),
            ("h:514", 24, "remote_syslog_output.facility"),
        ] {
            match RemoteSyslogOutput::new(RemoteSyslogConfig {
                address: address.into(),
                facility,
                ..RemoteSyslogConfig::default()
            }) {
                Err(OutputError::Config { key: k, .. }) => assert_eq!(k, key),
                _ => panic!("{address} accepted"),
            }
        }
    }
}
