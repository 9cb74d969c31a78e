//! Typed, borrowed parameter values and their sysdig-style rendering.
//!
//! A [`Value`] borrows strings and byte buffers from the record, so decoding an event costs no
//! allocation; flag values are converted to Falco's PPM values here (see [`crate::flags`]).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use crate::flags::FlagTable;
use crate::le;
use crate::schema::ParamType;

/// A parameter whose bytes do not fit its type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{len}-byte value does not fit a {ty:?} parameter")]
pub struct ValueError {
    pub ty: ParamType,
    pub len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockAddr<'a> {
    Inet(Ipv4Addr, u16),
    Inet6(Ipv6Addr, u16),
    /// sun_path bytes without the terminating NUL (abstract names start with NUL).
    Unix(&'a [u8]),
    /// A family Falco does not decode (e.g. AF_NETLINK).
    Other(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockTuple<'a> {
    Inet {
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
    },
    Inet6 {
        src: (Ipv6Addr, u16),
        dst: (Ipv6Addr, u16),
    },
    /// Kernel socket addresses of both ends and the bound path.
    Unix {
        src: u64,
        dst: u64,
        path: &'a [u8],
    },
    Other(u8),
}

/// A `PT_FDLIST` value (poll's `fds`): validated on decode, read entry by entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdList<'a> {
    /// The entries, 10 bytes each, without the count.
    entries: &'a [u8],
}

impl<'a> FdList<'a> {
    const ENTRY: usize = 10;

    /// The list in `bytes` (`u16` count, then count × (`i64` fd, `u16` flags)); `None` when
    /// the bytes are fewer than the count says. Bytes after the last entry are ignored.
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let (count, rest) = bytes.split_first_chunk::<2>()?;
        let n = usize::from(u16::from_le_bytes(*count));
        let entries = rest.get(..n * Self::ENTRY)?;
        Some(FdList { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len() / Self::ENTRY
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(fd, PPM_POLL* flags)` of each entry, in order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, u16)> + 'a {
        self.entries.chunks_exact(Self::ENTRY).map(|e| {
            let (fd, flags) = e.split_at(8);
            (
                i64::from_le_bytes(fd.try_into().unwrap_or_default()),
                u16::from_le_bytes(flags.try_into().unwrap_or_default()),
            )
        })
    }

    /// Falco's rendering, `fd:<typechar><flags in hex>` separated by spaces (`4:p1 5:p1`);
    /// `typechar` gives the type character of an fd, `?` for one it does not know.
    pub fn write(&self, out: &mut impl fmt::Write, typechar: impl Fn(i64) -> u8) -> fmt::Result {
        for (i, (fd, flags)) in self.iter().enumerate() {
            if i > 0 {
                out.write_char(' ')?;
            }
            write!(out, "{fd}:{}{flags:x}", typechar(fd) as char)?;
        }
        Ok(())
    }
}

/// One decoded parameter value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// A zero-length parameter: Falco renders it `<NA>`.
    Absent,
    /// Fds, results, pids and other signed integers.
    Int(i64),
    /// Unsigned integers, uids/gids, modes, times.
    Uint(u64),
    Flags {
        value: u32,
        table: &'static FlagTable,
    },
    /// A string without its terminating NUL (not necessarily UTF-8).
    Str(&'a [u8]),
    Bytes(&'a [u8]),
    SockAddr(SockAddr<'a>),
    SockTuple(SockTuple<'a>),
    Dyn {
        index: u8,
        value: u64,
    },
    FdList(FdList<'a>),
}

fn strip_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

fn ip4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

fn ip6(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

fn port(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

impl<'a> Value<'a> {
    /// Decodes `bytes` as a parameter of type `ty`.
    pub fn decode(ty: ParamType, bytes: &'a [u8]) -> Result<Value<'a>, ValueError> {
        let bad = || ValueError {
            ty,
            len: bytes.len(),
        };
        if bytes.is_empty() {
            return Ok(Value::Absent);
        }
        use ParamType as T;
        Ok(match ty {
            // Exhaustive on purpose: a new type must decide here (the helpers
            // `ParamType::is_signed_int`/`is_unsigned_int` serve non-exhaustive matches).
            T::Fd | T::Errno | T::Pid | T::Int => Value::Int(le::int(bytes).ok_or_else(bad)?),
            T::Uint | T::Uid | T::Gid | T::Mode | T::ChmodMode | T::AbsTime => {
                Value::Uint(le::uint(bytes).ok_or_else(bad)?)
            }
            T::Flags(table, conv) | T::Enum(table, conv) => Value::Flags {
                value: conv.apply(le::uint(bytes).ok_or_else(bad)?) as u32,
                table,
            },
            T::Str | T::Path | T::RelPath(_) => Value::Str(strip_nul(bytes)),
            T::Bytes | T::List => Value::Bytes(bytes),
            // A type index, then a 32- or 64-bit value (the integer types of Falco's
            // dynamic-parameter tables: ptrace addr/data, sockopt val).
            T::Dyn => {
                if bytes.len() != 9 && bytes.len() != 5 {
                    return Err(bad());
                }
                Value::Dyn {
                    index: bytes[0],
                    value: le::uint(&bytes[1..]).ok_or_else(bad)?,
                }
            }
            T::SockAddr => Value::SockAddr(match bytes[0] {
                2 if bytes.len() >= 7 => SockAddr::Inet(ip4(&bytes[1..]), port(&bytes[5..])),
                10 if bytes.len() >= 19 => SockAddr::Inet6(ip6(&bytes[1..]), port(&bytes[17..])),
                1 => SockAddr::Unix(strip_nul_unix(&bytes[1..])),
                2 | 10 => return Err(bad()),
                f => SockAddr::Other(f),
            }),
            T::SockTuple => Value::SockTuple(match bytes[0] {
                2 if bytes.len() >= 13 => SockTuple::Inet {
                    src: (ip4(&bytes[1..]), port(&bytes[5..])),
                    dst: (ip4(&bytes[7..]), port(&bytes[11..])),
                },
                10 if bytes.len() >= 37 => SockTuple::Inet6 {
                    src: (ip6(&bytes[1..]), port(&bytes[17..])),
                    dst: (ip6(&bytes[19..]), port(&bytes[35..])),
                },
                1 if bytes.len() >= 17 => SockTuple::Unix {
                    src: le::uint(&bytes[1..9]).ok_or_else(bad)?,
                    dst: le::uint(&bytes[9..17]).ok_or_else(bad)?,
                    path: strip_nul_unix(&bytes[17..]),
                },
                1 | 2 | 10 => return Err(bad()),
                f => SockTuple::Other(f),
            }),
            T::FdList => Value::FdList(FdList::parse(bytes).ok_or_else(bad)?),
        })
    }

    /// An integer parameter straight from its bytes, without building a [`Value`]: what
    /// [`Value::decode`] then [`Value::as_i64`] give, for the hot paths of the state engine.
    /// `None` for an absent, malformed or non-integer parameter.
    #[inline]
    pub fn decode_i64(ty: ParamType, bytes: &[u8]) -> Option<i64> {
        use ParamType as T;
        match ty {
            t if t.is_signed_int() => le::int(bytes),
            t if t.is_unsigned_int() => Some(le::uint(bytes)? as i64),
            T::Flags(_, conv) | T::Enum(_, conv) => {
                Some(conv.apply(le::uint(bytes)?) as u32 as i64)
            }
            _ => None,
        }
    }

    /// The value as a signed integer, for integer-like parameters.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(v) => Some(v),
            Value::Uint(v) => Some(v as i64),
            Value::Flags { value, .. } => Some(value as i64),
            _ => None,
        }
    }

    /// The value as bytes, for strings and buffers.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Str(b) | Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// A unix socket path: abstract names keep their leading NUL, the rest stops at the first NUL.
fn strip_nul_unix(b: &[u8]) -> &[u8] {
    match b.split_first() {
        Some((0, rest)) if !rest.is_empty() && rest[0] != 0 => {
            let end = rest.iter().position(|&c| c == 0).map_or(b.len(), |i| i + 1);
            &b[..end]
        }
        _ => strip_nul(b),
    }
}

/// Linux errno names, for `res=-2(ENOENT)`.
pub fn errno_name(e: i64) -> Option<&'static str> {
    const NAMES: &[&str] = &[
        "",
        "EPERM",
        "ENOENT",
        "ESRCH",
        "EINTR",
        "EIO",
        "ENXIO",
        "E2BIG",
        "ENOEXEC",
        "EBADF",
        "ECHILD",
        "EAGAIN",
        "ENOMEM",
        "EACCES",
        "EFAULT",
        "ENOTBLK",
        "EBUSY",
        "EEXIST",
        "EXDEV",
        "ENODEV",
        "ENOTDIR",
        "EISDIR",
        "EINVAL",
        "ENFILE",
        "EMFILE",
        "ENOTTY",
        "ETXTBSY",
        "EFBIG",
        "ENOSPC",
        "ESPIPE",
        "EROFS",
        "EMLINK",
        "EPIPE",
        "EDOM",
        "ERANGE",
        "EDEADLK",
        "ENAMETOOLONG",
        "ENOLCK",
        "ENOSYS",
        "ENOTEMPTY",
        "ELOOP",
    ];
    // i64::MIN has no negation; the kernel never returns it, a corrupt record might.
    let e = e.checked_neg()?;
    if e > 0 && (e as usize) < NAMES.len() {
        return Some(NAMES[e as usize]);
    }
    Some(match e {
        61 => "ENODATA",
        71 => "EPROTO",
        75 => "EOVERFLOW",
        88 => "ENOTSOCK",
        95 => "EOPNOTSUPP",
        97 => "EAFNOSUPPORT",
        98 => "EADDRINUSE",
        99 => "EADDRNOTAVAIL",
        101 => "ENETUNREACH",
        103 => "ECONNABORTED",
        104 => "ECONNRESET",
        106 => "EISCONN",
        107 => "ENOTCONN",
        110 => "ETIMEDOUT",
        111 => "ECONNREFUSED",
        113 => "EHOSTUNREACH",
        114 => "EALREADY",
        115 => "EINPROGRESS",
        _ => return None,
    })
}

/// Printable rendering of a byte buffer: NULs become spaces in lists, other non-printables dots.
fn write_bytes(f: &mut fmt::Formatter<'_>, b: &[u8], nul_as: char) -> fmt::Result {
    for &c in b {
        let ch = match c {
            0 => nul_as,
            0x20..=0x7e => c as char,
            _ => '.',
        };
        write!(f, "{ch}")?;
    }
    Ok(())
}

/// Renders a value as sysdig prints it in an event line (`flags=4097(O_RDONLY|O_CLOEXEC)`).
pub struct Render<'v, 'a> {
    pub ty: ParamType,
    pub value: &'v Value<'a>,
}

impl fmt::Display for Render<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self.value {
            Value::Absent => write!(f, "<NA>"),
            Value::Int(v) => {
                write!(f, "{v}")?;
                let errno = matches!(self.ty, ParamType::Errno | ParamType::Fd);
                match errno_name(v) {
                    Some(n) if errno && v < 0 => write!(f, "({n})"),
                    _ if v == -100 && self.ty == ParamType::Fd => write!(f, "(AT_FDCWD)"),
                    _ => Ok(()),
                }
            }
            Value::Uint(v) => match self.ty {
                ParamType::Mode if v != 0 => write!(f, "0{v:o}"),
                ParamType::ChmodMode => {
                    if v == 0 {
                        write!(f, "0")
                    } else {
                        write!(f, "0{v:o}")
                    }?;
                    match crate::flags::CHMOD_MODE.render(v as u32) {
                        Some(names) => write!(f, "({names})"),
                        None => Ok(()),
                    }
                }
                _ => write!(f, "{v}"),
            },
            Value::Flags { value, table } => match table.render(value) {
                Some(names) => write!(f, "{value}({names})"),
                None => write!(f, "{value}"),
            },
            Value::Str(b) => write_bytes(f, b, '.'),
            Value::Bytes(b) => {
                let b = b.strip_suffix(&[0]).unwrap_or(b);
                write_bytes(f, b, if self.ty == ParamType::List { ' ' } else { '.' })
            }
            Value::SockAddr(a) => match a {
                SockAddr::Inet(ip, p) => write!(f, "{ip}:{p}"),
                SockAddr::Inet6(ip, p) => write!(f, "{ip}:{p}"),
                SockAddr::Unix(path) => write_bytes(f, path, '@'),
                SockAddr::Other(fam) => write!(f, "family {fam}"),
            },
            Value::SockTuple(t) => match t {
                SockTuple::Inet { src, dst } => {
                    write!(f, "{}:{}->{}:{}", src.0, src.1, dst.0, dst.1)
                }
                SockTuple::Inet6 { src, dst } => {
                    write!(f, "{}:{}->{}:{}", src.0, src.1, dst.0, dst.1)
                }
                SockTuple::Unix { src, dst, path } => {
                    write!(f, "{src:x}->{dst:x} ")?;
                    write_bytes(f, path, '@')
                }
                SockTuple::Other(fam) => write!(f, "family {fam}"),
            },
            Value::Dyn { value, .. } => write!(f, "{value}"),
            // Without the fd table every type is unknown; the state renders the real ones.
            Value::FdList(l) => l.write(f, |_| b'?'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{Conv, FILE_FLAGS};

    fn check(ty: ParamType, bytes: &[u8], expected: &str) {
        let v = Value::decode(ty, bytes).expect("decodes");
        assert_eq!(Render { ty, value: &v }.to_string(), expected);
    }

    #[test]
    fn renders_values() {
        check(ParamType::Fd, &3i64.to_le_bytes(), "3");
        check(ParamType::Fd, &(-100i64).to_le_bytes(), "-100(AT_FDCWD)");
        check(ParamType::Errno, &(-2i64).to_le_bytes(), "-2(ENOENT)");
        check(
            ParamType::Errno,
            &(-115i64).to_le_bytes(),
            "-115(EINPROGRESS)",
        );
        check(ParamType::Mode, &0o644u32.to_le_bytes(), "0644");
        check(
            ParamType::Flags(&FILE_FLAGS, Conv::OpenFlags),
            &0o2000000u32.to_le_bytes(),
            "4097(O_RDONLY|O_CLOEXEC)",
        );
        check(ParamType::Path, b"/etc/passwd\0", "/etc/passwd");
        check(ParamType::List, b"-c\0echo hi\0", "-c echo hi");
        check(ParamType::Str, b"", "<NA>");
        check(
            ParamType::SockTuple,
            &[2, 127, 0, 0, 1, 0xb8, 0x58, 127, 0, 0, 1, 0x50, 0],
            "127.0.0.1:22712->127.0.0.1:80",
        );
        let mut v6 = vec![10u8];
        v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        v6.extend_from_slice(&8080u16.to_le_bytes());
        check(ParamType::SockAddr, &v6, "::1:8080");
        check(ParamType::SockAddr, b"\x01\0abstract\0", "@abstract");
        check(ParamType::SockAddr, b"\x01/run/x.sock\0", "/run/x.sock");
        let mut fds = 2u16.to_le_bytes().to_vec();
        for (fd, fl) in [(4i64, 1u16), (-1, 0x41)] {
            fds.extend_from_slice(&fd.to_le_bytes());
            fds.extend_from_slice(&fl.to_le_bytes());
        }
        check(ParamType::FdList, &fds, "4:?1 -1:?41");
        check(ParamType::FdList, &[0, 0], "");
    }

    #[test]
    fn fd_lists_render_with_the_given_type_characters() {
        let mut b = 2u16.to_le_bytes().to_vec();
        for (fd, fl) in [(4i64, 1u16), (5, 5)] {
            b.extend_from_slice(&fd.to_le_bytes());
            b.extend_from_slice(&fl.to_le_bytes());
        }
        let l = FdList::parse(&b).expect("parses");
        assert_eq!(l.iter().collect::<Vec<_>>(), [(4, 1), (5, 5)]);
        let mut s = String::new();
        l.write(&mut s, |fd| if fd == 4 { b'p' } else { b'4' })
            .expect("writes");
        assert_eq!(s, "4:p1 5:45");
        // Trailing bytes beyond the count are ignored; a short list is an error.
        b.push(9);
        assert_eq!(FdList::parse(&b).map(|l| l.len()), Some(2));
        assert_eq!(FdList::parse(&b[..15]), None);
        assert_eq!(FdList::parse(&[1]), None);
    }

    #[test]
    fn decode_i64_agrees_with_decode() {
        let open = ParamType::Flags(&FILE_FLAGS, Conv::OpenFlags);
        let cases: [(ParamType, &[u8]); 7] = [
            (ParamType::Fd, &(-2i64).to_le_bytes()),
            (ParamType::Errno, &(-13i32).to_le_bytes()),
            (ParamType::Uint, &7u16.to_le_bytes()),
            (ParamType::Uid, &u32::MAX.to_le_bytes()),
            (open, &0o2000101u32.to_le_bytes()),
            (ParamType::Str, b"abc"),
            (ParamType::Fd, &[1, 2, 3]),
        ];
        for (ty, bytes) in cases {
            let slow = Value::decode(ty, bytes).ok().and_then(|v| v.as_i64());
            assert_eq!(Value::decode_i64(ty, bytes), slow, "{ty:?} {bytes:?}");
        }
        assert_eq!(Value::decode_i64(ParamType::Pid, &[]), None);
    }

    #[test]
    fn rejects_misfit_values() {
        for (ty, bytes) in [
            (ParamType::Fd, &[1u8, 2, 3][..]),
            (ParamType::SockTuple, &[2u8, 1, 2][..]),
            (ParamType::SockAddr, &[10u8, 1][..]),
            (ParamType::Dyn, &[0u8, 1][..]),
            (ParamType::FdList, &[1u8, 0, 4][..]),
        ] {
            assert_eq!(
                Value::decode(ty, bytes),
                Err(ValueError {
                    ty,
                    len: bytes.len()
                })
            );
        }
    }

    /// Found by the kernel_record fuzz target: a result of i64::MIN overflowed the negation.
    #[test]
    fn errno_names_of_any_result() {
        assert_eq!(errno_name(-2), Some("ENOENT"));
        assert_eq!(errno_name(-95), Some("EOPNOTSUPP"));
        assert_eq!(errno_name(0), None);
        assert_eq!(errno_name(i64::MIN), None);
        assert_eq!(errno_name(i64::MAX), None);
    }
}
