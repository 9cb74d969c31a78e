//! The fleet view end to end, as root, through the real binary: a three-node nats-server
//! cluster (JetStream, R3 streams, users and passwords), `peregrine server` with its store in
//! PostgreSQL, and three agents — this host's live agent and two agents replaying a capture
//! under their own `fleet.host`. Checked: every alert of each agent is stored once, with its host;
//! a NATS node killed in the middle of a burst loses nothing; a server stopped while alerts
//! keep coming catches up from the stream after its restart, storing nothing twice; coverage
//! shows an agent missing within the window once it stops; a garbage message is counted and
//! skipped; a wrong password is refused.

mod common;
mod e2e_harness;

use e2e_harness::{scratch, Agent, NARROW};
use peregrine_testkit::services::{self, Service};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any background condition may take on a busy 2-core machine.
const DEADLINE: Duration = Duration::from_secs(60);
const TOKEN: &str = "fleet-test-token-0123456789";
const AGENT: (&str, &str) = ("agent", "agent-secret");
const SERVER: (&str, &str) = ("server", "server-secret");
/// The server's coverage window, seconds.
const WINDOW: u64 = 6;
/// Alerts of one replay agent: `open_from_cat` on the capture (see agent_outputs.rs).
const REPLAY_ALERTS: usize = 8;
const LIVE_HOST: &str = "host-live";
const REPLAY_HOSTS: [&str; 2] = ["replay-a", "replay-b"];

fn poll(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while !f() {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    true
}

/// The `fleet` block for `user` against `urls`.
fn fleet_block(urls: &[String], user: (&str, &str), extra: &str) -> String {
    let servers: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
    format!(
        "fleet:\n  enabled: true\n  servers: [{}]\n  user: {:?}\n  password: {:?}\n  \
         stream_replicas: 3\n  timeout_ms: 5000\n  retry: {{initial_backoff_ms: 100, \
         max_backoff_ms: 500}}\n{extra}",
        servers.join(", "),
        user.0,
        user.1
    )
}

/// A running `peregrine server`.
struct Server {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Server {
    /// `peregrine server` on `dir/server.yaml`, storing into `store` (a URL or a path).
    fn start(dir: &Path, store: &str) -> Server {
        let log = dir.join("server.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_peregrine"))
            .env(peregrine_config::DEFAULT_CONFIG_ENV, "")
            .env("PEREGRINE_LOG", "info")
            .args([
                "-c",
                &dir.join("server.yaml").display().to_string(),
                "server",
            ])
            .args(["--store", store])
            .args(["--coverage-window", &WINDOW.to_string()])
            .args(["--expect-hosts", &dir.join("hosts").display().to_string()])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("server starts");
        let out = child.stdout.take().expect("stdout");
        let found: Arc<Mutex<Option<String>>> = Arc::default();
        let f = found.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(a) = line.split("console on http://").nth(1) {
                    *f.lock().expect("lock") = Some(a.trim().to_string());
                }
            }
        });
        let mut server = Server {
            child,
            addr: String::new(),
            log,
        };
        let ok = poll(DEADLINE, || found.lock().expect("lock").is_some());
        assert!(ok, "server did not start: {}", server.log());
        server.addr = found.lock().expect("lock").clone().unwrap_or_default();
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` with the console token: the status and the body.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(&self.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n",
            self.addr
        )
        .ok()?;
        let mut page = String::new();
        s.read_to_string(&mut page).ok()?;
        let status = page.split_whitespace().nth(1)?.parse().ok()?;
        let body = page.split_once("\r\n\r\n")?.1.to_string();
        Some((status, body))
    }

    fn json(&self, path: &str) -> Option<Value> {
        let (status, body) = self.get(path)?;
        (status == 200).then(|| serde_json::from_str(&body).ok())?
    }

    /// The stored alerts of `host`: (ids, run numbers of the live marker).
    fn alerts(&self, host: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        loop {
            let Some(page) = self.json(&format!("/api/v1/alerts?host={host}&limit=1000{cursor}"))
            else {
                return all;
            };
            all.extend(page["alerts"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => return all,
            }
        }
    }

    fn metric(&self, name: &str) -> Option<f64> {
        let (_, page) = self.get("/metrics")?;
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    }

    fn host(&self, host: &str) -> Option<Value> {
        let doc = self.json("/api/v1/fleet/hosts")?;
        doc["hosts"]
            .as_array()?
            .iter()
            .find(|h| h["host"] == host)
            .cloned()
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Talks NATS's text protocol to `addr` as `user`, publishing `publish` (subject, payload)
/// when given; returns what the server said (its INFO line first) up to its PONG, its error
/// or the end of the connection.
fn nats_raw(addr: SocketAddr, user: (&str, &str), publish: Option<(&str, &str)>) -> String {
    let mut s = TcpStream::connect(addr).expect("nats connects");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut info = String::new();
    r.read_line(&mut info).expect("INFO");
    let mut req = format!(
        "CONNECT {{\"user\":{:?},\"pass\":{:?},\"verbose\":false,\"pedantic\":false}}\r\n",
        user.0, user.1
    );
    if let Some((subject, payload)) = publish {
        req.push_str(&format!("PUB {subject} {}\r\n{payload}\r\n", payload.len()));
    }
    req.push_str("PING\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut got = info;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return got;
        }
        got.push_str(&line);
        if line.starts_with("PONG") || line.starts_with("-ERR") {
            return got;
        }
    }
}

/// A scratch directory with a marker program (a copy of `true`) and a rule for its runs.
fn marker(dir: &Path) -> (PathBuf, String) {
    let program = e2e_harness::marker_program(dir, "fleetmark");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "
- rule: Fleet marker
  desc: the marker program ran
  condition: evt.type in (execve, execveat) and proc.exe = {program}
  output: marker %proc.cmdline
  priority: WARNING
"
        ),
    )
    .expect("rules file");
    (rules, program)
}

fn run_marker(program: &str, from: usize, to: usize) {
    for i in from..to {
        let status = Command::new(program)
            .arg(i.to_string())
            .status()
            .expect("marker runs");
        assert!(status.success());
    }
}

/// The run numbers of the live marker among stored alerts.
fn numbers(alerts: &[Value]) -> Vec<usize> {
    let mut n: Vec<usize> = alerts
        .iter()
        .filter_map(|a| {
            a["output"]
                .as_str()?
                .rsplit(' ')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .collect();
    n.sort_unstable();
    n
}

fn distinct_ids(alerts: &[Value]) -> usize {
    alerts
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// Replays the capture as agent `host` with the fleet block `config`; returns its JSON alerts.
fn replay_agent(config: &Path, host: &str) -> usize {
    let mut args = common::replay_args(
        "falco-testing/rules/single_rule.yaml",
        "captures/falco/cat_write.scap",
    );
    args.extend(
        [
            "-c",
            &config.display().to_string(),
            "-o",
            "json_output=true",
            "-o",
        ]
        .map(String::from),
    );
    args.push(format!("fleet.host={host}"));
    // Each agent has a spool of its own (one process may hold a spool).
    args.push("-o".into());
    args.push(format!(
        "fleet.spool.dir={}",
        config.with_file_name(format!("spool-{host}")).display()
    ));
    let out = common::peregrine(&args);
    assert!(
        out.status.success(),
        "replay agent {host}: {}",
        common::stderr(&out)
    );
    common::stdout(&out)
        .lines()
        .filter(|l| l.starts_with('{'))
        .count()
}

#[test]
fn fleet_of_three_agents_over_a_nats_cluster() {
    if !peregrine_testkit::e2e_root("fleet_of_three_agents_over_a_nats_cluster")
        || peregrine_testkit::upstream::require("fleet_of_three_agents_over_a_nats_cluster")
            .is_none()
    {
        return;
    }
    let dir = scratch("fleet");
    for d in ["spool", "spool-replay-a", "spool-replay-b"] {
        let _ = std::fs::remove_dir_all(dir.join(d));
    }
    let pg = services::postgres().expect("postgres starts");
    let store = format!(
        "postgres://{}@127.0.0.1:{}/postgres",
        services::POSTGRES_USER,
        pg.port()
    );
    let mut nodes: Vec<Service> =
        services::nats_cluster(3, &[AGENT, SERVER]).expect("nats cluster starts");
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| format!("nats://{}", n.addr()))
        .collect();

    // A wrong password is refused by the cluster.
    let refused = nats_raw(nodes[0].addr(), ("agent", "not-the-password"), None);
    assert!(refused.contains("Authorization Violation"), "{refused}");

    std::fs::write(
        dir.join("server.yaml"),
        format!(
            "webserver: {{enabled: true, listen_address: 127.0.0.1, listen_port: 0, \
             prometheus_metrics_enabled: true}}\nmetrics: {{enabled: true}}\n\
             console: {{enabled: true, token: {TOKEN}}}\n{}",
            fleet_block(&urls, SERVER, "")
        ),
    )
    .expect("server config");
    std::fs::write(
        dir.join("hosts"),
        format!("# the fleet\n{LIVE_HOST}\n{}\n", REPLAY_HOSTS.join("\n")),
    )
    .expect("hosts file");
    let server = Server::start(&dir, &store);

    let spool = dir.join("spool").display().to_string();
    let agent_cfg = |name: &str, host: &str| {
        let path = dir.join(name);
        std::fs::write(
            &path,
            fleet_block(
                &urls,
                AGENT,
                &format!(
                    "  host: {host}\n  heartbeat_interval: 1s\n  spool: {{dir: {spool:?}}}\n  \
                     labels: {{role: test}}\n"
                ),
            ),
        )
        .expect("agent config");
        path
    };
    let live_cfg = agent_cfg("live.yaml", LIVE_HOST);
    let replay_cfg = agent_cfg("replay.yaml", "unused");
    let (rules, program) = marker(&dir);
    let mut args: Vec<&str> = NARROW.to_vec();
    let live_cfg_s = live_cfg.display().to_string();
    args.extend(["-c", &live_cfg_s, "-o", "json_output=true"]);
    let mut live = Agent::start(&rules, &args);

    // The two replay agents, each under its own identity.
    for host in REPLAY_HOSTS {
        assert_eq!(replay_agent(&replay_cfg, host), REPLAY_ALERTS, "{host}");
    }

    // A burst from the live agent, with one NATS node killed in the middle of it.
    const BURST: usize = 200;
    run_marker(&program, 0, BURST / 2);
    nodes[0].halt();
    run_marker(&program, BURST / 2, BURST);
    let printed = live.drain(Duration::from_secs(2)).len();
    assert!(printed >= BURST, "the live agent printed {printed} alerts");
    let want: Vec<usize> = (0..BURST).collect();
    let ok = poll(DEADLINE, || numbers(&server.alerts(LIVE_HOST)) == want);
    let got = server.alerts(LIVE_HOST);
    assert!(
        ok,
        "live host: {} alerts stored, {} distinct runs; server log: {}",
        got.len(),
        numbers(&got).len(),
        server.log()
    );
    assert_eq!(distinct_ids(&got), BURST, "each alert stored once");
    // The console's overview counts what the server stores (the replayed alerts' times are
    // years old, outside its window).
    let total = || server.json("/api/v1/overview").map(|v| v["total"].clone());
    let ok = poll(DEADLINE, || total() == Some(BURST.into()));
    assert!(ok, "overview total {:?}, want {BURST}", total());
    nodes[0].restart().expect("node restarts");
    for host in REPLAY_HOSTS {
        let ok = poll(DEADLINE, || server.alerts(host).len() == REPLAY_ALERTS);
        let got = server.alerts(host);
        assert!(ok, "{host}: {} alerts stored", got.len());
        assert_eq!(distinct_ids(&got), REPLAY_ALERTS);
        assert!(got.iter().all(|a| a["hostname"] == host));
    }

    // Every host reported; the replay agents, done, go missing within the window while the
    // live agent stays covered.
    for host in REPLAY_HOSTS {
        let h = server.host(host).expect("host listed");
        assert_eq!(h["version"], env!("CARGO_PKG_VERSION"), "{h}");
        assert_eq!(h["labels"]["role"], "test");
        assert_eq!(h["alerts"], REPLAY_ALERTS);
    }
    let ok = poll(Duration::from_secs(WINDOW + 20), || {
        REPLAY_HOSTS
            .iter()
            .all(|h| server.host(h).is_some_and(|h| h["covered"] == false))
    });
    assert!(
        ok,
        "replay hosts not missing: {:?}",
        server.json("/api/v1/fleet/hosts")
    );
    let live_host = server.host(LIVE_HOST).expect("live host listed");
    assert_eq!(live_host["covered"], true, "{live_host}");
    assert!(live_host["rules_hash"]
        .as_str()
        .is_some_and(|h| h.len() == 64));
    assert_eq!(server.metric("peregrine_fleet_hosts_missing"), Some(2.0));

    // A garbage message and a foreign JSON document on the alerts stream: counted, skipped.
    let before = server.alerts(LIVE_HOST).len();
    for payload in ["garbage", r#"{"hello":"world"}"#] {
        let answer = nats_raw(
            nodes[1].addr(),
            AGENT,
            Some((&format!("peregrine.alerts.{LIVE_HOST}"), payload)),
        );
        assert!(answer.contains("PONG"), "{answer}");
    }
    let ok = poll(DEADLINE, || {
        server.metric("peregrine_fleet_bad_messages_total{stream=\"alerts\"}") == Some(2.0)
    });
    assert!(ok, "bad messages not counted: {}", server.log());
    assert_eq!(server.alerts(LIVE_HOST).len(), before);

    // The server stops while alerts keep coming; restarted, it catches up from the stream.
    server.stop();
    run_marker(&program, BURST, BURST + 50);
    let server = Server::start(&dir, &store);
    let want: Vec<usize> = (0..BURST + 50).collect();
    let ok = poll(DEADLINE, || numbers(&server.alerts(LIVE_HOST)) == want);
    let got = server.alerts(LIVE_HOST);
    assert!(ok, "after the restart: {} alerts stored", got.len());
    assert_eq!(distinct_ids(&got), BURST + 50, "nothing stored twice");
    // Restarted: the overview counted the store, then the backlog caught up, each once.
    let total = || server.json("/api/v1/overview").map(|v| v["total"].clone());
    let ok = poll(DEADLINE, || total() == Some((BURST + 50).into()));
    assert!(ok, "overview total {:?}, want {}", total(), BURST + 50);
    // The per-host volume survives the restart: what the store holds, plus the catch-up.
    let volume = |h: &str| server.host(h).map(|h| h["alerts"].clone());
    assert_eq!(volume(LIVE_HOST), Some((BURST + 50).into()));
    for host in REPLAY_HOSTS {
        assert_eq!(volume(host), Some(REPLAY_ALERTS.into()), "{host}");
    }

    // The live agent stops: coverage shows it missing within the window.
    let ok = poll(DEADLINE, || {
        server.host(LIVE_HOST).is_some_and(|h| h["covered"] == true)
    });
    assert!(ok, "the restarted server sees the live agent");
    live.stop();
    let stopped = Instant::now();
    let ok = poll(Duration::from_secs(WINDOW + 20), || {
        server
            .host(LIVE_HOST)
            .is_some_and(|h| h["covered"] == false)
    });
    assert!(
        ok,
        "live host not missing {:?} after it stopped",
        stopped.elapsed()
    );
    assert_eq!(server.metric("peregrine_fleet_hosts_missing"), Some(3.0));
    server.stop();
}

/// Mutual TLS: nats-server requires TLS and a client certificate it trusts; the server and a
/// replay agent with `fleet.tls` and that certificate get the agent's alerts and heartbeat
/// through, and a client without TLS is refused.
#[test]
fn fleet_over_mutual_tls() {
    if !peregrine_testkit::e2e("fleet_over_mutual_tls")
        || peregrine_testkit::upstream::require("fleet_over_mutual_tls").is_none()
    {
        return;
    }
    let dir = scratch("fleet-tls");
    let _ = std::fs::remove_dir_all(dir.join("spool-tls-agent"));
    let _ = std::fs::remove_file(dir.join("fleet.db"));
    let (nats, tls) = services::nats_mutual_tls(&dir).expect("nats-server with TLS starts");
    let services::MutualTls {
        server_crt,
        client_crt,
        client_key,
    } = tls;

    // Without TLS: refused (never a PONG).
    let refused = nats_raw(nats.addr(), ("", ""), None);
    assert!(
        refused.contains("\"tls_required\":true") && !refused.contains("PONG"),
        "{refused}"
    );

    let block = format!(
        "fleet:\n  enabled: true\n  servers: [\"nats://{}\"]\n  timeout_ms: 2000\n  \
         tls: true\n  ca_cert: {server_crt:?}\n  client_cert: {client_crt:?}\n  \
         client_key: {client_key:?}\n",
        nats.addr()
    );
    std::fs::write(
        dir.join("server.yaml"),
        format!(
            "webserver: {{enabled: true, listen_address: 127.0.0.1, listen_port: 0}}\n\
             console: {{enabled: true, token: {TOKEN}}}\n{block}"
        ),
    )
    .expect("server config");
    std::fs::write(dir.join("hosts"), "tls-agent\n").expect("hosts file");
    let store = dir.join("fleet.db").display().to_string();
    let server = Server::start(&dir, &store);
    let agent_cfg = dir.join("agent.yaml");
    std::fs::write(&agent_cfg, &block).expect("agent config");
    assert_eq!(replay_agent(&agent_cfg, "tls-agent"), REPLAY_ALERTS);
    let ok = poll(DEADLINE, || {
        server.alerts("tls-agent").len() == REPLAY_ALERTS
    });
    assert!(ok, "alerts over TLS: {}", server.log());
    let ok = poll(DEADLINE, || {
        server
            .host("tls-agent")
            .is_some_and(|h| h["covered"] == true)
    });
    assert!(ok, "heartbeat over TLS: {}", server.log());
    server.stop();
}
