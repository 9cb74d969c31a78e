//! The http output's spool end to end, as root, through the real binary: a burst of 1,000
//! alerts (a marker program run 1,000 times, each run with its own argument) reaches a real
//! HTTP receiver on loopback although the receiver is stopped in the middle of the burst and
//! started again, and although the agent is killed with SIGKILL in the middle of delivering
//! and started again on the same spool. Every alert the agent printed arrives, each under one
//! stable `X-Peregrine-Alert-Id`, with duplicates bounded. The same for each native output
//! against its real server, through one driver ([`burst_across_a_stop_and_a_kill`]): the
//! server stopped during the burst and the agent killed with the rest in its spool, every
//! alert arrives under one stable id, duplicates bounded — `nats_output` into a JetStream
//! stream (exactly once), `alertmanager_output`, `redis_output`, `mqtt_output` and
//! `remote_syslog_output`.

mod e2e_harness;

use e2e_harness::{scratch, Agent, NARROW};
use peregrine_testkit::receiver::Receiver;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BURST: usize = 1000;
/// How long any background condition may take on a busy 2-core machine.
const DEADLINE: Duration = Duration::from_secs(60);
/// The in-flight batch that a receiver outage or a kill can deliver twice, plus what the
/// spool's unsynced removals can bring back after a kill (200 ms of deliveries, at most).
const MAX_DUPLICATES: usize = 64 + 200;

/// A scratch directory with a marker program (a copy of `true`) and a rule for its runs.
fn setup(test: &str) -> (PathBuf, PathBuf, String) {
    let dir = scratch(test);
    let _ = std::fs::remove_dir_all(dir.join("spool"));
    let program = e2e_harness::marker_program(&dir, "spoolmark");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "
- rule: Spool marker
  desc: the marker program ran
  condition: evt.type in (execve, execveat) and proc.exe = {program}
  output: marker %proc.cmdline
  priority: WARNING
"
        ),
    )
    .expect("rules file");
    let config = dir.join("falco.yaml");
    std::fs::write(
        &config,
        "webserver: {enabled: true, listen_address: 127.0.0.1, listen_port: 0, \
         prometheus_metrics_enabled: true}\nmetrics: {enabled: true}\n",
    )
    .expect("config file");
    (dir, rules, program)
}

fn start_agent(dir: &Path, rules: &Path, url: &str) -> Agent {
    let url = format!("http_output.url={url}");
    start_with(dir, rules, &["-o", "http_output.enabled=true", "-o", &url])
}

/// The agent with the web server, JSON alerts, every output's spool in `dir`, and `extra`.
fn start_with(dir: &Path, rules: &Path, extra: &[&str]) -> Agent {
    let config = dir.join("falco.yaml").display().to_string();
    let spool = dir.join("spool").display().to_string();
    let spools: Vec<String> = [
        "http",
        "nats",
        "alertmanager",
        "redis",
        "mqtt",
        "remote_syslog",
    ]
    .iter()
    .map(|o| format!("{o}_output.spool.dir={spool}"))
    .collect();
    let mut args: Vec<&str> = NARROW.to_vec();
    args.extend(["-c", &config, "-o", "json_output=true"]);
    for s in &spools {
        args.extend(["-o", s]);
    }
    args.extend(extra);
    Agent::start(rules, &args)
}

/// The run number of an alert: the marker's argument, last in `proc.cmdline`.
fn number(alert: &Value) -> Option<usize> {
    alert["output_fields"]["proc.cmdline"]
        .as_str()?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

/// The run numbers of the alerts the agent prints on stdout, read until `want` of them have
/// come or nothing has come for a few seconds.
fn printed(agent: &mut Agent, want: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let end = Instant::now() + DEADLINE;
    let mut quiet = 0;
    while seen.len() < want && Instant::now() < end && quiet < 5 {
        let got = agent.drain(Duration::from_secs(1));
        quiet = if got.is_empty() { quiet + 1 } else { 0 };
        seen.extend(got.iter().filter_map(number));
    }
    seen
}

fn run_marker(program: &str, i: usize) {
    let status = Command::new(program)
        .arg(i.to_string())
        .status()
        .expect("marker runs");
    assert!(status.success());
}

/// `GET /metrics` from the agent's web server: the sample of `name` for the http output.
fn metric(addr: &str, name: &str) -> Option<f64> {
    output_metric(addr, name, "http")
}

/// `GET /metrics`: the sample of `name` for `output`; `None` until it answers.
fn output_metric(addr: &str, name: &str, output: &str) -> Option<f64> {
    let page = get(addr, "/metrics", "1.1")?;
    let prefix = format!("{name}{{output=\"{output}\"}} ");
    page.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// The whole response to `GET path` over HTTP/`version` (1.0: never chunked).
fn get(addr: &str, path: &str, version: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/{version}\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut page = String::new();
    s.read_to_string(&mut page).ok()?;
    Some(page)
}

fn poll(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while !f() {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

// ---- a receiver that can go away -------------------------------------------------------------

/// One POST: the id header and the run number of the JSON alert in the body.
#[derive(Clone, Debug)]
struct Post {
    id: Option<String>,
    number: Option<usize>,
}

/// What `rx` received: each POST's id header and its alert's run number.
fn posts(rx: &Receiver) -> Vec<Post> {
    Receiver::posts(rx)
        .iter()
        .map(|p| Post {
            id: p.header("x-peregrine-alert-id"),
            number: serde_json::from_slice::<Value>(&p.body)
                .ok()
                .as_ref()
                .and_then(number),
        })
        .collect()
}

fn numbers(rx: &Receiver) -> HashSet<usize> {
    posts(rx).iter().filter_map(|p| p.number).collect()
}

/// Every alert of `want` arrived, each under exactly one id, no two alerts under one id;
/// returns the number of duplicate posts.
fn check_delivery(posts: &[Post], want: &BTreeSet<usize>) -> usize {
    let mut id_of: HashMap<usize, String> = HashMap::new();
    for p in posts {
        let n = p
            .number
            .unwrap_or_else(|| panic!("a post without a marker alert: {p:?}"));
        let id = p.id.clone().unwrap_or_else(|| panic!("no alert id: {p:?}"));
        let first = id_of.entry(n).or_insert_with(|| id.clone());
        assert_eq!(*first, id, "alert {n} arrived under two ids");
    }
    let distinct: HashSet<&String> = id_of.values().collect();
    assert_eq!(distinct.len(), id_of.len(), "two alerts under one id");
    let missing: Vec<&usize> = want.iter().filter(|n| !id_of.contains_key(n)).collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    posts.len() - id_of.len()
}

#[test]
fn http_alerts_survive_a_receiver_outage_in_the_middle_of_a_burst() {
    if !peregrine_testkit::live("http_alerts_survive_a_receiver_outage_in_the_middle_of_a_burst") {
        return;
    }
    let (dir, rules, marker) = setup("spool-outage");
    let mut rx = Receiver::start(200);
    let mut agent = start_agent(&dir, &rules, &rx.url());
    for i in 0..BURST {
        if i == BURST * 3 / 10 {
            rx.stop();
        }
        if i == BURST * 7 / 10 {
            rx.restart();
        }
        run_marker(&marker, i);
    }
    let printed = printed(&mut agent, BURST);
    assert_eq!(printed.len(), BURST, "the agent saw only part of the burst");
    let arrived = poll(DEADLINE, || numbers(&rx).len() >= printed.len());
    let posts = posts(&rx);
    let dups = check_delivery(&posts, &printed);
    assert!(arrived);
    assert!(dups <= MAX_DUPLICATES, "{dups} duplicates");
    let addr = agent.web_addr();
    assert!(metric(&addr, "peregrine_output_retries_total").is_some_and(|n| n > 0.0));
    assert!(poll(DEADLINE, || metric(
        &addr,
        "peregrine_output_spool_pending"
    ) == Some(0.0)));
    assert!(agent.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn http_spool_survives_a_kill_9_in_the_middle_of_delivery() {
    if !peregrine_testkit::live("http_spool_survives_a_kill_9_in_the_middle_of_delivery") {
        return;
    }
    let (dir, rules, marker) = setup("spool-kill");
    let rx = Receiver::start(200);
    // A slow receiver: the burst is spooled long before it is delivered.
    rx.set_delay(Duration::from_millis(10));
    let mut agent = start_agent(&dir, &rules, &rx.url());
    for i in 0..BURST {
        run_marker(&marker, i);
    }
    let printed = printed(&mut agent, BURST);
    assert_eq!(printed.len(), BURST, "the agent saw only part of the burst");
    let addr = agent.web_addr();
    let spooled = poll(DEADLINE, || {
        metric(&addr, "peregrine_output_spooled_total") == Some(BURST as f64)
    });
    assert!(spooled, "{:#?}", agent.log);
    agent.signal("KILL");
    let before = numbers(&rx).len();
    assert!(
        before < BURST,
        "all delivered before the kill: nothing left to test"
    );
    drop(agent);

    rx.set_delay(Duration::ZERO);
    let agent = start_agent(&dir, &rules, &rx.url());
    let arrived = poll(DEADLINE, || numbers(&rx).len() >= printed.len());
    let dups = check_delivery(&posts(&rx), &printed);
    assert!(arrived);
    assert!(dups <= MAX_DUPLICATES, "{dups} duplicates");
    eprintln!("kill -9 after {before} of {BURST} delivered: {dups} duplicates after restart");
    assert!(agent.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- the same burst through the other native outputs ----------------------------------------

/// A real server an output delivers to, which the test stops and starts again.
trait Destination {
    /// The output's name: its `/metrics` label and its config block (`{name}_output`).
    fn output(&self) -> &'static str;
    /// The `-o` options that turn the output on towards this server.
    fn args(&self) -> Vec<String>;
    /// One entry per delivery the server holds now (or a subscriber got so far).
    fn fetch(&mut self) -> Vec<Post>;
    /// Whether what the server held is gone after its restart (no persistence).
    fn forgets(&self) -> bool;
    fn halt(&mut self);
    fn restart(&mut self);
}

/// The burst through `dest`: the server is stopped at a quarter of it (once what came
/// before has arrived, so a server that forgets on restart loses nothing the agent was told
/// was stored), the rest waits in the spool, the agent is killed with SIGKILL with the burst
/// in its spool, the server comes back, then the agent on the same spool: every alert
/// arrives, each under one id, duplicates bounded.
/// Returns the number of duplicate deliveries.
fn burst_across_a_stop_and_a_kill(test: &str, dest: &mut dyn Destination) -> usize {
    let (dir, rules, marker) = setup(test);
    let out = dest.output();
    let args = dest.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut agent = start_with(&dir, &rules, &args);
    let addr = agent.web_addr();
    let mut before = Vec::new();
    for i in 0..BURST {
        if i == BURST / 4 {
            let settled = poll(DEADLINE, || {
                output_metric(&addr, "peregrine_output_spooled_total", out) == Some(i as f64)
                    && output_metric(&addr, "peregrine_output_spool_pending", out) == Some(0.0)
                    && distinct(&dest.fetch()) == i
            });
            assert!(
                settled,
                "the first {i} alerts never arrived: spooled {:?}, pending {:?}, {} at the \
                 server; {:#?}",
                output_metric(&addr, "peregrine_output_spooled_total", out),
                output_metric(&addr, "peregrine_output_spool_pending", out),
                distinct(&dest.fetch()),
                agent.log
            );
            if dest.forgets() {
                before = dest.fetch();
            }
            dest.halt();
        }
        run_marker(&marker, i);
    }
    let printed = printed(&mut agent, BURST);
    assert_eq!(printed.len(), BURST, "the agent saw only part of the burst");
    let spooled = poll(DEADLINE, || {
        output_metric(&addr, "peregrine_output_spooled_total", out) == Some(BURST as f64)
            && output_metric(&addr, "peregrine_output_spool_pending", out).is_some_and(|n| n > 0.0)
    });
    assert!(spooled, "{:#?}", agent.log);
    agent.signal("KILL");
    drop(agent);
    dest.restart();
    let agent = start_with(&dir, &rules, &args);

    let mut arrived = Vec::new();
    let all = poll(DEADLINE, || {
        arrived = before.iter().cloned().chain(dest.fetch()).collect();
        distinct(&arrived) >= BURST
    });
    let dups = check_delivery(&arrived, &printed);
    assert!(all);
    assert!(dups <= MAX_DUPLICATES, "{dups} duplicates");
    eprintln!("{out}: {dups} duplicates");
    assert!(agent.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
    dups
}

fn distinct(posts: &[Post]) -> usize {
    posts
        .iter()
        .filter_map(|p| p.number)
        .collect::<HashSet<_>>()
        .len()
}

/// The run number at the end of an alert's text (`… marker <program> <n>`).
fn text_number(text: &str) -> Option<usize> {
    text.rsplit(' ').next()?.parse().ok()
}

struct Alertmanager(peregrine_testkit::services::Service);

impl Destination for Alertmanager {
    fn output(&self) -> &'static str {
        "alertmanager"
    }
    fn args(&self) -> Vec<String> {
        vec![
            "-o".into(),
            "alertmanager_output.enabled=true".into(),
            "-o".into(),
            format!("alertmanager_output.url=http://{}", self.0.addr()),
            // Alertmanager merges alerts with the same labels: the run number tells them apart.
            "-o".into(),
            "alertmanager_output.extra_labels[]=proc.cmdline".into(),
        ]
    }
    fn fetch(&mut self) -> Vec<Post> {
        // HTTP/1.0: its (long) answer comes whole, not chunked.
        let page = get(&self.0.addr().to_string(), "/api/v2/alerts", "1.0");
        let alerts: Vec<Value> = page
            .as_deref()
            .and_then(|p| p.split_once("\r\n\r\n"))
            .and_then(|(_, body)| serde_json::from_str(body).ok())
            .unwrap_or_default();
        alerts
            .iter()
            .map(|a| Post {
                id: a["annotations"]["peregrine_alert_id"]
                    .as_str()
                    .map(String::from),
                number: a["annotations"]["summary"].as_str().and_then(text_number),
            })
            .collect()
    }
    fn forgets(&self) -> bool {
        true // alerts live in its memory only
    }
    fn halt(&mut self) {
        self.0.halt();
    }
    fn restart(&mut self) {
        self.0.restart().expect("alertmanager restarts");
    }
}

struct Redis(peregrine_testkit::services::Service);

impl Destination for Redis {
    fn output(&self) -> &'static str {
        "redis"
    }
    fn args(&self) -> Vec<String> {
        vec![
            "-o".into(),
            "redis_output.enabled=true".into(),
            "-o".into(),
            format!("redis_output.url=redis://{}", self.0.addr()),
        ]
    }
    fn fetch(&mut self) -> Vec<Post> {
        let entries = redis::Client::open(format!("redis://{}", self.0.addr()))
            .and_then(|c| c.get_connection())
            .and_then(|mut c| {
                redis::cmd("XRANGE")
                    .arg("falco")
                    .arg("-")
                    .arg("+")
                    .query::<Vec<(String, Vec<(String, String)>)>>(&mut c)
            })
            .unwrap_or_default();
        entries
            .iter()
            .map(|(_, fields)| {
                let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v);
                Post {
                    id: get("id").cloned(),
                    // The JSON alert (the agent runs with json_output).
                    number: get("alert")
                        .and_then(|l| serde_json::from_str::<Value>(l).ok())
                        .as_ref()
                        .and_then(number),
                }
            })
            .collect()
    }
    fn forgets(&self) -> bool {
        true // started without persistence
    }
    fn halt(&mut self) {
        self.0.halt();
    }
    fn restart(&mut self) {
        self.0.restart().expect("redis-server restarts");
    }
}

/// Mosquitto, and a QoS 1 subscriber to `falco/#` recording what it gets: the broker keeps
/// nothing across its restart, the subscriber's record is the test's.
struct Mqtt {
    server: peregrine_testkit::services::Service,
    client: rumqttc::v5::Client,
    got: Arc<Mutex<Vec<Post>>>,
    subscribed: Arc<AtomicBool>,
}

impl Mqtt {
    fn start() -> Mqtt {
        use rumqttc::v5::mqttbytes::v5::Packet;
        use rumqttc::v5::{Client, Event, MqttOptions};
        let server = peregrine_testkit::services::mosquitto().expect("mosquitto starts");
        let addr = server.addr();
        let opts = MqttOptions::new("spool-subscriber", addr.ip().to_string(), addr.port());
        let (client, mut conn) = Client::new(opts, 64);
        let got: Arc<Mutex<Vec<Post>>> = Arc::default();
        let subscribed: Arc<AtomicBool> = Arc::default();
        let (sink, flag) = (got.clone(), subscribed.clone());
        std::thread::spawn(move || {
            for event in conn.iter() {
                match event {
                    Ok(Event::Incoming(Packet::SubAck(_))) => flag.store(true, Ordering::SeqCst),
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let id = p.properties.as_ref().and_then(|pr| {
                            pr.user_properties
                                .iter()
                                .find(|(k, _)| k == "peregrine_alert_id")
                                .map(|(_, v)| v.clone())
                        });
                        let alert = serde_json::from_slice::<Value>(&p.payload).ok();
                        let number = alert.as_ref().and_then(number);
                        sink.lock().expect("lock").push(Post { id, number });
                    }
                    Ok(_) => {}
                    // The broker is down: the next poll reconnects.
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        let mut m = Mqtt {
            server,
            client,
            got,
            subscribed,
        };
        m.subscribe();
        m
    }

    fn subscribe(&mut self) {
        self.subscribed.store(false, Ordering::SeqCst);
        let end = Instant::now() + DEADLINE;
        // Retried: right after a restart the client may still be reconnecting.
        while !self.subscribed.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < end,
                "no subscription: {}",
                self.server.log()
            );
            let _ = self
                .client
                .try_subscribe("falco/#", rumqttc::v5::mqttbytes::QoS::AtLeastOnce);
            poll(Duration::from_secs(1), || {
                self.subscribed.load(Ordering::SeqCst)
            });
        }
    }
}

impl Destination for Mqtt {
    fn output(&self) -> &'static str {
        "mqtt"
    }
    fn args(&self) -> Vec<String> {
        vec![
            "-o".into(),
            "mqtt_output.enabled=true".into(),
            "-o".into(),
            format!("mqtt_output.url=mqtt://{}", self.server.addr()),
            "-o".into(),
            "mqtt_output.topic=falco/{priority}/{rule}".into(),
        ]
    }
    fn fetch(&mut self) -> Vec<Post> {
        self.got.lock().expect("lock").clone()
    }
    fn forgets(&self) -> bool {
        false // the subscriber's record outlives the broker
    }
    fn halt(&mut self) {
        self.server.halt();
    }
    fn restart(&mut self) {
        self.server.restart().expect("mosquitto restarts");
        self.subscribe();
    }
}

/// rsyslogd receiving RFC 5424 over TCP, writing what it got to a file that its restart keeps.
struct Syslog(peregrine_testkit::services::Service);

impl Destination for Syslog {
    fn output(&self) -> &'static str {
        "remote_syslog"
    }
    fn args(&self) -> Vec<String> {
        vec![
            "-o".into(),
            "remote_syslog_output.enabled=true".into(),
            "-o".into(),
            format!("remote_syslog_output.address={}", self.0.addr()),
        ]
    }
    fn fetch(&mut self) -> Vec<Post> {
        let text = std::fs::read_to_string(self.0.dir().join("remote.out")).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.split_once(" [peregrine@32473 id=\""))
            .map(|(_, rest)| Post {
                id: rest.split('"').next().map(String::from),
                // The message after the structured data: the alert's text.
                number: rest.split_once("\"]").and_then(|(_, m)| text_number(m)),
            })
            .collect()
    }
    fn forgets(&self) -> bool {
        false
    }
    fn halt(&mut self) {
        self.0.halt();
    }
    fn restart(&mut self) {
        self.0.restart().expect("rsyslogd restarts");
    }
}

#[test]
fn remote_syslog_gets_every_alert_across_a_server_stop_and_a_kill_9() {
    if !peregrine_testkit::live("remote_syslog_gets_every_alert_across_a_server_stop_and_a_kill_9")
    {
        return;
    }
    let server = peregrine_testkit::services::rsyslog(None).expect("rsyslogd starts");
    burst_across_a_stop_and_a_kill("spool-syslog", &mut Syslog(server));
}

#[test]
fn mqtt_broker_gets_every_alert_across_a_server_stop_and_a_kill_9() {
    if !peregrine_testkit::live("mqtt_broker_gets_every_alert_across_a_server_stop_and_a_kill_9") {
        return;
    }
    burst_across_a_stop_and_a_kill("spool-mqtt", &mut Mqtt::start());
}

/// nats-server with a JetStream stream `ALERTS` on `alerts.>`, read in order of sequence.
struct Nats {
    server: peregrine_testkit::services::Service,
    rt: tokio::runtime::Runtime,
    js: async_nats::jetstream::Context,
    /// What the stream held at the last look, and the next sequence to read.
    seen: Vec<Post>,
    next: u64,
}

impl Nats {
    fn start() -> Nats {
        let server = peregrine_testkit::services::nats().expect("nats-server starts");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let url = format!("nats://{}", server.addr());
        let js = rt.block_on(async {
            let js = async_nats::jetstream::new(
                async_nats::connect(url.as_str()).await.expect("connect"),
            );
            js.create_stream(async_nats::jetstream::stream::Config {
                name: "ALERTS".into(),
                subjects: vec!["alerts.>".into()],
                ..Default::default()
            })
            .await
            .expect("stream");
            js
        });
        Nats {
            server,
            rt,
            js,
            seen: Vec::new(),
            next: 1,
        }
    }
}

impl Destination for Nats {
    fn output(&self) -> &'static str {
        "nats"
    }
    fn args(&self) -> Vec<String> {
        vec![
            "-o".into(),
            "nats_output.enabled=true".into(),
            "-o".into(),
            format!("nats_output.url=nats://{}", self.server.addr()),
            "-o".into(),
            "nats_output.jetstream=true".into(),
            "-o".into(),
            "nats_output.subject=alerts.{priority}.{rule}".into(),
        ]
    }
    fn fetch(&mut self) -> Vec<Post> {
        let (js, seen, next) = (&self.js, &mut self.seen, &mut self.next);
        self.rt.block_on(async {
            let Ok(mut stream) = js.get_stream("ALERTS").await else {
                return;
            };
            let Ok(info) = stream.info().await else {
                return;
            };
            let last = info.state.last_sequence;
            while *next <= last {
                let Ok(m) = stream.get_raw_message(*next).await else {
                    return;
                };
                assert_eq!(m.subject.as_str(), "alerts.warning.Spool_marker");
                let alert = serde_json::from_slice::<Value>(&m.payload).ok();
                seen.push(Post {
                    id: m
                        .headers
                        .get(async_nats::header::NATS_MESSAGE_ID)
                        .map(|v| v.to_string()),
                    number: alert.as_ref().and_then(number),
                });
                *next += 1;
            }
        });
        self.seen.clone()
    }
    fn forgets(&self) -> bool {
        false // the stream is on disk
    }
    fn halt(&mut self) {
        self.server.halt();
    }
    fn restart(&mut self) {
        self.server.restart().expect("nats-server restarts");
    }
}

#[test]
fn nats_jetstream_keeps_every_alert_across_a_server_stop_and_a_kill_9() {
    if !peregrine_testkit::live(
        "nats_jetstream_keeps_every_alert_across_a_server_stop_and_a_kill_9",
    ) {
        return;
    }
    let dups = burst_across_a_stop_and_a_kill("spool-nats", &mut Nats::start());
    // JetStream dropped the re-sent ones by their Nats-Msg-Id: each stored once.
    assert_eq!(dups, 0);
}

#[test]
fn alertmanager_gets_every_alert_across_a_server_stop_and_a_kill_9() {
    if !peregrine_testkit::live("alertmanager_gets_every_alert_across_a_server_stop_and_a_kill_9") {
        return;
    }
    let am = peregrine_testkit::services::alertmanager().expect("alertmanager starts");
    burst_across_a_stop_and_a_kill("spool-alertmanager", &mut Alertmanager(am));
}

#[test]
fn redis_stream_gets_every_alert_across_a_server_stop_and_a_kill_9() {
    if !peregrine_testkit::live("redis_stream_gets_every_alert_across_a_server_stop_and_a_kill_9") {
        return;
    }
    let server = peregrine_testkit::services::redis().expect("redis-server starts");
    burst_across_a_stop_and_a_kill("spool-redis", &mut Redis(server));
}
