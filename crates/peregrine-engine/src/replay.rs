//! Replay of scap capture files through the live pipeline.
//!
//! A capture's events use PPM codes, enter/exit pairs and Falco's already-converted flag
//! values; the pipeline consumes the kernel record layout of `peregrine-event`. The
//! [`Converter`] bridges the two by parameter *name*: each exit event becomes one record of the
//! syscall with the same `evt.type`, every schema parameter taken from the exit or, when the
//! exit lacks it (old capture layouts), from the same thread's preceding enter event — what
//! libscap's converter does. Enter events are not replayed, except the few that libscap's
//! converter passes on to Falco's rules (`open`, `execve`, `connect` … enter events of old
//! captures): those become records of kind `KIND_SYSCALL_ENTER` (`evt.dir` is `>`), which the
//! state engine ignores. Generic `syscall` events become records of the syscall their `ID`
//! (a `ppm_sc_code`) names, so `evt.type=madvise` matches them as it does live.
//!
//! Key decision: records are encoded directly into one reused buffer, with a per-PPM-code map
//! from schema slot to capture parameter computed once, instead of going through the
//! allocating `builder::RecordBuilder` per event; the builder stays the reference that the
//! tests compare the converter against. Flag parameters are turned back into kernel values by
//! inverting `peregrine-event`'s own conversions (probed bit by bit, so there is one flag
//! table in the project).

use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use std::sync::OnceLock;

use crate::capture_file::event_type_name;
use peregrine_event::flags::Conv;
use peregrine_event::le;
use peregrine_event::raw::{
    Header, HDR_SIZE, KIND_PROCEXIT, KIND_SYSCALL, KIND_SYSCALL_ENTER, MAX_PARAMS,
};
use peregrine_event::schema::{schema_for, ParamType, Schema};
use peregrine_event::{Event, EventType};
use peregrine_filter::format::NA;
use peregrine_scap::convert::enter_reaches_rules;
use peregrine_scap::table::{self, EventInfo};
use peregrine_scap::{Metadata, Reader, ScapEvent};
use peregrine_state::fd::LocalAddrs;
use peregrine_state::fd::{Fd, FdKind, Sock, L4};
use peregrine_state::runtime::ContainerInfo;
use peregrine_state::thread::{self, Process};
use peregrine_state::users::UserDb;
use peregrine_state::{container, State, StateConfig};
use rustc_hash::FxHashMap;
use thiserror::Error;

use crate::{AlertSink, Engine, Pipeline};
use std::sync::Arc;

/// Why a replay stopped.
#[derive(Debug, Error)]
pub enum ReplayError {
    #[error("opening capture {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: peregrine_scap::OpenError,
    },
    #[error("reading capture {path} at byte {offset}: {message}")]
    Read {
        path: String,
        offset: u64,
        message: String,
    },
}

/// What the converter did with the events it saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConvertStats {
    /// Events read from the capture.
    pub read: u64,
    /// Records produced (and replayed).
    pub converted: u64,
    /// Syscall enter events (kept to complete their exits).
    pub enters: u64,
    /// Of those, the ones also handed to the rules, as libscap's converter passes them.
    pub passed_enters: u64,
    /// Enter-coded events that are not syscalls (`procinfo`, `switch`, `container`, …): no
    /// record, nothing to complete.
    pub non_syscall: u64,
    /// Exit parameters filled from the enter event.
    pub merged_params: u64,
    /// Events of a PPM code missing from the event table.
    pub unknown: u64,
    /// Events with no record schema here (non-syscall events, syscalls we do not capture).
    pub unsupported: u64,
    /// Parameters dropped because their bytes do not fit the record (width, length).
    pub bad_params: u64,
}

/// Per PPM code: its record kind/nr/schema and, for each schema slot, the index of the
/// parameter of the same name in the capture event (or none).
struct CodeMap {
    kind: u16,
    nr: u16,
    schema: &'static Schema,
    slots: Vec<Option<u8>>,
    /// Index of the event's own `pid` parameter (clone/execve), for the record header.
    pid_slot: Option<usize>,
}

/// The last enter event of a thread, owned.
#[derive(Default)]
struct Stash {
    name: &'static str,
    code: u16,
    data: Vec<u8>,
    ranges: Vec<(u32, u32)>,
}

/// Converts capture events into kernel records; see the module documentation.
pub struct Converter {
    maps: FxHashMap<u16, Option<CodeMap>>,
    is_syscall: FxHashMap<u16, bool>,
    enters: FxHashMap<u64, Stash>,
    record: Vec<u8>,
    stats: ConvertStats,
}

impl Default for Converter {
    fn default() -> Self {
        Converter::new()
    }
}

fn map_for(info: &EventInfo) -> Option<CodeMap> {
    let (kind, nr) = if info.name == "procexit" {
        (KIND_PROCEXIT, 0)
    } else {
        let nr = EventType::from_name(event_type_name(info.name))?.syscall_nr()?;
        (KIND_SYSCALL, u16::try_from(nr).ok()?)
    };
    let schema = schema_for(kind, nr)?;
    if schema.params.len() > MAX_PARAMS {
        return None;
    }
    let slots = schema
        .params
        .iter()
        .map(|p| {
            info.params
                .iter()
                .position(|d| d.name == p.name)
                .and_then(|i| u8::try_from(i).ok())
        })
        .collect();
    let pid_slot = schema.index_of("pid");
    Some(CodeMap {
        kind,
        nr,
        schema,
        slots,
        pid_slot,
    })
}

impl Converter {
    pub fn new() -> Converter {
        Converter {
            maps: FxHashMap::default(),
            is_syscall: FxHashMap::default(),
            enters: FxHashMap::default(),
            record: Vec::with_capacity(4096),
            stats: ConvertStats::default(),
        }
    }

    pub fn stats(&self) -> ConvertStats {
        self.stats
    }

    /// Converts one capture event. Returns the record, or `None` for an event that produces
    /// none (an enter event, an event without a schema); every such case is counted.
    /// `pid_of` gives the process of a thread the event does not name itself.
    pub fn convert(
        &mut self,
        ev: &ScapEvent<'_>,
        pid_of: impl Fn(u64) -> Option<i64>,
    ) -> Option<&[u8]> {
        self.stats.read += 1;
        let Some(info) = table::lookup(ev.ppm_type) else {
            self.stats.unknown += 1;
            return None;
        };
        // `procexit` is enter-coded but is an event of its own, not half of a syscall.
        let syscall_enter = info.is_enter() && info.name != "procexit";
        if syscall_enter {
            let syscall = *self.is_syscall.entry(ev.ppm_type).or_insert_with(|| {
                EventType::from_name(event_type_name(info.name))
                    .is_some_and(|t| t.syscall_nr().is_some())
            });
            if !syscall {
                self.stats.non_syscall += 1;
                return None;
            }
            self.stats.enters += 1;
            let stash = self.enters.entry(ev.tid).or_default();
            stash.name = info.name;
            stash.code = info.code;
            stash.data.clear();
            stash.ranges.clear();
            for p in ev.params.iter() {
                let start = stash.data.len() as u32;
                stash.data.extend_from_slice(p);
                stash.ranges.push((start, stash.data.len() as u32));
            }
            if !enter_reaches_rules(info.code) {
                return None;
            }
            self.stats.passed_enters += 1;
        } else if info.name == "syscall" {
            return self.convert_generic(ev, info, &pid_of);
        }
        let map = self
            .maps
            .entry(ev.ppm_type)
            .or_insert_with(|| map_for(info));
        let Some(map) = map.as_ref() else {
            self.stats.unsupported += 1;
            return None;
        };
        // The thread's enter event completes this exit only if it is of the same syscall (an
        // enter event passed on to the rules is never completed: it stands for itself).
        let enter = self
            .enters
            .get(&ev.tid)
            .filter(|s| s.name == info.name && !syscall_enter)
            .and_then(|s| Some((s, table::lookup(s.code)?)));

        let n = map.schema.params.len();
        let rec = &mut self.record;
        rec.clear();
        rec.resize(HDR_SIZE + 2 * n, 0);
        let mut pid = None;
        for (i, p) in map.schema.params.iter().enumerate() {
            let mut bytes = map.slots[i].and_then(|j| ev.params.get(j as usize));
            if bytes.is_none_or(<[u8]>::is_empty) {
                if let Some((s, einfo)) = enter {
                    let from_enter = einfo
                        .params
                        .iter()
                        .position(|d| d.name == p.name)
                        .and_then(|j| s.ranges.get(j))
                        .map(|&(a, b)| &s.data[a as usize..b as usize]);
                    if from_enter.is_some_and(|b| !b.is_empty()) {
                        self.stats.merged_params += 1;
                        bytes = from_enter;
                    }
                }
            }
            let start = rec.len();
            if let Some(b) = bytes.filter(|b| !b.is_empty()) {
                if !encode(p.ty, b, rec) {
                    rec.truncate(start);
                    self.stats.bad_params += 1;
                }
            }
            let len = rec.len() - start;
            if len > usize::from(u16::MAX) {
                rec.truncate(start);
                self.stats.bad_params += 1;
            }
            if Some(i) == map.pid_slot && rec.len() > start {
                pid = le::uint(&rec[start..]).map(|v| v as i64);
            }
            let len = (rec.len() - start) as u16;
            rec[HDR_SIZE + 2 * i..HDR_SIZE + 2 * i + 2].copy_from_slice(&len.to_le_bytes());
        }
        let pid = pid
            .filter(|p| *p > 0)
            .or_else(|| pid_of(ev.tid))
            .unwrap_or(ev.tid as i64);
        let kind = if syscall_enter {
            KIND_SYSCALL_ENTER
        } else {
            map.kind
        };
        let header = Header {
            ts_boot_ns: ev.ts,
            tid: ev.tid as u32,
            pid: pid as u32,
            kind,
            nr: map.nr,
            cpu: ev.cpu,
        };
        header.write(rec, n as u16);
        self.stats.converted += 1;
        Some(&self.record)
    }

    /// A generic `syscall` exit: its `ID` (a `ppm_sc_code`) names the syscall, which becomes
    /// the record's; every parameter but the syscall ids stays absent (old layouts carry no
    /// result). The enter event, stored like any other, is not needed.
    fn convert_generic(
        &mut self,
        ev: &ScapEvent<'_>,
        info: &EventInfo,
        pid_of: &impl Fn(u64) -> Option<i64>,
    ) -> Option<&[u8]> {
        let id = info
            .params
            .iter()
            .position(|d| d.name == "ID")
            .and_then(|i| ev.params.get(i))
            .and_then(le::uint)
            .and_then(|v| u16::try_from(v).ok());
        let nr = id
            .and_then(table::ppm_sc_name)
            .and_then(EventType::from_name)
            .and_then(|t| t.syscall_nr())
            .and_then(|nr| u16::try_from(nr).ok());
        let (Some(nr), Some(schema)) = (nr, nr.and_then(|nr| schema_for(KIND_SYSCALL, nr))) else {
            self.stats.unsupported += 1;
            return None;
        };
        let rec = &mut self.record;
        rec.clear();
        rec.resize(HDR_SIZE + 2 * schema.params.len(), 0);
        for (i, p) in schema.params.iter().enumerate() {
            if matches!(p.name, "ID" | "nativeID") {
                rec.extend_from_slice(&nr.to_le_bytes());
                rec[HDR_SIZE + 2 * i..HDR_SIZE + 2 * i + 2].copy_from_slice(&2u16.to_le_bytes());
            }
        }
        let pid = pid_of(ev.tid).unwrap_or(ev.tid as i64);
        let header = Header {
            ts_boot_ns: ev.ts,
            tid: ev.tid as u32,
            pid: pid as u32,
            kind: KIND_SYSCALL,
            nr,
            cpu: ev.cpu,
        };
        header.write(rec, schema.params.len() as u16);
        self.stats.converted += 1;
        Some(&self.record)
    }
}

/// Appends capture parameter bytes `b` encoded for record type `ty`; false if they do not fit.
fn encode(ty: ParamType, b: &[u8], out: &mut Vec<u8>) -> bool {
    use ParamType as T;
    match ty {
        T::Fd
        | T::Errno
        | T::Pid
        | T::Int
        | T::Uint
        | T::Uid
        | T::Gid
        | T::Mode
        | T::ChmodMode
        | T::AbsTime => {
            if le::uint(b).is_none() {
                return false;
            }
            out.extend_from_slice(b);
        }
        T::Flags(_, conv) | T::Enum(_, conv) => {
            let Some(v) = le::uint(b) else { return false };
            out.extend_from_slice(&to_kernel(conv, v).to_le_bytes());
        }
        T::Dyn => {
            if b.len() != 9 && b.len() != 5 {
                return false;
            }
            out.extend_from_slice(b);
        }
        // Strings, lists, buffers and socket addresses share the capture's byte layout.
        T::Str
        | T::Path
        | T::RelPath(_)
        | T::Bytes
        | T::List
        | T::SockAddr
        | T::SockTuple
        | T::FdList => out.extend_from_slice(b),
    }
    true
}

/// Inverse of one `Conv`, probed from `Conv::apply` itself.
struct Inverse {
    /// `(falco bits, kernel bits)`: each Falco bit set maps back to these kernel bits.
    bits: Vec<(u64, u64)>,
    /// Enumerations: Falco value → kernel value.
    values: FxHashMap<u64, u64>,
}

fn inverse(conv: Conv) -> &'static Inverse {
    static OPEN: OnceLock<Inverse> = OnceLock::new();
    static CLONE: OnceLock<Inverse> = OnceLock::new();
    static CLOEXEC: OnceLock<Inverse> = OnceLock::new();
    static PTRACE: OnceLock<Inverse> = OnceLock::new();
    static NONE: OnceLock<Inverse> = OnceLock::new();
    let probe_bits = |conv: Conv, from: u32| {
        let base = conv.apply(0);
        let bits = (from..64)
            .filter_map(|k| {
                let f = conv.apply(1u64 << k) & !base;
                (f != 0).then_some((f, 1u64 << k))
            })
            .collect();
        Inverse {
            bits,
            values: FxHashMap::default(),
        }
    };
    match conv {
        // The access mode (two low bits) is an enumeration, handled in `to_kernel`.
        Conv::OpenFlags => OPEN.get_or_init(|| probe_bits(conv, 2)),
        Conv::CloneFlags => CLONE.get_or_init(|| probe_bits(conv, 0)),
        Conv::Cloexec => CLOEXEC.get_or_init(|| probe_bits(conv, 0)),
        Conv::PtraceRequest => PTRACE.get_or_init(|| Inverse {
            bits: Vec::new(),
            // Every Falco value, 0 (unknown request) included, to a kernel value giving it.
            values: (0..0x4300u64).map(|k| (conv.apply(k), k)).collect(),
        }),
        // `Bits` carries its own map; `to_kernel` reverses it directly.
        Conv::None | Conv::MountFlags | Conv::Mask(_) | Conv::Bits(_) | Conv::Values(_) => NONE
            .get_or_init(|| Inverse {
                bits: Vec::new(),
                values: FxHashMap::default(),
            }),
    }
}

/// A Falco (`PPM_*`) flag value back to the kernel value the record carries (also what
/// rule tests use to encode flags written by name).
pub fn to_kernel(conv: Conv, v: u64) -> u64 {
    match conv {
        Conv::None | Conv::MountFlags | Conv::Mask(_) => v,
        Conv::PtraceRequest => inverse(conv).values.get(&v).copied().unwrap_or(v),
        Conv::Bits(map) => map
            .iter()
            .filter(|(_, p)| v & u64::from(*p) == u64::from(*p))
            .fold(0, |k, (kb, _)| k | kb),
        Conv::Values(map) => map
            .iter()
            .find(|(_, p)| v == u64::from(*p))
            // A value with no name (0): a kernel value outside the map, which converts back to 0.
            .map_or(0xffff, |(k, _)| *k),
        _ => {
            let mut k = 0;
            if conv == Conv::OpenFlags {
                // PPM_O_RDONLY=1, WRONLY=2, RDWR=3 → O_RDONLY=0, O_WRONLY=1, O_RDWR=2.
                k |= match v & 3 {
                    2 => 1,
                    3 => 2,
                    _ => 0,
                };
            }
            for &(f, kb) in &inverse(conv).bits {
                if v & f == f {
                    k |= kb;
                }
            }
            k
        }
    }
}

/// Seeds `state` with a capture's thread, fd and user tables (libsinsp's view at the start
/// of the capture).
pub fn seed_state(meta: &Metadata, state: &mut State) {
    let mut procs: FxHashMap<i64, (Process, Vec<(i64, i64)>)> = FxHashMap::default();
    // Main threads first, so a process takes its data from its leader when present.
    let mut order: Vec<&peregrine_scap::ThreadInfo> = meta.threads.iter().collect();
    order.sort_by_key(|t| t.tid != t.pid);
    for t in order {
        let pid = t.pid as i64;
        let entry = procs
            .entry(pid)
            .or_insert_with(|| (process_of(t), Vec::new()));
        entry.1.push((t.tid as i64, t.vtid));
        for f in &t.fds {
            if let Some(fd) = fd_of(&f.kind) {
                entry.0.fds.insert(f.fd, fd);
            }
        }
    }
    for (tid, fds) in &meta.orphan_fds {
        let Some(pid) = meta.thread(*tid).map(|t| t.pid as i64) else {
            continue;
        };
        if let Some((p, _)) = procs.get_mut(&pid) {
            for f in fds {
                if let Some(fd) = fd_of(&f.kind) {
                    p.fds.insert(f.fd, fd);
                }
            }
        }
    }
    for (_, (p, tids)) in procs {
        state.insert_process(p, &tids);
    }
    // libsinsp decides which end of a connection is local from the capture's interfaces.
    let mut addrs = LocalAddrs::default();
    for i in &meta.interfaces {
        match i {
            peregrine_scap::Interface::V4 { addr, netmask, .. } => addrs.v4.push((*addr, *netmask)),
            peregrine_scap::Interface::V6 { addr, .. } => addrs.v6.push(*addr),
        }
    }
    state.set_local_addrs(addrs);
    if !meta.users.is_empty() {
        let mut passwd = String::new();
        for u in &meta.users {
            passwd.push_str(&format!(
                "{}:x:{}:{}::{}:{}\n",
                u.name, u.uid, u.gid, u.homedir, u.shell
            ));
        }
        let mut group = String::new();
        for g in &meta.groups {
            group.push_str(&format!("{}:x:{}:\n", g.name, g.gid));
        }
        state.set_users("", UserDb::parse(&passwd, &group));
    }
}

fn process_of(t: &peregrine_scap::ThreadInfo) -> Process {
    let cgroups: Vec<(String, String)> = t
        .cgroups
        .strings()
        .into_iter()
        .filter_map(|c| {
            let (subsys, path) = c.split_once('=')?;
            Some((subsys.to_string(), path.to_string()))
        })
        .collect();
    let cont = container::from_cgroups(cgroups.iter().map(|(s, p)| (s.as_str(), p.as_str())));
    let mut exe_flags = 0;
    for (on, bit) in [
        (t.exe_writable, thread::EXE_WRITABLE),
        (t.exe_upper_layer, thread::EXE_UPPER_LAYER),
        (t.exe_from_memfd, thread::EXE_FROM_MEMFD),
        (t.exe_lower_layer, thread::EXE_LOWER_LAYER),
    ] {
        if on {
            exe_flags |= bit;
        }
    }
    Process {
        pid: t.pid as i64,
        ppid: t.ptid as i64,
        vpid: t.vpid,
        sid: t.sid as i64,
        vpgid: t.vpgid as i64,
        comm: t.comm.as_str().into(),
        exe: t.exe.as_str().into(),
        exepath: t.exepath.as_str().into(),
        args: t.args.strings().into(),
        env: t.env.strings().into(),
        cwd: t.cwd.as_str().into(),
        uid: t.uid,
        gid: t.gid,
        loginuid: t.loginuid,
        tty: t.tty,
        cap_permitted: t.cap_permitted,
        cap_inheritable: t.cap_inheritable,
        cap_effective: t.cap_effective,
        exe_ino: t.exe_ino,
        exe_ino_ctime: t.exe_ino_ctime,
        exe_ino_mtime: t.exe_ino_mtime,
        exe_flags,
        container_id: cont
            .as_ref()
            .map_or_else(Default::default, |c| c.short_id().into()),
        container_engine: cont.as_ref().map_or("", |c| c.engine),
        cgroups: cgroups.into(),
        pidns_init_start_ts: t.pidns_init_start_ts,
        fdlimit: t.fdlimit,
        vm_size: u64::from(t.vmsize_kb),
        vm_rss: u64::from(t.vmrss_kb),
        vm_swap: u64::from(t.vmswap_kb),
        pf_major: t.pfmajor,
        pf_minor: t.pfminor,
        ..Process::default()
    }
}

fn l4_of(proto: u8) -> L4 {
    // libscap's scap_l4_proto: 0 unknown, 1 not available, 2 TCP, 3 UDP, 4 ICMP, 5 raw.
    match proto {
        2 => L4::Tcp,
        3 => L4::Udp,
        4 => L4::Icmp,
        5 => L4::Raw,
        _ => L4::Unknown,
    }
}

/// An inet socket fd from a capture's fd table: with a client end it is a connected socket,
/// without one a listening socket (the scap v4 and v6 kinds differ only in address width).
fn socket_fd(
    kind: FdKind,
    name: String,
    l4proto: u8,
    client: Option<(IpAddr, u16)>,
    server: (IpAddr, u16),
) -> Fd {
    let mut fd = Fd::new(kind, name);
    let mut s = Sock::new(l4_of(l4proto));
    s.server = Some(server);
    s.client = client;
    s.connected = client.is_some();
    s.is_server = client.is_none();
    fd.sock = Some(s);
    fd
}

fn fd_of(k: &peregrine_scap::FdKind) -> Option<Fd> {
    use peregrine_scap::fd_type as t;
    use peregrine_scap::FdKind as S;
    let name = k.name();
    Some(match k {
        S::Ipv4Socket {
            sip,
            dip,
            sport,
            dport,
            l4proto,
        } => socket_fd(
            FdKind::Ipv4,
            name,
            *l4proto,
            Some(((*sip).into(), *sport)),
            ((*dip).into(), *dport),
        ),
        S::Ipv6Socket {
            sip,
            dip,
            sport,
            dport,
            l4proto,
        } => socket_fd(
            FdKind::Ipv6,
            name,
            *l4proto,
            Some(((*sip).into(), *sport)),
            ((*dip).into(), *dport),
        ),
        S::Ipv4Server { ip, port, l4proto } => {
            socket_fd(FdKind::Ipv4, name, *l4proto, None, ((*ip).into(), *port))
        }
        S::Ipv6Server { ip, port, l4proto } => {
            socket_fd(FdKind::Ipv6, name, *l4proto, None, ((*ip).into(), *port))
        }
        S::Unix { .. } => Fd::new(FdKind::Unix, name),
        S::File {
            open_flags, dev, ..
        } => {
            let mut fd = Fd::new(FdKind::File, name.clone());
            fd.nameraw = name;
            fd.flags = *open_flags;
            fd.dev = dev.unwrap_or(0);
            fd
        }
        S::Named { fd_type, .. } => {
            let kind = match *fd_type {
                t::FILE => FdKind::File,
                t::DIRECTORY => FdKind::Directory,
                t::FIFO => FdKind::Pipe,
                t::EVENT => FdKind::Event,
                t::SIGNALFD => FdKind::Signalfd,
                t::EVENTPOLL => FdKind::Eventpoll,
                t::INOTIFY => FdKind::Inotify,
                t::TIMERFD => FdKind::Timerfd,
                t::NETLINK => FdKind::Netlink,
                t::BPF => FdKind::Bpf,
                t::USERFAULTFD => FdKind::Userfaultfd,
                t::IOURING => FdKind::IoUring,
                t::MEMFD => FdKind::Memfd,
                t::PIDFD => FdKind::Pidfd,
                _ => FdKind::Unknown,
            };
            Fd::new(kind, name)
        }
    })
}

/// What a replay did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub convert: ConvertStats,
    /// Threads listed in the capture's metadata (seeded into the state).
    pub seeded_threads: usize,
    /// The per-event hook of [`replay_reader_with`] ended the replay before the file's end.
    pub stopped: bool,
}

/// State configuration for replay: no `/proc` lookups (the capture is another machine).
pub fn replay_state_config() -> StateConfig {
    StateConfig {
        proc_root: None,
        ..StateConfig::default()
    }
}

/// A capture often starts in the middle of a process's life: an event names a thread the
/// metadata does not list. Live, the state engine would read it from /proc; a replay cannot,
/// and libsinsp then enters a placeholder thread (its thread manager's "fake" entry): name
/// and executable `<NA>`, uid, gid and loginuid unknown (`u32::MAX`), no cwd, session or
/// process group. The same placeholder is adopted here before the state sees the event,
/// with the parent the event names (`ptid`, as libsinsp patches an invalid thread from an
/// `execve`); an `execve` then fills in the rest.
fn adopt_unknown_thread(ev: &Event<'_>, state: &mut State) {
    let tid = i64::from(ev.tid());
    if tid == 0 || state.thread(tid).is_some() {
        return;
    }
    // A clone's child side carries the whole new process (comm, exe, cgroups, cwd, ids):
    // the state builds it from the event, as libsinsp does.
    let is_clone = matches!(ev.name(), "clone" | "clone3" | "fork" | "vfork");
    if is_clone && ev.param("res").and_then(|v| v.ok()?.as_i64()) == Some(0) {
        return;
    }
    let pid = i64::from(ev.pid());
    // A new thread of a process the state knows joins it through the state's own clone
    // handling; a placeholder here would replace that process with an empty one.
    if state.process(pid).is_some() {
        return;
    }
    // The parent thread may be any thread of the parent process: parentage is by process.
    let ppid = ev
        .param("ptid")
        .and_then(|v| v.ok()?.as_i64())
        .map_or(-1, |ptid| state.thread(ptid).map_or(ptid, |(_, p)| p.pid));
    let p = Process {
        pid,
        ppid,
        vpid: pid,
        comm: NA.into(),
        exe: NA.into(),
        uid: u32::MAX,
        gid: u32::MAX,
        loginuid: u32::MAX,
        // No session or process group either (libsinsp's -1: no proc.sname).
        sid: -1,
        vpgid: -1,
        ..Process::default()
    };
    state.insert_process(p, &[(tid, tid)]);
}

/// A capture's `container` events (written at its start, or when a container appeared)
/// are the only container metadata a replay has: the state takes them as if the runtime
/// had answered, so `container.name` and `container.image*` are the capture's.
fn container_event(ev: &peregrine_scap::ScapEvent<'_>, state: &mut State) {
    if ev.name() != "container" {
        return;
    }
    let text = |name: &str| {
        ev.param(name)
            .map(|b| String::from_utf8_lossy(b.strip_suffix(&[0]).unwrap_or(b)).into_owned())
    };
    if let Some(json) = text("json") {
        if let Some((id, info)) = ContainerInfo::from_capture_json(&json) {
            state.set_container_info(&id, info);
        }
    } else if let Some(id) = text("id").filter(|id| !id.is_empty()) {
        let info = ContainerInfo {
            name: text("name").unwrap_or_default(),
            image: text("image").unwrap_or_default(),
            ..ContainerInfo::default()
        };
        state.set_container_info(&id, info);
    }
}

/// Replays an open capture through `pipe`, seeding its state first.
pub fn replay_reader<R: Read>(
    reader: Reader<R>,
    name: &str,
    pipe: &mut Pipeline,
    sink: &mut dyn AlertSink,
) -> Result<ReplayStats, ReplayError> {
    replay_reader_with(reader, name, pipe, sink, &mut |_| true)
}

/// [`replay_reader`] with `before(ts)` called for every event of the capture (converted or
/// not, as Falco's loop sees every event it reads) before the pipeline sees it; `false` ends
/// the replay there. Falco's per-event checks (event drops) hang on this.
pub fn replay_reader_with<R: Read>(
    mut reader: Reader<R>,
    name: &str,
    pipe: &mut Pipeline,
    sink: &mut dyn AlertSink,
    before: &mut dyn FnMut(u64) -> bool,
) -> Result<ReplayStats, ReplayError> {
    seed_state(reader.metadata(), pipe.state_mut());
    let seeded_threads = reader.metadata().threads.len();
    let mut conv = Converter::new();
    let mut stopped = false;
    loop {
        let ev = match reader.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(e) => {
                return Err(ReplayError::Read {
                    path: name.to_string(),
                    offset: e.offset,
                    message: e.to_string(),
                })
            }
        };
        if !before(ev.ts) {
            stopped = true;
            break;
        }
        container_event(&ev, pipe.state_mut());
        let state = pipe.state();
        let rec = conv.convert(&ev, |tid| state.thread(tid as i64).map(|(_, p)| p.pid));
        let Some(rec) = rec else { continue };
        match Event::decode(rec, 0) {
            Ok(e) => {
                adopt_unknown_thread(&e, pipe.state_mut());
                pipe.process(&e, sink)
            }
            Err(_) => pipe.stats.decode_errors += 1,
        }
    }
    Ok(ReplayStats {
        convert: conv.stats(),
        seeded_threads,
        stopped,
    })
}

/// Replays the capture file at `path` through a new pipeline over `engine`; returns the
/// pipeline (its stats and state) and what the replay did.
pub fn replay_file(
    engine: Arc<Engine>,
    path: &Path,
    sink: &mut dyn AlertSink,
) -> Result<(Pipeline, ReplayStats), ReplayError> {
    replay_file_with(engine, path, sink, &mut |_| true)
}

/// [`replay_file`] with a per-event hook (see [`replay_reader_with`]).
pub fn replay_file_with(
    engine: Arc<Engine>,
    path: &Path,
    sink: &mut dyn AlertSink,
    before: &mut dyn FnMut(u64) -> bool,
) -> Result<(Pipeline, ReplayStats), ReplayError> {
    replay_file_through(
        Pipeline::new(engine, replay_state_config()),
        path,
        sink,
        before,
    )
}

/// [`replay_file_with`] through a pipeline the caller made (one with an
/// [`crate::EventExtension`], say); it should have the replay's state configuration
/// ([`replay_pipeline`]).
pub fn replay_file_through(
    mut pipe: Pipeline,
    path: &Path,
    sink: &mut dyn AlertSink,
    before: &mut dyn FnMut(u64) -> bool,
) -> Result<(Pipeline, ReplayStats), ReplayError> {
    let name = path.display().to_string();
    let reader = Reader::open(path).map_err(|source| ReplayError::Open {
        path: name.clone(),
        source,
    })?;
    let stats = replay_reader_with(reader, &name, &mut pipe, sink, before)?;
    Ok((pipe, stats))
}

/// A pipeline over `engine` with the state configuration replay uses.
pub fn replay_pipeline(engine: Arc<Engine>) -> Pipeline {
    Pipeline::new(engine, replay_state_config())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Capture flag values (Falco's) go back to kernel values that decode to the same Falco
    /// value, for every conversion the record schema uses.
    #[test]
    fn flag_inversions_round_trip() {
        let check = |conv: Conv, kernel: &[u64]| {
            for &k in kernel {
                let falco = conv.apply(k);
                assert_eq!(conv.apply(to_kernel(conv, falco)), falco, "{conv:?} {k:#x}");
            }
        };
        check(
            Conv::OpenFlags,
            &[
                0,
                1,
                2,
                0o100 | 1,
                0o2000000 | 0o1000 | 2,
                0o200000,
                0o20200000 | 2,
            ],
        );
        check(
            Conv::CloneFlags,
            &[
                0,
                0x11,
                0x400 | 0x200 | 0x8000_0000,
                0x0001_0000 | 0x100 | 0x800,
            ],
        );
        check(Conv::Cloexec, &[0, 0o2000000, 0o2000000 | 0o4000]);
        check(
            Conv::PtraceRequest,
            &(0..40).chain(0x4200..0x4210).collect::<Vec<_>>(),
        );
        check(Conv::MountFlags, &[0, 1, 0x20]);
        use peregrine_event::flags;
        check(
            Conv::Bits(flags::PROT_BITS),
            &[0, 3, 5, 0x0100_0007, 0x0200_0001],
        );
        check(
            Conv::Bits(flags::MMAP_BITS),
            &[0x22, 0x01 | 0x10 | 0x4000, 0x0100 | 0x2000 | 0x8000],
        );
        check(Conv::Bits(flags::FCHOWNAT_BITS), &[0, 0x100, 0x1100]);
        check(Conv::Bits(flags::INOTIFY_INIT1_BITS), &[0o4000, 0o2004000]);
        check(
            Conv::Values(flags::SEMCTL_VALUES),
            &[0, 1, 2, 12, 16, 19, 99],
        );
    }

    #[test]
    fn integer_widths_and_bad_lengths() {
        let mut out = Vec::new();
        assert!(encode(ParamType::Fd, &(-1i32).to_le_bytes(), &mut out));
        assert_eq!(out, (-1i32).to_le_bytes());
        out.clear();
        assert!(!encode(ParamType::Uint, &[1, 2, 3], &mut out));
        assert!(!encode(ParamType::Dyn, &[0; 8], &mut out));
        assert!(out.is_empty());
    }

    use peregrine_event::builder::RecordBuilder;
    use peregrine_scap::OwnedEvent;

    fn ev(ts: u64, code: u16, params: Vec<Vec<u8>>) -> OwnedEvent {
        OwnedEvent {
            ts,
            tid: 77,
            cpu: 1,
            ppm_type: code,
            flags: 0,
            params,
        }
    }

    fn s(text: &str) -> Vec<u8> {
        let mut v = text.as_bytes().to_vec();
        v.push(0);
        v
    }

    /// Converts every event of a capture written from `events`; returns the records.
    fn convert_all(events: &[OwnedEvent]) -> Vec<Vec<u8>> {
        let bytes = peregrine_scap::writer::write_capture(&Metadata::default(), events)
            .expect("capture written");
        let mut rd = Reader::new(&bytes[..]).expect("capture reads");
        let mut conv = Converter::new();
        let mut out = Vec::new();
        while let Ok(Some(e)) = rd.next_event() {
            if let Some(r) = conv.convert(&e, |_| Some(70)) {
                out.push(r.to_vec());
            }
        }
        out
    }

    /// The hook sees every capture event's time, converted or not, before the pipeline, and
    /// can end the replay.
    #[test]
    fn replay_hook_sees_every_event_and_can_stop() {
        // An old-style open enter (merged, never processed alone), its exit, then two more.
        let events = [
            ev(
                10,
                102,
                vec![
                    (-100i64).to_le_bytes().to_vec(),
                    s("/a"),
                    1u32.to_le_bytes().to_vec(),
                    0u32.to_le_bytes().to_vec(),
                ],
            ),
            ev(20, 103, vec![5i64.to_le_bytes().to_vec()]),
            ev(30, 103, vec![6i64.to_le_bytes().to_vec()]),
            ev(40, 103, vec![7i64.to_le_bytes().to_vec()]),
        ];
        let bytes = peregrine_scap::writer::write_capture(&Metadata::default(), &events)
            .expect("capture written");
        let (rules, _) = peregrine_rules::Loader::new().finish();
        let engine = Arc::new(crate::Engine::new(rules, crate::Settings::default()));
        for (stop_at, seen_want, processed, stopped) in [
            (None, vec![10, 20, 30, 40], 3, false),
            (Some(30), vec![10, 20, 30], 1, true),
        ] {
            let mut pipe = Pipeline::new(engine.clone(), replay_state_config());
            let mut seen = Vec::new();
            let mut sink = crate::CountingSink::default();
            let rd = Reader::new(&bytes[..]).expect("capture reads");
            let stats = replay_reader_with(rd, "t", &mut pipe, &mut sink, &mut |ts| {
                seen.push(ts);
                Some(ts) != stop_at
            })
            .expect("replay");
            assert_eq!(seen, seen_want);
            assert_eq!(pipe.stats().events, processed);
            assert_eq!(stats.stopped, stopped);
        }
    }

    /// The converter agrees with the record builder, parameter by parameter: a current
    /// `openat` exit, and an old exit (fd only) completed from its enter event.
    #[test]
    fn converter_matches_builder() {
        // O_RDONLY|O_CLOEXEC in Falco's values: PPM_O_RDONLY (1) | PPM_O_CLOEXEC (1 << 12).
        let ppm_flags = (1u32 | 1 << 12).to_le_bytes().to_vec();
        let current = ev(
            1_000,
            307,
            vec![
                5i64.to_le_bytes().to_vec(),
                (-100i64).to_le_bytes().to_vec(),
                s("/etc/shadow"),
                ppm_flags.clone(),
                0u32.to_le_bytes().to_vec(),
                3u32.to_le_bytes().to_vec(),
                99u64.to_le_bytes().to_vec(),
            ],
        );
        let enter = ev(
            2_000,
            102,
            vec![
                (-100i64).to_le_bytes().to_vec(),
                s("/etc/shadow"),
                ppm_flags,
                0u32.to_le_bytes().to_vec(),
            ],
        );
        let old_exit = ev(2_001, 103, vec![5i64.to_le_bytes().to_vec()]);
        let records = convert_all(&[current, enter, old_exit]);
        assert_eq!(records.len(), 2);

        let expected = |ts: u64, dev: u64, ino: u64| {
            RecordBuilder::syscall("openat")
                .and_then(|b| b.ts(ts).thread(77, 70).cpu(1).arg("fd", 5i64))
                .and_then(|b| b.arg("dirfd", -100i64))
                .and_then(|b| b.arg("name", "/etc/shadow"))
                .and_then(|b| b.arg("flags", 0o2000000u64))
                .and_then(|b| b.arg("mode", 0u64))
                .and_then(|b| if dev > 0 { b.arg("dev", dev) } else { Ok(b) })
                .and_then(|b| if ino > 0 { b.arg("ino", ino) } else { Ok(b) })
                .expect("builder")
                .build()
        };
        for (rec, want) in records
            .iter()
            .zip([expected(1_000, 3, 99), expected(2_001, 0, 0)])
        {
            let got = Event::decode(rec, 0).expect("converted record decodes");
            let want = Event::decode(&want, 0).expect("built record decodes");
            assert_eq!(
                (got.ts, got.tid(), got.pid(), got.cpu()),
                (want.ts, want.tid(), want.pid(), want.cpu())
            );
            for p in want.schema.params {
                assert_eq!(got.param(p.name), want.param(p.name), "{}", p.name);
            }
        }
    }
}
