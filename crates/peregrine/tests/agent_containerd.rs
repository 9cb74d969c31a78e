//! Container actions on containerd containers, through the binary, as root (e2e): a shell
//! spawned in a `ctr run -d` container raises a terminal-shell-style rule, and `pause`,
//! `stop` and `kill_container` policies act on that container although no Docker-compatible
//! API knows it. With containerd's API the agent acts through it (`ctr task ls` shows PAUSED
//! and STOPPED); without it, through the OCI runtime binary (runc's own state says paused,
//! containerd sees the init die).
//!
//! Each test runs a containerd of its own (a private socket and state, see
//! `peregrine_testkit::containerd`) and keys its rule and policies on its own token, since
//! every agent sees the whole host.

mod e2e_harness;

use e2e_harness::{scratch, Agent};
use peregrine_testkit::containerd::{self, Containerd};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Generous, for a loaded machine: only decides when an expected state counts as missing.
const DEADLINE: Duration = Duration::from_secs(20);

/// Where containerd's shim keeps runc's state for namespace `default`, whatever the daemon's
/// own state directory.
const RUNC_ROOT: &str = "/run/containerd/runc/default";

/// A 64-hex id, as containerd's CRI plugin makes them (the agent acts on full hex ids only).
fn hex_id(k: u64) -> String {
    format!(
        "{:064x}",
        u128::from(std::process::id()) << 64 | u128::from(k)
    )
}

/// The rule: a shell exec'd in a container with the test's token on its command line.
fn rules(token: &str) -> String {
    format!(
        "
- rule: Shell in containerd container
  desc: a shell spawned in a container, as Terminal shell in container sees one (no terminal here)
  condition: evt.type in (execve, execveat) and container.id != host and proc.name = sh and proc.cmdline contains {token}
  output: shell in a container (container.id=%container.id proc.cmdline=%proc.cmdline)
  priority: NOTICE
"
    )
}

/// A policy on the rule for shells whose command line holds `token`.
fn policy(name: &str, token: &str, action: &str) -> String {
    format!(
        "
- policy: {name}
  match:
    rules: [Shell in containerd container]
    output_fields: {{proc.cmdline: {{contains: {token}}}}}
  actions: [{action}]
"
    )
}

/// The daemon, a busybox root filesystem and the test's containers (`sleep 300` each).
struct Setup {
    daemon: Containerd,
    ids: Vec<String>,
}

impl Setup {
    fn start(dir: &Path, ids: Vec<String>) -> Setup {
        let rootfs = dir.join("rootfs");
        peregrine_testkit::podman::busybox_rootfs(&rootfs, &["sh", "sleep", "echo"], &[]);
        let daemon_dir = dir.join("containerd");
        std::fs::create_dir_all(&daemon_dir).expect("daemon dir");
        let daemon = Containerd::start(&daemon_dir);
        for id in &ids {
            let out = daemon
                .ctr()
                .args(["run", "-d", "--rootfs"])
                .arg(&rootfs)
                .arg(id)
                .args(["/bin/sleep", "300"])
                .output()
                .expect("ctr run");
            assert!(
                out.status.success(),
                "ctr run: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Setup { daemon, ids }
    }

    /// `ctr task exec` of `sh -c 'echo TOKEN'` in container `id`, detached: a pause can
    /// freeze the shell before it exits, and an attached `ctr` would wait for it.
    fn shell(&self, id: &str, token: &str) {
        let _ = self
            .daemon
            .ctr()
            .args(["task", "exec", "--detach", "--exec-id", "pg-shell", id])
            .args(["/bin/sh", "-c", &format!("echo {token}")])
            .output();
    }

    /// Waits for `ctr task ls` to show `want` for `id`; the last status seen.
    fn wait_status(&self, id: &str, want: &str) -> Option<String> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let st = self.daemon.task_status(id);
            if st.as_deref() == Some(want) || Instant::now() >= deadline {
                return st;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Setup {
    /// Thaws, kills and removes every container before the daemon goes (its shims and the
    /// containers would outlive it).
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.daemon.ctr().args(["task", "resume", id]).output();
            let _ = Command::new("runc")
                .args(["--root", RUNC_ROOT, "resume", id])
                .output();
            let _ = self
                .daemon
                .ctr()
                .args(["task", "kill", "-s", "KILL", id])
                .output();
            let _ = self.daemon.ctr().args(["task", "rm", "-f", id]).output();
            let _ = self.daemon.ctr().args(["container", "rm", id]).output();
        }
    }
}

/// The agent on the rule and `policies`, with an audit log in `dir`.
fn agent(dir: &Path, token: &str, policies: &str, containerd_sock: &Path) -> (Agent, PathBuf) {
    let rules_file = dir.join("rules.yaml");
    std::fs::write(&rules_file, rules(token)).expect("rules");
    let pol = dir.join("policies.yaml");
    std::fs::write(&pol, policies).expect("policies");
    let audit = dir.join("audit.jsonl");
    let pol_opt = format!("response_files[]={}", pol.display());
    let audit_opt = format!("response.audit_file={}", audit.display());
    let sock_opt = format!(
        "response.containerd_sockets[]={}",
        containerd_sock.display()
    );
    let agent = Agent::start(
        &rules_file,
        &[
            "-o",
            &pol_opt,
            "-o",
            &audit_opt,
            "-o",
            &sock_opt,
            "-o",
            "json_output=true",
        ],
    );
    (agent, audit)
}

/// The audit record of `action` on container `id`, as (outcome, detail).
fn audited(lines: &[Value], action: &str, id: &str) -> Option<(String, String)> {
    lines
        .iter()
        .find(|l| l["action"] == action && l["container_id"] == id)
        .map(|l| {
            (
                l["outcome"].as_str().unwrap_or_default().to_string(),
                l["detail"].as_str().unwrap_or_default().to_string(),
            )
        })
}

/// The runtime binary the agent picks with no `response.oci_runtime`: runc, else crun.
fn oci_runtime() -> Option<PathBuf> {
    let dirs = [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ];
    ["runc", "crun"].iter().find_map(|n| {
        dirs.iter()
            .map(|d| Path::new(d).join(n))
            .find(|p| p.is_file())
    })
}

fn skip_unless_ready(name: &str) -> bool {
    if !peregrine_testkit::e2e_root(name) {
        return false;
    }
    if !containerd::available() {
        peregrine_testkit::skip(name, "containerd is not installed");
        return false;
    }
    true
}

/// Through containerd's task API: containerd itself reports the container paused, and
/// stopped after a `stop` (TERM, then KILL past the grace time: `sleep` as pid 1 of its pid
/// namespace ignores TERM) and after a `kill_container`.
#[test]
fn pause_stop_and_kill_a_containerd_container_through_its_api() {
    let name = "pause_stop_and_kill_a_containerd_container_through_its_api";
    if !skip_unless_ready(name) {
        return;
    }
    let dir = scratch("response-containerd-api");
    let tag = std::process::id();
    let (pause, stop, kill) = (hex_id(1), hex_id(2), hex_id(3));
    let setup = Setup::start(&dir, vec![pause.clone(), stop.clone(), kill.clone()]);
    let token = format!("pgr-ctrd-{tag}");
    let policies = [
        policy("pause it", &format!("{token}-pause"), "pause: {}"),
        policy("stop it", &format!("{token}-stop"), "{stop: {timeout: 1}}"),
        policy(
            "kill it",
            &format!("{token}-kill"),
            "{kill_container: {signal: KILL}}",
        ),
    ]
    .concat();
    let (agent, audit_file) = agent(&dir, &token, &policies, &setup.daemon.sock);
    setup.shell(&pause, &format!("{token}-pause"));
    let paused = setup.wait_status(&pause, "PAUSED");
    setup.shell(&stop, &format!("{token}-stop"));
    setup.shell(&kill, &format!("{token}-kill"));
    let stopped = setup.wait_status(&stop, "STOPPED");
    let killed = setup.wait_status(&kill, "STOPPED");
    let lines = e2e_harness::json_lines(&audit_file, 3, DEADLINE);
    let log = agent.log.clone();
    let status = agent.stop();
    drop(setup);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(paused.as_deref(), Some("PAUSED"), "{lines:#?} {log:#?}");
    assert_eq!(stopped.as_deref(), Some("STOPPED"), "{lines:#?} {log:#?}");
    assert_eq!(killed.as_deref(), Some("STOPPED"), "{lines:#?} {log:#?}");
    let via = "through containerd at ";
    let (o, d) = audited(&lines, "pause", &pause).expect("pause audited");
    assert_eq!(o, "done", "{d}");
    assert!(d.contains(via), "{d}");
    let (o, d) = audited(&lines, "stop", &stop).expect("stop audited");
    assert_eq!(o, "done", "{d}");
    assert!(
        d.contains("(TERM, KILL after 1s)") && d.contains(via),
        "{d}"
    );
    let (o, d) = audited(&lines, "kill_container", &kill).expect("kill audited");
    assert_eq!(o, "done", "{d}");
    assert!(d.contains("(KILL)") && d.contains(via), "{d}");
    assert!(status.success(), "{status:?}");
}

/// With no containerd API to ask (its socket is not where the agent looks), the OCI runtime
/// binary acts with the state's root: runc's state says paused (containerd's shim does not
/// know, the reason the API is preferred), and a kill ends the container.
#[test]
fn without_its_api_the_oci_runtime_pauses_and_kills_a_containerd_container() {
    let name = "without_its_api_the_oci_runtime_pauses_and_kills_a_containerd_container";
    if !skip_unless_ready(name) {
        return;
    }
    let Some(runc) = oci_runtime() else {
        peregrine_testkit::skip(name, "no runc or crun");
        return;
    };
    let dir = scratch("response-containerd-oci");
    let tag = std::process::id();
    let (pause, kill) = (hex_id(4), hex_id(5));
    let setup = Setup::start(&dir, vec![pause.clone(), kill.clone()]);
    let token = format!("pgr-oci-{tag}");
    let policies = [
        policy("pause it", &format!("{token}-pause"), "pause: {}"),
        policy(
            "kill it",
            &format!("{token}-kill"),
            "{kill_container: {signal: KILL}}",
        ),
    ]
    .concat();
    let nowhere = dir.join("no-containerd.sock");
    let (agent, audit_file) = agent(&dir, &token, &policies, &nowhere);
    setup.shell(&pause, &format!("{token}-pause"));
    setup.shell(&kill, &format!("{token}-kill"));
    let killed = setup.wait_status(&kill, "STOPPED");
    let lines = e2e_harness::json_lines(&audit_file, 2, DEADLINE);
    let runc_state = Command::new(&runc)
        .args(["--root", RUNC_ROOT, "state", &pause])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let log = agent.log.clone();
    let status = agent.stop();
    drop(setup);
    let _ = std::fs::remove_dir_all(&dir);
    let state: Value = serde_json::from_str(&runc_state).unwrap_or(Value::Null);
    assert_eq!(
        state["status"], "paused",
        "{runc_state} {lines:#?} {log:#?}"
    );
    assert_eq!(killed.as_deref(), Some("STOPPED"), "{lines:#?} {log:#?}");
    let via = format!("through {}", runc.display());
    let (o, d) = audited(&lines, "pause", &pause).expect("pause audited");
    assert_eq!(o, "done", "{d}");
    assert!(d.ends_with(&via), "{d}");
    let (o, d) = audited(&lines, "kill_container", &kill).expect("kill audited");
    assert_eq!(o, "done", "{d}");
    assert!(d.ends_with(&via), "{d}");
    assert!(status.success(), "{status:?}");
}
