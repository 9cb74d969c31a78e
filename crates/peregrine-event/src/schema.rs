//! Parameter schemas: for each record kind and syscall, Falco's parameter names and types.
//!
//! The kernel writes values in this order; the names and types are Falco's latest exit-event
//! versions (falcosecurity/libs `driver/event_table.c`), so `evt.arg.<name>` and
//! the rendered event line match Falco's. The table lives here and not in the C header because
//! names, types and flag tables are user-space concerns; the per-syscall kernel tests check
//! that both sides agree on every parameter.

use crate::flags::{self, Conv, FlagTable};
use crate::nr;
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
    match dedicated_schema(nr) {
        Some(s) => Some(s),
        None => generic(nr),
    }
}

/// The schemas of the syscalls with a dedicated writer in the kernel; `None` for the others
/// (sent as the generic event). A `const fn` so that [`DEDICATED`] is computed from it at
/// compile time: adding an arm here is what makes a syscall dedicated, for user space and,
/// through `peregrine-capture`'s build script, for the kernel program, whose writers must
/// then handle it or the build fails.
const fn dedicated_schema(nr: u16) -> Option<&'static Schema> {
    match nr {
        nr::OPEN => schema!(
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
        nr::OPENAT => schema!(
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
        nr::OPENAT2 => schema!(
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
        nr::CREAT => schema!(
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
        nr::CLOSE => schema!("close", [p!("res", Errno), p!("fd", Fd)]),
        nr::FCHDIR => schema!("fchdir", [p!("res", Errno), p!("fd", Fd)]),
        nr::DUP => schema!("dup", [p!("res", Fd), p!("oldfd", Fd)]),
        nr::DUP2 => schema!("dup2", [p!("res", Fd), p!("oldfd", Fd), p!("newfd", Fd)]),
        nr::DUP3 => schema!(
            "dup3",
            [
                p!("res", Fd),
                p!("oldfd", Fd),
                p!("newfd", Fd),
                p!("flags", Flags(&flags::CLOEXEC_FLAGS, Conv::Cloexec)),
            ]
        ),
        nr::FCNTL => schema!("fcntl", [p!("res", Fd), p!("fd", Fd), p!("cmd", Uint)]),
        nr::RMDIR => schema!("rmdir", [p!("res", Errno), p!("path", Path)]),
        nr::UNLINK => schema!("unlink", [p!("res", Errno), p!("path", Path)]),
        nr::CHDIR => schema!("chdir", [p!("res", Errno), p!("path", Path)]),
        nr::MKDIR => schema!(
            "mkdir",
            [p!("res", Errno), p!("path", Path), p!("mode", Uint)]
        ),
        nr::CHMOD => schema!(
            "chmod",
            [
                p!("res", Errno),
                p!("filename", Path),
                p!("mode", ChmodMode)
            ]
        ),
        nr::FCHMOD => schema!(
            "fchmod",
            [p!("res", Errno), p!("fd", Fd), p!("mode", ChmodMode)]
        ),
        nr::MKDIRAT => schema!(
            "mkdirat",
            [
                p!("res", Errno),
                p!("dirfd", Fd),
                p!("path", RelPath(1)),
                p!("mode", Uint),
            ]
        ),
        nr::FCHMODAT => schema!(
            "fchmodat",
            [
                p!("res", Errno),
                p!("dirfd", Fd),
                p!("filename", RelPath(1)),
                p!("mode", ChmodMode),
            ]
        ),
        nr::UNLINKAT => schema!(
            "unlinkat",
            [
                p!("res", Errno),
                p!("dirfd", Fd),
                p!("name", RelPath(1)),
                p!("flags", Flags(&flags::UNLINKAT_FLAGS, Conv::None)),
            ]
        ),
        nr::RENAME => schema!(
            "rename",
            [p!("res", Errno), p!("oldpath", Path), p!("newpath", Path)]
        ),
        nr::LINK => schema!(
            "link",
            [p!("res", Errno), p!("oldpath", Path), p!("newpath", Path)]
        ),
        nr::SYMLINK => schema!(
            "symlink",
            [p!("res", Errno), p!("target", Str), p!("linkpath", Path)]
        ),
        nr::RENAMEAT => schema!(
            "renameat",
            [
                p!("res", Errno),
                p!("olddirfd", Fd),
                p!("oldpath", RelPath(1)),
                p!("newdirfd", Fd),
                p!("newpath", RelPath(3)),
            ]
        ),
        nr::LINKAT => schema!(
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
        nr::RENAMEAT2 => schema!(
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
        nr::SYMLINKAT => schema!(
            "symlinkat",
            [
                p!("res", Errno),
                p!("target", Str),
                p!("linkdirfd", Fd),
                p!("linkpath", RelPath(2)),
            ]
        ),
        nr::SOCKET => schema!(
            "socket",
            [
                p!("fd", Fd),
                p!("domain", Enum(&flags::SOCKET_FAMILIES, Conv::None)),
                p!("type", Uint),
                p!("proto", Uint),
                p!("flags", Uint),
            ]
        ),
        nr::SOCKETPAIR => schema!(
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
        nr::PIPE => schema!(
            "pipe",
            [
                p!("res", Errno),
                p!("fd1", Fd),
                p!("fd2", Fd),
                p!("ino", Uint)
            ]
        ),
        nr::PIPE2 => schema!(
            "pipe2",
            [
                p!("res", Errno),
                p!("fd1", Fd),
                p!("fd2", Fd),
                p!("ino", Uint),
                p!("flags", Flags(&flags::CLOEXEC_FLAGS, Conv::Cloexec)),
            ]
        ),
        nr::CONNECT => schema!(
            "connect",
            [
                p!("res", Errno),
                p!("tuple", SockTuple),
                p!("fd", Fd),
                p!("addr", SockAddr),
            ]
        ),
        nr::BIND => schema!(
            "bind",
            [p!("res", Errno), p!("addr", SockAddr), p!("fd", Fd)]
        ),
        nr::LISTEN => schema!(
            "listen",
            [p!("res", Errno), p!("fd", Fd), p!("backlog", Int)]
        ),
        nr::ACCEPT => schema!(
            "accept",
            [
                p!("fd", Fd),
                p!("tuple", SockTuple),
                p!("queuepct", Uint),
                p!("queuelen", Uint),
                p!("queuemax", Uint),
            ]
        ),
        nr::ACCEPT4 => schema!(
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
        nr::SENDTO => schema!(
            "sendto",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint),
                p!("tuple", SockTuple),
            ]
        ),
        nr::RECVFROM => schema!(
            "recvfrom",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("tuple", SockTuple),
                p!("fd", Fd),
                p!("size", Uint),
            ]
        ),
        nr::SENDMSG => schema!(
            "sendmsg",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint),
                p!("tuple", SockTuple),
            ]
        ),
        nr::RECVMSG => schema!(
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
        nr::READV => schema!(
            "readv",
            [
                p!("res", Errno),
                p!("size", Uint),
                p!("data", Bytes),
                p!("fd", Fd),
            ]
        ),
        nr::PREADV => schema!(
            "preadv",
            [
                p!("res", Errno),
                p!("size", Uint),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("pos", Uint),
            ]
        ),
        nr::WRITEV => schema!(
            "writev",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint),
            ]
        ),
        nr::PWRITEV => schema!(
            "pwritev",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint),
                p!("pos", Uint),
            ]
        ),
        // Falco's select exit event has `res` only (no fd sets); pselect6 has no event of its
        // own and stays generic.
        nr::SELECT => schema!("select", [p!("res", Errno)]),
        nr::POLL => schema!(
            "poll",
            [p!("res", Errno), p!("fds", FdList), p!("timeout", Int)]
        ),
        nr::PPOLL => schema!(
            "ppoll",
            [
                p!("res", Errno),
                p!("fds", FdList),
                p!("timeout", Uint),
                p!("sigmask", Uint),
            ]
        ),
        nr::PTRACE => schema!(
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
        nr::SETUID => schema!("setuid", [p!("res", Errno), p!("uid", Uid)]),
        nr::SETSID => schema!("setsid", [p!("res", Pid)]),
        nr::SETPGID => schema!(
            "setpgid",
            [p!("res", Errno), p!("pid", Pid), p!("pgid", Pid)]
        ),
        nr::SETGID => schema!("setgid", [p!("res", Errno), p!("gid", Gid)]),
        nr::SETRESUID => schema!(
            "setresuid",
            [
                p!("res", Errno),
                p!("ruid", Uid),
                p!("euid", Uid),
                p!("suid", Uid)
            ]
        ),
        nr::SETRESGID => schema!(
            "setresgid",
            [
                p!("res", Errno),
                p!("rgid", Gid),
                p!("egid", Gid),
                p!("sgid", Gid)
            ]
        ),
        nr::UNSHARE => schema!("unshare", [p!("res", Errno), p!("flags", CLONE_FLAGS)]),
        nr::USERFAULTFD => schema!("userfaultfd", [p!("res", Errno), p!("flags", Uint)]),
        nr::SETNS => schema!(
            "setns",
            [p!("res", Errno), p!("fd", Fd), p!("nstype", CLONE_FLAGS)]
        ),
        nr::CAPSET => schema!(
            "capset",
            [
                p!("res", Errno),
                p!("cap_inheritable", Uint),
                p!("cap_permitted", Uint),
                p!("cap_effective", Uint),
            ]
        ),
        nr::PRCTL => schema!(
            "prctl",
            [
                p!("res", Errno),
                p!("option", Uint),
                p!("arg2_str", Str),
                p!("arg2_int", Int),
            ]
        ),
        nr::MOUNT => schema!(
            "mount",
            [
                p!("res", Errno),
                p!("dev", Str),
                p!("dir", Path),
                p!("type", Str),
                p!("flags", Flags(&flags::MOUNT_FLAGS, Conv::MountFlags)),
            ]
        ),
        nr::UMOUNT2 => schema!(
            "umount2",
            [p!("res", Errno), p!("name", Path), p!("flags", Uint)]
        ),
        nr::INIT_MODULE => schema!(
            "init_module",
            [
                p!("res", Errno),
                p!("img", Bytes),
                p!("length", Uint),
                p!("uargs", Str),
            ]
        ),
        nr::FINIT_MODULE => schema!(
            "finit_module",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("uargs", Str),
                p!("flags", Uint),
            ]
        ),
        nr::MEMFD_CREATE => schema!(
            "memfd_create",
            [
                p!("fd", Fd),
                p!("name", Str),
                p!("flags", Flags(&flags::MEMFD_FLAGS, Conv::None)),
            ]
        ),
        nr::BPF => schema!("bpf", [p!("fd", Fd), p!("cmd", Uint)]),
        nr::EVENTFD => schema!(
            "eventfd",
            [p!("res", Fd), p!("initval", Uint), p!("flags", Uint)]
        ),
        nr::EVENTFD2 => schema!(
            "eventfd2",
            [p!("res", Fd), p!("initval", Uint), p!("flags", Uint)]
        ),
        nr::SIGNALFD => schema!(
            "signalfd",
            [
                p!("res", Fd),
                p!("fd", Fd),
                p!("mask", Uint),
                p!("flags", Uint)
            ]
        ),
        nr::SIGNALFD4 => schema!(
            "signalfd4",
            [
                p!("res", Fd),
                p!("fd", Fd),
                p!("mask", Uint),
                p!("flags", Uint)
            ]
        ),
        nr::EXECVE => Some(&Schema {
            name: "execve",
            params: EXEC_PARAMS,
        }),
        nr::EXECVEAT => Some(&Schema {
            name: "execveat",
            params: EXECVEAT_PARAMS,
        }),
        nr::CLONE => Some(&Schema {
            name: "clone",
            params: CLONE_PARAMS,
        }),
        nr::FORK => Some(&Schema {
            name: "fork",
            params: CLONE_PARAMS,
        }),
        nr::VFORK => Some(&Schema {
            name: "vfork",
            params: CLONE_PARAMS,
        }),
        nr::CLONE3 => Some(&Schema {
            name: "clone3",
            params: CLONE_PARAMS,
        }),
        nr::READ => schema!(
            "read",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint)
            ]
        ),
        nr::WRITE => schema!(
            "write",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint)
            ]
        ),
        nr::PREAD64 => schema!(
            "pread64",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint),
                p!("pos", Uint)
            ]
        ),
        nr::PWRITE64 => schema!(
            "pwrite64",
            [
                p!("res", Errno),
                p!("data", Bytes),
                p!("fd", Fd),
                p!("size", Uint),
                p!("pos", Uint)
            ]
        ),
        nr::STAT => schema!("stat", [p!("res", Errno), p!("path", Path)]),
        nr::LSTAT => schema!("lstat", [p!("res", Errno), p!("path", Path)]),
        nr::FSTAT => schema!("fstat", [p!("res", Errno), p!("fd", Fd)]),
        nr::GETDENTS => schema!("getdents", [p!("res", Errno), p!("fd", Fd)]),
        nr::GETDENTS64 => schema!("getdents64", [p!("res", Errno), p!("fd", Fd)]),
        nr::CHROOT => schema!("chroot", [p!("res", Errno), p!("path", Path)]),
        nr::GETCWD => schema!("getcwd", [p!("res", Errno), p!("path", Str)]),
        nr::ACCESS => schema!(
            "access",
            [
                p!("res", Errno),
                p!("name", Path),
                p!("mode", Flags(&flags::ACCESS_FLAGS, Conv::None))
            ]
        ),
        nr::CHOWN => schema!(
            "chown",
            [
                p!("res", Errno),
                p!("path", Path),
                p!("uid", Uint),
                p!("gid", Uint)
            ]
        ),
        nr::LCHOWN => schema!(
            "lchown",
            [
                p!("res", Errno),
                p!("path", Path),
                p!("uid", Uint),
                p!("gid", Uint)
            ]
        ),
        nr::FCHOWN => schema!(
            "fchown",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("uid", Uint),
                p!("gid", Uint)
            ]
        ),
        nr::FCHOWNAT => schema!(
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
        nr::KILL => schema!("kill", [p!("res", Errno), p!("pid", Pid), p!("sig", SIG)]),
        nr::TKILL => schema!("tkill", [p!("res", Errno), p!("tid", Pid), p!("sig", SIG)]),
        nr::TGKILL => schema!(
            "tgkill",
            [
                p!("res", Errno),
                p!("pid", Pid),
                p!("tid", Pid),
                p!("sig", SIG)
            ]
        ),
        nr::LSEEK => schema!(
            "lseek",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("offset", Uint),
                p!("whence", Enum(&flags::LSEEK_WHENCE, Conv::None)),
            ]
        ),
        nr::IOCTL => schema!(
            "ioctl",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("request", Uint),
                p!("argument", Uint)
            ]
        ),
        nr::SENDFILE => schema!(
            "sendfile",
            [
                p!("res", Errno),
                p!("offset", Uint),
                p!("out_fd", Fd),
                p!("in_fd", Fd),
                p!("size", Uint)
            ]
        ),
        nr::COPY_FILE_RANGE => schema!(
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
        nr::SPLICE => schema!(
            "splice",
            [
                p!("res", Errno),
                p!("fd_in", Fd),
                p!("fd_out", Fd),
                p!("size", Uint),
                p!("flags", Flags(&flags::SPLICE_FLAGS, Conv::None)),
            ]
        ),
        nr::SHUTDOWN => schema!(
            "shutdown",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("how", Enum(&flags::SHUTDOWN_HOW, Conv::None))
            ]
        ),
        nr::FLOCK => schema!(
            "flock",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("operation", Flags(&flags::FLOCK_FLAGS, Conv::None))
            ]
        ),
        nr::PIDFD_OPEN => schema!(
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
        nr::PIDFD_GETFD => schema!(
            "pidfd_getfd",
            [
                p!("fd", Fd),
                p!("pid_fd", Fd),
                p!("target_fd", Fd),
                p!("flags", Uint)
            ]
        ),
        nr::MPROTECT => schema!(
            "mprotect",
            [
                p!("res", Errno),
                p!("addr", Uint),
                p!("length", Uint),
                p!("prot", PROT)
            ]
        ),
        nr::MLOCK2 => schema!(
            "mlock2",
            [
                p!("res", Errno),
                p!("addr", Uint),
                p!("len", Uint),
                p!("flags", Flags(&flags::MLOCK2_FLAGS, Conv::None)),
            ]
        ),
        nr::MLOCK => schema!(
            "mlock",
            [p!("res", Errno), p!("addr", Uint), p!("len", Uint)]
        ),
        nr::MUNLOCK => schema!(
            "munlock",
            [p!("res", Errno), p!("addr", Uint), p!("len", Uint)]
        ),
        nr::SECCOMP => schema!(
            "seccomp",
            [p!("res", Errno), p!("op", Uint), p!("flags", Uint)]
        ),
        nr::MLOCKALL => schema!(
            "mlockall",
            [
                p!("res", Errno),
                p!("flags", Flags(&flags::MLOCKALL_FLAGS, Conv::None))
            ]
        ),
        nr::MUNLOCKALL => schema!("munlockall", [p!("res", Errno)]),
        nr::EPOLL_CREATE => schema!("epoll_create", [p!("res", Errno), p!("size", Int)]),
        nr::EPOLL_CREATE1 => schema!(
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
        nr::INOTIFY_INIT => schema!("inotify_init", [p!("res", Fd), p!("flags", Uint)]),
        nr::INOTIFY_INIT1 => schema!(
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
        nr::TIMERFD_CREATE => schema!(
            "timerfd_create",
            [p!("res", Fd), p!("clockid", Uint), p!("flags", Uint)]
        ),
        nr::EPOLL_WAIT => schema!("epoll_wait", [p!("res", Errno), p!("maxevents", Errno)]),
        nr::GETUID => schema!("getuid", [p!("uid", Uid)]),
        nr::GETGID => schema!("getgid", [p!("gid", Gid)]),
        nr::GETEUID => schema!("geteuid", [p!("euid", Uid)]),
        nr::GETEGID => schema!("getegid", [p!("egid", Gid)]),
        nr::GETRESUID => schema!(
            "getresuid",
            [
                p!("res", Errno),
                p!("ruid", Uid),
                p!("euid", Uid),
                p!("suid", Uid)
            ]
        ),
        nr::GETRESGID => schema!(
            "getresgid",
            [
                p!("res", Errno),
                p!("rgid", Gid),
                p!("egid", Gid),
                p!("sgid", Gid)
            ]
        ),
        nr::GETRLIMIT => schema!(
            "getrlimit",
            [
                p!("res", Errno),
                p!("cur", Int),
                p!("max", Int),
                p!("resource", RLIMIT)
            ]
        ),
        nr::SETRLIMIT => schema!(
            "setrlimit",
            [
                p!("res", Errno),
                p!("cur", Int),
                p!("max", Int),
                p!("resource", RLIMIT)
            ]
        ),
        nr::PRLIMIT64 => schema!(
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
        nr::IO_URING_SETUP => schema!(
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
        nr::IO_URING_ENTER => schema!(
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
        nr::IO_URING_REGISTER => schema!(
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
        nr::MMAP => schema!(
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
        nr::MUNMAP => schema!(
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
        nr::BRK => schema!(
            "brk",
            [
                p!("res", Uint),
                p!("vm_size", Uint),
                p!("vm_rss", Uint),
                p!("vm_swap", Uint)
            ]
        ),
        nr::GETSOCKNAME => schema!("getsockname", []),
        nr::GETPEERNAME => schema!("getpeername", []),
        nr::NANOSLEEP => schema!("nanosleep", [p!("res", Errno), p!("interval", Uint)]),
        nr::FUTEX => schema!(
            "futex",
            [
                p!("res", Errno),
                p!("addr", Uint),
                p!("op", Flags(&flags::FUTEX_OPERATIONS, Conv::None)),
                p!("val", Uint),
            ]
        ),
        nr::SEMGET => schema!(
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
        nr::SEMCTL => schema!(
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
        nr::SEMOP => schema!(
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
        nr::OPEN_BY_HANDLE_AT => schema!(
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
        nr::SETSOCKOPT => Some(&Schema {
            name: "setsockopt",
            params: SOCKOPT_PARAMS,
        }),
        nr::GETSOCKOPT => Some(&Schema {
            name: "getsockopt",
            params: SOCKOPT_PARAMS,
        }),
        nr::SENDMMSG => schema!(
            "sendmmsg",
            [
                p!("res", Errno),
                p!("fd", Fd),
                p!("size", Uint),
                p!("data", Bytes),
                p!("tuple", SockTuple),
            ]
        ),
        nr::RECVMMSG => schema!(
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
        nr::FSCONFIG => schema!(
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
        _ => None,
    }
}

/// Syscall numbers that have a dedicated writer in the kernel (as opposed to the generic
/// `res, ID, nativeID` record), ascending: the numbers [`dedicated_schema`] knows. Derived,
/// not kept by hand; the kernel program's build checks that its writers cover exactly these.
pub const DEDICATED: &[u16] = &DEDICATED_NRS;

const DEDICATED_NRS: [u16; count_dedicated()] = {
    let mut out = [0; count_dedicated()];
    let (mut nr, mut i) = (0, 0);
    while nr < crate::raw::MAX_SYSCALLS as u16 {
        if dedicated_schema(nr).is_some() {
            out[i] = nr;
            i += 1;
        }
        nr += 1;
    }
    out
};

const fn count_dedicated() -> usize {
    let (mut nr, mut n) = (0, 0);
    while nr < crate::raw::MAX_SYSCALLS as u16 {
        if dedicated_schema(nr).is_some() {
            n += 1;
        }
        nr += 1;
    }
    n
}

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
        // The 41 evt.type values used by Falco's rules files (falcosecurity/rules
        // `rules/falco_rules.yaml`, `falco-incubating_rules.yaml`, `falco-sandbox_rules.yaml`).
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
