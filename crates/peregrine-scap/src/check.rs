//! A strict checker for capture bytes: stricter than libscap's reader, so tests can prove
//! that what the writer produces (and what the upstream captures contain) is well formed.
//!
//! Beyond what the reader requires it checks: every block is 4-byte aligned with a matching
//! trailer, the machine-info body is exactly 180 bytes, metadata entries consume their block
//! up to padding, events end within 3 bytes of their trailer, every event code is known to the
//! table, no event has more parameters than its schema, fixed-size parameters have their
//! exact size, strings are NUL-terminated, and socket addresses, tuples and fd lists have
//! the lengths their family or count implies.

use std::collections::BTreeMap;
use std::io::Read;

use peregrine_event::le::u32_at;

use thiserror::Error;

use crate::error::{ErrorKind, ScapError};
use crate::event::{block, decode_layout, Params, READER_BUF_SIZE};
use crate::reader::{self, Cursor, MACHINE_INFO_SIZE};
use crate::table::{self, Pt};

/// What a well-formed capture contains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub major: u16,
    pub minor: u16,
    /// Block count per block type.
    pub blocks: BTreeMap<u32, usize>,
    pub events: u64,
    /// Event count per PPM code.
    pub per_code: BTreeMap<u16, u64>,
    pub threads: usize,
    pub fds: usize,
    /// Event blocks carrying pcapng options after the event.
    pub events_with_options: u64,
}

impl Summary {
    /// Events whose `evt.type` name is `name` (all codes and directions).
    pub fn count_named(&self, name: &str) -> u64 {
        self.per_code
            .iter()
            .filter(|(c, _)| table::lookup(**c).is_some_and(|e| e.name == name))
            .map(|(_, n)| n)
            .sum()
    }
}

#[derive(Debug, Error)]
#[error("{problem} (at byte {offset})")]
pub struct CheckError {
    pub offset: u64,
    pub problem: Problem,
}

#[derive(Debug, Error)]
pub enum Problem {
    #[error("{0}")]
    Read(ErrorKind),
    #[error("block length {0} is not a multiple of 4")]
    Unaligned(u32),
    #[error("machine info body is {0} bytes, expected {MACHINE_INFO_SIZE}")]
    MachineInfoSize(usize),
    #[error("{0} unparsed bytes after the last entry (more than padding)")]
    TrailingBytes(usize),
    #[error("{0} bytes between the event and its trailer are neither padding nor pcapng options")]
    EventPadding(usize),
    #[error("event code {0} is not in the event table")]
    UnknownEvent(u16),
    #[error("event {name} ({code}) has {nparams} parameters, its schema has {max}")]
    TooManyParams {
        code: u16,
        name: &'static str,
        nparams: usize,
        max: usize,
    },
    #[error("event {code} parameter {index} ({name}: {ty:?}) is {found} bytes: {why}")]
    BadParam {
        code: u16,
        index: usize,
        name: &'static str,
        ty: Pt,
        found: usize,
        why: &'static str,
    },
}

fn at(offset: u64, problem: Problem) -> CheckError {
    CheckError { offset, problem }
}

impl From<ScapError> for CheckError {
    fn from(e: ScapError) -> Self {
        at(e.offset, Problem::Read(e.kind))
    }
}

/// Checks a capture (gzip or plain bytes) strictly; see the module docs for the rules.
pub fn check(bytes: &[u8]) -> Result<Summary, CheckError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut plain)
            .map_err(|e| at(0, Problem::Read(ErrorKind::Io(e))))?;
        return check_plain(&plain);
    }
    check_plain(bytes)
}

fn check_plain(b: &[u8]) -> Result<Summary, CheckError> {
    let mut s = Summary::default();
    let mut pos = 0usize;
    let mut seen_event = false;
    let mut first = true;
    while pos < b.len() {
        let off = pos as u64;
        let (Some(t), Some(len)) = (u32_at(b, pos), u32_at(b, pos + 4)) else {
            return Err(at(
                off,
                Problem::Read(ErrorKind::Truncated {
                    what: "block header",
                    needed: 8,
                    available: (b.len() - pos) as u64,
                }),
            ));
        };
        if len < 12 {
            return Err(at(
                off,
                Problem::Read(ErrorKind::BadBlockLength { block_type: t, len }),
            ));
        }
        if len % 4 != 0 {
            return Err(at(off, Problem::Unaligned(len)));
        }
        let Some(blk) = b.get(pos..pos + len as usize) else {
            return Err(at(
                off,
                Problem::Read(ErrorKind::Truncated {
                    what: "block",
                    needed: len as u64,
                    available: (b.len() - pos) as u64,
                }),
            ));
        };
        let trailer = u32_at(blk, blk.len() - 4).unwrap_or_default();
        if trailer != len {
            return Err(at(
                off + len as u64 - 4,
                Problem::Read(ErrorKind::BadTrailer { len, trailer }),
            ));
        }
        // Body without the header and trailer.
        let body = &blk[8..blk.len() - 4];
        let body_off = off + 8;
        if first {
            if t != block::SHB {
                return Err(at(off, Problem::Read(ErrorKind::NotScap(t))));
            }
            check_shb(body, body_off, &mut s)?;
            first = false;
        } else if block::event_kind(t).is_some() {
            seen_event = true;
            check_event(t, &blk[8..], body_off, &mut s)?;
        } else if seen_event {
            return Err(at(off, Problem::Read(ErrorKind::UnexpectedBlock(t))));
        } else {
            check_metadata(t, body, body_off, &mut s)?;
        }
        *s.blocks.entry(t).or_default() += 1;
        pos += len as usize;
    }
    if first {
        return Err(at(
            0,
            Problem::Read(ErrorKind::Truncated {
                what: "section header",
                needed: 28,
                available: 0,
            }),
        ));
    }
    // Zero events is a valid capture (one stopped before its first event), as in libscap.
    Ok(s)
}

fn check_shb(body: &[u8], off: u64, s: &mut Summary) -> Result<(), CheckError> {
    if body.len() < 16 {
        return Err(at(
            off - 8,
            Problem::Read(ErrorKind::BadBlockLength {
                block_type: block::SHB,
                len: body.len() as u32 + 12,
            }),
        ));
    }
    let magic = u32_at(body, 0).unwrap_or_default();
    if magic != 0x1A2B3C4D {
        let k = if magic == 0x4D3C2B1A {
            ErrorKind::ByteSwapped
        } else {
            ErrorKind::BadMagic(magic)
        };
        return Err(at(off, Problem::Read(k)));
    }
    s.major = u16::from_le_bytes([body[4], body[5]]);
    s.minor = u16::from_le_bytes([body[6], body[7]]);
    if s.major > 1 {
        return Err(at(
            off + 4,
            Problem::Read(ErrorKind::Version {
                major: s.major,
                minor: s.minor,
            }),
        ));
    }
    Ok(())
}

fn leftover(c: &Cursor) -> Result<(), CheckError> {
    if c.remaining() >= 4 {
        return Err(at(c.offset(), Problem::TrailingBytes(c.remaining())));
    }
    Ok(())
}

fn check_metadata(t: u32, body: &[u8], off: u64, s: &mut Summary) -> Result<(), CheckError> {
    let mut c = Cursor::new(body, off);
    match t {
        block::MI | block::MI_INT => {
            // The writer pads 180 to a multiple of 4, which it already is.
            if body.len() != MACHINE_INFO_SIZE {
                return Err(at(off, Problem::MachineInfoSize(body.len())));
            }
            reader::parse_machine_info(&mut c)?;
        }
        block::IL | block::IL_INT | block::IL_V2 => {
            reader::parse_interfaces(&mut c, t == block::IL_V2)?;
        }
        block::UL | block::UL_INT | block::UL_V2 => {
            reader::parse_users(&mut c, t == block::UL_V2)?;
        }
        block::FDL | block::FDL_INT | block::FDL_V2 => {
            s.fds += reader::parse_fdlist(&mut c, t == block::FDL_V2)?.1.len();
        }
        _ => match block::pl_version(t) {
            Some(v) => s.threads += reader::parse_proclist(&mut c, v)?.len(),
            // Unknown blocks are legal (skipped by readers).
            None => return Ok(()),
        },
    }
    leftover(&c)
}

fn check_event(t: u32, body: &[u8], off: u64, s: &mut Summary) -> Result<(), CheckError> {
    let (_, _, large) = block::event_kind(t).unwrap_or_default();
    if !large && body.len() as u32 > READER_BUF_SIZE {
        return Err(at(
            off - 8,
            Problem::Read(ErrorKind::BadBlockLength {
                block_type: t,
                len: body.len() as u32 + 8,
            }),
        ));
    }
    let l = decode_layout(t, body).map_err(|k| at(off, Problem::Read(k)))?;
    // After the event: padding to 4, then optionally pcapng options (libs' own fixtures
    // carry block comments there), which readers ignore.
    let opts_at = l.end.div_ceil(4) * 4;
    let tail = body.get(opts_at..body.len() - 4).unwrap_or_default();
    if !tail.is_empty() {
        if !valid_options(tail) {
            return Err(at(off + l.end as u64, Problem::EventPadding(tail.len())));
        }
        s.events_with_options += 1;
    }
    s.events += 1;
    *s.per_code.entry(l.ppm_type).or_default() += 1;
    if l.ppm_type >= table::PPM_EVENT_MAX {
        // Skipped by readers, like libscap does.
        return Ok(());
    }
    let info = table::lookup(l.ppm_type).ok_or(at(off, Problem::UnknownEvent(l.ppm_type)))?;
    if l.nparams > info.params.len() {
        return Err(at(
            off,
            Problem::TooManyParams {
                code: info.code,
                name: info.name,
                nparams: l.nparams,
                max: info.params.len(),
            },
        ));
    }
    let params = Params::new(body, &l);
    for (i, (v, d)) in params.iter().zip(info.params).enumerate() {
        if let Some(why) = param_problem(d.ty, v) {
            return Err(at(
                off,
                Problem::BadParam {
                    code: info.code,
                    index: i,
                    name: d.name,
                    ty: d.ty,
                    found: v.len(),
                    why,
                },
            ));
        }
    }
    Ok(())
}

/// Whether `b` is a well-formed pcapng option list: `(u16 code, u16 len, value padded to 4)`
/// entries, ending with `opt_endofopt` (code 0) or at the end of the bytes.
fn valid_options(mut b: &[u8]) -> bool {
    while !b.is_empty() {
        let (Some(code), Some(len)) = (b.get(0..2), b.get(2..4)) else {
            return false;
        };
        let code = u16::from_le_bytes([code[0], code[1]]);
        let len = u16::from_le_bytes([len[0], len[1]]) as usize;
        if code == 0 {
            return len == 0 && b.len() == 4;
        }
        match b.get(4 + len.div_ceil(4) * 4..) {
            Some(rest) => b = rest,
            None => return false,
        }
    }
    true
}

/// Why a parameter value does not fit its type, if it does not. Empty values are always
/// accepted: they are how producers and converters mark an absent parameter.
pub fn param_problem(ty: Pt, v: &[u8]) -> Option<&'static str> {
    if v.is_empty() {
        return None;
    }
    if let Some(n) = ty.fixed_size() {
        return (v.len() != n).then_some("wrong size for a fixed-size type");
    }
    match ty {
        _ if ty.is_string() => (v.last() != Some(&0)).then_some("string without its NUL"),
        Pt::SockAddr => {
            let ok = match v[0] {
                2 => v.len() == 7,
                10 => v.len() == 19,
                1 => v.len() >= 2,
                _ => true,
            };
            (!ok).then_some("length does not match the address family")
        }
        Pt::SockTuple => {
            let ok = match v[0] {
                2 => v.len() == 13,
                10 => v.len() == 37,
                1 => v.len() >= 17,
                _ => true,
            };
            (!ok).then_some("length does not match the address family")
        }
        Pt::FdList => {
            let n = v
                .get(..2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as usize);
            (n.map(|n| 2 + 10 * n) != Some(v.len())).then_some("length does not match the fd count")
        }
        _ => None,
    }
}
