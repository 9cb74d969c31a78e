//! The streaming reader: section header and metadata blocks at open, then one event at a time.
//!
//! Memory stays constant: the input is read through a `BufReader` (and a streaming gzip
//! decoder when the file starts with `1f 8b`), each block is read into one reused buffer, and
//! a block length is never trusted for allocation — bodies are read with `take`, so a corrupt
//! 4 GiB length costs only the bytes that are actually there. Offsets in errors count bytes of
//! the decompressed stream.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use crate::error::{ErrorKind, OpenError, ScapError};
use crate::event::{block, decode_layout, Params, ScapEvent, READER_BUF_SIZE};
use crate::model::*;
use crate::table::PPM_EVENT_MAX;

const BYTE_ORDER_MAGIC: u32 = 0x1A2B3C4D;
/// Size of `scap_machine_info` on disk.
pub const MACHINE_INFO_SIZE: usize = 180;
/// Largest metadata block body accepted (a process list of tens of thousands of threads fits).
const MAX_METADATA_BLOCK: u64 = 1 << 30;

/// The byte source: plain or gzip, both buffered.
pub enum Input<R: Read> {
    Plain(BufReader<R>),
    Gzip(Box<BufReader<MultiGzDecoder<BufReader<R>>>>),
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Plain(r) => r.read(buf),
            Input::Gzip(r) => r.read(buf),
        }
    }
}

/// Counts of what the reader met while streaming events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Events returned.
    pub events: u64,
    /// Events skipped because their code is `>= PPM_EVENT_MAX` (from a newer producer).
    pub skipped_newer: u64,
    /// Events whose `nparams` was inferred (v1 blocks).
    pub inferred_nparams: u64,
}

/// A capture being read. Metadata is available right after opening; events stream through
/// [`Reader::next_event`].
pub struct Reader<R: Read> {
    src: R,
    pos: u64,
    meta: Metadata,
    buf: Vec<u8>,
    /// The header of the first event block, read while scanning metadata.
    pending: Option<(u32, u32, u64)>,
    stats: ReadStats,
    failed: bool,
    /// tid → index in `meta.threads`, so attaching FDL blocks stays linear in thread count.
    tid_index: HashMap<u64, usize>,
}

impl Reader<Input<File>> {
    /// Opens a capture file (gzip or plain).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        let f = File::open(path).map_err(|e| OpenError {
            error: ScapError::new(0, ErrorKind::Io(e)),
            partial: Box::default(),
        })?;
        Reader::new(f)
    }
}

impl<R: Read> Reader<Input<R>> {
    /// Reads a capture from any byte source, detecting gzip by its magic.
    pub fn new(r: R) -> Result<Self, OpenError> {
        let mut br = BufReader::with_capacity(1 << 16, r);
        let head = br.fill_buf().map_err(|e| OpenError {
            error: ScapError::new(0, ErrorKind::Io(e)),
            partial: Box::default(),
        })?;
        let input = if head.starts_with(&[0x1f, 0x8b]) {
            Input::Gzip(Box::new(BufReader::with_capacity(
                1 << 16,
                MultiGzDecoder::new(br),
            )))
        } else {
            Input::Plain(br)
        };
        Reader::from_decompressed(input)
    }
}

impl<R: Read> Reader<R> {
    /// Reads a capture from an already decompressed stream.
    pub fn from_decompressed(src: R) -> Result<Self, OpenError> {
        let mut rd = Reader {
            src,
            pos: 0,
            meta: Metadata::default(),
            buf: Vec::new(),
            pending: None,
            stats: ReadStats::default(),
            failed: false,
            tid_index: HashMap::new(),
        };
        match rd.read_metadata() {
            Ok(()) => Ok(rd),
            Err(error) => Err(OpenError {
                error,
                partial: Box::new(rd.meta),
            }),
        }
    }

    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    pub fn into_metadata(self) -> Metadata {
        self.meta
    }

    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// Bytes of the decompressed stream consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn err(&self, at: u64, kind: ErrorKind) -> ScapError {
        ScapError::new(at, kind)
    }

    /// Reads a block header; `None` at a clean end of file.
    fn read_header(&mut self) -> Result<Option<(u32, u32, u64)>, ScapError> {
        let at = self.pos;
        let mut h = [0u8; 8];
        let mut got = 0;
        while got < 8 {
            match self.src.read(&mut h[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.err(at + got as u64, ErrorKind::Io(e))),
            }
        }
        self.pos += got as u64;
        match got {
            0 => Ok(None),
            8 => {
                let t = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
                let l = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
                Ok(Some((t, l, at)))
            }
            n => Err(self.err(
                at,
                ErrorKind::Truncated {
                    what: "block header",
                    needed: 8,
                    available: n as u64,
                },
            )),
        }
    }

    /// Reads the rest of a block (length `len`, header already read) into `self.buf`.
    fn read_body(&mut self, block_type: u32, len: u32, at: u64) -> Result<(), ScapError> {
        if len < 12 {
            return Err(self.err(at, ErrorKind::BadBlockLength { block_type, len }));
        }
        let want = len as u64 - 8;
        self.buf.clear();
        let got = (&mut self.src)
            .take(want)
            .read_to_end(&mut self.buf)
            .map_err(|e| ScapError::new(self.pos, ErrorKind::Io(e)))?;
        self.pos += got as u64;
        if (got as u64) < want {
            return Err(self.err(
                at,
                ErrorKind::Truncated {
                    what: "block",
                    needed: len as u64,
                    available: got as u64 + 8,
                },
            ));
        }
        Ok(())
    }

    fn check_trailer(&self, len: u32, at: u64) -> Result<(), ScapError> {
        let b = &self.buf;
        let t = b
            .get(b.len().saturating_sub(4)..)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(u32::from_le_bytes)
            .unwrap_or_default();
        if t != len {
            return Err(self.err(
                at + len as u64 - 4,
                ErrorKind::BadTrailer { len, trailer: t },
            ));
        }
        Ok(())
    }

    fn read_metadata(&mut self) -> Result<(), ScapError> {
        let (t, len, at) = self.read_header()?.ok_or_else(|| {
            ScapError::new(
                0,
                ErrorKind::Truncated {
                    what: "section header",
                    needed: 28,
                    available: 0,
                },
            )
        })?;
        if t != block::SHB {
            return Err(self.err(at, ErrorKind::NotScap(t)));
        }
        if len < 28 {
            return Err(self.err(at, ErrorKind::BadBlockLength { block_type: t, len }));
        }
        self.read_body(t, len, at)?;
        let magic = u32::from_le_bytes(self.buf[0..4].try_into().unwrap_or_default());
        if magic == BYTE_ORDER_MAGIC.swap_bytes() {
            return Err(self.err(at + 8, ErrorKind::ByteSwapped));
        }
        if magic != BYTE_ORDER_MAGIC {
            return Err(self.err(at + 8, ErrorKind::BadMagic(magic)));
        }
        let major = u16::from_le_bytes([self.buf[4], self.buf[5]]);
        let minor = u16::from_le_bytes([self.buf[6], self.buf[7]]);
        if major > 1 {
            return Err(self.err(at + 12, ErrorKind::Version { major, minor }));
        }
        self.check_trailer(len, at)?;
        self.meta.section = Section {
            major,
            minor,
            options: self.buf[16..self.buf.len() - 4].to_vec(),
        };
        loop {
            // A capture may end after its metadata: libscap reads it as zero events (a
            // capture stopped before its first event), and so does this reader.
            let Some((t, len, at)) = self.read_header()? else {
                return Ok(());
            };
            if block::event_kind(t).is_some() {
                self.pending = Some((t, len, at));
                return Ok(());
            }
            if len as u64 > MAX_METADATA_BLOCK {
                return Err(self.err(at, ErrorKind::BadBlockLength { block_type: t, len }));
            }
            self.read_body(t, len, at)?;
            self.check_trailer(len, at)?;
            let body_len = self.buf.len() - 4;
            let body = std::mem::take(&mut self.buf);
            let mut c = Cursor::new(&body[..body_len], at + 8);
            let res = self.parse_metadata_block(t, &mut c, at);
            self.buf = body;
            res?;
        }
    }

    fn parse_metadata_block(&mut self, t: u32, c: &mut Cursor, at: u64) -> Result<(), ScapError> {
        match t {
            block::MI | block::MI_INT => self.meta.machine = Some(parse_machine_info(c)?),
            block::IL | block::IL_INT => self.meta.interfaces = parse_interfaces(c, false)?,
            block::IL_V2 => self.meta.interfaces = parse_interfaces(c, true)?,
            block::UL | block::UL_INT => {
                (self.meta.users, self.meta.groups) = parse_users(c, false)?
            }
            block::UL_V2 => (self.meta.users, self.meta.groups) = parse_users(c, true)?,
            block::FDL | block::FDL_INT | block::FDL_V2 => {
                let (tid, fds) = parse_fdlist(c, t == block::FDL_V2)?;
                match self
                    .tid_index
                    .get(&tid)
                    .and_then(|&i| self.meta.threads.get_mut(i))
                {
                    Some(th) => th.fds.extend(fds),
                    None => self.meta.orphan_fds.push((tid, fds)),
                }
            }
            _ => match block::pl_version(t) {
                Some(v) => {
                    let threads = parse_proclist(c, v)?;
                    // An FDL block may precede its thread's PL entry; attach it now.
                    for mut th in threads {
                        if let Some(i) = self
                            .meta
                            .orphan_fds
                            .iter()
                            .position(|(tid, _)| *tid == th.tid)
                        {
                            let (_, fds) = self.meta.orphan_fds.remove(i);
                            th.fds.extend(fds);
                        }
                        self.tid_index.insert(th.tid, self.meta.threads.len());
                        self.meta.threads.push(th);
                    }
                }
                None => self.meta.skipped_blocks.push((t, at)),
            },
        }
        Ok(())
    }

    /// The next event, or `None` at the end of the file. After an error, returns `None`.
    pub fn next_event(&mut self) -> Result<Option<ScapEvent<'_>>, ScapError> {
        if self.failed {
            return Ok(None);
        }
        let r = self.next_layout();
        if r.is_err() {
            self.failed = true;
        }
        let Some((l, at)) = r? else {
            return Ok(None);
        };
        let params = Params::new(&self.buf, &l);
        Ok(Some(ScapEvent {
            ts: l.ts,
            tid: l.tid,
            cpu: l.cpu,
            ppm_type: l.ppm_type,
            flags: l.flags,
            params,
            offset: at,
        }))
    }

    fn next_layout(&mut self) -> Result<Option<(crate::event::Layout, u64)>, ScapError> {
        loop {
            let hdr = match self.pending.take() {
                Some(h) => h,
                None => match self.read_header()? {
                    Some(h) => h,
                    None => return Ok(None),
                },
            };
            let (t, len, at) = hdr;
            let Some((_, _, large)) = block::event_kind(t) else {
                return Err(self.err(at, ErrorKind::UnexpectedBlock(t)));
            };
            if !large && len.saturating_sub(8) > READER_BUF_SIZE {
                return Err(self.err(at, ErrorKind::BadBlockLength { block_type: t, len }));
            }
            self.read_body(t, len, at)?;
            let l = decode_layout(t, &self.buf).map_err(|k| ScapError::new(at + 8, k))?;
            if l.ppm_type >= PPM_EVENT_MAX {
                self.stats.skipped_newer += 1;
                continue;
            }
            self.stats.events += 1;
            if l.inferred {
                self.stats.inferred_nparams += 1;
            }
            return Ok(Some((l, at)));
        }
    }

    /// Turns the reader into an iterator of owned events (allocates per event; use
    /// [`Reader::next_event`] on hot paths).
    pub fn owned_events(self) -> OwnedEvents<R> {
        OwnedEvents { reader: self }
    }
}

/// Iterator of [`crate::OwnedEvent`]s; ends after the first error.
pub struct OwnedEvents<R: Read> {
    reader: Reader<R>,
}

impl<R: Read> OwnedEvents<R> {
    pub fn reader(&self) -> &Reader<R> {
        &self.reader
    }
}

impl<R: Read> Iterator for OwnedEvents<R> {
    type Item = Result<crate::OwnedEvent, ScapError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.reader.next_event() {
            Ok(Some(e)) => Some(Ok(e.to_owned_event())),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// A bounds-checked little-endian cursor over a block body; errors carry absolute offsets.
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8], base: u64) -> Self {
        Cursor { data, pos: 0, base }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }
    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ScapError> {
        match self.data.get(self.pos..self.pos.saturating_add(n)) {
            Some(s) if self.pos.checked_add(n).is_some() => {
                self.pos += n;
                Ok(s)
            }
            _ => Err(ScapError::new(
                self.offset(),
                ErrorKind::Truncated {
                    what,
                    needed: n as u64,
                    available: self.remaining() as u64,
                },
            )),
        }
    }
    fn arr<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ScapError> {
        let s = self.bytes(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, ScapError> {
        Ok(self.arr::<1>(what)?[0])
    }
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, ScapError> {
        Ok(u16::from_le_bytes(self.arr(what)?))
    }
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, ScapError> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, ScapError> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }
    fn str16(&mut self, max: usize, what: &'static str) -> Result<String, ScapError> {
        Ok(String::from_utf8_lossy(self.raw16(max, what)?).into_owned())
    }
    fn raw16(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], ScapError> {
        let at = self.offset();
        let n = self.u16(what)? as usize;
        if n > max {
            return Err(ScapError::new(
                at,
                ErrorKind::malformed(what, format!("length {n} exceeds the limit {max}")),
            ));
        }
        self.bytes(n, what)
    }
    /// A sub-cursor over the next `n` bytes.
    fn sub(&mut self, n: usize, what: &'static str) -> Result<Cursor<'a>, ScapError> {
        let base = self.offset();
        Ok(Cursor::new(self.bytes(n, what)?, base))
    }
    /// The next entry of a user, process or fd list. A `sized` (V2) entry starts with a `u32`
    /// length that counts its own 4 bytes and gets a sub-cursor over exactly its body, so
    /// this cursor moves past it; an unsized (V1) entry is only known once parsed, so it gets
    /// an open-ended view and the caller moves this cursor past what it read.
    fn entry(&mut self, sized: bool, what: &'static str) -> Result<Cursor<'a>, ScapError> {
        if !sized {
            return Ok(Cursor::new(&self.data[self.pos..], self.offset()));
        }
        let at = self.offset();
        let n = self.u32(what)? as usize;
        if n < 4 {
            return Err(ScapError::new(
                at,
                ErrorKind::malformed(what, format!("entry length {n} < 4")),
            ));
        }
        self.sub(n - 4, what)
    }
}

pub(crate) fn parse_machine_info(c: &mut Cursor) -> Result<MachineInfo, ScapError> {
    let what = "machine info";
    let num_cpus = c.u32(what)?;
    let memory_size_bytes = c.u64(what)?;
    let max_pid = c.u64(what)?;
    let host = c.bytes(128, what)?;
    let end = host.iter().position(|&b| b == 0).unwrap_or(host.len());
    Ok(MachineInfo {
        num_cpus,
        memory_size_bytes,
        max_pid,
        hostname: String::from_utf8_lossy(&host[..end]).into_owned(),
        boot_ts_epoch: c.u64(what)?,
        flags: c.u64(what)?,
        reserved3: c.u64(what)?,
        reserved4: c.u64(what)?,
    })
}

const II_IPV4: u16 = 1;
const II_IPV6: u16 = 2;
const II_IPV4_NOLINKSPEED: u16 = 3;
const II_IPV6_NOLINKSPEED: u16 = 4;

pub(crate) fn parse_interfaces(c: &mut Cursor, v2: bool) -> Result<Vec<Interface>, ScapError> {
    let what = "interface list entry";
    let mut out = Vec::new();
    while c.remaining() >= 4 {
        let mut entry = if v2 {
            // IL_V2 entry lengths do not count themselves.
            let n = c.u32(what)? as usize;
            c.sub(n, what)?
        } else {
            Cursor::new(&c.data[c.pos..], c.offset())
        };
        let at = entry.offset();
        let ty = entry.u16(what)?;
        let namelen = entry.u16(what)? as usize;
        let iface = match ty {
            II_IPV4 | II_IPV4_NOLINKSPEED => {
                let addr = Ipv4Addr::from(entry.arr::<4>(what)?);
                let netmask = Ipv4Addr::from(entry.arr::<4>(what)?);
                let bcast = Ipv4Addr::from(entry.arr::<4>(what)?);
                let linkspeed = (ty == II_IPV4).then(|| entry.u64(what)).transpose()?;
                let name = ifname(&mut entry, namelen)?;
                Interface::V4 {
                    name,
                    addr,
                    netmask,
                    bcast,
                    linkspeed,
                }
            }
            II_IPV6 | II_IPV6_NOLINKSPEED => {
                let addr = Ipv6Addr::from(entry.arr::<16>(what)?);
                let netmask = Ipv6Addr::from(entry.arr::<16>(what)?);
                let bcast = Ipv6Addr::from(entry.arr::<16>(what)?);
                let linkspeed = (ty == II_IPV6).then(|| entry.u64(what)).transpose()?;
                let name = ifname(&mut entry, namelen)?;
                Interface::V6 {
                    name,
                    addr,
                    netmask,
                    bcast,
                    linkspeed,
                }
            }
            _ => {
                return Err(ScapError::new(
                    at,
                    ErrorKind::malformed(what, format!("unknown interface type {ty}")),
                ))
            }
        };
        if !v2 {
            c.pos += entry.pos;
        }
        out.push(iface);
    }
    Ok(out)
}

fn ifname(c: &mut Cursor, n: usize) -> Result<String, ScapError> {
    if n >= 1024 {
        return Err(ScapError::new(
            c.offset(),
            ErrorKind::malformed("interface name", format!("length {n} exceeds 1023")),
        ));
    }
    Ok(String::from_utf8_lossy(c.bytes(n, "interface name")?).into_owned())
}

const MAX_CRED_STR: usize = 255;

pub(crate) fn parse_users(c: &mut Cursor, v2: bool) -> Result<(Vec<User>, Vec<Group>), ScapError> {
    let what = "user list entry";
    let (mut users, mut groups) = (Vec::new(), Vec::new());
    while c.remaining() >= 4 {
        let at = c.offset();
        let mut e = c.entry(v2, what)?;
        match e.u8(what)? {
            0 => users.push(User {
                uid: e.u32(what)?,
                gid: e.u32(what)?,
                name: e.str16(MAX_CRED_STR, "user name")?,
                homedir: e.str16(MAX_CRED_STR, "user home")?,
                shell: e.str16(MAX_CRED_STR, "user shell")?,
            }),
            1 => groups.push(Group {
                gid: e.u32(what)?,
                name: e.str16(MAX_CRED_STR, "group name")?,
            }),
            t => {
                return Err(ScapError::new(
                    at,
                    ErrorKind::malformed(what, format!("unknown entry type {t}")),
                ))
            }
        }
        if !v2 {
            c.pos += e.pos;
        }
    }
    Ok((users, groups))
}

const MAX_PATH: usize = 1024;
const MAX_ARGS: usize = 4096;

pub(crate) fn parse_proclist(c: &mut Cursor, v: u8) -> Result<Vec<ThreadInfo>, ScapError> {
    let what = "process list entry";
    let mut out = Vec::new();
    while c.remaining() >= 4 {
        let mut e = c.entry(v == 9, what)?;
        let tid = e.u64(what)?;
        let pid = e.u64(what)?;
        let ptid = e.u64(what)?;
        let mut t = ThreadInfo::new(tid, pid, ptid);
        if v >= 6 {
            t.sid = e.u64(what)?;
        }
        if v >= 8 {
            t.vpgid = e.u64(what)?;
        }
        t.comm = e.str16(MAX_PATH, "comm")?;
        t.exe = e.str16(MAX_PATH, "exe")?;
        if v >= 7 {
            t.exepath = e.str16(MAX_PATH, "exepath")?;
        }
        t.args = NulList(e.raw16(MAX_ARGS, "args")?.to_vec());
        t.cwd = e.str16(MAX_PATH, "cwd")?;
        t.fdlimit = e.u64(what)?;
        t.flags = e.u32(what)?;
        t.uid = e.u32(what)?;
        t.gid = e.u32(what)?;
        if v >= 2 {
            t.vmsize_kb = e.u32(what)?;
            t.vmrss_kb = e.u32(what)?;
            t.vmswap_kb = e.u32(what)?;
            t.pfmajor = e.u64(what)?;
            t.pfminor = e.u64(what)?;
        }
        if v >= 3 {
            t.env = NulList(e.raw16(MAX_ARGS, "env")?.to_vec());
        }
        if v >= 4 {
            t.vtid = e.u64(what)? as i64;
            t.vpid = e.u64(what)? as i64;
            t.cgroups = NulList(e.raw16(MAX_ARGS, "cgroups")?.to_vec());
        }
        if v >= 5 {
            t.root = e.str16(MAX_PATH, "root")?;
        }
        if v == 9 {
            read_pl_tail(&mut e, &mut t)?;
        } else {
            c.pos += e.pos;
        }
        out.push(t);
    }
    Ok(out)
}

/// The optional PL_V9 fields, each read only if it fits in the entry (falcosecurity/libs
/// `userspace/libscap/engine/savefile/scap_savefile.c`, `scap_read_proclist`).
fn read_pl_tail(e: &mut Cursor, t: &mut ThreadInfo) -> Result<(), ScapError> {
    let what = "process list entry";
    // Entries written before libs 0.10 lack pidns_init_start_ts and tty (at most 29 bytes
    // of the later fields follow).
    if e.remaining() > 29 {
        t.pidns_init_start_ts = e.u64(what)?;
        if e.remaining() >= 4 {
            t.tty = e.u32(what)?;
        }
    }
    if e.remaining() >= 4 {
        t.loginuid = e.u32(what)?;
    }
    if e.remaining() >= 1 {
        t.exe_writable = e.u8(what)? != 0;
    }
    if e.remaining() >= 24 {
        t.cap_inheritable = e.u64(what)?;
        t.cap_permitted = e.u64(what)?;
        t.cap_effective = e.u64(what)?;
    }
    if e.remaining() >= 1 {
        t.exe_upper_layer = e.u8(what)? != 0;
    }
    if e.remaining() >= 24 {
        t.exe_ino = e.u64(what)?;
        t.exe_ino_ctime = e.u64(what)?;
        t.exe_ino_mtime = e.u64(what)?;
    }
    if e.remaining() >= 1 {
        t.exe_from_memfd = e.u8(what)? != 0;
    }
    if e.remaining() >= 1 {
        t.exe_lower_layer = e.u8(what)? != 0;
    }
    if e.remaining() >= 8 {
        t.pgid = e.u64(what)? as i64;
    }
    Ok(())
}

pub(crate) fn parse_fdlist(c: &mut Cursor, v2: bool) -> Result<(u64, Vec<FdInfo>), ScapError> {
    let what = "fd list entry";
    let tid = c.u64("fd list thread id")?;
    let mut out = Vec::new();
    while c.remaining() >= 4 {
        let mut e = c.entry(v2, what)?;
        let fd = e.u64(what)? as i64;
        let ino = e.u64(what)?;
        let ty = e.u8(what)?;
        let kind = match ty {
            fd_type::IPV4_SOCK => FdKind::Ipv4Socket {
                sip: Ipv4Addr::from(e.arr::<4>(what)?),
                dip: Ipv4Addr::from(e.arr::<4>(what)?),
                sport: e.u16(what)?,
                dport: e.u16(what)?,
                l4proto: e.u8(what)?,
            },
            fd_type::IPV4_SERVSOCK => FdKind::Ipv4Server {
                ip: Ipv4Addr::from(e.arr::<4>(what)?),
                port: e.u16(what)?,
                l4proto: e.u8(what)?,
            },
            fd_type::IPV6_SOCK => FdKind::Ipv6Socket {
                sip: Ipv6Addr::from(e.arr::<16>(what)?),
                dip: Ipv6Addr::from(e.arr::<16>(what)?),
                sport: e.u16(what)?,
                dport: e.u16(what)?,
                l4proto: e.u8(what)?,
            },
            fd_type::IPV6_SERVSOCK => FdKind::Ipv6Server {
                ip: Ipv6Addr::from(e.arr::<16>(what)?),
                port: e.u16(what)?,
                l4proto: e.u8(what)?,
            },
            fd_type::UNIX_SOCK => FdKind::Unix {
                source: e.u64(what)?,
                destination: e.u64(what)?,
                path: e.str16(MAX_PATH, "unix socket path")?,
            },
            fd_type::FILE_V2 => {
                let open_flags = e.u32(what)?;
                let name = e.str16(MAX_PATH, "fd name")?;
                let dev = (v2 && e.remaining() >= 4)
                    .then(|| e.u32(what))
                    .transpose()?;
                FdKind::File {
                    open_flags,
                    name,
                    dev,
                }
            }
            t if fd_type::is_named(t) => FdKind::Named {
                fd_type: t,
                name: e.str16(MAX_PATH, "fd name")?,
            },
            t => FdKind::Named {
                fd_type: fd_type::UNSUPPORTED,
                name: format!("unknown-type:[{t}]"),
            },
        };
        if !v2 {
            c.pos += e.pos;
        }
        out.push(FdInfo { fd, ino, kind });
    }
    Ok((tid, out))
}
