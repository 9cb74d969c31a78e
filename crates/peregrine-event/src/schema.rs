//! Parameter schemas: for each record kind and syscall, Falco's parameter names and types.
//!
//! The kernel writes values in this order; the names and types are Falco's latest exit-event
//! versions (`driver/event_table.c`, summarised in scap-format.md §10), so `evt.arg.<name>` and
//! the rendered event line match Falco's. The table lives here and not in the C header because
//! names, types and flag tables are user-space concerns; the per-syscall kernel tests check
//! that both sides agree on every parameter.

use crate::flags::{self, Conv, FlagTable};
use crate::raw::{KIND_PROCEXIT, KIND_SYSCALL, KIND_SYSCALL_ENTER};

/// Falco's parameter types (`enum ppm_param_type`), reduced to the distinctions decoding and
/// rendering need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// A file descriptor or an fd-valued result (`PT_FD`), signed 64-bit.
    Fd,
    /// A syscall result, negative errno on failure (`PT_ERRNO`).
    Errno,
    /// A pid or tid (`PT_PID`).
    Pid,
    /// A signed integer (`PT_INT32`, `PT_INT64`).
    Int,
    /// An unsigned integer of 1–8 bytes.
    Uint,
    Uid,
    Gid,
    /// File mode bits, rendered in octal (Falco's `PT_UINT32` with `PF_OCT`: open's `mode`).
    Mode,
    /// `PT_MODE` (chmod's `mode`): octal, resolved to `S_I*` names (`flags::CHMOD_MODE`).
    ChmodMode,
    /// ns since the epoch (`PT_ABSTIME`).
    AbsTime,
    /// NUL-terminated string (`PT_CHARBUF`).
    Str,
    /// Absolute or cwd-relative path (`PT_FSPATH`).
    Path,
    /// Path relative to the dirfd parameter at the given index (`PT_FSRELPATH`).
    RelPath(u8),
    /// Raw bytes (`PT_BYTEBUF`).
    Bytes,
    /// NUL-separated list (execve `args`, `env`, `cgroups`; a `PT_BYTEBUF` on the wire).
    List,
    SockAddr,
    SockTuple,
    /// `u8` index + value (`PT_DYN`, ptrace addr/data).
    Dyn,
    /// `u16` count, then count × (`i64` fd, `u16` `PPM_POLL*` flags) (`PT_FDLIST`, poll's
    /// `fds`). The kernel writes Falco's flag values itself: the list is one compound value,
    /// copied as is to and from capture files.
    FdList,
    /// Bit flags with Falco's name table, after converting the kernel value.
    Flags(&'static FlagTable, Conv),
    /// An enumeration with Falco's name table, after converting the kernel value.
    Enum(&'static FlagTable, Conv),
}

impl ParamType {
    /// A signed integer on the wire, sign-extended when widened: fds, results, pids.
    pub fn is_signed_int(self) -> bool {
        matches!(self, Self::Fd | Self::Errno | Self::Pid | Self::Int)
    }

    /// An unsigned integer without a name table: counts, ids, modes, times.
    pub fn is_unsigned_int(self) -> bool {
        matches!(
            self,
            Self::Uint | Self::Uid | Self::Gid | Self::Mode | Self::ChmodMode | Self::AbsTime
        )
    }
}

/// One parameter of a schema.
#[derive(Debug, PartialEq, Eq)]
pub struct ParamInfo {
    pub name: &'static str,
    pub ty: ParamType,
}

/// The parameters of one event.
#[derive(Debug, PartialEq, Eq)]
pub struct Schema {
    /// The `evt.type` name.
    pub name: &'static str,
    pub params: &'static [ParamInfo],
}

impl Schema {
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|p| p.name == name)
    }
}

macro_rules! p {
    ($name:literal, $ty:expr) => {
        ParamInfo {
            name: $name,
            ty: $ty,
        }
    };
}

use ParamType::*;

const OPEN_FLAGS: ParamType = Flags(&flags::FILE_FLAGS, Conv::OpenFlags);
const CLONE_FLAGS: ParamType = Flags(&flags::CLONE_FLAGS, Conv::CloneFlags);
/// `PT_SIGTYPE`: a signal number, rendered with its name.
const SIG: ParamType = Enum(&flags::SIGNALS, Conv::None);
const PROT: ParamType = Flags(&flags::PROT_FLAGS, Conv::Bits(flags::PROT_BITS));
const RLIMIT: ParamType = Enum(&flags::RLIMIT_RESOURCES, Conv::None);
/// getsockopt/setsockopt: `val` is a PT_DYN whose index says the value's type.
const SOCKOPT_PARAMS: &[ParamInfo] = &[
    p!("res", Errno),
    p!("fd", Fd),
    p!(
        "level",
        Enum(
            &flags::SOCKOPT_LEVELS,
            Conv::Values(flags::SOCKOPT_LEVEL_VALUES)
        )
    ),
    p!("optname", Enum(&flags::SOCKOPT_OPTIONS, Conv::None)),
    p!("val", Dyn),
    p!("optlen", Uint),
];
const SEMOP_FLG: ParamType = Flags(&flags::SEMOP_FLAGS, Conv::Bits(flags::SEMOP_BITS));

const EXEC_PARAMS: &[ParamInfo] = &[
    p!("res", Errno),
    p!("exe", Str),
    p!("args", List),
    p!("tid", Pid),
    p!("pid", Pid),
    p!("ptid", Pid),
    p!("cwd", Path),
    p!("fdlimit", Uint),
    p!("pgft_maj", Uint),
    p!("pgft_min", Uint),
    p!("vm_size", Uint),
    p!("vm_rss", Uint),
    p!("vm_swap", Uint),
    p!("comm", Str),
    p!("cgroups", List),
    p!("env", List),
    p!("tty", Uint),
    p!("vpgid", Pid),
    p!("loginuid", Uid),
    p!("flags", Flags(&flags::EXECVE_FLAGS, Conv::None)),
    p!("cap_inheritable", Uint),
    p!("cap_permitted", Uint),
    p!("cap_effective", Uint),
    p!("exe_ino", Uint),
    p!("exe_ino_ctime", AbsTime),
    p!("exe_ino_mtime", AbsTime),
    p!("uid", Uid),
    p!("trusted_exepath", Path),
    p!("pgid", Pid),
    p!("gid", Gid),
    p!("filename", Path),
];

/// execveat has execve's parameters but the trailing `filename`.
const EXECVEAT_PARAMS: &[ParamInfo] = EXEC_PARAMS.split_at(30).0;

const CLONE_PARAMS: &[ParamInfo] = &[
    p!("res", Pid),
    p!("exe", Str),
    p!("args", List),
    p!("tid", Pid),
    p!("pid", Pid),
    p!("ptid", Pid),
    p!("cwd", Path),
    p!("fdlimit", Uint),
    p!("pgft_maj", Uint),
    p!("pgft_min", Uint),
    p!("vm_size", Uint),
    p!("vm_rss", Uint),
    p!("vm_swap", Uint),
    p!("comm", Str),
    p!("cgroups", List),
    p!("flags", CLONE_FLAGS),
    p!("uid", Uid),
    p!("gid", Gid),
    p!("vtid", Pid),
    p!("vpid", Pid),
    p!("pidns_init_start_ts", Uint),
];

macro_rules! schema {
    ($name:literal, [$($param:expr),* $(,)?]) => {
        Some(&Schema { name: $name, params: &[$($param),*] })
    };
}

/// The schema of a record, from its kind and syscall number.
pub fn schema_for(kind: u16, nr: u16) -> Option<&'static Schema> {
    match kind {
        KIND_SYSCALL | KIND_SYSCALL_ENTER => syscall_schema(nr),
        KIND_PROCEXIT => schema!(
            "procexit",
            [
                p!("status", Errno),
                p!("ret", Errno),
                p!("sig", Uint),
                p!("core", Uint),
                p!("reaper_tid", Pid),
            ]
        ),
        _ => None,
    }
}

/// The generic schema used for selected syscalls without a dedicated writer.
fn generic(nr: u16) -> Option<&'static Schema> {
    static GENERIC: std::sync::OnceLock<Vec<Schema>> = std::sync::OnceLock::new();
    let all = GENERIC.get_or_init(|| {
        (0..crate::raw::MAX_SYSCALLS as u32)
            .map(|n| Schema {
                name: crate::EventType::from_syscall_nr(n)
                    .map(|t| t.name())
                    .unwrap_or("syscall"),
                params: &[p!("res", Errno), p!("ID", Uint), p!("nativeID", Uint)],
            })
            .collect()
    });
    all.get(nr as usize)
}

fn syscall_schema(nr: u16) -> Option<&'static Schema> {
    match nr {
        2 => schema!(
            "open",
            [
                p!("fd", Fd),
                p!("name", Path),
                p!("flags", OPEN_FLAGS),
                p!("mode", Mode),
                p!("dev", Uint),
                p!("ino", Uint),
            ]
        ),
        257 => schema!(
            "openat",
            [
                p!("fd", Fd),
                p!("dirfd", Fd),
                p!("name", RelPath(1)),
                p!("flags", OPEN_FLAGS),
                p!("mode", Mode),
                p!("dev", Uint),
                p!("ino", Uint),
            ]
        ),
        437 => schema!(
            "openat2",
            [
                p!("fd", Fd),
                p!("dirfd", Fd),
                p!("name", RelPath(1)),
                p!("flags", OPEN_FLAGS),
                p!("mode", Mode),
                p!("resolve", Uint),
                p!("dev", Uint),
                p!("ino", Uint),
            ]
        ),
        85 => schema!(
            "creat",
            [
                p!("fd", Fd),
                p!("name", Path),
                p!("mode", Mode),
                p!("dev", Uint),
                p!("ino", Uint),
                p!("creat_flags", Flags(&flags::CREAT_FLAGS, Conv::None)),
            ]
        ),
        3 => schema!("close", [p!("res", Errno), p!("fd", Fd)]),
        81 => schema!("fchdir", [p!("res", Errno), p!("fd", Fd)]),
        32 => schema!("dup", [p!("res", Fd), p!("oldfd", Fd)]),
        33 => schema!("dup2", [p!("res", Fd), p!("oldfd", Fd), p!("newfd", Fd)]),
        292 => schema!(
            "dup3",
            [
                p!("res", Fd),
                p!("oldfd", Fd),
                p!("newfd", Fd),
                p!("flags", Flags(&flags::CLOEXEC_FLAGS, Conv::Cloexec)),
            ]
        ),
        72 => schema!("fcntl", [p!("res", Fd), p!("fd", Fd), p!("cmd", Uint)]),
        84 => schema!("rmdir", [p!("res", Errno), p!("path", Path)]),
        87 => schema!("unlink", [p!("res", Errno), p!("path", Path)]),
        80 => schema!("chdir", [p!("res", Errno), p!("path", Path)]),
        83 => schema!(
            "mkdir",
            [p!("res", Errno), p!("path", Path), p!("mode", Uint)]
        ),
        90 => schema!(
            "chmod",
            [
                p!("res", Errno),
                p!("filename", Path),
                p!("mode", ChmodMode)
            ]
        ),
        91 => schema!(
            "fchmod",
            [p!("res", Errno), p!("fd", Fd), p!("mode", ChmodMode)]
        ),
        258 => schema!(
            "mkdirat",
            [
                p!("res", Errno),
                p!("dirfd", Fd),
                p!("path", RelPath(1)),
                p!("mode", Uint),
            ]
        ),
        268 => schema!(
            "fchmodat",
            [
                p!("res", Errno),
                p!("dirfd", Fd),
                p!("filename", RelPath(1)),
                p!("mode", ChmodMode),
            ]
        ),
        263 => schema!(
            "unlinkat",
            [
                p!("res", Errno),
                p!("dirfd", Fd),
                p!("name", RelPath(1)),
                p!("flags", Flags(&flags::UNLINKAT_FLAGS, Conv::None)),
            ]
        ),
        82 => schema!(
            "rename",
            [p!("res", Errno), p!("oldpath", Path), p!("newpath", Path)]
        ),
        86 => schema!(
            "link",
            [p!("res", Errno), p!("oldpath", Path), p!("newpath", Path)]
        ),
        88 => schema!(
            "symlink",
            [p!("res", Errno), p!("target", Str), p!("linkpath", Path)]
        ),
        264 => schema!(
            "renameat",
            [
                p!("res", Errno),
                p!("olddirfd", Fd),
                p!("oldpath", RelPath(1)),
                p!("newdirfd", Fd),
                p!("newpath", RelPath(3)),
            ]
        ),
        265 => schema!(
            "linkat",
            [
                p!("res", Errno),
                p!("olddir", Fd),
                p!("oldpath", RelPath(1)),
                p!("newdir", Fd),
                p!("newpath", RelPath(3)),
                p!("flags", Flags(&flags::LINKAT_FLAGS, Conv::None)),
            ]
        ),
        316 => schema!(
            "renameat2",
            [
                p!("res", Errno),
                p!("olddirfd", Fd),
                p!("oldpath", RelPath(1)),
                p!("newdirfd", Fd),
                p!("newpath", RelPath(3)),
                p!("flags", Flags(&flags::RENAMEAT2_FLAGS, Conv::None)),
            ]
        ),
        266 => schema!(
            "symlinkat",
            [
                p!("res", Errno),
                p!("target", Str),
                p!("linkdirfd", Fd),
                p!("linkpath", RelPath(2)),
            ]
        ),
        41 => schema!(
            "socket",
            [
                p!("fd", Fd),
                p!("domain", Enum(&flags::SOCKET_FAMILIES, Conv::None)),
                p!("type", Uint),
                p!("proto", Uint),
                p!("flags", Uint),
            ]
        ),
        53 => schema!(
            "socketpair",
            [
                p!("res", Errno),
                p!("fd1", Fd),
                p!("fd2", Fd),
                p!("source", Uint),
                p!("peer", Uint),
                p!("domain", Enum(&flags::SOCKET_FAMILIES, Conv::None)),
                p!("type", Uint),
                p!("proto", Uint),
            ]
        ),
        22 => schema!(
            "pipe",
            [
                p!("res", Errno),
                p!("fd1", Fd),
                p!("fd2", Fd),
                p!("ino", Uint)
            ]
        ),
        293 => schema!(
            "pipe2",
            [
                p!("res", Errno),
                p!("fd1", Fd),
                p!("fd2", Fd),
                p!("ino", Uint),
                p!("flags", Flags(&flags::CLOEXEC_FLAGS, Conv::Cloexec)),
            ]
        ),
        42 => schema!(
            "connect",
            [
                p!("res", Errno),
                p!("tuple", SockTuple),
                p!("fd", Fd),
                p!("addr", SockAddr),
            ]
        ),
        49 => schema!(
            "bind",
            [p!("res", Errno), p!("addr", SockAddr), p!("fd", Fd)]
        ),
        50 => schema!(
            "listen",
            [p!("res", Errno), p!("fd", Fd), p!("backlog", Int)]
        ),
        43 => schema!(
            "accept",
            [
                p!("fd", Fd),
                p!("tuple", SockTuple),
                p!("queuepct", Uint),
                p!("queuelen", Uint),
                p!("queuemax", Uint),
            ]
        ),
        288 => schema!(
            "accept4",
            [
                p!("fd", Fd),
                p!("tuple", SockTuple),
                p!("queuepct", Uint),
                p!("queuelen", Uint),
                p!("queuemax", Uint),
                p!("flags", Int),
            ]
        ),
        44 => schema!(
            "sendto",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint),
                p!("tuple", SockTuple),
            ]
        ),
        45 => schema!(
            "recvfrom",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("tuple", SockTuple),
                p!("fd", Fd),
                p!("size", Uint),
            ]
        ),
        46 => schema!(
            "sendmsg",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint),
                p!("tuple", SockTuple),
            ]
        ),
        47 => schema!(
            "recvmsg",
            [
                p!("res", Errno),
                p!("size", Uint),
                p!("data", Bytes),
                p!("tuple", SockTuple),
                p!("msgcontrol", Bytes),
                p!("fd", Fd),
            ]
        ),
        // readv/preadv report the bytes read (up to the snaplen) and the vector's total size;
        // writev/pwritev the bytes given (up to the snaplen), whatever the result.
        19 => schema!(
            "readv",
            [
                p!("res", Errno),
                p!("size", Uint),
                p!("data", Bytes),
                p!("fd", Fd),
            ]
        ),
        295 => schema!(
            "preadv",
            [
                p!("res", Errno),
                p!("size", Uint),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("pos", Uint),
            ]
        ),
        20 => schema!(
            "writev",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint),
            ]
        ),
        296 => schema!(
            "pwritev",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint),
                p!("pos", Uint),
            ]
        ),
        // select/pselect6 have no fd list in Falco's table (only `res`): generic events.
        7 => schema!(
            "poll",
            [p!("res", Errno), p!("fds", FdList), p!("timeout", Int)]
        ),
        271 => schema!(
            "ppoll",
            [
                p!("res", Errno),
                p!("fds", FdList),
                p!("timeout", Uint),
                p!("sigmask", Uint),
            ]
        ),
        101 => schema!(
            "ptrace",
            [
                p!("res", Errno),
                p!("addr", Dyn),
                p!("data", Dyn),
                p!(
                    "request",
                    Enum(&flags::PTRACE_REQUESTS, Conv::PtraceRequest)
                ),
                p!("pid", Pid),
            ]
        ),
        105 => schema!("setuid", [p!("res", Errno), p!("uid", Uid)]),
        112 => schema!("setsid", [p!("res", Pid)]),
        109 => schema!(
            "setpgid",
            [p!("res", Errno), p!("pid", Pid), p!("pgid", Pid)]
        ),
        106 => schema!("setgid", [p!("res", Errno), p!("gid", Gid)]),
        117 => schema!(
            "setresuid",
            [
                p!("res", Errno),
                p!("ruid", Uid),
                p!("euid", Uid),
                p!("suid", Uid)
            ]
        ),
        119 => schema!(
            "setresgid",
            [
                p!("res", Errno),
                p!("rgid", Gid),
                p!("egid", Gid),
                p!("sgid", Gid)
            ]
        ),
        272 => schema!("unshare", [p!("res", Errno), p!("flags", CLONE_FLAGS)]),
        323 => schema!("userfaultfd", [p!("res", Errno), p!("flags", Uint)]),
        308 => schema!(
            "setns",
            [p!("res", Errno), p!("fd", Fd), p!("nstype", CLONE_FLAGS)]
        ),
        126 => schema!(
            "capset",
            [
                p!("res", Errno),
                p!("cap_inheritable", Uint),
                p!("cap_permitted", Uint),
                p!("cap_effective", Uint),
            ]
        ),
        157 => schema!(
            "prctl",
            [
                p!("res", Errno),
                p!("option", Uint),
                p!("arg2_str", Str),
                p!("arg2_int", Int),
            ]
        ),
        165 => schema!(
            "mount",
            [
                p!("res", Errno),
                p!("dev", Str),
                p!("dir", Path),
                p!("type", Str),
                p!("flags", Flags(&flags::MOUNT_FLAGS, Conv::MountFlags)),
            ]
        ),
        166 => schema!(
            "umount2",
            [p!("res", Errno), p!("name", Path), p!("flags", Uint)]
        ),
        175 => schema!(
            "init_module",
            [
                p!("res", Errno),
                p!("img", Bytes),
                p!("length", Uint),
                p!("uargs", Str),
            ]
        ),
        313 => schema!(
            "finit_module",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("uargs", Str),
                p!("flags", Uint),
            ]
        ),
        319 => schema!(
            "memfd_create",
            [
                p!("fd", Fd),
                p!("name", Str),
                p!("flags", Flags(&flags::MEMFD_FLAGS, Conv::None)),
            ]
        ),
        321 => schema!("bpf", [p!("fd", Fd), p!("cmd", Uint)]),
        284 => schema!(
            "eventfd",
            [p!("res", Fd), p!("initval", Uint), p!("flags", Uint)]
        ),
        290 => schema!(
            "eventfd2",
            [p!("res", Fd), p!("initval", Uint), p!("flags", Uint)]
        ),
        282 => schema!(
            "signalfd",
            [
                p!("res", Fd),
                p!("fd", Fd),
                p!("mask", Uint),
                p!("flags", Uint)
            ]
        ),
        289 => schema!(
            "signalfd4",
            [
                p!("res", Fd),
                p!("fd", Fd),
                p!("mask", Uint),
                p!("flags", Uint)
            ]
        ),
        59 => Some(&Schema {
            name: "execve",
            params: EXEC_PARAMS,
        }),
        322 => Some(&Schema {
            name: "execveat",
            params: EXECVEAT_PARAMS,
        }),
        56 => Some(&Schema {
            name: "clone",
            params: CLONE_PARAMS,
        }),
        57 => Some(&Schema {
            name: "fork",
            params: CLONE_PARAMS,
        }),
        58 => Some(&Schema {
            name: "vfork",
            params: CLONE_PARAMS,
        }),
        435 => Some(&Schema {
            name: "clone3",
            params: CLONE_PARAMS,
        }),
        0 => schema!(
            "read",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint)
            ]
        ),
        1 => schema!(
            "write",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint)
            ]
        ),
        17 => schema!(
            "pread64",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint),
                p!("pos", Uint)
            ]
        ),
        18 => schema!(
            "pwrite64",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint),
                p!("pos", Uint)
            ]
        ),
        4 => schema!("stat", [p!("res", Errno), p!("path", Path)]),
        6 => schema!("lstat", [p!("res", Errno), p!("path", Path)]),
        5 => schema!("fstat", [p!("res", Errno), p!("fd", Fd)]),
        78 => schema!("getdents", [p!("res", Errno), p!("fd", Fd)]),
        217 => schema!("getdents64", [p!("res", Errno), p!("fd", Fd)]),
        161 => schema!("chroot", [p!("res", Errno), p!("path", Path)]),
        79 => schema!("getcwd", [p!("res", Errno), p!("path", Str)]),
        21 => schema!(
            "access",
            [
                p!("res", Errno),
                p!("name", Path),
                p!("mode", Flags(&flags::ACCESS_FLAGS, Conv::None))
            ]
        ),
        92 => schema!(
            "chown",
            [
                p!("res", Errno),
                p!("path", Path),
                p!("uid", Uint),
                p!("gid", Uint)
            ]
        ),
        94 => schema!(
            "lchown",
            [
                p!("res", Errno),
                p!("path", Path),
                p!("uid", Uint),
                p!("gid", Uint)
            ]
        ),
        93 => schema!(
            "fchown",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("uid", Uint),
                p!("gid", Uint)
            ]
        ),
        260 => schema!(
            "fchownat",
            [
                p!("res", Errno),
                p!("dirfd", Fd),
                p!("pathname", RelPath(1)),
                p!("uid", Uint),
                p!("gid", Uint),
                p!(
                    "flags",
                    Flags(&flags::FCHOWNAT_FLAGS, Conv::Bits(flags::FCHOWNAT_BITS))
                ),
            ]
        ),
        62 => schema!("kill", [p!("res", Errno), p!("pid", Pid), p!("sig", SIG)]),
        200 => schema!("tkill", [p!("res", Errno), p!("tid", Pid), p!("sig", SIG)]),
        234 => schema!(
            "tgkill",
            [
                p!("res", Errno),
                p!("pid", Pid),
                p!("tid", Pid),
                p!("sig", SIG)
            ]
        ),
        8 => schema!(
            "lseek",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("offset", Uint),
                p!("whence", Enum(&flags::LSEEK_WHENCE, Conv::None)),
            ]
        ),
        16 => schema!(
            "ioctl",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("request", Uint),
                p!("argument", Uint)
            ]
        ),
        40 => schema!(
            "sendfile",
            [
                p!("res", Errno),
                p!("offset", Uint),
                p!("out_fd", Fd),
                p!("in_fd", Fd),
                p!("size", Uint)
            ]
        ),
        326 => schema!(
            "copy_file_range",
            [
                p!("res", Errno),
                p!("fdout", Fd),
                p!("offout", Uint),
                p!("fdin", Fd),
                p!("offin", Uint),
                p!("len", Uint),
            ]
        ),
        275 => schema!(
            "splice",
            [
                p!("res", Errno),
                p!("fd_in", Fd),
                p!("fd_out", Fd),
                p!("size", Uint),
                p!("flags", Flags(&flags::SPLICE_FLAGS, Conv::None)),
            ]
        ),
        48 => schema!(
            "shutdown",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("how", Enum(&flags::SHUTDOWN_HOW, Conv::None))
            ]
        ),
        73 => schema!(
            "flock",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("operation", Flags(&flags::FLOCK_FLAGS, Conv::None))
            ]
        ),
        434 => schema!(
            "pidfd_open",
            [
                p!("fd", Fd),
                p!("pid", Pid),
                p!(
                    "flags",
                    Flags(&flags::PIDFD_OPEN_FLAGS, Conv::Bits(flags::PIDFD_OPEN_BITS))
                ),
            ]
        ),
        438 => schema!(
            "pidfd_getfd",
            [
                p!("fd", Fd),
                p!("pid_fd", Fd),
                p!("target_fd", Fd),
                p!("flags", Uint)
            ]
        ),
        10 => schema!(
            "mprotect",
            [
                p!("res", Errno),
                p!("addr", Uint),
                p!("length", Uint),
                p!("prot", PROT)
            ]
        ),
        325 => schema!(
            "mlock2",
            [
                p!("res", Errno),
                p!("addr", Uint),
                p!("len", Uint),
                p!("flags", Flags(&flags::MLOCK2_FLAGS, Conv::None)),
            ]
        ),
        149 => schema!(
            "mlock",
            [p!("res", Errno), p!("addr", Uint), p!("len", Uint)]
        ),
        150 => schema!(
            "munlock",
            [p!("res", Errno), p!("addr", Uint), p!("len", Uint)]
        ),
        317 => schema!(
            "seccomp",
            [p!("res", Errno), p!("op", Uint), p!("flags", Uint)]
        ),
        151 => schema!(
            "mlockall",
            [
                p!("res", Errno),
                p!("flags", Flags(&flags::MLOCKALL_FLAGS, Conv::None))
            ]
        ),
        152 => schema!("munlockall", [p!("res", Errno)]),
        213 => schema!("epoll_create", [p!("res", Errno), p!("size", Int)]),
        291 => schema!(
            "epoll_create1",
            [
                p!("res", Errno),
                p!(
                    "flags",
                    Flags(
                        &flags::EPOLL_CREATE1_FLAGS,
                        Conv::Bits(flags::EPOLL_CREATE1_BITS)
                    )
                ),
            ]
        ),
        253 => schema!("inotify_init", [p!("res", Fd), p!("flags", Uint)]),
        294 => schema!(
            "inotify_init1",
            [
                p!("res", Fd),
                p!(
                    "flags",
                    Flags(
                        &flags::INOTIFY_INIT1_FLAGS,
                        Conv::Bits(flags::INOTIFY_INIT1_BITS)
                    )
                ),
            ]
        ),
        283 => schema!(
            "timerfd_create",
            [p!("res", Fd), p!("clockid", Uint), p!("flags", Uint)]
        ),
        232 => schema!("epoll_wait", [p!("res", Errno), p!("maxevents", Errno)]),
        102 => schema!("getuid", [p!("uid", Uid)]),
        104 => schema!("getgid", [p!("gid", Gid)]),
        107 => schema!("geteuid", [p!("euid", Uid)]),
        108 => schema!("getegid", [p!("egid", Gid)]),
        118 => schema!(
            "getresuid",
            [
                p!("res", Errno),
                p!("ruid", Uid),
                p!("euid", Uid),
                p!("suid", Uid)
            ]
        ),
        120 => schema!(
            "getresgid",
            [
                p!("res", Errno),
                p!("rgid", Gid),
                p!("egid", Gid),
                p!("sgid", Gid)
            ]
        ),
        97 => schema!(
            "getrlimit",
            [
                p!("res", Errno),
                p!("cur", Int),
                p!("max", Int),
                p!("resource", RLIMIT)
            ]
        ),
        160 => schema!(
            "setrlimit",
            [
                p!("res", Errno),
                p!("cur", Int),
                p!("max", Int),
                p!("resource", RLIMIT)
            ]
        ),
        302 => schema!(
            "prlimit64",
            [
                p!("res", Errno),
                p!("newcur", Int),
                p!("newmax", Int),
                p!("oldcur", Int),
                p!("oldmax", Int),
                p!("pid", Int),
                p!("resource", RLIMIT),
            ]
        ),
        425 => schema!(
            "io_uring_setup",
            [
                p!("res", Errno),
                p!("entries", Uint),
                p!("sq_entries", Uint),
                p!("cq_entries", Uint),
                p!(
                    "flags",
                    Flags(&flags::IO_URING_SETUP_FLAGS, Conv::Mask(0x7f))
                ),
                p!("sq_thread_cpu", Uint),
                p!("sq_thread_idle", Uint),
                p!(
                    "features",
                    Flags(&flags::IO_URING_SETUP_FEATS, Conv::Mask(0x7ff))
                ),
            ]
        ),
        426 => schema!(
            "io_uring_enter",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("to_submit", Uint),
                p!("min_complete", Uint),
                p!("flags", Flags(&flags::IO_URING_ENTER_FLAGS, Conv::None)),
                p!("sig", Uint),
            ]
        ),
        427 => schema!(
            "io_uring_register",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!(
                    "opcode",
                    Enum(&flags::IO_URING_REGISTER_OPCODES, Conv::None)
                ),
                p!("arg", Uint),
                p!("nr_args", Uint),
            ]
        ),
        9 => schema!(
            "mmap",
            [
                p!("res", Uint),
                p!("vm_size", Uint),
                p!("vm_rss", Uint),
                p!("vm_swap", Uint),
                p!("addr", Uint),
                p!("length", Uint),
                p!("prot", PROT),
                p!(
                    "flags",
                    Flags(&flags::MMAP_FLAGS, Conv::Bits(flags::MMAP_BITS))
                ),
                p!("fd", Fd),
                p!("offset", Uint),
            ]
        ),
        11 => schema!(
            "munmap",
            [
                p!("res", Errno),
                p!("vm_size", Uint),
                p!("vm_rss", Uint),
                p!("vm_swap", Uint),
                p!("addr", Uint),
                p!("length", Uint),
            ]
        ),
        12 => schema!(
            "brk",
            [
                p!("res", Uint),
                p!("vm_size", Uint),
                p!("vm_rss", Uint),
                p!("vm_swap", Uint)
            ]
        ),
        51 => schema!("getsockname", []),
        52 => schema!("getpeername", []),
        35 => schema!("nanosleep", [p!("res", Errno), p!("interval", Uint)]),
        202 => schema!(
            "futex",
            [
                p!("res", Errno),
                p!("addr", Uint),
                p!("op", Flags(&flags::FUTEX_OPERATIONS, Conv::None)),
                p!("val", Uint),
            ]
        ),
        64 => schema!(
            "semget",
            [
                p!("res", Errno),
                p!("key", Int),
                p!("nsems", Int),
                p!(
                    "semflg",
                    Flags(&flags::SEMGET_FLAGS, Conv::Bits(flags::SEMGET_BITS))
                ),
            ]
        ),
        66 => schema!(
            "semctl",
            [
                p!("res", Errno),
                p!("semid", Int),
                p!("semnum", Int),
                p!(
                    "cmd",
                    Flags(&flags::SEMCTL_COMMANDS, Conv::Values(flags::SEMCTL_VALUES))
                ),
                p!("val", Int),
            ]
        ),
        65 => schema!(
            "semop",
            [
                p!("res", Errno),
                p!("nsops", Uint),
                p!("sem_num_0", Uint),
                p!("sem_op_0", Int),
                p!("sem_flg_0", SEMOP_FLG),
                p!("sem_num_1", Uint),
                p!("sem_op_1", Int),
                p!("sem_flg_1", SEMOP_FLG),
                p!("semid", Int),
            ]
        ),
        304 => schema!(
            "open_by_handle_at",
            [
                p!("fd", Fd),
                p!("mountfd", Fd),
                p!("flags", OPEN_FLAGS),
                p!("path", Path),
                p!("dev", Uint),
                p!("ino", Uint),
            ]
        ),
        54 => Some(&Schema {
            name: "setsockopt",
            params: SOCKOPT_PARAMS,
        }),
        55 => Some(&Schema {
            name: "getsockopt",
            params: SOCKOPT_PARAMS,
        }),
        307 => schema!(
            "sendmmsg",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("size", Uint),
                p!("data", Bytes),
                p!("tuple", SockTuple),
            ]
        ),
        299 => schema!(
            "recvmmsg",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("size", Uint),
                p!("data", Bytes),
                p!("tuple", SockTuple),
                p!("msgcontrol", Bytes),
            ]
        ),
        431 => schema!(
            "fsconfig",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("cmd", Enum(&flags::FSCONFIG_CMDS, Conv::None)),
                p!("key", Str),
                p!("value_bytebuf", Bytes),
                p!("value_charbuf", Str),
                p!("aux", Int),
            ]
        ),
        n => generic(n),
    }
}

/// Syscall numbers that have a dedicated writer in the kernel (as opposed to the generic
/// `res, ID, nativeID` record).
pub const DEDICATED: &[u16] = &[
    112, 109, 2, 257, 437, 85, 3, 81, 32, 33, 292, 72, 84, 87, 80, 83, 90, 91, 258, 268, 263, 82,
    86, 88, 264, 265, 316, 266, 41, 53, 22, 293, 42, 49, 50, 43, 288, 44, 45, 46, 47, 101, 105,
    106, 117, 119, 272, 323, 308, 126, 157, 165, 166, 175, 313, 319, 321, 284, 290, 282, 289, 59,
    322, 56, 57, 58, 435, 19, 295, 20, 296, 7, 271, 0, 1, 17, 18, 4, 6, 5, 78, 217, 161, 79, 21,
    92, 94, 93, 260, 62, 200, 234, 8, 16, 40, 326, 275, 48, 73, 434, 438, 10, 325, 149, 150, 317,
    151, 152, 213, 291, 253, 294, 283, 232, 102, 104, 107, 108, 118, 120, 97, 160, 302, 425, 426,
    427, 9, 11, 12, 51, 52, 35, 202, 64, 66, 65, 304, 54, 55, 307, 299, 431,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventType;

    #[test]
    fn dedicated_schemas_are_named_after_their_syscall() {
        for &nr in DEDICATED {
            let s = schema_for(KIND_SYSCALL, nr).expect("schema");
            let t = EventType::from_syscall_nr(nr as u32).expect("known syscall");
            assert_eq!(s.name, t.name(), "syscall {nr}");
            assert!(s.params.len() <= crate::raw::MAX_PARAMS);
            for p in s.params {
                if let RelPath(i) = p.ty {
                    assert_eq!(s.params[i as usize].ty, Fd, "{}.{}", s.name, p.name);
                }
            }
        }
        assert_eq!(
            schema_for(KIND_SYSCALL, 322).map(|s| s.params.len()),
            Some(30)
        );
        assert_eq!(
            schema_for(KIND_SYSCALL, 59).map(|s| s.params.len()),
            Some(31)
        );
        assert_eq!(schema_for(KIND_SYSCALL, 39).map(|s| s.name), Some("getpid"));
        assert_eq!(schema_for(9, 0), None);
    }

    #[test]
    fn covers_every_event_type_of_the_upstream_rules() {
        // rules-notes.md: the 41 evt.type values used by Falco's rules files.
        let names = "accept accept4 bpf chmod connect creat dup dup2 dup3 execve execveat fchmod \
            fchmodat finit_module init_module link linkat listen mkdir mkdirat open openat openat2 \
            ptrace recvfrom recvmsg rename renameat renameat2 rmdir sendmsg sendto setns setuid \
            socket symlink symlinkat unlink unlinkat unshare userfaultfd";
        for name in names.split_whitespace() {
            let nr = EventType::from_name(name)
                .and_then(|t| t.syscall_nr())
                .expect("syscall");
            assert!(
                DEDICATED.contains(&(nr as u16)),
                "{name} has no dedicated writer"
            );
        }
    }
}
