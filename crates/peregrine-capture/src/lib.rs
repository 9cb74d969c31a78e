//! Kernel capture: loads Peregrine's eBPF programs, selects syscalls, drains the ring buffer
//! and reads the kernel's loss counters. This is the only crate with `unsafe` (the ring
//! buffer mapping and a few libc calls), so the rest of the agent is safe Rust.
//!
//! **Loader: libbpf-rs (0.27, bundled libbpf 1.7), not aya.** Both load our clang-built CO-RE
//! object on this kernel. libbpf-rs wins because the kernel side is C compiled by clang, and
//! libbpf is the reference implementation of everything that object uses: CO-RE relocations
//! against the running kernel's BTF, `bpf_loop` callbacks, and prog-array maps initialised
//! declaratively in C (the sys_exit tail calls) — with aya those would be our code to get
//! right. Its cost is a C dependency (libelf, zlib) and a larger binary. We use libbpf-rs for
//! load/attach/maps only and drain the ring ourselves (the `ring` module) to hand records out without
//! copies.
//!
//! Data path: the kernel writes one record per syscall at exit into a per-CPU batch, and ships
//! a batch to the ring as one entry (one reservation, one copy of hot cache lines) when it is
//! full, when its oldest record is 1 ms old, after a process lifecycle record, when a task is
//! switched out (so one thread's records never overtake each other across a migration), or
//! from a CPU-pinned timer 1 ms after its first record; entries are submitted with
//! `BPF_RB_NO_WAKEUP`. [`Capture::poll`] sleeps until the
//! ring is half full or a short timeout passes, then drains everything and splits entries back
//! into records. So there is no wakeup per event, and latency is bounded by the batch age
//! (≈ 1 ms plus timer latency) plus the caller's timeout (a few ms). Selection happens in the kernel (interest map, agent pid excluded), so
//! uncaptured syscalls cost one hook and an array lookup. Arguments are read at exit from the
//! saved user registers; [`Capture::set_stash_at_enter`] switches chosen syscalls to an
//! enter-time stash (and attaches the second hook only while some syscall uses it).
//!
//! Loss accounting is exact: every selected syscall that returns is either delivered or
//! counted in [`Counters`] (ring full, by family; too large; stash failures), and records
//! that fail to decode are counted as malformed and skipped (`tests/live_drops.rs` checks the
//! arithmetic under a storm).
//!
//! **Two lanes.** Process lifecycle (clone, exec, procexit) and the low-rate, high-value
//! syscalls ([`is_priority`]) go to a ring of their own, `pg_prio`, one unbatched entry each;
//! everything else (the file flood) goes through the per-CPU batches into `pg_events`. A
//! storm of file events that fills the bulk ring therefore cannot drop an exec: before, drops
//! were random and the exec of a reverse shell was as likely lost as the millionth close. Each
//! round drains the priority ring first (copying its records out, which frees its space), then
//! the bulk ring up to where it ended before that, handing out a held priority record just
//! before the first bulk record with a later timestamp (records younger than the round wait
//! for the next one): one thread's records reach the consumer in the order it made them, so the
//! state an exec sets up (the process name of later opens) is in place when they arrive. Why
//! this is exact, and its cost, is in `bpf/README.md` ("Lanes") and [`Capture::drain`]. Drops
//! are counted per lane ([`LaneCounters`]); [`Counters`] keeps the totals over both lanes.

mod kill;
mod layout;
mod ring;

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use libbpf_rs::{Link, MapCore, MapFlags, Object, ObjectBuilder};
use peregrine_event::raw::{MAX_SYSCALLS, PROCEXIT_SLOT};
use peregrine_event::schema::DEDICATED;
use peregrine_event::{Event, EventType, EventTypeSet, RecordError};
use thiserror::Error;

pub use kill::{flags as kill_flags, KernelKill, KillCounts, KillFilter, KillHandle, KillSpec};
use ring::RingReader;

static BPF_OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/peregrine.bpf.o"));

/// Programs attached at start; the `pg_exit_*` programs are tail-call targets only, and
/// `pg_sys_enter` is attached only while some syscall asks for enter-time arguments.
const ATTACHED: &[&str] = &[
    "pg_sys_exit",
    "pg_sched_exec",
    "pg_sched_exit",
    "pg_sched_switch",
];
const ENTER_PROG: &str = "pg_sys_enter";

/// Errors of the capture layer; each names the failing operation.
#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("the eBPF capture needs root, or the capabilities CAP_BPF and CAP_PERFMON: {0}")]
    Permission(#[source] libbpf_rs::Error),
    #[error("opening the embedded BPF object: {0}")]
    Open(#[source] libbpf_rs::Error),
    #[error("loading the BPF programs (the verifier log is on stderr): {0}")]
    Load(#[source] libbpf_rs::Error),
    #[error("attaching BPF program {prog}: {source}")]
    Attach {
        prog: &'static str,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("BPF object has no {0}")]
    Missing(&'static str),
    #[error("{op} on map {map}: {source}")]
    Map {
        op: &'static str,
        map: &'static str,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("ring buffer size {0} must be a power of two and at least 4096 bytes")]
    RingSize(u32),
    #[error("mapping the ring buffer: {0}")]
    Mmap(#[source] io::Error),
    #[error("waiting on the ring buffer: {0}")]
    Poll(#[source] io::Error),
    #[error("BPF run statistics: {0}")]
    Stats(#[source] io::Error),
}

/// Syscall families: the unit of per-family drop accounting (`enum pg_family`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    File = 1,
    Net = 2,
    Process = 3,
    Other = 4,
}

impl Family {
    pub const ALL: [Family; 4] = [Family::File, Family::Net, Family::Process, Family::Other];

    /// The family of a syscall, for drop accounting.
    pub fn of(name: &str) -> Family {
        const NET: &[&str] = &[
            "socket",
            "socketpair",
            "connect",
            "bind",
            "listen",
            "accept",
            "accept4",
            "sendto",
            "recvfrom",
            "sendmsg",
            "recvmsg",
            "sendmmsg",
            "recvmmsg",
            "shutdown",
            "getsockopt",
            "setsockopt",
        ];
        const PROCESS: &[&str] = &[
            "clone",
            "clone3",
            "fork",
            "vfork",
            "execve",
            "execveat",
            "procexit",
            "setuid",
            "setgid",
            "setresuid",
            "setresgid",
            "setreuid",
            "setregid",
            "capset",
            "prctl",
            "unshare",
            "setns",
            "ptrace",
            "chdir",
            "fchdir",
        ];
        const OTHER: &[&str] = &[
            "bpf",
            "init_module",
            "finit_module",
            "userfaultfd",
            "mount",
            "umount2",
            "getpid",
            "getppid",
        ];
        if NET.contains(&name) {
            Family::Net
        } else if PROCESS.contains(&name) {
            Family::Process
        } else if OTHER.contains(&name) {
            Family::Other
        } else {
            Family::File
        }
    }
}

/// Syscalls whose records take the priority lane (besides procexit): process lifecycle and
/// identity (the whole [`Family::Process`]), and the low-rate, high-value ones rules alert on
/// — outbound and inbound connections, kernel modules, BPF, mounts, memfds, userfaultfd. A
/// busy server's accept/connect rate shares this lane with execs; the bulk flood never does.
pub fn is_priority(name: &str) -> bool {
    const HIGH_VALUE: &[&str] = &[
        "connect",
        "accept",
        "accept4",
        "bpf",
        "init_module",
        "finit_module",
        "delete_module",
        "mount",
        "umount2",
        "fsmount",
        "move_mount",
        "pivot_root",
        "memfd_create",
        "userfaultfd",
    ];
    Family::of(name) == Family::Process || name == "procexit" || HIGH_VALUE.contains(&name)
}

/// What to capture and how.
#[derive(Clone, Debug)]
pub struct CaptureConfig {
    /// Ring buffer size in bytes (power of two): the bulk lane.
    pub ring_bytes: u32,
    /// Size of the priority lane's ring (power of two, at least 4096), or 0 for one lane:
    /// every record through the bulk ring, as before the lanes (for comparisons).
    pub priority_ring_bytes: u32,
    /// Syscalls selected in the kernel.
    pub syscalls: EventTypeSet,
    /// Emit `procexit` records.
    pub procexit: bool,
    /// Capture only this thread group (tests, `--pid`); `None` = every process.
    pub only_tgid: Option<u32>,
    /// Exclude the agent's own process (always wanted except in self-tests).
    pub exclude_self: bool,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            ring_bytes: 8 << 20,
            // A few thousand exec records (≈ 1–10 KiB each with arguments and environment):
            // far more than a round's worth at thousands of execs a second.
            priority_ring_bytes: 2 << 20,
            syscalls: dedicated_syscalls(),
            procexit: true,
            only_tgid: None,
            exclude_self: true,
        }
    }
}

/// Every syscall with a dedicated parameter writer in the kernel.
pub fn dedicated_syscalls() -> EventTypeSet {
    DEDICATED
        .iter()
        .filter_map(|&nr| EventType::from_syscall_nr(nr as u32))
        .collect()
}

/// Kernel counters summed over CPUs, plus the user-space decode counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Selected syscalls seen returning (for the wanted processes).
    pub syscalls: u64,
    /// Records written to the ring.
    pub events: u64,
    /// Records lost because the ring was full.
    pub drops_ring_full: u64,
    /// The same losses by [`Family`] (index = family as usize; 0 unused).
    pub drops_by_family: [u64; 5],
    /// Records larger than the kernel's record limit, not sent.
    pub drops_too_large: u64,
    /// Parameters left empty because a kernel read failed.
    pub read_failures: u64,
    /// Enter arguments not stored because the per-thread stash was full.
    pub stash_failures: u64,
    /// Exits without stored enter arguments (e.g. capture started mid-syscall).
    pub missing_enter: u64,
    /// Records handed to the consumer (user space).
    pub delivered: u64,
    /// Records skipped because they did not decode (user space).
    pub malformed: u64,
    /// Opens not sent because no rule needs their path ([`Capture::set_shed`]): shed on
    /// purpose, never a drop. Counted in `syscalls`.
    pub shed_open_path: u64,
    /// Closes not sent because their fd's open was shed. Counted in `syscalls`.
    pub shed_close: u64,
}

impl Counters {
    /// Every record the kernel failed to deliver, whatever the cause. (A stash failure shows
    /// up at exit as a missing enter, so it is counted once, there.)
    pub fn drops(&self) -> u64 {
        self.drops_ring_full + self.drops_too_large + self.missing_enter
    }
}

/// Per-lane figures (kernel counters summed over CPUs). [`Counters`] holds the totals over
/// both lanes, so the bulk lane's are the differences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaneCounters {
    /// Records written to the priority ring.
    pub priority_events: u64,
    /// Priority records lost because the priority ring was full.
    pub priority_drops_ring_full: u64,
    /// Bulk records written to the bulk ring.
    pub bulk_events: u64,
    /// Bulk records lost because the bulk ring was full.
    pub bulk_drops_ring_full: u64,
}

/// Priority-lane records copied out of their ring and not yet handed out (see
/// [`Capture::drain`]): one buffer, the records back to back, with their timestamps.
#[derive(Default)]
struct Held {
    bytes: Vec<u8>,
    /// (timestamp, start, end) in `bytes`, in ring order.
    recs: std::collections::VecDeque<(u64, usize, usize)>,
}

impl Held {
    fn push(&mut self, rec: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(rec);
        self.recs.push_back((ts_of(rec), start, self.bytes.len()));
    }

    /// Hands out, in order, the held records with a timestamp below `ts` (all for `u64::MAX`).
    fn release_before(&mut self, ts: u64, f: &mut impl FnMut(&[u8])) {
        while let Some(&(t, a, b)) = self.recs.front() {
            if t >= ts && ts != u64::MAX {
                break;
            }
            self.recs.pop_front();
            f(&self.bytes[a..b]);
        }
        if self.recs.is_empty() {
            self.bytes.clear();
        }
    }
}

/// The kernel timestamp of a raw record (0 if it is too short to have one: handed out first,
/// and the decoder reports it as malformed).
fn ts_of(rec: &[u8]) -> u64 {
    let off = std::mem::offset_of!(layout::pg_record_hdr, ts_boot_ns);
    rec.get(off..off + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

/// A running capture. Dropping it detaches the programs.
pub struct Capture {
    // Field order matters: the readers unmap before the object closes the map fds.
    ring: RingReader,
    /// The priority lane's ring (mapped even with one lane, where it stays empty).
    prio: RingReader,
    held: Held,
    lanes: bool,
    _links: Vec<Link>,
    enter_link: Option<Link>,
    obj: Object,
    kcfg: layout::pg_config,
    syscalls: EventTypeSet,
    procexit: bool,
    stash_at_enter: EventTypeSet,
    boot_to_epoch_ns: u64,
    delivered: u64,
    malformed: u64,
    /// The keys written to the path tries, removed when the paths change.
    shed_keys: ShedPaths,
    /// The current shedding period (`pg_config.shed >> PG_SHED_GEN_SHIFT`, never 0 once on).
    shed_gen: u32,
}

/// fds from this number up keep no shed mark: their open may be shed, their close is sent.
pub const SHED_MAX_FDS: u32 = layout::PG_SHED_MAX_FDS;

/// The opened paths the consumer needs; the kernel may shed opens of any other absolute path
/// (and the closes of their fds). See bpf/README.md, "Shedding".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShedPaths {
    /// Needed path prefixes.
    pub prefixes: Vec<Vec<u8>>,
    /// Needed exact paths.
    pub exact: Vec<Vec<u8>>,
    /// Needed path suffixes.
    pub suffixes: Vec<Vec<u8>>,
}

impl ShedPaths {
    /// The forward trie's keys (exact paths with their NUL) and the reversed trie's.
    fn keys(&self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let window = layout::PG_SHED_WINDOW as usize;
        // A longer atom is cut to the window: a shorter prefix keeps more (sound), and paths
        // that long are never shed anyway.
        let key = |bytes: &[u8]| {
            let n = bytes.len().min(window);
            let mut k = Vec::with_capacity(4 + window);
            k.extend_from_slice(&(8 * n as u32).to_ne_bytes());
            k.extend_from_slice(&bytes[..n]);
            k.resize(4 + window, 0);
            k
        };
        let mut fwd: Vec<Vec<u8>> = self.prefixes.iter().map(|p| key(p)).collect();
        fwd.extend(self.exact.iter().map(|p| {
            let mut b = p.clone();
            b.push(0);
            key(&b)
        }));
        let rev = self
            .suffixes
            .iter()
            .map(|p| key(&p.iter().rev().copied().collect::<Vec<u8>>()))
            .collect();
        (fwd, rev)
    }
}

fn map_err(op: &'static str, map: &'static str) -> impl FnOnce(libbpf_rs::Error) -> CaptureError {
    move |source| CaptureError::Map { op, map, source }
}

fn is_permission(e: &libbpf_rs::Error) -> bool {
    matches!(e.kind(), libbpf_rs::ErrorKind::PermissionDenied)
}

/// The time on `clock`, in ns.
fn now(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CLOCK_REALTIME − CLOCK_BOOTTIME, to turn `bpf_ktime_get_boot_ns` into wall-clock time.
fn boot_to_epoch_ns() -> u64 {
    now(libc::CLOCK_REALTIME).saturating_sub(now(libc::CLOCK_BOOTTIME))
}

impl Capture {
    /// Loads, configures and attaches the programs.
    pub fn open(config: &CaptureConfig) -> Result<Self, CaptureError> {
        let size = config.ring_bytes;
        if !size.is_power_of_two() || size < 4096 {
            return Err(CaptureError::RingSize(size));
        }
        let prio_size = config.priority_ring_bytes;
        if prio_size != 0 && (!prio_size.is_power_of_two() || prio_size < 4096) {
            return Err(CaptureError::RingSize(prio_size));
        }
        let obj = load_object(size, prio_size.max(4096))?;

        let kcfg = layout::pg_config {
            // tgid 0 is the idle task, which makes no syscalls: 0 excludes nobody.
            self_tgid: if config.exclude_self {
                std::process::id()
            } else {
                0
            },
            only_tgid: config.only_tgid.unwrap_or(0),
            batch_bytes: default_batch_bytes(size),
            shed: 0,
        };
        let ring = {
            let events = find_map(&obj, "pg_events")?;
            // The fd stays open as long as `obj`, and the reader is dropped first.
            RingReader::new(events.as_fd(), size as u64).map_err(CaptureError::Mmap)?
        };
        let prio = {
            let m = find_map(&obj, "pg_prio")?;
            // As for the bulk ring.
            RingReader::new(m.as_fd(), prio_size.max(4096) as u64).map_err(CaptureError::Mmap)?
        };
        let mut cap = Capture {
            ring,
            prio,
            held: Held::default(),
            lanes: prio_size != 0,
            enter_link: None,
            kcfg,
            syscalls: config.syscalls,
            procexit: config.procexit,
            stash_at_enter: EventTypeSet::empty(),
            _links: Vec::new(),
            obj,
            boot_to_epoch_ns: boot_to_epoch_ns(),
            delivered: 0,
            malformed: 0,
            shed_keys: ShedPaths::default(),
            shed_gen: 0,
        };
        cap.write_config()?;
        cap.write_interest()?;

        let mut links = Vec::new();
        for prog in cap.obj.progs_mut() {
            let Some(name) = ATTACHED.iter().find(|n| prog.name() == **n) else {
                continue;
            };
            let link = prog
                .attach()
                .map_err(|source| CaptureError::Attach { prog: name, source })?;
            links.push(link);
        }
        if links.len() != ATTACHED.len() {
            return Err(CaptureError::Missing("an expected program"));
        }
        cap._links = links;
        cap.sync_enter_hook()?;
        Ok(cap)
    }

    /// Attaches `pg_sys_enter` while some syscall needs enter-time arguments, detaches it
    /// otherwise.
    fn sync_enter_hook(&mut self) -> Result<(), CaptureError> {
        let needed = !self.stash_at_enter.intersection(&self.syscalls).is_empty();
        if needed && self.enter_link.is_none() {
            let prog = self
                .obj
                .progs_mut()
                .find(|p| p.name() == ENTER_PROG)
                .ok_or(CaptureError::Missing(ENTER_PROG))?;
            let link = prog.attach().map_err(|source| CaptureError::Attach {
                prog: ENTER_PROG,
                source,
            })?;
            self.enter_link = Some(link);
        } else if !needed {
            self.enter_link = None;
        }
        Ok(())
    }

    fn write_config(&mut self) -> Result<(), CaptureError> {
        let cfg = &self.kcfg;
        let map = find_map(&self.obj, "pg_config")?;
        let mut val = Vec::with_capacity(size_of::<layout::pg_config>());
        val.extend_from_slice(&cfg.self_tgid.to_ne_bytes());
        val.extend_from_slice(&cfg.only_tgid.to_ne_bytes());
        val.extend_from_slice(&cfg.batch_bytes.to_ne_bytes());
        val.extend_from_slice(&cfg.shed.to_ne_bytes());
        map.update(&0u32.to_ne_bytes(), &val, MapFlags::ANY)
            .map_err(map_err("update", "pg_config"))
    }

    /// Sets how many bytes of records a CPU collects before shipping them to the ring as one
    /// entry (capped at the kernel's batch size, 4 KiB); 0 sends every record on its own (the
    /// unbatched path, for comparisons). The default is an eighth of the ring, at most 4 KiB,
    /// so that a small ring still holds several batches.
    pub fn set_batch_bytes(&mut self, bytes: u32) -> Result<(), CaptureError> {
        self.kcfg.batch_bytes = bytes.min(layout::PG_BATCH_MAX);
        self.write_config()
    }

    /// Turns shedding on with the paths the consumer needs, or off (`None`). While it is
    /// being changed the kernel sheds nothing (off first, then the tries, then on).
    pub fn set_shed(&mut self, paths: Option<&ShedPaths>) -> Result<(), CaptureError> {
        let was_on = self.kcfg.shed != 0;
        self.kcfg.shed = 0;
        self.write_config()?;
        let Some(paths) = paths else {
            return Ok(());
        };
        if !was_on {
            // While shedding was off, closes and new fds did not consume or forget marks:
            // the marks left from an earlier period are stale. A new period makes the kernel
            // ignore them (and start a process's marks over at its next shed open).
            self.shed_gen = (self.shed_gen + 1) & (u32::MAX >> layout::PG_SHED_GEN_SHIFT);
            if self.shed_gen == 0 {
                self.shed_gen = 1;
            }
        }
        let (old_f, old_r) = self.shed_keys.keys();
        let (fwd, rev) = paths.keys();
        for (name, old, new) in [
            ("pg_shed_prefix", old_f, fwd),
            ("pg_shed_suffix", old_r, rev),
        ] {
            let map = find_map(&self.obj, name)?;
            for k in &old {
                // Already absent is fine: only presence matters.
                let _ = map.delete(k);
            }
            for k in &new {
                map.update(k, &[1], MapFlags::ANY)
                    .map_err(map_err("update", name))?;
            }
        }
        self.shed_keys = paths.clone();
        // The kernel reverses only as many bytes of a path as the longest suffix has (a
        // longer one is cut to the window, which only keeps more).
        let suffix_window = paths
            .suffixes
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .min(255);
        self.kcfg.shed = layout::PG_SHED_PATHS
            | (suffix_window as u32) << layout::PG_SHED_SUFFIX_SHIFT
            | self.shed_gen << layout::PG_SHED_GEN_SHIFT;
        self.write_config()
    }

    /// Restricts capture to one thread group (`None` = all), keeping the agent excluded.
    pub fn set_only_tgid(&mut self, tgid: Option<u32>) -> Result<(), CaptureError> {
        self.kcfg.only_tgid = tgid.unwrap_or(0);
        self.write_config()
    }

    /// Replaces the kernel's syscall selection (`base_syscalls` semantics are the caller's).
    pub fn set_interest(
        &mut self,
        syscalls: &EventTypeSet,
        procexit: bool,
    ) -> Result<(), CaptureError> {
        self.syscalls = *syscalls;
        self.procexit = procexit;
        self.write_interest()?;
        self.sync_enter_hook()
    }

    /// Chooses which syscalls stash their arguments at sys_enter rather than reading them
    /// from the saved registers at exit. None by default: a non-empty set attaches a second
    /// hook that every syscall on the host pays for.
    pub fn set_stash_at_enter(&mut self, syscalls: &EventTypeSet) -> Result<(), CaptureError> {
        self.stash_at_enter = *syscalls;
        self.write_interest()?;
        self.sync_enter_hook()
    }

    fn write_interest(&mut self) -> Result<(), CaptureError> {
        let map = find_map(&self.obj, "pg_interest")?;
        for nr in 0..MAX_SYSCALLS as u32 {
            let prio = |name: &str| {
                if self.lanes && is_priority(name) {
                    layout::PG_INTEREST_PRIO as u8
                } else {
                    0
                }
            };
            let value = if nr as usize == PROCEXIT_SLOT {
                if self.procexit {
                    Family::Process as u8 | prio("procexit")
                } else {
                    0
                }
            } else {
                match EventType::from_syscall_nr(nr) {
                    Some(t) if self.syscalls.contains(t) => {
                        let at_enter = if self.stash_at_enter.contains(t) {
                            layout::PG_INTEREST_AT_ENTER as u8
                        } else {
                            0
                        };
                        Family::of(t.name()) as u8 | at_enter | prio(t.name())
                    }
                    _ => 0,
                }
            };
            map.update(&nr.to_ne_bytes(), &[value], MapFlags::ANY)
                .map_err(map_err("update", "pg_interest"))?;
        }
        Ok(())
    }

    /// One round over both lanes, handing raw records to `f` in per-thread order.
    ///
    /// 1. Note the time `t0` (CLOCK_BOOTTIME, the kernel's record clock), then the bulk
    ///    ring's producer position `B`.
    /// 2. Drain the priority ring (everything committed by now, so everything committed
    ///    before `B`), copying its records out (`held`), which frees its space at once.
    /// 3. Drain the bulk ring up to `B`; a held record is handed out just before the first
    ///    bulk record with a later timestamp.
    /// 4. If that drain reached `B` (it stops early at a record still being written), hand
    ///    out the held records older than `t0`; younger ones wait for the next round.
    ///
    /// Why one thread's order holds. The kernel ships a CPU's batch before it takes a
    /// priority record's timestamp `p`, so a thread's earlier bulk records were committed
    /// before `p`. (a) A bulk record ahead of them in the ring was committed earlier still,
    /// so its timestamp is below `p` and releases nothing too early. (b) If the priority
    /// record goes out in step 3, some bulk record in this round has a later timestamp, so it
    /// was committed after `p`, behind the thread's earlier records, which are then in this
    /// round too. (c) If it goes out in step 4, `p < t0`: the earlier records were committed
    /// before `B` and are in this round. (d) A later bulk record of the thread has a later
    /// timestamp and was committed after the priority record; if it is in this round, it was
    /// committed before `B`, so the priority record was drained in step 2 and goes out first.
    /// Across threads the merge is by timestamp only as far as the bulk ring's own order
    /// allows (it is per CPU, not global), which is all the state needs.
    fn drain_records(&mut self, mut f: impl FnMut(&[u8])) {
        let t0 = now(libc::CLOCK_BOOTTIME);
        let bulk_end = self.ring.producer();
        let held = &mut self.held;
        self.prio
            .drain(|entry| records(entry).for_each(|rec| held.push(rec)));
        let (_, complete) = self.ring.drain_to(bulk_end, |entry| {
            for rec in records(entry) {
                if !held.recs.is_empty() {
                    held.release_before(ts_of(rec), &mut f);
                }
                f(rec);
            }
        });
        if complete {
            held.release_before(t0, &mut f);
        }
    }

    /// Hands every pending record to `f` as a decoded event, without blocking, the two lanes
    /// merged as [`Capture::drain_records`] describes. Records that do not decode are counted
    /// ([`Counters::malformed`]) and skipped.
    pub fn drain(&mut self, mut f: impl FnMut(&Event<'_>)) -> usize {
        let offset = self.boot_to_epoch_ns;
        let (mut ok, mut bad) = (0u64, 0u64);
        self.drain_records(|rec| match Event::decode(rec, offset) {
            Ok(ev) => {
                ok += 1;
                f(&ev)
            }
            Err(_) => bad += 1,
        });
        self.delivered += ok;
        self.malformed += bad;
        ok as usize
    }

    /// Like [`Capture::drain`] but hands out raw records and decode errors (for tools and
    /// tests that want to see malformed records).
    pub fn drain_raw(&mut self, mut f: impl FnMut(&[u8], Option<&RecordError>)) -> usize {
        let offset = self.boot_to_epoch_ns;
        let mut n = 0;
        self.drain_records(|rec| {
            let err = Event::decode(rec, offset).err();
            f(rec, err.as_ref());
            n += 1;
        });
        n
    }

    /// Whether either lane holds records not yet handed out.
    fn pending(&self) -> bool {
        self.ring.pending() || self.prio.pending() || !self.held.recs.is_empty()
    }

    /// Waits until either ring signals data or `timeout` passes.
    fn wait(&self, timeout: Duration) -> Result<(), CaptureError> {
        if self.pending() {
            return Ok(());
        }
        ring::wait_any(&[&self.ring, &self.prio], timeout).map_err(CaptureError::Poll)
    }

    /// Waits up to `timeout` for the kernel to signal a half-full ring, then drains. This is
    /// the low-latency loop: call it with a few milliseconds.
    pub fn poll(
        &mut self,
        timeout: Duration,
        f: impl FnMut(&Event<'_>),
    ) -> Result<usize, CaptureError> {
        self.wait(timeout)?;
        Ok(self.drain(f))
    }

    /// Records the kernel holds in per-CPU batches, not yet in the ring nor counted as lost
    /// (summed over CPUs). Each is shipped within about [`BATCH_AGE`] (by its CPU's timer), so
    /// a caller that wants everything up to now polls until this is 0 and then drains once.
    pub fn batched(&self) -> Result<u64, CaptureError> {
        let off = std::mem::offset_of!(layout::pg_counters, batched);
        // Per-CPU values can go "negative" if a timer ever ran on another CPU; the sum cannot.
        Ok(self
            .kernel_counters()?
            .iter()
            .fold(0u64, |sum, v| sum.wrapping_add(u64_at(v, off))))
    }

    /// The raw `pg_counters` value of each CPU.
    fn kernel_counters(&self) -> Result<Vec<Vec<u8>>, CaptureError> {
        let map = find_map(&self.obj, "pg_counters")?;
        Ok(map
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(map_err("lookup", "pg_counters"))?
            .unwrap_or_default())
    }

    /// Drains until the kernel holds no batched record and the ring is empty, or `timeout`
    /// passes; returns the number of events handed to `f`. For tests and benchmarks that
    /// need every record of a finished workload.
    pub fn drain_all(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(&Event<'_>),
    ) -> Result<usize, CaptureError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut n = 0;
        loop {
            let settled = self.batched()? == 0;
            n += self.drain(&mut f);
            if (settled && !self.pending()) || std::time::Instant::now() >= deadline {
                return Ok(n);
            }
            self.wait(Duration::from_millis(2))?;
        }
    }

    /// The per-lane figures, kernel counters summed over CPUs.
    pub fn lane_counters(&self) -> Result<LaneCounters, CaptureError> {
        Ok(self.counters_and_lanes()?.1)
    }

    /// Current counters, kernel ones summed over CPUs.
    pub fn counters(&self) -> Result<Counters, CaptureError> {
        Ok(self.counters_and_lanes()?.0)
    }

    /// [`Capture::counters`] and [`Capture::lane_counters`] from one read of the kernel's
    /// counters, so that the lanes add up to the totals while records keep arriving.
    pub fn counters_and_lanes(&self) -> Result<(Counters, LaneCounters), CaptureError> {
        use layout::pg_counters as K;
        use std::mem::offset_of;
        let mut c = Counters::default();
        let mut l = LaneCounters::default();
        for v in self.kernel_counters()? {
            let f = |field: usize| u64_at(&v, field);
            c.syscalls += f(offset_of!(K, syscalls));
            c.events += f(offset_of!(K, events));
            c.drops_ring_full += f(offset_of!(K, drops_ring_full));
            for (i, d) in c.drops_by_family.iter_mut().enumerate() {
                *d += f(offset_of!(K, drops_family) + 8 * i);
            }
            c.drops_too_large += f(offset_of!(K, drops_too_large));
            c.read_failures += f(offset_of!(K, read_failures));
            c.stash_failures += f(offset_of!(K, stash_failures));
            c.missing_enter += f(offset_of!(K, missing_enter));
            c.shed_open_path += f(offset_of!(K, shed_open_path));
            c.shed_close += f(offset_of!(K, shed_close));
            l.priority_events += f(offset_of!(K, prio_events));
            l.priority_drops_ring_full += f(offset_of!(K, prio_drops_ring_full));
        }
        c.delivered = self.delivered;
        c.malformed = self.malformed;
        l.bulk_events = c.events.saturating_sub(l.priority_events);
        l.bulk_drops_ring_full = c.drops_ring_full.saturating_sub(l.priority_drops_ring_full);
        Ok((c, l))
    }

    /// The kernel counters of each CPU (index = CPU), for the console's drops by cause per
    /// CPU; the user-space fields (`delivered`, `malformed`) are left 0.
    pub fn per_cpu_counters(&self) -> Result<Vec<Counters>, CaptureError> {
        use layout::pg_counters as K;
        use std::mem::offset_of;
        Ok(self
            .kernel_counters()?
            .iter()
            .map(|v| {
                let f = |field: usize| u64_at(v, field);
                let mut c = Counters {
                    syscalls: f(offset_of!(K, syscalls)),
                    events: f(offset_of!(K, events)),
                    drops_ring_full: f(offset_of!(K, drops_ring_full)),
                    drops_too_large: f(offset_of!(K, drops_too_large)),
                    read_failures: f(offset_of!(K, read_failures)),
                    stash_failures: f(offset_of!(K, stash_failures)),
                    missing_enter: f(offset_of!(K, missing_enter)),
                    shed_open_path: f(offset_of!(K, shed_open_path)),
                    shed_close: f(offset_of!(K, shed_close)),
                    ..Counters::default()
                };
                for (i, d) in c.drops_by_family.iter_mut().enumerate() {
                    *d = f(offset_of!(K, drops_family) + 8 * i);
                }
                c
            })
            .collect())
    }

    /// Run statistics of the sys_exit dispatcher, its tail calls included.
    pub fn run_stats(&self) -> Result<RunStats, CaptureError> {
        run_stats(&self.obj, "pg_sys_exit")
    }

    /// The offset added to kernel timestamps to get ns since the epoch.
    pub fn boot_to_epoch_ns(&self) -> u64 {
        self.boot_to_epoch_ns
    }
}

/// The native-endian u64 at byte `off` of a kernel counters value, 0 if out of range.
fn u64_at(v: &[u8], off: usize) -> u64 {
    v.get(off..off + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

/// How long a record may wait in its CPU's batch before the batch is shipped to the ring
/// (the kernel's `PG_BATCH_AGE_NS`; the timer adds its own latency on a busy CPU).
pub const BATCH_AGE: Duration = Duration::from_nanos(layout::PG_BATCH_AGE_NS as u64);

/// An eighth of the ring, at most the kernel's batch size: a small ring still holds several
/// batches, so one being shipped does not find the ring full because of another.
fn default_batch_bytes(ring_bytes: u32) -> u32 {
    (ring_bytes / 8).min(layout::PG_BATCH_MAX)
}

/// The records of one ring entry (a batch): each starts at the previous one's length rounded up
/// to 8. A length that does not fit ends the walk with the rest handed out as one record, so
/// that the decoder reports it as malformed instead of it vanishing.
fn records(entry: &[u8]) -> impl Iterator<Item = &[u8]> {
    let off_len = std::mem::offset_of!(layout::pg_record_hdr, len);
    let mut rest = entry;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = rest
            .get(off_len..off_len + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes) as usize;
        if len < size_of::<layout::pg_record_hdr>() || len > rest.len() {
            // Malformed: hand the remainder to the decoder once and stop.
            let rec = rest;
            rest = &[];
            return Some(rec);
        }
        let (rec, tail) = rest.split_at(len);
        // The padding to the next record; the last record of an entry may have none.
        rest = tail.get(len.next_multiple_of(8) - len..).unwrap_or(&[]);
        Some(rec)
    })
}

/// Sends libbpf's own messages to the `log` facade at debug level (trace for its debug
/// chatter) instead of stderr: what they say about a failure is in the error returned (the
/// verifier log, the errno), and without privileges libbpf would otherwise print two lines of
/// RLIMIT_MEMLOCK and CONFIG_BPF_SYSCALL advice that are beside the point.
fn route_libbpf_messages() {
    fn forward(level: libbpf_rs::PrintLevel, msg: String) {
        let msg = msg.trim_end();
        match level {
            libbpf_rs::PrintLevel::Debug => log::trace!("libbpf: {msg}"),
            _ => log::debug!("libbpf: {msg}"),
        }
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Debug, forward)));
    });
}

/// Opens the embedded object, sizes the rings and the per-CPU scratch, and loads (verifies)
/// every program.
fn load_object(ring_bytes: u32, prio_bytes: u32) -> Result<Object, CaptureError> {
    route_libbpf_messages();
    let mut open = ObjectBuilder::default()
        .open_memory(BPF_OBJECT)
        .map_err(CaptureError::Open)?;
    let cpus = libbpf_rs::num_possible_cpus().map_err(CaptureError::Open)? as u32;
    for mut m in open.maps_mut() {
        let r = match m.name().to_str() {
            Some("pg_events") => m.set_max_entries(ring_bytes),
            Some("pg_prio") => m.set_max_entries(prio_bytes),
            Some("pg_scratch") | Some("pg_batch") => m.set_max_entries(cpus.max(1)),
            _ => Ok(()),
        };
        r.map_err(CaptureError::Open)?;
    }
    open.load().map_err(|e| {
        if is_permission(&e) {
            CaptureError::Permission(e)
        } else {
            CaptureError::Load(e)
        }
    })
}

/// How often and how long a BPF program ran (tail-called programs count in their caller).
/// The kernel accounts this only while statistics are enabled ([`enable_run_stats`] or
/// `sysctl kernel.bpf_stats_enabled=1`), and the accounting itself costs two clock reads per
/// run; compare deltas, not totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    pub run_time_ns: u64,
    pub run_cnt: u64,
}

fn run_stats(obj: &Object, name: &'static str) -> Result<RunStats, CaptureError> {
    let prog = obj
        .progs()
        .find(|p| p.name() == name)
        .ok_or(CaptureError::Missing(name))?;
    let mut info = libbpf_rs::libbpf_sys::bpf_prog_info::default();
    let mut len = size_of::<libbpf_rs::libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: a valid program fd and an info buffer of the size passed.
    let r = unsafe {
        libbpf_rs::libbpf_sys::bpf_prog_get_info_by_fd(
            prog.as_fd().as_raw_fd(),
            &mut info,
            &mut len,
        )
    };
    if r != 0 {
        return Err(CaptureError::Stats(io::Error::from_raw_os_error(-r)));
    }
    Ok(RunStats {
        run_time_ns: info.run_time_ns,
        run_cnt: info.run_cnt,
    })
}

/// Turns on the kernel's BPF run-time statistics until the returned fd is closed
/// (`BPF_ENABLE_STATS`; the system-wide sysctl is left alone).
pub fn enable_run_stats() -> Result<OwnedFd, CaptureError> {
    // SAFETY: plain syscall wrapper; a non-negative result is a new fd that we own.
    let fd = unsafe {
        libbpf_rs::libbpf_sys::bpf_enable_stats(libbpf_rs::libbpf_sys::BPF_STATS_RUN_TIME)
    };
    if fd < 0 {
        return Err(CaptureError::Stats(io::Error::from_raw_os_error(-fd)));
    }
    // SAFETY: fd was just returned to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An empty `tp_btf/sys_exit` program attached on its own: the cost floor that any syscall
/// exit hook pays, so benchmarks can measure it in the same run as the real programs.
pub struct EmptyHook {
    _link: Link,
    obj: Object,
}

impl EmptyHook {
    const PROG: &'static str = "pg_hook_only";

    pub fn attach() -> Result<Self, CaptureError> {
        let obj = load_object(4096, 4096)?;
        let prog = obj
            .progs_mut()
            .find(|p| p.name() == Self::PROG)
            .ok_or(CaptureError::Missing(Self::PROG))?;
        let link = prog.attach().map_err(|source| CaptureError::Attach {
            prog: Self::PROG,
            source,
        })?;
        Ok(EmptyHook { _link: link, obj })
    }

    /// Run statistics of the empty program.
    pub fn run_stats(&self) -> Result<RunStats, CaptureError> {
        run_stats(&self.obj, Self::PROG)
    }
}

fn find_map<'o>(obj: &'o Object, name: &'static str) -> Result<libbpf_rs::Map<'o>, CaptureError> {
    obj.maps()
        .find(|m| m.name() == name)
        .ok_or(CaptureError::Missing(name))
}

/// Whether this process can load BPF programs (tests skip with a message when not).
pub fn have_bpf_privileges() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of `len` bytes (header included) whose bytes after the header are `fill`.
    fn rec(len: usize, fill: u8) -> Vec<u8> {
        let mut r = vec![fill; len];
        let off = std::mem::offset_of!(layout::pg_record_hdr, len);
        r[off..off + 4].copy_from_slice(&(len as u32).to_le_bytes());
        r
    }

    /// A batch entry: the records, each padded to 8 bytes except (when `pad_last` is false)
    /// the last, as a single unbatched record comes out of the ring.
    fn entry(recs: &[Vec<u8>], pad_last: bool) -> Vec<u8> {
        let mut e = Vec::new();
        for (i, r) in recs.iter().enumerate() {
            e.extend_from_slice(r);
            if pad_last || i + 1 < recs.len() {
                e.resize(e.len().next_multiple_of(8), 0xee);
            }
        }
        e
    }

    #[test]
    fn batch_entries_split_into_their_records() {
        let a = rec(50, 1); // padded by 6
        let b = rec(64, 2); // already aligned
        let c = rec(37, 3);
        for (recs, pad_last) in [
            (vec![a.clone()], false),
            (vec![a.clone()], true),
            (vec![a.clone(), b.clone(), c.clone()], true),
            (vec![c.clone(), a.clone(), b.clone()], false),
            (vec![c.clone(), c.clone()], false),
        ] {
            let e = entry(&recs, pad_last);
            let got: Vec<&[u8]> = records(&e).collect();
            let want: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
            assert_eq!(got, want, "pad_last={pad_last}");
        }
    }

    #[test]
    fn a_bad_length_hands_the_rest_to_the_decoder_once() {
        let a = rec(40, 1);
        for bad_len in [0u32, 31, 1000] {
            let mut bad = rec(40, 2);
            let off = std::mem::offset_of!(layout::pg_record_hdr, len);
            bad[off..off + 4].copy_from_slice(&bad_len.to_le_bytes());
            let e = entry(&[a.clone(), bad.clone(), a.clone()], true);
            let got: Vec<&[u8]> = records(&e).collect();
            assert_eq!(got.len(), 2, "len {bad_len}");
            assert_eq!(got[0], &a[..]);
            assert_eq!(got[1], &e[40..], "len {bad_len}");
            assert!(Event::decode(got[1], 0).is_err(), "len {bad_len}");
        }
        // A truncated header alone.
        assert_eq!(records(&[7u8; 5]).collect::<Vec<_>>(), vec![&[7u8; 5][..]]);
        assert_eq!(records(&[]).count(), 0);
    }

    /// A record of `len` bytes with timestamp `ts` and fill byte `tag`.
    fn stamped(ts: u64, tag: u8) -> Vec<u8> {
        let mut r = rec(40, tag);
        let off = std::mem::offset_of!(layout::pg_record_hdr, ts_boot_ns);
        r[off..off + 8].copy_from_slice(&ts.to_ne_bytes());
        r
    }

    #[test]
    fn held_priority_records_go_out_before_the_first_later_bulk_record() {
        let mut held = Held::default();
        for (ts, tag) in [(10, b'a'), (20, b'b'), (30, b'c')] {
            held.push(&stamped(ts, tag));
        }
        let out = std::cell::RefCell::new(Vec::new());
        let mut f = |r: &[u8]| out.borrow_mut().push(r[r.len() - 1]);
        // Bulk records at 5 and 15: 'a' (10) goes out before the one at 15, not before 5.
        held.release_before(5, &mut f);
        f(&stamped(5, b'1'));
        held.release_before(15, &mut f);
        f(&stamped(15, b'2'));
        // Equal timestamps: the bulk record first (the priority one was written after the
        // flush, so it cannot precede a bulk record of the same instant on its CPU).
        held.release_before(20, &mut f);
        f(&stamped(20, b'3'));
        assert_eq!(*out.borrow(), b"1a23");
        assert_eq!(held.recs.len(), 2);
        // End of a complete round: the rest, in order; the buffer is reused.
        held.release_before(u64::MAX, &mut f);
        assert_eq!(*out.borrow(), b"1a23bc");
        assert!(held.recs.is_empty() && held.bytes.is_empty());
    }

    #[test]
    fn lanes_by_syscall() {
        for (name, prio) in [
            ("execve", true),
            ("clone3", true),
            ("procexit", true),
            ("setuid", true),
            ("connect", true),
            ("finit_module", true),
            ("openat", false),
            ("close", false),
            ("read", false),
            ("getppid", false),
        ] {
            assert_eq!(is_priority(name), prio, "{name}");
        }
    }

    #[test]
    fn families() {
        for (name, fam) in [
            ("openat", Family::File),
            ("connect", Family::Net),
            ("execve", Family::Process),
            ("init_module", Family::Other),
            ("unlinkat", Family::File),
        ] {
            assert_eq!(Family::of(name), fam, "{name}");
        }
    }

    #[test]
    fn default_selection_covers_the_rules_event_types() {
        let set = dedicated_syscalls();
        for name in [
            "openat",
            "execve",
            "connect",
            "ptrace",
            "setns",
            "userfaultfd",
        ] {
            let t = EventType::from_name(name).expect("known");
            assert!(set.contains(t), "{name}");
        }
        assert!(!set.contains(EventType::from_name("getppid").expect("known")));
    }

    #[test]
    fn rejects_bad_ring_sizes_before_touching_the_kernel() {
        for size in [0, 1000, 4095, 6000] {
            let cfg = CaptureConfig {
                ring_bytes: size,
                ..CaptureConfig::default()
            };
            assert!(
                matches!(Capture::open(&cfg), Err(CaptureError::RingSize(s)) if s == size),
                "{size}"
            );
        }
    }
}
