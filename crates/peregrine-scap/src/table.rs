//! The PPM event table: for each `ppm_event_code` in a capture file, its `evt.type` name,
//! direction, flags and parameter schema (libs `driver/event_table.c`).
//!
//! Capture files identify events by PPM code, not by syscall number, so this table is what
//! turns a block into `name params`. It is written out here per code (not derived from the
//! kernel-record schemas in `peregrine-event`) because files carry *every historical version*
//! of an event (`execve` alone has nine codes) and the reader needs the parameter count of each
//! to infer `nparams` in v1 blocks. Codes not listed are unknown to this reader: their
//! parameters still split (v2 blocks carry `nparams`) but render without names.

use std::sync::OnceLock;

/// `PPM_EVENT_MAX`: codes at or above this are from a newer producer and are skipped.
pub const PPM_EVENT_MAX: u16 = 454;
/// `PPM_MAX_EVENT_PARAMS`.
pub const PPM_MAX_EVENT_PARAMS: usize = 32;

/// `EF_*` flags that matter to a file reader.
pub mod ef {
    /// An old layout of an event kept for reading old captures.
    pub const OLD_VERSION: u32 = 1 << 0;
    /// A code no producer emits any more (or never did, e.g. most `_X` of meta events).
    pub const UNUSED: u32 = 1 << 1;
    /// Parameter lengths are `u32`, not `u16`.
    pub const LARGE_PAYLOAD: u32 = 1 << 2;
}

/// `enum ppm_param_type`, complete, so a checker can validate every on-disk layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pt {
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    CharBuf,
    ByteBuf,
    Errno,
    SockAddr,
    SockTuple,
    Fd,
    Pid,
    FdList,
    FsPath,
    SyscallId,
    SigType,
    RelTime,
    AbsTime,
    Port,
    L4Proto,
    SockFamily,
    Bool,
    Ipv4Addr,
    Dyn,
    Flags8,
    Flags16,
    Flags32,
    Uid,
    Gid,
    Double,
    SigSet,
    CharBufArray,
    CharBufPairArray,
    Ipv4Net,
    Ipv6Addr,
    Ipv6Net,
    IpAddr,
    IpNet,
    Mode,
    FsRelPath,
    EnumFlags8,
    EnumFlags16,
    EnumFlags32,
}

impl Pt {
    /// The on-disk size of a fixed-size type; `None` for variable-size ones.
    pub fn fixed_size(self) -> Option<usize> {
        use Pt::*;
        Some(match self {
            Int8 | Uint8 | Flags8 | EnumFlags8 | SigType | L4Proto | SockFamily => 1,
            Int16 | Uint16 | Flags16 | EnumFlags16 | SyscallId | Port => 2,
            Int32 | Uint32 | Bool | Ipv4Addr | Uid | Gid | Flags32 | EnumFlags32 | SigSet
            | Mode => 4,
            Int64 | Uint64 | Errno | Fd | Pid | RelTime | AbsTime | Double => 8,
            Ipv6Addr => 16,
            _ => return None,
        })
    }

    /// Whether the value is a NUL-terminated string on disk.
    pub fn is_string(self) -> bool {
        matches!(self, Pt::CharBuf | Pt::FsPath | Pt::FsRelPath)
    }
}

/// One parameter of an event schema.
#[derive(Debug, PartialEq, Eq)]
pub struct ParamDef {
    pub name: &'static str,
    pub ty: Pt,
}

/// One entry of the event table.
#[derive(Debug, PartialEq, Eq)]
pub struct EventInfo {
    pub code: u16,
    /// The `evt.type` name.
    pub name: &'static str,
    /// `EF_*` bits from [`ef`].
    pub flags: u32,
    pub params: &'static [ParamDef],
}

impl EventInfo {
    /// Enter events have even codes (`PPME_IS_ENTER`).
    pub fn is_enter(&self) -> bool {
        self.code & 1 == 0
    }

    /// Width of each entry of the parameter-length array.
    pub fn len_size(&self) -> usize {
        if self.flags & ef::LARGE_PAYLOAD != 0 {
            4
        } else {
            2
        }
    }

    /// The `evt.type` value, when `peregrine-event` knows the name (all syscalls and the
    /// non-syscall events Falco rules can name).
    pub fn event_type(&self) -> Option<peregrine_event::EventType> {
        peregrine_event::EventType::from_name(self.name)
    }
}

/// Width of the length array entries of an event code (2 for unknown codes).
pub fn len_size(code: u16) -> usize {
    lookup(code).map_or(2, EventInfo::len_size)
}

/// The table entry of a code.
pub fn lookup(code: u16) -> Option<&'static EventInfo> {
    static DENSE: OnceLock<Vec<Option<&'static EventInfo>>> = OnceLock::new();
    let dense = DENSE.get_or_init(|| {
        let mut v = vec![None; PPM_EVENT_MAX as usize];
        for e in EVENTS {
            if let Some(slot) = v.get_mut(e.code as usize) {
                *slot = Some(e);
            }
        }
        v
    });
    dense.get(code as usize).copied().flatten()
}

/// Every entry of the table, in code order.
pub fn all() -> &'static [EventInfo] {
    EVENTS
}

/// `ppm_sc_code` names by value (the `ID` of generic `syscall` events): a system-independent
/// syscall numbering that only ever grows, so old captures use the same values. `-` marks the
/// one hole (382).
const PPM_SC_NAMES: &str = "\
    unknown restart_syscall exit read write open close creat link unlink chdir time mknod \
    chmod stat lseek getpid mount ptrace alarm fstat pause utime access sync kill rename \
    mkdir rmdir dup pipe times brk acct ioctl fcntl setpgid umask chroot ustat dup2 getppid \
    getpgrp setsid sethostname setrlimit getrusage gettimeofday settimeofday symlink lstat \
    readlink uselib swapon reboot mmap munmap truncate ftruncate fchmod getpriority \
    setpriority statfs fstatfs syslog setitimer getitimer uname vhangup wait4 swapoff \
    sysinfo fsync setdomainname adjtimex mprotect init_module delete_module quotactl getpgid \
    fchdir sysfs personality getdents select flock msync readv writev getsid fdatasync mlock \
    munlock mlockall munlockall sched_setparam sched_getparam sched_setscheduler \
    sched_getscheduler sched_yield sched_get_priority_max sched_get_priority_min \
    sched_rr_get_interval nanosleep mremap poll prctl rt_sigaction rt_sigprocmask \
    rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend getcwd capget capset \
    sendfile getrlimit lchown getuid getgid geteuid getegid setreuid setregid getgroups \
    setgroups fchown setresuid getresuid setresgid getresgid chown setuid setgid setfsuid \
    setfsgid pivot_root mincore madvise gettid setxattr lsetxattr fsetxattr getxattr \
    lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr \
    fremovexattr tkill futex sched_setaffinity sched_getaffinity set_thread_area \
    get_thread_area io_setup io_destroy io_getevents io_submit io_cancel exit_group \
    epoll_create epoll_ctl epoll_wait remap_file_pages set_tid_address timer_create \
    timer_settime timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime \
    clock_getres clock_nanosleep tgkill utimes mq_open mq_unlink mq_timedsend \
    mq_timedreceive mq_notify mq_getsetattr kexec_load waitid add_key request_key keyctl \
    ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch openat mkdirat \
    mknodat fchownat futimesat unlinkat renameat linkat symlinkat readlinkat fchmodat \
    faccessat pselect6 ppoll unshare set_robust_list get_robust_list splice tee vmsplice \
    getcpu epoll_pwait utimensat signalfd timerfd_create eventfd timerfd_settime \
    timerfd_gettime signalfd4 eventfd2 epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev \
    rt_tgsigqueueinfo perf_event_open fanotify_init prlimit64 clock_adjtime syncfs setns \
    getdents64 socket bind connect listen accept getsockname getpeername socketpair sendto \
    recvfrom shutdown setsockopt getsockopt sendmsg sendmmsg recvmsg recvmmsg accept4 semop \
    semget semctl msgsnd msgrcv msgget msgctl shmdt shmget shmctl statfs64 fstatfs64 \
    fstatat64 sendfile64 ugetrlimit bdflush sigprocmask ipc socketcall stat64 lstat64 \
    fstat64 fcntl64 mmap2 _newselect sgetmask ssetmask sigpending olduname umount signal \
    nice stime _llseek waitpid pread64 pwrite64 arch_prctl shmat rt_sigreturn fallocate \
    newfstatat process_vm_readv process_vm_writev fork vfork setuid32 getuid32 setgid32 \
    geteuid32 getgid32 setresuid32 setresgid32 getresuid32 getresgid32 finit_module bpf \
    seccomp sigaltstack getrandom fadvise64 renameat2 userfaultfd openat2 umount2 execve \
    execveat copy_file_range clone clone3 open_by_handle_at io_uring_setup io_uring_enter \
    io_uring_register mlock2 getegid32 fsconfig fspick fsmount fsopen open_tree move_mount \
    mount_setattr memfd_create memfd_secret ioperm kexec_file_load pidfd_getfd pidfd_open \
    pidfd_send_signal pkey_alloc pkey_mprotect pkey_free landlock_create_ruleset quotactl_fd \
    landlock_restrict_self landlock_add_rule epoll_pwait2 migrate_pages move_pages preadv2 \
    pwritev2 kcmp sched_setattr mbind epoll_ctl_old lookup_dcookie modify_ldt statx \
    set_mempolicy io_pgetevents set_mempolicy_home_node semtimedop get_kernel_syms readahead \
    futex_waitv getpmsg name_to_handle_at process_mrelease nfsservctl epoll_wait_old rseq \
    create_module - sched_getattr faccessat2 _sysctl query_module get_mempolicy \
    sync_file_range process_madvise membarrier iopl close_range fanotify_mark recv send";

/// The syscall name of a `ppm_sc_code` (generic events carry it as their `ID`).
pub fn ppm_sc_name(code: u16) -> Option<&'static str> {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    let names = NAMES.get_or_init(|| PPM_SC_NAMES.split_whitespace().collect());
    names
        .get(usize::from(code))
        .copied()
        .filter(|n| *n != "-" && *n != "unknown")
}

/// The `ppm_sc_code` of a syscall name.
pub fn ppm_sc_code(name: &str) -> Option<u16> {
    PPM_SC_NAMES
        .split_whitespace()
        .position(|n| n == name && n != "-")
        .and_then(|i| u16::try_from(i).ok())
}

macro_rules! params {
    ($($n:literal : $t:ident),* $(,)?) => { &[$(ParamDef { name: $n, ty: Pt::$t }),*] };
}

macro_rules! table {
    ($($code:literal $name:literal $flags:expr, [$($n:literal : $t:ident),* $(,)?];)*) => {
        static EVENTS: &[EventInfo] = &[$(EventInfo {
            code: $code,
            name: $name,
            flags: $flags,
            params: params!($($n: $t),*),
        }),*];
    };
}

const O: u32 = ef::OLD_VERSION;
const U: u32 = ef::UNUSED;
const OU: u32 = ef::OLD_VERSION | ef::UNUSED;
const L: u32 = ef::LARGE_PAYLOAD;
const N: u32 = 0;

table! {
    0 "syscall" N, ["ID": SyscallId, "nativeID": Uint16];
    1 "syscall" N, ["ID": SyscallId, "nativeID": Uint16];
    2 "open" O, ["name": FsPath, "flags": Flags32, "mode": Uint32];
    3 "open" N, ["fd": Fd, "name": FsPath, "flags": Flags32, "mode": Uint32, "dev": Uint32, "ino": Uint64];
    4 "close" O, ["fd": Fd];
    5 "close" N, ["res": Errno, "fd": Fd];
    6 "read" O, ["fd": Fd, "size": Uint32];
    7 "read" N, ["res": Errno, "data": ByteBuf, "fd": Fd, "size": Uint32];
    8 "write" O, ["fd": Fd, "size": Uint32];
    9 "write" N, ["res": Errno, "data": ByteBuf, "fd": Fd, "size": Uint32];
    10 "brk" OU, ["size": Uint32];
    11 "brk" OU, ["res": Uint64];
    12 "execve" OU, [];
    13 "execve" OU, ["res": Errno, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Uint64];
    14 "clone" OU, [];
    15 "clone" OU, ["res": Pid, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Int64, "flags": Flags32, "uid": Uint32, "gid": Uint32];
    16 "procexit" OU, [];
    17 "NA" U, [];
    18 "socket" O, ["domain": EnumFlags32, "type": Uint32, "proto": Uint32];
    19 "socket" N, ["fd": Fd, "domain": EnumFlags32, "type": Uint32, "proto": Uint32, "flags": Flags32];
    20 "bind" O, ["fd": Fd];
    21 "bind" N, ["res": Errno, "addr": SockAddr, "fd": Fd];
    22 "connect" O, ["fd": Fd, "addr": SockAddr];
    23 "connect" N, ["res": Errno, "tuple": SockTuple, "fd": Fd, "addr": SockAddr];
    24 "listen" O, ["fd": Fd, "backlog": Int32];
    25 "listen" N, ["res": Errno, "fd": Fd, "backlog": Int32];
    26 "accept" OU, [];
    27 "accept" OU, ["fd": Fd, "tuple": SockTuple, "queuepct": Uint8];
    28 "send" O, ["fd": Fd, "size": Uint32];
    29 "send" N, ["res": Errno, "data": ByteBuf, "fd": Fd, "size": Uint32, "tuple": SockTuple];
    30 "sendto" O, ["fd": Fd, "size": Uint32, "tuple": SockTuple];
    31 "sendto" N, ["res": Errno, "data": ByteBuf, "fd": Fd, "size": Uint32, "tuple": SockTuple];
    32 "recv" O, ["fd": Fd, "size": Uint32];
    33 "recv" N, ["res": Errno, "data": ByteBuf, "fd": Fd, "size": Uint32, "tuple": SockTuple];
    34 "recvfrom" O, ["fd": Fd, "size": Uint32];
    35 "recvfrom" N, ["res": Errno, "data": ByteBuf, "tuple": SockTuple, "fd": Fd, "size": Uint32];
    36 "shutdown" O, ["fd": Fd, "how": EnumFlags8];
    37 "shutdown" N, ["res": Errno, "fd": Fd, "how": EnumFlags8];
    38 "getsockname" N, [];
    39 "getsockname" N, [];
    40 "getpeername" N, [];
    41 "getpeername" N, [];
    42 "socketpair" O, ["domain": EnumFlags32, "type": Uint32, "proto": Uint32];
    43 "socketpair" N, ["res": Errno, "fd1": Fd, "fd2": Fd, "source": Uint64, "peer": Uint64, "domain": EnumFlags32, "type": Uint32, "proto": Uint32];
    44 "setsockopt" O, [];
    45 "setsockopt" N, ["res": Errno, "fd": Fd, "level": EnumFlags8, "optname": EnumFlags8, "val": Dyn, "optlen": Uint32];
    46 "getsockopt" O, [];
    47 "getsockopt" N, ["res": Errno, "fd": Fd, "level": EnumFlags8, "optname": EnumFlags8, "val": Dyn, "optlen": Uint32];
    48 "sendmsg" O, ["fd": Fd, "size": Uint32, "tuple": SockTuple];
    49 "sendmsg" N, ["res": Errno, "data": ByteBuf, "fd": Fd, "size": Uint32, "tuple": SockTuple];
    50 "sendmmsg" O, [];
    51 "sendmmsg" N, ["res": Errno, "fd": Fd, "size": Uint32, "data": ByteBuf, "tuple": SockTuple];
    52 "recvmsg" O, ["fd": Fd];
    53 "recvmsg" N, ["res": Errno, "size": Uint32, "data": ByteBuf, "tuple": SockTuple, "msgcontrol": ByteBuf, "fd": Fd];
    54 "recvmmsg" O, [];
    55 "recvmmsg" N, ["res": Errno, "fd": Fd, "size": Uint32, "data": ByteBuf, "tuple": SockTuple, "msgcontrol": ByteBuf];
    56 "accept4" OU, ["flags": Int32];
    57 "accept4" OU, ["fd": Fd, "tuple": SockTuple, "queuepct": Uint8];
    58 "creat" O, ["name": FsPath, "mode": Uint32];
    59 "creat" N, ["fd": Fd, "name": FsPath, "mode": Uint32, "dev": Uint32, "ino": Uint64, "creat_flags": Flags16];
    60 "pipe" O, [];
    61 "pipe" N, ["res": Errno, "fd1": Fd, "fd2": Fd, "ino": Uint64];
    62 "eventfd" O, ["initval": Uint64, "flags": Flags32];
    63 "eventfd" N, ["res": Fd, "initval": Uint64, "flags": Flags32];
    64 "futex" O, ["addr": Uint64, "op": EnumFlags16, "val": Uint64];
    65 "futex" N, ["res": Errno, "addr": Uint64, "op": EnumFlags16, "val": Uint64];
    66 "stat" O, [];
    67 "stat" N, ["res": Errno, "path": FsPath];
    68 "lstat" O, [];
    69 "lstat" N, ["res": Errno, "path": FsPath];
    70 "fstat" O, ["fd": Fd];
    71 "fstat" N, ["res": Errno, "fd": Fd];
    72 "stat64" O, [];
    73 "stat64" N, ["res": Errno, "path": FsPath];
    74 "lstat64" O, [];
    75 "lstat64" N, ["res": Errno, "path": FsPath];
    76 "fstat64" O, ["fd": Fd];
    77 "fstat64" N, ["res": Errno, "fd": Fd];
    78 "epoll_wait" O, ["maxevents": Errno];
    79 "epoll_wait" N, ["res": Errno, "maxevents": Errno];
    80 "poll" O, ["fds": FdList, "timeout": Int64];
    81 "poll" N, ["res": Errno, "fds": FdList, "timeout": Int64];
    82 "select" O, [];
    83 "select" N, ["res": Errno];
    84 "select" O, [];
    85 "select" N, ["res": Errno];
    86 "lseek" O, ["fd": Fd, "offset": Uint64, "whence": EnumFlags8];
    87 "lseek" N, ["res": Errno, "fd": Fd, "offset": Uint64, "whence": EnumFlags8];
    88 "llseek" O, ["fd": Fd, "offset": Uint64, "whence": EnumFlags8];
    89 "llseek" N, ["res": Errno, "fd": Fd, "offset": Uint64, "whence": EnumFlags8];
    90 "ioctl" OU, ["fd": Fd, "request": Uint64];
    91 "ioctl" OU, ["res": Errno];
    92 "getcwd" O, [];
    93 "getcwd" N, ["res": Errno, "path": CharBuf];
    94 "chdir" O, [];
    95 "chdir" N, ["res": Errno, "path": CharBuf];
    96 "fchdir" O, ["fd": Fd];
    97 "fchdir" N, ["res": Errno, "fd": Fd];
    98 "mkdir" OU, ["path": FsPath, "mode": Uint32];
    99 "mkdir" OU, ["res": Errno];
    100 "rmdir" OU, ["path": FsPath];
    101 "rmdir" OU, ["res": Errno];
    102 "openat" OU, ["dirfd": Fd, "name": CharBuf, "flags": Flags32, "mode": Uint32];
    103 "openat" OU, ["fd": Fd];
    104 "link" OU, ["oldpath": FsPath, "newpath": FsPath];
    105 "link" OU, ["res": Errno];
    106 "linkat" OU, ["olddir": Fd, "oldpath": CharBuf, "newdir": Fd, "newpath": CharBuf];
    107 "linkat" OU, ["res": Errno];
    108 "unlink" OU, ["path": FsPath];
    109 "unlink" OU, ["res": Errno];
    110 "unlinkat" OU, ["dirfd": Fd, "name": CharBuf];
    111 "unlinkat" OU, ["res": Errno];
    112 "pread" O, ["fd": Fd, "size": Uint32, "pos": Uint64];
    113 "pread" N, ["res": Errno, "data": ByteBuf, "fd": Fd, "size": Uint32, "pos": Uint64];
    114 "pwrite" O, ["fd": Fd, "size": Uint32, "pos": Uint64];
    115 "pwrite" N, ["res": Errno, "data": ByteBuf, "fd": Fd, "size": Uint32, "pos": Uint64];
    116 "readv" O, ["fd": Fd];
    117 "readv" N, ["res": Errno, "size": Uint32, "data": ByteBuf, "fd": Fd];
    118 "writev" O, ["fd": Fd, "size": Uint32];
    119 "writev" N, ["res": Errno, "data": ByteBuf, "fd": Fd, "size": Uint32];
    120 "preadv" O, ["fd": Fd, "pos": Uint64];
    121 "preadv" N, ["res": Errno, "size": Uint32, "data": ByteBuf, "fd": Fd, "pos": Uint64];
    122 "pwritev" O, ["fd": Fd, "size": Uint32, "pos": Uint64];
    123 "pwritev" N, ["res": Errno, "data": ByteBuf, "fd": Fd, "size": Uint32, "pos": Uint64];
    124 "dup" OU, ["fd": Fd];
    125 "dup" OU, ["res": Fd];
    126 "signalfd" O, ["fd": Fd, "mask": Uint32, "flags": Uint8];
    127 "signalfd" N, ["res": Fd, "fd": Fd, "mask": Uint32, "flags": Uint8];
    128 "kill" O, ["pid": Pid, "sig": SigType];
    129 "kill" N, ["res": Errno, "pid": Pid, "sig": SigType];
    130 "tkill" O, ["tid": Pid, "sig": SigType];
    131 "tkill" N, ["res": Errno, "tid": Pid, "sig": SigType];
    132 "tgkill" O, ["pid": Pid, "tid": Pid, "sig": SigType];
    133 "tgkill" N, ["res": Errno, "pid": Pid, "tid": Pid, "sig": SigType];
    134 "nanosleep" O, ["interval": RelTime];
    135 "nanosleep" N, ["res": Errno, "interval": RelTime];
    136 "timerfd_create" O, ["clockid": Uint8, "flags": Uint8];
    137 "timerfd_create" N, ["res": Fd, "clockid": Uint8, "flags": Uint8];
    138 "inotify_init" O, ["flags": Uint8];
    139 "inotify_init" N, ["res": Fd, "flags": Uint8];
    140 "getrlimit" O, ["resource": EnumFlags8];
    141 "getrlimit" N, ["res": Errno, "cur": Int64, "max": Int64, "resource": EnumFlags8];
    142 "setrlimit" O, ["resource": EnumFlags8];
    143 "setrlimit" N, ["res": Errno, "cur": Int64, "max": Int64, "resource": EnumFlags8];
    144 "prlimit" O, ["pid": Pid, "resource": EnumFlags8];
    145 "prlimit" N, ["res": Errno, "newcur": Int64, "newmax": Int64, "oldcur": Int64, "oldmax": Int64, "pid": Int64, "resource": EnumFlags8];
    146 "switch" OU, ["next": Pid];
    147 "NA" U, [];
    148 "drop" N, ["ratio": Uint32];
    149 "drop" N, ["ratio": Uint32];
    150 "fcntl" O, ["fd": Fd, "cmd": EnumFlags8];
    151 "fcntl" N, ["res": Fd, "fd": Fd, "cmd": EnumFlags8];
    152 "switch" N, ["next": Pid, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32];
    153 "NA" U, [];
    154 "execve" OU, [];
    155 "execve" OU, ["res": Errno, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Uint64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32];
    156 "clone" OU, [];
    157 "clone" OU, ["res": Pid, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Int64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "flags": Flags32, "uid": Uint32, "gid": Uint32];
    158 "brk" O, ["addr": Uint64];
    159 "brk" N, ["res": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32];
    160 "mmap" O, ["addr": Uint64, "length": Uint64, "prot": Flags32, "flags": Flags32, "fd": Fd, "offset": Uint64];
    161 "mmap" N, ["res": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "addr": Uint64, "length": Uint64, "prot": Flags32, "flags": Flags32, "fd": Fd, "offset": Uint64];
    162 "mmap2" O, ["addr": Uint64, "length": Uint64, "prot": Flags32, "flags": Flags32, "fd": Fd, "pgoffset": Uint64];
    163 "mmap2" N, ["res": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "addr": Uint64, "length": Uint64, "prot": Flags32, "flags": Flags32, "fd": Fd, "pgoffset": Uint64];
    164 "munmap" O, ["addr": Uint64, "length": Uint64];
    165 "munmap" N, ["res": Errno, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "addr": Uint64, "length": Uint64];
    166 "splice" O, ["fd_in": Fd, "fd_out": Fd, "size": Uint64, "flags": Flags32];
    167 "splice" N, ["res": Errno, "fd_in": Fd, "fd_out": Fd, "size": Uint64, "flags": Flags32];
    168 "ptrace" O, ["request": EnumFlags16, "pid": Pid];
    169 "ptrace" N, ["res": Errno, "addr": Dyn, "data": Dyn, "request": EnumFlags16, "pid": Pid];
    170 "ioctl" O, ["fd": Fd, "request": Uint64, "argument": Uint64];
    171 "ioctl" N, ["res": Errno, "fd": Fd, "request": Uint64, "argument": Uint64];
    172 "execve" OU, [];
    173 "execve" OU, ["res": Errno, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Uint64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "env": ByteBuf];
    174 "rename" O, [];
    175 "rename" N, ["res": Errno, "oldpath": FsPath, "newpath": FsPath];
    176 "renameat" O, [];
    177 "renameat" N, ["res": Errno, "olddirfd": Fd, "oldpath": FsRelPath, "newdirfd": Fd, "newpath": FsRelPath];
    178 "symlink" O, [];
    179 "symlink" N, ["res": Errno, "target": CharBuf, "linkpath": FsPath];
    180 "symlinkat" O, [];
    181 "symlinkat" N, ["res": Errno, "target": CharBuf, "linkdirfd": Fd, "linkpath": FsRelPath];
    182 "fork" OU, [];
    183 "fork" OU, ["res": Pid, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Int64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "flags": Flags32, "uid": Uint32, "gid": Uint32];
    184 "vfork" OU, [];
    185 "vfork" OU, ["res": Pid, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Int64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "flags": Flags32, "uid": Uint32, "gid": Uint32];
    186 "procexit" N, ["status": Errno, "ret": Errno, "sig": SigType, "core": Uint8, "reaper_tid": Pid];
    187 "NA" U, [];
    188 "sendfile" O, ["out_fd": Fd, "in_fd": Fd, "offset": Uint64, "size": Uint64];
    189 "sendfile" N, ["res": Errno, "offset": Uint64, "out_fd": Fd, "in_fd": Fd, "size": Uint64];
    190 "quotactl" O, ["cmd": Flags16, "type": Flags8, "id": Uint32, "quota_fmt": Flags8];
    191 "quotactl" N, ["res": Errno, "special": CharBuf, "quotafilepath": CharBuf, "dqb_bhardlimit": Uint64, "dqb_bsoftlimit": Uint64, "dqb_curspace": Uint64, "dqb_ihardlimit": Uint64, "dqb_isoftlimit": Uint64, "dqb_btime": RelTime, "dqb_itime": RelTime, "dqi_bgrace": RelTime, "dqi_igrace": RelTime, "dqi_flags": Flags8, "quota_fmt_out": Flags8, "cmd": Flags16, "type": Flags8, "id": Uint32, "quota_fmt": Flags8];
    192 "setresuid" O, ["ruid": Uid, "euid": Uid, "suid": Uid];
    193 "setresuid" N, ["res": Errno, "ruid": Uid, "euid": Uid, "suid": Uid];
    194 "setresgid" O, ["rgid": Gid, "egid": Gid, "sgid": Gid];
    195 "setresgid" N, ["res": Errno, "rgid": Gid, "egid": Gid, "sgid": Gid];
    196 "scapevent" N, ["event_type": Uint32, "event_data": Uint64];
    197 "NA" U, [];
    198 "setuid" O, ["uid": Uid];
    199 "setuid" N, ["res": Errno, "uid": Uid];
    200 "setgid" O, ["gid": Gid];
    201 "setgid" N, ["res": Errno, "gid": Gid];
    202 "getuid" N, [];
    203 "getuid" N, ["uid": Uid];
    204 "geteuid" N, [];
    205 "geteuid" N, ["euid": Uid];
    206 "getgid" N, [];
    207 "getgid" N, ["gid": Gid];
    208 "getegid" N, [];
    209 "getegid" N, ["egid": Gid];
    210 "getresuid" N, [];
    211 "getresuid" N, ["res": Errno, "ruid": Uid, "euid": Uid, "suid": Uid];
    212 "getresgid" N, [];
    213 "getresgid" N, ["res": Errno, "rgid": Gid, "egid": Gid, "sgid": Gid];
    214 "execve" OU, [];
    215 "execve" OU, ["res": Errno, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Uint64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "comm": CharBuf, "env": ByteBuf];
    216 "clone" OU, [];
    217 "clone" OU, ["res": Pid, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Int64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "comm": CharBuf, "flags": Flags32, "uid": Uint32, "gid": Uint32];
    218 "fork" OU, [];
    219 "fork" OU, ["res": Pid, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Int64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "comm": CharBuf, "flags": Flags32, "uid": Uint32, "gid": Uint32];
    220 "vfork" OU, [];
    221 "vfork" OU, ["res": Pid, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Int64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "comm": CharBuf, "flags": Flags32, "uid": Uint32, "gid": Uint32];
    222 "clone" O, [];
    223 "clone" N, ["res": Pid, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Int64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "comm": CharBuf, "cgroups": ByteBuf, "flags": Flags32, "uid": Uint32, "gid": Uint32, "vtid": Pid, "vpid": Pid, "pidns_init_start_ts": Uint64];
    224 "fork" O, [];
    225 "fork" N, ["res": Pid, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Int64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "comm": CharBuf, "cgroups": ByteBuf, "flags": Flags32, "uid": Uint32, "gid": Uint32, "vtid": Pid, "vpid": Pid, "pidns_init_start_ts": Uint64];
    226 "vfork" O, [];
    227 "vfork" N, ["res": Pid, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Int64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "comm": CharBuf, "cgroups": ByteBuf, "flags": Flags32, "uid": Uint32, "gid": Uint32, "vtid": Pid, "vpid": Pid, "pidns_init_start_ts": Uint64];
    228 "container" OU, ["id": CharBuf, "type": Uint32, "name": CharBuf, "image": CharBuf];
    229 "NA" U, [];
    230 "execve" OU, [];
    231 "execve" OU, ["res": Errno, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Uint64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "comm": CharBuf, "cgroups": ByteBuf, "env": ByteBuf];
    232 "signaldeliver" N, ["spid": Pid, "dpid": Pid, "sig": SigType];
    233 "NA" U, [];
    234 "procinfo" N, ["cpu_usr": Uint64, "cpu_sys": Uint64];
    235 "NA" U, [];
    236 "getdents" O, ["fd": Fd];
    237 "getdents" N, ["res": Errno, "fd": Fd];
    238 "getdents64" O, ["fd": Fd];
    239 "getdents64" N, ["res": Errno, "fd": Fd];
    240 "setns" O, ["fd": Fd, "nstype": Flags32];
    241 "setns" N, ["res": Errno, "fd": Fd, "nstype": Flags32];
    242 "flock" O, ["fd": Fd, "operation": Flags32];
    243 "flock" N, ["res": Errno, "fd": Fd, "operation": Flags32];
    244 "cpu_hotplug" N, ["cpu": Uint32, "action": Uint32];
    245 "NA" U, [];
    246 "accept" O, [];
    247 "accept" N, ["fd": Fd, "tuple": SockTuple, "queuepct": Uint8, "queuelen": Uint32, "queuemax": Uint32];
    248 "accept4" O, ["flags": Int32];
    249 "accept4" O, ["fd": Fd, "tuple": SockTuple, "queuepct": Uint8, "queuelen": Uint32, "queuemax": Uint32];
    250 "semop" O, ["semid": Int32];
    251 "semop" N, ["res": Errno, "nsops": Uint32, "sem_num_0": Uint16, "sem_op_0": Int16, "sem_flg_0": Flags16, "sem_num_1": Uint16, "sem_op_1": Int16, "sem_flg_1": Flags16, "semid": Int32];
    252 "semctl" O, ["semid": Int32, "semnum": Int32, "cmd": Flags16, "val": Int32];
    253 "semctl" N, ["res": Errno, "semid": Int32, "semnum": Int32, "cmd": Flags16, "val": Int32];
    254 "ppoll" O, ["fds": FdList, "timeout": RelTime, "sigmask": SigSet];
    255 "ppoll" N, ["res": Errno, "fds": FdList, "timeout": RelTime, "sigmask": SigSet];
    256 "mount" O, ["flags": Flags32];
    257 "mount" N, ["res": Errno, "dev": CharBuf, "dir": FsPath, "type": CharBuf, "flags": Flags32];
    258 "umount" O, ["flags": Flags32];
    259 "umount" N, ["res": Errno, "name": FsPath, "flags": Flags32];
    260 "k8s" OU, ["json": CharBuf];
    261 "NA" U, [];
    262 "semget" O, ["key": Int32, "nsems": Int32, "semflg": Flags32];
    263 "semget" N, ["res": Errno, "key": Int32, "nsems": Int32, "semflg": Flags32];
    264 "access" O, ["mode": Flags32];
    265 "access" N, ["res": Errno, "name": FsPath, "mode": Flags32];
    266 "chroot" O, [];
    267 "chroot" N, ["res": Errno, "path": FsPath];
    268 "tracer" U, ["id": Int64, "tags": CharBufArray, "args": CharBufPairArray];
    269 "tracer" U, ["id": Int64, "tags": CharBufArray, "args": CharBufPairArray];
    270 "mesos" OU, ["json": CharBuf];
    271 "NA" U, [];
    272 "container" O, ["json": CharBuf];
    273 "NA" U, [];
    274 "setsid" O, [];
    275 "setsid" N, ["res": Pid];
    276 "mkdir" O, ["mode": Uint32];
    277 "mkdir" N, ["res": Errno, "path": FsPath, "mode": Uint32];
    278 "rmdir" O, [];
    279 "rmdir" N, ["res": Errno, "path": FsPath];
    280 "notification" N, ["id": CharBuf, "desc": CharBuf];
    281 "NA" U, [];
    282 "execve" OU, [];
    283 "execve" OU, ["res": Errno, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Uint64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "comm": CharBuf, "cgroups": ByteBuf, "env": ByteBuf, "tty": Int32];
    284 "unshare" O, ["flags": Flags32];
    285 "unshare" N, ["res": Errno, "flags": Flags32];
    286 "infra" N, ["source": CharBuf, "name": CharBuf, "description": CharBuf, "scope": CharBuf];
    287 "NA" U, [];
    288 "execve" O, ["filename": FsPath];
    289 "execve" O, ["res": Errno, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Uint64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "comm": CharBuf, "cgroups": ByteBuf, "env": ByteBuf, "tty": Int32, "pgid": Pid];
    290 "page_fault" N, ["addr": Uint64, "ip": Uint64, "error": Flags32];
    291 "NA" U, [];
    292 "execve" O, ["filename": FsPath];
    293 "execve" N, ["res": Errno, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Uint64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "comm": CharBuf, "cgroups": ByteBuf, "env": ByteBuf, "tty": Uint32, "vpgid": Pid, "loginuid": Uid, "flags": Flags32, "cap_inheritable": Uint64, "cap_permitted": Uint64, "cap_effective": Uint64, "exe_ino": Uint64, "exe_ino_ctime": AbsTime, "exe_ino_mtime": AbsTime, "uid": Uid, "trusted_exepath": FsPath, "pgid": Pid, "gid": Gid, "filename": FsPath];
    294 "setpgid" O, ["pid": Pid, "pgid": Pid];
    295 "setpgid" N, ["res": Pid, "pid": Pid, "pgid": Pid];
    296 "bpf" O, ["cmd": Int64];
    297 "bpf" O, ["fd": Fd];
    298 "seccomp" O, ["op": Uint64];
    299 "seccomp" N, ["res": Errno, "op": Uint64, "flags": Uint64];
    300 "unlink" O, [];
    301 "unlink" N, ["res": Errno, "path": FsPath];
    302 "unlinkat" O, [];
    303 "unlinkat" N, ["res": Errno, "dirfd": Fd, "name": FsRelPath, "flags": Flags32];
    304 "mkdirat" O, [];
    305 "mkdirat" N, ["res": Errno, "dirfd": Fd, "path": FsRelPath, "mode": Uint32];
    306 "openat" O, ["dirfd": Fd, "name": FsRelPath, "flags": Flags32, "mode": Uint32];
    307 "openat" N, ["fd": Fd, "dirfd": Fd, "name": FsRelPath, "flags": Flags32, "mode": Uint32, "dev": Uint32, "ino": Uint64];
    308 "link" O, [];
    309 "link" N, ["res": Errno, "oldpath": FsPath, "newpath": FsPath];
    310 "linkat" O, [];
    311 "linkat" N, ["res": Errno, "olddir": Fd, "oldpath": FsRelPath, "newdir": Fd, "newpath": FsRelPath, "flags": Flags32];
    312 "fchmodat" O, [];
    313 "fchmodat" N, ["res": Errno, "dirfd": Fd, "filename": FsRelPath, "mode": Mode];
    314 "chmod" O, [];
    315 "chmod" N, ["res": Errno, "filename": FsPath, "mode": Mode];
    316 "fchmod" O, [];
    317 "fchmod" N, ["res": Errno, "fd": Fd, "mode": Mode];
    318 "renameat2" O, [];
    319 "renameat2" N, ["res": Errno, "olddirfd": Fd, "oldpath": FsRelPath, "newdirfd": Fd, "newpath": FsRelPath, "flags": Flags32];
    320 "userfaultfd" O, [];
    321 "userfaultfd" N, ["res": Errno, "flags": Flags32];
    322 "pluginevent" L, ["plugin_id": Uint32, "event_data": ByteBuf];
    323 "NA" U, [];
    324 "container" L, ["json": CharBuf];
    325 "NA" U, [];
    326 "openat2" O, ["dirfd": Fd, "name": FsRelPath, "flags": Flags32, "mode": Uint32, "resolve": Flags32];
    327 "openat2" N, ["fd": Fd, "dirfd": Fd, "name": FsRelPath, "flags": Flags32, "mode": Uint32, "resolve": Flags32, "dev": Uint32, "ino": Uint64];
    328 "mprotect" O, ["addr": Uint64, "length": Uint64, "prot": Flags32];
    329 "mprotect" N, ["res": Errno, "addr": Uint64, "length": Uint64, "prot": Flags32];
    330 "execveat" O, ["dirfd": Fd, "pathname": FsRelPath, "flags": Flags32];
    331 "execveat" N, ["res": Errno, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Uint64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "comm": CharBuf, "cgroups": ByteBuf, "env": ByteBuf, "tty": Uint32, "vpgid": Pid, "loginuid": Uid, "flags": Flags32, "cap_inheritable": Uint64, "cap_permitted": Uint64, "cap_effective": Uint64, "exe_ino": Uint64, "exe_ino_ctime": AbsTime, "exe_ino_mtime": AbsTime, "uid": Uid, "trusted_exepath": FsPath, "pgid": Pid, "gid": Gid];
    332 "copy_file_range" O, ["fdin": Fd, "offin": Uint64, "len": Uint64];
    333 "copy_file_range" N, ["res": Errno, "fdout": Fd, "offout": Uint64, "fdin": Fd, "offin": Uint64, "len": Uint64];
    334 "clone3" O, [];
    335 "clone3" N, ["res": Pid, "exe": CharBuf, "args": ByteBuf, "tid": Pid, "pid": Pid, "ptid": Pid, "cwd": CharBuf, "fdlimit": Int64, "pgft_maj": Uint64, "pgft_min": Uint64, "vm_size": Uint32, "vm_rss": Uint32, "vm_swap": Uint32, "comm": CharBuf, "cgroups": ByteBuf, "flags": Flags32, "uid": Uint32, "gid": Uint32, "vtid": Pid, "vpid": Pid, "pidns_init_start_ts": Uint64];
    336 "open_by_handle_at" O, [];
    337 "open_by_handle_at" N, ["fd": Fd, "mountfd": Fd, "flags": Flags32, "path": FsPath, "dev": Uint32, "ino": Uint64];
    338 "io_uring_setup" O, [];
    339 "io_uring_setup" N, ["res": Errno, "entries": Uint32, "sq_entries": Uint32, "cq_entries": Uint32, "flags": Flags32, "sq_thread_cpu": Uint32, "sq_thread_idle": Uint32, "features": Flags32];
    340 "io_uring_enter" O, [];
    341 "io_uring_enter" N, ["res": Errno, "fd": Fd, "to_submit": Uint32, "min_complete": Uint32, "flags": Flags32, "sig": SigSet];
    342 "io_uring_register" O, [];
    343 "io_uring_register" N, ["res": Errno, "fd": Fd, "opcode": EnumFlags16, "arg": Uint64, "nr_args": Uint32];
    344 "mlock" O, [];
    345 "mlock" N, ["res": Errno, "addr": Uint64, "len": Uint64];
    346 "munlock" O, [];
    347 "munlock" N, ["res": Errno, "addr": Uint64, "len": Uint64];
    348 "mlockall" O, [];
    349 "mlockall" N, ["res": Errno, "flags": Flags32];
    350 "munlockall" O, [];
    351 "munlockall" N, ["res": Errno];
    352 "capset" O, [];
    353 "capset" N, ["res": Errno, "cap_inheritable": Uint64, "cap_permitted": Uint64, "cap_effective": Uint64];
    354 "useradded" N, ["uid": Uint32, "gid": Uint32, "name": CharBuf, "home": CharBuf, "shell": CharBuf, "container_id": CharBuf];
    355 "NA" U, [];
    356 "userdeleted" N, ["uid": Uint32, "gid": Uint32, "name": CharBuf, "home": CharBuf, "shell": CharBuf, "container_id": CharBuf];
    357 "NA" U, [];
    358 "groupadded" N, ["gid": Uint32, "name": CharBuf, "container_id": CharBuf];
    359 "NA" U, [];
    360 "groupdeleted" N, ["gid": Uint32, "name": CharBuf, "container_id": CharBuf];
    361 "NA" U, [];
    362 "dup2" O, ["fd": Fd];
    363 "dup2" N, ["res": Fd, "oldfd": Fd, "newfd": Fd];
    364 "dup3" O, ["fd": Fd];
    365 "dup3" N, ["res": Fd, "oldfd": Fd, "newfd": Fd, "flags": Flags32];
    366 "dup" O, ["fd": Fd];
    367 "dup" N, ["res": Fd, "oldfd": Fd];
    368 "bpf" O, ["cmd": Int64];
    369 "bpf" N, ["fd": Fd, "cmd": EnumFlags32];
    370 "mlock2" O, [];
    371 "mlock2" N, ["res": Errno, "addr": Uint64, "len": Uint64, "flags": Flags32];
    372 "fsconfig" O, [];
    373 "fsconfig" N, ["res": Errno, "fd": Fd, "cmd": EnumFlags32, "key": CharBuf, "value_bytebuf": ByteBuf, "value_charbuf": CharBuf, "aux": Int32];
    374 "epoll_create" O, ["size": Int32];
    375 "epoll_create" N, ["res": Errno, "size": Int32];
    376 "epoll_create1" O, ["flags": Flags32];
    377 "epoll_create1" N, ["res": Errno, "flags": Flags32];
    378 "chown" O, [];
    379 "chown" N, ["res": Errno, "path": FsPath, "uid": Uint32, "gid": Uint32];
    380 "lchown" O, [];
    381 "lchown" N, ["res": Errno, "path": FsPath, "uid": Uint32, "gid": Uint32];
    382 "fchown" O, [];
    383 "fchown" N, ["res": Errno, "fd": Fd, "uid": Uint32, "gid": Uint32];
    384 "fchownat" O, [];
    385 "fchownat" N, ["res": Errno, "dirfd": Fd, "pathname": FsRelPath, "uid": Uint32, "gid": Uint32, "flags": Flags32];
    386 "umount" O, [];
    387 "umount" N, ["res": Errno, "name": FsPath];
    388 "accept4" O, ["flags": Int32];
    389 "accept4" N, ["fd": Fd, "tuple": SockTuple, "queuepct": Uint8, "queuelen": Uint32, "queuemax": Uint32, "flags": Int32];
    390 "umount2" O, ["flags": Flags32];
    391 "umount2" N, ["res": Errno, "name": FsPath, "flags": Flags32];
    392 "pidfd_open" O, [];
    393 "pidfd_open" N, ["fd": Fd, "pid": Pid, "flags": Flags32];
    394 "pidfd_getfd" O, [];
    395 "pidfd_getfd" N, ["fd": Fd, "pid_fd": Fd, "target_fd": Fd, "flags": Uint32];
    396 "inotify_init1" O, [];
    397 "inotify_init1" N, ["res": Fd, "flags": Flags16];
    398 "eventfd2" O, ["initval": Uint64];
    399 "eventfd2" N, ["res": Fd, "flags": Flags16];
    400 "signalfd4" O, ["fd": Fd, "mask": Uint32];
    401 "signalfd4" N, ["res": Fd, "flags": Flags16];
    402 "prctl" O, [];
    403 "prctl" N, ["res": Errno, "option": EnumFlags32, "arg2_str": CharBuf, "arg2_int": Int64];
    404 "asyncevent" L, ["plugin_id": Uint32, "name": CharBuf, "data": ByteBuf];
    405 "NA" U, [];
    406 "memfd_create" O, [];
    407 "memfd_create" N, ["fd": Fd, "name": CharBuf, "flags": Flags32];
    410 "init_module" O, [];
    411 "init_module" N, ["res": Errno, "img": ByteBuf, "length": Uint64, "uargs": CharBuf];
    412 "finit_module" O, [];
    413 "finit_module" N, ["res": Errno, "fd": Fd, "uargs": CharBuf, "flags": Flags32];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_unique_and_in_range() {
        for w in EVENTS.windows(2) {
            assert!(w[0].code < w[1].code, "{} then {}", w[0].code, w[1].code);
        }
        assert!(EVENTS.iter().all(|e| e.code < PPM_EVENT_MAX));
        assert!(EVENTS
            .iter()
            .all(|e| e.params.len() <= PPM_MAX_EVENT_PARAMS));
    }

    /// falcosecurity/libs `driver/event_table.c`: the current exit event of every rule event
    /// type, by code and arity.
    #[test]
    fn rule_event_types_match_the_reference_table() {
        let cases: &[(&str, u16, usize)] = &[
            ("accept", 247, 5),
            ("accept4", 389, 6),
            ("bpf", 369, 2),
            ("chmod", 315, 3),
            ("connect", 23, 4),
            ("creat", 59, 6),
            ("dup", 367, 2),
            ("dup2", 363, 3),
            ("dup3", 365, 4),
            ("execve", 293, 31),
            ("execveat", 331, 30),
            ("fchmod", 317, 3),
            ("fchmodat", 313, 4),
            ("finit_module", 413, 4),
            ("init_module", 411, 4),
            ("link", 309, 3),
            ("linkat", 311, 6),
            ("listen", 25, 3),
            ("mkdir", 277, 3),
            ("mkdirat", 305, 4),
            ("open", 3, 6),
            ("openat", 307, 7),
            ("openat2", 327, 8),
            ("ptrace", 169, 5),
            ("recvfrom", 35, 5),
            ("recvmsg", 53, 6),
            ("rename", 175, 3),
            ("renameat", 177, 5),
            ("renameat2", 319, 6),
            ("rmdir", 279, 2),
            ("sendmsg", 49, 5),
            ("sendto", 31, 5),
            ("setns", 241, 3),
            ("setuid", 199, 2),
            ("socket", 19, 5),
            ("symlink", 179, 3),
            ("symlinkat", 181, 4),
            ("unlink", 301, 2),
            ("unlinkat", 303, 4),
            ("unshare", 285, 2),
            ("userfaultfd", 321, 2),
        ];
        assert_eq!(cases.len(), 41);
        for &(name, code, n) in cases {
            let e = lookup(code).unwrap_or_else(|| panic!("{code} missing"));
            assert_eq!(
                (e.name, e.params.len(), e.is_enter()),
                (name, n, false),
                "{code}"
            );
            assert_eq!(e.flags & (ef::OLD_VERSION | ef::UNUSED), 0, "{code}");
            assert!(e.event_type().is_some(), "{name} has no EventType");
        }
    }

    #[test]
    fn ppm_sc_codes_are_libs_values() {
        for (code, name) in [
            (5, "open"),
            (139, "madvise"),
            (324, "execve"),
            (395, "send"),
        ] {
            assert_eq!(ppm_sc_name(code), Some(name));
            assert_eq!(ppm_sc_code(name), Some(code));
        }
        assert_eq!(ppm_sc_name(382), None);
        assert_eq!(ppm_sc_name(0), None);
        assert_eq!(ppm_sc_name(396), None);
    }

    #[test]
    fn large_payload_events_use_u32_lengths() {
        for (code, size) in [(322, 4), (324, 4), (404, 4), (3, 2), (9999, 2)] {
            assert_eq!(len_size(code), size, "{code}");
        }
    }
}
