//! Response policies through the binary, as root, on real processes and containers: a kill
//! policy kills a marker program the moment its rule fires (the audit log, the outputs and
//! `/metrics` say so), dry run leaves it alive and audits "would kill", the safety rules hold
//! (a protected executable, the agent's own ancestor), a flood trips the breaker, policies
//! reload with the rules; in podman (e2e) a `pause` policy pauses the container, a `stop`
//! policy stops one and a kill of the container's init ends one (Falco's stock "Terminal shell
//! in container" rule drives a pause and a stop too); an `isolate` policy cuts a
//! container (in network namespaces of the test's own) off its peer until the web API
//! unisolates it, across an agent restart, and its `capture` action writes a replayable file.
//!
//! Every agent sees the whole host and the tests of this file run in parallel, so each test
//! has its own marker name (the rule keys on it) and its own scratch directory.

mod e2e_harness;

use e2e_harness::podman::{self, ApiService, Container, API_SOCKET};
use e2e_harness::{http_get, kill_policy, response_agent, scratch, Agent, WEB_METRICS};
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
    e2e_harness::json_lines(path, n, DEADLINE)
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
    let (mut agent, audit_file) = response_agent(
        &dir,
        &exec_rule("Kill marker", name),
        &kill_policy("kill markers", "Kill marker", ""),
        WEB_METRICS,
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
    let (agent, audit_file) = response_agent(
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
    let (agent, audit_file) = response_agent(&dir, &rules, &policies, &["-o", &protected]);
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
    let (mut agent, audit_file) = response_agent(
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
    let (mut agent, audit_file) = response_agent(
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
    if !podman::require("pause_stop_and_init_kill_policies_contain_podman_containers") {
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
    let (agent, audit_file) = response_agent(&dir, &rules, policies, &["-o", &sock]);
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

/// `POST path` with an empty JSON body over HTTP/1.1; the whole response as text.
fn http_post(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the web server");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

/// Two network namespaces of the test's own joined by a veth pair: the container runs in
/// `inside` (10.213.N.1), a listener in `outside` (10.213.N.2). Deleted on drop.
struct NetPair {
    inside: String,
    outside: String,
    peer: String,
}

impl NetPair {
    fn new(tag: u32) -> NetPair {
        let n = tag % 250;
        let pair = NetPair {
            inside: format!("pgiso-c{tag}"),
            outside: format!("pgiso-p{tag}"),
            peer: format!("10.213.{n}.2"),
        };
        let (vc, vp) = (
            format!("pgic{}", tag % 1_000_000),
            format!("pgip{}", tag % 1_000_000),
        );
        let ip = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().expect("ip");
            assert!(st.success(), "ip {args:?}");
        };
        for ns in [&pair.inside, &pair.outside] {
            // A leftover of a killed run with the same pid.
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&[
            "link",
            "add",
            &vc,
            "netns",
            &pair.inside,
            "type",
            "veth",
            "peer",
            "name",
            &vp,
            "netns",
            &pair.outside,
        ]);
        ip(&[
            "-n",
            &pair.inside,
            "addr",
            "add",
            &format!("10.213.{n}.1/30"),
            "dev",
            &vc,
        ]);
        ip(&[
            "-n",
            &pair.outside,
            "addr",
            "add",
            &format!("10.213.{n}.2/30"),
            "dev",
            &vp,
        ]);
        ip(&["-n", &pair.inside, "link", "set", &vc, "up"]);
        ip(&["-n", &pair.outside, "link", "set", &vp, "up"]);
        pair
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        for ns in [&self.inside, &self.outside] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A TCP listener in `ns` on `addr:port` that counts the connections it accepts.
struct Listener {
    child: Child,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Listener {
    fn start(ns: &str, addr: &str, port: u16) -> Listener {
        use std::io::BufRead;
        let script = format!(
            "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('{addr}',{port}))\ns.listen(64)\nprint('listening',flush=True)\nwhile True:\n    c,_=s.accept()\n    print('accepted',flush=True)\n    c.close()\n"
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-u", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("listener");
        let out = child.stdout.take().expect("stdout");
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let count = accepted.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if line == "listening" {
                    let _ = tx.send(());
                } else {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
        rx.recv_timeout(DEADLINE).expect("listener up");
        Listener { child, accepted }
    }

    fn count(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether the count passes `n` within `within`.
    fn grows_past(&self, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.count() > n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A container whose init connects to a listener over a veth pair every fraction of a
/// second, in network namespaces of the test's own. A command run inside raises the rule;
/// the `isolate` policy cuts the container off: the next attempts never reach the listener,
/// while the init keeps running; the nft table is in the container's namespace. The agent
/// is restarted on the same `state_dir`: the new one lists the container as isolated and
/// `POST /api/v1/containers/{id}/unisolate` lets the attempts through again. The same policy's
/// `capture` action wrote a scap file that `peregrine replay` reads, the triggering exec
/// among its events.
#[test]
fn isolate_cuts_new_connections_and_unisolate_restores_them_across_a_restart() {
    let name = "isolate_cuts_new_connections_and_unisolate_restores_them_across_a_restart";
    if !peregrine_testkit::e2e_root(name) {
        return;
    }
    if !podman::require(name) {
        return;
    }
    let dir = scratch("response-isolate");
    let image = "localhost/pg-isolate:1";
    podman::ensure_image(image, &dir, &["sh", "sleep", "true", "nc", "timeout"], &[]);
    let _api = ApiService::ensure(Path::new(API_SOCKET));
    let tag = std::process::id();
    let net = NetPair::new(tag);
    let listener = Listener::start(&net.outside, &net.peer, 7777);
    let ns_opt = format!("ns:/run/netns/{}", net.inside);
    let c = Container::run(
        &format!("pg-resp-isolate-{tag}"),
        &["--network", &ns_opt],
        image,
        &[
            "sh",
            "-c",
            &format!(
                "while true; do timeout 2 nc -w 1 {} 7777 </dev/null; sleep 0.2; done",
                net.peer
            ),
        ],
    );
    assert!(
        listener.grows_past(0, DEADLINE),
        "the container never reached the listener"
    );
    let rules = format!(
        "
- rule: Isolate trigger
  desc: a command in the test's container
  condition: evt.type in (execve, execveat) and container.id = {} and proc.name = true
  output: trigger in container (container.id=%container.id proc.cmdline=%proc.cmdline)
  priority: WARNING
",
        &c.id[..12]
    );
    let captures = dir.join("captures");
    let policies = format!(
        "
- policy: isolate on trigger
  match: {{rules: [Isolate trigger]}}
  actions:
    - isolate: {{allow_dns: true}}
    - capture: {{seconds_before: 2, seconds_after: 1, directory: {}}}
",
        captures.display()
    );
    let state = format!("state_dir={}", dir.join("state").display());
    let sock = format!("response.runtime_sockets[]={API_SOCKET}");
    let web: &[&str] = &[
        "-o",
        &sock,
        "-o",
        &state,
        "-o",
        "webserver.enabled=true",
        "-o",
        "webserver.listen_address=127.0.0.1",
        "-o",
        "webserver.listen_port=0",
        "-o",
        "silences_api.enabled=true",
    ];
    let (agent1, audit_file) = response_agent(&dir, &rules, &policies, web);
    let trig = c.exec(&[], &["true"]);
    assert!(trig.status.success(), "{trig:?}");
    let lines = audit(&audit_file, 2);
    let by_action = |a: &str| lines.iter().find(|l| l["action"] == a).cloned();
    let iso = by_action("isolate");
    assert_eq!(
        iso.as_ref().map(|l| l["outcome"].clone()),
        Some(Value::from("done")),
        "{lines:?} {:#?}",
        agent1.log
    );
    // Attempts in flight when the rules arrived may still land; after that, none.
    std::thread::sleep(Duration::from_millis(2500));
    let cut = listener.count();
    let through = listener.grows_past(cut, Duration::from_secs(4));
    let table = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.inside,
            "nft",
            "list",
            "table",
            "inet",
            "peregrine_isolate",
        ])
        .output()
        .expect("nft");
    let running = container_state(&c.name);
    let status1 = agent1.stop();
    assert!(!through, "a connection got through the isolation");
    assert!(table.status.success(), "no nft table: {table:?}");
    assert_eq!(running, "running", "the container must keep running");
    assert!(status1.success(), "{status1:?}");
    let cap = by_action("capture").expect("capture audited");
    assert_eq!(cap["outcome"], "done", "{cap:?}");
    let file = PathBuf::from(cap["file"].as_str().expect("file in the audit record"));
    assert!(file.starts_with(&captures), "{file:?}");

    // A new agent on the same state directory knows the container is isolated.
    let (agent2, _) = response_agent(&dir, &rules, &policies, web);
    let addr = agent2.web_addr();
    let listed = http_get(&addr, "/api/v1/isolated");
    assert!(listed.contains(&c.id), "{listed}");
    assert!(!listener.grows_past(listener.count(), Duration::from_secs(2)));
    let answer = http_post(
        &addr,
        &format!("/api/v1/containers/{}/unisolate", &c.id[..12]),
    );
    let restored = listener.grows_past(listener.count(), DEADLINE);
    let after = http_get(&addr, "/api/v1/isolated");
    let missing = http_post(
        &addr,
        &format!("/api/v1/containers/{}/unisolate", &c.id[..12]),
    );
    let status2 = agent2.stop();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"rules_removed\":true"), "{answer}");
    assert!(restored, "no connection after unisolate");
    assert!(after.ends_with("[]\n"), "{after}");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(status2.success(), "{status2:?}");

    // The capture holds the triggering exec: a rule on it matches when the file is replayed.
    let replay_rules = dir.join("replay.yaml");
    std::fs::write(
        &replay_rules,
        "
- rule: Replayed trigger
  desc: the trigger's exec, in the capture
  condition: evt.type in (execve, execveat) and evt.dir = < and proc.name = true
  output: replayed (proc.cmdline=%proc.cmdline)
  priority: WARNING
",
    )
    .expect("rules");
    let replay = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .env(peregrine_config::DEFAULT_CONFIG_ENV, "")
        .args([
            "-o",
            "json_output=true",
            "-o",
            "syslog_output.enabled=false",
            "-r",
        ])
        .arg(&replay_rules)
        .arg("replay")
        .arg(&file)
        .output()
        .expect("replay");
    let out = String::from_utf8_lossy(&replay.stdout);
    drop(c);
    drop(listener);
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(replay.status.success(), "{replay:?}");
    assert!(out.contains("Replayed trigger"), "{out}");
}

/// Falco's stock rules as they ship: "Terminal shell in container" (a shell exec'd with a
/// terminal, `podman exec -t`) under a `pause` policy pauses that container, under a `stop`
/// policy stops another. The policies also match the command line's own token, so only the
/// test's shells count (other containers on the machine may be shelled into meanwhile).
#[test]
fn terminal_shell_in_container_from_the_stock_rules_pauses_or_stops_it() {
    let name = "terminal_shell_in_container_from_the_stock_rules_pauses_or_stops_it";
    if !peregrine_testkit::e2e_root(name) {
        return;
    }
    let Some(upstream) = peregrine_testkit::upstream::require(name) else {
        return;
    };
    if !podman::require(name) {
        return;
    }
    let dir = scratch("response-terminal");
    let image = "localhost/pg-response:1";
    podman::ensure_image(image, &dir, &["sh", "sleep", "true"], &[]);
    let _api = ApiService::ensure(Path::new(API_SOCKET));
    let tag = std::process::id();
    let to_pause = Container::run(
        &format!("pg-term-pause-{tag}"),
        &["--network", "none"],
        image,
        &["sleep", "300"],
    );
    let to_stop = Container::run(
        &format!("pg-term-stop-{tag}"),
        &["--network", "none"],
        image,
        &["sleep", "300"],
    );
    let (pause_token, stop_token) = (format!("pgr-pause-{tag}"), format!("pgr-stop-{tag}"));
    let policies = format!(
        "
- policy: pause a terminal shell
  match:
    rules: [Terminal shell in container]
    output_fields: {{proc.cmdline: {{contains: {pause_token}}}}}
  actions: [pause: {{}}]
- policy: stop a terminal shell
  match:
    rules: [Terminal shell in container]
    output_fields: {{proc.cmdline: {{contains: {stop_token}}}}}
  actions: [{{stop: {{timeout: 1}}}}]
"
    );
    let pol = dir.join("policies.yaml");
    std::fs::write(&pol, policies).expect("policies");
    let audit_file = dir.join("audit.jsonl");
    let stock = upstream.join("rules/falco_rules.yaml");
    let pol_opt = format!("response_files[]={}", pol.display());
    let audit_opt = format!("response.audit_file={}", audit_file.display());
    let sock = format!("response.runtime_sockets[]={API_SOCKET}");
    let mut agent = Agent::start(
        &stock,
        &[
            "-o",
            &pol_opt,
            "-o",
            &audit_opt,
            "-o",
            &sock,
            "-o",
            "json_output=true",
        ],
    );
    let shell =
        |c: &Container, token: &str| c.exec(&["-t"], &["sh", "-c", &format!("echo {token}")]);
    let _ = shell(&to_pause, &pause_token);
    let paused = wait_state(&to_pause.name, "paused");
    let _ = shell(&to_stop, &stop_token);
    let stopped = wait_state(&to_stop.name, "exited");
    let alert = agent.expect_alert(DEADLINE, |v| {
        v["rule"] == "Terminal shell in container"
            && v["output"]
                .as_str()
                .is_some_and(|o| o.contains(&pause_token))
    });
    let lines = audit(&audit_file, 2);
    let log = agent.log.clone();
    let status = agent.stop();
    drop(to_pause);
    drop(to_stop);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(alert.is_some(), "no stock alert: {log:#?}");
    assert!(paused, "not paused: {lines:?} {log:#?}");
    assert!(stopped, "not stopped: {lines:?} {log:#?}");
    let outcome = |a: &str| {
        lines
            .iter()
            .find(|l| l["action"] == a)
            .map(|l| (l["outcome"].clone(), l["rule"].clone()))
    };
    let want = |o: &str| Some((Value::from(o), Value::from("Terminal shell in container")));
    assert_eq!(outcome("pause"), want("done"), "{lines:?}");
    assert_eq!(outcome("stop"), want("done"), "{lines:?}");
    assert!(status.success(), "{status:?}");
}
