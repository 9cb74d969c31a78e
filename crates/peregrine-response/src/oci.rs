//! Pause, stop and kill of containers that no Docker-compatible API knows: containerd's (CRI
//! or `ctr`) and CRI-O's or plain runc's, found by the runc state that
//! [`peregrine_state::oci`] reads (`<root>/[<namespace>/]<id>/state.json`).
//!
//! Key decision: three ways, tried in order, each only when the one before could not act.
//! 1. containerd's task API (`Tasks/Pause`, `Tasks/Kill`) for a container below a namespace
//!    directory: containerd and its shim then know the container is paused or why it stopped
//!    (`ctr task ls` shows PAUSED; `ctr task resume` undoes it). Pausing behind the shim's back
//!    would freeze the processes while containerd still says RUNNING and refuses to resume.
//! 2. The OCI runtime binary (`runc`, else `crun`, or `response.oci_runtime`) with the state's
//!    `--root`: `pause <id>`, `kill <id> <SIGNAL>`. An argument vector, never a shell; the id
//!    is checked against the runtime's id characters first.
//! 3. Without either: the cgroup freezer (`freezer.state` on v1 and hybrid hosts, as runc
//!    itself uses there, else v2 `cgroup.freeze`) for pause, and a pidfd signal to the init for
//!    kill and stop.
//!
//! Every way acts on the init the state names only after the guard has opened it as a pidfd
//! and its start time matches the state's, so a pid reused since the runtime wrote its state
//! is never signalled; the same pidfd tells when a stopped container's init is gone. The
//! outcome says which way acted.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use peregrine_filter::escape::terminal_safe;
use peregrine_state::oci::RuntimeState;

use crate::act::{Kind, Outcome};
use crate::guard::Guard;
use crate::policy::ContainerOp;

/// Where the runtimes are, for this host.
#[derive(Clone, Copy, Debug)]
pub struct Runtimes<'a> {
    /// runc state roots, already under `HOST_ROOT`.
    pub state_roots: &'a [PathBuf],
    /// containerd API sockets, tried in order.
    pub containerd_sockets: &'a [PathBuf],
    /// The OCI runtime binary; `None`: `runc`, else `crun`, from the usual directories.
    pub binary: Option<&'a Path>,
    /// Falco's `HOST_ROOT`: the state's cgroup paths are the host's.
    pub host_root: &'a Path,
}

/// Longest answer awaited from containerd or the runtime binary for one call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a killed init is given to be gone before the outcome says it is not.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Whether `id` may go into the runtime's argument vector: runc's id characters
/// (`[A-Za-z0-9_+.-]`), not an option (`-…`), not a path step, at most 1024 bytes.
pub fn is_runtime_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('-')
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'.' | b'-'))
}

/// What the runtime binary is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Pause,
    /// `kill <id> <NAME>` (runc and crun take the name without `SIG`).
    Kill(&'static str),
}

/// The runtime binary's argument vector (after the program): `--root <root> pause <id>` or
/// `--root <root> kill <id> <SIGNAL>`. `None` when the id may not be passed.
pub fn runtime_args(root: &Path, verb: Verb, id: &str) -> Option<Vec<OsString>> {
    if !is_runtime_id(id) {
        return None;
    }
    let mut v: Vec<OsString> = vec!["--root".into(), root.into()];
    match verb {
        Verb::Pause => v.extend(["pause".into(), id.into()]),
        Verb::Kill(sig) => v.extend(["kill".into(), id.into(), sig.into()]),
    }
    Some(v)
}

/// The runtime binary: the configured one, else `runc`, else `crun`, from `PATH` or the
/// usual directories.
pub fn find_binary(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = configured {
        return Some(p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(std::env::split_paths(crate::child::PATH))
        .filter(|d| d.is_absolute())
        .collect();
    ["runc", "crun"].iter().find_map(|name| {
        dirs.iter()
            .map(|d| d.join(name))
            .find(|p| p.metadata().is_ok_and(|m| m.is_file()))
    })
}

/// Runs the runtime binary with `args`; `Err` quotes its exit and stderr (escaped: the
/// runtime may repeat container data).
fn run_binary(bin: &Path, args: &[OsString]) -> Result<(), String> {
    let spawned = Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", crate::child::PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return Err(format!("cannot run {}: {e}", bin.display())),
    };
    let (status, err) = crate::child::wait_quoting_stderr(&mut child, CALL_TIMEOUT)
        .map_err(|e| format!("waiting for {}: {e}", bin.display()))?;
    let err = terminal_safe(&err);
    match status {
        Some(st) if st.success() => Ok(()),
        Some(st) => Err(format!("{} {st}: {err}", bin.display())),
        None => Err(format!(
            "{} timed out after {CALL_TIMEOUT:?}",
            bin.display()
        )),
    }
}

/// Freezes the container's cgroup: the v1 freezer when the state names one (runc reads its
/// pause state there on such hosts), else v2's `cgroup.freeze`. Returns the file written.
pub fn freeze(host_root: &Path, st: &RuntimeState) -> Result<PathBuf, String> {
    let under = |p: &Path| peregrine_state::host_path(host_root, &p.to_string_lossy());
    let (file, value) = match (&st.cgroup_freezer, &st.cgroup_unified) {
        (Some(v1), _) if under(v1).join("freezer.state").exists() => {
            (under(v1).join("freezer.state"), "FROZEN")
        }
        (_, Some(v2)) => (under(v2).join("cgroup.freeze"), "1"),
        _ => return Err("the runtime state names no cgroup".into()),
    };
    std::fs::write(&file, value)
        .map(|()| file.clone())
        .map_err(|e| format!("{}: {e}", file.display()))
}

/// Waits up to `within` for the process behind `fd` to exit (its pidfd turns readable).
fn exited(fd: &OwnedFd, within: Duration) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ts = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(n) if n > 0 => return true,
            Ok(_) => return false,
            Err(rustix::io::Errno::INTR) if !left.is_zero() => {}
            Err(_) => return false,
        }
    }
}

/// Opens the state's init through the guard (pid 1, the agent, protected executables… are
/// refused) and checks it is the process the runtime started.
pub(crate) fn open_init(guard: &Guard, st: &RuntimeState) -> Result<OwnedFd, Outcome> {
    let fd = guard
        .open_checked(st.init_pid, None)
        .map_err(crate::act::refused)?;
    match guard.stat(st.init_pid) {
        Ok(s) if s.start_ticks == st.init_start_ticks => Ok(fd),
        Ok(s) => Err(Outcome::new(
            Kind::Refused,
            format!(
                "pid {} now names another process (started at tick {}, the runtime's init at {})",
                st.init_pid, s.start_ticks, st.init_start_ticks
            ),
        )),
        Err(r) => Err(crate::act::refused(r)),
    }
}

/// One signal to the container's init, the first way that works; `Ok` names the way.
fn signal(
    rt: &Runtimes<'_>,
    id: &str,
    st: &RuntimeState,
    fd: &OwnedFd,
    name: &'static str,
) -> Result<String, String> {
    let mut tried = Vec::new();
    if let (Some(ns), Some(sig)) = (&st.namespace, crate::policy::signal(name)) {
        let num = sig.0.as_raw() as u32;
        let kill =
            |sock: &Path| peregrine_state::containerd::kill_task(sock, ns, id, num, CALL_TIMEOUT);
        if let Some(done) = through_containerd(rt, &mut tried, kill) {
            return Ok(done);
        }
    }
    if let Some(bin) = find_binary(rt.binary) {
        let args = runtime_args(&st.root, Verb::Kill(name), id).ok_or("malformed container id")?;
        match run_binary(&bin, &args) {
            Ok(()) => return Ok(bin.display().to_string()),
            Err(e) => tried.push(e),
        }
    }
    let sig = crate::policy::signal(name).map(|s| s.0);
    match sig.map(|s| rustix::process::pidfd_send_signal(fd, s)) {
        Some(Ok(())) => Ok(format!("a pidfd signal to the init, pid {}", st.init_pid)),
        Some(Err(e)) => {
            tried.push(format!("pidfd_send_signal: {e}"));
            Err(tried.join("; "))
        }
        None => {
            tried.push(format!("unknown signal {name}"));
            Err(tried.join("; "))
        }
    }
}

/// Asks each of containerd's sockets in turn with `call`; the way that acted when one did. A
/// socket that does not exist is passed over; every other answer is added to `tried`.
fn through_containerd(
    rt: &Runtimes<'_>,
    tried: &mut Vec<String>,
    call: impl Fn(&Path) -> Result<bool, peregrine_state::containerd::Error>,
) -> Option<String> {
    for sock in rt.containerd_sockets {
        match call(sock) {
            Ok(true) => return Some(format!("containerd at {}", sock.display())),
            Ok(false) => tried.push(format!("containerd at {} refused", sock.display())),
            Err(peregrine_state::containerd::Error::Io(e))
                if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tried.push(format!("{}: {e}", sock.display())),
        }
    }
    None
}

fn pause(rt: &Runtimes<'_>, id: &str, st: &RuntimeState) -> Result<String, String> {
    let mut tried = Vec::new();
    if let Some(ns) = &st.namespace {
        let pause =
            |sock: &Path| peregrine_state::containerd::pause_task(sock, ns, id, CALL_TIMEOUT);
        if let Some(done) = through_containerd(rt, &mut tried, pause) {
            return Ok(done);
        }
    }
    if let Some(bin) = find_binary(rt.binary) {
        let args = runtime_args(&st.root, Verb::Pause, id).ok_or("malformed container id")?;
        match run_binary(&bin, &args) {
            Ok(()) => return Ok(bin.display().to_string()),
            Err(e) => tried.push(e),
        }
    }
    match freeze(rt.host_root, st) {
        Ok(file) => Ok(format!("the cgroup freezer {}", file.display())),
        Err(e) => {
            tried.push(e);
            Err(tried.join("; "))
        }
    }
}

/// Carries out `op` on container `id` (whose runc state is `st`); `dry_run` checks the init
/// and stops before acting.
pub fn act(
    rt: &Runtimes<'_>,
    guard: &Guard,
    id: &str,
    st: &RuntimeState,
    op: ContainerOp,
    dry_run: bool,
) -> Outcome {
    let short = id.get(..12).unwrap_or(id);
    if !is_runtime_id(id) {
        return Outcome::new(Kind::Failed, "malformed container id");
    }
    let fd = match open_init(guard, st) {
        Ok(fd) => fd,
        Err(o) => return o,
    };
    let verb = match op {
        ContainerOp::Pause => "pause",
        ContainerOp::Stop(_) => "stop",
        ContainerOp::Kill(_) => "kill",
    };
    if dry_run {
        return Outcome::new(
            Kind::DryRun,
            format!(
                "would {verb} container {short} (OCI runtime state in {}, init pid {})",
                st.root.display(),
                st.init_pid
            ),
        );
    }
    let failed = |e: String| Outcome::new(Kind::Failed, format!("{verb} container {short}: {e}"));
    match op {
        ContainerOp::Pause => match pause(rt, id, st) {
            Ok(via) => Outcome::new(Kind::Done, format!("pause container {short} through {via}")),
            Err(e) => failed(e),
        },
        ContainerOp::Kill(name) => match signal(rt, id, st, &fd, name) {
            Ok(via) if name != "KILL" || exited(&fd, KILL_WAIT) => Outcome::new(
                Kind::Done,
                format!("kill container {short} ({name}) through {via}"),
            ),
            Ok(via) => failed(format!(
                "sent KILL through {via}, the init is still there after {KILL_WAIT:?}"
            )),
            Err(e) => failed(e),
        },
        ContainerOp::Stop(grace) => {
            let via = match signal(rt, id, st, &fd, "TERM") {
                Ok(via) => via,
                Err(e) => return failed(e),
            };
            let grace = Duration::from_secs(u64::from(grace));
            if exited(&fd, grace) {
                return Outcome::new(
                    Kind::Done,
                    format!("stop container {short} (TERM) through {via}"),
                );
            }
            match signal(rt, id, st, &fd, "KILL") {
                Ok(via) if exited(&fd, KILL_WAIT) => Outcome::new(
                    Kind::Done,
                    format!("stop container {short} (TERM, KILL after {grace:?}) through {via}"),
                ),
                Ok(via) => failed(format!(
                    "TERM, then KILL through {via}: the init is still there"
                )),
                Err(e) => failed(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_may_reach_the_runtime() {
        let hex = "78c5ac6bfa54225b68af933474b2c97c57f5a586dcb1f55004aee0c90123c822";
        for ok in [hex, "probe1", "a.b_c+d-e"] {
            assert!(is_runtime_id(ok), "{ok}");
        }
        let long = "a".repeat(1025);
        for bad in [
            "",
            "-h",
            "--root=/tmp",
            ".",
            "..",
            "a/b",
            "a b",
            "a;rm",
            "ünï",
            "a\n",
            &long,
        ] {
            assert!(!is_runtime_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_argument_vector() {
        let root = Path::new("/run/containerd/runc/k8s.io");
        let s = |v: Option<Vec<OsString>>| {
            v.map(|v| {
                v.iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            s(runtime_args(root, Verb::Pause, "abc")),
            Some(
                ["--root", "/run/containerd/runc/k8s.io", "pause", "abc"]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert_eq!(
            s(runtime_args(root, Verb::Kill("TERM"), "abc")),
            Some(
                [
                    "--root",
                    "/run/containerd/runc/k8s.io",
                    "kill",
                    "abc",
                    "TERM"
                ]
                .map(String::from)
                .to_vec()
            )
        );
        assert_eq!(runtime_args(root, Verb::Pause, "--all"), None);
    }

    #[test]
    fn a_configured_binary_wins_and_runc_or_crun_is_found_otherwise() {
        let p = Path::new("/opt/rt/runc");
        assert_eq!(find_binary(Some(p)), Some(p.to_path_buf()));
        let found = find_binary(None);
        let has = |n: &str| std::env::split_paths(crate::child::PATH).any(|d| d.join(n).is_file());
        if has("runc") || has("crun") {
            let name = found.as_ref().and_then(|f| f.file_name()?.to_str());
            assert!(matches!(name, Some("runc" | "crun")), "{found:?}");
        }
    }

    /// A failing runtime's stderr comes back bounded and escaped.
    #[test]
    fn a_failing_runtime_is_quoted_escaped() {
        let dir = std::env::temp_dir().join(format!("pg-oci-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let bin = dir.join("fake-runc");
        std::fs::write(
            &bin,
            "#!/bin/sh\nprintf 'no \\033[2J container %s\\n' \"$4\" >&2\nexit 1\n",
        )
        .expect("script");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let args = runtime_args(Path::new("/nonexistent"), Verb::Pause, "abc").expect("args");
        let e = run_binary(&bin, &args).expect_err("fails");
        assert!(
            e.ends_with("exit status: 1: no \\e[2J container abc"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn state(pid: u32, start_ticks: u64, unified: Option<PathBuf>) -> RuntimeState {
        RuntimeState {
            root: PathBuf::from("/nonexistent/runc"),
            namespace: None,
            init_pid: i64::from(pid),
            init_start_ticks: start_ticks,
            cgroup_unified: unified,
            cgroup_freezer: Some(PathBuf::from("/nonexistent/freezer")),
        }
    }

    /// The fallback writes the v2 freeze file below HOST_ROOT when no v1 freezer exists.
    #[test]
    fn freeze_writes_below_host_root() {
        let dir = std::env::temp_dir().join(format!("pg-oci-freeze-{}", std::process::id()));
        let cg = dir.join("sys/fs/cgroup/default/abc");
        std::fs::create_dir_all(&cg).expect("dir");
        let st = state(1, 0, Some(PathBuf::from("/sys/fs/cgroup/default/abc")));
        assert_eq!(freeze(&dir, &st), Ok(cg.join("cgroup.freeze")));
        assert_eq!(
            std::fs::read_to_string(cg.join("cgroup.freeze")).expect("written"),
            "1"
        );
        let none = RuntimeState {
            cgroup_freezer: None,
            ..state(1, 0, None)
        };
        assert!(freeze(&dir, &none).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// With no containerd and a runtime binary that fails, kill and stop reach the init
    /// through its pidfd; an init whose start time differs from the state's is refused.
    #[test]
    fn the_pidfd_fallback_kills_the_checked_init_only() {
        use std::os::unix::process::ExitStatusExt;
        let guard = Guard::new(Vec::new());
        let rt = Runtimes {
            state_roots: &[],
            containerd_sockets: &[],
            binary: Some(Path::new("/bin/false")),
            host_root: Path::new("/"),
        };
        let id = "0123456789ab";
        let mut child = Command::new("/bin/sleep").arg("30").spawn().expect("sleep");
        let ticks = guard.stat(i64::from(child.id())).expect("stat").start_ticks;
        let o = act(
            &rt,
            &guard,
            id,
            &state(child.id(), ticks + 1, None),
            ContainerOp::Kill("KILL"),
            false,
        );
        assert_eq!(o.kind, Kind::Refused, "{o:?}");
        let o = act(
            &rt,
            &guard,
            id,
            &state(child.id(), ticks, None),
            ContainerOp::Kill("KILL"),
            true,
        );
        assert_eq!(o.kind, Kind::DryRun, "{o:?}");
        assert!(child.try_wait().expect("wait").is_none(), "dry run killed");
        let o = act(
            &rt,
            &guard,
            id,
            &state(child.id(), ticks, None),
            ContainerOp::Stop(5),
            false,
        );
        assert_eq!(o.kind, Kind::Done, "{o:?}");
        assert!(o.detail.contains("a pidfd signal to the init"), "{o:?}");
        assert_eq!(child.wait().expect("wait").signal(), Some(15));
        // An init that ignores TERM is killed after the grace time.
        let mut stubborn = Command::new("/bin/sh")
            .args(["-c", "trap '' TERM; sleep 30"])
            .spawn()
            .expect("sh");
        let pid = stubborn.id();
        let ticks = guard.stat(i64::from(pid)).expect("stat").start_ticks;
        std::thread::sleep(Duration::from_millis(100));
        let o = act(
            &rt,
            &guard,
            id,
            &state(pid, ticks, None),
            ContainerOp::Stop(1),
            false,
        );
        assert_eq!(o.kind, Kind::Done, "{o:?}");
        assert!(o.detail.contains("KILL after 1s"), "{o:?}");
        assert_eq!(stubborn.wait().expect("wait").signal(), Some(9));
    }
}
