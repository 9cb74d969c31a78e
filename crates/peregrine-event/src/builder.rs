//! An encoder for kernel records: builds a valid record for any schema from named, typed
//! arguments.
//!
//! It exists so that the stages after decoding (state, rules, outputs) can be driven by
//! synthetic event sequences in tests, and so that a capture-file reader can re-encode what it
//! reads into the one record format the rest of the pipeline consumes. Key decision: arguments
//! are given by their schema name and encoded according to the schema's [`ParamType`], so a
//! test cannot put an argument in the wrong slot or with the wrong width; arguments not given
//! are left empty, which decodes as [`Value::Absent`](crate::Value::Absent) like a value the
//! kernel could not read. Flag arguments take the *kernel* value (e.g. `O_CLOEXEC`), exactly as
//! the kernel writes it; decoding converts them to Falco's values.

use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use crate::raw::{Header, KIND_PROCEXIT, KIND_SYSCALL};
use crate::schema::{schema_for, ParamType, Schema};
use crate::EventType;

/// Why a record could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BuildError {
    #[error("'{0}' is not an event with a record schema")]
    UnknownEvent(String),
    #[error("event {event} has no parameter '{param}'")]
    UnknownParam { event: &'static str, param: String },
    #[error("parameter {event}.{param} of type {ty:?} cannot hold {arg}")]
    Mismatch {
        event: &'static str,
        param: &'static str,
        ty: ParamType,
        arg: String,
    },
    #[error("parameter {event}.{param} is {len} bytes, more than a record can carry")]
    TooLong {
        event: &'static str,
        param: &'static str,
        len: usize,
    },
}

/// A socket address argument (`PT_SOCKADDR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrArg {
    Inet(Ipv4Addr, u16),
    Inet6(Ipv6Addr, u16),
    /// A unix path; an abstract name starts with a NUL byte.
    Unix(Vec<u8>),
    /// Any other family, by number (e.g. 16 for AF_NETLINK).
    Other(u8),
}

/// A socket tuple argument (`PT_SOCKTUPLE`), source first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TupleArg {
    Inet((Ipv4Addr, u16), (Ipv4Addr, u16)),
    Inet6((Ipv6Addr, u16), (Ipv6Addr, u16)),
    Unix { src: u64, dst: u64, path: Vec<u8> },
    Other(u8),
}

/// One argument value before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Int(i64),
    Uint(u64),
    Str(Vec<u8>),
    /// A NUL-separated list (execve `args`, `env`, `cgroups`).
    List(Vec<Vec<u8>>),
    Bytes(Vec<u8>),
    Addr(AddrArg),
    Tuple(TupleArg),
    /// A poll-style fd list: `(fd, PPM_POLL* flags)` pairs.
    Fds(Vec<(i64, u16)>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<i32> for Arg {
    fn from(v: i32) -> Self {
        Arg::Int(v.into())
    }
}
impl From<u64> for Arg {
    fn from(v: u64) -> Self {
        Arg::Uint(v)
    }
}
impl From<u32> for Arg {
    fn from(v: u32) -> Self {
        Arg::Uint(v.into())
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Str(v.as_bytes().to_vec())
    }
}
impl From<&[&str]> for Arg {
    fn from(v: &[&str]) -> Self {
        Arg::List(v.iter().map(|s| s.as_bytes().to_vec()).collect())
    }
}
impl<const N: usize> From<[&str; N]> for Arg {
    fn from(v: [&str; N]) -> Self {
        Arg::List(v.iter().map(|s| s.as_bytes().to_vec()).collect())
    }
}
impl From<AddrArg> for Arg {
    fn from(v: AddrArg) -> Self {
        Arg::Addr(v)
    }
}
impl From<&[(i64, u16)]> for Arg {
    fn from(v: &[(i64, u16)]) -> Self {
        Arg::Fds(v.to_vec())
    }
}
impl From<TupleArg> for Arg {
    fn from(v: TupleArg) -> Self {
        Arg::Tuple(v)
    }
}

/// Builds one record; see the module documentation.
#[derive(Debug, Clone)]
pub struct RecordBuilder {
    kind: u16,
    nr: u16,
    schema: &'static Schema,
    ts: u64,
    tid: u32,
    pid: u32,
    cpu: u16,
    params: Vec<Vec<u8>>,
}

impl RecordBuilder {
    /// A syscall record by Falco event name (`"openat"`, `"execve"`, …).
    pub fn syscall(name: &str) -> Result<Self, BuildError> {
        let unknown = || BuildError::UnknownEvent(name.to_string());
        let nr = EventType::from_name(name)
            .and_then(|t| t.syscall_nr())
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(unknown)?;
        Self::with_kind(KIND_SYSCALL, nr).ok_or_else(unknown)
    }

    /// A process-exit record.
    pub fn procexit() -> Self {
        // The procexit schema always exists; fall back to an empty record shape otherwise.
        Self::with_kind(KIND_PROCEXIT, 0).unwrap_or_else(unreachable_schema)
    }

    fn with_kind(kind: u16, nr: u16) -> Option<Self> {
        let schema = schema_for(kind, nr)?;
        Some(RecordBuilder {
            kind,
            nr,
            schema,
            ts: 0,
            tid: 0,
            pid: 0,
            cpu: 0,
            params: vec![Vec::new(); schema.params.len()],
        })
    }

    /// Boot-time timestamp in ns.
    pub fn ts(mut self, ts: u64) -> Self {
        self.ts = ts;
        self
    }

    /// Thread and process (thread group) id of the thread that made the syscall.
    pub fn thread(mut self, tid: u32, pid: u32) -> Self {
        self.tid = tid;
        self.pid = pid;
        self
    }

    pub fn cpu(mut self, cpu: u16) -> Self {
        self.cpu = cpu;
        self
    }

    /// Sets parameter `name`, encoded for its schema type.
    pub fn arg(mut self, name: &str, value: impl Into<Arg>) -> Result<Self, BuildError> {
        let event = self.schema.name;
        let i = self
            .schema
            .index_of(name)
            .ok_or_else(|| BuildError::UnknownParam {
                event,
                param: name.to_string(),
            })?;
        let info = &self.schema.params[i];
        let value = value.into();
        let bytes = encode(info.ty, &value).ok_or_else(|| BuildError::Mismatch {
            event,
            param: info.name,
            ty: info.ty,
            arg: format!("{value:?}"),
        })?;
        if bytes.len() > u16::MAX as usize {
            return Err(BuildError::TooLong {
                event,
                param: info.name,
                len: bytes.len(),
            });
        }
        self.params[i] = bytes;
        Ok(self)
    }

    /// The encoded record.
    pub fn build(&self) -> Vec<u8> {
        let header = Header {
            ts_boot_ns: self.ts,
            tid: self.tid,
            pid: self.pid,
            kind: self.kind,
            nr: self.nr,
            cpu: self.cpu,
        };
        header.encode(&self.params)
    }
}

#[cold]
fn unreachable_schema() -> RecordBuilder {
    RecordBuilder {
        kind: KIND_PROCEXIT,
        nr: 0,
        schema: &Schema {
            name: "procexit",
            params: &[],
        },
        ts: 0,
        tid: 0,
        pid: 0,
        cpu: 0,
        params: Vec::new(),
    }
}

fn with_nul(s: &[u8]) -> Vec<u8> {
    let mut v = s.to_vec();
    v.push(0);
    v
}

fn encode(ty: ParamType, arg: &Arg) -> Option<Vec<u8>> {
    use ParamType as T;
    // An integer argument of either sign gives its 8 little-endian bytes (two's complement).
    let int = match arg {
        Arg::Int(v) => Some(v.to_le_bytes()),
        Arg::Uint(v) => Some(v.to_le_bytes()),
        _ => None,
    };
    Some(match (ty, arg) {
        (t, Arg::Int(_) | Arg::Uint(_))
            if t.is_signed_int()
                || t.is_unsigned_int()
                || matches!(t, T::Flags(..) | T::Enum(..)) =>
        {
            int?.to_vec()
        }
        (T::Str | T::Path | T::RelPath(_), Arg::Str(s)) => with_nul(s),
        (T::Bytes, Arg::Bytes(b) | Arg::Str(b)) => b.clone(),
        // The type index and the value, already laid out (ptrace addr/data, sockopt val).
        (T::Dyn, Arg::Bytes(b)) if matches!(b.len(), 5 | 9) => b.clone(),
        (T::List, Arg::List(items)) => items.iter().flat_map(|i| with_nul(i)).collect(),
        (T::List, Arg::Str(s)) => with_nul(s),
        (T::SockAddr, Arg::Addr(a)) => match a {
            AddrArg::Inet(ip, port) => {
                let mut v = vec![2u8];
                v.extend_from_slice(&ip.octets());
                v.extend_from_slice(&port.to_le_bytes());
                v
            }
            AddrArg::Inet6(ip, port) => {
                let mut v = vec![10u8];
                v.extend_from_slice(&ip.octets());
                v.extend_from_slice(&port.to_le_bytes());
                v
            }
            AddrArg::Unix(path) => {
                let mut v = vec![1u8];
                v.extend_from_slice(path);
                v.push(0);
                v
            }
            AddrArg::Other(f) => vec![*f],
        },
        (T::SockTuple, Arg::Tuple(t)) => match t {
            TupleArg::Inet(src, dst) => {
                let mut v = vec![2u8];
                for (ip, port) in [src, dst] {
                    v.extend_from_slice(&ip.octets());
                    v.extend_from_slice(&port.to_le_bytes());
                }
                v
            }
            TupleArg::Inet6(src, dst) => {
                let mut v = vec![10u8];
                for (ip, port) in [src, dst] {
                    v.extend_from_slice(&ip.octets());
                    v.extend_from_slice(&port.to_le_bytes());
                }
                v
            }
            TupleArg::Unix { src, dst, path } => {
                let mut v = vec![1u8];
                v.extend_from_slice(&src.to_le_bytes());
                v.extend_from_slice(&dst.to_le_bytes());
                v.extend_from_slice(path);
                v.push(0);
                v
            }
            TupleArg::Other(f) => vec![*f],
        },
        (T::FdList, Arg::Fds(fds)) => {
            let mut v = u16::try_from(fds.len()).ok()?.to_le_bytes().to_vec();
            for (fd, flags) in fds {
                v.extend_from_slice(&fd.to_le_bytes());
                v.extend_from_slice(&flags.to_le_bytes());
            }
            v
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::HDR_SIZE;
    use crate::{Event, SockTuple, Value};

    #[test]
    fn round_trips_through_the_decoder() {
        let rec = RecordBuilder::syscall("openat")
            .and_then(|b| b.thread(7, 5).ts(100).arg("fd", 3i64))
            .and_then(|b| b.arg("dirfd", -100i64))
            .and_then(|b| b.arg("name", "etc/passwd"))
            .and_then(|b| b.arg("flags", 0o2000000u32))
            .expect("valid")
            .build();
        let ev = Event::decode(&rec, 0).expect("decodes");
        assert_eq!(
            (ev.name(), ev.tid(), ev.pid(), ev.ts),
            ("openat", 7, 5, 100)
        );
        assert_eq!(ev.param("fd"), Some(Ok(Value::Int(3))));
        assert_eq!(ev.param("name"), Some(Ok(Value::Str(b"etc/passwd"))));
        assert_eq!(ev.param("mode"), Some(Ok(Value::Absent)));
        assert_eq!(
            ev.param("flags")
                .and_then(|v| v.ok())
                .and_then(|v| v.as_i64()),
            Some(4097)
        );

        let tuple = TupleArg::Inet(
            (Ipv4Addr::new(10, 0, 0, 5), 40312),
            (Ipv4Addr::new(93, 184, 216, 34), 443),
        );
        let rec = RecordBuilder::syscall("connect")
            .and_then(|b| b.arg("tuple", tuple))
            .expect("valid")
            .build();
        let ev = Event::decode(&rec, 0).expect("decodes");
        assert_eq!(
            ev.param("tuple"),
            Some(Ok(Value::SockTuple(SockTuple::Inet {
                src: (Ipv4Addr::new(10, 0, 0, 5), 40312),
                dst: (Ipv4Addr::new(93, 184, 216, 34), 443)
            })))
        );

        let rec = RecordBuilder::syscall("execve")
            .and_then(|b| b.arg("args", ["-c", "true"]))
            .expect("valid")
            .build();
        let ev = Event::decode(&rec, 0).expect("decodes");
        assert_eq!(ev.param("args"), Some(Ok(Value::Bytes(b"-c\0true\0"))));
        assert!(RecordBuilder::procexit().build().len() > HDR_SIZE);
    }

    #[test]
    fn rejects_misuse() {
        assert_eq!(
            RecordBuilder::syscall("nosuch").err(),
            Some(BuildError::UnknownEvent("nosuch".into()))
        );
        let b = RecordBuilder::syscall("close").expect("close");
        assert!(matches!(
            b.clone().arg("nosuch", 1i64),
            Err(BuildError::UnknownParam { .. })
        ));
        assert!(matches!(
            b.arg("fd", "text"),
            Err(BuildError::Mismatch { .. })
        ));
    }
}
