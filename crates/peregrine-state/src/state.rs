//! The state engine proper: applies each event to the process and fd tables.
//!
//! Ordering follows libsinsp: an event is applied *before* rules see it (an `openat` exit
//! already has its fd, an `execve` exit its new command line), except for removals — the fd
//! of a `close` and the thread of a `procexit` stay visible to that event's rules and are
//! removed when the next event arrives.

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use peregrine_event::flags::open_flags_to_ppm;
use peregrine_event::raw::{KIND_PROCEXIT, KIND_SYSCALL, MAX_PARAMS};
use peregrine_event::{nr, Event, SockAddr, SockTuple, Value, ValueError};
use rustc_hash::FxHashMap;

use crate::container;
use crate::fd::{resolve_path, Fd, FdKind, Sock, L4};
use crate::intern::Interner;
use crate::params::{self, K};
use crate::procfs;
use crate::thread::{Process, Table, Thread};
use crate::users::UserDb;

/// Limits and switches of the state engine.
#[derive(Clone, Debug)]
pub struct StateConfig {
    /// Most threads kept; new threads beyond it are not tracked (and counted).
    pub max_threads: usize,
    /// Most fds kept per process.
    pub max_fds_per_process: usize,
    /// Most bytes of arguments kept per process (Falco truncates at 4096 too).
    pub max_args_bytes: usize,
    /// Most bytes of environment kept per process.
    pub max_env_bytes: usize,
    /// Where `/proc` is; `None` disables on-demand lookups of unknown threads and user
    /// databases (tests, capture replay).
    pub proc_root: Option<PathBuf>,
    /// Container API sockets to ask for metadata.
    pub container_sockets: Vec<PathBuf>,
    /// OCI runtime state roots (runc's `state.json` per container) read for containers the
    /// API sockets do not know (containerd, CRI-O). Lookups are off when both lists are empty.
    pub runtime_state_roots: Vec<PathBuf>,
    /// containerd API sockets asked for the pod labels of containerd's Kubernetes containers
    /// (the pod sandbox's record in namespace `k8s.io`); empty: no pod labels for containerd.
    pub containerd_sockets: Vec<PathBuf>,
    /// The host's root directory: `/`, or Falco's `HOST_ROOT` when the agent runs in a
    /// container with the host mounted under it. Host processes' users and groups are read
    /// from its `etc/`.
    pub host_root: PathBuf,
    /// Container label values longer than this are left out, as the container plugin's
    /// `label_max_len` does (default 100).
    pub label_max_len: usize,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            max_threads: 131_072,
            max_fds_per_process: 65_536,
            max_args_bytes: 4096,
            max_env_bytes: 4096,
            proc_root: Some(PathBuf::from("/proc")),
            container_sockets: crate::runtime::default_sockets(),
            runtime_state_roots: crate::oci::default_state_roots(),
            containerd_sockets: vec![PathBuf::from("/run/containerd/containerd.sock")],
            host_root: PathBuf::from("/"),
            label_max_len: crate::runtime::DEFAULT_LABEL_MAX_LEN,
        }
    }
}

impl StateConfig {
    /// A live host's configuration: `/proc`, the runtime sockets and runc's state roots all
    /// under `host_root` (Falco's `HOST_ROOT`, `/` on the host itself), from the container
    /// engines the configuration enables.
    pub fn for_host(host_root: &Path, engines: &crate::runtime::Engines) -> StateConfig {
        let (sockets, state_roots, containerd) = engines.sources(host_root);
        StateConfig {
            proc_root: Some(host_path(host_root, "/proc")),
            container_sockets: sockets,
            runtime_state_roots: state_roots,
            containerd_sockets: containerd,
            host_root: host_root.to_path_buf(),
            label_max_len: engines.label_max_len,
            ..StateConfig::default()
        }
    }
}

/// `path` (absolute) as seen under `host_root`: `/host` + `/proc` → `/host/proc`.
pub fn host_path(host_root: &Path, path: &str) -> PathBuf {
    host_root.join(path.trim_start_matches('/'))
}

/// What the state engine has done, for metrics (all monotonic except the gauges).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub events: u64,
    /// Gauge: threads in the table.
    pub threads: u64,
    /// Gauge: fds in all tables.
    pub fds: u64,
    pub threads_added: u64,
    pub threads_removed: u64,
    /// Threads not tracked because the table was full.
    pub threads_dropped: u64,
    /// Fds not tracked because a process's table was full.
    pub fds_dropped: u64,
    /// Unknown threads looked up in /proc, and how many of those lookups failed.
    pub proc_lookups: u64,
    pub proc_lookups_failed: u64,
    /// User database cache hits and loads.
    pub user_cache_hits: u64,
    pub user_cache_misses: u64,
    /// Exited threads and stale entries removed by purges.
    pub purged: u64,
    /// Events whose parameters did not decode as their schema says.
    pub malformed: u64,
    /// Container metadata lookups answered, failed, and not queued (queue full). containerd
    /// pod sandbox lookups (one per pod) count as lookups too.
    pub container_lookups: u64,
    pub container_lookups_failed: u64,
    pub container_requests_dropped: u64,
}

/// What is known about a container's runtime metadata.
#[derive(Clone, Debug)]
pub(crate) enum Meta {
    /// Asked at event time `since`; the number of earlier failed attempts.
    Pending { attempts: u32, since: u64 },
    /// Known since event time `at`.
    Known {
        info: std::sync::Arc<crate::runtime::ContainerInfo>,
        at: u64,
    },
    /// The `attempts`-th lookup failed at event time `at`; asked again after [`retry_delay`].
    Failed {
        at: u64,
        attempts: u32,
        reason: Arc<str>,
    },
}

/// Where a container's metadata lookup stands (the console's debug view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataStatus {
    Pending,
    Known,
    /// With the reason (each source's answer); text from the runtime, not escaped.
    Failed(String),
}

/// One container's metadata lookup, see [`State::container_metadata`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerMetadata {
    pub id: String,
    pub status: MetadataStatus,
    /// Event time (ns since the epoch) of the last change: asked, answered or failed. For a
    /// known container, its metadata's age is measured from here.
    pub since_ns: u64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The container's name and image, when known.
    pub name: String,
    pub image: String,
}

/// How long after its `attempts`-th failure a container lookup is asked for again: 1 s, doubling
/// up to 60 s. The resolver already retries a new container quickly on its own (see
/// `runtime::RETRY_DELAYS_MS`), so this only paces ids that no source knows (e.g. the
/// `/process_api/<id>` cgroups of these hosts): one round of lookups per minute at most.
fn retry_delay(attempts: u32) -> u64 {
    (1_000_000_000u64 << attempts.min(6)).min(60_000_000_000)
}

/// The fd an event acts on, for `fd.*` fields.
#[derive(Clone, Debug, Default)]
pub(crate) struct Current {
    pub fd: Option<i64>,
    /// The descriptor of a failed open: never in the table, still described by `fd.*`.
    pub tmp_fd: Option<Fd>,
    pub name_changed: bool,
}

/// Threads, processes, fds and users; see the crate documentation.
#[derive(Debug)]
pub struct State {
    pub(crate) table: Table,
    pub(crate) cfg: StateConfig,
    pub(crate) counters: Counters,
    pending_close: Option<(i64, i64)>,
    /// Thread that exited, and the reaper its orphans move to.
    pending_exit: Option<(i64, i64)>,
    pub(crate) cur: Current,
    pub(crate) evt_num: u64,
    pub(crate) first_ts: u64,
    pub(crate) prev_ts: u64,
    pub(crate) cur_ts: u64,
    /// The current event's thread and its pid, so handlers skip the tid → pid probe.
    cur_thread: Option<(i64, i64)>,
    /// Loaded on a field's first ask, from the field source's shared borrow of the state.
    pub(crate) users: std::cell::RefCell<FxHashMap<Arc<str>, UserDb>>,
    /// `Counters::user_cache_*`, counted under a shared borrow (see `users`).
    pub(crate) user_cache: std::cell::Cell<(u64, u64)>,
    pub(crate) hostname: String,
    pub(crate) containers: FxHashMap<Arc<str>, Meta>,
    /// The machine's addresses, when known (see [`State::set_local_addrs`]).
    local_addrs: Option<crate::fd::LocalAddrs>,
    resolver: Option<crate::runtime::Resolver>,
    /// Shared copies of recently exec'd names and paths.
    strings: Interner,
    /// The cgroups list last read from a record and the container it names, shared by the
    /// next process that has the same (most new processes are in the cgroups of the one
    /// before or of their parent).
    last_cgroups: LastCgroups,
    /// The field source's text buffer, kept between events so that rendering a field
    /// (`evt.arg.flags`, `evt.args`, …) does not allocate once it has grown.
    pub(crate) extract_scratch: std::cell::RefCell<Vec<u8>>,
}

const PPM_O_CREAT: u32 = 1 << 2;
const PPM_O_DIRECTORY: u32 = 1 << 10;
const PPM_O_CLOEXEC: u32 = 1 << 12;
const PPM_CL_CLONE_PARENT: u32 = 1 << 8;
const PPM_CL_CLONE_THREAD: u32 = 1 << 13;
const AT_FDCWD: i64 = -100;

/// An event with its parameter slices split once and its parameter positions resolved
/// (handlers read several parameters; the record stores lengths, not offsets, and the schema
/// names, not positions).
pub(crate) struct P<'e, 'a> {
    ev: &'e Event<'a>,
    values: &'a [u8],
    /// Parameter `i` is `values[ends[i]..ends[i + 1]]` (the record stores lengths only).
    ends: [u32; MAX_PARAMS + 1],
    row: &'static params::Row,
    pub ts: u64,
    malformed: std::cell::Cell<bool>,
}

impl<'e, 'a> P<'e, 'a> {
    /// The event with no parameter split yet: call [`P::split`] on it where it will stay (the
    /// offsets table is filled in place rather than copied out of a constructor).
    #[inline(always)]
    fn new(ev: &'e Event<'a>) -> Self {
        P {
            ev,
            values: ev.raw.values(),
            ends: [0u32; MAX_PARAMS + 1],
            row: params::row(ev.raw.kind, ev.raw.nr),
            ts: ev.ts,
            malformed: std::cell::Cell::new(false),
        }
    }

    #[inline(always)]
    fn split(&mut self) {
        let mut at = 0u32;
        for (end, len) in self.ends[1..].iter_mut().zip(self.ev.raw.param_lens()) {
            // At most 32 parameters of at most 64 KiB each, so offsets fit.
            at += len as u32;
            *end = at;
        }
    }

    /// The bytes of parameter `i` (empty when absent or out of range).
    #[inline]
    fn bytes(&self, i: usize) -> &'a [u8] {
        let (Some(&a), Some(&b)) = (self.ends.get(i), self.ends.get(i + 1)) else {
            return &[];
        };
        self.values.get(a as usize..b as usize).unwrap_or(&[])
    }

    /// The shape and bytes of parameter `k` (empty bytes when the schema lacks it: its
    /// position is out of range).
    #[inline]
    fn raw(&self, k: K) -> (params::Shape, &'a [u8]) {
        (
            self.row.shape[k as usize],
            self.bytes(usize::from(self.row.pos[k as usize])),
        )
    }

    /// Parameter `k`, decoded on demand (only the few a handler reads are decoded).
    fn param(&self, k: K) -> Option<Result<Value<'a>, ValueError>> {
        let i = params::position(&self.row.pos, k)?;
        let ty = self.ev.schema.params.get(i)?.ty;
        let v = Value::decode(ty, self.bytes(i));
        if v.is_err() {
            self.malformed.set(true);
        }
        Some(v)
    }

    /// Integer parameter `k`. Plain 8- and 4-byte integers (nearly every read) are read here
    /// directly; the rest (conversions, other widths, malformed values) take [`Value`]'s path.
    #[inline(always)]
    fn int(&self, k: K) -> Option<i64> {
        use params::Shape as S;
        let (shape, b) = self.raw(k);
        match (shape, b.len()) {
            (S::Signed | S::Unsigned, 8) => Some(i64::from_le_bytes(b.try_into().ok()?)),
            (S::Signed, 4) => Some(i64::from(i32::from_le_bytes(b.try_into().ok()?))),
            (S::Unsigned, 4) => Some(i64::from(u32::from_le_bytes(b.try_into().ok()?))),
            // The kernel's flags are 32 bits, whatever width the record gives them.
            (S::OpenFlags, 8) => Some(i64::from(open_flags_to_ppm(u64::from_le_bytes(
                b.try_into().ok()?,
            ) as u32))),
            (S::OpenFlags, 4) => Some(i64::from(open_flags_to_ppm(u32::from_le_bytes(
                b.try_into().ok()?,
            )))),
            (_, 0) => None,
            _ => self.int_general(k, b),
        }
    }

    #[cold]
    fn int_general(&self, k: K, bytes: &[u8]) -> Option<i64> {
        let ty = self
            .ev
            .schema
            .params
            .get(params::position(&self.row.pos, k)?)?
            .ty;
        match Value::decode_i64(ty, bytes) {
            Some(v) => Some(v),
            // A non-integer type or a malformed value: the general path decides (and counts
            // a malformed one).
            None => self.param(k)?.ok()?.as_i64(),
        }
    }

    /// Parameter `k` as text bytes (a string up to its NUL, or a buffer); `None` when absent,
    /// empty or of another type.
    #[inline]
    fn text_bytes(&self, k: K) -> Option<&'a [u8]> {
        use params::Shape as S;
        match self.raw(k) {
            (_, []) => None,
            (S::Text, b) => Some(until_nul(b)),
            (S::Raw, b) => Some(b),
            _ => match self.param(k)? {
                Ok(Value::Str(b)) | Ok(Value::Bytes(b)) => Some(b),
                _ => None,
            },
        }
    }

    /// True when the schema has `k` and the record carries it with no bytes.
    #[inline]
    fn is_empty(&self, k: K) -> bool {
        self.row.shape[k as usize] != params::Shape::Absent && self.raw(k).1.is_empty()
    }

    fn tid(&self) -> u32 {
        self.ev.tid()
    }

    fn pid(&self) -> u32 {
        self.ev.pid()
    }

    fn name(&self) -> &'static str {
        self.ev.name()
    }
}

#[inline]
fn int(ev: &P<'_, '_>, name: K) -> Option<i64> {
    ev.int(name)
}

/// A string parameter's bytes up to its terminating NUL (what [`Value::decode`] gives).
#[inline]
fn until_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Bytes as text: borrowed when valid UTF-8 (the common case), lossily converted otherwise.
///
/// The one `unsafe` outside peregrine-capture (this crate is `deny(unsafe_code)` with this
/// function allowed): safe Rust has no ASCII-to-`str` conversion yet (`<[u8]>::as_ascii` is
/// unstable), and `str::from_utf8` instead costs ≈ 3× as much on short paths (≈ 13 ns against
/// ≈ 4.5 ns per path here), per text parameter of every event.
#[allow(unsafe_code)]
fn utf8(b: &[u8]) -> Cow<'_, str> {
    // Nearly all paths and names are ASCII: checking that is a fraction of a full UTF-8
    // validation for short strings.
    if b.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(b) });
    }
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

fn text_bytes<'a>(ev: &P<'_, 'a>, name: K) -> Option<&'a [u8]> {
    ev.text_bytes(name)
}

/// A string parameter, borrowed from the record when it is valid UTF-8.
fn text<'a>(ev: &P<'_, 'a>, name: K) -> Option<Cow<'a, str>> {
    text_bytes(ev, name).map(utf8)
}

/// Like [`text`], but a parameter present in the record with no bytes reads as `""` (where
/// [`text`] reports no value): for fields an exec must overwrite even when empty.
fn text_or_empty<'a>(ev: &P<'_, 'a>, name: K) -> Option<Cow<'a, str>> {
    if ev.is_empty(name) {
        return Some(Cow::Borrowed(""));
    }
    text(ev, name)
}

/// Like [`list`], but an empty parameter reads as an empty list.
fn list_or_empty(
    ev: &P<'_, '_>,
    name: K,
    budget: usize,
    strings: &mut Interner,
) -> Option<Arc<[String]>> {
    if ev.is_empty(name) {
        return Some(strings.list(&[], budget));
    }
    list(ev, name, budget, strings)
}

/// A NUL-separated list, keeping at most `budget` bytes of items.
fn list(ev: &P<'_, '_>, name: K, budget: usize, strings: &mut Interner) -> Option<Arc<[String]>> {
    let b = text_bytes(ev, name)?;
    Some(strings.list(b, budget))
}

/// The bytes of a record's `cgroups` list read at most.
const CGROUPS_BUDGET: usize = 8192;

/// See [`State`]'s `last_cgroups`.
#[derive(Debug)]
struct LastCgroups {
    list: Arc<[(String, String)]>,
    /// What [`set_container`] derives from `list`.
    container_id: Arc<str>,
    container_engine: &'static str,
}

impl Default for LastCgroups {
    fn default() -> Self {
        LastCgroups {
            list: Arc::new([]),
            container_id: Arc::default(),
            container_engine: "",
        }
    }
}

/// Gives `p` the cgroups of a record (`raw`, not empty) and the container they name, as
/// [`split_cgroups`] and [`set_container`] would, but shared with `p`'s current list (a
/// clone's is its parent's) or with the last list read when the record has the same:
/// splitting, copying and parsing them again cost ≈ 3,500 instructions per new process.
fn assign_cgroups(last: &mut LastCgroups, p: &mut Process, raw: &[u8]) {
    if !same_cgroups(raw, &last.list) {
        last.list = if same_cgroups(raw, &p.cgroups) {
            p.cgroups.clone()
        } else {
            split_cgroups(&procfs::split_nul(raw, CGROUPS_BUDGET))
        };
        let mut derived = Process {
            cgroups: last.list.clone(),
            ..Process::default()
        };
        set_container(&mut derived);
        last.container_id = derived.container_id;
        last.container_engine = derived.container_engine;
    }
    p.cgroups = last.list.clone();
    if *p.container_id != *last.container_id {
        p.container_id = last.container_id.clone();
    }
    p.container_engine = last.container_engine;
}

/// Whether a record's `cgroups` list reads as `have` (what [`split_cgroups`] would make of
/// it), compared without allocating. Items that are not UTF-8 never compare equal, so they
/// take the general path and its lossy conversion.
fn same_cgroups(raw: &[u8], have: &[(String, String)]) -> bool {
    let mut have = have.iter();
    for item in procfs::nul_items(raw, CGROUPS_BUDGET) {
        let Some(eq) = item.iter().position(|&c| c == b'=') else {
            // split_cgroups skips an item without `=`.
            continue;
        };
        let Some((k, v)) = have.next() else {
            return false;
        };
        if item[..eq] != *k.as_bytes() || item[eq + 1..] != *v.as_bytes() {
            return false;
        }
    }
    have.next().is_none()
}

/// `cgroups` items are `subsystem=path`.
fn split_cgroups(items: &[String]) -> Arc<[(String, String)]> {
    items
        .iter()
        .filter_map(|s| {
            let (k, v) = s.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Sets a directory as `proc.cwd` keeps it: with a trailing `/` (without allocating when
/// it is unchanged).
fn set_cwd(dst: &mut Arc<str>, s: &str) {
    let same = match s.strip_suffix('/') {
        Some(_) => **dst == *s,
        None => dst.strip_suffix('/') == Some(s),
    };
    if !same {
        *dst = if s.ends_with('/') {
            Arc::from(s)
        } else {
            Arc::from(format!("{s}/"))
        };
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new(StateConfig::default())
    }
}

impl State {
    pub fn new(cfg: StateConfig) -> Self {
        let proc_root = cfg.proc_root.as_deref().unwrap_or(Path::new("/proc"));
        let hostname = std::fs::read_to_string(proc_root.join("sys/kernel/hostname"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        State {
            table: Table::default(),
            cfg,
            counters: Counters::default(),
            pending_close: None,
            pending_exit: None,
            cur: Current::default(),
            evt_num: 0,
            first_ts: 0,
            prev_ts: 0,
            cur_ts: 0,
            cur_thread: None,
            users: Default::default(),
            user_cache: Default::default(),
            hostname,
            containers: FxHashMap::default(),
            resolver: None,
            strings: Interner::default(),
            last_cgroups: LastCgroups::default(),
            extract_scratch: Default::default(),
            local_addrs: None,
        }
    }

    /// Sets the machine's own addresses (a replay: the capture's interface list); until
    /// then an IP socket's local end is the one its role says.
    pub fn set_local_addrs(&mut self, addrs: crate::fd::LocalAddrs) {
        self.local_addrs = Some(addrs);
    }

    /// libsinsp's `is_ipv{4,6}addr_in_local_machine` for a thread of `p`: in a container,
    /// the container's IPv4 address (any known container's while its own is unknown; never
    /// an IPv6 one); on the host, the interface list. `None` when no list is known.
    pub(crate) fn is_local_addr(&self, ip: std::net::IpAddr, p: &Process) -> Option<bool> {
        let addrs = self.local_addrs.as_ref()?;
        if !p.container_id.is_empty() {
            let std::net::IpAddr::V4(a) = ip else {
                return Some(false);
            };
            let is = |c: &str| c.parse::<std::net::Ipv4Addr>() == Ok(a);
            match self
                .container_info(&p.container_id)
                .map(|c| c.ip.as_str())
                .filter(|c| !c.is_empty())
            {
                Some(c) if is(c) => return Some(true),
                Some(_) => {}
                None => {
                    return Some(self.containers.values().any(|m| match m {
                        Meta::Known { info, .. } => is(&info.ip),
                        _ => false,
                    }))
                }
            }
        }
        Some(addrs.contains(ip))
    }

    /// The counters, with the gauges brought up to date.
    pub fn counters(&self) -> Counters {
        let mut c = self.counters;
        (c.user_cache_hits, c.user_cache_misses) = self.user_cache.get();
        c.threads = self.table.threads.len() as u64;
        c.fds = self.table.procs.values().map(|p| p.fds.len() as u64).sum();
        c
    }

    pub fn config(&self) -> &StateConfig {
        &self.cfg
    }

    /// The thread `tid` and its process.
    pub fn thread(&self, tid: i64) -> Option<(&Thread, &Process)> {
        self.table.thread(tid)
    }

    pub fn process(&self, pid: i64) -> Option<&Process> {
        self.table.procs.get(&pid)
    }

    /// Number of threads in the table.
    pub fn thread_count(&self) -> usize {
        self.table.threads.len()
    }

    /// Inserts a process and its main thread (used by the /proc scan and by tests).
    pub fn insert_process(&mut self, mut p: Process, tids: &[(i64, i64)]) {
        if self.table.threads.len() + tids.len() > self.cfg.max_threads {
            self.counters.threads_dropped += tids.len() as u64;
            return;
        }
        p.nthreads = 0;
        for &(tid, vtid) in tids {
            if self
                .table
                .threads
                .insert(tid, Thread { pid: p.pid, vtid })
                .is_none()
            {
                p.nthreads += 1;
                self.counters.threads_added += 1;
            }
        }
        self.insert_proc(p);
    }

    /// Seeds the tables from `/proc` (every process and thread alive now). Returns how many
    /// processes were added.
    pub fn seed_from_proc(&mut self) -> Result<usize, procfs::ProcError> {
        let root = self
            .cfg
            .proc_root
            .clone()
            .ok_or(procfs::ProcError::Disabled)?;
        // Which end of a connection is local follows the machine's addresses, as in libsinsp.
        if let Some(addrs) = procfs::read_local_addrs(&root) {
            self.local_addrs = Some(addrs);
        }
        let mut n = 0;
        for pid in procfs::pids(&root)? {
            if let Some((p, tids)) = procfs::read_process(&root, pid, &self.cfg) {
                self.insert_process(p, &tids);
                n += 1;
            }
        }
        self.recount_children();
        Ok(n)
    }

    /// Removes threads whose /proc entry is gone (a missed exit); returns how many.
    pub fn purge_dead(&mut self) -> usize {
        let Some(root) = self.cfg.proc_root.clone() else {
            return 0;
        };
        let dead: Vec<i64> = self
            .table
            .threads
            .iter()
            .filter(|(tid, t)| !root.join(format!("{}/task/{}", t.pid, tid)).exists())
            .map(|(tid, _)| *tid)
            .collect();
        for &tid in &dead {
            self.remove_thread(tid);
        }
        self.counters.purged += dead.len() as u64;
        dead.len()
    }

    fn remove_thread(&mut self, tid: i64) {
        self.remove_thread_reaping(tid, 0);
    }

    /// Removes a thread; when it was the last of its process, the process goes too and its
    /// children are re-parented to `reaper` (as the kernel does; 0 = unknown, no parent).
    fn remove_thread_reaping(&mut self, tid: i64, reaper: i64) {
        let Some(t) = self.table.threads.remove(&tid) else {
            return;
        };
        self.counters.threads_removed += 1;
        let gone = match self.table.procs.get_mut(&t.pid) {
            Some(p) => {
                p.nthreads = p.nthreads.saturating_sub(1);
                p.nthreads == 0
            }
            None => false,
        };
        if !gone {
            return;
        }
        let Some(dead) = self.table.procs.remove(&t.pid) else {
            return;
        };
        if let Some(pp) = self.table.procs.get_mut(&dead.ppid) {
            pp.nchildren = pp.nchildren.saturating_sub(1);
        }
        if dead.nchildren > 0 {
            let reaper = if reaper == dead.pid { 0 } else { reaper };
            let mut moved = 0;
            for p in self.table.procs.values_mut() {
                if p.ppid == dead.pid {
                    p.ppid = reaper;
                    moved += 1;
                }
            }
            if let Some(r) = self.table.procs.get_mut(&reaper) {
                r.nchildren += moved;
            }
        }
    }

    /// Adds a process, counting it as a child of its parent. A stale entry with the same pid
    /// (an exit we never saw) is replaced.
    fn insert_proc(&mut self, mut p: Process) {
        p.nchildren = 0;
        if let Some(pp) = self.table.procs.get_mut(&p.ppid) {
            pp.nchildren += 1;
        }
        if let Some(old) = self.table.procs.insert(p.pid, p) {
            if let Some(pp) = self.table.procs.get_mut(&old.ppid) {
                pp.nchildren = pp.nchildren.saturating_sub(1);
            }
        }
    }

    /// Recounts every process's children (after a bulk insert such as the /proc scan, where
    /// children may be inserted before their parents).
    fn recount_children(&mut self) {
        let mut counts: FxHashMap<i64, u32> = FxHashMap::default();
        for p in self.table.procs.values() {
            *counts.entry(p.ppid).or_default() += 1;
        }
        for p in self.table.procs.values_mut() {
            p.nchildren = counts.get(&p.pid).copied().unwrap_or(0);
        }
    }

    /// Applies one event. Call it for every event, in order, before evaluating rules on it.
    pub fn update(&mut self, ev: &Event<'_>) {
        let mut p = P::new(ev);
        p.split();
        let ev = &p;
        if self.resolver.is_some() {
            self.poll_containers();
        }
        let threads_before = self.counters.threads_added;
        self.apply(ev);
        // A container can only appear with a new thread or an exec (a cgroup change without
        // either is not tracked), so only those events pay for the container checks; a failed
        // lookup is retried at the container's next new process.
        let op = ev.ev.raw.nr;
        if self.counters.threads_added != threads_before
            || (ev.ev.raw.kind == KIND_SYSCALL && matches!(op, nr::EXECVE | nr::EXECVEAT))
        {
            self.want_container(i64::from(ev.tid()));
        }
        if ev.malformed.get() {
            self.counters.malformed += 1;
        }
    }

    /// Takes in finished container metadata lookups (never waits). [`State::update`] calls it;
    /// callers without events (tests, an idle agent) may call it too.
    pub fn poll_containers(&mut self) {
        let Some(r) = &self.resolver else { return };
        for l in r.try_results() {
            match l.pod_lookup {
                Some(true) => self.counters.container_lookups += 1,
                Some(false) => self.counters.container_lookups_failed += 1,
                None => {}
            }
            let meta = match l.info {
                Some(info) => {
                    self.counters.container_lookups += 1;
                    Meta::Known {
                        info,
                        at: self.cur_ts,
                    }
                }
                None => {
                    self.counters.container_lookups_failed += 1;
                    let attempts = match self.containers.get(l.id.as_str()) {
                        Some(Meta::Pending { attempts, .. }) => attempts + 1,
                        _ => 1,
                    };
                    Meta::Failed {
                        at: self.cur_ts,
                        attempts,
                        reason: l.reason.unwrap_or_default().into(),
                    }
                }
            };
            self.containers.insert(l.id.into(), meta);
        }
    }

    /// Asks for the metadata of the current thread's container if nobody has yet.
    fn want_container(&mut self, tid: i64) {
        let Some((_, p)) = self.table.thread(tid) else {
            return;
        };
        if p.container_id.is_empty() {
            return;
        }
        // Read the container's users while one of its processes is surely alive (a process
        // that has just been seen), not when a rule first asks, which may be after it exited.
        if !self.users.borrow().contains_key(&p.container_id) && self.cfg.proc_root.is_some() {
            let pid = p.pid;
            let _ = self.users_for(pid);
        }
        let Some((_, p)) = self.table.thread(tid) else {
            return;
        };
        if self.cfg.container_sockets.is_empty() && self.cfg.runtime_state_roots.is_empty() {
            return;
        }
        let attempts = match self.containers.get(&p.container_id) {
            None => 0,
            Some(&Meta::Failed { at, attempts, .. })
                if self.cur_ts.saturating_sub(at) > retry_delay(attempts) =>
            {
                attempts
            }
            Some(_) => return,
        };
        let id = p.container_id.clone();
        if self.resolver.is_none() {
            match crate::runtime::Resolver::start(
                self.cfg.container_sockets.clone(),
                self.cfg.runtime_state_roots.clone(),
                self.cfg.containerd_sockets.clone(),
                self.cfg.label_max_len,
                256,
            ) {
                Ok(r) => self.resolver = Some(r),
                Err(_) => {
                    self.counters.container_lookups_failed += 1;
                    self.containers.insert(
                        id,
                        Meta::Failed {
                            at: u64::MAX,
                            attempts: u32::MAX,
                            reason: "cannot start the lookup thread".into(),
                        },
                    );
                    return;
                }
            }
        }
        if self.resolver.as_ref().is_some_and(|r| r.request(&id)) {
            let since = self.cur_ts;
            self.containers
                .insert(id, Meta::Pending { attempts, since });
        } else {
            self.counters.container_requests_dropped += 1;
        }
    }

    /// Records what a capture file says about container `id` (libscap's `container` events,
    /// which the container plugin reads instead of asking the runtime).
    pub fn set_container_info(&mut self, id: &str, info: crate::runtime::ContainerInfo) {
        self.containers.insert(
            id.into(),
            Meta::Known {
                info: info.into(),
                at: self.cur_ts,
            },
        );
    }

    /// Runtime metadata of a container, when known.
    pub fn container_info(&self, full_id: &str) -> Option<&crate::runtime::ContainerInfo> {
        match self.containers.get(full_id)? {
            Meta::Known { info, .. } => Some(info),
            _ => None,
        }
    }

    /// Every container whose metadata was asked for, and where its lookup stands, by id.
    pub fn container_metadata(&self) -> Vec<ContainerMetadata> {
        let mut all: Vec<ContainerMetadata> = self
            .containers
            .iter()
            .map(|(id, m)| {
                let (status, since_ns, attempts, name, image) = match m {
                    Meta::Pending { attempts, since } => {
                        (MetadataStatus::Pending, *since, *attempts, "", "")
                    }
                    Meta::Known { info, at } => (
                        MetadataStatus::Known,
                        *at,
                        0,
                        info.name.as_str(),
                        info.image.as_str(),
                    ),
                    Meta::Failed {
                        at,
                        attempts,
                        reason,
                    } => (
                        MetadataStatus::Failed(reason.to_string()),
                        *at,
                        *attempts,
                        "",
                        "",
                    ),
                };
                ContainerMetadata {
                    id: id.to_string(),
                    status,
                    since_ns,
                    attempts,
                    name: name.to_string(),
                    image: image.to_string(),
                }
            })
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    fn apply(&mut self, ev: &P<'_, '_>) {
        self.cur_thread = None;
        if let Some((pid, fd)) = self.pending_close.take() {
            if let Some(p) = self.table.procs.get_mut(&pid) {
                p.fds.remove(fd);
            }
        }
        if let Some((tid, reaper)) = self.pending_exit.take() {
            self.remove_thread_reaping(tid, reaper);
        }
        self.counters.events += 1;
        self.evt_num += 1;
        if self.first_ts == 0 {
            self.first_ts = ev.ts;
        }
        self.prev_ts = if self.cur_ts == 0 { ev.ts } else { self.cur_ts };
        self.cur_ts = ev.ts;
        self.cur = Current::default();
        let tid = i64::from(ev.tid());
        let name = ev.name();
        // Dispatch on the syscall number: a jump table, where matching names would compare
        // strings for every event.
        let op = (ev.ev.raw.kind == KIND_SYSCALL).then_some(ev.ev.raw.nr);
        if matches!(op, Some(nr::CLONE | nr::FORK | nr::VFORK | nr::CLONE3)) {
            self.on_clone(ev);
            return;
        }
        // One probe for the common case of a known thread.
        self.cur_thread = match self.table.threads.get(&tid) {
            Some(t) => Some((tid, t.pid)),
            None => {
                self.lookup_unknown(tid, i64::from(ev.pid()));
                self.table.threads.get(&tid).map(|t| (tid, t.pid))
            }
        };
        match op {
            Some(nr::EXECVE | nr::EXECVEAT) => self.on_exec(ev),
            None if ev.ev.raw.kind == KIND_PROCEXIT => {
                let reaper = int(ev, K::ReaperTid)
                    .and_then(|r| self.table.threads.get(&r).map(|t| t.pid))
                    .unwrap_or(0);
                self.pending_exit = Some((tid, reaper));
            }
            Some(nr::OPEN | nr::OPENAT | nr::OPENAT2 | nr::CREAT | nr::OPEN_BY_HANDLE_AT) => {
                self.on_open(ev)
            }
            Some(nr::CLOSE) => {
                let fd = int(ev, K::Fd);
                self.cur.fd = fd;
                if let (Some(0), Some(fd)) = (int(ev, K::Res), fd) {
                    if let Some((_, pid)) = self.cur_thread {
                        self.pending_close = Some((pid, fd));
                    }
                }
            }
            Some(nr::DUP | nr::DUP2 | nr::DUP3) => {
                let old = int(ev, K::Oldfd);
                self.cur.fd = old;
                let cloexec = int(ev, K::Flags).is_some_and(|f| f as u32 & PPM_O_CLOEXEC != 0);
                if let (Some(res), Some(old)) = (int(ev, K::Res), old) {
                    self.dup(tid, old, res, cloexec);
                }
            }
            Some(nr::FCNTL) => {
                let fd = int(ev, K::Fd);
                self.cur.fd = fd;
                // F_DUPFD (0), and F_DUPFD_CLOEXEC (1030) as the kernel's 8-bit cmd (6, which
                // is also F_SETLK, but that returns 0, never a new fd).
                if let (Some(res), Some(fd), Some(cmd)) = (int(ev, K::Res), fd, int(ev, K::Cmd)) {
                    if res >= 0 && res != fd && (cmd == 0 || (cmd == 6 && res > 0)) {
                        self.dup(tid, fd, res, cmd == 6);
                    }
                }
            }
            Some(nr::SOCKET) => self.on_socket(ev),
            Some(nr::CONNECT) => self.on_connect(ev),
            Some(nr::ACCEPT | nr::ACCEPT4) => self.on_accept(ev),
            Some(nr::BIND) => self.on_bind(ev),
            Some(nr::LISTEN) => {
                self.cur.fd = int(ev, K::Fd);
                if let (Some(0), Some(fd)) = (int(ev, K::Res), self.cur.fd) {
                    if let Some(s) = self.fd_mut(tid, fd).and_then(|f| f.sock.as_mut()) {
                        s.is_server = true;
                    }
                }
            }
            Some(nr::SENDTO | nr::RECVFROM | nr::SENDMSG | nr::RECVMSG) => self.on_io_tuple(ev),
            Some(nr::PIPE | nr::PIPE2) => {
                if int(ev, K::Res) == Some(0) {
                    let cloexec = int(ev, K::Flags).is_some_and(|f| f as u32 & PPM_O_CLOEXEC != 0);
                    let ino = int(ev, K::Ino).unwrap_or(0) as u64;
                    for p in [K::Fd1, K::Fd2] {
                        if let Some(fd) = int(ev, p) {
                            let mut f = Fd::new(FdKind::Pipe, "");
                            f.ino = ino;
                            f.cloexec = cloexec;
                            self.add_fd(tid, fd, f);
                        }
                    }
                }
            }
            Some(nr::SOCKETPAIR) => {
                if int(ev, K::Res) == Some(0) {
                    for p in [K::Fd1, K::Fd2] {
                        if let Some(fd) = int(ev, p) {
                            self.add_fd(tid, fd, Fd::new(FdKind::Unix, ""));
                        }
                    }
                }
            }
            Some(nr::MEMFD_CREATE) => {
                let fd = int(ev, K::Fd);
                self.cur.fd = fd;
                if let Some(fd) = fd.filter(|&f| f >= 0) {
                    let mut f = Fd::new(FdKind::Memfd, &*text(ev, K::Name).unwrap_or_default());
                    f.cloexec = int(ev, K::Flags).is_some_and(|fl| fl & 1 != 0);
                    self.add_fd(tid, fd, f);
                }
            }
            Some(
                nr::EVENTFD
                | nr::EVENTFD2
                | nr::SIGNALFD
                | nr::SIGNALFD4
                | nr::BPF
                | nr::USERFAULTFD
                | nr::EPOLL_CREATE
                | nr::EPOLL_CREATE1
                | nr::INOTIFY_INIT
                | nr::INOTIFY_INIT1
                | nr::TIMERFD_CREATE
                | nr::IO_URING_SETUP
                | nr::PIDFD_OPEN,
            ) => {
                let kind = match name {
                    "eventfd" | "eventfd2" => FdKind::Event,
                    "signalfd" | "signalfd4" => FdKind::Signalfd,
                    "bpf" => FdKind::Bpf,
                    "epoll_create" | "epoll_create1" => FdKind::Eventpoll,
                    "inotify_init" | "inotify_init1" => FdKind::Inotify,
                    "timerfd_create" => FdKind::Timerfd,
                    "io_uring_setup" => FdKind::IoUring,
                    "pidfd_open" => FdKind::Pidfd,
                    _ => FdKind::Userfaultfd,
                };
                let res = int(ev, K::Res).or_else(|| int(ev, K::Fd));
                if let Some(res) = res.filter(|&r| r >= 0) {
                    // bpf(2) returns 0 for commands that create no fd.
                    if kind != FdKind::Bpf || res > 0 {
                        self.cur.fd = Some(res);
                        self.add_fd(tid, res, Fd::new(kind, ""));
                    }
                }
            }
            // getsockopt(SOL_SOCKET, SO_ERROR), how a non-blocking connect learns its outcome:
            // a zero error means connected (libsinsp)
            Some(nr::GETSOCKOPT) => {
                let fd = int(ev, K::Fd);
                self.cur.fd = fd;
                let so_error = int(ev, K::Level) == Some(1) && int(ev, K::Optname) == Some(4);
                let err = match ev.param(K::Val) {
                    Some(Ok(Value::Dyn { index: 1, value })) => Some(value),
                    _ => None,
                };
                if let (true, Some(0), Some(fd), Some(err)) = (so_error, int(ev, K::Res), fd, err) {
                    if let Some(s) = self.fd_mut(tid, fd).and_then(|f| f.sock.as_mut()) {
                        s.connected = err == 0;
                    }
                }
            }
            // mmap, munmap, brk: the process's memory counters after the call, as libsinsp
            Some(nr::MMAP | nr::MUNMAP | nr::BRK) => {
                let vm = (int(ev, K::VmSize), int(ev, K::VmRss), int(ev, K::VmSwap));
                if let (Some(p), (Some(size), Some(rss), Some(swap))) = (self.proc_mut(tid), vm) {
                    p.vm_size = size as u64;
                    p.vm_rss = rss as u64;
                    p.vm_swap = swap as u64;
                }
                if let Some(fd) = int(ev, K::Fd) {
                    self.cur.fd = Some(fd);
                }
            }
            Some(nr::CHDIR) => {
                if int(ev, K::Res) == Some(0) {
                    if let Some(path) = text(ev, K::Path) {
                        if let Some(p) = self.proc_mut(tid) {
                            let cwd = resolve_path(&p.cwd, &path).into_owned();
                            set_cwd(&mut p.cwd, &cwd);
                        }
                    }
                }
            }
            Some(nr::FCHDIR) => {
                let fd = int(ev, K::Fd);
                self.cur.fd = fd;
                if let (Some(0), Some(fd)) = (int(ev, K::Res), fd) {
                    if let Some(p) = self.proc_mut(tid) {
                        if let Some(name) = p.fds.get(&fd).map(|f| f.name.clone()) {
                            set_cwd(&mut p.cwd, &name);
                        }
                    }
                }
            }
            Some(nr::SETUID | nr::SETRESUID) => {
                let uid = int(ev, K::Uid).or_else(|| int(ev, K::Euid));
                if let (Some(0), Some(uid)) = (int(ev, K::Res), uid) {
                    if uid as u32 != u32::MAX {
                        if let Some(p) = self.proc_mut(tid) {
                            p.uid = uid as u32;
                        }
                    }
                }
            }
            Some(nr::SETGID | nr::SETRESGID) => {
                let gid = int(ev, K::Gid).or_else(|| int(ev, K::Egid));
                if let (Some(0), Some(gid)) = (int(ev, K::Res), gid) {
                    if gid as u32 != u32::MAX {
                        if let Some(p) = self.proc_mut(tid) {
                            p.gid = gid as u32;
                        }
                    }
                }
            }
            Some(nr::CAPSET) => {
                if int(ev, K::Res) == Some(0) {
                    let caps = (
                        int(ev, K::CapPermitted),
                        int(ev, K::CapInheritable),
                        int(ev, K::CapEffective),
                    );
                    if let Some(p) = self.proc_mut(tid) {
                        if let (Some(pe), Some(i), Some(e)) = caps {
                            p.cap_permitted = pe as u64;
                            p.cap_inheritable = i as u64;
                            p.cap_effective = e as u64;
                        }
                    }
                }
            }
            _ => {
                if let Some(fd) = int(ev, K::Fd) {
                    self.cur.fd = Some(fd);
                }
            }
        }
    }

    /// A thread seen for the first time outside a clone: read it from /proc when allowed,
    /// otherwise track it with what the record header says.
    fn lookup_unknown(&mut self, tid: i64, pid: i64) {
        if self.table.threads.len() >= self.cfg.max_threads {
            self.counters.threads_dropped += 1;
            return;
        }
        if let Some(root) = self.cfg.proc_root.clone() {
            self.counters.proc_lookups += 1;
            if !self.table.procs.contains_key(&pid) {
                if let Some((p, tids)) = procfs::read_process(&root, pid, &self.cfg) {
                    self.insert_process(p, &tids);
                }
            }
            if self.table.threads.contains_key(&tid) {
                return;
            }
            self.counters.proc_lookups_failed += 1;
        }
        self.table.procs.entry(pid).or_insert_with(|| Process {
            pid,
            vpid: pid,
            loginuid: u32::MAX,
            ..Process::default()
        });
        self.add_thread(tid, pid, tid);
    }

    fn add_thread(&mut self, tid: i64, pid: i64, vtid: i64) {
        if self.table.threads.len() >= self.cfg.max_threads {
            self.counters.threads_dropped += 1;
            return;
        }
        if self
            .table
            .threads
            .insert(tid, Thread { pid, vtid })
            .is_none()
        {
            self.counters.threads_added += 1;
            if let Some(p) = self.table.procs.get_mut(&pid) {
                p.nthreads += 1;
            }
        }
    }

    /// The pid of thread `tid` (the current event's without a lookup).
    fn pid_of(&self, tid: i64) -> Option<i64> {
        match self.cur_thread {
            Some((t, pid)) if t == tid => Some(pid),
            _ => Some(self.table.threads.get(&tid)?.pid),
        }
    }

    fn proc_mut(&mut self, tid: i64) -> Option<&mut Process> {
        let pid = self.pid_of(tid)?;
        self.table.procs.get_mut(&pid)
    }

    fn fd_mut(&mut self, tid: i64, fd: i64) -> Option<&mut Fd> {
        self.proc_mut(tid)?.fds.get_mut(fd)
    }

    fn add_fd(&mut self, tid: i64, fd: i64, f: Fd) {
        let max = self.cfg.max_fds_per_process;
        let Some(p) = self.proc_mut(tid) else { return };
        if !insert_fd(p, fd, f, max) {
            self.counters.fds_dropped += 1;
        }
    }

    fn dup(&mut self, tid: i64, old: i64, new: i64, cloexec: bool) {
        if new < 0 || new == old {
            return;
        }
        let Some(p) = self.proc_mut(tid) else { return };
        if let Some(mut f) = p.fds.get(&old).cloned() {
            f.cloexec = cloexec;
            self.add_fd(tid, new, f);
        } else if let Some(p) = self.proc_mut(tid) {
            // dup2 onto a tracked fd closes it even when the source is unknown.
            p.fds.remove(new);
        }
    }

    fn on_clone(&mut self, ev: &P<'_, '_>) {
        let Some(res) = int(ev, K::Res) else {
            self.counters.malformed += 1;
            return;
        };
        if res < 0 {
            return;
        }
        let flags = int(ev, K::Flags).unwrap_or(0) as u32;
        let caller = i64::from(ev.tid());
        let (child_tid, child_side) = if res == 0 {
            (caller, true)
        } else {
            (res, false)
        };
        if let Some(t) = self.table.threads.get_mut(&child_tid) {
            // The other side of this clone already created it; the child's side knows the
            // ids inside its pid namespace.
            if child_side {
                if let Some(v) = int(ev, K::Vtid) {
                    t.vtid = v;
                }
                let pid = t.pid;
                if let Some(p) = self.table.procs.get_mut(&pid) {
                    if let Some(v) = int(ev, K::Vpid) {
                        p.vpid = v;
                    }
                    // A replay's placeholder process (credentials unknown, u32::MAX):
                    // libsinsp keeps credentials per thread and gives the child the clone's,
                    // so the process takes them from the first child side reporting them.
                    if p.uid == u32::MAX {
                        if let (Some(u), Some(g)) = (int(ev, K::Uid), int(ev, K::Gid)) {
                            p.uid = u as u32;
                            p.gid = g as u32;
                        }
                    }
                }
            }
            return;
        }
        // The parent's process: the caller's for the parent side, ptid's for the child side.
        let parent_tid = if child_side {
            int(ev, K::Ptid).unwrap_or(0)
        } else {
            caller
        };
        if !child_side && !self.table.threads.contains_key(&caller) {
            self.lookup_unknown(caller, i64::from(ev.pid()));
        }
        let parent_pid = self.table.threads.get(&parent_tid).map(|t| t.pid);
        // The child's own record carries no flags (the kernel side cannot know them there);
        // its header says whether it is a thread: tid != tgid.
        let is_thread = if child_side {
            ev.tid() != ev.pid()
        } else {
            flags & PPM_CL_CLONE_THREAD != 0
        };
        let child_pid = if child_side {
            i64::from(ev.pid())
        } else if is_thread {
            parent_pid.unwrap_or(i64::from(ev.pid()))
        } else {
            res
        };
        let vtid = if child_side {
            int(ev, K::Vtid).unwrap_or(child_tid)
        } else {
            child_tid
        };
        if is_thread {
            if !self.table.procs.contains_key(&child_pid) {
                let p = self.process_from_clone(ev, child_pid, parent_pid, child_side, flags);
                self.insert_proc(p);
            }
            self.add_thread(child_tid, child_pid, vtid);
            return;
        }
        if self.table.threads.len() >= self.cfg.max_threads {
            self.counters.threads_dropped += 1;
            return;
        }
        let p = self.process_from_clone(ev, child_pid, parent_pid, child_side, flags);
        self.insert_proc(p);
        self.add_thread(child_tid, child_pid, vtid);
    }

    /// A new process: a copy of its parent (fds, credentials, session) updated with what the
    /// clone event reports.
    fn process_from_clone(
        &mut self,
        ev: &P<'_, '_>,
        pid: i64,
        parent_pid: Option<i64>,
        child_side: bool,
        flags: u32,
    ) -> Process {
        if let Some(pp) = parent_pid.and_then(|pp| self.table.procs.get_mut(&pp)) {
            pp.fds.share();
        }
        let parent = parent_pid.and_then(|pp| self.table.procs.get(&pp));
        let mut p = match parent {
            // Shared strings and a shared fd table make this a copy of reference counts.
            Some(pp) => pp.clone(),
            None => Process {
                loginuid: u32::MAX,
                ..Process::default()
            },
        };
        p.pid = pid;
        p.ppid = match (parent, flags & PPM_CL_CLONE_PARENT != 0) {
            (Some(pp), true) => pp.ppid,
            (Some(pp), false) => pp.pid,
            (None, _) => int(ev, K::Ptid).unwrap_or(0),
        };
        p.vpid = if child_side {
            int(ev, K::Vpid).unwrap_or(pid)
        } else if parent.is_some_and(|pp| pp.in_pidns()) {
            // The parent side does not know the child's virtual pid; fixed up by the child.
            0
        } else {
            pid
        };
        p.nthreads = 0;
        p.start_ts = ev.ts;
        if let Some(s) = text(ev, K::Exe) {
            self.strings.assign(&mut p.exe, &s);
        }
        if let Some(a) = list(ev, K::Args, self.cfg.max_args_bytes, &mut self.strings) {
            p.args = a;
        }
        if let Some(c) = text(ev, K::Comm) {
            self.strings.assign(&mut p.comm, &c);
        }
        if let Some(c) = text(ev, K::Cwd).filter(|c| !c.is_empty()) {
            set_cwd(&mut p.cwd, &c);
        }
        if let Some(u) = int(ev, K::Uid) {
            p.uid = u as u32;
        }
        if let Some(g) = int(ev, K::Gid) {
            p.gid = g as u32;
        }
        if let Some(l) = int(ev, K::Fdlimit) {
            p.fdlimit = l as u64;
        }
        if let Some(t) = int(ev, K::PidnsInitStartTs).filter(|&t| t > 0) {
            p.pidns_init_start_ts = t as u64;
        }
        if let Some(raw) = text_bytes(ev, K::Cgroups) {
            if procfs::nul_items(raw, CGROUPS_BUDGET).next().is_some() {
                assign_cgroups(&mut self.last_cgroups, &mut p, raw);
            }
        }
        p
    }

    fn on_exec(&mut self, ev: &P<'_, '_>) {
        if int(ev, K::Res) != Some(0) {
            return;
        }
        let tid = i64::from(ev.tid());
        let (max_args, max_env) = (self.cfg.max_args_bytes, self.cfg.max_env_bytes);
        let Some(pid) = self.table.threads.get(&tid).map(|t| t.pid) else {
            return;
        };
        let mut ppid_from_exec = None;
        let Some(p) = self.table.procs.get_mut(&pid) else {
            return;
        };
        // The new image replaces the old one entirely: an empty parameter (an exec whose argv
        // holds only argv[0], an empty environment) empties the field rather than leaving the
        // previous image's value behind. Only a parameter the record lacks keeps the old value.
        let strings = &mut self.strings;
        if let Some(s) = text_or_empty(ev, K::Exe) {
            strings.assign(&mut p.exe, &s);
        }
        if let Some(a) = list_or_empty(ev, K::Args, max_args, strings) {
            p.args = a;
        }
        match text(ev, K::Comm).filter(|c| !c.is_empty()) {
            Some(c) => strings.assign(&mut p.comm, &c),
            // A record without comm (older producers): the kernel names the task after the
            // file it runs, so argv[0]'s last component is the closest stand-in.
            None => {
                let exe = p.exe.clone();
                strings.assign(&mut p.comm, exe.rsplit('/').next().unwrap_or_default());
            }
        }
        // The cwd survives an exec; libsinsp does not read execve's cwd parameter (old
        // captures' execve carries one, and Falco leaves a placeholder thread's cwd empty).
        if let Some(e) = list_or_empty(ev, K::Env, max_env, strings) {
            p.env = e;
        }
        // The filename is read only when the kernel gave no trusted path.
        let path = text(ev, K::TrustedExepath)
            .filter(|s| !s.is_empty())
            .or_else(|| {
                let f = text(ev, K::Filename).filter(|s| !s.is_empty())?;
                Some(Cow::Owned(resolve_path(&p.cwd, &f).into_owned()))
            });
        match path {
            Some(path) => strings.assign(&mut p.exepath, &path),
            // Without a path from the kernel, argv[0] is the best guess; libsinsp keeps the
            // previous image's path here (old captures), which would name the wrong binary.
            None => p.exepath = p.exe.clone(),
        }
        // A process first seen at its exec (no clone, no /proc entry) has no parent yet: the
        // record names the parent thread, whose process is the parent.
        if p.ppid == 0 {
            ppid_from_exec = int(ev, K::Ptid).filter(|&t| t > 0);
        }
        let set_u32 = |v: Option<i64>, dst: &mut u32| {
            if let Some(v) = v {
                *dst = v as u32;
            }
        };
        set_u32(int(ev, K::Tty), &mut p.tty);
        set_u32(int(ev, K::Loginuid), &mut p.loginuid);
        set_u32(int(ev, K::Flags), &mut p.exe_flags);
        set_u32(int(ev, K::Uid), &mut p.uid);
        set_u32(int(ev, K::Gid), &mut p.gid);
        let set_u64 = |v: Option<i64>, dst: &mut u64| {
            if let Some(v) = v {
                *dst = v as u64;
            }
        };
        set_u64(int(ev, K::CapPermitted), &mut p.cap_permitted);
        set_u64(int(ev, K::CapInheritable), &mut p.cap_inheritable);
        set_u64(int(ev, K::CapEffective), &mut p.cap_effective);
        set_u64(int(ev, K::ExeIno), &mut p.exe_ino);
        set_u64(int(ev, K::ExeInoCtime), &mut p.exe_ino_ctime);
        set_u64(int(ev, K::ExeInoMtime), &mut p.exe_ino_mtime);
        set_u64(int(ev, K::Fdlimit), &mut p.fdlimit);
        set_u64(int(ev, K::VmSize), &mut p.vm_size);
        set_u64(int(ev, K::VmRss), &mut p.vm_rss);
        set_u64(int(ev, K::VmSwap), &mut p.vm_swap);
        set_u64(int(ev, K::PgftMaj), &mut p.pf_major);
        set_u64(int(ev, K::PgftMin), &mut p.pf_minor);
        if let Some(g) = int(ev, K::Vpgid) {
            p.vpgid = g;
        }
        match text_bytes(ev, K::Cgroups) {
            Some(raw) if procfs::nul_items(raw, CGROUPS_BUDGET).next().is_some() => {
                assign_cgroups(&mut self.last_cgroups, p, raw);
            }
            // The record has no cgroups (the kernel side may not send them): exec is when a
            // container's first process gets here, so read them once from /proc.
            _ => {
                if let Some(root) = &self.cfg.proc_root {
                    let cg = procfs::read_cgroups(root, pid);
                    if !cg.is_empty() {
                        p.cgroups = cg.into();
                        set_container(p);
                    }
                }
            }
        }
        p.fds.close_on_exec();
        let nthreads = p.nthreads;
        if let Some(ptid) = ppid_from_exec {
            let ppid = self.table.threads.get(&ptid).map_or(ptid, |t| t.pid);
            if ppid != pid {
                if let Some(p) = self.table.procs.get_mut(&pid) {
                    p.ppid = ppid;
                }
                if let Some(pp) = self.table.procs.get_mut(&ppid) {
                    pp.nchildren += 1;
                }
            }
        }
        // exec leaves one thread in the process.
        if nthreads > 1 {
            let others: Vec<i64> = self
                .table
                .threads
                .iter()
                .filter(|(t, th)| th.pid == pid && **t != tid)
                .map(|(t, _)| *t)
                .collect();
            for t in others {
                self.remove_thread(t);
            }
        }
    }

    fn on_open(&mut self, ev: &P<'_, '_>) {
        let tid = i64::from(ev.tid());
        let fd = int(ev, K::Fd);
        self.cur.fd = fd;
        let Some(fd) = fd else { return };
        // open_by_handle_at names the opened file `path` (the kernel's, absolute).
        let raw = match ev.raw(K::Name) {
            (params::Shape::Text, b) => until_nul(b),
            _ => match ev.param(K::Name).or_else(|| ev.param(K::Path)) {
                Some(Ok(Value::Str(b))) => b,
                _ => &[][..],
            },
        };
        let flags = if ev.ev.raw.nr == nr::CREAT {
            // O_WRONLY | O_CREAT | O_TRUNC
            2 | PPM_O_CREAT | (1 << 8)
        } else {
            int(ev, K::Flags).unwrap_or(0) as u32
        };
        let dirfd = int(ev, K::Dirfd).unwrap_or(AT_FDCWD);
        let raw = utf8(raw);
        let kind = if flags & PPM_O_DIRECTORY != 0 {
            FdKind::Directory
        } else {
            FdKind::File
        };
        let (dev, ino) = (int(ev, K::Dev), int(ev, K::Ino));
        let describe = |name: Cow<'_, str>, strings: &mut Interner| {
            // fd.nameraw falls back to fd.name, so store it only when it differs (a name
            // borrowed from the record as it is needs no comparison).
            let same = match &name {
                Cow::Borrowed(n) => std::ptr::eq(*n, &*raw),
                Cow::Owned(_) => false,
            };
            let nameraw = if same || *raw == *name {
                String::new()
            } else {
                raw.to_string()
            };
            // Programs open the same files over and over (libraries, configuration): a
            // cached name saves allocating it here and freeing it at the close.
            let mut f = Fd::new(kind, strings.get(&name));
            f.nameraw = nameraw;
            f.flags = flags;
            f.cloexec = flags & PPM_O_CLOEXEC != 0;
            f.dev = dev.unwrap_or(0) as u32;
            f.ino = ino.unwrap_or(0) as u64;
            f
        };
        let max = self.cfg.max_fds_per_process;
        // One process lookup serves the name's base directory and the insertion.
        let Some(p) = self
            .pid_of(tid)
            .and_then(|pid| self.table.procs.get_mut(&pid))
        else {
            let f = describe(resolve_path("/", &raw), &mut self.strings);
            if fd < 0 {
                self.cur.tmp_fd = Some(f);
            }
            return;
        };
        let name = if raw.starts_with('/') || dirfd == AT_FDCWD {
            resolve_path(&p.cwd, &raw)
        } else if let Some(d) = p.fds.get(&dirfd) {
            resolve_path(&d.name, &raw)
        } else {
            resolve_path("/<UNKNOWN>", &raw)
        };
        let f = describe(name, &mut self.strings);
        if fd < 0 {
            self.cur.tmp_fd = Some(f);
        } else if !insert_fd(p, fd, f, max) {
            self.counters.fds_dropped += 1;
        }
    }

    fn on_socket(&mut self, ev: &P<'_, '_>) {
        let tid = i64::from(ev.tid());
        let fd = int(ev, K::Fd);
        self.cur.fd = fd;
        let Some(fd) = fd.filter(|&f| f >= 0) else {
            return;
        };
        let domain = int(ev, K::Domain).unwrap_or(0);
        let ty = int(ev, K::Type).unwrap_or(0) as u64;
        let proto = int(ev, K::Proto).unwrap_or(0) as u64;
        let kind = match domain {
            // open
            2 => FdKind::Ipv4,
            // ?
            10 => FdKind::Ipv6,
            // ?
            1 => FdKind::Unix,
            // ?
            16 => FdKind::Netlink,
            _ => FdKind::Unknown,
        };
        let mut f = Fd::new(kind, "");
        if kind.is_inet() {
            f.sock = Some(Sock::new(L4::from_socket(ty, proto)));
        }
        // SOCK_CLOEXEC is 0o2000000 in the type's upper bits (our `flags` argument).
        f.cloexec = int(ev, K::Flags).is_some_and(|fl| fl & 0o2000000 != 0);
        self.add_fd(tid, fd, f);
    }

    /// Applies a local → remote tuple to an fd; returns true when `fd.name` changed.
    fn apply_tuple(
        &mut self,
        tid: i64,
        fd: i64,
        tuple: SockTuple<'_>,
        server: Option<bool>,
        client_first: bool,
    ) -> bool {
        // libsinsp fills a 0.0.0.0 end of a tuple from the interface list (its
        // network_interfaces::update_fd), unless that would make both ends equal.
        let fill = |a: std::net::Ipv4Addr, other: std::net::Ipv4Addr, same_ports: bool| match &self
            .local_addrs
        {
            Some(l) if a.is_unspecified() => {
                let n = l.infer_v4(other);
                if n == other && same_ports {
                    a
                } else {
                    n
                }
            }
            _ => a,
        };
        let tuple = match tuple {
            SockTuple::Inet { src, dst } if src.0.is_unspecified() => SockTuple::Inet {
                src: (fill(src.0, dst.0, src.1 == dst.1), src.1),
                dst,
            },
            SockTuple::Inet { src, dst } if dst.0.is_unspecified() => SockTuple::Inet {
                src,
                dst: (fill(dst.0, src.0, src.1 == dst.1), dst.1),
            },
            t => t,
        };
        let Some(f) = self.fd_mut(tid, fd) else {
            return false;
        };
        match tuple {
            SockTuple::Inet { src, dst } => set_inet(
                f,
                FdKind::Ipv4,
                ((src.0.into(), src.1), (dst.0.into(), dst.1)),
                server,
                client_first,
            ),
            SockTuple::Inet6 { src, dst } => set_inet(
                f,
                FdKind::Ipv6,
                ((src.0.into(), src.1), (dst.0.into(), dst.1)),
                server,
                client_first,
            ),
            SockTuple::Unix { src, dst, path } => {
                let mut name = format!("{src:x}->{dst:x} ");
                name.push_str(&String::from_utf8_lossy(path).replace('\0', "@"));
                f.kind = FdKind::Unix;
                let changed = *f.name != *name;
                if changed {
                    f.name = name.into();
                }
                changed
            }
            SockTuple::Other(_) => false,
        }
    }

    fn on_connect(&mut self, ev: &P<'_, '_>) {
        let tid = i64::from(ev.tid());
        let fd = int(ev, K::Fd);
        self.cur.fd = fd;
        let (Some(fd), Some(res)) = (fd, int(ev, K::Res)) else {
            return;
        };
        if res != 0 && res != -115 {
            return;
        }
        if let Some(Ok(Value::SockTuple(t))) = ev.param(K::Tuple) {
            self.cur.name_changed = self.apply_tuple(tid, fd, t, Some(false), true);
        } else if let Some(Ok(Value::SockAddr(SockAddr::Unix(path)))) = ev.param(K::Addr) {
            if let Some(f) = self.fd_mut(tid, fd) {
                f.name = String::from_utf8_lossy(path).replace('\0', "@").into();
            }
        }
        // libsinsp (without connection-status tracking, Falco's default) counts a connect in
        // progress as connected.
        if let Some(s) = self.fd_mut(tid, fd).and_then(|f| f.sock.as_mut()) {
            s.connected = true;
        }
    }

    fn on_accept(&mut self, ev: &P<'_, '_>) {
        let tid = i64::from(ev.tid());
        let fd = int(ev, K::Fd);
        self.cur.fd = fd;
        let Some(fd) = fd.filter(|&f| f >= 0) else {
            return;
        };
        let mut f = Fd::new(FdKind::Unknown, "");
        f.cloexec = int(ev, K::Flags).is_some_and(|fl| fl & 0o2000000 != 0);
        self.add_fd(tid, fd, f);
        if let Some(Ok(Value::SockTuple(t))) = ev.param(K::Tuple) {
            self.apply_tuple(tid, fd, t, Some(true), true);
        }
        if let Some(s) = self.fd_mut(tid, fd).and_then(|f| f.sock.as_mut()) {
            s.connected = true;
            // Only stream sockets accept (libsinsp records TCP).
            s.l4 = L4::Tcp;
        }
    }

    fn on_bind(&mut self, ev: &P<'_, '_>) {
        let tid = i64::from(ev.tid());
        let fd = int(ev, K::Fd);
        self.cur.fd = fd;
        let (Some(fd), Some(0)) = (fd, int(ev, K::Res)) else {
            return;
        };
        let Some(Ok(Value::SockAddr(a))) = ev.param(K::Addr) else {
            return;
        };
        let Some(f) = self.fd_mut(tid, fd) else {
            return;
        };
        let server: Option<(IpAddr, u16)> = match a {
            SockAddr::Inet(ip, port) => Some((ip.into(), port)),
            SockAddr::Inet6(ip, port) => Some((ip.into(), port)),
            SockAddr::Unix(path) => {
                f.kind = FdKind::Unix;
                f.name = String::from_utf8_lossy(path).replace('\0', "@").into();
                None
            }
            SockAddr::Other(_) => None,
        };
        if let Some(srv) = server {
            let s = f.sock.get_or_insert(Sock::new(L4::Unknown));
            s.server = Some(srv);
            s.is_server = true;
            f.rename_from_sock();
        }
    }

    /// sendto/sendmsg/recvfrom/recvmsg carry the socket's current tuple: an unconnected UDP
    /// socket gets (or changes) its peer this way, and `fd.name_changed` says so.
    fn on_io_tuple(&mut self, ev: &P<'_, '_>) {
        let tid = i64::from(ev.tid());
        let fd = int(ev, K::Fd);
        self.cur.fd = fd;
        let Some(fd) = fd else { return };
        if int(ev, K::Res).is_some_and(|r| r < 0) {
            return;
        }
        // A successful transfer on an IP socket that is not a bound or listening one
        // (libsinsp's server-socket type) marks it connected (parse_read_exit and
        // parse_write_exit test the type before the tuple changes it).
        if let Some(f) = self.fd_mut(tid, fd) {
            if matches!(f.kind, FdKind::Ipv4 | FdKind::Ipv6) {
                if let Some(s) = f.sock.as_mut().filter(|s| !s.is_listening()) {
                    s.connected = true;
                }
            }
        }
        if let Some(Ok(Value::SockTuple(t))) = ev.param(K::Tuple) {
            let Some((f, p)) = self
                .table
                .thread(tid)
                .and_then(|(_, p)| Some((p.fds.get(&fd)?, p)))
            else {
                return;
            };
            // libsinsp takes the tuple of a transfer only for a socket without a name or
            // not known to be TCP: a TCP connection's ends cannot change.
            if !f.name.is_empty() && f.sock.is_some_and(|s| s.l4 == L4::Tcp) {
                return;
            }
            // A bound socket that now talks has no role yet; libsinsp guesses server when
            // the process is bound to the tuple's destination port, client otherwise.
            let server = match f.sock {
                Some(s) if s.is_listening() => {
                    let dport = match t {
                        SockTuple::Inet { dst, .. } => dst.1,
                        SockTuple::Inet6 { dst, .. } => dst.1,
                        _ => 0,
                    };
                    Some(p.fds.values().any(|o| {
                        o.sock.is_some_and(|s| {
                            s.is_listening() && s.server.is_some_and(|e| e.1 == dport)
                        })
                    }))
                }
                s => s.map(|s| s.is_server),
            };
            if matches!(t, SockTuple::Inet { .. } | SockTuple::Inet6 { .. }) {
                self.cur.name_changed = self.apply_tuple(tid, fd, t, server, false);
            }
        }
    }

    /// The user database for a process's root: the host's for host processes, the container's
    /// (through `/proc/<pid>/root`) otherwise. Loaded once per container.
    pub(crate) fn users_for(&self, pid: i64) -> Option<std::cell::Ref<'_, UserDb>> {
        let cid = self.table.procs.get(&pid)?.container_id.clone();
        let (hits, misses) = self.user_cache.get();
        if self.users.borrow().contains_key(&cid) {
            self.user_cache.set((hits + 1, misses));
        } else {
            let root = self.cfg.proc_root.clone()?;
            self.user_cache.set((hits, misses + 1));
            let db = if cid.is_empty() {
                UserDb::load(&self.cfg.host_root)
            } else {
                // A short-lived process may be gone by the time its events are read: its
                // ancestors in the same container see the same root. A process already in
                // the container's cgroup but not yet moved into its root (the runtime's init
                // before pivot_root) still sees the host's files: those are not the
                // container's users, so it is skipped and the lookup tried again later (a
                // container that really runs in the host's root pays two stat calls per
                // lookup, and answers as a container without users would).
                // The host's root through pid 1, or through the agent's own root where pid 1
                // cannot be looked at (a sandbox).
                let host_root = root_identity(&root.join("1/root"))
                    .or_else(|| root_identity(&root.join("self/root")));
                self.same_container_lineage(pid, &cid).find_map(|p| {
                    let proc_root = root.join(format!("{p}/root"));
                    let id = root_identity(&proc_root)?;
                    if Some(id) == host_root {
                        return None;
                    }
                    UserDb::load(&proc_root)
                })
            }?;
            self.users.borrow_mut().insert(cid.clone(), db);
        }
        std::cell::Ref::filter_map(self.users.borrow(), |u| u.get(&cid)).ok()
    }

    /// `pid` and up to 8 of its ancestors, as long as they belong to container `cid`.
    fn same_container_lineage<'s>(
        &'s self,
        pid: i64,
        cid: &'s str,
    ) -> impl Iterator<Item = i64> + 's {
        std::iter::successors(self.table.procs.get(&pid), |p| {
            self.table.procs.get(&p.ppid).filter(|pp| pp.pid != p.pid)
        })
        .take(9)
        .take_while(move |p| &*p.container_id == cid)
        .map(|p| p.pid)
    }

    /// Installs the user database of a container (`""` = host), e.g. for tests or replay.
    pub fn set_users(&mut self, container_id: &str, db: UserDb) {
        self.users.get_mut().insert(container_id.into(), db);
    }

    /// The thread and process tables (read-only), e.g. to write them into a capture file.
    pub fn table(&self) -> &Table {
        &self.table
    }
}

/// Sets an IP socket's endpoints from a tuple. `server` is this end's role (None: keep the
/// current one). Connect and accept tuples are oriented client → server whichever end
/// reports them (the kernel side writes an accepted socket's peer first, as Falco's drivers
/// do: `client_first`), so `fd.name` is `client->server` on both ends, as in libsinsp; the
/// tuples of data transfers are local → remote and placed by the socket's role.
fn set_inet(
    f: &mut Fd,
    kind: FdKind,
    (src, dst): ((IpAddr, u16), (IpAddr, u16)),
    server: Option<bool>,
    client_first: bool,
) -> bool {
    let old = f.name.clone();
    f.kind = kind;
    let s = f.sock.get_or_insert(Sock::new(L4::Unknown));
    if let Some(is_server) = server {
        s.is_server = is_server;
    }
    if client_first || !s.is_server {
        s.client = Some(src);
        s.server = Some(dst);
    } else {
        s.server = Some(src);
        s.client = Some(dst);
    }
    f.rename_from_sock();
    f.name != old
}

/// Puts `f` in `p`'s table unless that would exceed `max` fds; false when it was dropped.
fn insert_fd(p: &mut Process, fd: i64, f: Fd, max: usize) -> bool {
    if p.fds.len() >= max && !p.fds.contains_key(&fd) {
        return false;
    }
    p.fds.insert(fd, f);
    true
}

pub(crate) fn set_container(p: &mut Process) {
    match container::from_cgroups(p.cgroups.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Some(c) => {
            // A child inherits its parent's id: kept shared when it is the same.
            if *p.container_id != *c.full_id {
                p.container_id = c.full_id.into();
            }
            p.container_engine = c.engine;
        }
        None => {
            p.container_id = Arc::default();
            p.container_engine = "";
        }
    }
}

/// The device and inode of the directory a `/proc/<pid>/root` link leads to.
fn root_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_event::raw::Header;

    /// The comparison that lets a clone keep its parent's cgroups agrees with splitting.
    #[test]
    fn same_cgroups_agrees_with_split() {
        let parent = split_cgroups(&procfs::split_nul(b"cpu=/a\0memory=/b/c=d\0", 8192));
        for (raw, same) in [
            (&b"cpu=/a\0memory=/b/c=d\0"[..], true),
            (b"cpu=/a\0memory=/b/c=d", true),
            (b"cpu=/a\0junk\0memory=/b/c=d\0", true),
            (b"cpu=/a\0memory=/b/c=e\0", false),
            (b"cpu=/a\0", false),
            (b"cpu=/a\0memory=/b/c=d\0pids=/\0", false),
            (b"cpu=/a\0memory=/b/c=\xff\0", false),
            (b"", false),
        ] {
            assert_eq!(same_cgroups(raw, &parent), same, "{raw:?}");
            assert_eq!(
                *split_cgroups(&procfs::split_nul(raw, 8192)) == *parent,
                same,
                "{raw:?}"
            );
        }
    }

    /// What `P::int` read before its short paths: the schema's type through `Value`.
    fn int_reference(p: &P<'_, '_>, k: K) -> Option<i64> {
        let i = params::position(&p.row.pos, k)?;
        let bytes = p.bytes(i);
        match Value::decode_i64(p.ev.schema.params.get(i)?.ty, bytes) {
            Some(v) => Some(v),
            None if bytes.is_empty() => None,
            None => p.param(k)?.ok()?.as_i64(),
        }
    }

    fn text_reference<'a>(p: &P<'_, 'a>, k: K) -> Option<&'a [u8]> {
        match p.param(k)? {
            Ok(Value::Str(b)) | Ok(Value::Bytes(b)) => Some(b),
            _ => None,
        }
    }

    /// The short reads (integers, open flags, strings, lists, emptiness) give what the
    /// general decoder gives, and flag malformed values alike, for every key of records of
    /// every handled kind whose parameters take every width and shape in turn.
    #[test]
    fn short_reads_agree_with_the_decoder() {
        let samples: [&[u8]; 11] = [
            &[],
            &[0xfe],
            &[0x34, 0x12],
            &[1, 2, 3],
            &(-13i32).to_le_bytes(),
            &0o2100101u32.to_le_bytes(),
            &(-100i64).to_le_bytes(),
            &0x8000_0000_0002_0042u64.to_le_bytes(),
            b"/etc/passwd\0junk",
            b"-l\0/tmp\0",
            b"caf\xc3\xa9\xff",
        ];
        let kinds = [
            (KIND_SYSCALL, 257),
            (KIND_SYSCALL, 2),
            (KIND_SYSCALL, 59),
            (KIND_SYSCALL, 56),
            (KIND_SYSCALL, 3),
            (KIND_SYSCALL, 33),
            (KIND_SYSCALL, 42),
            (KIND_SYSCALL, 41),
            (KIND_SYSCALL, 72),
            (KIND_SYSCALL, 126),
            (KIND_PROCEXIT, 0),
        ];
        let mut checked = 0;
        for (kind, nr) in kinds {
            let n = peregrine_event::schema::schema_for(kind, nr)
                .expect("schema")
                .params
                .len();
            for shift in 0..samples.len() {
                let params: Vec<&[u8]> = (0..n)
                    .map(|i| samples[(i + shift) % samples.len()])
                    .collect();
                let header = Header {
                    ts_boot_ns: 1,
                    tid: 7,
                    pid: 7,
                    kind,
                    nr,
                    cpu: 0,
                };
                let rec = header.encode(&params);
                let ev = Event::decode(&rec, 0).expect("decodes");
                for &k in params::ALL {
                    let (mut fast, mut slow) = (P::new(&ev), P::new(&ev));
                    fast.split();
                    slow.split();
                    let what = format!("{nr} {k:?} shift {shift}");
                    assert_eq!(fast.int(k), int_reference(&slow, k), "int {what}");
                    assert_eq!(fast.malformed.get(), slow.malformed.get(), "{what}");
                    assert_eq!(fast.text_bytes(k), text_reference(&slow, k), "text {what}");
                    let absent = matches!(slow.param(k), Some(Ok(Value::Absent)));
                    assert_eq!(fast.is_empty(k), absent, "empty {what}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000);
    }
}
