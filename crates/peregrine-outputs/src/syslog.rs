//! `syslog_output`: RFC 3164 datagrams on the local syslog socket, byte for byte what glibc's
//! `syslog(3)` sends for Falco: `<PRI>Mmm dd hh:mm:ss ident: message`.
//!
//! Key decision: speak the socket protocol directly instead of calling `syslog(3)`, so the
//! target socket, ident and facility are per-sink values (tests bind their own socket) and no
//! `unsafe` or process-global `openlog` state is involved. Falco never calls `openlog`, so
//! its facility is `LOG_USER` and its ident the program name; the ident defaults to `falco`
//! so existing syslog routing (`programname == "falco"`) keeps working.

use crate::alert::syslog_severity;
use crate::output::{Output, OutputError};
use peregrine_filter::fields::FieldId;
use peregrine_filter::format::format_time;
use peregrine_filter::priority::Priority;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// `LOG_USER`, the facility `syslog(3)` uses when `openlog` was never called.
pub const FACILITY_USER: u8 = 1;
/// The standard local socket.
pub const DEV_LOG: &str = "/dev/log";

pub struct SyslogOutput {
    path: PathBuf,
    ident: String,
    facility: u8,
    socket: Option<UnixDatagram>,
    buf: String,
}

impl SyslogOutput {
    pub fn new(path: impl Into<PathBuf>, ident: &str, facility: u8) -> SyslogOutput {
        SyslogOutput {
            path: path.into(),
            ident: ident.to_string(),
            facility,
            socket: None,
            buf: String::new(),
        }
    }

    /// Falco's sink: `/dev/log`, `LOG_USER`, ident `falco`.
    pub fn falco_default() -> SyslogOutput {
        SyslogOutput::new(DEV_LOG, "falco", FACILITY_USER)
    }

    /// Whether the socket can be reached now (checked at start, so that a host without a
    /// syslog daemon hears about it before the first alert is lost).
    pub fn probe(&self) -> Result<(), OutputError> {
        self.connect().map(drop)
    }

    fn connect(&self) -> Result<UnixDatagram, OutputError> {
        let s = UnixDatagram::unbound().map_err(|e| OutputError::io("syslog", "socket", e))?;
        s.connect(&self.path).map_err(|e| {
            OutputError::io("syslog", format!("connect {}", self.path.display()), e)
        })?;
        Ok(s)
    }
}

/// The datagram for `line` sent at `now_ns`: `<PRI>` then `%h %e %T ` (UTC, like the agent's
/// other times) then `ident: line`.
pub fn datagram(
    facility: u8,
    ident: &str,
    priority: Priority,
    now_ns: u64,
    line: &str,
    out: &mut String,
) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let pri = u16::from(facility) * 8 + u16::from(syslog_severity(priority));
    let mut dt = String::with_capacity(20);
    // "YYYY-MM-DD HH:MM:SS"
    format_time(FieldId::EvtDatetimeS, now_ns, &mut dt);
    let month = dt
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .unwrap_or(&"Jan");
    let day = dt.get(8..10).unwrap_or("01");
    let day = day
        .strip_prefix('0')
        .map_or(day.to_string(), |d| format!(" {d}"));
    let time = dt.get(11..19).unwrap_or("00:00:00");
    out.clear();
    out.push_str(&format!("<{pri}>{month} {day} {time} {ident}: "));
    out.push_str(line);
}

impl Output for SyslogOutput {
    fn name(&self) -> &str {
        "syslog"
    }

    fn write(&mut self, line: &str, priority: Priority) -> Result<(), OutputError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut buf = std::mem::take(&mut self.buf);
        datagram(self.facility, &self.ident, priority, now, line, &mut buf);
        let socket = match self.socket.take() {
            Some(s) => s,
            None => self.connect()?,
        };
        let result = socket
            .send(buf.as_bytes())
            .map(drop)
            .map_err(|e| OutputError::io("syslog", "send", e));
        // After a failure (syslogd restarted) the next line reconnects.
        if result.is_ok() {
            self.socket = Some(socket);
        }
        self.buf = buf;
        result
    }

    fn reopen(&mut self) -> Result<(), OutputError> {
        self.socket = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(priority: Priority, now_ns: u64, expected: &str) {
        let mut s = String::new();
        datagram(FACILITY_USER, "falco", priority, now_ns, "msg", &mut s);
        assert_eq!(s, expected);
    }

    #[test]
    fn glibc_header() {
        // 2026-11-28T21:05:03Z and 2026-03-05T07:08:09Z
        check(
            Priority::Warning,
            1_795_899_903_500_000_000,
            "<12>Nov 28 21:05:03 falco: msg",
        );
        check(
            Priority::Emergency,
            1_772_694_489_000_000_000,
            "<8>Mar  5 07:08:09 falco: msg",
        );
        check(Priority::Debug, 0, "<15>Jan  1 00:00:00 falco: msg");
    }
}
