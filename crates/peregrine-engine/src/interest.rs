//! Which syscalls the kernel must deliver: the union of what the active rules can match and
//! what the state engine needs to stay true, under Falco's `base_syscalls` options.
//!
//! A pure function of its inputs, so the selection is tested without a kernel; the live
//! source writes its result into the capture's interest map.
//!
//! Falco's semantics, as we implement them:
//! - default (`custom_set` empty, `all: false`): rules ∪ the state set ([`STATE_SYSCALLS`]);
//! - `custom_set` non-empty: rules ∪ `custom_set` (names starting with `!` are removed from
//!   the result instead), the state set is *not* added — the user takes responsibility;
//! - `repair: true` with a custom set: additionally the minimal set that keeps process and fd
//!   state correct for what is selected ([`REPAIR_SYSCALLS`]);
//! - `all: true`: every syscall the capture can deliver.
//!
//! Whatever is selected is intersected with what the capture can deliver.

use peregrine_event::{EventType, EventTypeSet};

/// Falco's `base_syscalls` configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaseSyscalls {
    pub custom_set: Vec<String>,
    pub repair: bool,
    pub all: bool,
}

/// Syscalls that keep the process, fd and user state current (libsinsp's state set,
/// reduced to what Peregrine's state engine consumes).
pub const STATE_SYSCALLS: &[&str] = &[
    "clone",
    "clone3",
    "fork",
    "vfork",
    "execve",
    "execveat",
    "procexit",
    "open",
    "openat",
    "openat2",
    "creat",
    "open_by_handle_at",
    "close",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "socket",
    "socketpair",
    "connect",
    "accept",
    "accept4",
    "bind",
    "listen",
    "pipe",
    "pipe2",
    "eventfd",
    "eventfd2",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "inotify_init",
    "inotify_init1",
    "epoll_create",
    "epoll_create1",
    "memfd_create",
    "pidfd_open",
    "pidfd_getfd",
    "userfaultfd",
    "io_uring_setup",
    "bpf",
    "chdir",
    "fchdir",
    "chroot",
    "setuid",
    "setgid",
    "setresuid",
    "setresgid",
    "setreuid",
    "setregid",
    "setsid",
    "setpgid",
    "capset",
    "prctl",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "shutdown",
];

/// The minimum `repair: true` adds to a custom set: process lifecycle, credentials and the
/// fd-creating calls (Falco's `sinsp_repair_state_sc_set` idea).
pub const REPAIR_SYSCALLS: &[&str] = &[
    "clone",
    "clone3",
    "fork",
    "vfork",
    "execve",
    "execveat",
    "procexit",
    "close",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "setuid",
    "setgid",
    "setresuid",
    "setresgid",
    "setreuid",
    "setregid",
    "capset",
    "chdir",
    "fchdir",
    "chroot",
    "socket",
    "connect",
    "accept",
    "accept4",
    "bind",
    "open",
    "openat",
    "openat2",
    "creat",
];

fn named(names: &[&str]) -> EventTypeSet {
    names
        .iter()
        .filter_map(|n| EventType::from_name(n))
        .collect()
}

/// The event types to capture; see the module documentation.
pub fn interest(
    rules: &EventTypeSet,
    base: &BaseSyscalls,
    available: &EventTypeSet,
) -> EventTypeSet {
    if base.all {
        return *available;
    }
    let mut set = *rules;
    let (removed, added): (Vec<&str>, Vec<&str>) = base
        .custom_set
        .iter()
        .map(String::as_str)
        .partition(|n| n.starts_with('!'));
    if added.is_empty() && removed.is_empty() {
        set = set.union(&named(STATE_SYSCALLS));
    } else {
        set = set.union(&named(&added));
        if base.repair {
            set = set.union(&named(REPAIR_SYSCALLS));
        }
        let removed: Vec<&str> = removed.iter().map(|n| &n[1..]).collect();
        set = set.intersection(&named(&removed).complement());
    }
    set.intersection(available)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(set: &EventTypeSet) -> Vec<&'static str> {
        let mut v: Vec<&str> = set.iter().map(EventType::name).collect();
        v.sort_unstable();
        v
    }

    fn check(rules: &[&str], base: BaseSyscalls, available: &[&str], expected: &[&str]) {
        let got = interest(&named(rules), &base, &named(available));
        assert_eq!(names(&got), expected);
    }

    #[test]
    fn selection() {
        let avail = &[
            "openat", "execve", "clone", "close", "connect", "mkdir", "procexit",
        ];
        // Default: rules plus the state set, limited to what the capture delivers.
        check(
            &["mkdir"],
            BaseSyscalls::default(),
            avail,
            &[
                "clone", "close", "connect", "execve", "mkdir", "openat", "procexit",
            ],
        );
        // A custom set replaces the state set.
        check(
            &["mkdir"],
            BaseSyscalls {
                custom_set: vec!["connect".into()],
                ..BaseSyscalls::default()
            },
            avail,
            &["connect", "mkdir"],
        );
        // Repair adds the minimal state set back.
        check(
            &["mkdir"],
            BaseSyscalls {
                custom_set: vec!["connect".into()],
                repair: true,
                ..BaseSyscalls::default()
            },
            avail,
            &[
                "clone", "close", "connect", "execve", "mkdir", "openat", "procexit",
            ],
        );
        // `!name` removes, even what a rule asked for.
        check(
            &["mkdir", "openat"],
            BaseSyscalls {
                custom_set: vec!["!openat".into(), "execve".into()],
                ..BaseSyscalls::default()
            },
            avail,
            &["execve", "mkdir"],
        );
        // All: everything available.
        check(
            &[],
            BaseSyscalls {
                all: true,
                ..BaseSyscalls::default()
            },
            avail,
            &[
                "clone", "close", "connect", "execve", "mkdir", "openat", "procexit",
            ],
        );
    }
}
