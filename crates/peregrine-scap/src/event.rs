//! Event blocks: layout decoding (shared by the reader and the checker), the borrowed
//! [`ScapEvent`] view, and its `name params` rendering.
//!
//! Decoding validates once and records plain offsets ([`Layout`]); the borrowed view is built
//! from those offsets afterwards. Parameter access never re-validates and never panics: every
//! slice is taken with `get`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use peregrine_event::le;

use crate::error::ErrorKind;
use crate::table::{self, EventInfo, Pt, PPM_MAX_EVENT_PARAMS};

/// Block type constants (`scap_savefile.h`).
pub mod block {
    pub const SHB: u32 = 0x0A0D0D0A;
    pub const MI: u32 = 0x201;
    pub const MI_INT: u32 = 0x8002ABCD;
    pub const PL_V1: u32 = 0x202;
    pub const PL_V1_INT: u32 = 0x8000ABCD;
    pub const PL_V2: u32 = 0x207;
    pub const PL_V2_INT: u32 = 0x8013ABCD;
    pub const PL_V3: u32 = 0x209;
    pub const PL_V3_INT: u32 = 0x8014ABCD;
    pub const PL_V4: u32 = 0x210;
    pub const PL_V5: u32 = 0x211;
    pub const PL_V6: u32 = 0x212;
    pub const PL_V7: u32 = 0x213;
    pub const PL_V8: u32 = 0x214;
    pub const PL_V9: u32 = 0x215;
    pub const FDL: u32 = 0x203;
    pub const FDL_INT: u32 = 0x8001ABCD;
    pub const FDL_V2: u32 = 0x218;
    pub const EV: u32 = 0x204;
    pub const EV_INT: u32 = 0x8010ABCD;
    pub const EV_V2: u32 = 0x216;
    pub const EV_V2_LARGE: u32 = 0x221;
    pub const EVF: u32 = 0x208;
    pub const EVF_V2: u32 = 0x217;
    pub const EVF_V2_LARGE: u32 = 0x222;
    pub const IL: u32 = 0x205;
    pub const IL_INT: u32 = 0x8011ABCD;
    pub const IL_V2: u32 = 0x219;
    pub const UL: u32 = 0x206;
    pub const UL_INT: u32 = 0x8012ABCD;
    pub const UL_V2: u32 = 0x220;

    /// `(is v2 header, has flags word, may exceed 64 KiB)` of an event block type.
    pub fn event_kind(t: u32) -> Option<(bool, bool, bool)> {
        Some(match t {
            EV | EV_INT => (false, false, false),
            EVF => (false, true, false),
            EV_V2 => (true, false, false),
            EVF_V2 => (true, true, false),
            EV_V2_LARGE => (true, false, true),
            EVF_V2_LARGE => (true, true, true),
            _ => return None,
        })
    }

    /// The process-list version (1–9) of a block type.
    pub fn pl_version(t: u32) -> Option<u8> {
        Some(match t {
            PL_V1 | PL_V1_INT => 1,
            PL_V2 | PL_V2_INT => 2,
            PL_V3 | PL_V3_INT => 3,
            PL_V4 => 4,
            PL_V5 => 5,
            PL_V6 => 6,
            PL_V7 => 7,
            PL_V8 => 8,
            PL_V9 => 9,
            _ => return None,
        })
    }
}

/// `READER_BUF_SIZE`: the largest body of a non-LARGE event block.
pub const READER_BUF_SIZE: u32 = 65536;
/// Size of the v2 event header (`struct ppm_evt_hdr`).
pub const EVT_HDR_V2: usize = 26;
/// Size of the v1 event header (no `nparams`).
pub const EVT_HDR_V1: usize = 22;
/// `SCAP_DF_STATE_ONLY`.
pub const DF_STATE_ONLY: u32 = 1;

const PPME_NOTIFICATION_E: u16 = 280;
const PPME_INFRASTRUCTURE_EVENT_E: u16 = 286;

/// Where the parts of one event are inside a block body (the bytes after the 8-byte block
/// header, trailer included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub cpu: u16,
    pub flags: u32,
    pub ts: u64,
    pub tid: u64,
    pub ppm_type: u16,
    pub nparams: usize,
    /// Width of each parameter length (2 or 4).
    pub width: usize,
    /// Offset of the length array in the body.
    pub lens_at: usize,
    /// Offset of the first value in the body.
    pub data_at: usize,
    /// Offset just past the event (header `len` reaches here).
    pub end: usize,
    /// Whether `nparams` was inferred (v1 block).
    pub inferred: bool,
}

/// Sum of the first `n` lengths of width `w` at `at`, or `None` if the array does not fit.
fn sum_lens(body: &[u8], at: usize, n: usize, w: usize) -> Option<u64> {
    let arr = body.get(at..at.checked_add(n.checked_mul(w)?)?)?;
    Some(
        arr.chunks_exact(w)
            .map(|c| {
                if w == 4 {
                    u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u64
                } else {
                    u16::from_le_bytes([c[0], c[1]]) as u64
                }
            })
            .sum(),
    )
}

/// Decodes and validates the event inside an event block body (`body` = bytes after the
/// 8-byte block header, trailer included). The checks are libscap's `validate_v2_event`,
/// plus v1 `nparams` inference (falcosecurity/libs
/// `userspace/libscap/engine/savefile/scap_savefile.c`).
pub fn decode_layout(block_type: u32, body: &[u8]) -> Result<Layout, ErrorKind> {
    let (v2, has_flags, _) =
        block::event_kind(block_type).ok_or(ErrorKind::UnexpectedBlock(block_type))?;
    let short = |what| ErrorKind::Truncated {
        what,
        needed: 0,
        available: body.len() as u64,
    };
    let cpu = le::u16_at(body, 0).ok_or(short("event block cpuid"))?;
    let mut at = 2;
    let flags = if has_flags {
        let f = le::u32_at(body, at).ok_or(short("event block flags"))?;
        at += 4;
        f
    } else {
        0
    };
    let evt = at;
    // The event may use every byte up to the trailer.
    let avail = body.len().saturating_sub(4).saturating_sub(evt);
    let hdr = if v2 { EVT_HDR_V2 } else { EVT_HDR_V1 };
    if avail < hdr {
        return Err(ErrorKind::BadEvent(format!(
            "block holds {avail} event bytes, less than the {hdr}-byte header"
        )));
    }
    let ts = le::u64_at(body, evt).unwrap_or_default();
    let tid = le::u64_at(body, evt + 8).unwrap_or_default();
    let mut len = le::u32_at(body, evt + 16).unwrap_or_default() as usize;
    let ppm_type = le::u16_at(body, evt + 20).unwrap_or_default();
    let width = table::len_size(ppm_type);
    let lens_at = evt + hdr;
    let (nparams, inferred) = if v2 {
        (
            le::u32_at(body, evt + 22).unwrap_or_default() as usize,
            false,
        )
    } else {
        if ppm_type == PPME_NOTIFICATION_E || ppm_type == PPME_INFRASTRUCTURE_EVENT_E {
            len = len.saturating_sub(3);
        }
        let max = table::lookup(ppm_type).map_or(PPM_MAX_EVENT_PARAMS, |e| e.params.len());
        let n = (0..=max)
            .rev()
            .find(|&n| {
                sum_lens(body, lens_at, n, width)
                    .is_some_and(|s| (hdr + n * width) as u64 + s == len as u64)
            })
            .ok_or_else(|| {
                ErrorKind::BadEvent(format!(
                    "v1 event type {ppm_type}: no parameter count in 0..={max} matches len {len}"
                ))
            })?;
        (n, true)
    };
    if len < hdr {
        return Err(ErrorKind::BadEvent(format!(
            "event len {len} is shorter than its {hdr}-byte header"
        )));
    }
    if len > avail {
        return Err(ErrorKind::BadEvent(format!(
            "event len {len} exceeds the {avail} bytes in its block"
        )));
    }
    let arr = nparams.saturating_mul(width);
    if hdr.saturating_add(arr) > len {
        return Err(ErrorKind::BadEvent(format!(
            "{nparams} parameter lengths do not fit in event len {len}"
        )));
    }
    let sum = sum_lens(body, lens_at, nparams, width).unwrap_or(u64::MAX);
    if (hdr + arr) as u64 + sum > len as u64 {
        return Err(ErrorKind::BadEvent(format!(
            "parameter lengths ({sum} bytes) overflow event len {len}"
        )));
    }
    Ok(Layout {
        cpu,
        flags,
        ts,
        tid,
        ppm_type,
        nparams,
        width,
        lens_at,
        data_at: lens_at + arr,
        end: evt + len,
        inferred,
    })
}

/// The parameters of an event: borrowed value slices with their lengths.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a> {
    lens: &'a [u8],
    width: usize,
    data: &'a [u8],
}

impl<'a> Params<'a> {
    /// Builds the view over a decoded block body.
    pub fn new(body: &'a [u8], l: &Layout) -> Self {
        Params {
            lens: body.get(l.lens_at..l.data_at).unwrap_or_default(),
            width: l.width,
            data: body.get(l.data_at..l.end).unwrap_or_default(),
        }
    }

    pub fn len(&self) -> usize {
        self.lens.len() / self.width.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Width of the on-disk length entries (2, or 4 for `EF_LARGE_PAYLOAD` events).
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter {
            params: *self,
            i: 0,
            pos: 0,
        }
    }

    /// Parameter `i`, if present.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.iter().nth(i)
    }
}

/// Iterator over parameter values.
#[derive(Clone, Debug)]
pub struct ParamIter<'a> {
    params: Params<'a>,
    i: usize,
    pos: usize,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let w = self.params.width;
        let l = self.params.lens.get(self.i * w..self.i * w + w)?;
        let n = if w == 4 {
            u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize
        } else {
            u16::from_le_bytes([l[0], l[1]]) as usize
        };
        self.i += 1;
        let v = self.params.data.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(v)
    }
}

/// One event as read from a capture; borrows the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct ScapEvent<'a> {
    /// ns since the epoch.
    pub ts: u64,
    pub tid: u64,
    pub cpu: u16,
    /// `ppm_event_code`.
    pub ppm_type: u16,
    /// Block flags (`SCAP_DF_*`), 0 for EV blocks.
    pub flags: u32,
    pub params: Params<'a>,
    /// Offset of the event's block in the decompressed stream.
    pub offset: u64,
}

/// An event that owns its parameters (for collecting, round trips and building captures).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedEvent {
    pub ts: u64,
    pub tid: u64,
    pub cpu: u16,
    pub ppm_type: u16,
    pub flags: u32,
    pub params: Vec<Vec<u8>>,
}

impl ScapEvent<'_> {
    pub fn to_owned_event(&self) -> OwnedEvent {
        OwnedEvent {
            ts: self.ts,
            tid: self.tid,
            cpu: self.cpu,
            ppm_type: self.ppm_type,
            flags: self.flags,
            params: self.params.iter().map(<[u8]>::to_vec).collect(),
        }
    }

    /// The table entry of this event's code.
    pub fn info(&self) -> Option<&'static EventInfo> {
        table::lookup(self.ppm_type)
    }

    /// The `evt.type` name (`"unknown"` for codes missing from the table).
    pub fn name(&self) -> &'static str {
        self.info().map_or("unknown", |e| e.name)
    }

    /// The `evt.type` value, when `peregrine-event` knows the name.
    pub fn event_type(&self) -> Option<peregrine_event::EventType> {
        self.info().and_then(EventInfo::event_type)
    }

    /// `>` for enter events, `<` for exit events (Falco's `evt.dir`).
    pub fn dir(&self) -> char {
        if self.ppm_type & 1 == 0 {
            '>'
        } else {
            '<'
        }
    }

    /// The value of the parameter named `name`.
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        let i = self.info()?.params.iter().position(|p| p.name == name)?;
        self.params.get(i)
    }

    /// The parameters rendered as `name=value` pairs separated by spaces.
    pub fn render_params(&self) -> String {
        let defs = self.info().map_or(&[][..], |e| e.params);
        let mut out = String::new();
        for (i, v) in self.params.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            match defs.get(i) {
                Some(d) => {
                    let _ = write!(out, "{}=", d.name);
                    render_value(d.ty, v, &mut out);
                }
                None => {
                    let _ = write!(out, "arg{i}=");
                    render_bytes(v, &mut out);
                }
            }
        }
        out
    }
}

fn signed(v: &[u8]) -> Option<i64> {
    let u = le::uint_padded(v)?;
    Some(match v.len() {
        1 => u as u8 as i8 as i64,
        2 => u as u16 as i16 as i64,
        4 => u as u32 as i32 as i64,
        _ => u as i64,
    })
}

fn render_bytes(v: &[u8], out: &mut String) {
    const MAX: usize = 256;
    for &b in v.iter().take(MAX) {
        out.push(if b.is_ascii_graphic() || b == b' ' {
            b as char
        } else {
            '.'
        });
    }
    if v.len() > MAX {
        out.push_str("...");
    }
}

fn ipv4(v: &[u8]) -> Option<Ipv4Addr> {
    Some(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?))
}
fn ipv6(v: &[u8]) -> Option<Ipv6Addr> {
    Some(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?))
}

/// Renders a socket address parameter (`PT_SOCKADDR`): `ip:port` or a unix path.
pub fn render_sockaddr(v: &[u8]) -> Option<String> {
    let (&fam, rest) = v.split_first()?;
    match fam {
        2 => Some(format!(
            "{}:{}",
            ipv4(rest.get(..4)?)?,
            le::u16_at(rest, 4)?
        )),
        10 => Some(format!(
            "{}:{}",
            ipv6(rest.get(..16)?)?,
            le::u16_at(rest, 16)?
        )),
        1 => Some(cstr(rest)),
        _ => None,
    }
}

/// Renders a socket tuple parameter (`PT_SOCKTUPLE`) as Falco names a connected socket:
/// `sip:sport->dip:dport`, or the path of a unix socket.
pub fn render_socktuple(v: &[u8]) -> Option<String> {
    let (&fam, r) = v.split_first()?;
    match fam {
        2 => Some(format!(
            "{}:{}->{}:{}",
            ipv4(r.get(0..4)?)?,
            le::u16_at(r, 4)?,
            ipv4(r.get(6..10)?)?,
            le::u16_at(r, 10)?
        )),
        10 => Some(format!(
            "{}:{}->{}:{}",
            ipv6(r.get(0..16)?)?,
            le::u16_at(r, 16)?,
            ipv6(r.get(18..34)?)?,
            le::u16_at(r, 34)?
        )),
        1 => {
            let src = le::u64_at(r, 0)?;
            let dst = le::u64_at(r, 8)?;
            Some(format!("{src:x}->{dst:x} {}", cstr(r.get(16..)?)))
        }
        _ => None,
    }
}

fn cstr(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// A string value for a one-line rendering: control characters (e.g. the newlines of a
/// container JSON) become `.`.
fn cstr_line(v: &[u8]) -> String {
    cstr(v)
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect()
}

/// Renders one parameter value of type `ty` into `out` (sysdig-like: decimal integers,
/// `-115(EINPROGRESS)` errors, text strings, decoded addresses, `<NA>` when empty).
pub fn render_value(ty: Pt, v: &[u8], out: &mut String) {
    if v.is_empty() {
        out.push_str("<NA>");
        return;
    }
    let fixed_ok = ty.fixed_size().is_none_or(|n| n == v.len());
    if !fixed_ok {
        render_bytes(v, out);
        return;
    }
    let _ = match ty {
        Pt::Errno => {
            let n = signed(v).unwrap_or_default();
            match (n < 0)
                .then(|| peregrine_event::value::errno_name(n))
                .flatten()
            {
                Some(name) => write!(out, "{n}({name})"),
                None => write!(out, "{n}"),
            }
        }
        Pt::Int8 | Pt::Int16 | Pt::Int32 | Pt::Int64 | Pt::Fd | Pt::Pid => {
            write!(out, "{}", signed(v).unwrap_or_default())
        }
        Pt::Flags8
        | Pt::Flags16
        | Pt::Flags32
        | Pt::EnumFlags8
        | Pt::EnumFlags16
        | Pt::EnumFlags32
        | Pt::SigSet => write!(out, "{:#x}", le::uint_padded(v).unwrap_or_default()),
        Pt::Mode => write!(out, "0{:o}", le::uint_padded(v).unwrap_or_default()),
        Pt::Ipv4Addr => write!(out, "{}", ipv4(v).unwrap_or(Ipv4Addr::UNSPECIFIED)),
        Pt::Ipv6Addr => write!(out, "{}", ipv6(v).unwrap_or(Ipv6Addr::UNSPECIFIED)),
        Pt::CharBuf | Pt::FsPath | Pt::FsRelPath => {
            out.push_str(&cstr_line(v));
            Ok(())
        }
        Pt::SockAddr => match render_sockaddr(v) {
            Some(s) => write!(out, "{s}"),
            None => {
                render_bytes(v, out);
                Ok(())
            }
        },
        Pt::SockTuple => match render_socktuple(v) {
            Some(s) => write!(out, "{s}"),
            None => {
                render_bytes(v, out);
                Ok(())
            }
        },
        Pt::FdList => {
            let n = le::u16_at(v, 0).unwrap_or_default() as usize;
            for i in 0..n {
                let at = 2 + i * 10;
                match (le::u64_at(v, at), le::u16_at(v, at + 8)) {
                    (Some(fd), Some(fl)) => {
                        let _ = write!(
                            out,
                            "{}:{fl:x}{}",
                            fd as i64,
                            if i + 1 < n { " " } else { "" }
                        );
                    }
                    _ => break,
                }
            }
            Ok(())
        }
        _ if ty.fixed_size().is_some() => write!(out, "{}", le::uint_padded(v).unwrap_or_default()),
        _ => {
            render_bytes(v, out);
            Ok(())
        }
    };
}
