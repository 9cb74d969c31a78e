//! Typed contents of a capture's metadata blocks and its events.
//!
//! One set of types serves the reader and the writer, so "read → write → read" is an equality
//! test on these values. Strings the kernel hands over (comm, paths, names) are kept as lossy
//! UTF-8 `String`s because every consumer (fields, outputs) wants text; NUL-separated lists
//! (args, env, cgroups) keep their raw bytes in [`NulList`] so nothing is lost or re-split.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Version of the section header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub major: u16,
    pub minor: u16,
    /// Raw pcapng options after the fixed header (skipped by libscap; kept for inspection).
    pub options: Vec<u8>,
}

/// The machine-info block (`scap_machine_info`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MachineInfo {
    pub num_cpus: u32,
    pub memory_size_bytes: u64,
    pub max_pid: u64,
    pub hostname: String,
    pub boot_ts_epoch: u64,
    pub flags: u64,
    pub reserved3: u64,
    pub reserved4: u64,
}

/// One network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interface {
    V4 {
        name: String,
        addr: Ipv4Addr,
        netmask: Ipv4Addr,
        bcast: Ipv4Addr,
        /// `None` for the `*_NOLINKSPEED` entry types.
        linkspeed: Option<u64>,
    },
    V6 {
        name: String,
        addr: Ipv6Addr,
        netmask: Ipv6Addr,
        bcast: Ipv6Addr,
        linkspeed: Option<u64>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub homedir: String,
    pub shell: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub gid: u32,
    pub name: String,
}

/// A NUL-separated list as stored on disk (`a\0b\0`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NulList(pub Vec<u8>);

impl NulList {
    /// Builds a list with every item NUL-terminated, as the kernel and libscap write them.
    pub fn from_items<I: IntoIterator<Item = S>, S: AsRef<[u8]>>(items: I) -> Self {
        let mut v = Vec::new();
        for i in items {
            v.extend_from_slice(i.as_ref());
            v.push(0);
        }
        NulList(v)
    }

    /// The items; a missing final terminator still yields the last item.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let body = self.0.strip_suffix(b"\0").unwrap_or(&self.0);
        let empty = self.0.is_empty();
        body.split(|&b| b == 0).filter(move |_| !empty)
    }

    /// The items as lossy UTF-8.
    pub fn strings(&self) -> Vec<String> {
        self.iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }
}

/// One thread of the process list (every field of PL_V1…PL_V9; absent fields keep libscap's
/// defaults: 0, empty, `loginuid = u32::MAX`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadInfo {
    pub tid: u64,
    pub pid: u64,
    pub ptid: u64,
    pub sid: u64,
    pub vpgid: u64,
    pub comm: String,
    pub exe: String,
    pub exepath: String,
    /// argv[1..].
    pub args: NulList,
    pub cwd: String,
    pub fdlimit: u64,
    /// `PPM_CL_*` thread flags.
    pub flags: u32,
    pub uid: u32,
    pub gid: u32,
    pub vmsize_kb: u32,
    pub vmrss_kb: u32,
    pub vmswap_kb: u32,
    pub pfmajor: u64,
    pub pfminor: u64,
    pub env: NulList,
    pub vtid: i64,
    pub vpid: i64,
    /// `subsys=path` items.
    pub cgroups: NulList,
    pub root: String,
    pub pidns_init_start_ts: u64,
    pub tty: u32,
    pub loginuid: u32,
    pub exe_writable: bool,
    pub cap_inheritable: u64,
    pub cap_permitted: u64,
    pub cap_effective: u64,
    pub exe_upper_layer: bool,
    pub exe_ino: u64,
    pub exe_ino_ctime: u64,
    pub exe_ino_mtime: u64,
    pub exe_from_memfd: bool,
    pub exe_lower_layer: bool,
    pub pgid: i64,
    /// The thread's fd table, from its FDL block (empty if it had none).
    pub fds: Vec<FdInfo>,
}

impl ThreadInfo {
    /// A thread with libscap's defaults for every field but the ids.
    pub fn new(tid: u64, pid: u64, ptid: u64) -> Self {
        ThreadInfo {
            tid,
            pid,
            ptid,
            sid: 0,
            vpgid: 0,
            comm: String::new(),
            exe: String::new(),
            exepath: String::new(),
            args: NulList::default(),
            cwd: String::new(),
            fdlimit: 0,
            flags: 0,
            uid: 0,
            gid: 0,
            vmsize_kb: 0,
            vmrss_kb: 0,
            vmswap_kb: 0,
            pfmajor: 0,
            pfminor: 0,
            env: NulList::default(),
            vtid: 0,
            vpid: 0,
            cgroups: NulList::default(),
            root: String::new(),
            pidns_init_start_ts: 0,
            tty: 0,
            loginuid: u32::MAX,
            exe_writable: false,
            cap_inheritable: 0,
            cap_permitted: 0,
            cap_effective: 0,
            exe_upper_layer: false,
            exe_ino: 0,
            exe_ino_ctime: 0,
            exe_ino_mtime: 0,
            exe_from_memfd: false,
            exe_lower_layer: false,
            pgid: 0,
            fds: Vec::new(),
        }
    }
}

/// `scap_fd_type` values.
pub mod fd_type {
    pub const FILE: u8 = 1;
    pub const DIRECTORY: u8 = 2;
    pub const IPV4_SOCK: u8 = 3;
    pub const IPV6_SOCK: u8 = 4;
    pub const IPV4_SERVSOCK: u8 = 5;
    pub const IPV6_SERVSOCK: u8 = 6;
    pub const FIFO: u8 = 7;
    pub const UNIX_SOCK: u8 = 8;
    pub const EVENT: u8 = 9;
    pub const UNSUPPORTED: u8 = 10;
    pub const SIGNALFD: u8 = 11;
    pub const EVENTPOLL: u8 = 12;
    pub const INOTIFY: u8 = 13;
    pub const TIMERFD: u8 = 14;
    pub const NETLINK: u8 = 15;
    pub const FILE_V2: u8 = 16;
    pub const BPF: u8 = 17;
    pub const USERFAULTFD: u8 = 18;
    pub const IOURING: u8 = 19;
    pub const MEMFD: u8 = 20;
    pub const PIDFD: u8 = 21;

    /// Types whose payload is only a name.
    pub fn is_named(t: u8) -> bool {
        matches!(t, FILE | DIRECTORY | FIFO | EVENT..=NETLINK | BPF..=PIDFD)
    }
}

/// One entry of a thread's fd table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdInfo {
    pub fd: i64,
    pub ino: u64,
    pub kind: FdKind,
}

/// What an fd refers to. Addresses are as on disk (network order); ports are host order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FdKind {
    Ipv4Socket {
        sip: Ipv4Addr,
        dip: Ipv4Addr,
        sport: u16,
        dport: u16,
        l4proto: u8,
    },
    Ipv4Server {
        ip: Ipv4Addr,
        port: u16,
        l4proto: u8,
    },
    Ipv6Socket {
        sip: Ipv6Addr,
        dip: Ipv6Addr,
        sport: u16,
        dport: u16,
        l4proto: u8,
    },
    Ipv6Server {
        ip: Ipv6Addr,
        port: u16,
        l4proto: u8,
    },
    Unix {
        source: u64,
        destination: u64,
        path: String,
    },
    /// `SCAP_FD_FILE_V2`: a regular file with its open flags.
    File {
        open_flags: u32,
        name: String,
        dev: Option<u32>,
    },
    /// Every other type: a `scap_fd_type` and a name. Unknown type values read as
    /// `UNSUPPORTED` named `unknown-type:[N]`, as libscap does.
    Named { fd_type: u8, name: String },
}

impl FdKind {
    /// The `scap_fd_type` value written for this kind.
    pub fn fd_type(&self) -> u8 {
        match self {
            FdKind::Ipv4Socket { .. } => fd_type::IPV4_SOCK,
            FdKind::Ipv4Server { .. } => fd_type::IPV4_SERVSOCK,
            FdKind::Ipv6Socket { .. } => fd_type::IPV6_SOCK,
            FdKind::Ipv6Server { .. } => fd_type::IPV6_SERVSOCK,
            FdKind::Unix { .. } => fd_type::UNIX_SOCK,
            FdKind::File { .. } => fd_type::FILE_V2,
            FdKind::Named { fd_type, .. } => *fd_type,
        }
    }

    /// The name Falco gives the fd (`fd.name`): the path, or the socket tuple
    /// `sip:sport->dip:dport` / server `ip:port`.
    pub fn name(&self) -> String {
        match self {
            FdKind::Ipv4Socket {
                sip,
                dip,
                sport,
                dport,
                ..
            } => format!("{sip}:{sport}->{dip}:{dport}"),
            FdKind::Ipv4Server { ip, port, .. } => format!("{ip}:{port}"),
            FdKind::Ipv6Socket {
                sip,
                dip,
                sport,
                dport,
                ..
            } => format!("{sip}:{sport}->{dip}:{dport}"),
            FdKind::Ipv6Server { ip, port, .. } => format!("{ip}:{port}"),
            FdKind::Unix { path, .. } => path.clone(),
            FdKind::File { name, .. } | FdKind::Named { name, .. } => name.clone(),
        }
    }
}

/// Everything a capture says before its first event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub section: Section,
    pub machine: Option<MachineInfo>,
    pub interfaces: Vec<Interface>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    /// Threads in file order, each with its fd table.
    pub threads: Vec<ThreadInfo>,
    /// Fd tables of threads missing from the process list (kept, not dropped).
    pub orphan_fds: Vec<(u64, Vec<FdInfo>)>,
    /// Metadata blocks of unknown type that were skipped, as `(type, offset)`.
    pub skipped_blocks: Vec<(u32, u64)>,
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata {
            section: Section {
                major: 1,
                minor: 2,
                options: Vec::new(),
            },
            machine: None,
            interfaces: Vec::new(),
            users: Vec::new(),
            groups: Vec::new(),
            threads: Vec::new(),
            orphan_fds: Vec::new(),
            skipped_blocks: Vec::new(),
        }
    }
}

impl Metadata {
    pub fn thread(&self, tid: u64) -> Option<&ThreadInfo> {
        self.threads.iter().find(|t| t.tid == tid)
    }
}
