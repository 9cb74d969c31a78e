//! The console's page latency with N alerts stored (default 1,000,000): fills a store with
//! alerts spread over the last 24 hours (or reuses one that holds at least N), serves it with
//! the console on a loopback port, and times each page's requests (the page shell and the
//! JSON each page loads) sequentially, p50/p95/max over RUNS requests; then what retention
//! costs the overview's tally. Run by `bench/console.sh`; figures in README ("Console").

use std::sync::Arc;
use std::time::{Duration, Instant};

use peregrine_config::ConsoleConfig;
use peregrine_filter::priority::Priority;
use peregrine_store::{AlertStore, Ancestor, Container, Context, Pod, Record, SqliteStore};
use peregrine_web::alerts_api::Api;
use peregrine_web::{Extras, Versions, WebConfig, WebServer};

const TOKEN: &str = "console-bench-token-0123456789";
const RUNS: usize = 30;
const DAY_NS: u64 = 24 * 3600 * 1_000_000_000;

/// xorshift: deterministic, so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn record(i: u64, time_ns: u64, rng: &mut Rng) -> Record {
    // A skewed rule distribution: a few rules make most alerts, as in real fleets.
    let rule = (rng.below(40) * rng.below(40)) / 40;
    let sev = 2 + rng.below(6) as u8;
    let priority = Priority::ALL[usize::from(sev)].as_str();
    let c = rng.below(200);
    let ns = c % 20;
    Record {
        id: format!("00000000-0000-7000-8000-{i:012}"),
        time_ns,
        rule: format!("Rule number {rule}"),
        priority: priority.into(),
        severity: sev,
        source: "syscall".into(),
        hostname: format!("node-{}", rng.below(8)),
        tags: vec!["T1003".into(), format!("mitre_tactic_{}", rng.below(7))],
        output: format!(
            "Sensitive file opened for reading (file=/etc/shadow{i} proc=cat{} parent=python3 \
             container=web-{c})",
            rng.below(1000)
        ),
        json: format!(
            "{{\"rule\":\"Rule number {rule}\",\"priority\":\"{}\",\"output_fields\":\
             {{\"proc.name\":\"cat\",\"fd.name\":\"/etc/shadow{i}\",\"proc.pname\":\"python3\",\
             \"container.id\":\"{c:012}\",\"k8s.ns.name\":\"ns-{ns}\"}}}}",
            priority
        ),
        context: Context {
            ancestry: ["/usr/bin/cat", "/usr/bin/python3", "/usr/bin/bash"]
                .iter()
                .enumerate()
                .map(|(k, exe)| Ancestor {
                    pid: 1000 + k as i64,
                    ppid: 999 + k as i64,
                    exe: (*exe).into(),
                    cmdline: format!("{exe} -c x"),
                    uid: 0,
                    user: String::new(),
                    start_ns: time_ns,
                })
                .collect(),
            container: Some(Container {
                id: format!("{c:012}{:052}", 0),
                name: format!("web-{c}"),
                image: "nginx:1.25".into(),
                labels: vec![("app".into(), "web".into())],
                pod: Some(Pod {
                    name: format!("web-{c}-0"),
                    namespace: format!("ns-{ns}"),
                    labels: vec![("tier".into(), "front".into())],
                }),
            }),
        },
        refers_to: None,
    }
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = std::path::PathBuf::from(args.next().ok_or("usage: console_bench DB [N]")?);
    let n: u64 = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let store = Arc::new(SqliteStore::open(&path)?);
    let now = peregrine_store::writer::now_ns();
    let have = store.count()?;
    if have < n {
        // Spread over the 24 hours before now, so the overview's windows hold them.
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let t0 = Instant::now();
        let mut batch = Vec::with_capacity(4096);
        for i in have..n {
            let t = now - DAY_NS + i * (DAY_NS / n);
            batch.push(record(i, t, &mut rng));
            if batch.len() == batch.capacity() {
                store.insert(&batch)?;
                batch.clear();
            }
        }
        store.insert(&batch)?;
        println!(
            "filled {} alerts in {:.0} s",
            n - have,
            t0.elapsed().as_secs_f64()
        );
    }
    let total = store.count()?;
    let rss_before = rss_kb();
    let live = Arc::new(peregrine_web::console::Live::new());
    let cfg = WebConfig {
        listen_address: "127.0.0.1".into(),
        listen_port: 0,
        prometheus_metrics_enabled: false,
        ..WebConfig::default()
    };
    let versions = Versions::peregrine(&peregrine_rules::version::Version::new(0, 62, 0));
    let extras = Extras {
        console: Some(ConsoleConfig {
            enabled: true,
            token: Some(TOKEN.into()),
            ..ConsoleConfig::default()
        }),
        alerts: Some(Api {
            store: store.clone(),
            rules: Arc::new(Vec::new),
        }),
        live: Some(live.clone()),
        ..Extras::default()
    };
    let server = WebServer::start_pending_with(&cfg, &versions, None, extras)?;
    server.set_ready();
    // The overview counts from the store until the console's tally has counted it (a thread
    // started with the server): time that, then measure the steady state.
    let t = Instant::now();
    while !live.is_seeded() {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "the overview's tally counted the store in {:.1} s (RSS {} MB)",
        t.elapsed().as_secs_f64(),
        rss_kb() / 1024
    );
    let base = format!("http://{}", server.local_addr());
    let newest = store
        .search(&peregrine_store::Query {
            limit: 1,
            ..Default::default()
        })?
        .alerts
        .first()
        .map(|a| a.record.id.clone())
        .ok_or("empty store")?;
    let agent = ureq::AgentBuilder::new().build();
    let paths = [
        ("page shell (any page)", "/console/".to_string()),
        ("overview, 24 h", "/api/v1/overview?window=24h".into()),
        ("overview, 1 h", "/api/v1/overview?window=1h".into()),
        (
            "alerts queue, newest 100",
            "/api/v1/alerts?limit=100".into(),
        ),
        (
            "alerts queue, critical+ last hour",
            "/api/v1/alerts?priority=critical&since=1h&limit=100".into(),
        ),
        (
            "alerts queue, rule filter",
            "/api/v1/alerts?rule=Rule%20number%2017&limit=100".into(),
        ),
        (
            "alert detail (tree, related ±5 min)",
            format!("/api/v1/alerts/{newest}"),
        ),
        ("rules", "/api/v1/rules".into()),
    ];
    println!(
        "{total} alerts stored ({:.0} MB); {RUNS} sequential requests each:",
        store.size_bytes()? as f64 / 1e6
    );
    println!("| request | p50 ms | p95 ms | max ms |\n|---|---|---|---|");
    for (name, path) in &paths {
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t = Instant::now();
            let body = agent
                .get(&format!("{base}{path}"))
                .set("Authorization", &format!("Bearer {TOKEN}"))
                .call()?
                .into_string()?;
            times.push(t.elapsed());
            std::hint::black_box(body);
        }
        times.sort();
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            ms(times[RUNS / 2]),
            ms(times[RUNS * 95 / 100]),
            ms(times[RUNS - 1])
        );
    }
    println!(
        "RSS: {} MB before the server, {} MB after serving every request above",
        rss_before / 1024,
        rss_kb() / 1024
    );
    server.shutdown();
    retention_recount(store.as_ref(), &live)?;
    Ok(())
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// What a retention run costs the overview: the tally's recount ([`Live::lower`], run by the
/// writer after retention deleted alerts) when retention took nothing the tally holds, then
/// after deleting the oldest hour of the day (the first 1/24 of the store). Wall and this
/// thread's CPU time, which does the store's queries. Deletes alerts: a kept store shrinks.
fn retention_recount(
    store: &dyn AlertStore,
    live: &peregrine_web::console::Live,
) -> Result<(), Box<dyn std::error::Error>> {
    let timed = |what: &str| -> Result<(), Box<dyn std::error::Error>> {
        let (t, cpu) = (Instant::now(), thread_cpu());
        live.lower(store)?;
        println!(
            "tally recount, {what}: {:.1} ms wall, {:.1} ms CPU",
            ms(t.elapsed()),
            ms(thread_cpu().saturating_sub(cpu))
        );
        Ok(())
    };
    timed("nothing of it deleted")?;
    let now = peregrine_store::writer::now_ns();
    let deleted = store.retain(now, Some(Duration::from_secs(23 * 3600)), None)?;
    println!("retention deleted {deleted} alerts older than 23 h");
    timed("after that")
}
