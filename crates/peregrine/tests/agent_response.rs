//! Response policies through the binary, as root, on real processes and containers: a kill
//! policy kills a marker program the moment its rule fires (the audit log, the outputs and
//! `/metrics` say so), dry run leaves it alive and audits "would kill", the safety rules hold
//! (a protected executable, the agent's own ancestor), a flood trips the breaker, policies
//! reload with the rules; in podman (e2e) a `pause` policy pauses the container, a `stop`
//! policy stops one and a kill of the container's init ends one.
//!
//! Every agent sees the whole host and the tests of this file run in parallel, so each test
//! has its own marker name (the rule keys on it) and its own scratch directory.

mod e2e_harness;

use e2e_harness::podman::{self, ApiService, Container, API_SOCKET};
use e2e_harness::{scratch, Agent};
use serde_json::Value;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Generous, for a loaded machine: only decides when an expected line counts as missing.
const DEADLINE: Duration = Duration::from_secs(15);

/// A rule on the exec of a program named `name` (at most 15 characters: the kernel's comm).
fn exec_rule(rule: &str, name: &str) -> String {
    format!(
        "
- rule: {rule}
  desc: the response test's marker program
  condition: evt.type in (execve, execveat) and proc.name = {name}
  output: marker started (proc.pid=%proc.pid proc.name=%proc.name)
  priority: WARNING
"
    )
}

fn kill_policy(name: &str, rule: &str, extra: &str) -> String {
    format!(
        "
- policy: {name}
{extra}  match:
    rules: [{rule}]
  actions:
    - kill: {{}}
"
    )
}

/// A copy of `sleep` named `name` in `dir`: its exec is what the rule sees.
fn marker(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy("/bin/sleep", &path).expect("marker program");
    path
}

fn spawn(path: &Path) -> Child {
    Command::new(path)
        .arg("60")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("marker runs")
}

/// The signal that ended `child` within `within`, or None if it is still running.
fn death(child: &mut Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(st) = child.try_wait().expect("wait") {
            return Some(st.signal().unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// The audit log's records, once it holds at least `n` (or whatever it holds at the deadline).
fn audit(path: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let lines: Vec<Value> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if lines.len() >= n || Instant::now() >= deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A rules file, a policies file and the agent on them, with an audit log in `dir`.
fn agent(dir: &Path, rules: &str, policies: &str, more: &[&str]) -> (Agent, PathBuf) {
    let rules_file = dir.join("rules.yaml");
    std::fs::write(&rules_file, rules).expect("rules");
    let pol = dir.join("policies.yaml");
    std::fs::write(&pol, policies).expect("policies");
    let audit = dir.join("audit.jsonl");
    let pol_opt = format!("response_files[]={}", pol.display());
    let audit_opt = format!("response.audit_file={}", audit.display());
    let mut args = vec!["-o", &pol_opt, "-o", &audit_opt, "-o", "json_output=true"];
    args.extend_from_slice(more);
    (Agent::start(&rules_file, &args), audit)
}

/// `GET path` over HTTP/1.1; the whole response as text.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the web server");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

/// The response record (`source: response`) the outputs received for `outcome`.
fn record(agent: &mut Agent, outcome: &str) -> Option<Value> {
    agent
        .expect_alert(DEADLINE, |v| {
            v["source"] == "response" && v["output_fields"]["response.outcome"] == outcome
        })
        .map(|a| a.json)
}

#[test]
fn a_kill_policy_kills_the_marker_and_audits_it() {
    if !peregrine_testkit::live("a_kill_policy_kills_the_marker_and_audits_it") {
        return;
    }
    let dir = scratch("response-kill");
    let name = "pgr-kill";
    let (mut agent, audit_file) = agent(
        &dir,
        &exec_rule("Kill marker", name),
        &kill_policy("kill markers", "Kill marker", ""),
        &[
            "-o",
            "webserver.enabled=true",
            "-o",
            "webserver.listen_address=127.0.0.1",
            "-o",
            "webserver.listen_port=0",
            "-o",
            "webserver.prometheus_metrics_enabled=true",
            "-o",
            "metrics.enabled=true",
        ],
    );
    let mut child = spawn(&marker(&dir, name));
    let pid = i64::from(child.id());
    let sig = death(&mut child, DEADLINE);
    let rec = record(&mut agent, "done");
    let lines = audit(&audit_file, 1);
    // The snapshot is refreshed every second: poll until the kill shows.
    let addr = agent.web_addr();
    let wanted = "peregrine_response_actions_total{action=\"kill\",outcome=\"done\"} 1";
    let mut page = String::new();
    let served = (0..50).any(|_| {
        page = http_get(&addr, "/metrics");
        let hit = page.lines().any(|l| l == wanted);
        if !hit {
            std::thread::sleep(Duration::from_millis(100));
        }
        hit
    });
    let status = agent.stop();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(sig, Some(9), "the marker was not killed");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let l = &lines[0];
    assert_eq!(
        (&l["policy"], &l["action"], &l["outcome"], &l["pid"]),
        (
            &Value::from("kill markers"),
            &Value::from("kill"),
            &Value::from("done"),
            &Value::from(pid)
        ),
        "{l}"
    );
    assert!(l["latency_ns"].as_u64().is_some_and(|ns| ns > 0), "{l}");
    assert!(served, "{page}");
    assert!(
        page.contains("peregrine_response_action_latency_seconds_count 1"),
        "{page}"
    );
    let rec = rec.expect("a response record reached the outputs");
    assert_eq!(rec["rule"], "Response action");
    assert_eq!(rec["output_fields"]["proc.pid"], pid);
    assert!(status.success(), "{status:?}");
}

#[test]
fn dry_run_leaves_the_marker_alive_and_audits_what_it_would_do() {
    if !peregrine_testkit::live("dry_run_leaves_the_marker_alive_and_audits_what_it_would_do") {
        return;
    }
    let dir = scratch("response-dry");
    let name = "pgr-dry";
    let (agent, audit_file) = agent(
        &dir,
        &exec_rule("Dry marker", name),
        &kill_policy("kill markers (dry)", "Dry marker", ""),
        &["--dry-run-actions"],
    );
    let mut child = spawn(&marker(&dir, name));
    let pid = child.id();
    let lines = audit(&audit_file, 1);
    let alive = death(&mut child, Duration::from_millis(500)).is_none();
    let _ = child.kill();
    let _ = child.wait();
    let log = agent.log.clone();
    let status = agent.stop();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(alive, "dry run killed the marker");
    assert_eq!(lines.len(), 1, "{lines:?} {log:#?}");
    assert_eq!(lines[0]["outcome"], "dry_run");
    assert_eq!(lines[0]["dry_run"], true);
    assert!(
        lines[0]["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("would kill pid {pid} "))),
        "{}",
        lines[0]
    );
    assert!(status.success(), "{status:?}");
}

/// A protected executable and the agent's own ancestor (this test process, which started
/// the agent) are never acted on, whatever the policy says.
#[test]
fn protected_executables_and_the_agents_ancestors_are_refused() {
    if !peregrine_testkit::live("protected_executables_and_the_agents_ancestors_are_refused") {
        return;
    }
    let dir = scratch("response-safety");
    let name = "pgr-prot";
    let path = marker(&dir, name);
    let touched = dir.join("ancestor-marker");
    let rules = format!(
        "{}
- rule: Ancestor opens
  desc: the test process (the agent's parent) opens its marker file
  condition: evt.type in (open, openat, openat2) and fd.name = {}
  output: ancestor opened a file (proc.pid=%proc.pid)
  priority: WARNING
",
        exec_rule("Protected marker", name),
        touched.display()
    );
    let policies = format!(
        "{}{}",
        kill_policy("kill protected", "Protected marker", ""),
        kill_policy("kill ancestor", "Ancestor opens", "")
    );
    let protected = format!("response.protected_executables[]={}", path.display());
    let (agent, audit_file) = agent(&dir, &rules, &policies, &["-o", &protected]);
    let mut child = spawn(&path);
    std::fs::write(&touched, "x").expect("ancestor marker");
    let lines = audit(&audit_file, 2);
    let alive = death(&mut child, Duration::from_millis(500)).is_none();
    let _ = child.kill();
    let _ = child.wait();
    let status = agent.stop();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(alive, "a protected executable was killed");
    let detail = |policy: &str| {
        lines
            .iter()
            .find(|l| l["policy"] == policy)
            .map(|l| (l["outcome"].clone(), l["detail"].clone()))
    };
    assert_eq!(
        detail("kill protected"),
        Some((
            Value::from("refused"),
            Value::from(format!("protected executable {}", path.display()))
        )),
        "{lines:?}"
    );
    assert_eq!(
        detail("kill ancestor"),
        Some((
            Value::from("refused"),
            Value::from("an ancestor of the agent")
        )),
        "{lines:?}"
    );
    assert!(status.success(), "{status:?}");
}

/// A budget of 2 actions per minute against 5 markers: 2 die, 3 live, the breaker is
/// reported once and every refusal is audited.
#[test]
fn a_flood_trips_the_breaker() {
    if !peregrine_testkit::live("a_flood_trips_the_breaker") {
        return;
    }
    let dir = scratch("response-flood");
    let name = "pgr-flood";
    let (mut agent, audit_file) = agent(
        &dir,
        &exec_rule("Flood marker", name),
        &kill_policy("kill the flood", "Flood marker", ""),
        &["-o", "response.budget_per_minute=2"],
    );
    let path = marker(&dir, name);
    let mut children: Vec<Child> = Vec::new();
    for i in 0..5 {
        children.push(spawn(&path));
        // One audit record per marker before the next: the order of kills is the order of
        // markers.
        let _ = audit(&audit_file, i + 1);
    }
    let lines = audit(&audit_file, 5);
    let deaths: Vec<Option<i32>> = children
        .iter_mut()
        .map(|c| death(c, Duration::from_millis(300)))
        .collect();
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let tripped = agent.wait_for(Duration::from_secs(2), |l| {
        !l.stdout && l.text.contains("circuit breaker open")
    }) || agent.log.iter().any(|l| l.contains("circuit breaker open"));
    let log = agent.log.clone();
    let status = agent.stop();
    let _ = std::fs::remove_dir_all(&dir);
    let outcomes: Vec<&str> = lines.iter().filter_map(|l| l["outcome"].as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "done",
            "done",
            "breaker_open",
            "breaker_open",
            "breaker_open"
        ]
    );
    assert_eq!(deaths, [Some(9), Some(9), None, None, None]);
    assert!(tripped, "{log:#?}");
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("circuit breaker open"))
            .count(),
        1,
        "{log:#?}"
    );
    assert!(status.success(), "{status:?}");
}

/// Policies reload with the rules on SIGHUP: a dry-run policy becomes a real one; a broken
/// policies file is reported (file:line:column) and the running policies stay.
#[test]
fn policies_reload_with_the_rules() {
    if !peregrine_testkit::live("policies_reload_with_the_rules") {
        return;
    }
    let dir = scratch("response-reload");
    let name = "pgr-reload";
    let path = marker(&dir, name);
    let (mut agent, audit_file) = agent(
        &dir,
        &exec_rule("Reload marker", name),
        &kill_policy("reloaded", "Reload marker", "  dry_run: true\n"),
        &["-o", "watch_config_files=false"],
    );
    let policies = dir.join("policies.yaml");
    let reload = |agent: &mut Agent, text: &str| {
        std::fs::write(&policies, text).expect("policies");
        agent.signal("HUP");
        agent.wait_for(DEADLINE, |l| {
            !l.stdout
                && (l.text.contains("rules reloaded") || l.text.contains("keeping the running"))
        })
    };
    let mut first = spawn(&path);
    let dry = audit(&audit_file, 1);
    let first_alive = death(&mut first, Duration::from_millis(300)).is_none();
    let _ = first.kill();
    let _ = first.wait();
    let reloaded = reload(&mut agent, &kill_policy("reloaded", "Reload marker", ""));
    let mut second = spawn(&path);
    let killed = death(&mut second, DEADLINE);
    let broken = reload(
        &mut agent,
        "- policy: x\n  match: {priority: loud}\n  actions: [kill: {}]\n",
    );
    let report = format!("{}:2:21: unknown priority 'loud'", policies.display());
    let reported = agent.wait_for(DEADLINE, |l| l.text.contains(&report));
    let mut third = spawn(&path);
    let killed_after_broken = death(&mut third, DEADLINE);
    let lines = audit(&audit_file, 3);
    let log = agent.log.clone();
    let status = agent.stop();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        first_alive && dry.first().is_some_and(|l| l["outcome"] == "dry_run"),
        "{dry:?}"
    );
    assert!(reloaded && broken, "{log:#?}");
    assert_eq!(killed, Some(9), "not killed after the reload: {lines:?}");
    assert!(reported, "{log:#?}");
    assert_eq!(
        killed_after_broken,
        Some(9),
        "the running policies were dropped"
    );
    assert!(status.success(), "{status:?}");
}

/// `podman inspect`'s state of a container (`running`, `paused`, `exited`).
fn container_state(name: &str) -> String {
    let out = podman::podman(&["inspect", "-f", "{{.State.Status}}", name]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn wait_state(name: &str, want: &str) -> bool {
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        if container_state(name) == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A shell started in a container raises its rule; the `pause` policy pauses that container
/// and the `stop` policy stops another, through podman's API; a `kill` policy aimed at the
/// container's init (its host pid from the API) ends a third.
#[test]
fn pause_stop_and_init_kill_policies_contain_podman_containers() {
    if !peregrine_testkit::e2e_root("pause_stop_and_init_kill_policies_contain_podman_containers") {
        return;
    }
    if !podman::available() {
        peregrine_testkit::skip(
            "pause_stop_and_init_kill_policies_contain_podman_containers",
            "podman is not installed",
        );
        return;
    }
    let dir = scratch("response-podman");
    let image = "localhost/pg-response:1";
    podman::ensure_image(image, &dir, &["sh", "sleep", "true"], &[]);
    let _api = ApiService::ensure(Path::new(API_SOCKET));
    let tag = std::process::id();
    let to_pause = Container::run(
        &format!("pg-resp-pause-{tag}"),
        &["--network", "none"],
        image,
        &["sleep", "300"],
    );
    let to_stop = Container::run(
        &format!("pg-resp-stop-{tag}"),
        &["--network", "none"],
        image,
        &["sleep", "300"],
    );
    let rule = |name: &str, c: &Container| {
        format!(
            "
- rule: {name}
  desc: a shell in the test's container
  condition: evt.type in (execve, execveat) and container.id = {} and proc.name = sh
  output: shell in container (container.id=%container.id proc.cmdline=%proc.cmdline)
  priority: NOTICE
",
            &c.id[..12]
        )
    };
    let to_kill = Container::run(
        &format!("pg-resp-kill-{tag}"),
        &["--network", "none"],
        image,
        &["sleep", "300"],
    );
    let rules = format!(
        "{}{}{}",
        rule("Shell in pause container", &to_pause),
        rule("Shell in stop container", &to_stop),
        rule("Shell in kill container", &to_kill)
    );
    let policies = "
- policy: pause on shell
  match: {rules: [Shell in pause container]}
  actions: [pause: {}]
- policy: stop on shell
  match: {rules: [Shell in stop container]}
  actions: [{stop: {timeout: 1}}]
- policy: kill the init on shell
  match: {rules: [Shell in kill container]}
  actions: [{kill: {target: container_init}}]
";
    let sock = format!("response.runtime_sockets[]={API_SOCKET}");
    let (agent, audit_file) = agent(&dir, &rules, policies, &["-o", &sock]);
    let _ = to_pause.exec(&[], &["sh", "-c", "true"]);
    let paused = wait_state(&to_pause.name, "paused");
    let _ = to_stop.exec(&[], &["sh", "-c", "true"]);
    let stopped = wait_state(&to_stop.name, "exited");
    let _ = to_kill.exec(&[], &["sh", "-c", "true"]);
    let init_killed = wait_state(&to_kill.name, "exited");
    let lines = audit(&audit_file, 3);
    let log = agent.log.clone();
    let status = agent.stop();
    drop(to_pause);
    drop(to_stop);
    drop(to_kill);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(paused, "not paused: {lines:?} {log:#?}");
    assert!(stopped, "not stopped: {lines:?} {log:#?}");
    assert!(init_killed, "init not killed: {lines:?} {log:#?}");
    let by_action = |a: &str| {
        lines
            .iter()
            .find(|l| l["action"] == a)
            .map(|l| l["outcome"].clone())
    };
    assert_eq!(by_action("pause"), Some(Value::from("done")), "{lines:?}");
    assert_eq!(by_action("stop"), Some(Value::from("done")), "{lines:?}");
    assert_eq!(
        by_action("kill_container_init"),
        Some(Value::from("done")),
        "{lines:?}"
    );
    for l in &lines {
        println!(
            "{} {}: {} ms from the event",
            l["action"],
            l["outcome"],
            l["latency_ns"].as_u64().unwrap_or(0) / 1_000_000
        );
    }
    assert!(status.success(), "{status:?}");
}
