//! Fleet sizing (issue #17), run by `bench/fleet.sh`: a load generator publishes the alerts and
//! heartbeats of simulated hosts into JetStream (a private nats-server), and the fleet server
//! (the library `peregrine server` runs) consumes them into a SQLite store in this process.
//!
//! Phases, each printed:
//! 1. **Ingest**: a backlog of alerts is published while the server is stopped; the server
//!    starts and the time until every one is stored gives the ingest rate.
//! 2. **Latency**: HOSTS hosts send a heartbeat every 5 s and alerts at RATE per second
//!    for SECONDS; an alert's latency is from its publish to the moment the server's stored
//!    count passes it (one consumer on one stream stores in stream order).
//! 3. **Console and memory**: the hosts document and a search by host, timed; the process's
//!    resident memory (server and generator together: an upper bound for the server), and the
//!    store's bytes per alert.
//!
//! `cargo bench -p peregrine-fleet --bench fleet_load -- [HOSTS] [BACKLOG] [RATE] [SECONDS]`
//! (defaults 1000 200000 5000 20). Not a CI test: the numbers depend on the machine's load.

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use peregrine_config::FleetConfig;
use peregrine_fleet::message::{Heartbeat, HEARTBEAT_KIND};
use peregrine_fleet::{FleetServer, ServerOptions};
use peregrine_store::{AlertStore, Query, SqliteStore};

fn arg(args: &[String], i: usize, default: u64) -> u64 {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) of process `pid` and its children that are alive (PostgreSQL's
/// backends are the postmaster's children), from /proc.
fn cpu_s(pid: u32) -> f64 {
    let ticks = |p: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .ok()
            .and_then(|s| {
                // Fields after the command name (which may hold spaces) start at `) `.
                let rest = s.rsplit_once(") ")?.1;
                let f: Vec<&str> = rest.split(' ').collect();
                Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
            })
            .unwrap_or(0)
    };
    let mut total = ticks(&pid.to_string());
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
                total += c.split_whitespace().map(ticks).sum::<u64>();
            }
        }
    }
    total as f64 / 100.0
}

/// CPU seconds of this process, PostgreSQL (postmaster and backends) and nats-server.
#[derive(Clone, Copy)]
struct Cpu {
    own: f64,
    pg: f64,
    nats: f64,
}

fn alert(host: usize, n: u64, now: &str) -> String {
    format!(
        r#"{{"hostname":"node-{host}","output":"{now}: Warning Sensitive file opened for reading by non-trusted program (file=/etc/shadow gparent=systemd ggparent=<NA> gggparent=<NA> evt_type=openat user=root user_uid=0 user_loginuid=-1 process=cat proc_exepath=/usr/bin/cat parent=bash command=cat /etc/shadow {n} terminal=34816 container_id=host container_name=host)","output_fields":{{"container.id":"host","container.name":"host","evt.time":1765000000000000000,"evt.type":"openat","fd.name":"/etc/shadow","proc.cmdline":"cat /etc/shadow {n}","proc.exepath":"/usr/bin/cat","proc.name":"cat","proc.pname":"bash","proc.tty":34816,"user.loginuid":-1,"user.name":"root","user.uid":0}},"priority":"Warning","rule":"Read sensitive file untrusted","source":"syscall","tags":["T1555","container","filesystem","host","maturity_stable","mitre_credential_access"],"time":"{now}"}}"#
    )
}

/// The messages (subject, id, payload) of alerts `range`, spread over `hosts` hosts round-robin,
/// each with the message id `{tag}-{n}`.
fn alert_msgs(
    prefix: &str,
    hosts: usize,
    tag: &str,
    range: std::ops::Range<u64>,
    now: &str,
) -> Vec<(String, Option<String>, String)> {
    range
        .map(|n| {
            let h = (n as usize) % hosts;
            (
                format!("{prefix}.alerts.node-{h}"),
                Some(format!("{tag}-{n}")),
                alert(h, n, now),
            )
        })
        .collect()
}

/// With `stored` alerts stored now, of which `seen` were counted before: the latencies of the
/// newly stored ones, from the publish times queued in `sent` (oldest first).
fn stored_now(
    stored: u64,
    seen: &mut u64,
    sent: &mut VecDeque<Instant>,
    latencies: &mut Vec<Duration>,
) {
    let now = Instant::now();
    while *seen < stored {
        if let Some(t) = sent.pop_front() {
            latencies.push(now - t);
        }
        *seen += 1;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Publishes `msgs` (subject, id, payload) with their acknowledgements pipelined.
async fn publish(js: &async_nats::jetstream::Context, msgs: Vec<(String, Option<String>, String)>) {
    let mut acks = Vec::with_capacity(msgs.len());
    for (subject, id, payload) in msgs {
        let mut h = async_nats::HeaderMap::new();
        if let Some(id) = id {
            h.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        }
        match js.publish_with_headers(subject, h, payload.into()).await {
            Ok(ack) => acks.push(ack),
            Err(e) => panic!("publish: {e}"),
        }
    }
    for ack in acks {
        ack.into_future().await.expect("acknowledged");
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let hosts = arg(&args, 0, 1000) as usize;
    let backlog = arg(&args, 1, 200_000);
    let rate = arg(&args, 2, 5_000);
    let seconds = arg(&args, 3, 20);
    let nats = peregrine_testkit::services::nats().expect("nats-server starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = peregrine_testkit::services::postgres().expect("postgres starts");
    let stores: [(&str, Arc<dyn AlertStore>); 2] = [
        (
            "SQLite",
            Arc::new(SqliteStore::open(&dir.path().join("fleet.db")).expect("sqlite store")),
        ),
        (
            "PostgreSQL",
            peregrine_store::open(&format!(
                "postgres://{}@127.0.0.1:{}/postgres",
                peregrine_testkit::services::POSTGRES_USER,
                pg.port()
            ))
            .expect("postgres store"),
        ),
    ];
    let pids = (std::process::id(), pg.pid(), nats.pid());
    for (kind, store) in stores {
        println!("--- {kind}");
        run(
            kind,
            store,
            pids,
            &format!("nats://{}", nats.addr()),
            hosts,
            backlog,
            rate,
            seconds,
        );
    }
}

/// The three phases into `store`, on streams of their own (prefix = the store's kind).
#[allow(clippy::too_many_arguments)]
fn run(
    kind: &str,
    store: Arc<dyn AlertStore>,
    (own, pg, nats): (u32, u32, u32),
    url: &str,
    hosts: usize,
    backlog: u64,
    rate: u64,
    seconds: u64,
) {
    let prefix = kind.to_lowercase();
    let fleet = FleetConfig {
        servers: vec![url.to_string()],
        subject_prefix: prefix.clone(),
        ..FleetConfig::default()
    };
    let options = || ServerOptions {
        fleet: fleet.clone(),
        store: store.clone(),
        coverage_window: Duration::from_secs(15),
        expected: None,
        alerts_max_age: None,
        on_stored: None,
        hold_until: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let js = rt.block_on(async {
        let c = async_nats::connect(fleet.servers[0].clone())
            .await
            .expect("connect");
        async_nats::jetstream::new(c)
    });
    let rss_start = rss_mb();
    // The streams and the durable consumer exist once a server has started.
    FleetServer::start(options()).expect("server").stop();

    // 1. Ingest: a backlog, then the server drains it.
    let t = Instant::now();
    let now = peregrine_triage::timefmt::format_rfc3339(peregrine_store::writer::now_ns());
    let mut n = 0u64;
    while n < backlog {
        let chunk = alert_msgs(&prefix, hosts, "backlog", n..(n + 5_000).min(backlog), &now);
        n += chunk.len() as u64;
        rt.block_on(publish(&js, chunk));
    }
    let published = t.elapsed();
    println!(
        "generator: {backlog} alerts published in {:.1} s ({:.0}/s, acknowledged)",
        published.as_secs_f64(),
        backlog as f64 / published.as_secs_f64()
    );
    let cpu = || Cpu {
        own: cpu_s(own),
        pg: cpu_s(pg),
        nats: cpu_s(nats),
    };
    let cpu0 = cpu();
    let t = Instant::now();
    let server = FleetServer::start(options()).expect("server");
    let reg = server.registry.clone();
    let stored = || reg.counters.alerts_stored.load(Ordering::Relaxed);
    while stored() < backlog {
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "backlog not drained"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let drain = t.elapsed();
    println!(
        "ingest ({kind}): {backlog} alerts stored in {:.1} s = {:.0} alerts/s",
        drain.as_secs_f64(),
        backlog as f64 / drain.as_secs_f64()
    );
    let cpu1 = cpu();
    let (o, p, n) = (
        cpu1.own - cpu0.own,
        cpu1.pg - cpu0.pg,
        cpu1.nats - cpu0.nats,
    );
    println!(
        "ingest CPU: server {o:.1} s, PostgreSQL {p:.1} s, nats-server {n:.1} s = {:.0} alerts per \
         CPU-second of all three ({:.0} per server CPU-second); load {}",
        backlog as f64 / (o + p + n),
        backlog as f64 / o.max(0.01),
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    );

    // 2. Latency with HOSTS hosts heartbeating.
    let beats = |i: u64| -> Vec<(String, Option<String>, String)> {
        (0..hosts)
            .map(|h| {
                let hb = Heartbeat {
                    kind: HEARTBEAT_KIND.into(),
                    host: format!("node-{h}"),
                    version: "0.1.0".into(),
                    rules_hash: "0".repeat(64),
                    config_hash: "1".repeat(64),
                    events: i * 1000,
                    uptime_s: i * 5,
                    ..Heartbeat::default()
                };
                (
                    format!("{prefix}.heartbeat.node-{h}"),
                    None,
                    serde_json::to_string(&hb).expect("json"),
                )
            })
            .collect()
    };
    let base = stored();
    let mut sent: VecDeque<Instant> = VecDeque::new();
    let mut latencies = Vec::new();
    let start = Instant::now();
    let tick = Duration::from_millis(10);
    let per_tick = (rate as f64 * tick.as_secs_f64()).max(1.0) as u64;
    let mut next = start;
    let mut i = 0u64;
    let mut beat_round = 0u64;
    let mut next_beat = start;
    let mut seen = base;
    while start.elapsed() < Duration::from_secs(seconds) {
        if Instant::now() >= next_beat {
            rt.block_on(publish(&js, beats(beat_round)));
            beat_round += 1;
            next_beat += Duration::from_secs(5);
        }
        let now = peregrine_triage::timefmt::format_rfc3339(peregrine_store::writer::now_ns());
        let chunk = alert_msgs(&prefix, hosts, "paced", i..i + per_tick, &now);
        let at = Instant::now();
        rt.block_on(publish(&js, chunk));
        sent.extend(std::iter::repeat_n(at, per_tick as usize));
        i += per_tick;
        // Everything stored so far has a latency now.
        stored_now(stored(), &mut seen, &mut sent, &mut latencies);
        next += tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let offered = i as f64 / start.elapsed().as_secs_f64();
    let end = Instant::now() + Duration::from_secs(60);
    while seen < base + i && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(2));
        stored_now(stored(), &mut seen, &mut sent, &mut latencies);
    }
    latencies.sort_unstable();
    println!(
        "latency (publish -> stored), {hosts} hosts heartbeating every 5 s, {offered:.0} alerts/s \
         offered for {seconds} s: {} measured, p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );

    // 3. Console and memory: one more round of heartbeats, so every host is recent.
    rt.block_on(publish(&js, beats(beat_round)));
    let ok = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        reg.coverage(peregrine_store::writer::now_ns()).1 == hosts
    });
    let t = Instant::now();
    let doc = reg.document(peregrine_store::writer::now_ns());
    let doc_time = t.elapsed();
    let t = Instant::now();
    let page = store
        .search(&Query {
            hostname: Some("node-7".into()),
            limit: 100,
            ..Query::default()
        })
        .expect("search");
    let search_time = t.elapsed();
    let total = store.count().expect("count");
    let bytes = store.size_bytes().expect("size");
    println!(
        "hosts reporting: {} of {hosts} ({}); hosts document {:?} ({} kB); search by host (newest 100: {} alerts) {:?}",
        reg.coverage(peregrine_store::writer::now_ns()).1,
        if ok { "all" } else { "NOT all" },
        doc_time,
        doc.to_string().len() / 1024,
        page.alerts.len(),
        search_time
    );
    println!(
        "store: {total} alerts, {:.0} MB, {:.0} bytes/alert ({:.2} GB per million); resident memory \
         {:.0} MB at start, {:.0} MB now (server and generator)",
        bytes as f64 / 1e6,
        bytes as f64 / total.max(1) as f64,
        bytes as f64 / total.max(1) as f64 * 1e6 / 1e9,
        rss_start,
        rss_mb()
    );
    let c = &reg.counters;
    println!(
        "counters: stored {}, duplicates {}, heartbeats {}, bad {}",
        c.alerts_stored.load(Ordering::Relaxed),
        c.duplicates.load(Ordering::Relaxed),
        c.heartbeats.load(Ordering::Relaxed),
        c.bad_alerts.load(Ordering::Relaxed) + c.bad_heartbeats.load(Ordering::Relaxed)
    );
    server.stop();
}
