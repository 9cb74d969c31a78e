//! Live events into scap capture files: the inverse of [`crate::replay`].
//!
//! A capture written here must stand alone and read like one written by Falco: the machine,
//! user, process and fd lists first (taken from the state engine, i.e. its `/proc` seed and
//! everything learnt since), then every event in today's scap layout. Records use the kernel
//! layout of `peregrine-event` (kernel flag values, per-syscall numbers); [`ScapEncoder`] maps
//! each record to the current PPM event of the same `evt.type` *by parameter name*, converts
//! flag parameters to Falco's `PPM_*` values with the very conversions decoding applies, and
//! resizes integers to the PPM type's width. A syscall without a PPM event of its own becomes
//! Falco's generic `syscall` event (`ID` is its `ppm_sc_code`).
//!
//! [`Window`] is the rolling in-memory buffer of rule-triggered capture: the last seconds of
//! encoded events, bounded in bytes too, so a file written on an alert also holds what led
//! to it.

use std::collections::VecDeque;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use peregrine_event::le;
use peregrine_event::raw::{KIND_PROCEXIT, KIND_SYSCALL};
use peregrine_event::schema::{ParamType, Schema};
use peregrine_event::Event;
use peregrine_scap::table::{self, ef, EventInfo, Pt, PPM_MAX_EVENT_PARAMS};
use peregrine_scap::writer::WriteError;
use peregrine_scap::{
    fd_type, FdInfo, FdKind as ScapFd, Group, MachineInfo, Metadata, NulList, OwnedEvent,
    ThreadInfo, User, Writer,
};
use peregrine_state::fd::{Fd, FdKind, L4};
use peregrine_state::thread::{self, Process};
use peregrine_state::users::UserDb;
use peregrine_state::State;
use rustc_hash::FxHashMap;

/// `PPME_GENERIC_X`.
const GENERIC_X: u16 = 1;

/// How the parameters of one record schema become those of one PPM event.
struct OutMap {
    info: &'static EventInfo,
    /// Per PPM parameter: the record parameter of the same name.
    slots: Vec<Option<usize>>,
    /// For the generic event: the `ppm_sc_code` written as `ID`.
    generic_id: Option<u16>,
}

/// Syscalls whose PPM event has another name than the syscall (our `evt.type`).
const PPM_EVENT_NAMES: &[(&str, &str)] = &[
    ("pread64", "pread"),
    ("pwrite64", "pwrite"),
    ("prlimit64", "prlimit"),
];

/// The PPM event name of a record's event type.
fn ppm_event_name(name: &str) -> &str {
    PPM_EVENT_NAMES
        .iter()
        .find(|(ours, _)| *ours == name)
        .map_or(name, |(_, ppm)| ppm)
}

/// The event type name of a PPM event (the inverse of [`ppm_event_name`]).
pub(crate) fn event_type_name(ppm: &str) -> &str {
    PPM_EVENT_NAMES
        .iter()
        .find(|(_, p)| *p == ppm)
        .map_or(ppm, |(ours, _)| ours)
}

/// The current (not old, not unused) PPM code of an event name: the exit event when there is
/// one, else the event itself (`procexit` is an enter-coded event).
fn current_code(name: &str) -> Option<&'static EventInfo> {
    let name = ppm_event_name(name);
    let current = |e: &&EventInfo| e.name == name && e.flags & (ef::OLD_VERSION | ef::UNUSED) == 0;
    let all = table::all();
    all.iter()
        .filter(current)
        .filter(|e| !e.is_enter())
        .max_by_key(|e| e.code)
        .or_else(|| all.iter().filter(current).max_by_key(|e| e.code))
}

fn out_map(schema: &'static Schema) -> Option<OutMap> {
    if let Some(info) = current_code(schema.name) {
        let slots = info
            .params
            .iter()
            .map(|d| schema.index_of(d.name))
            .collect();
        return Some(OutMap {
            info,
            slots,
            generic_id: None,
        });
    }
    let info = table::lookup(GENERIC_X)?;
    Some(OutMap {
        info,
        slots: vec![None; info.params.len()],
        generic_id: Some(table::ppm_sc_code(schema.name)?),
    })
}

/// What the encoder did, for the end-of-capture summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeStats {
    pub events: u64,
    /// Records with no PPM event to write them as (no table entry, no `ppm_sc_code`).
    pub unsupported: u64,
    /// Parameters written empty because their bytes did not fit the PPM type.
    pub bad_params: u64,
}

/// Encodes kernel records as scap events; see the module documentation.
#[derive(Default)]
pub struct ScapEncoder {
    maps: FxHashMap<(u16, u16), Option<OutMap>>,
    buf: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    stats: EncodeStats,
}

/// Appends record bytes `b` (of record type `ty`) as PPM type `pt`; false if they do not fit.
fn encode_param(ty: ParamType, pt: Pt, b: &[u8], out: &mut Vec<u8>) -> bool {
    if let Some(n) = pt.fixed_size() {
        let Some(mut v) = le::widen(b, ty.is_signed_int()) else {
            return false;
        };
        if let ParamType::Flags(_, conv) | ParamType::Enum(_, conv) = ty {
            v = conv.apply(v);
        }
        out.extend_from_slice(&v.to_le_bytes()[..n]);
        return true;
    }
    out.extend_from_slice(b);
    if pt.is_string() && b.last() != Some(&0) {
        out.push(0);
    }
    true
}

impl ScapEncoder {
    pub fn new() -> ScapEncoder {
        ScapEncoder::default()
    }

    pub fn stats(&self) -> EncodeStats {
        self.stats
    }

    /// Whether `ev` has a PPM event to be written as (checked before opening a file for it).
    pub fn supports(&mut self, ev: &Event<'_>) -> bool {
        let kind = ev.raw.kind;
        (kind == KIND_SYSCALL || kind == KIND_PROCEXIT)
            && self
                .maps
                .entry((kind, ev.raw.nr))
                .or_insert_with(|| out_map(ev.schema))
                .is_some()
    }

    /// Encodes `ev` into the internal buffer; returns its PPM code, or `None` (counted) for a
    /// record that has no PPM event.
    fn fill(&mut self, ev: &Event<'_>) -> Option<u16> {
        let kind = ev.raw.kind;
        if kind != KIND_SYSCALL && kind != KIND_PROCEXIT {
            self.stats.unsupported += 1;
            return None;
        }
        let schema = ev.schema;
        let map = self
            .maps
            .entry((kind, ev.raw.nr))
            .or_insert_with(|| out_map(schema));
        let Some(map) = map.as_ref() else {
            self.stats.unsupported += 1;
            return None;
        };
        self.buf.clear();
        self.ranges.clear();
        for (k, d) in map.info.params.iter().enumerate() {
            let start = self.buf.len();
            match (map.generic_id, d.name) {
                (Some(id), "ID") => self.buf.extend_from_slice(&id.to_le_bytes()),
                (Some(_), "nativeID") => self.buf.extend_from_slice(&ev.raw.nr.to_le_bytes()),
                _ => {
                    let j = map.slots.get(k).copied().flatten();
                    let bytes = j.and_then(|j| Some((schema.params.get(j)?.ty, ev.raw.param(j)?)));
                    if let Some((ty, b)) = bytes.filter(|(_, b)| !b.is_empty()) {
                        if !encode_param(ty, d.ty, b, &mut self.buf) {
                            self.buf.truncate(start);
                            self.stats.bad_params += 1;
                        }
                    }
                }
            }
            self.ranges.push((start, self.buf.len()));
        }
        self.stats.events += 1;
        Some(map.info.code)
    }

    /// Writes `ev` as one event block; `Ok(false)` if it has no PPM event (nothing written).
    pub fn write<W: Write>(
        &mut self,
        ev: &Event<'_>,
        w: &mut Writer<W>,
    ) -> Result<bool, WriteError> {
        let Some(code) = self.fill(ev) else {
            return Ok(false);
        };
        let mut ps: [&[u8]; PPM_MAX_EVENT_PARAMS] = [&[]; PPM_MAX_EVENT_PARAMS];
        let n = self.ranges.len().min(PPM_MAX_EVENT_PARAMS);
        for (slot, &(a, b)) in ps.iter_mut().zip(&self.ranges) {
            *slot = &self.buf[a..b];
        }
        w.write_parts(ev.ts, u64::from(ev.tid()), ev.cpu(), code, 0, &ps[..n])?;
        Ok(true)
    }

    /// `ev` as an owned scap event (for buffering), or `None` if it has no PPM event.
    pub fn to_owned(&mut self, ev: &Event<'_>) -> Option<OwnedEvent> {
        let code = self.fill(ev)?;
        Some(OwnedEvent {
            ts: ev.ts,
            tid: u64::from(ev.tid()),
            cpu: ev.cpu(),
            ppm_type: code,
            flags: 0,
            params: self
                .ranges
                .iter()
                .map(|&(a, b)| self.buf[a..b].to_vec())
                .collect(),
        })
    }
}

/// libscap's `scap_l4_proto` (0 unknown, 1 not available, 2 TCP, 3 UDP, 4 ICMP, 5 raw).
fn l4_code(l4: L4) -> u8 {
    match l4 {
        L4::Tcp => 2,
        L4::Udp => 3,
        L4::Icmp => 4,
        L4::Raw => 5,
        _ => 0,
    }
}

/// A state fd as a capture's fd-table entry (`None` for kinds the table cannot express).
fn fd_info(fd: i64, f: &Fd) -> Option<FdInfo> {
    let name = bounded(&f.name, MAX_PATH);
    let named = |t: u8| ScapFd::Named {
        fd_type: t,
        name: name.clone(),
    };
    let kind = match f.kind {
        FdKind::File => ScapFd::File {
            open_flags: f.flags,
            name: name.clone(),
            dev: Some(f.dev),
        },
        FdKind::Ipv4 | FdKind::Ipv6 => {
            let s = f.sock.as_ref()?;
            let l4proto = l4_code(s.l4);
            match (s.client.filter(|_| s.connected), s.server) {
                (Some((IpAddr::V4(sip), sport)), Some((IpAddr::V4(dip), dport))) => {
                    ScapFd::Ipv4Socket {
                        sip,
                        dip,
                        sport,
                        dport,
                        l4proto,
                    }
                }
                (Some((IpAddr::V6(sip), sport)), Some((IpAddr::V6(dip), dport))) => {
                    ScapFd::Ipv6Socket {
                        sip,
                        dip,
                        sport,
                        dport,
                        l4proto,
                    }
                }
                (None, Some((IpAddr::V4(ip), port))) => ScapFd::Ipv4Server { ip, port, l4proto },
                (None, Some((IpAddr::V6(ip), port))) => ScapFd::Ipv6Server { ip, port, l4proto },
                _ => return None,
            }
        }
        FdKind::Unix => ScapFd::Unix {
            source: 0,
            destination: 0,
            path: name.clone(),
        },
        FdKind::Directory => named(fd_type::DIRECTORY),
        FdKind::Pipe => named(fd_type::FIFO),
        FdKind::Event => named(fd_type::EVENT),
        FdKind::Signalfd => named(fd_type::SIGNALFD),
        FdKind::Eventpoll => named(fd_type::EVENTPOLL),
        FdKind::Inotify => named(fd_type::INOTIFY),
        FdKind::Timerfd => named(fd_type::TIMERFD),
        FdKind::Netlink => named(fd_type::NETLINK),
        FdKind::Bpf => named(fd_type::BPF),
        FdKind::Userfaultfd => named(fd_type::USERFAULTFD),
        FdKind::IoUring => named(fd_type::IOURING),
        FdKind::Memfd => named(fd_type::MEMFD),
        FdKind::Pidfd => named(fd_type::PIDFD),
        FdKind::Unknown => return None,
    };
    Some(FdInfo {
        fd,
        ino: f.ino,
        kind,
    })
}

/// Longest path-like string and NUL-separated list a process-list entry holds (libscap's
/// `SCAP_MAX_PATH_SIZE`, `SCAP_MAX_ARGS_SIZE`/`SCAP_MAX_ENV_SIZE`), and longest user-list
/// string; longer values are truncated, as libscap does when it reads /proc.
const MAX_PATH: usize = 1024;
const MAX_LIST: usize = 4096;
const MAX_CRED: usize = 255;

/// `s` cut to at most `max` bytes, on a character boundary.
fn bounded(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The items as a NUL-separated list of at most `max` bytes: whole items only.
fn bounded_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>, max: usize) -> NulList {
    let mut out = Vec::new();
    for i in items {
        let i = i.as_ref().as_bytes();
        if out.len() + i.len() + 1 > max {
            break;
        }
        out.extend_from_slice(i);
        out.push(0);
    }
    NulList(out)
}

fn thread_info(tid: i64, vtid: i64, p: &Process, with_fds: bool) -> ThreadInfo {
    let mut t = ThreadInfo::new(tid as u64, p.pid as u64, p.ppid as u64);
    t.sid = p.sid as u64;
    t.vpgid = p.vpgid as u64;
    t.comm = bounded(&p.comm, MAX_PATH);
    t.exe = bounded(&p.exe, MAX_PATH);
    t.exepath = bounded(&p.exepath, MAX_PATH);
    t.args = bounded_list(&*p.args, MAX_LIST);
    t.cwd = bounded(&p.cwd, MAX_PATH);
    t.fdlimit = p.fdlimit;
    t.uid = p.uid;
    t.gid = p.gid;
    t.vmsize_kb = u32::try_from(p.vm_size).unwrap_or(u32::MAX);
    t.vmrss_kb = u32::try_from(p.vm_rss).unwrap_or(u32::MAX);
    t.vmswap_kb = u32::try_from(p.vm_swap).unwrap_or(u32::MAX);
    t.pfmajor = p.pf_major;
    t.pfminor = p.pf_minor;
    t.env = bounded_list(&*p.env, MAX_LIST);
    t.vtid = vtid;
    t.vpid = p.vpid;
    t.cgroups = bounded_list(p.cgroups.iter().map(|(s, c)| format!("{s}={c}")), MAX_LIST);
    t.root = "/".to_string();
    t.pidns_init_start_ts = p.pidns_init_start_ts;
    t.tty = p.tty;
    t.loginuid = p.loginuid;
    t.cap_inheritable = p.cap_inheritable;
    t.cap_permitted = p.cap_permitted;
    t.cap_effective = p.cap_effective;
    t.exe_ino = p.exe_ino;
    t.exe_ino_ctime = p.exe_ino_ctime;
    t.exe_ino_mtime = p.exe_ino_mtime;
    t.exe_writable = p.exe_flags & thread::EXE_WRITABLE != 0;
    t.exe_upper_layer = p.exe_flags & thread::EXE_UPPER_LAYER != 0;
    t.exe_from_memfd = p.exe_flags & thread::EXE_FROM_MEMFD != 0;
    t.exe_lower_layer = p.exe_flags & thread::EXE_LOWER_LAYER != 0;
    if with_fds {
        let mut fds: Vec<FdInfo> = p.fds.iter().filter_map(|(fd, f)| fd_info(*fd, f)).collect();
        fds.sort_by_key(|f| f.fd);
        t.fds = fds;
    }
    t
}

/// The capture's metadata from the state engine: every known thread (fds listed under each
/// process's main thread, or its first listed thread when the main one is gone), the users
/// and groups of `users`, and `machine`.
pub fn metadata_from_state(
    state: &State,
    users: Option<&UserDb>,
    machine: Option<MachineInfo>,
) -> Metadata {
    let table = state.table();
    let mut tids: Vec<(i64, i64, i64)> = table
        .threads
        .iter()
        .map(|(tid, t)| (t.pid, *tid, t.vtid))
        .collect();
    // Main thread first within each process, processes in pid order.
    tids.sort_by_key(|&(pid, tid, _)| (pid, tid != pid, tid));
    let mut threads = Vec::with_capacity(tids.len());
    let mut last_pid = None;
    for (pid, tid, vtid) in tids {
        let Some(p) = table.procs.get(&pid) else {
            continue;
        };
        let first = last_pid != Some(pid);
        last_pid = Some(pid);
        threads.push(thread_info(tid, vtid, p, first));
    }
    let (users, groups) = match users {
        Some(db) => (
            db.users()
                .into_iter()
                .map(|(uid, u)| User {
                    uid,
                    gid: u.gid,
                    name: bounded(&u.name, MAX_CRED),
                    homedir: bounded(&u.home, MAX_CRED),
                    shell: bounded(&u.shell, MAX_CRED),
                })
                .collect(),
            db.groups()
                .into_iter()
                .map(|(gid, name)| Group {
                    gid,
                    name: bounded(name, MAX_CRED),
                })
                .collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    Metadata {
        machine,
        users,
        groups,
        threads,
        ..Metadata::default()
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// This machine's `MI` block, from `/proc` (fields that cannot be read stay zero).
pub fn machine_info(proc_root: &Path) -> MachineInfo {
    let mem_kb = read_trimmed(&proc_root.join("meminfo"))
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let uptime_ns = read_trimmed(&proc_root.join("uptime"))
        .and_then(|u| u.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0, |s| (s * 1e9) as u64);
    MachineInfo {
        num_cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        memory_size_bytes: mem_kb * 1024,
        max_pid: read_trimmed(&proc_root.join("sys/kernel/pid_max"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        hostname: read_trimmed(&proc_root.join("sys/kernel/hostname")).unwrap_or_default(),
        boot_ts_epoch: now.saturating_sub(uptime_ns),
        ..MachineInfo::default()
    }
}

/// A rolling window of recent events, bounded by age and by bytes (oldest dropped first).
pub struct Window {
    events: VecDeque<OwnedEvent>,
    bytes: usize,
    max_bytes: usize,
    max_age_ns: u64,
}

fn event_bytes(e: &OwnedEvent) -> usize {
    32 + e.params.iter().map(|p| p.len() + 2).sum::<usize>()
}

impl Window {
    pub fn new(max_age_ns: u64, max_bytes: usize) -> Window {
        Window {
            events: VecDeque::new(),
            bytes: 0,
            max_bytes,
            max_age_ns,
        }
    }

    /// Appends an event and drops what fell out of the window.
    pub fn push(&mut self, e: OwnedEvent) {
        let newest = e.ts;
        self.bytes += event_bytes(&e);
        self.events.push_back(e);
        while let Some(old) = self.events.front() {
            let too_old = newest.saturating_sub(old.ts) > self.max_age_ns;
            if !(too_old || self.bytes > self.max_bytes) || self.events.len() == 1 {
                break;
            }
            self.bytes -= self.events.front().map_or(0, event_bytes);
            self.events.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &OwnedEvent> {
        self.events.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Converter;
    use peregrine_event::builder::{Arg, RecordBuilder};
    use peregrine_scap::Reader;

    fn record(
        build: impl FnOnce() -> Result<RecordBuilder, peregrine_event::builder::BuildError>,
    ) -> Vec<u8> {
        build().expect("record builds").build()
    }

    /// Records written as scap and converted back by replay's converter give the same
    /// parameters: flags go to PPM values and back, integer widths are restored.
    #[test]
    fn records_round_trip_through_scap() {
        let records = vec![
            record(|| {
                RecordBuilder::syscall("openat")?
                    .ts(1_000)
                    .thread(77, 70)
                    .cpu(1)
                    .arg("fd", 5i64)?
                    .arg("dirfd", -100i64)?
                    .arg("name", "/etc/shadow")?
                    .arg("flags", 0o2000000u64 | 0o100 | 2)?
                    .arg("mode", 0o644u64)
            }),
            record(|| {
                RecordBuilder::syscall("madvise")?
                    .ts(2_000)
                    .thread(77, 70)
                    .arg("res", 0i64)
            }),
            record(|| {
                let fds: &[(i64, u16)] = &[(4, 0x1), (-1, 0x40)];
                RecordBuilder::syscall("poll")?
                    .ts(3_000)
                    .thread(77, 70)
                    .arg("res", 1i64)?
                    .arg("fds", fds)?
                    .arg("timeout", 100i64)
            }),
            record(|| {
                RecordBuilder::syscall("readv")?
                    .ts(4_000)
                    .thread(77, 70)
                    .arg("res", 3i64)?
                    .arg("size", 64u64)?
                    .arg("data", Arg::Bytes(b"abc".to_vec()))?
                    .arg("fd", 5i64)
            }),
        ];
        let mut enc = ScapEncoder::new();
        let mut w = Writer::new(Vec::new(), &Metadata::default()).expect("writer");
        for r in &records {
            let ev = Event::decode(r, 0).expect("decodes");
            assert!(enc.write(&ev, &mut w).expect("written"), "{}", ev.name());
        }
        let bytes = w.finish().expect("finished");
        peregrine_scap::check(&bytes).expect("strict check passes");
        let mut rd = Reader::new(&bytes[..]).expect("reads");
        let mut conv = Converter::new();
        let mut back = Vec::new();
        while let Ok(Some(e)) = rd.next_event() {
            if let Some(r) = conv.convert(&e, |_| Some(70)) {
                back.push(r.to_vec());
            }
        }
        assert_eq!(back.len(), 4);
        // poll and readv come back parameter for parameter (the fd list as it was).
        for i in [2, 3] {
            let (ev, orig) = (
                Event::decode(&back[i], 0).expect("decodes"),
                Event::decode(&records[i], 0).expect("decodes"),
            );
            assert_eq!(ev.name(), orig.name());
            let got: Vec<_> = ev.params().map(|(p, v)| (p.name, v)).collect();
            let want: Vec<_> = orig.params().map(|(p, v)| (p.name, v)).collect();
            assert_eq!(got, want, "{}", ev.name());
        }
        let open = Event::decode(&back[0], 0).expect("decodes");
        let orig = Event::decode(&records[0], 0).expect("decodes");
        for name in ["fd", "dirfd", "name", "flags", "mode"] {
            assert_eq!(open.param(name), orig.param(name), "{name}");
        }
        let generic = Event::decode(&back[1], 0).expect("decodes");
        assert_eq!((generic.name(), generic.ts), ("madvise", 2_000));
    }

    /// A process whose environment exceeds what a process-list entry holds is written
    /// truncated (whole variables), never refused.
    #[test]
    fn oversized_process_data_is_truncated_not_refused() {
        let mut state = State::new(crate::replay::replay_state_config());
        let p = Process {
            pid: 42,
            comm: "é".repeat(600).into(),
            env: (0..500).map(|i| format!("VAR{i}=value")).collect(),
            ..Process::default()
        };
        state.insert_process(p, &[(42, 42)]);
        let meta = metadata_from_state(&state, None, None);
        let t = &meta.threads[0];
        assert!(t.env.0.len() <= MAX_LIST && t.env.0.ends_with(b"\0"));
        assert!(t
            .env
            .strings()
            .iter()
            .all(|v| v.starts_with("VAR") && v.ends_with("=value")));
        assert!(t.comm.len() <= MAX_PATH && t.comm.chars().all(|c| c == 'é'));
        let close = OwnedEvent {
            ts: 1,
            tid: 42,
            cpu: 0,
            ppm_type: 5, // close exit: res, fd
            flags: 0,
            params: vec![0i64.to_le_bytes().to_vec(), 3i64.to_le_bytes().to_vec()],
        };
        let bytes = peregrine_scap::writer::write_capture(&meta, &[close]).expect("written");
        peregrine_scap::check(&bytes).expect("strict check passes");
    }

    #[test]
    fn window_keeps_recent_events_within_bytes() {
        let ev = |ts: u64, size: usize| OwnedEvent {
            ts,
            tid: 1,
            cpu: 0,
            ppm_type: 3,
            flags: 0,
            params: vec![vec![0; size]],
        };
        let mut w = Window::new(10, 1_000);
        for ts in 0..30 {
            w.push(ev(ts, 1));
        }
        let kept: Vec<u64> = w.iter().map(|e| e.ts).collect();
        assert_eq!(kept, (19..30).collect::<Vec<_>>());
        w.push(ev(30, 2_000));
        assert_eq!(w.len(), 1, "an event larger than the window stays alone");
    }
}

/// The kernel-record schemas (`peregrine-event`) and the PPM event table (`peregrine-scap`)
/// are two tables of the same events: one says what our records carry, the other what Falco's
/// files hold. They are kept apart on purpose (the PPM table has every historical version of
/// every event), so this test keeps them from drifting: a record parameter the file format
/// has no slot for is lost when writing a capture, and a PPM parameter our records lack is
/// written empty.
#[cfg(test)]
mod schema_sync {
    use super::*;
    use peregrine_event::raw::{KIND_SYSCALL, MAX_SYSCALLS};
    use peregrine_event::schema::schema_for;

    /// Known, deliberate differences: (event, record parameters without a PPM slot, PPM
    /// parameters the record lacks).
    const KNOWN: &[(&str, &[&str], &[&str])] = &[
        // Falco's current exit events of these two keep only `res` and `flags`; our records
        // also carry the enter arguments.
        ("eventfd2", &["initval"], &[]),
        ("signalfd4", &["fd", "mask"], &[]),
    ];

    /// Syscalls our kernel side sends as Falco's generic event (`res`, `ID`, `nativeID`)
    /// although Falco's table has a dedicated event for them: rules can select them, but
    /// their `evt.arg.*` are not captured yet. Kept exact so that the list shrinks as
    /// writers are added.
    // One name per line (not packed by rustfmt) so that removals from parallel branches merge.
    #[rustfmt::skip]
    const GENERIC_IN_KERNEL: &[&str] = &[
        "quotactl",
    ];

    #[test]
    fn syscalls_named_otherwise_by_falco_use_its_event() {
        for (ours, ppm, code) in [("pread64", "pread", 113), ("prlimit64", "prlimit", 145)] {
            let info = current_code(ours).map(|i| (i.name, i.code));
            assert_eq!(info, Some((ppm, code)), "{ours}");
            assert_eq!(event_type_name(ppm), ours);
        }
        assert_eq!(event_type_name("openat"), "openat");
    }

    fn is_generic(s: &Schema) -> bool {
        s.params.len() == 3 && s.params[1].name == "ID"
    }

    #[test]
    fn generic_records_are_the_listed_ones() {
        let generic_with_ppm_event: Vec<&str> = (0..MAX_SYSCALLS as u16)
            .filter_map(|nr| schema_for(KIND_SYSCALL, nr))
            .filter(|s| is_generic(s) && s.name != "syscall" && current_code(s.name).is_some())
            .map(|s| s.name)
            .collect();
        assert_eq!(generic_with_ppm_event, GENERIC_IN_KERNEL);
    }

    #[test]
    fn record_schemas_match_the_ppm_table() {
        let mut problems = Vec::new();
        for nr in 0..MAX_SYSCALLS as u16 {
            let Some(s) = schema_for(KIND_SYSCALL, nr) else {
                continue;
            };
            if is_generic(s) {
                continue;
            }
            let Some(info) = current_code(s.name) else {
                // Written as Falco's generic event: only a known `ppm_sc` name is needed.
                if table::ppm_sc_code(s.name).is_none() {
                    problems.push(format!("{}: no PPM event and no ppm_sc code", s.name));
                }
                continue;
            };
            let has = |params: &[&str], name: &str| params.contains(&name);
            let ours: Vec<&str> = s.params.iter().map(|p| p.name).collect();
            let theirs: Vec<&str> = info.params.iter().map(|p| p.name).collect();
            let (extra_ok, missing_ok) = KNOWN
                .iter()
                .find(|k| k.0 == s.name)
                .map_or((&[][..], &[][..]), |k| (k.1, k.2));
            for name in ours
                .iter()
                .filter(|n| !has(&theirs, n) && !has(extra_ok, n))
            {
                problems.push(format!(
                    "{}: record parameter {name} has no PPM slot",
                    s.name
                ));
            }
            for name in theirs
                .iter()
                .filter(|n| !has(&ours, n) && !has(missing_ok, n))
            {
                problems.push(format!(
                    "{}: PPM parameter {name} missing from records",
                    s.name
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
