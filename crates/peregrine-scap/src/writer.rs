//! The writer: today's layout, as current Falco/libscap writes it (`scap_setup_dump`):
//! SHB 1.2, MI, IL_V2, UL_V2, PL_V9, one FDL_V2 per thread with fds, then EV_V2 / EVF_V2
//! blocks (`*_LARGE` for `EF_LARGE_PAYLOAD` event types).
//!
//! The writer takes the same typed structures the reader produces, so an old capture read and
//! written again comes out in the current layout (v1 events gain their `nparams`). To write a
//! gzip file, wrap the destination in `flate2::write::GzEncoder`.

use std::io::{self, Write};

use thiserror::Error;

use crate::event::{block, ScapEvent, READER_BUF_SIZE};
use crate::model::*;
use crate::table::{self, PPM_MAX_EVENT_PARAMS};
use crate::OwnedEvent;

#[derive(Debug, Error)]
pub enum WriteError {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("{what} is {len} bytes, more than its on-disk length field allows ({max})")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("event has {0} parameters, more than {PPM_MAX_EVENT_PARAMS}")]
    TooManyParams(usize),
}

fn too_long(what: &'static str, len: usize, max: usize) -> WriteError {
    WriteError::TooLong { what, len, max }
}

/// Little-endian body builder.
#[derive(Default)]
struct Buf(Vec<u8>);

impl Buf {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
    fn str16(&mut self, v: &[u8], what: &'static str, max: usize) -> Result<&mut Self, WriteError> {
        if v.len() > max {
            return Err(too_long(what, v.len(), max));
        }
        self.u16(v.len() as u16);
        Ok(self.raw(v))
    }
    /// Appends an entry prefixed by its length (`including` its own 4 bytes or not).
    fn entry(&mut self, e: &Buf, including: bool) -> Result<&mut Self, WriteError> {
        let n = e.0.len() + if including { 4 } else { 0 };
        let n = u32::try_from(n).map_err(|_| too_long("entry", n, u32::MAX as usize))?;
        self.u32(n);
        Ok(self.raw(&e.0))
    }
}

/// Writes a capture to `W`.
pub struct Writer<W: Write> {
    w: W,
    pos: u64,
    ev: Vec<u8>,
}

const MAX_PATH: usize = 1024;
const MAX_ARGS: usize = 4096;
const MAX_CRED: usize = 255;

impl<W: Write> Writer<W> {
    /// Writes the section header and every metadata block of `meta`.
    pub fn new(w: W, meta: &Metadata) -> Result<Self, WriteError> {
        let mut wr = Writer {
            w,
            pos: 0,
            ev: Vec::new(),
        };
        let mut shb = Buf::default();
        shb.u32(0x1A2B3C4D).u16(1).u16(2).u64(u64::MAX);
        wr.block(block::SHB, &shb.0)?;
        if let Some(mi) = &meta.machine {
            wr.block(block::MI, &machine_info(mi).0)?;
        }
        wr.block(block::IL_V2, &interfaces(&meta.interfaces)?.0)?;
        wr.block(block::UL_V2, &users(&meta.users, &meta.groups)?.0)?;
        let mut pl = Buf::default();
        for t in &meta.threads {
            pl.entry(&thread(t)?, true)?;
        }
        wr.block(block::PL_V9, &pl.0)?;
        let orphans = meta.orphan_fds.iter().map(|(tid, f)| (*tid, f));
        for (tid, fds) in meta.threads.iter().map(|t| (t.tid, &t.fds)).chain(orphans) {
            if !fds.is_empty() {
                wr.block(block::FDL_V2, &fdlist(tid, fds)?.0)?;
            }
        }
        Ok(wr)
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn block(&mut self, t: u32, body: &[u8]) -> Result<(), WriteError> {
        let padded = body.len().div_ceil(4) * 4;
        let total = 12 + padded;
        let total32 =
            u32::try_from(total).map_err(|_| too_long("block", total, u32::MAX as usize))?;
        self.w.write_all(&t.to_le_bytes())?;
        self.w.write_all(&total32.to_le_bytes())?;
        self.w.write_all(body)?;
        self.w.write_all(&[0u8; 3][..padded - body.len()])?;
        self.w.write_all(&total32.to_le_bytes())?;
        self.pos += total as u64;
        Ok(())
    }

    /// Writes one event from its parts (`EV_V2`, `EVF_V2` when `flags != 0`, `*_LARGE` for
    /// large-payload types).
    pub fn write_parts(
        &mut self,
        ts: u64,
        tid: u64,
        cpu: u16,
        ppm_type: u16,
        flags: u32,
        params: &[&[u8]],
    ) -> Result<(), WriteError> {
        if params.len() > PPM_MAX_EVENT_PARAMS {
            return Err(WriteError::TooManyParams(params.len()));
        }
        let width = table::len_size(ppm_type);
        let large = width == 4;
        let t = match (large, flags != 0) {
            (false, false) => block::EV_V2,
            (false, true) => block::EVF_V2,
            (true, false) => block::EV_V2_LARGE,
            (true, true) => block::EVF_V2_LARGE,
        };
        let data: usize = params.iter().map(|p| p.len()).sum();
        let len = 26 + width * params.len() + data;
        let len32 = u32::try_from(len).map_err(|_| too_long("event", len, u32::MAX as usize))?;
        let mut ev = std::mem::take(&mut self.ev);
        ev.clear();
        ev.extend_from_slice(&cpu.to_le_bytes());
        if flags != 0 {
            ev.extend_from_slice(&flags.to_le_bytes());
        }
        ev.extend_from_slice(&ts.to_le_bytes());
        ev.extend_from_slice(&tid.to_le_bytes());
        ev.extend_from_slice(&len32.to_le_bytes());
        ev.extend_from_slice(&ppm_type.to_le_bytes());
        ev.extend_from_slice(&(params.len() as u32).to_le_bytes());
        for p in params {
            if width == 2 {
                let n = u16::try_from(p.len())
                    .map_err(|_| too_long("parameter", p.len(), u16::MAX as usize))?;
                ev.extend_from_slice(&n.to_le_bytes());
            } else {
                ev.extend_from_slice(&(p.len() as u32).to_le_bytes());
            }
        }
        for p in params {
            ev.extend_from_slice(p);
        }
        let body_with_trailer = ev.len().div_ceil(4) * 4 + 4;
        let res = if !large && body_with_trailer > READER_BUF_SIZE as usize {
            Err(too_long(
                "event block",
                body_with_trailer,
                READER_BUF_SIZE as usize,
            ))
        } else {
            self.block(t, &ev)
        };
        self.ev = ev;
        res
    }

    pub fn write_event(&mut self, e: &ScapEvent) -> Result<(), WriteError> {
        let mut ps: [&[u8]; PPM_MAX_EVENT_PARAMS] = [&[]; PPM_MAX_EVENT_PARAMS];
        let mut n = 0;
        for p in e.params.iter() {
            let slot = ps.get_mut(n).ok_or(WriteError::TooManyParams(n + 1))?;
            *slot = p;
            n += 1;
        }
        self.write_parts(e.ts, e.tid, e.cpu, e.ppm_type, e.flags, &ps[..n])
    }

    pub fn write_owned(&mut self, e: &OwnedEvent) -> Result<(), WriteError> {
        let ps: Vec<&[u8]> = e.params.iter().map(Vec::as_slice).collect();
        self.write_parts(e.ts, e.tid, e.cpu, e.ppm_type, e.flags, &ps)
    }

    /// Flushes and returns the destination.
    pub fn finish(mut self) -> Result<W, WriteError> {
        self.w.flush()?;
        Ok(self.w)
    }
}

/// Creates `path` for writing with mode 0600, never through a symbolic link and never into an
/// existing file.
///
/// A capture holds every process's command line and environment (secrets included), and the
/// agent runs as root: a link planted at the path (`/tmp/cap.scap` → `/etc/shadow`) must not
/// make it truncate the target, and a hard link must not make it write into another file. So
/// the file is always new (`O_EXCL`, which also refuses a symlink as the last component); an
/// existing regular file of that name is unlinked first, as re-running `capture -w` or a
/// rotation expects. Anything else already at the path (a symlink, a FIFO, a device, a
/// directory) is refused.
pub fn create_private(path: &std::path::Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(path)?;
            if !meta.file_type().is_file() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "refusing to write a capture over something that is not a regular file \
                     (a symbolic link, FIFO, device or directory)",
                ));
            }
            std::fs::remove_file(path)?;
            // If something else appears at the path in between, this fails: never follow it.
            open()
        }
        other => other,
    }
}

/// A capture file being written, plain or gzip-compressed (what `-z` asks for); [`FileOut::close`]
/// writes the gzip trailer, so a file that was closed is complete.
pub enum FileOut {
    Plain(io::BufWriter<std::fs::File>),
    Gzip(flate2::write::GzEncoder<io::BufWriter<std::fs::File>>),
}

impl FileOut {
    /// Creates `path` (replacing a regular file of that name), readable by its owner only.
    pub fn create(path: &std::path::Path, gzip: bool) -> io::Result<FileOut> {
        let f = io::BufWriter::with_capacity(1 << 16, create_private(path)?);
        Ok(if gzip {
            FileOut::Gzip(flate2::write::GzEncoder::new(
                f,
                flate2::Compression::fast(),
            ))
        } else {
            FileOut::Plain(f)
        })
    }

    /// Flushes everything (and the gzip trailer) to the file.
    pub fn close(self) -> io::Result<()> {
        let mut f = match self {
            FileOut::Plain(f) => f,
            FileOut::Gzip(g) => g.finish()?,
        };
        f.flush()
    }
}

impl Write for FileOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            FileOut::Plain(f) => f.write(buf),
            FileOut::Gzip(g) => g.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            FileOut::Plain(f) => f.flush(),
            FileOut::Gzip(g) => g.flush(),
        }
    }
}

/// Writes a whole capture into a byte vector.
pub fn write_capture(meta: &Metadata, events: &[OwnedEvent]) -> Result<Vec<u8>, WriteError> {
    let mut w = Writer::new(Vec::new(), meta)?;
    for e in events {
        w.write_owned(e)?;
    }
    w.finish()
}

fn machine_info(m: &MachineInfo) -> Buf {
    let mut b = Buf::default();
    let mut host = [0u8; 128];
    // NUL-padded; a 128-byte name fills the field, as in the C struct.
    let name = m.hostname.as_bytes();
    let n = name.len().min(128);
    host[..n].copy_from_slice(&name[..n]);
    b.u32(m.num_cpus)
        .u64(m.memory_size_bytes)
        .u64(m.max_pid)
        .raw(&host)
        .u64(m.boot_ts_epoch)
        .u64(m.flags)
        .u64(m.reserved3)
        .u64(m.reserved4);
    b
}

fn ifname_len(name: &str) -> Result<u16, WriteError> {
    if name.len() >= 1024 {
        return Err(too_long("interface name", name.len(), 1023));
    }
    Ok(name.len() as u16)
}

/// One interface entry; the v4 and v6 layouts differ only in the type code and address width.
fn interface(
    ty: u16,
    name: &str,
    addrs: [&[u8]; 3],
    linkspeed: Option<u64>,
) -> Result<Buf, WriteError> {
    let mut e = Buf::default();
    e.u16(ty).u16(ifname_len(name)?);
    for a in addrs {
        e.raw(a);
    }
    if let Some(s) = linkspeed {
        e.u64(s);
    }
    e.raw(name.as_bytes());
    Ok(e)
}

fn interfaces(list: &[Interface]) -> Result<Buf, WriteError> {
    let mut b = Buf::default();
    for i in list {
        let e = match i {
            Interface::V4 {
                name,
                addr,
                netmask,
                bcast,
                linkspeed,
            } => interface(
                if linkspeed.is_some() { 1 } else { 3 },
                name,
                [&addr.octets(), &netmask.octets(), &bcast.octets()],
                *linkspeed,
            )?,
            Interface::V6 {
                name,
                addr,
                netmask,
                bcast,
                linkspeed,
            } => interface(
                if linkspeed.is_some() { 2 } else { 4 },
                name,
                [&addr.octets(), &netmask.octets(), &bcast.octets()],
                *linkspeed,
            )?,
        };
        b.entry(&e, false)?;
    }
    Ok(b)
}

fn users(users: &[User], groups: &[Group]) -> Result<Buf, WriteError> {
    let mut b = Buf::default();
    for u in users {
        let mut e = Buf::default();
        e.u8(0).u32(u.uid).u32(u.gid);
        e.str16(u.name.as_bytes(), "user name", MAX_CRED)?;
        e.str16(u.homedir.as_bytes(), "user home", MAX_CRED)?;
        e.str16(u.shell.as_bytes(), "user shell", MAX_CRED)?;
        b.entry(&e, true)?;
    }
    for g in groups {
        let mut e = Buf::default();
        e.u8(1).u32(g.gid);
        e.str16(g.name.as_bytes(), "group name", MAX_CRED)?;
        b.entry(&e, true)?;
    }
    Ok(b)
}

fn thread(t: &ThreadInfo) -> Result<Buf, WriteError> {
    let mut e = Buf::default();
    e.u64(t.tid).u64(t.pid).u64(t.ptid).u64(t.sid).u64(t.vpgid);
    e.str16(t.comm.as_bytes(), "comm", MAX_PATH)?;
    e.str16(t.exe.as_bytes(), "exe", MAX_PATH)?;
    e.str16(t.exepath.as_bytes(), "exepath", MAX_PATH)?;
    e.str16(&t.args.0, "args", MAX_ARGS)?;
    e.str16(t.cwd.as_bytes(), "cwd", MAX_PATH)?;
    e.u64(t.fdlimit)
        .u32(t.flags)
        .u32(t.uid)
        .u32(t.gid)
        .u32(t.vmsize_kb)
        .u32(t.vmrss_kb)
        .u32(t.vmswap_kb)
        .u64(t.pfmajor)
        .u64(t.pfminor);
    e.str16(&t.env.0, "env", MAX_ARGS)?;
    e.u64(t.vtid as u64).u64(t.vpid as u64);
    e.str16(&t.cgroups.0, "cgroups", MAX_ARGS)?;
    e.str16(t.root.as_bytes(), "root", MAX_PATH)?;
    e.u64(t.pidns_init_start_ts)
        .u32(t.tty)
        .u32(t.loginuid)
        .u8(t.exe_writable as u8)
        .u64(t.cap_inheritable)
        .u64(t.cap_permitted)
        .u64(t.cap_effective)
        .u8(t.exe_upper_layer as u8)
        .u64(t.exe_ino)
        .u64(t.exe_ino_ctime)
        .u64(t.exe_ino_mtime)
        .u8(t.exe_from_memfd as u8)
        .u8(t.exe_lower_layer as u8)
        .u64(t.pgid as u64);
    Ok(e)
}

/// A connected socket's tuple; v4 and v6 differ only in address width.
fn socket_tuple(e: &mut Buf, sip: &[u8], dip: &[u8], sport: u16, dport: u16, l4proto: u8) {
    e.raw(sip).raw(dip).u16(sport).u16(dport).u8(l4proto);
}

fn fdlist(tid: u64, fds: &[FdInfo]) -> Result<Buf, WriteError> {
    let mut b = Buf::default();
    b.u64(tid);
    for f in fds {
        let mut e = Buf::default();
        e.u64(f.fd as u64).u64(f.ino).u8(f.kind.fd_type());
        match &f.kind {
            FdKind::Ipv4Socket {
                sip,
                dip,
                sport,
                dport,
                l4proto,
            } => socket_tuple(
                &mut e,
                &sip.octets(),
                &dip.octets(),
                *sport,
                *dport,
                *l4proto,
            ),
            FdKind::Ipv4Server { ip, port, l4proto } => {
                e.raw(&ip.octets()).u16(*port).u8(*l4proto);
            }
            FdKind::Ipv6Socket {
                sip,
                dip,
                sport,
                dport,
                l4proto,
            } => socket_tuple(
                &mut e,
                &sip.octets(),
                &dip.octets(),
                *sport,
                *dport,
                *l4proto,
            ),
            FdKind::Ipv6Server { ip, port, l4proto } => {
                e.raw(&ip.octets()).u16(*port).u8(*l4proto);
            }
            FdKind::Unix {
                source,
                destination,
                path,
            } => {
                e.u64(*source).u64(*destination);
                e.str16(path.as_bytes(), "unix socket path", MAX_PATH)?;
            }
            FdKind::File {
                open_flags,
                name,
                dev,
            } => {
                e.u32(*open_flags);
                e.str16(name.as_bytes(), "fd name", MAX_PATH)?;
                if let Some(d) = dev {
                    e.u32(*d);
                }
            }
            FdKind::Named { name, .. } => {
                e.str16(name.as_bytes(), "fd name", MAX_PATH)?;
            }
        }
        b.entry(&e, true)?;
    }
    Ok(b)
}
