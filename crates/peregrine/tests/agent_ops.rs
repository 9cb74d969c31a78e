//! Operations end to end as root, against real neighbours: the http output's JSON as a
//! Falcosidekick-style receiver sees it, a receiver that never answers (capture goes on, the
//! drops show in `/metrics`), SIGHUP reloads in the middle of a steady marker workload (no
//! marker lost), a real Prometheus scraping `/metrics`, and a real rsyslog receiving the
//! syslog output.
//!
//! Every server is started here on 127.0.0.1 (ephemeral ports) or on a socket in a per-test
//! directory, and killed by a drop guard; every wait polls towards a generous deadline.
//! Markers are files in the test's own directory, so other processes (and the other tests
//! running in parallel) never produce a matching event.

mod e2e_harness;

use e2e_harness::{scratch, Agent, NARROW};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How long any background condition may take on a busy 2-core machine.
const DEADLINE: Duration = Duration::from_secs(30);

/// The agent with [`NARROW`] and `args`.
fn start_agent(rules: &Path, args: &[&str]) -> Agent {
    let all: Vec<&str> = NARROW.iter().chain(args).copied().collect();
    Agent::start(rules, &all)
}

/// A rule that fires when `program` (a marker executable, run by its full path) starts; the
/// output carries fields a receiver can check.
fn exec_rule(name: &str, program: &str) -> String {
    format!(
        "
- rule: {name}
  desc: the marker program ran
  condition: evt.type in (execve, execveat) and proc.exe = {program}
  output: marker run by %proc.cmdline (exe=%proc.exe)
  priority: WARNING
  tags: [ops, T1005]
"
    )
}

/// A scratch directory with a marker program and a rules file for [`exec_rule`].
fn marker_setup(test: &str, rule: &str) -> (PathBuf, PathBuf, String) {
    let dir = scratch(test);
    let program = e2e_harness::marker_program(&dir, "opsmark");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, exec_rule(rule, &program)).expect("rules file");
    (dir, rules, program)
}

fn run_marker(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .expect("marker runs");
    assert!(status.success(), "{program} {args:?}");
}

/// Runs the marker until the agent prints an alert line containing `wanted`, at most
/// [`DEADLINE`]. One run normally suffices; repeating it keeps the test about its subject
/// if the host overloads the kernel ring anyway and the event is dropped (and counted)
/// before the agent sees it.
fn mark_until_alert(agent: &mut Agent, program: &str, wanted: &str) -> bool {
    let end = Instant::now() + DEADLINE;
    while Instant::now() < end {
        run_marker(program, &[]);
        if agent.wait_for(Duration::from_secs(5), |l| {
            l.stdout && l.text.contains(wanted)
        }) {
            return true;
        }
    }
    false
}

/// Polls `f` every 100 ms until it returns `Some`, at most `within`.
fn poll<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A falco.yaml enabling the web server on an ephemeral port with the metrics page.
fn web_config(dir: &Path) -> String {
    let config = dir.join("falco.yaml");
    std::fs::write(
        &config,
        "webserver: {enabled: true, listen_address: 127.0.0.1, listen_port: 0, \
         prometheus_metrics_enabled: true}\nmetrics: {enabled: true}\n",
    )
    .expect("config file");
    config.display().to_string()
}

/// `GET path`; the body of a 200 answer, `None` on any failure (server not up yet).
fn http_get(addr: &str, path: &str) -> Option<String> {
    e2e_harness::http(addr, "GET", path, None, None)
        .and_then(|(status, body)| (status == 200).then_some(body))
}

/// The value of the sample `name{…}` whose labels include every `labels` pair.
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    page.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let (labelset, value) = rest.rsplit_once(' ')?;
        let ok = (labelset.is_empty() || labelset.starts_with('{'))
            && labels
                .iter()
                .all(|(k, v)| labelset.contains(&format!("{k}=\"{v}\"")));
        ok.then(|| value.parse().ok()).flatten()
    })
}

/// A port nothing listens on right now (the caller retries if another process takes it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("ephemeral port")
}

/// `name` from the Debian package's directory, else from `PATH`: CI may run with `PATH`
/// unset, and the C library's default search path has no `/usr/sbin`.
fn program(dir: &str, name: &str) -> PathBuf {
    let p = Path::new(dir).join(name);
    if p.exists() {
        p
    } else {
        PathBuf::from(name)
    }
}

/// A child process killed when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---- http output -----------------------------------------------------------------------------

/// One request as the receiver saw it.
struct Request {
    head: String,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (head and `Content-Length` body); `None` at end of stream.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request { head, body })
}

/// A receiver in the manner of Falcosidekick: answers every POST with 200 and hands the
/// request to the test. Connections are served on threads so keep-alive clients work.
fn receiver() -> (String, mpsc::Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let url = format!(
        "http://{}/",
        listener.local_addr().expect("receiver address")
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let Ok(write) = conn.try_clone() else { return };
                let mut write = write;
                let mut r = BufReader::new(conn);
                while let Some(req) = read_request(&mut r) {
                    let _ = write.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                    if tx.send(req).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, rx)
}

/// `-o` keeping the http output's spool in the test's directory (the default, under
/// `/var/lib/peregrine`, is shared by every agent on the host).
fn spool_dir_opt(dir: &Path) -> String {
    format!("http_output.spool.dir={}", dir.join("spool").display())
}

/// A receiver answering 503 until `healthy` is set, then 200.
fn flaky_receiver() -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let url = format!(
        "http://{}/",
        listener.local_addr().expect("receiver address")
    );
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = healthy.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let flag = flag.clone();
            std::thread::spawn(move || {
                let Ok(mut write) = conn.try_clone() else {
                    return;
                };
                let mut r = BufReader::new(conn);
                while read_request(&mut r).is_some() {
                    let status = if flag.load(Ordering::Relaxed) {
                        "200 OK"
                    } else {
                        "503 Service Unavailable"
                    };
                    let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                    if write.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, healthy)
}

/// An http_output whose receiver answers 503: the agent's log names the output and the
/// cause; once the receiver answers again, it says the output delivers again.
#[test]
fn a_failing_http_output_is_logged_and_its_recovery_too() {
    if !peregrine_testkit::live("a_failing_http_output_is_logged_and_its_recovery_too") {
        return;
    }
    let (_dir, rules, marker) = marker_setup("ops-flaky", "Ops flaky marker");
    let (url, healthy) = flaky_receiver();
    let url_opt = format!("http_output.url={url}");
    let mut agent = start_agent(
        &rules,
        &[
            "-o",
            "http_output.enabled=true",
            "-o",
            &url_opt,
            // No retries: each alert fails at once (without the spool, which would keep it).
            "-o",
            "http_output.max_consecutive_timeouts=0",
            "-o",
            "http_output.spool.enabled=false",
        ],
    );
    // Runs the marker until the agent logs a line `pred` accepts (a run whose exec the
    // kernel ring dropped under a loaded machine is simply repeated).
    let mark_until_logged = |agent: &mut Agent, pred: &dyn Fn(&str) -> bool| {
        let end = Instant::now() + DEADLINE;
        while Instant::now() < end {
            run_marker(&marker, &[]);
            if agent.wait_for(Duration::from_secs(5), |l| !l.stdout && pred(&l.text)) {
                return true;
            }
        }
        false
    };
    assert!(
        mark_until_logged(&mut agent, &|t| t
            .contains("Output http failed, alert lost")
            && t.contains(&url)
            && t.contains("HTTP status 503")),
        "{:#?}",
        agent.log
    );
    healthy.store(true, Ordering::Relaxed);
    assert!(
        mark_until_logged(&mut agent, &|t| t.contains("Output http delivers again")),
        "{:#?}",
        agent.log
    );
    let failures = agent
        .log
        .iter()
        .filter(|l| l.contains("Output http failed"))
        .count();
    assert_eq!(
        failures, 1,
        "one line within the interval: {:#?}",
        agent.log
    );
    assert!(agent.stop().success());
}

/// `2026-11-28T23:43:15.123456789Z`: RFC 3339, UTC, nanoseconds, as Falco writes `time`.
fn is_rfc3339_ns(t: &str) -> bool {
    regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$")
        .expect("valid regex")
        .is_match(t)
}

#[test]
fn http_output_posts_falcosidekick_shaped_json_for_a_live_alert() {
    if !peregrine_testkit::live("http_output_posts_falcosidekick_shaped_json_for_a_live_alert") {
        return;
    }
    let (dir, rules, marker) = marker_setup("ops-sidekick", "Ops marker read");
    let (url, requests) = receiver();
    let url_opt = format!("http_output.url={url}");
    let spool_opt = spool_dir_opt(&dir);
    let mut agent = start_agent(
        &rules,
        &[
            "-o",
            "json_output=true",
            "-o",
            "http_output.enabled=true",
            "-o",
            &url_opt,
            "-o",
            &spool_opt,
        ],
    );
    assert!(
        mark_until_alert(&mut agent, &marker, "marker run by opsmark"),
        "{:#?}",
        agent.log
    );
    let req = requests
        .recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("no POST within {DEADLINE:?}: {:#?}", agent.log));
    assert!(agent.stop().success());

    let head = req.head.to_ascii_lowercase();
    assert!(head.starts_with("post / http/1.1\r\n"), "{}", req.head);
    assert!(
        head.contains("\r\ncontent-type: application/json\r\n"),
        "{}",
        req.head
    );
    assert!(
        head.contains("\r\nuser-agent: falcosecurity/falco"),
        "{}",
        req.head
    );
    // The spool's stable id rides in a header, so the body stays Falco's.
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-peregrine-alert-id: "))
        .unwrap_or_else(|| panic!("no alert id: {}", req.head));
    assert!(
        regex::Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            .expect("valid regex")
            .is_match(id.trim_end()),
        "{id}"
    );
    let v: Value = serde_json::from_slice(&req.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&req.body)));
    let text = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("{k} not a string: {v}"))
    };
    assert!(is_rfc3339_ns(text("time")), "{v}");
    assert_eq!(text("rule"), "Ops marker read");
    assert_eq!(text("priority"), "Warning");
    assert_eq!(text("source"), "syscall");
    assert!(!text("hostname").is_empty(), "{v}");
    assert!(
        text("output").ends_with(&format!(": Warning marker run by opsmark (exe={marker})")),
        "{v}"
    );
    let fields = v["output_fields"]
        .as_object()
        .expect("output_fields object");
    assert_eq!(fields["proc.cmdline"], "opsmark");
    assert_eq!(fields["proc.exe"], marker.as_str());
    assert!(fields["evt.time"].is_u64(), "{v}");
    let mut tags: Vec<&str> = v["tags"]
        .as_array()
        .expect("tags array")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, ["T1005", "ops"]);
}

/// Accepts connections and never reads or answers them, until dropped.
struct StalledReceiver {
    addr: String,
    stop: Arc<AtomicBool>,
}

impl StalledReceiver {
    fn start() -> StalledReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        listener.set_nonblocking(true).expect("non-blocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => held.push(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        StalledReceiver { addr, stop }
    }
}

impl Drop for StalledReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_stalled_http_receiver_neither_stalls_capture_nor_hides_its_drops() {
    if !peregrine_testkit::live(
        "a_stalled_http_receiver_neither_stalls_capture_nor_hides_its_drops",
    ) {
        return;
    }
    const ALERTS: usize = 20;
    let (dir, rules, marker) = marker_setup("ops-stalled", "Ops stalled marker");
    let stalled = StalledReceiver::start();
    let url_opt = format!("http_output.url=http://{}/", stalled.addr);
    let config = web_config(&dir);
    let mut agent = start_agent(
        &rules,
        &[
            "-c",
            &config,
            "-o",
            "http_output.enabled=true",
            "-o",
            &url_opt,
            // The queue in front of the output is what this test is about.
            "-o",
            "http_output.spool.enabled=false",
            // One alert in flight and one queued: everything after that is a counted drop.
            "-o",
            "outputs_queue.capacity=1",
        ],
    );
    let addr = agent.web_addr();
    // Each alert must reach stdout although the http output is stuck on the first one.
    let wanted = format!("Warning marker run by opsmark (exe={marker})");
    for i in 0..ALERTS {
        let seen = mark_until_alert(&mut agent, &marker, &wanted);
        assert!(seen, "alert {i} not on stdout: {:#?}", agent.log);
    }
    // At most one alert is in flight and one queued; the rest must show as http drops.
    let least = (ALERTS - 2) as f64;
    let mut page = String::new();
    let counted = poll(DEADLINE, || {
        page = http_get(&addr, "/metrics")?;
        let http = sample(
            &page,
            "peregrine_output_queue_drops_total",
            &[("output", "http")],
        )?;
        let total = sample(
            &page,
            "falcosecurity_falco_outputs_queue_num_drops_total",
            &[],
        )?;
        (http >= least && total >= http).then_some(http)
    });
    assert!(counted.is_some(), "drops not counted: {page}");
    assert_eq!(
        sample(
            &page,
            "peregrine_output_queue_drops_total",
            &[("output", "stdout")]
        ),
        Some(0.0),
        "{page}"
    );
    assert!(
        sample(
            &page,
            "peregrine_output_delivered_total",
            &[("output", "stdout")]
        )
        .is_some_and(|n| n >= ALERTS as f64),
        "{page}"
    );
    // Exit is bounded by the outputs' drain deadline even with the http worker stuck.
    assert!(agent.stop().success());
    drop(stalled);
}

// ---- reload under load -------------------------------------------------------------------------

/// Two versions of the marker rule, on the same event types, told apart by their output.
fn load_rule(version: char, program: &str) -> String {
    format!(
        r#"
- rule: Ops load marker {version}
  desc: marker runs of the reload test
  condition: evt.type in (execve, execveat) and proc.exe = {program}
  output: "load marker {version} n=%proc.args"
  priority: NOTICE
"#
    )
}

#[test]
fn sighup_reloads_under_a_steady_workload_lose_no_marker_event() {
    if !peregrine_testkit::live("sighup_reloads_under_a_steady_workload_lose_no_marker_event") {
        return;
    }
    const RELOADS: usize = 5;
    let dir = scratch("ops-reload");
    let program = e2e_harness::marker_program(&dir, "opsmark");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, load_rule('A', &program)).expect("rules file");
    let config = web_config(&dir);
    // Only the signal reloads (the watcher would add reloads of its own).
    let mut agent = start_agent(&rules, &["-c", &config, "-o", "watch_config_files=false"]);
    let addr = agent.web_addr();

    // The workload: the marker program run with its sequence number, back to back, on its
    // own thread, from before the first reload until after the last one; it returns how many
    // runs it made.
    let marker = program.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let running = stop.clone();
    let workload = std::thread::spawn(move || {
        let mut n = 0;
        while !running.load(Ordering::Relaxed) {
            run_marker(&marker, &[&n.to_string()]);
            n += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        n
    });
    // Meanwhile: alternate the rule's version and reload, waiting for each reload to land.
    for n in 0..=RELOADS {
        std::thread::sleep(Duration::from_millis(300));
        if n == RELOADS {
            break;
        }
        let version = if n % 2 == 0 { 'B' } else { 'A' };
        std::fs::write(&rules, load_rule(version, &program)).expect("rewrite rules");
        agent.signal("HUP");
        let reloaded = agent.wait_for(DEADLINE, |l| !l.stdout && l.text.contains("rules reloaded"));
        assert!(reloaded, "reload {n} not reported: {:#?}", agent.log);
    }
    stop.store(true, Ordering::Relaxed);
    let markers = workload.join().expect("workload thread");

    // Alerts leave in event order: once the last marker's alert is out, all are.
    let last = format!(" n={}", markers - 1);
    let done = agent.log.iter().any(|l| l.ends_with(&last))
        || agent.wait_for(DEADLINE, |l| l.stdout && l.text.ends_with(&last));
    let mut counts = vec![0usize; markers];
    let mut versions = [false; 2];
    for line in &agent.log {
        let Some((head, index)) = line.rsplit_once(" n=") else {
            continue;
        };
        if let Some(i) = index.parse::<usize>().ok().filter(|i| *i < markers) {
            counts[i] += 1;
        }
        versions[0] |= head.ends_with("load marker A");
        versions[1] |= head.ends_with("load marker B");
    }
    let missing: Vec<usize> = (0..markers).filter(|i| counts[*i] == 0).collect();
    let doubled: Vec<usize> = (0..markers).filter(|i| counts[*i] > 1).collect();
    let alerted = markers - missing.len();
    // The agent's own counters once its metrics snapshot has caught up: Notice alerts (the
    // marker rules' priority; the agent's internal alerts are Debug) and kernel drops.
    let notices = |page: &str| sample(page, "peregrine_alerts_total", &[("priority", "Notice")]);
    let page = poll(DEADLINE, || {
        let page = http_get(&addr, "/metrics")?;
        (notices(&page)? >= alerted as f64).then_some(page)
    })
    .unwrap_or_default();
    assert!(agent.stop().success());

    // Counted in and out: every marker the kernel delivered has its alert. A marker may only
    // be missing if the kernel counted drops (a flood from other processes overflowing the
    // ring on a busy host), never because of a reload.
    let drops = sample(&page, "falcosecurity_scap_n_drops_total", &[]).unwrap_or(0.0);
    assert!(
        done || drops > 0.0,
        "the last marker ({last}) never alerted, no kernel drops"
    );
    assert!(
        missing.len() as f64 <= drops,
        "{} of {markers} markers without an alert, {drops} kernel drops; first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    if !missing.is_empty() {
        eprintln!("{} markers lost to {drops} kernel drops", missing.len());
    }
    assert!(doubled.is_empty(), "markers alerted twice: {doubled:?}");
    assert_eq!(versions, [true, true], "both rule versions fired");
    // The agent's counters agree: every reload applied, one alert per alerted marker.
    assert_eq!(
        sample(&page, "peregrine_engine_reloads_total", &[]),
        Some(RELOADS as f64),
        "{page}"
    );
    assert_eq!(notices(&page), Some(alerted as f64), "{page}");
}

// ---- Prometheus --------------------------------------------------------------------------------

/// Debian's Prometheus with a temporary configuration and storage, on a free loopback port.
struct Prometheus {
    addr: String,
    log: PathBuf,
    _child: Guard,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second; waits until it is ready. A port
    /// taken between choosing and binding it makes Prometheus exit: try another one.
    fn start(dir: &Path, target: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: peregrine\n    static_configs:\n      \
                 - targets: ['{target}']\n"
            ),
        )
        .expect("prometheus.yml");
        let log = dir.join("prometheus.log");
        for attempt in 0..5 {
            let addr = format!("127.0.0.1:{}", free_port());
            let data = dir.join(format!("data-{attempt}"));
            let stderr = std::fs::File::create(&log).expect("prometheus log");
            let child = Command::new(program("/usr/bin", "prometheus"))
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg(format!("--web.listen-address={addr}"))
                .current_dir(dir)
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("prometheus runs (scripts/bootstrap installs it)");
            let mut child = Guard(child);
            // Start-up replays an (empty) write-ahead log: quick, but allow a loaded host.
            let ready = poll(2 * DEADLINE, || {
                if !matches!(child.0.try_wait(), Ok(None)) {
                    return Some(false);
                }
                http_get(&addr, "/-/ready").map(|_| true)
            });
            if ready == Some(true) {
                return Prometheus {
                    addr,
                    log,
                    _child: child,
                };
            }
        }
        panic!(
            "prometheus did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// `/api/v1/<path>`'s `data`, when the API answers with success.
    fn api(&self, path: &str) -> Option<Value> {
        let body = http_get(&self.addr, &format!("/api/v1/{path}"))?;
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["status"] == "success").then(|| v["data"].clone())
    }

    /// The single value of an instant query, once there is one.
    fn query(&self, expr: &str) -> Option<f64> {
        let data = self.api(&format!("query?query={expr}"))?;
        data["result"].as_array()?.first()?["value"][1]
            .as_str()?
            .parse()
            .ok()
    }
}

#[test]
fn a_real_prometheus_scrapes_the_agent_metrics() {
    if !peregrine_testkit::e2e_root("a_real_prometheus_scrapes_the_agent_metrics") {
        return;
    }
    let (dir, rules, marker) = marker_setup("ops-prometheus", "Ops scraped marker");
    let config = web_config(&dir);
    let mut agent = start_agent(&rules, &["-c", &config]);
    let target = agent.web_addr();
    let prom = Prometheus::start(&dir, &target);
    let why = || std::fs::read_to_string(&prom.log).unwrap_or_default();

    let up = poll(DEADLINE, || {
        let data = prom.api("targets")?;
        let t = data["activeTargets"].as_array()?.first()?.clone();
        (t["health"] == "up").then_some(t)
    });
    let up = up.unwrap_or_else(|| panic!("target never up: {:?}\n{}", prom.api("targets"), why()));
    assert_eq!(up["scrapeUrl"], format!("http://{target}/metrics").as_str());

    // Falco's metric names, as Prometheus stored them.
    let events = poll(DEADLINE, || {
        prom.query("falcosecurity_scap_n_evts_total")
            .filter(|n| *n > 0.0)
    });
    assert!(
        events.is_some(),
        "no event counter in Prometheus: {}",
        why()
    );
    assert!(
        mark_until_alert(&mut agent, &marker, "marker run by opsmark"),
        "{:#?}",
        agent.log
    );
    let expr =
        "falcosecurity_falco_rules_matches_total%7Brule_name%3D%22Ops%20scraped%20marker%22%7D";
    let matches = poll(DEADLINE, || prom.query(expr).filter(|n| *n >= 1.0));
    assert!(matches.is_some(), "rule match not scraped: {}", why());
    // Falco's per-tag labels, as a Falco dashboard selects them.
    let tagged = "falcosecurity_falco_rules_matches_total%7Brule_name%3D%22Ops%20scraped%20marker%22%2C\
                  tag_ops%3D%22true%22%2Ctag_T1005%3D%22true%22%2Cpriority%3D%224%22%2Csource%3D%22syscall%22%7D";
    assert!(
        prom.query(tagged).is_some_and(|n| n >= 1.0),
        "no match with Falco's tag labels: {:?}",
        prom.api(&format!("query?query={tagged}"))
    );
    // Every Falco series Peregrine has data for, under Falco's name, as Prometheus stored it.
    for name in FALCO_SERIES {
        let found = poll(DEADLINE, || prom.query(name));
        assert!(found.is_some(), "{name} not in Prometheus: {}", why());
    }
    for (expr, what) in [
        (
            "falcosecurity_scap_engine_name_info%7Bengine_name%3D%22modern_bpf%22%2Cevt_source%3D%22syscall%22%7D",
            "engine name",
        ),
        (
            "falcosecurity_scap_n_drops_buffer_total%7Bdir%3D%22exit%22%2Cdrop%3D%22open%22%7D",
            "drops of Falco's open category",
        ),
        (
            "falcosecurity_falco_sha256_config_files_info%7Bfile_name%3D%22falco.yaml%22%7D",
            "config file digest",
        ),
        (
            "falcosecurity_falco_sha256_rules_files_info%7Bfile_name%3D%22rules.yaml%22%7D",
            "rules file digest",
        ),
    ] {
        assert!(prom.query(expr).is_some(), "no {what}: {}", why());
    }
    // The evaluation latency's sum is real once events were sampled.
    let sum = poll(DEADLINE, || {
        prom.query("peregrine_engine_eval_latency_seconds_sum")
            .filter(|s| *s > 0.0)
    });
    assert!(sum.is_some(), "latency sum stays 0: {}", why());
    assert!(agent.stop().success());
}

/// The Falco series the Prometheus test looks for by name.
const FALCO_SERIES: &[&str] = &[
    "falcosecurity_falco_rules_matches_total",
    "falcosecurity_scap_n_threads_total",
    "falcosecurity_scap_n_fds_total",
    "falcosecurity_scap_n_added_threads_total",
    "falcosecurity_scap_n_removed_threads_total",
    "falcosecurity_scap_n_failed_thread_lookups_total",
    "falcosecurity_scap_n_drops_full_threadtable_total",
    "falcosecurity_scap_n_evts_total",
    "falcosecurity_scap_n_drops_total",
    "falcosecurity_scap_n_drops_buffer_total",
    "falcosecurity_scap_engine_name_info",
    "falcosecurity_falco_kernel_release_info",
    "falcosecurity_falco_sha256_rules_files_info",
    "falcosecurity_falco_sha256_config_files_info",
    "falcosecurity_falco_duration_seconds_total",
    "falcosecurity_falco_reload_timestamp_nanoseconds",
    "falcosecurity_falco_start_timestamp_nanoseconds",
    "falcosecurity_falco_memory_rss_bytes",
    "falcosecurity_falco_memory_pss_bytes",
    "falcosecurity_falco_container_memory_used_bytes",
    "falcosecurity_falco_host_open_fds_total",
    "falcosecurity_falco_outputs_queue_num_drops_total",
    "falcosecurity_evt_hostname_info",
];

/// `metrics.output_rule` with a one-second `metrics.interval`: Falco's "metrics snapshot"
/// alert in the JSON output, periodically, with Falco's snapshot keys.
#[test]
fn metrics_output_rule_emits_the_snapshot_alert() {
    if !peregrine_testkit::live("metrics_output_rule_emits_the_snapshot_alert") {
        return;
    }
    let (_dir, rules, _marker) = marker_setup("ops-snapshot", "Ops snapshot marker");
    let mut agent = start_agent(
        &rules,
        &[
            "-o",
            "json_output=true",
            "-o",
            "metrics.enabled=true",
            "-o",
            "metrics.output_rule=true",
            "-o",
            "metrics.interval=1s",
        ],
    );
    let is_snapshot = |v: &Value| v["rule"] == "Falco internal: metrics snapshot";
    let first = agent
        .expect_alert(DEADLINE, is_snapshot)
        .unwrap_or_else(|| panic!("no snapshot alert: {:#?}", agent.log))
        .json;
    assert_eq!(first["priority"], "Informational", "{first}");
    assert_eq!(first["source"], "internal", "{first}");
    assert_eq!(first["output"], "Falco metrics snapshot", "{first}");
    let f = &first["output_fields"];
    for key in [
        "evt.hostname",
        "evt.source",
        "evt.time",
        "falco.version",
        "falco.start_ts",
        "falco.duration_sec",
        "falco.host_boot_ts",
        "falco.host_num_cpus",
        "falco.kernel_release",
        "falco.reload_ts",
        "falco.cpu_usage_perc",
        "falco.memory_rss_mb",
        "falco.memory_vsz_mb",
        "falco.memory_pss_mb",
        "falco.host_cpu_usage_perc",
        "falco.host_memory_used_mb",
        "falco.host_open_fds",
        "falco.host_procs_running",
        "falco.num_evts",
        "falco.num_evts_prev",
        "falco.outputs_queue_num_drops",
        "falco.rules.matches_total",
        "falco.sha256_rules_file.rules_yaml",
        "scap.engine_name",
        "scap.n_evts",
        "scap.n_evts_prev",
        "scap.n_drops",
        "scap.n_drops_prev",
        "scap.n_drops_perc",
        "scap.evts_rate_sec",
        "scap.evts_drop_rate_sec",
    ] {
        assert!(f.get(key).is_some(), "{key} missing: {first}");
    }
    assert_eq!(f["scap.engine_name"], "modern_bpf");
    assert_eq!(f["evt.source"], "syscall");
    // Periodic: the next one carries the first one's totals as its _prev values.
    let second = agent
        .expect_alert(DEADLINE, is_snapshot)
        .unwrap_or_else(|| panic!("no second snapshot alert: {:#?}", agent.log))
        .json;
    let g = &second["output_fields"];
    assert_eq!(g["scap.n_evts_prev"], f["scap.n_evts"], "{first}\n{second}");
    let (t1, t2) = (f["evt.time"].as_u64(), g["evt.time"].as_u64());
    assert!(
        t1.zip(t2)
            .is_some_and(|(a, b)| b > a && b - a < 10_000_000_000),
        "{first}\n{second}"
    );
    assert!(agent.stop().success());
}

// ---- rsyslog -----------------------------------------------------------------------------------

/// Debian's rsyslogd in the foreground with a private configuration: it listens on a socket
/// in `dir` (never on the host's `/dev/log`) and writes what it receives to `dir/syslog.out`.
struct Rsyslog {
    socket: PathBuf,
    out: PathBuf,
    log: PathBuf,
    _child: Guard,
}

impl Rsyslog {
    fn start(dir: &Path) -> Rsyslog {
        let socket = dir.join("log.sock");
        let out = dir.join("syslog.out");
        let work = dir.join("rsyslog-work");
        std::fs::create_dir_all(&work).expect("rsyslog work dir");
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{work}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}")
template(name="ops" type="string"
         string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\n")
*.* action(type="omfile" file="{out}" template="ops")
"#,
                work = work.display(),
                socket = socket.display(),
                out = out.display(),
            ),
        )
        .expect("rsyslog.conf");
        let log = dir.join("rsyslog.log");
        let stderr = std::fs::File::create(&log).expect("rsyslog log");
        let child = Command::new(program("/usr/sbin", "rsyslogd"))
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("rsyslogd runs (scripts/bootstrap installs rsyslog)");
        let mut child = Guard(child);
        let ready = poll(DEADLINE, || {
            if !matches!(child.0.try_wait(), Ok(None)) {
                return Some(false);
            }
            socket.exists().then_some(true)
        });
        assert_eq!(
            ready,
            Some(true),
            "rsyslogd did not open {}: {}",
            socket.display(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Rsyslog {
            socket,
            out,
            log,
            _child: child,
        }
    }
}

#[test]
fn the_syslog_output_reaches_a_real_rsyslog() {
    if !peregrine_testkit::e2e_root("the_syslog_output_reaches_a_real_rsyslog") {
        return;
    }
    let (dir, rules, marker) = marker_setup("ops-rsyslog", "Ops syslog marker");
    let rsyslog = Rsyslog::start(&dir);
    let socket_opt = format!("syslog_output.socket={}", rsyslog.socket.display());
    let mut agent = start_agent(
        &rules,
        &["-o", "syslog_output.enabled=true", "-o", &socket_opt],
    );
    assert!(
        mark_until_alert(&mut agent, &marker, "marker run by opsmark"),
        "{:#?}",
        agent.log
    );
    // Falco's line, with LOG_USER, the alert's severity and the `falco` tag.
    let wanted = "user.warning falco:";
    let tail = format!("Warning marker run by opsmark (exe={marker})");
    let line = poll(DEADLINE, || {
        let text = std::fs::read_to_string(&rsyslog.out).ok()?;
        text.lines()
            .find(|l| l.starts_with(wanted) && l.ends_with(&tail))
            .map(str::to_string)
    });
    assert!(agent.stop().success());
    assert!(
        line.is_some(),
        "not in rsyslog's file: {:?}\nrsyslogd: {}",
        std::fs::read_to_string(&rsyslog.out),
        std::fs::read_to_string(&rsyslog.log).unwrap_or_default()
    );
}
