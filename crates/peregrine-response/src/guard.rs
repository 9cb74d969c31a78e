//! What an action may never touch, and the check that a pid still names the process the
//! alert was about.
//!
//! Key decision: the target is opened as a pidfd first and every check reads `/proc` after
//! that, so the signal sent through the pidfd reaches the very process that passed the
//! checks; a process that exits and whose pid is reused in between makes the signal fail with
//! ESRCH instead of hitting the newcomer. Identity is the start time: the one the alert's
//! state recorded must agree with the kernel's (`/proc/PID/stat`, field 22) within
//! [`START_TOLERANCE_NS`], the precision the two clocks can be compared at (the boot time in
//! `/proc/stat` has whole seconds).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// How far the recorded and the kernel's start times may be apart for the same process.
pub const START_TOLERANCE_NS: u64 = 2_000_000_000;

/// `PF_KTHREAD` in `/proc/PID/stat`'s flags.
const PF_KTHREAD: u64 = 0x0020_0000;

/// `PF_EXITING` in `/proc/PID/stat`'s flags: the process is on its way out (its memory, and
/// with it `/proc/PID/exe`, may already be gone).
const PF_EXITING: u64 = 0x0000_0004;

/// Executables never acted on unless the configuration says otherwise: container runtimes
/// and their shims, kubelet, systemd (globs, `*` matches `/` too).
pub const DEFAULT_PROTECTED: &[&str] = &[
    "/usr/bin/podman",
    "/usr/bin/conmon",
    "/usr/libexec/podman/*",
    "/usr/bin/crun",
    "/usr/bin/runc",
    "/usr/sbin/runc",
    "/usr/bin/containerd",
    "/usr/bin/containerd-shim*",
    "/usr/local/bin/containerd*",
    "/usr/bin/dockerd",
    "/usr/bin/docker-proxy",
    "/usr/bin/kubelet",
    "/usr/local/bin/kubelet",
    "/usr/lib/systemd/*",
    "/lib/systemd/*",
    "/sbin/init",
    "/usr/sbin/init",
];

/// Why a process may not be acted on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("pid 1 is never acted on")]
    Init,
    #[error("kernel thread")]
    KernelThread,
    #[error("the agent itself")]
    Agent,
    #[error("an ancestor of the agent")]
    AgentAncestor,
    #[error("protected executable {0}")]
    Protected(String),
    #[error("the process is gone")]
    Gone,
    #[error("the process is exiting (its executable can no longer be read)")]
    Exiting,
    #[error("the executable of pid {0} cannot be read")]
    UnknownExe(i64),
    #[error(
        "pid {pid} now names another process (started {actual_ns} ns, alert's {expected_ns} ns)"
    )]
    Reused {
        pid: i64,
        expected_ns: u64,
        actual_ns: u64,
    },
    #[error("the alert's process has no known start time")]
    UnknownStart,
    #[error("{0}")]
    Io(String),
}

/// The fields of `/proc/PID/stat` the guard needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The state letter (`R`, `S`, `Z`, `X`, …).
    pub state: u8,
    pub ppid: i64,
    pub pgid: i64,
    pub flags: u64,
    /// Clock ticks after boot.
    pub start_ticks: u64,
}

/// Parses `/proc/PID/stat` (the command, in parentheses, may hold anything: fields are read
/// after its last `)`).
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state).
    let num = |i: usize| f.get(i - 3)?.parse::<u64>().ok();
    Some(Stat {
        state: *f.first()?.as_bytes().first()?,
        ppid: f.get(1)?.parse().ok()?,
        pgid: f.get(2)?.parse().ok()?,
        flags: num(9)?,
        start_ticks: num(22)?,
    })
}

/// The safety rules, fixed at start (the protected list from the configuration).
#[derive(Clone, Debug)]
pub struct Guard {
    proc_root: PathBuf,
    protected: Vec<String>,
    own_pid: i64,
}

impl Guard {
    pub fn new(protected: Vec<String>) -> Guard {
        Guard::under(Path::new("/"), protected)
    }

    /// The guard of an agent that sees the host below `host_root` (Falco's `HOST_ROOT`, e.g.
    /// `/host` in a container): every `/proc` read is the host's. The agent's own pid is the
    /// one that procfs gives it (`self`), so the agent and its ancestors are recognised in
    /// the host's pid numbers too.
    pub fn under(host_root: &Path, protected: Vec<String>) -> Guard {
        let proc_root = peregrine_state::host_path(host_root, "/proc");
        let own_pid = std::fs::read_link(proc_root.join("self"))
            .ok()
            .and_then(|p| p.to_str()?.parse::<i64>().ok())
            .unwrap_or_else(|| i64::from(std::process::id()));
        Guard {
            proc_root,
            protected,
            own_pid,
        }
    }

    fn read(&self, pid: i64, file: &str) -> std::io::Result<String> {
        std::fs::read_to_string(self.proc_root.join(pid.to_string()).join(file))
    }

    pub fn stat(&self, pid: i64) -> Result<Stat, Refusal> {
        let text = self.read(pid, "stat").map_err(|_| Refusal::Gone)?;
        parse_stat(&text).ok_or_else(|| Refusal::Io(format!("unreadable /proc/{pid}/stat")))
    }

    /// The agent and every process above it.
    fn lineage(&self) -> Vec<i64> {
        let mut out = vec![self.own_pid];
        let mut pid = self.own_pid;
        while pid > 1 && out.len() < 4096 {
            match self.stat(pid) {
                Ok(s) if s.ppid > 0 => {
                    out.push(s.ppid);
                    pid = s.ppid;
                }
                _ => break,
            }
        }
        out
    }

    /// The executable of `pid` (empty when unreadable: a kernel thread or a zombie).
    pub fn exe(&self, pid: i64) -> String {
        std::fs::read_link(self.proc_root.join(pid.to_string()).join("exe"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Refuses what may never be acted on: pid 1, kernel threads, the agent and its
    /// ancestors, protected executables.
    pub fn allowed(&self, pid: i64, stat: &Stat) -> Result<(), Refusal> {
        if pid <= 1 {
            return Err(Refusal::Init);
        }
        if stat.flags & PF_KTHREAD != 0 || pid == 2 || stat.ppid == 2 {
            return Err(Refusal::KernelThread);
        }
        if pid == self.own_pid {
            return Err(Refusal::Agent);
        }
        if self.lineage().contains(&pid) {
            return Err(Refusal::AgentAncestor);
        }
        let exe = self.exe(pid);
        // A zombie or an exiting process has no readable executable: the protected list
        // cannot clear it, so it is refused (a zombie is dead already; a process between
        // exit and zombie may be a protected one on its way out).
        if exe.is_empty() {
            return Err(
                if matches!(stat.state, b'Z' | b'X' | b'x') || stat.flags & PF_EXITING != 0 {
                    Refusal::Exiting
                } else {
                    Refusal::UnknownExe(pid)
                },
            );
        }
        let exe = exe.strip_suffix(" (deleted)").unwrap_or(&exe);
        if self
            .protected
            .iter()
            .any(|p| peregrine_state::runtime::glob(p, exe))
        {
            return Err(Refusal::Protected(exe.to_string()));
        }
        Ok(())
    }

    /// Opens `pid` as a pidfd, then checks it is the process that started at `start_ns`
    /// (ns since the epoch) and that it may be acted on. `start_ns` 0 skips the identity
    /// check (only for processes found now, such as the members of a process group).
    pub fn open_checked(&self, pid: i64, start_ns: Option<u64>) -> Result<OwnedFd, Refusal> {
        if pid <= 1 {
            return Err(Refusal::Init);
        }
        let raw = i32::try_from(pid).map_err(|_| Refusal::Gone)?;
        let p = rustix::process::Pid::from_raw(raw).ok_or(Refusal::Gone)?;
        let fd =
            rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).map_err(|e| {
                match e {
                    rustix::io::Errno::SRCH => Refusal::Gone,
                    e => Refusal::Io(format!("pidfd_open({pid}): {e}")),
                }
            })?;
        let stat = self.stat(pid)?;
        if let Some(expected) = start_ns {
            if expected == 0 {
                return Err(Refusal::UnknownStart);
            }
            let actual = boot_ns(&self.proc_root) + stat.start_ticks * 10_000_000;
            if actual.abs_diff(expected) > START_TOLERANCE_NS {
                return Err(Refusal::Reused {
                    pid,
                    expected_ns: expected,
                    actual_ns: actual,
                });
            }
        }
        self.allowed(pid, &stat)?;
        Ok(fd)
    }

    /// The processes whose process group is `pgid`.
    pub fn group_members(&self, pgid: i64) -> Vec<i64> {
        let Ok(dir) = std::fs::read_dir(&self.proc_root) else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
            .filter(|pid| self.stat(*pid).is_ok_and(|s| s.pgid == pgid))
            .collect()
    }

    pub fn own_pid(&self) -> i64 {
        self.own_pid
    }
}

/// The boot time, ns since the epoch, from `/proc/stat` (`btime`, whole seconds), as the
/// state computes a seeded process's start time.
fn boot_ns(proc_root: &Path) -> u64 {
    std::fs::read_to_string(proc_root.join("stat"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .map_or(0, |s| s * 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_hostile_command() {
        let line = "42 (a) b) (c) S 7 40 40 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: b'S',
                ppid: 7,
                pgid: 40,
                flags: 4_194_560,
                start_ticks: 12345
            })
        );
        assert_eq!(parse_stat("1 (x"), None);
    }

    #[test]
    fn never_pid_1_the_agent_its_ancestors_or_kernel_threads() {
        let g = Guard::new(Vec::new());
        assert_eq!(g.open_checked(1, None).err(), Some(Refusal::Init));
        assert_eq!(
            g.open_checked(g.own_pid(), None).err(),
            Some(Refusal::Agent)
        );
        let parent = g.stat(g.own_pid()).expect("own stat").ppid;
        if parent > 1 {
            assert_eq!(
                g.open_checked(parent, None).err(),
                Some(Refusal::AgentAncestor)
            );
        }
        // kthreadd.
        assert!(matches!(
            g.open_checked(2, None).err(),
            Some(Refusal::KernelThread | Refusal::Io(_))
        ));
    }

    /// Below a HOST_ROOT the guard reads that tree's `/proc`: here a bind of the real one
    /// under a scratch directory (root only), so the refusals still hold; a HOST_ROOT
    /// without a `/proc` finds no process at all.
    #[test]
    fn the_guard_reads_proc_below_host_root() {
        let dir = std::env::temp_dir().join(format!("pg-guard-root-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("proc")).expect("dir");
        let empty = Guard::under(&dir, Vec::new());
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = i64::from(child.id());
        assert_eq!(empty.stat(pid).err(), Some(Refusal::Gone));
        assert_eq!(empty.exe(pid), "");
        let mounted = std::process::Command::new("mount")
            .args(["--bind", "/proc"])
            .arg(dir.join("proc"))
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            let g = Guard::under(&dir, vec![Guard::new(Vec::new()).exe(pid)]);
            assert_eq!(g.own_pid(), i64::from(std::process::id()));
            assert!(matches!(
                g.open_checked(pid, None).err(),
                Some(Refusal::Protected(_))
            ));
            assert_eq!(g.open_checked(1, None).err(), Some(Refusal::Init));
            let unmounted = std::process::Command::new("umount")
                .arg(dir.join("proc"))
                .status()
                .is_ok_and(|s| s.success());
            assert!(unmounted, "umount {}", dir.display());
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir(dir.join("proc"));
        let _ = std::fs::remove_dir(&dir);
    }

    #[test]
    fn a_protected_exe_and_a_wrong_start_time_are_refused() {
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = i64::from(child.id());
        let exe = Guard::new(Vec::new()).exe(pid);
        let protected = Guard::new(vec!["/usr/bin/sl*".into(), exe.clone()]);
        assert_eq!(
            protected.open_checked(pid, None).err(),
            Some(Refusal::Protected(exe))
        );
        let g = Guard::new(Vec::new());
        assert!(matches!(
            g.open_checked(pid, Some(1_000_000_000)).err(),
            Some(Refusal::Reused { .. })
        ));
        assert_eq!(
            g.open_checked(pid, Some(0)).err(),
            Some(Refusal::UnknownStart)
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64;
        assert!(g.open_checked(pid, Some(now)).is_ok());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(g.open_checked(pid, Some(now)).err(), Some(Refusal::Gone));
    }

    /// A zombie has no readable executable: it used to pass the protected list unseen (a
    /// protected program's dying process was "killed"); now it is refused for exiting.
    #[test]
    fn a_zombie_of_a_protected_executable_is_refused() {
        let mut child = std::process::Command::new("/bin/true")
            .spawn()
            .expect("true");
        let pid = i64::from(child.id());
        // Not waited for: once it exits it stays a zombie until `wait` below.
        let g = Guard::new(vec!["/usr/bin/true".into(), "/bin/true".into()]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while g.stat(pid).map(|s| s.state) != Ok(b'Z') {
            assert!(std::time::Instant::now() < deadline, "never a zombie");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(g.exe(pid), "", "a zombie's exe is unreadable");
        assert_eq!(g.open_checked(pid, None).err(), Some(Refusal::Exiting));
        let unguarded = Guard::new(Vec::new());
        assert_eq!(
            unguarded.open_checked(pid, None).err(),
            Some(Refusal::Exiting)
        );
        let _ = child.wait();
    }
}
