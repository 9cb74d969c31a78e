//! Falco's flag vocabularies: kernel → PPM value conversions and name tables.
//!
//! The kernel side ships raw kernel constants; Falco's events carry PPM-normalised values
//! (`PPM_O_RDONLY = 1`, `PPM_CL_CLONE_NEWNS = 1 << 5`, …) and rules compare the rendered names
//! (`evt.arg.flags contains O_CREAT`). Converting here rather than in C keeps the tables in
//! one testable place and lets a scap writer emit exactly Falco's values.

/// A name table for a flags or enum parameter, in Falco's `flags_table.c` order (rendering
/// order matters: `O_RDWR` must be tried before `O_WRONLY`/`O_RDONLY`).
#[derive(Debug, PartialEq, Eq)]
pub struct FlagTable {
    pub name: &'static str,
    /// Enum tables match the whole value; flag tables match bit subsets.
    pub is_enum: bool,
    pub entries: &'static [(&'static str, u32)],
}

impl FlagTable {
    /// The symbolic rendering of `value` (the part Falco prints in parentheses), or `None`
    /// when no name applies. Follows libsinsp: accumulate subset matches in table order,
    /// removing matched bits, and stop at an entry equal to the initial value.
    pub fn render(&self, value: u32) -> Option<String> {
        let mut out = String::new();
        self.write_names(value, &mut out).then_some(out)
    }

    /// [`FlagTable::render`] into `out` without allocating; returns whether a name applied.
    pub fn write_names(&self, value: u32, out: &mut impl std::fmt::Write) -> bool {
        if self.is_enum {
            return match self.entries.iter().find(|(_, v)| *v == value) {
                Some((n, _)) => out.write_str(n).is_ok(),
                None => false,
            };
        }
        let mut any = false;
        let mut put = |name: &str, out: &mut dyn std::fmt::Write| {
            let _ = out.write_str(if any { "|" } else { "" });
            let _ = out.write_str(name);
            any = true;
        };
        let mut rest = value;
        for (name, v) in self.entries {
            if *v == value {
                put(name, out);
                break;
            }
            if *v != 0 && rest != 0 && rest & v == *v {
                put(name, out);
                rest &= !v;
            }
        }
        any
    }

    /// The value of a symbolic name, for rules that compare against names.
    pub fn value_of(&self, name: &str) -> Option<u32> {
        self.entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

/// How a raw kernel value becomes the PPM value stored in the decoded parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv {
    /// The kernel value is already Falco's.
    None,
    OpenFlags,
    CloneFlags,
    PtraceRequest,
    /// Only `O_CLOEXEC` is meaningful (dup3, pipe2, …).
    Cloexec,
    /// `mount` flags without the legacy `MS_MGC_VAL` magic in the top 16 bits.
    MountFlags,
    /// Bit by bit, `(kernel bit, PPM bit)`; kernel bits without an entry are dropped.
    Bits(&'static [(u64, u32)]),
    /// The kernel's bits are Falco's, but only these: newer kernel bits have no PPM value.
    Mask(u64),
    /// An enumeration, `(kernel value, PPM value)`; an unlisted value becomes 0.
    Values(&'static [(u64, u32)]),
}

impl Conv {
    pub fn apply(self, raw: u64) -> u64 {
        match self {
            Conv::None => raw,
            Conv::OpenFlags => open_flags_to_ppm(raw as u32) as u64,
            Conv::CloneFlags => clone_flags_to_ppm(raw) as u64,
            Conv::PtraceRequest => ptrace_request_to_ppm(raw as u32) as u64,
            Conv::Cloexec => {
                if raw & O_CLOEXEC as u64 != 0 {
                    PPM_O_CLOEXEC as u64
                } else {
                    0
                }
            }
            Conv::MountFlags => {
                if raw & 0xffff_0000 == 0xc0ed_0000 {
                    raw & 0xffff
                } else {
                    raw
                }
            }
            Conv::Bits(map) => map
                .iter()
                .filter(|(k, _)| raw & k == *k)
                .fold(0, |acc, (_, p)| acc | u64::from(*p)),
            Conv::Mask(m) => raw & m,
            Conv::Values(map) => map
                .iter()
                .find(|(k, _)| raw == *k)
                .map_or(0, |(_, p)| u64::from(*p)),
        }
    }
}

const O_ACCMODE: u32 = 0o3;
const O_CLOEXEC: u32 = 0o2000000;
const PPM_O_CLOEXEC: u32 = 1 << 12;

/// Bits of the kernel's open-flags parameter carrying the overlayfs layer of the opened file
/// (`PG_OPEN_UPPER_LAYER` / `PG_OPEN_LOWER_LAYER` in the record header).
pub const OPEN_UPPER_LAYER: u32 = 1 << 31;
pub const OPEN_LOWER_LAYER: u32 = 1 << 30;
/// Bit of the kernel's open-flags parameter set when the open created the file
/// (`PG_OPEN_CREATED`), Falco's `O_F_CREATED`.
pub const OPEN_CREATED: u32 = 1 << 29;

/// Kernel `open(2)` flags (x86-64 values) to `PPM_O_*`.
pub fn open_flags_to_ppm(raw: u32) -> u32 {
    let mut f = match raw & O_ACCMODE {
        0 => 1,
        1 => 2,
        2 => 3,
        _ => 0,
    };
    const MAP: &[(u32, u32)] = &[
        (0o100, 1 << 2),             // O_CREAT
        (0o2000, 1 << 3),            // O_APPEND
        (0o10000, 1 << 4),           // O_DSYNC
        (0o200, 1 << 5),             // O_EXCL
        (0o4000, 1 << 6),            // O_NONBLOCK
        (0o4000000, 1 << 7),         // __O_SYNC
        (0o1000, 1 << 8),            // O_TRUNC
        (0o40000, 1 << 9),           // O_DIRECT
        (0o200000, 1 << 10),         // O_DIRECTORY
        (0o100000, 1 << 11),         // O_LARGEFILE
        (O_CLOEXEC, 1 << 12),        // O_CLOEXEC
        (0o20000000, 1 << 13),       // __O_TMPFILE
        (OPEN_CREATED, 1 << 14),     // O_F_CREATED
        (OPEN_UPPER_LAYER, 1 << 15), // FD_UPPER_LAYER
        (OPEN_LOWER_LAYER, 1 << 16), // FD_LOWER_LAYER
    ];
    for (k, p) in MAP {
        if raw & k != 0 {
            f |= p;
        }
    }
    f
}

/// Kernel `CLONE_*` flags to `PPM_CL_*` (also used by unshare and setns).
pub fn clone_flags_to_ppm(raw: u64) -> u32 {
    const MAP: &[(u64, u32)] = &[
        (0x400, 1 << 0),        // CLONE_FILES
        (0x200, 1 << 1),        // CLONE_FS
        (0x8000_0000, 1 << 2),  // CLONE_IO
        (0x0800_0000, 1 << 3),  // CLONE_NEWIPC
        (0x4000_0000, 1 << 4),  // CLONE_NEWNET
        (0x0002_0000, 1 << 5),  // CLONE_NEWNS
        (0x2000_0000, 1 << 6),  // CLONE_NEWPID
        (0x0400_0000, 1 << 7),  // CLONE_NEWUTS
        (0x8000, 1 << 8),       // CLONE_PARENT
        (0x0010_0000, 1 << 9),  // CLONE_PARENT_SETTID
        (0x2000, 1 << 10),      // CLONE_PTRACE
        (0x800, 1 << 11),       // CLONE_SIGHAND
        (0x0004_0000, 1 << 12), // CLONE_SYSVSEM
        (0x0001_0000, 1 << 13), // CLONE_THREAD
        (0x0080_0000, 1 << 14), // CLONE_UNTRACED
        (0x100, 1 << 15),       // CLONE_VM
        (0x1000_0000, 1 << 20), // CLONE_NEWUSER
        (0x0020_0000, 1 << 23), // CLONE_CHILD_CLEARTID
        (0x0100_0000, 1 << 24), // CLONE_CHILD_SETTID
        (0x0008_0000, 1 << 25), // CLONE_SETTLS
        (0x4000, 1 << 27),      // CLONE_VFORK
        (0x0200_0000, 1 << 28), // CLONE_NEWCGROUP
    ];
    MAP.iter()
        .filter(|(k, _)| raw & k != 0)
        .fold(0, |acc, (_, p)| acc | p)
}

/// Kernel `PTRACE_*` request to `PPM_PTRACE_*` (0 = unknown).
pub fn ptrace_request_to_ppm(raw: u32) -> u32 {
    match raw {
        0 => 1,
        1 => 2,
        2 => 3,
        3 => 4,
        4 => 5,
        5 => 6,
        6 => 7,
        7 => 8,
        8 => 9,
        9 => 10,
        16 => 11,
        17 => 12,
        24 => 13,
        0x4200 => 14,
        0x4201 => 15,
        0x4202 => 16,
        0x4203 => 17,
        0x4204 => 18,
        0x4205 => 19,
        0x4206 => 20,
        0x4207 => 21,
        0x4208 => 22,
        0x4209 => 23,
        0x420a => 24,
        0x420b => 25,
        12 => 26,
        13 => 27,
        14 => 28,
        15 => 29,
        18 => 30,
        19 => 31,
        21 => 32,
        25 => 33,
        26 => 34,
        30 => 35,
        31 => 36,
        32 => 37,
        33 => 38,
        _ => 0,
    }
}

pub const FILE_FLAGS: FlagTable = FlagTable {
    name: "file_flags",
    is_enum: false,
    entries: &[
        ("O_LARGEFILE", 1 << 11),
        ("O_DIRECTORY", 1 << 10),
        ("O_DIRECT", 1 << 9),
        ("O_TRUNC", 1 << 8),
        ("O_SYNC", 1 << 7),
        ("O_NONBLOCK", 1 << 6),
        ("O_EXCL", 1 << 5),
        ("O_DSYNC", 1 << 4),
        ("O_APPEND", 1 << 3),
        ("O_CREAT", 1 << 2),
        ("O_RDWR", 3),
        ("O_WRONLY", 2),
        ("O_RDONLY", 1),
        ("O_CLOEXEC", 1 << 12),
        ("O_NONE", 0),
        ("O_TMPFILE", 1 << 13),
        ("O_F_CREATED", 1 << 14),
        ("FD_UPPER_LAYER", 1 << 15),
        ("FD_LOWER_LAYER", 1 << 16),
    ],
};

pub const CLONE_FLAGS: FlagTable = FlagTable {
    name: "clone_flags",
    is_enum: false,
    entries: &[
        ("CLONE_FILES", 1 << 0),
        ("CLONE_FS", 1 << 1),
        ("CLONE_IO", 1 << 2),
        ("CLONE_NEWIPC", 1 << 3),
        ("CLONE_NEWNET", 1 << 4),
        ("CLONE_NEWNS", 1 << 5),
        ("CLONE_NEWPID", 1 << 6),
        ("CLONE_NEWUTS", 1 << 7),
        ("CLONE_PARENT", 1 << 8),
        ("CLONE_PARENT_SETTID", 1 << 9),
        ("CLONE_PTRACE", 1 << 10),
        ("CLONE_SIGHAND", 1 << 11),
        ("CLONE_SYSVSEM", 1 << 12),
        ("CLONE_THREAD", 1 << 13),
        ("CLONE_UNTRACED", 1 << 14),
        ("CLONE_VM", 1 << 15),
        ("CLONE_INVERTED", 1 << 16),
        ("NAME_CHANGED", 1 << 17),
        ("CLOSED", 1 << 18),
        ("CLONE_NEWUSER", 1 << 20),
        ("CLONE_CHILD_CLEARTID", 1 << 23),
        ("CLONE_CHILD_SETTID", 1 << 24),
        ("CLONE_SETTLS", 1 << 25),
        ("CLONE_STOPPED", 1 << 26),
        ("CLONE_VFORK", 1 << 27),
        ("CLONE_NEWCGROUP", 1 << 28),
    ],
};

pub const SOCKET_FAMILIES: FlagTable = FlagTable {
    name: "socket_families",
    is_enum: true,
    entries: &[
        ("AF_UNSPEC", 0),
        ("AF_UNIX", 1),
        ("AF_INET", 2),
        ("AF_INET6", 10),
        ("AF_NETLINK", 16),
        ("AF_PACKET", 17),
        ("AF_BLUETOOTH", 31),
        ("AF_VSOCK", 40),
    ],
};

pub const PTRACE_REQUESTS: FlagTable = FlagTable {
    name: "ptrace_requests",
    is_enum: true,
    entries: &[
        ("PTRACE_TRACEME", 1),
        ("PTRACE_PEEKTEXT", 2),
        ("PTRACE_PEEKDATA", 3),
        ("PTRACE_PEEKUSR", 4),
        ("PTRACE_POKETEXT", 5),
        ("PTRACE_POKEDATA", 6),
        ("PTRACE_POKEUSR", 7),
        ("PTRACE_CONT", 8),
        ("PTRACE_KILL", 9),
        ("PTRACE_SINGLESTEP", 10),
        ("PTRACE_ATTACH", 11),
        ("PTRACE_DETACH", 12),
        ("PTRACE_SYSCALL", 13),
        ("PTRACE_SETOPTIONS", 14),
        ("PTRACE_GETEVENTMSG", 15),
        ("PTRACE_GETSIGINFO", 16),
        ("PTRACE_SETSIGINFO", 17),
        ("PTRACE_GETREGSET", 18),
        ("PTRACE_SETREGSET", 19),
        ("PTRACE_SEIZE", 20),
        ("PTRACE_INTERRUPT", 21),
        ("PTRACE_LISTEN", 22),
        ("PTRACE_PEEKSIGINFO", 23),
        ("PTRACE_GETSIGMASK", 24),
        ("PTRACE_SETSIGMASK", 25),
        ("PTRACE_GETREGS", 26),
        ("PTRACE_SETREGS", 27),
        ("PTRACE_GETFPREGS", 28),
        ("PTRACE_SETFPREGS", 29),
        ("PTRACE_GETFPXREGS", 30),
        ("PTRACE_SETFPXREGS", 31),
        ("PTRACE_OLDSETOPTIONS", 32),
        ("PTRACE_GET_THREAD_AREA", 33),
        ("PTRACE_SET_THREAD_AREA", 34),
        ("PTRACE_ARCH_PRCTL", 35),
        ("PTRACE_SYSEMU", 36),
        ("PTRACE_SYSEMU_SINGLESTEP", 37),
        ("PTRACE_SINGLEBLOCK", 38),
    ],
};

pub const UNLINKAT_FLAGS: FlagTable = FlagTable {
    name: "unlinkat_flags",
    is_enum: false,
    entries: &[("AT_REMOVEDIR", 0x200)],
};

pub const LINKAT_FLAGS: FlagTable = FlagTable {
    name: "linkat_flags",
    is_enum: false,
    entries: &[("AT_SYMLINK_FOLLOW", 0x400), ("AT_EMPTY_PATH", 0x1000)],
};

pub const RENAMEAT2_FLAGS: FlagTable = FlagTable {
    name: "renameat2_flags",
    is_enum: false,
    entries: &[
        ("RENAME_NOREPLACE", 1),
        ("RENAME_EXCHANGE", 2),
        ("RENAME_WHITEOUT", 4),
    ],
};

pub const EXECVE_FLAGS: FlagTable = FlagTable {
    name: "execve_flags",
    is_enum: false,
    entries: &[
        ("EXE_WRITABLE", 1),
        ("EXE_UPPER_LAYER", 2),
        ("EXE_FROM_MEMFD", 4),
        ("EXE_LOWER_LAYER", 8),
    ],
};

pub const MEMFD_FLAGS: FlagTable = FlagTable {
    name: "memfd_create_flags",
    is_enum: false,
    entries: &[
        ("MFD_CLOEXEC", 1),
        ("MFD_ALLOW_SEALING", 2),
        ("MFD_HUGETLB", 4),
    ],
};

pub const CREAT_FLAGS: FlagTable = FlagTable {
    name: "creat_flags",
    is_enum: false,
    entries: &[("FD_UPPER_LAYER_CREAT", 1), ("FD_LOWER_LAYER_CREAT", 2)],
};

pub const CLOEXEC_FLAGS: FlagTable = FlagTable {
    name: "cloexec_flags",
    is_enum: false,
    entries: &[("O_CLOEXEC", 1 << 12)],
};

pub const MOUNT_FLAGS: FlagTable = FlagTable {
    name: "mount_flags",
    is_enum: false,
    entries: &[
        ("RDONLY", 1),
        ("NOSUID", 2),
        ("NODEV", 4),
        ("NOEXEC", 8),
        ("SYNCHRONOUS", 16),
        ("REMOUNT", 32),
        ("MANDLOCK", 64),
        ("DIRSYNC", 128),
        ("NOATIME", 1024),
        ("NODIRATIME", 2048),
        ("BIND", 4096),
        ("MOVE", 8192),
        ("REC", 16384),
        ("SILENT", 32768),
        ("POSIXACL", 1 << 16),
        ("UNBINDABLE", 1 << 17),
        ("PRIVATE", 1 << 18),
        ("SLAVE", 1 << 19),
        ("SHARED", 1 << 20),
        ("RELATIME", 1 << 21),
        ("KERNMOUNT", 1 << 22),
        ("I_VERSION", 1 << 23),
        ("STRICTATIME", 1 << 24),
        ("LAZYTIME", 1 << 25),
    ],
};

/// `PROT_*` (x86-64 kernel values) to `PPM_PROT_*`.
pub const PROT_BITS: &[(u64, u32)] = &[
    (0x1, 1 << 0),
    (0x2, 1 << 1),
    (0x4, 1 << 2),
    (0x8, 1 << 3),
    (0x0100_0000, 1 << 4),
    (0x0200_0000, 1 << 5),
];

/// chmod's mode bits (`chmod_mode`), low bits first as Falco lists (and prints) them.
pub const CHMOD_MODE: FlagTable = FlagTable {
    name: "chmod_mode",
    is_enum: false,
    entries: &[
        ("S_IXOTH", 0o1),
        ("S_IWOTH", 0o2),
        ("S_IROTH", 0o4),
        ("S_IXGRP", 0o10),
        ("S_IWGRP", 0o20),
        ("S_IRGRP", 0o40),
        ("S_IXUSR", 0o100),
        ("S_IWUSR", 0o200),
        ("S_IRUSR", 0o400),
        ("S_ISVTX", 0o1000),
        ("S_ISGID", 0o2000),
        ("S_ISUID", 0o4000),
    ],
};

pub const PROT_FLAGS: FlagTable = FlagTable {
    name: "prot_flags",
    is_enum: false,
    entries: &[
        ("PROT_READ", 1 << 0),
        ("PROT_WRITE", 1 << 1),
        ("PROT_EXEC", 1 << 2),
        ("PROT_SEM", 1 << 3),
        ("PROT_GROWSDOWN", 1 << 4),
        ("PROT_GROWSUP", 1 << 5),
        ("PROT_SAO", 1 << 6),
        ("PROT_NONE", 0),
    ],
};

/// `MAP_*` (x86-64 kernel values) to `PPM_MAP_*`.
pub const MMAP_BITS: &[(u64, u32)] = &[
    (0x01, 1 << 0),
    (0x02, 1 << 1),
    (0x10, 1 << 2),
    (0x20, 1 << 3),
    (0x40, 1 << 4),
    (0x4000, 1 << 6),
    (0x8000, 1 << 7),
    (0x10000, 1 << 8),
    (0x0100, 1 << 9),
    (0x0800, 1 << 10),
    (0x1000, 1 << 11),
    (0x2000, 1 << 14),
];

pub const MMAP_FLAGS: FlagTable = FlagTable {
    name: "mmap_flags",
    is_enum: false,
    entries: &[
        ("MAP_SHARED", 1 << 0),
        ("MAP_PRIVATE", 1 << 1),
        ("MAP_FIXED", 1 << 2),
        ("MAP_ANONYMOUS", 1 << 3),
        ("MAP_32BIT", 1 << 4),
        ("MAP_RENAME", 1 << 5),
        ("MAP_NORESERVE", 1 << 6),
        ("MAP_POPULATE", 1 << 7),
        ("MAP_NONBLOCK", 1 << 8),
        ("MAP_GROWSDOWN", 1 << 9),
        ("MAP_DENYWRITE", 1 << 10),
        ("MAP_EXECUTABLE", 1 << 11),
        ("MAP_INHERIT", 1 << 12),
        ("MAP_FILE", 1 << 13),
        ("MAP_LOCKED", 1 << 14),
    ],
};

/// Signal numbers (`PT_SIGTYPE`), rendered with their names.
pub const SIGNALS: FlagTable = FlagTable {
    name: "signals",
    is_enum: true,
    entries: &[
        ("SIGHUP", 1),
        ("SIGINT", 2),
        ("SIGQUIT", 3),
        ("SIGILL", 4),
        ("SIGTRAP", 5),
        ("SIGABRT", 6),
        ("SIGBUS", 7),
        ("SIGFPE", 8),
        ("SIGKILL", 9),
        ("SIGUSR1", 10),
        ("SIGSEGV", 11),
        ("SIGUSR2", 12),
        ("SIGPIPE", 13),
        ("SIGALRM", 14),
        ("SIGTERM", 15),
        ("SIGSTKFLT", 16),
        ("SIGCHLD", 17),
        ("SIGCONT", 18),
        ("SIGSTOP", 19),
        ("SIGTSTP", 20),
        ("SIGTTIN", 21),
        ("SIGTTOU", 22),
        ("SIGURG", 23),
        ("SIGXCPU", 24),
        ("SIGXFSZ", 25),
        ("SIGVTALRM", 26),
        ("SIGPROF", 27),
        ("SIGWINCH", 28),
        ("SIGIO", 29),
        ("SIGPWR", 30),
        ("SIGSYS", 31),
    ],
};

pub const LSEEK_WHENCE: FlagTable = FlagTable {
    name: "lseek_whence",
    is_enum: true,
    entries: &[("SEEK_END", 2), ("SEEK_CUR", 1), ("SEEK_SET", 0)],
};

pub const FLOCK_FLAGS: FlagTable = FlagTable {
    name: "flock_flags",
    is_enum: false,
    entries: &[
        ("LOCK_SH", 1 << 0),
        ("LOCK_EX", 1 << 1),
        ("LOCK_NB", 1 << 2),
        ("LOCK_UN", 1 << 3),
        ("LOCK_NONE", 0),
    ],
};

pub const SHUTDOWN_HOW: FlagTable = FlagTable {
    name: "shutdown_how",
    is_enum: true,
    entries: &[("SHUT_RD", 0), ("SHUT_WR", 1), ("SHUT_RDWR", 2)],
};

pub const SPLICE_FLAGS: FlagTable = FlagTable {
    name: "splice_flags",
    is_enum: false,
    entries: &[
        ("SPLICE_F_MOVE", 1 << 0),
        ("SPLICE_F_NONBLOCK", 1 << 1),
        ("SPLICE_F_MORE", 1 << 2),
        ("SPLICE_F_GIFT", 1 << 3),
    ],
};

pub const ACCESS_FLAGS: FlagTable = FlagTable {
    name: "access_flags",
    is_enum: false,
    entries: &[
        ("F_OK", 0),
        ("R_OK", 1 << 2),
        ("W_OK", 1 << 1),
        ("X_OK", 1 << 0),
    ],
};

/// `AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH` to `PPM_AT_*`.
pub const FCHOWNAT_BITS: &[(u64, u32)] = &[(0x100, 1 << 0), (0x1000, 1 << 1)];

pub const FCHOWNAT_FLAGS: FlagTable = FlagTable {
    name: "fchownat_flags",
    is_enum: false,
    entries: &[("AT_SYMLINK_NOFOLLOW", 1 << 0), ("AT_EMPTY_PATH", 1 << 1)],
};

const O_NONBLOCK: u64 = 0o4000;

/// `EPOLL_CLOEXEC` (`O_CLOEXEC`) to `PPM_EPOLL_CLOEXEC`.
pub const EPOLL_CREATE1_BITS: &[(u64, u32)] = &[(O_CLOEXEC as u64, 1 << 0)];

pub const EPOLL_CREATE1_FLAGS: FlagTable = FlagTable {
    name: "epoll_create1_flags",
    is_enum: false,
    entries: &[("EPOLL_CLOEXEC", 1 << 0)],
};

/// `IN_NONBLOCK`, `IN_CLOEXEC` (the `O_*` values) to `PPM_IN_*`.
pub const INOTIFY_INIT1_BITS: &[(u64, u32)] = &[(O_NONBLOCK, 1 << 0), (O_CLOEXEC as u64, 1 << 1)];

pub const INOTIFY_INIT1_FLAGS: FlagTable = FlagTable {
    name: "inotify_init1_flags",
    is_enum: false,
    entries: &[("IN_NONBLOCK", 1 << 0), ("IN_CLOEXEC", 1 << 1)],
};

/// `PIDFD_NONBLOCK` (`O_NONBLOCK`) to `PPM_PIDFD_NONBLOCK`.
pub const PIDFD_OPEN_BITS: &[(u64, u32)] = &[(O_NONBLOCK, 1 << 0)];

pub const PIDFD_OPEN_FLAGS: FlagTable = FlagTable {
    name: "pidfd_open_flags",
    is_enum: false,
    entries: &[("PIDFD_NONBLOCK", 1 << 0)],
};

pub const MLOCK2_FLAGS: FlagTable = FlagTable {
    name: "mlock2_flags",
    is_enum: false,
    entries: &[("MLOCK_ONFAULT", 1 << 0)],
};

pub const MLOCKALL_FLAGS: FlagTable = FlagTable {
    name: "mlockall_flags",
    is_enum: false,
    entries: &[
        ("MCL_CURRENT", 1 << 0),
        ("MCL_FUTURE", 1 << 1),
        ("MCL_ONFAULT", 1 << 2),
    ],
};

pub const RLIMIT_RESOURCES: FlagTable = FlagTable {
    name: "rlimit_resources",
    is_enum: true,
    entries: &[
        ("RLIMIT_UNKNOWN", 255),
        ("RLIMIT_CPU", 0),
        ("RLIMIT_FSIZE", 1),
        ("RLIMIT_DATA", 2),
        ("RLIMIT_STACK", 3),
        ("RLIMIT_CORE", 4),
        ("RLIMIT_RSS", 5),
        ("RLIMIT_NPROC", 6),
        ("RLIMIT_NOFILE", 7),
        ("RLIMIT_MEMLOCK", 8),
        ("RLIMIT_AS", 9),
        ("RLIMIT_LOCKS", 10),
        ("RLIMIT_SIGPENDING", 11),
        ("RLIMIT_MSGQUEUE", 12),
        ("RLIMIT_NICE", 13),
        ("RLIMIT_RTPRIO", 14),
        ("RLIMIT_RTTIME", 15),
    ],
};

pub const IO_URING_SETUP_FLAGS: FlagTable = FlagTable {
    name: "io_uring_setup_flags",
    is_enum: false,
    entries: &[
        ("IORING_SETUP_IOPOLL", 1 << 0),
        ("IORING_SETUP_SQPOLL", 1 << 1),
        ("IORING_SETUP_SQ_AFF", 1 << 2),
        ("IORING_SETUP_CQSIZE", 1 << 3),
        ("IORING_SETUP_CLAMP", 1 << 4),
        ("IORING_SETUP_ATTACH_WQ", 1 << 5),
        ("IORING_SETUP_R_DISABLED", 1 << 6),
    ],
};

pub const IO_URING_SETUP_FEATS: FlagTable = FlagTable {
    name: "io_uring_setup_feats",
    is_enum: false,
    entries: &[
        ("IORING_FEAT_SINGLE_MMAP", 1 << 0),
        ("IORING_FEAT_NODROP", 1 << 1),
        ("IORING_FEAT_SUBMIT_STABLE", 1 << 2),
        ("IORING_FEAT_RW_CUR_POS", 1 << 3),
        ("IORING_FEAT_CUR_PERSONALITY", 1 << 4),
        ("IORING_FEAT_FAST_POLL", 1 << 5),
        ("IORING_FEAT_POLL_32BITS", 1 << 6),
        ("IORING_FEAT_SQPOLL_NONFIXED", 1 << 7),
        ("IORING_FEAT_ENTER_EXT_ARG", 1 << 8),
        ("IORING_FEAT_NATIVE_WORKERS", 1 << 9),
        ("IORING_FEAT_RSRC_TAGS", 1 << 10),
    ],
};

pub const IO_URING_ENTER_FLAGS: FlagTable = FlagTable {
    name: "io_uring_enter_flags",
    is_enum: false,
    entries: &[
        ("IORING_ENTER_GETEVENTS", 1 << 0),
        ("IORING_ENTER_SQ_WAKEUP", 1 << 1),
        ("IORING_ENTER_SQ_WAIT", 1 << 2),
        ("IORING_ENTER_EXT_ARG", 1 << 3),
    ],
};

pub const IO_URING_REGISTER_OPCODES: FlagTable = FlagTable {
    name: "io_uring_register_opcodes",
    is_enum: true,
    entries: &[
        ("IORING_REGISTER_BUFFERS", 0),
        ("IORING_UNREGISTER_BUFFERS", 1),
        ("IORING_REGISTER_FILES", 2),
        ("IORING_UNREGISTER_FILES", 3),
        ("IORING_REGISTER_EVENTFD", 4),
        ("IORING_UNREGISTER_EVENTFD", 5),
        ("IORING_REGISTER_FILES_UPDATE", 6),
        ("IORING_REGISTER_EVENTFD_ASYNC", 7),
        ("IORING_REGISTER_PROBE", 8),
        ("IORING_REGISTER_PERSONALITY", 9),
        ("IORING_UNREGISTER_PERSONALITY", 10),
        ("IORING_REGISTER_RESTRICTIONS", 11),
        ("IORING_REGISTER_ENABLE_RINGS", 12),
        ("IORING_REGISTER_FILES2", 13),
        ("IORING_REGISTER_FILES_UPDATE2", 14),
        ("IORING_REGISTER_BUFFERS2", 15),
        ("IORING_REGISTER_BUFFERS_UPDATE", 16),
        ("IORING_REGISTER_IOWQ_AFF", 17),
        ("IORING_UNREGISTER_IOWQ_AFF", 18),
        ("IORING_REGISTER_IOWQ_MAX_WORKERS", 19),
        ("IORING_REGISTER_RING_FDS", 20),
        ("IORING_UNREGISTER_RING_FDS", 21),
    ],
};

pub const FUTEX_OPERATIONS: FlagTable = FlagTable {
    name: "futex_operations",
    is_enum: false,
    entries: &[
        ("FUTEX_CLOCK_REALTIME", 256),
        ("FUTEX_PRIVATE_FLAG", 128),
        ("FUTEX_CMP_REQUEUE_PI", 12),
        ("FUTEX_WAIT_REQUEUE_PI", 11),
        ("FUTEX_WAKE_BITSET", 10),
        ("FUTEX_WAIT_BITSET", 9),
        ("FUTEX_TRYLOCK_PI", 8),
        ("FUTEX_UNLOCK_PI", 7),
        ("FUTEX_LOCK_PI", 6),
        ("FUTEX_WAKE_OP", 5),
        ("FUTEX_CMP_REQUEUE", 4),
        ("FUTEX_REQUEUE", 3),
        ("FUTEX_FD", 2),
        ("FUTEX_WAKE", 1),
        ("FUTEX_WAIT", 0),
    ],
};

/// `IPC_CREAT`, `IPC_EXCL` to `PPM_IPC_*` (the permission bits are not flags).
pub const SEMGET_BITS: &[(u64, u32)] = &[(0o1000, 1 << 13), (0o2000, 1 << 14)];

pub const SEMGET_FLAGS: FlagTable = FlagTable {
    name: "semget_flags",
    is_enum: false,
    entries: &[("IPC_EXCL", 1 << 14), ("IPC_CREAT", 1 << 13)],
};

/// `IPC_NOWAIT`, `SEM_UNDO` to `PPM_IPC_NOWAIT`, `PPM_SEM_UNDO`.
pub const SEMOP_BITS: &[(u64, u32)] = &[(0o4000, 1 << 0), (0x1000, 1 << 1)];

pub const SEMOP_FLAGS: FlagTable = FlagTable {
    name: "semop_flags",
    is_enum: false,
    entries: &[("IPC_NOWAIT", 1 << 0), ("SEM_UNDO", 1 << 1)],
};

/// semctl commands (kernel enumeration) to Falco's one-bit-per-command values.
pub const SEMCTL_VALUES: &[(u64, u32)] = &[
    (2, 1 << 0),   // IPC_STAT
    (1, 1 << 1),   // IPC_SET
    (0, 1 << 2),   // IPC_RMID
    (3, 1 << 3),   // IPC_INFO
    (19, 1 << 4),  // SEM_INFO
    (18, 1 << 5),  // SEM_STAT
    (13, 1 << 6),  // GETALL
    (14, 1 << 7),  // GETNCNT
    (11, 1 << 8),  // GETPID
    (12, 1 << 9),  // GETVAL
    (15, 1 << 10), // GETZCNT
    (17, 1 << 11), // SETALL
    (16, 1 << 12), // SETVAL
];

pub const SEMCTL_COMMANDS: FlagTable = FlagTable {
    name: "semctl_commands",
    is_enum: false,
    entries: &[
        ("IPC_STAT", 1 << 0),
        ("IPC_SET", 1 << 1),
        ("IPC_RMID", 1 << 2),
        ("IPC_INFO", 1 << 3),
        ("SEM_INFO", 1 << 4),
        ("SEM_STAT", 1 << 5),
        ("GETALL", 1 << 6),
        ("GETNCNT", 1 << 7),
        ("GETPID", 1 << 8),
        ("GETVAL", 1 << 9),
        ("GETZCNT", 1 << 10),
        ("SETALL", 1 << 11),
        ("SETVAL", 1 << 12),
    ],
};

/// `SOL_SOCKET`, `SOL_TCP` to `PPM_SOCKOPT_LEVEL_*`; any other level is UNKNOWN (0).
pub const SOCKOPT_LEVEL_VALUES: &[(u64, u32)] = &[(1, 1), (6, 2)];

pub const SOCKOPT_LEVELS: FlagTable = FlagTable {
    name: "sockopt_levels",
    is_enum: true,
    entries: &[("SOL_SOCKET", 1), ("SOL_TCP", 2)],
};

/// `SOL_SOCKET` option names (Falco's `PPM_SOCKOPT_*` values are Linux's).
pub const SOCKOPT_OPTIONS: FlagTable = FlagTable {
    name: "sockopt_options",
    is_enum: true,
    entries: &[
        ("SO_DEBUG", 1),
        ("SO_REUSEADDR", 2),
        ("SO_TYPE", 3),
        ("SO_ERROR", 4),
        ("SO_DONTROUTE", 5),
        ("SO_BROADCAST", 6),
        ("SO_SNDBUF", 7),
        ("SO_RCVBUF", 8),
        ("SO_KEEPALIVE", 9),
        ("SO_OOBINLINE", 10),
        ("SO_NO_CHECK", 11),
        ("SO_PRIORITY", 12),
        ("SO_LINGER", 13),
        ("SO_BSDCOMPAT", 14),
        ("SO_REUSEPORT", 15),
        ("SO_PASSCRED", 16),
        ("SO_PEERCRED", 17),
        ("SO_RCVLOWAT", 18),
        ("SO_SNDLOWAT", 19),
        ("SO_RCVTIMEO", 20),
        ("SO_SNDTIMEO", 21),
        ("SO_SECURITY_AUTHENTICATION", 22),
        ("SO_SECURITY_ENCRYPTION_TRANSPORT", 23),
        ("SO_SECURITY_ENCRYPTION_NETWORK", 24),
        ("SO_BINDTODEVICE", 25),
        ("SO_ATTACH_FILTER", 26),
        ("SO_DETACH_FILTER", 27),
        ("SO_PEERNAME", 28),
        ("SO_TIMESTAMP", 29),
        ("SO_ACCEPTCONN", 30),
        ("SO_PEERSEC", 31),
        ("SO_SNDBUFFORCE", 32),
        ("SO_RCVBUFFORCE", 33),
        ("SO_PASSSEC", 34),
        ("SO_TIMESTAMPNS", 35),
        ("SO_MARK", 36),
        ("SO_TIMESTAMPING", 37),
        ("SO_PROTOCOL", 38),
        ("SO_DOMAIN", 39),
        ("SO_RXQ_OVFL", 40),
        ("SO_WIFI_STATUS", 41),
        ("SO_PEEK_OFF", 42),
        ("SO_NOFCS", 43),
        ("SO_LOCK_FILTER", 44),
        ("SO_SELECT_ERR_QUEUE", 45),
        ("SO_BUSY_POLL", 46),
        ("SO_MAX_PACING_RATE", 47),
        ("SO_BPF_EXTENSIONS", 48),
        ("SO_INCOMING_CPU", 49),
        ("SO_ATTACH_BPF", 50),
        ("SO_ATTACH_REUSEPORT_CBPF", 51),
        ("SO_ATTACH_REUSEPORT_EBPF", 52),
        ("SO_CNX_ADVICE", 53),
        ("SO_MEMINFO", 55),
        ("SO_INCOMING_NAPI_ID", 56),
        ("SO_COOKIE", 57),
        ("SO_PEERGROUPS", 59),
        ("SO_ZEROCOPY", 60),
    ],
};

pub const FSCONFIG_CMDS: FlagTable = FlagTable {
    name: "fsconfig_cmds",
    is_enum: true,
    entries: &[
        ("FSCONFIG_SET_FLAG", 0),
        ("FSCONFIG_SET_STRING", 1),
        ("FSCONFIG_SET_BINARY", 2),
        ("FSCONFIG_SET_PATH", 3),
        ("FSCONFIG_SET_PATH_EMPTY", 4),
        ("FSCONFIG_SET_FD", 5),
        ("FSCONFIG_CMD_CREATE", 6),
        ("FSCONFIG_CMD_RECONFIGURE", 7),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    fn check(table: &FlagTable, value: u32, expected: Option<&str>) {
        assert_eq!(
            table.render(value).as_deref(),
            expected,
            "{} {value:#x}",
            table.name
        );
    }

    #[test]
    fn renders_like_falco() {
        check(
            &FILE_FLAGS,
            open_flags_to_ppm(0o2000000),
            Some("O_RDONLY|O_CLOEXEC"),
        );
        check(&FILE_FLAGS, open_flags_to_ppm(0), Some("O_RDONLY"));
        check(
            &FILE_FLAGS,
            open_flags_to_ppm(0o1101),
            Some("O_TRUNC|O_CREAT|O_WRONLY"),
        );
        check(&FILE_FLAGS, open_flags_to_ppm(0o2), Some("O_RDWR"));
        check(
            &FILE_FLAGS,
            open_flags_to_ppm(OPEN_UPPER_LAYER),
            Some("O_RDONLY|FD_UPPER_LAYER"),
        );
        check(
            &FILE_FLAGS,
            open_flags_to_ppm(0o301 | OPEN_CREATED),
            Some("O_EXCL|O_CREAT|O_WRONLY|O_F_CREATED"),
        );
        check(&FILE_FLAGS, 0, Some("O_NONE"));
        check(
            &CLONE_FLAGS,
            clone_flags_to_ppm(0x2002_0000),
            Some("CLONE_NEWNS|CLONE_NEWPID"),
        );
        check(&CLONE_FLAGS, 0, None);
        check(&SOCKET_FAMILIES, 10, Some("AF_INET6"));
        check(&SOCKET_FAMILIES, 99, None);
        check(
            &PTRACE_REQUESTS,
            ptrace_request_to_ppm(16),
            Some("PTRACE_ATTACH"),
        );
        check(
            &PTRACE_REQUESTS,
            ptrace_request_to_ppm(0x4206),
            Some("PTRACE_SEIZE"),
        );
        check(&UNLINKAT_FLAGS, 0x200, Some("AT_REMOVEDIR"));
        check(&EXECVE_FLAGS, 4, Some("EXE_FROM_MEMFD"));
        assert_eq!(Conv::MountFlags.apply(0xc0ed_1001), 0x1001);
        assert_eq!(Conv::Cloexec.apply(0o2000000), 1 << 12);
        assert_eq!(FILE_FLAGS.value_of("O_CREAT"), Some(4));
    }
}
