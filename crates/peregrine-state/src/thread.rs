//! Processes and threads as the state engine keeps them.
//!
//! Key decision: process-wide state (command line, cwd, credentials, fd table, cgroups) lives
//! once in a [`Process`] keyed by pid, and a [`Thread`] is a small record (tid → pid, vtid).
//! Threads of one process therefore share one fd table and one cwd, as they do in the kernel,
//! and ancestry is one hash probe per level: `proc.aname[3]` is three lookups by `ppid`.
//!
//! Strings and lists that a fork copies and an exec replaces whole (command line, paths,
//! environment, cgroups, the container id) are shared `Arc`s: a fork is reference-count
//! increments, not a dozen allocations, and a field still reads as a plain `&str`.
//!
//! Credentials are kept per process (libsinsp keeps them per thread but its fields read the
//! main thread's); a `setuid` in a secondary thread therefore changes the whole process here.

use crate::fd::FdTable;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// One thread: which process it belongs to and its id in its pid namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thread {
    pub pid: i64,
    pub vtid: i64,
}

/// Flags of the executable (`PPM_EXE_*`, from execve's `flags` argument).
pub const EXE_WRITABLE: u32 = 1;
pub const EXE_UPPER_LAYER: u32 = 2;
pub const EXE_FROM_MEMFD: u32 = 4;
pub const EXE_LOWER_LAYER: u32 = 8;

/// One process (thread group).
/// The identity of an event's process at match time: enough to find it again and to check
/// that a pid still names it (its start time). What a response acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// Thread group id, as the host sees it.
    pub pid: i64,
    pub tid: i64,
    /// ns since the epoch; 0 when unknown.
    pub start_ts: u64,
    /// Full container id; empty for the host.
    pub container_id: Arc<str>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Process {
    pub pid: i64,
    /// Pid of the parent process (the thread group of the thread that forked it).
    pub ppid: i64,
    pub vpid: i64,
    pub sid: i64,
    pub vpgid: i64,
    /// `proc.name`: the kernel's comm.
    pub comm: Arc<str>,
    /// `proc.exe`: argv[0].
    pub exe: Arc<str>,
    /// `proc.exepath`: the executable's full path.
    pub exepath: Arc<str>,
    pub args: Arc<[String]>,
    pub env: Arc<[String]>,
    /// Always ends with `/`, as libsinsp stores (and prints) it.
    pub cwd: Arc<str>,
    /// Effective uid/gid (what `user.uid`/`group.gid` report).
    pub uid: u32,
    pub gid: u32,
    /// Audit login uid; `u32::MAX` when unset.
    pub loginuid: u32,
    pub tty: u32,
    pub cap_permitted: u64,
    pub cap_inheritable: u64,
    pub cap_effective: u64,
    pub exe_ino: u64,
    pub exe_ino_ctime: u64,
    pub exe_ino_mtime: u64,
    pub exe_flags: u32,
    /// `(subsystem, path)` pairs.
    pub cgroups: Arc<[(String, String)]>,
    /// Full container id; empty for the host.
    pub container_id: Arc<str>,
    pub container_engine: &'static str,
    /// When the process was created (ns since the epoch; 0 when unknown).
    pub start_ts: u64,
    pub pidns_init_start_ts: u64,
    pub fdlimit: u64,
    pub vm_size: u64,
    pub vm_rss: u64,
    pub vm_swap: u64,
    pub pf_major: u64,
    pub pf_minor: u64,
    /// Shared with the parent after a fork until either changes it.
    pub fds: FdTable,
    /// Live threads of this process in the table.
    pub nthreads: u32,
    /// Child processes in the table whose `ppid` is this process: lets an exit skip the
    /// orphan scan in the common case (a leaf process).
    pub nchildren: u32,
}

impl Process {
    /// `proc.cmdline`: comm followed by the arguments.
    pub fn write_cmdline(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.comm.as_bytes());
        for a in self.args.iter() {
            out.push(b' ');
            out.extend_from_slice(a.as_bytes());
        }
    }

    /// `proc.args`: the arguments joined by spaces.
    pub fn write_args(&self, out: &mut Vec<u8>) {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(a.as_bytes());
        }
    }

    /// The value of one environment variable.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env.iter().find_map(|kv| {
            kv.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
        })
    }

    /// True when the process lives in a pid namespace other than the initial one.
    pub fn in_pidns(&self) -> bool {
        self.vpid != 0 && self.vpid != self.pid
    }
}

/// The process table: threads by tid, processes by pid.
#[derive(Debug, Default)]
pub struct Table {
    pub threads: FxHashMap<i64, Thread>,
    pub procs: FxHashMap<i64, Process>,
}

/// Longest ancestry walked: a corrupt parent loop must not spin.
pub const MAX_ANCESTRY: usize = 512;

impl Table {
    pub fn thread(&self, tid: i64) -> Option<(&Thread, &Process)> {
        let t = self.threads.get(&tid)?;
        Some((t, self.procs.get(&t.pid)?))
    }

    /// The parent process of `p`, if known.
    pub fn parent(&self, p: &Process) -> Option<&Process> {
        if p.ppid <= 0 || p.ppid == p.pid {
            return None;
        }
        self.procs.get(&p.ppid)
    }

    /// The `n`th ancestor (0 = the process itself).
    pub fn ancestor<'a>(&'a self, p: &'a Process, n: usize) -> Option<&'a Process> {
        let mut cur = p;
        for _ in 0..n.min(MAX_ANCESTRY) {
            cur = self.parent(cur)?;
        }
        (n <= MAX_ANCESTRY).then_some(cur)
    }

    /// Every ancestor from the parent up (bounded by [`MAX_ANCESTRY`]).
    pub fn ancestors<'a>(&'a self, p: &'a Process) -> impl Iterator<Item = &'a Process> + 'a {
        let mut cur = Some(p);
        std::iter::from_fn(move || {
            cur = cur.and_then(|c| self.parent(c));
            cur
        })
        .take(MAX_ANCESTRY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: i64, ppid: i64, comm: &str) -> Process {
        Process {
            pid,
            ppid,
            comm: comm.into(),
            ..Process::default()
        }
    }

    #[test]
    fn walks_ancestry_and_stops_on_loops() {
        let mut t = Table::default();
        for p in [
            proc(1, 0, "init"),
            proc(10, 1, "bash"),
            proc(20, 10, "cat"),
            proc(30, 31, "a"),
            proc(31, 30, "b"),
        ] {
            t.procs.insert(p.pid, p);
        }
        let cat = &t.procs[&20];
        let names: Vec<&str> = t.ancestors(cat).map(|p| &*p.comm).collect();
        assert_eq!(names, ["bash", "init"]);
        assert_eq!(t.ancestor(cat, 0).map(|p| p.pid), Some(20));
        assert_eq!(t.ancestor(cat, 2).map(|p| p.pid), Some(1));
        assert_eq!(t.ancestor(cat, 3), None);
        assert_eq!(t.ancestors(&t.procs[&30]).count(), MAX_ANCESTRY);

        let mut p = proc(5, 1, "sh");
        p.args = vec!["-c".into(), "echo hi".into()].into();
        p.env = vec!["HOME=/root".into(), "HOMEX=1".into()].into();
        let mut out = Vec::new();
        p.write_cmdline(&mut out);
        assert_eq!(out, b"sh -c echo hi");
        assert_eq!(p.env_var("HOME"), Some("/root"));
        assert_eq!(p.env_var("HOM"), None);
    }
}
