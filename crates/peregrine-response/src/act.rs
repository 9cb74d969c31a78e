//! Carrying out one action (or, in dry run, checking everything but the final step).
//!
//! Every action returns an [`Outcome`]; nothing here panics or gives up on the worker: a
//! missing process, an unreachable runtime or a failing script is an outcome like any other.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::guard::{Guard, Refusal};
use crate::policy::{Action, ContainerOp, KillTarget};

/// The process the alert was about, as the state knew it when the rule matched.
pub use peregrine_state::thread::Subject;

/// How an action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Carried out.
    Done,
    /// Dry run: every check passed; this is what would have been done.
    DryRun,
    /// A safety rule forbids it (pid 1, the agent, a protected executable, a reused pid…).
    Refused,
    /// The action has no target here (a container action on a host process, a process gone).
    Skipped,
    /// The budget is spent: the circuit breaker is open.
    Breaker,
    /// Tried and failed (the runtime said no, the script failed or timed out…).
    Failed,
}

impl Kind {
    /// The `outcome` label of the metrics and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Done => "done",
            Kind::DryRun => "dry_run",
            Kind::Refused => "refused",
            Kind::Skipped => "skipped",
            Kind::Breaker => "breaker_open",
            Kind::Failed => "failed",
        }
    }

    pub const ALL: [Kind; 6] = [
        Kind::Done,
        Kind::DryRun,
        Kind::Refused,
        Kind::Skipped,
        Kind::Breaker,
        Kind::Failed,
    ];
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub kind: Kind,
    /// What was (or would have been) done, or why not; may quote process or container
    /// data, so it is escaped wherever it reaches a terminal or a log line.
    pub detail: String,
}

impl Outcome {
    pub(crate) fn new(kind: Kind, detail: impl Into<String>) -> Outcome {
        Outcome {
            kind,
            detail: detail.into(),
        }
    }
}

pub(crate) fn refused(r: Refusal) -> Outcome {
    match r {
        Refusal::Gone => Outcome::new(Kind::Skipped, r.to_string()),
        Refusal::Io(_) => Outcome::new(Kind::Failed, r.to_string()),
        _ => Outcome::new(Kind::Refused, r.to_string()),
    }
}

/// What actions need besides their parameters.
pub struct Context<'a> {
    pub guard: &'a Guard,
    /// Docker-compatible API sockets, tried in order.
    pub sockets: &'a [PathBuf],
    /// For containers that no Docker-compatible API knows (containerd, CRI-O).
    pub runtimes: crate::oci::Runtimes<'a>,
    pub dry_run: bool,
    /// The isolated containers (`isolate` adds to them).
    pub isolation: Option<&'a crate::isolate::Registry>,
    /// The policy and the alert's rule, recorded with an isolation.
    pub origin: (&'a str, &'a str),
    /// The file a `capture` action's recorder writes (requested when the alert matched).
    pub capture_file: Option<&'a Path>,
}

/// A full container id as the state keeps it (hex), so it can go into an API path as is.
fn is_container_id(id: &str) -> bool {
    (12..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Runs one action; `alert_json` is the alert as Falco's JSON, `so_far` the outcomes of the
/// policy's earlier actions (a webhook reports them).
pub fn run(
    cx: &Context<'_>,
    action: &Action,
    subject: Option<&Subject>,
    alert_json: &str,
    so_far: &[(String, Outcome)],
) -> Outcome {
    match action {
        Action::Kill { target, signal } => {
            let Some(s) = subject else {
                return Outcome::new(Kind::Skipped, "the alert names no process");
            };
            match target {
                KillTarget::Process => kill_process(cx, s, *signal),
                KillTarget::ProcessGroup => kill_group(cx, s, *signal),
                KillTarget::ContainerInit => kill_init(cx, s, *signal),
            }
        }
        Action::Container(op) => {
            let Some(id) = subject.map(|s| &*s.container_id).filter(|c| !c.is_empty()) else {
                return Outcome::new(Kind::Skipped, "not in a container");
            };
            container(cx, id, *op)
        }
        Action::Script { argv, timeout, env } => {
            if cx.dry_run {
                return Outcome::new(Kind::DryRun, format!("would run {argv:?}"));
            }
            script(argv, *timeout, env, alert_json)
        }
        Action::Webhook { url, timeout } => {
            if cx.dry_run {
                return Outcome::new(Kind::DryRun, format!("would POST to {url}"));
            }
            webhook(url, *timeout, alert_json, so_far)
        }
        Action::Isolate(spec) => {
            let Some(s) = subject.filter(|s| !s.container_id.is_empty()) else {
                return Outcome::new(Kind::Skipped, "not in a container");
            };
            isolate(cx, s, spec)
        }
        Action::Capture(_) => match cx.capture_file {
            Some(p) if cx.dry_run => Outcome::new(
                Kind::DryRun,
                format!("would write the events around the alert to {}", p.display()),
            ),
            Some(p) => Outcome::new(
                Kind::Done,
                format!("writing the events around the alert to {}", p.display()),
            ),
            None => Outcome::new(
                Kind::Failed,
                "no window of events is kept: no capture action was loaded at start",
            ),
        },
    }
}

/// The host pid whose network namespace is the container's: its init as the runtime reports
/// it, else the alert's own process once its identity is checked (a pid reused by a process
/// elsewhere must not name the namespace).
fn container_pid(cx: &Context<'_>, s: &Subject) -> Result<i64, Outcome> {
    let init = cx.sockets.iter().find_map(|sock| {
        peregrine_state::runtime::inspect(sock, &s.container_id)
            .ok()
            .flatten()
    });
    if let Some(pid) = init.map(|i| i.init_pid).filter(|p| *p > 1) {
        return Ok(pid);
    }
    // containerd's or CRI-O's: the init runc's state names, once checked.
    if let Some(st) = peregrine_state::oci::runtime_state(cx.runtimes.state_roots, &s.container_id)
    {
        if crate::oci::open_init(cx.guard, &st).is_ok() {
            return Ok(st.init_pid);
        }
    }
    match cx.guard.open_checked(s.pid, Some(s.start_ts)) {
        Ok(_) => Ok(s.pid),
        Err(r) => Err(refused(r)),
    }
}

fn isolate(cx: &Context<'_>, s: &Subject, spec: &crate::isolate::Spec) -> Outcome {
    use crate::isolate::IsolateError;
    let id = &*s.container_id;
    if !is_container_id(id) {
        return Outcome::new(Kind::Failed, "malformed container id");
    }
    if is_own_container(id) {
        return Outcome::new(Kind::Refused, "the agent's own container");
    }
    let Some(reg) = cx.isolation else {
        return Outcome::new(Kind::Failed, "no isolation registry");
    };
    let pid = match container_pid(cx, s) {
        Ok(pid) => pid,
        Err(o) => return o,
    };
    match reg.isolate(id, pid, spec, cx.origin, cx.dry_run) {
        Ok(detail) if cx.dry_run => Outcome::new(Kind::DryRun, detail),
        Ok(detail) => Outcome::new(Kind::Done, detail),
        Err(e @ IsolateError::SharedNamespace(_)) => Outcome::new(Kind::Refused, e.to_string()),
        Err(e @ IsolateError::Gone(_)) => Outcome::new(Kind::Skipped, e.to_string()),
        Err(e) => Outcome::new(Kind::Failed, e.to_string()),
    }
}

fn signal_name(s: rustix::process::Signal) -> String {
    format!("signal {}", s.as_raw())
}

fn kill_process(cx: &Context<'_>, s: &Subject, signal: rustix::process::Signal) -> Outcome {
    let fd = match cx.guard.open_checked(s.pid, Some(s.start_ts)) {
        Ok(fd) => fd,
        Err(r) => return refused(r),
    };
    if cx.dry_run {
        return Outcome::new(
            Kind::DryRun,
            format!("would kill pid {} ({})", s.pid, signal_name(signal)),
        );
    }
    match rustix::process::pidfd_send_signal(&fd, signal) {
        Ok(()) => Outcome::new(
            Kind::Done,
            format!("killed pid {} ({})", s.pid, signal_name(signal)),
        ),
        Err(rustix::io::Errno::SRCH) => Outcome::new(Kind::Skipped, "the process is gone"),
        Err(e) => Outcome::new(Kind::Failed, format!("pidfd_send_signal: {e}")),
    }
}

fn kill_group(cx: &Context<'_>, s: &Subject, signal: rustix::process::Signal) -> Outcome {
    // The alert's process is checked like a lone target first: identity, then safety.
    if let Err(r) = cx.guard.open_checked(s.pid, Some(s.start_ts)) {
        return refused(r);
    }
    let pgid = match cx.guard.stat(s.pid) {
        Ok(st) => st.pgid,
        Err(r) => return refused(r),
    };
    let own_pgid = cx.guard.stat(cx.guard.own_pid()).map_or(-1, |st| st.pgid);
    if pgid <= 1 || pgid == own_pgid {
        return Outcome::new(
            Kind::Refused,
            format!("process group {pgid} holds pid 1 or the agent"),
        );
    }
    let members = cx.guard.group_members(pgid);
    let (mut done, mut skipped) = (Vec::new(), Vec::new());
    for m in &members {
        match cx.guard.open_checked(*m, None) {
            Ok(fd) if cx.dry_run => {
                drop(fd);
                done.push(*m);
            }
            Ok(fd) => match rustix::process::pidfd_send_signal(&fd, signal) {
                Ok(()) => done.push(*m),
                Err(_) => skipped.push(*m),
            },
            Err(_) => skipped.push(*m),
        }
    }
    let verb = if cx.dry_run { "would kill" } else { "killed" };
    let detail = format!(
        "{verb} {} of {} processes of group {pgid} ({}): {done:?}; left: {skipped:?}",
        done.len(),
        members.len(),
        signal_name(signal)
    );
    let kind = match (cx.dry_run, done.is_empty()) {
        (_, true) => Kind::Refused,
        (true, false) => Kind::DryRun,
        (false, false) => Kind::Done,
    };
    Outcome::new(kind, detail)
}

fn kill_init(cx: &Context<'_>, s: &Subject, signal: rustix::process::Signal) -> Outcome {
    if s.container_id.is_empty() {
        return Outcome::new(Kind::Skipped, "not in a container");
    }
    if !is_container_id(&s.container_id) {
        return Outcome::new(Kind::Failed, "malformed container id");
    }
    let init = cx.sockets.iter().find_map(|sock| {
        peregrine_state::runtime::inspect(sock, &s.container_id)
            .ok()
            .flatten()
    });
    let opened = match init.map(|i| i.init_pid).filter(|p| *p > 0) {
        Some(pid) => cx
            .guard
            .open_checked(pid, None)
            .map(|fd| (pid, fd))
            .map_err(refused),
        // containerd's or CRI-O's: the init runc's state names, its start time checked.
        None => match peregrine_state::oci::runtime_state(cx.runtimes.state_roots, &s.container_id)
        {
            Some(st) => crate::oci::open_init(cx.guard, &st).map(|fd| (st.init_pid, fd)),
            None => Err(Outcome::new(
                Kind::Failed,
                "the runtime does not know the container's init",
            )),
        },
    };
    let (pid, fd) = match opened {
        Ok(o) => o,
        Err(o) => return o,
    };
    if cx.dry_run {
        return Outcome::new(
            Kind::DryRun,
            format!(
                "would kill the container's init, pid {pid} ({})",
                signal_name(signal)
            ),
        );
    }
    match rustix::process::pidfd_send_signal(&fd, signal) {
        Ok(()) => Outcome::new(
            Kind::Done,
            format!(
                "killed the container's init, pid {pid} ({})",
                signal_name(signal)
            ),
        ),
        Err(e) => Outcome::new(Kind::Failed, format!("pidfd_send_signal: {e}")),
    }
}

/// Whether the agent itself runs in container `id` (pausing it would stop the agent).
fn is_own_container(id: &str) -> bool {
    std::fs::read_to_string("/proc/self/cgroup").is_ok_and(|c| c.contains(id))
}

fn container(cx: &Context<'_>, id: &str, op: ContainerOp) -> Outcome {
    if !is_container_id(id) {
        return Outcome::new(Kind::Failed, "malformed container id");
    }
    if is_own_container(id) {
        return Outcome::new(Kind::Refused, "the agent's own container");
    }
    // A dry run names the Docker-compatible way; the OCI runtime's checks the init too.
    let oci_state = || peregrine_state::oci::runtime_state(cx.runtimes.state_roots, id);
    let short = &id[..12];
    let (path, verb, wait) = match op {
        ContainerOp::Pause => (format!("/containers/{id}/pause"), "pause", 5),
        ContainerOp::Stop(t) => (format!("/containers/{id}/stop?t={t}"), "stop", t + 10),
        ContainerOp::Kill(sig) => (format!("/containers/{id}/kill?signal={sig}"), "kill", 5),
    };
    if cx.dry_run {
        if let Some(st) = oci_state() {
            return crate::oci::act(&cx.runtimes, cx.guard, id, &st, op, true);
        }
        return Outcome::new(Kind::DryRun, format!("would {verb} container {short}"));
    }
    let mut last = String::from("no container runtime socket answered");
    for sock in cx.sockets {
        match peregrine_state::runtime::request_with_timeout(
            sock,
            "POST",
            &path,
            Duration::from_secs(u64::from(wait)),
        ) {
            Ok((200..=299, _)) => {
                return Outcome::new(
                    Kind::Done,
                    format!("{verb} container {short} through {}", sock.display()),
                )
            }
            // Another runtime may own it.
            Ok((404, _)) => last = format!("container {short} unknown to {}", sock.display()),
            Ok((code, body)) => {
                let msg = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("message")?.as_str().map(str::to_string))
                    .unwrap_or_default();
                return Outcome::new(
                    Kind::Failed,
                    format!("{verb} container {short}: HTTP {code} {msg}"),
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => last = format!("{}: {e}", sock.display()),
        }
    }
    // No Docker-compatible API knows it: containerd's or CRI-O's, by its runc state.
    match oci_state() {
        Some(st) => crate::oci::act(&cx.runtimes, cx.guard, id, &st, op, false),
        None => Outcome::new(
            Kind::Failed,
            format!("{last}, and no OCI runtime state names container {short}"),
        ),
    }
}

fn script(
    argv: &[String],
    timeout: Duration,
    env: &[(String, String)],
    alert_json: &str,
) -> Outcome {
    let Some((prog, args)) = argv.split_first() else {
        return Outcome::new(Kind::Failed, "empty command");
    };
    let spawned = Command::new(prog)
        .args(args)
        .env_clear()
        .env("PATH", crate::child::PATH)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return Outcome::new(Kind::Failed, format!("cannot run {prog}: {e}")),
    };
    // The alert goes in from a thread, so a script that does not read its stdin cannot
    // block the worker past the timeout.
    let stdin = child.stdin.take();
    let body = format!("{alert_json}\n");
    let feeder = std::thread::spawn(move || {
        if let Some(mut s) = stdin {
            let _ = s.write_all(body.as_bytes());
        }
    });
    let waited = crate::child::wait_quoting_stderr(&mut child, timeout);
    let _ = feeder.join();
    let (status, err) = match waited {
        Ok(w) => w,
        Err(e) => return Outcome::new(Kind::Failed, format!("waiting for {prog}: {e}")),
    };
    match status {
        None => Outcome::new(Kind::Failed, format!("{prog} timed out after {timeout:?}")),
        Some(st) if st.success() => Outcome::new(Kind::Done, format!("{prog} exited 0")),
        Some(st) => Outcome::new(Kind::Failed, format!("{prog} {st}: {err}")),
    }
}

fn webhook(
    url: &str,
    timeout: Duration,
    alert_json: &str,
    so_far: &[(String, Outcome)],
) -> Outcome {
    use peregrine_outputs::http::{HttpConfig, HttpOutput};
    use peregrine_outputs::Output;
    let alert: serde_json::Value =
        serde_json::from_str(alert_json).unwrap_or(serde_json::Value::Null);
    let actions: Vec<serde_json::Value> = so_far
        .iter()
        .map(|(name, o)| {
            serde_json::json!({"action": name, "outcome": o.kind.as_str(), "detail": o.detail})
        })
        .collect();
    let body = serde_json::json!({"alert": alert, "actions": actions}).to_string();
    let cfg = HttpConfig {
        url: url.to_string(),
        json: true,
        max_retries: 0,
        timeout,
        user_agent: "peregrine-response".into(),
        ..HttpConfig::default()
    };
    let sent = HttpOutput::with_echo(cfg, Box::new(std::io::sink()))
        .and_then(|mut out| out.write(&body, peregrine_outputs::Priority::Notice));
    match sent {
        Ok(()) => Outcome::new(Kind::Done, format!("posted to {url}")),
        Err(e) => Outcome::new(Kind::Failed, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Instant;

    fn cx(guard: &Guard, dry_run: bool) -> Context<'_> {
        Context {
            guard,
            sockets: &[],
            runtimes: crate::oci::Runtimes {
                state_roots: &[],
                containerd_sockets: &[],
                binary: None,
                host_root: Path::new("/"),
            },
            dry_run,
            isolation: None,
            origin: ("p", "r"),
            capture_file: None,
        }
    }

    #[test]
    fn a_script_gets_the_alert_on_stdin_and_its_env_and_is_timed_out() {
        let dir = std::env::temp_dir().join(format!("pg-script-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let out = dir.join("got");
        let argv = vec![
            "/bin/sh".to_string(),
            "-c".into(),
            format!(
                "cat > {} && echo \"$WHO\" >> {}",
                out.display(),
                out.display()
            ),
        ];
        let env = vec![("WHO".to_string(), "responder".to_string())];
        let o = script(&argv, Duration::from_secs(5), &env, "{\"rule\":\"r\"}");
        assert_eq!(o.kind, Kind::Done, "{o:?}");
        assert_eq!(
            std::fs::read_to_string(&out).expect("written"),
            "{\"rule\":\"r\"}\nresponder\n"
        );
        let slow = vec!["/bin/sleep".to_string(), "10".into()];
        let t0 = Instant::now();
        let o = script(&slow, Duration::from_millis(200), &[], "{}");
        assert_eq!(o.kind, Kind::Failed);
        assert!(o.detail.contains("timed out"), "{o:?}");
        assert!(t0.elapsed() < Duration::from_secs(5));
        let fails = vec![
            "/bin/sh".to_string(),
            "-c".into(),
            "echo no >&2; exit 3".into(),
        ];
        let o = script(&fails, Duration::from_secs(5), &[], "{}");
        assert_eq!(
            (o.kind, o.detail.ends_with(": no")),
            (Kind::Failed, true),
            "{o:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn kill_signals_the_named_process_and_dry_run_does_not() {
        let guard = Guard::new(Vec::new());
        let mut child = Command::new("/bin/sleep").arg("30").spawn().expect("sleep");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64;
        let s = Subject {
            pid: i64::from(child.id()),
            tid: i64::from(child.id()),
            start_ts: now,
            container_id: "".into(),
        };
        let kill = Action::Kill {
            target: KillTarget::Process,
            signal: rustix::process::Signal::KILL,
        };
        let o = run(&cx(&guard, true), &kill, Some(&s), "{}", &[]);
        assert_eq!(o.kind, Kind::DryRun, "{o:?}");
        assert!(child.try_wait().expect("wait").is_none(), "dry run killed");
        let o = run(&cx(&guard, false), &kill, Some(&s), "{}", &[]);
        assert_eq!(o.kind, Kind::Done, "{o:?}");
        let st = child.wait().expect("wait");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(9));
        // A container action on a host process has no target.
        let pause = Action::Container(ContainerOp::Pause);
        assert_eq!(
            run(&cx(&guard, false), &pause, Some(&s), "{}", &[]).kind,
            Kind::Skipped
        );
    }

    /// A real HTTP listener on loopback receives the alert and the earlier outcomes; a
    /// refused connection is a failed outcome.
    #[test]
    fn a_webhook_posts_the_alert_and_the_outcomes_so_far() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
        let addr = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            conn.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Head, then as much body as Content-Length says.
            loop {
                let n = conn.read(&mut buf).expect("read");
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len || n == 0 {
                        break;
                    }
                }
            }
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .expect("answer");
            String::from_utf8_lossy(&req).to_string()
        });
        let so_far = vec![(
            "kill".to_string(),
            Outcome::new(Kind::Done, "killed pid 7 (signal 9)"),
        )];
        let url = format!("http://{addr}/hook");
        let o = webhook(&url, Duration::from_secs(5), "{\"rule\":\"R\"}", &so_far);
        assert_eq!(o.kind, Kind::Done, "{o:?}");
        let req = server.join().expect("server");
        assert!(req.starts_with("POST /hook HTTP/1.1"), "{req}");
        let body = req.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert_eq!(v["alert"]["rule"], "R");
        assert_eq!(v["actions"][0]["action"], "kill");
        assert_eq!(v["actions"][0]["outcome"], "done");
        // Nobody listens there any more.
        let o = webhook(&url, Duration::from_secs(2), "{}", &[]);
        assert_eq!(o.kind, Kind::Failed, "{o:?}");
    }

    /// A container no Docker-compatible API knows: its init comes from runc's state (here a
    /// state written for a real child), and a state whose start time is not the child's is
    /// refused; the container actions take the same way (pidfd, no containerd, no runtime).
    #[test]
    fn the_container_init_from_runc_state() {
        use std::os::unix::process::ExitStatusExt;
        let guard = Guard::new(Vec::new());
        let dir = std::env::temp_dir().join(format!("pg-act-oci-{}", std::process::id()));
        let id = "78c5ac6bfa54225b68af933474b2c97c57f5a586dcb1f55004aee0c90123c822";
        let roots = [dir.clone()];
        let cx = |dry_run| Context {
            runtimes: crate::oci::Runtimes {
                state_roots: &roots,
                containerd_sockets: &[],
                binary: Some(Path::new("/bin/false")),
                host_root: Path::new("/"),
            },
            ..cx(&guard, dry_run)
        };
        let spawn = |ticks_off: u64| {
            let child = Command::new("/bin/sleep").arg("30").spawn().expect("sleep");
            let pid = i64::from(child.id());
            let ticks = guard.stat(pid).expect("stat").start_ticks + ticks_off;
            std::fs::create_dir_all(dir.join("k8s.io").join(id)).expect("dir");
            std::fs::write(
                dir.join("k8s.io").join(id).join("state.json"),
                format!("{{\"init_process_pid\": {pid}, \"init_process_start\": {ticks}}}"),
            )
            .expect("state");
            child
        };
        let s = Subject {
            pid: 0,
            tid: 0,
            start_ts: 0,
            container_id: id.into(),
        };
        let kill = Action::Kill {
            target: KillTarget::ContainerInit,
            signal: rustix::process::Signal::KILL,
        };
        let mut stranger = spawn(7);
        let o = run(&cx(false), &kill, Some(&s), "{}", &[]);
        assert_eq!(o.kind, Kind::Refused, "{o:?}");
        assert!(stranger.try_wait().expect("wait").is_none());
        let _ = stranger.kill();
        let _ = stranger.wait();
        let mut init = spawn(0);
        let o = run(&cx(false), &kill, Some(&s), "{}", &[]);
        assert_eq!(o.kind, Kind::Done, "{o:?}");
        assert_eq!(init.wait().expect("wait").signal(), Some(9));
        let mut init = spawn(0);
        let stop = Action::Container(ContainerOp::Stop(5));
        let o = run(&cx(true), &stop, Some(&s), "{}", &[]);
        assert_eq!(o.kind, Kind::DryRun, "{o:?}");
        assert!(o.detail.contains("OCI runtime state"), "{o:?}");
        let o = run(&cx(false), &stop, Some(&s), "{}", &[]);
        assert_eq!(o.kind, Kind::Done, "{o:?}");
        assert!(
            o.detail.contains("through a pidfd signal to the init"),
            "{o:?}"
        );
        assert_eq!(init.wait().expect("wait").signal(), Some(15));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The whole process group dies; the agent's own group is never a target.
    #[test]
    fn kill_reaches_every_process_of_the_group() {
        use std::os::unix::process::CommandExt;
        let guard = Guard::new(Vec::new());
        let dir = std::env::temp_dir().join(format!("pg-group-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let pids = dir.join("pids");
        let mut leader = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!(
                "sleep 30 & echo $! > {p}.tmp; sleep 30 & echo $! >> {p}.tmp; mv {p}.tmp {p}; wait",
                p = pids.display()
            ))
            .process_group(0)
            .spawn()
            .expect("group");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pids.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let members: Vec<i64> = std::fs::read_to_string(&pids)
            .expect("pids")
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        assert_eq!(members.len(), 2);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64;
        let s = Subject {
            pid: members[0],
            tid: members[0],
            start_ts: now,
            container_id: "".into(),
        };
        let kill = Action::Kill {
            target: KillTarget::ProcessGroup,
            signal: rustix::process::Signal::KILL,
        };
        let o = run(&cx(&guard, false), &kill, Some(&s), "{}", &[]);
        assert_eq!(o.kind, Kind::Done, "{o:?}");
        assert!(o.detail.starts_with("killed 3 of 3 processes"), "{o:?}");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(leader.wait().expect("wait").signal(), Some(9));
        let own = Subject {
            pid: i64::from(std::process::id()),
            ..s
        };
        let o = run(&cx(&guard, false), &kill, Some(&own), "{}", &[]);
        assert_eq!(o.kind, Kind::Refused, "{o:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
