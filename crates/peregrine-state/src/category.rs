//! `evt.category`: libsinsp's event category per event type, resolved once per syscall number.
//!
//! Key decision: the category is a property of the event type, so it is looked up in a table
//! built once (one entry per syscall number, plus procexit), never by comparing the event's
//! name per event. I/O events (read, write, close, dup, …) have no fixed category: libsinsp
//! reports the kind of the descriptor they act on, which the extractor supplies.

use std::sync::LazyLock;

use peregrine_event::raw::{KIND_PROCEXIT, KIND_SYSCALL, MAX_SYSCALLS};
use peregrine_event::EventType;

use crate::fd::FdKind;

/// An event type's category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Category {
    /// A category that does not depend on the event's descriptor (`file`, `net`, `IPC`, …).
    Fixed(&'static str),
    /// An I/O event: the category follows the descriptor (see [`io_category`]).
    Io,
}

/// Event names per category, as libsinsp's event and syscall tables classify them. Names not
/// listed are `other`. (`IPC` in capitals is libsinsp's spelling for the fixed category; the
/// I/O subcategory is `ipc`.)
#[rustfmt::skip]
const GROUPS: &[(&str, &[&str])] = &[
    ("file", &[
        "open", "openat", "openat2", "creat", "open_by_handle_at", "stat", "lstat", "fstat",
        "newfstatat", "statx", "access", "faccessat", "faccessat2", "lseek", "getcwd", "chdir",
        "fchdir", "mkdir", "mkdirat", "rmdir", "link", "linkat", "unlink", "unlinkat", "rename",
        "renameat", "renameat2", "symlink", "symlinkat", "readlink", "readlinkat", "chmod",
        "fchmod", "fchmodat", "chown", "lchown", "fchown", "fchownat", "truncate", "ftruncate",
        "mount", "umount", "umount2", "getdents", "getdents64", "flock", "userfaultfd",
    ]),
    ("net", &[
        "socket", "bind", "connect", "listen", "accept", "accept4", "shutdown", "getsockname",
        "getpeername", "setsockopt", "getsockopt",
    ]),
    ("IPC", &[
        "socketpair", "pipe", "pipe2", "eventfd", "eventfd2", "futex", "inotify_init",
        "inotify_init1", "semop", "semget", "semctl",
    ]),
    ("memory", &[
        "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mlock", "mlock2", "munlock",
        "mlockall", "munlockall", "memfd_create",
    ]),
    ("process", &[
        "clone", "clone3", "fork", "vfork", "execve", "execveat", "procexit", "exit", "exit_group",
        "ptrace", "setsid", "setpgid", "unshare", "setns", "capset", "prctl", "chroot",
        "prlimit64", "setrlimit", "getrlimit",
    ]),
    ("user", &[
        "setuid", "setgid", "setresuid", "setresgid", "setreuid", "setregid", "getuid", "geteuid",
        "getgid", "getegid", "getresuid", "getresgid",
    ]),
    ("signal", &[
        "kill", "tkill", "tgkill", "signalfd", "signalfd4",
    ]),
    ("sleep", &[
        "nanosleep", "clock_nanosleep",
    ]),
    ("wait", &[
        "poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait",
    ]),
    // I/O events: no fixed category, the descriptor decides.
    ("", &[
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
        "pwritev2", "send", "sendto", "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg",
        "recvmmsg", "close", "dup", "dup2", "dup3", "fcntl", "ioctl", "sendfile", "splice",
    ]),
];

fn of_name(name: &str) -> Category {
    GROUPS
        .iter()
        .find(|(_, names)| names.contains(&name))
        .map_or(Category::Fixed("other"), |(cat, _)| {
            if cat.is_empty() {
                Category::Io
            } else {
                Category::Fixed(cat)
            }
        })
}

/// One entry per syscall number, then procexit's.
static TABLE: LazyLock<Box<[Category]>> = LazyLock::new(|| {
    (0..MAX_SYSCALLS as u32)
        .map(|nr| {
            EventType::from_syscall_nr(nr).map_or(Category::Fixed("other"), |t| of_name(t.name()))
        })
        .chain(std::iter::once(of_name("procexit")))
        .collect()
});

/// The category of a record of `kind`/`nr`.
pub(crate) fn category(kind: u16, nr: u16) -> Category {
    let slot = match kind {
        KIND_SYSCALL => usize::from(nr),
        KIND_PROCEXIT => MAX_SYSCALLS,
        _ => return Category::Fixed("other"),
    };
    TABLE.get(slot).copied().unwrap_or(Category::Fixed("other"))
}

/// The category of an I/O event on a descriptor of `kind` (`None`: no descriptor known).
pub(crate) fn io_category(kind: Option<FdKind>) -> &'static str {
    match kind {
        Some(FdKind::File | FdKind::Directory) => "file",
        Some(FdKind::Ipv4 | FdKind::Ipv6) => "net",
        Some(FdKind::Unix | FdKind::Pipe | FdKind::Event | FdKind::Signalfd | FdKind::Inotify) => {
            "ipc"
        }
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_follow_libsinsp() {
        for (nr, expected) in [
            (257, Category::Fixed("file")),
            (42, Category::Fixed("net")),
            (22, Category::Fixed("IPC")),
            (9, Category::Fixed("memory")),
            (59, Category::Fixed("process")),
            (105, Category::Fixed("user")),
            (0, Category::Io),
            (3, Category::Io),
            (39, Category::Fixed("other")),
        ] {
            assert_eq!(category(KIND_SYSCALL, nr), expected, "syscall {nr}");
        }
        assert_eq!(category(KIND_PROCEXIT, 0), Category::Fixed("process"));
        assert_eq!(category(77, 0), Category::Fixed("other"));
        assert_eq!(io_category(Some(FdKind::Ipv6)), "net");
        assert_eq!(io_category(Some(FdKind::Pipe)), "ipc");
        assert_eq!(io_category(None), "unknown");
    }
}
