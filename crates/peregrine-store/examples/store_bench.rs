//! The alert store's benchmark (run by `bench/store.sh`): insert rate through the writer
//! thread, then search and detail latency with every alert stored.
//!
//! `store_bench DB N [insert-only]`: DB is a SQLite file (deleted first), a `postgres://` URL of an empty
//! database, or `pg` for a private PostgreSQL cluster started here (the test kit's:
//! `fsync=off`). Fills the store with N synthetic alerts shaped like real ones
//! (a Falco JSON line of ~500 bytes, a 5-process ancestry, 40 rules, 300 containers in 12
//! namespaces, tags, and an output with a few distinct words), then times each query kind
//! 200 times and prints p50/p95/max. Figures go to README; nothing here asserts a speed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use peregrine_store::{
    AlertStore, Ancestor, Container, Context, Pod, Query, Record, Retention, Writer,
};
use peregrine_testkit::services;

const RULES: usize = 40;
const CONTAINERS: usize = 300;
const NAMESPACES: usize = 12;
const PRIORITIES: [&str; 8] = [
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
];
/// One alert in this many is the rare word free text looks for.
const RARE: u64 = 10_000;
const START_NS: u64 = 1_800_000_000_000_000_000;
/// 50 alerts a second of event time: a million spans 5.5 hours.
const STEP_NS: u64 = 20_000_000;

/// A small deterministic generator (xorshift), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn container_id(c: usize) -> String {
    format!("{c:012x}{}", "0".repeat(52))
}

fn record(i: u64, rng: &mut Rng) -> Record {
    let rule = rng.below(RULES);
    let c = rng.below(CONTAINERS);
    let ns = c % NAMESPACES;
    let sev = [2usize, 3, 4, 4, 4, 5, 5, 6][rng.below(8)];
    let pid = 1_000 + rng.below(60_000) as i64;
    let word = if i % RARE == 7 {
        "zebracorn"
    } else {
        "routine"
    };
    let file = [
        "/etc/shadow",
        "/etc/passwd",
        "/root/.ssh/id_rsa",
        "/var/run/secrets/token",
    ][rng.below(4)];
    let output = format!(
        "Sensitive file opened for reading by non-trusted program (file={file} gparent=bash \
         ggparent=containerd-shim evt_type=openat user=root process=cat {word} \
         command=cat {file} pid={pid} container_id={} image=shop/api:1.{c})",
        &container_id(c)[..12]
    );
    let json = format!(
        "{{\"hostname\":\"node-{}\",\"output\":\"12:00:00.000000000: {} {output}\",\
         \"output_fields\":{{\"container.id\":\"{}\",\"evt.time\":{},\"fd.name\":\"{file}\",\
         \"proc.cmdline\":\"cat {file}\",\"proc.pid\":{pid},\"user.name\":\"root\"}},\
         \"priority\":\"{}\",\"rule\":\"Rule number {rule}\",\"source\":\"syscall\",\
         \"tags\":[\"T1003\",\"filesystem\",\"mitre_credential_access\"],\
         \"time\":\"2027-01-15T08:00:00.000000000Z\"}}",
        c % 8,
        PRIORITIES[sev],
        &container_id(c)[..12],
        START_NS + i * STEP_NS,
        PRIORITIES[sev]
    );
    let exes = [
        "/usr/bin/cat",
        "/usr/bin/python3.11",
        "/usr/bin/bash",
        "/usr/bin/containerd-shim-runc-v2",
        "/usr/lib/systemd/systemd",
    ];
    let ancestry = exes
        .iter()
        .enumerate()
        .map(|(k, e)| Ancestor {
            pid: pid - k as i64,
            ppid: pid - k as i64 - 1,
            exe: (*e).to_string(),
            cmdline: format!("{} -x arg{k}", e.rsplit('/').next().unwrap_or(e)),
            uid: 0,
            user: String::new(),
            start_ns: START_NS + i * STEP_NS - k as u64 * 1_000_000_000,
        })
        .collect();
    Record {
        // Time-ordered, as the agent's UUIDv7 ids are.
        id: format!("{i:016x}-{:012x}", rng.next() & 0xffff_ffff_ffff),
        time_ns: START_NS + i * STEP_NS,
        rule: format!("Rule number {rule}"),
        priority: PRIORITIES[sev].to_string(),
        severity: sev as u8,
        source: "syscall".into(),
        hostname: format!("node-{}", c % 8),
        tags: vec![
            "T1003".into(),
            "filesystem".into(),
            format!("mitre_tactic_{}", rule % 7),
        ],
        output,
        json,
        context: Context {
            ancestry,
            container: Some(Container {
                id: container_id(c),
                name: format!("api-{c}"),
                image: format!("shop/api:1.{c}"),
                labels: vec![
                    ("io.kubernetes.pod.name".into(), format!("api-{c}-7d9f")),
                    ("io.kubernetes.pod.namespace".into(), format!("ns-{ns}")),
                ],
                pod: Some(Pod {
                    name: format!("api-{c}-7d9f"),
                    namespace: format!("ns-{ns}"),
                    labels: vec![("app".into(), "api".into())],
                }),
            }),
        },
        refers_to: None,
    }
}

/// A one-hour window starting at a random point of the N alerts' time span.
fn window(r: &mut Rng, n: u64) -> Query {
    let since = START_NS + (r.next() % (n * STEP_NS));
    Query {
        since_ns: Some(since),
        until_ns: Some(since + 3_600_000_000_000),
        ..Query::default()
    }
}

/// Builds one query of a case from the generator.
type MakeQuery = Box<dyn Fn(&mut Rng) -> Query>;

/// Alerts inserted directly (phase 1b) and offered in the paced burst (phase 2).
const DIRECT: u64 = 50_000;
const BURST: u64 = 100_000;

/// This process's user + system CPU time, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/self/stat")
}

/// This thread's user + system CPU time.
fn thread_cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/thread-self/stat")
}

fn stat_cpu_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name; state is not a
    // number, so they are the 11th and 12th parsed here.
    let ticks = f.get(10).copied().unwrap_or(0.0) + f.get(11).copied().unwrap_or(0.0);
    ticks / 100.0
}

fn pct(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.95), at(1.0))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: store_bench DB [N]")?;
    let n: u64 = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    // `insert-only`: phases 1 and 1b, for profiling the insert (perf, callgrind).
    let insert_only = args.next().as_deref() == Some("insert-only");
    // Kept until the end: dropping it stops the cluster.
    let mut cluster = None;
    let url = if path == "pg" {
        let pg = services::postgres()?;
        let url = format!(
            "postgres://{}@127.0.0.1:{}/postgres",
            services::POSTGRES_USER,
            pg.port()
        );
        cluster = Some(pg);
        url
    } else {
        if !path.starts_with("postgres") {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
        path.clone()
    };
    let store: Arc<dyn AlertStore> = peregrine_store::open(&url)?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // 1. Insert rate: the producer offers as fast as it can and, when the channel is full,
    // waits a little and offers again (the agent would drop instead; here every record must
    // land so the search phase has N alerts).
    let writer = Writer::start(store.clone(), Retention::default())?;
    let counters = writer.counters();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut full = 0u64;
    for i in 0..n {
        let mut r = record(i, &mut rng);
        loop {
            match writer.offer(r) {
                true => break,
                false => {
                    full += 1;
                    std::thread::sleep(Duration::from_micros(200));
                    r = record(i, &mut Rng(i + 1));
                }
            }
        }
    }
    writer.finish();
    let secs = t0.elapsed().as_secs_f64();
    let inserted = counters.inserted.load(Ordering::Relaxed);
    let cpu = cpu_seconds() - cpu0;
    println!(
        "insert: {inserted} alerts in {secs:.1} s = {:.0} alerts/s wall (channel full {full} \
         times); {cpu:.1} CPU-s for producer and writer = {:.0} alerts per CPU-second",
        inserted as f64 / secs,
        inserted as f64 / cpu.max(1e-9)
    );
    println!(
        "size: {:.1} MB ({:.0} bytes/alert)",
        store.size_bytes()? as f64 / 1e6,
        store.size_bytes()? as f64 / inserted.max(1) as f64
    );

    // 1b. The store's own cost: batches as large as the writer's (or STORE_BENCH_BATCH)
    // inserted on this thread, timed by this thread's CPU clock (no producer, no channel, no
    // other process's share of the CPU).
    let batch: usize = match std::env::var("STORE_BENCH_BATCH") {
        Ok(b) => b.parse()?,
        Err(_) => peregrine_store::writer::BATCH,
    };
    let direct: Vec<Record> = (0..DIRECT).map(|k| record(n + k, &mut rng)).collect();
    let cpu0 = thread_cpu_seconds();
    let t0 = Instant::now();
    for chunk in direct.chunks(batch.max(1)) {
        store.insert(chunk)?;
    }
    let cpu = thread_cpu_seconds() - cpu0;
    println!(
        "insert, store only: {DIRECT} alerts in batches of {batch}: {:.1} s wall, {cpu:.2} CPU-s = \
         {:.0} alerts per CPU-second",
        t0.elapsed().as_secs_f64(),
        DIRECT as f64 / cpu.max(1e-9)
    );
    drop(direct);
    if insert_only {
        return Ok(());
    }

    // 2. A paced burst at 20,000/s for 5 s on top of the full store: drops are what the
    // agent would lose.
    let writer = Writer::start(store.clone(), Retention::default())?;
    let c2 = writer.counters();
    let t0 = Instant::now();
    let burst = BURST;
    for k in 0..burst {
        let due = Duration::from_secs_f64(k as f64 / 20_000.0);
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
        writer.offer(record(n + DIRECT + k, &mut rng));
    }
    writer.finish();
    println!(
        "paced 20000/s for 5 s: {} stored, {} dropped",
        c2.inserted.load(Ordering::Relaxed),
        c2.dropped.load(Ordering::Relaxed)
    );

    // 3. Queries with everything stored. PostgreSQL plans from statistics that autovacuum
    // gathers after a bulk load; here they are gathered now rather than waited for.
    if url.starts_with("postgres") {
        let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
        c.batch_execute("ANALYZE")?;
    }
    let total = store.count()?;
    println!("queries over {total} alerts (200 runs each, limit 100):");
    let end = START_NS + (n + DIRECT + BURST) * STEP_NS;
    let cases: Vec<(&str, MakeQuery)> = vec![
        ("newest page", Box::new(|_| Query::default())),
        (
            "rule",
            Box::new(|r| Query {
                rule: Some(format!("Rule number {}", r.below(RULES))),
                ..Query::default()
            }),
        ),
        (
            "min priority critical",
            Box::new(|_| Query {
                min_severity: Some(2),
                ..Query::default()
            }),
        ),
        (
            "container id",
            Box::new(|r| Query {
                container: Some(container_id(r.below(CONTAINERS))),
                ..Query::default()
            }),
        ),
        (
            "namespace",
            Box::new(|r| Query {
                namespace: Some(format!("ns-{}", r.below(NAMESPACES))),
                ..Query::default()
            }),
        ),
        (
            "tag",
            Box::new(|r| Query {
                tag: Some(format!("mitre_tactic_{}", r.below(7))),
                ..Query::default()
            }),
        ),
        (
            "text, common word",
            Box::new(|_| Query {
                text: Some("shadow".into()),
                ..Query::default()
            }),
        ),
        (
            "text, rare word",
            Box::new(|_| Query {
                text: Some("zebracorn".into()),
                ..Query::default()
            }),
        ),
        (
            "last hour",
            Box::new(move |_| Query {
                since_ns: Some(end - 3_600_000_000_000),
                ..Query::default()
            }),
        ),
        (
            "rule + namespace + 1 h window",
            Box::new(move |r| {
                let since = START_NS + (r.next() % (n * STEP_NS));
                Query {
                    rule: Some(format!("Rule number {}", r.below(RULES))),
                    namespace: Some(format!("ns-{}", r.below(NAMESPACES))),
                    since_ns: Some(since),
                    until_ns: Some(since + 3_600_000_000_000),
                    ..Query::default()
                }
            }),
        ),
        (
            "old 1 h window + min priority critical",
            Box::new(move |r| Query {
                min_severity: Some(2),
                ..window(r, n)
            }),
        ),
        (
            "old 1 h window + host",
            Box::new(move |r| Query {
                hostname: Some(format!("node-{}", r.below(8))),
                ..window(r, n)
            }),
        ),
        (
            "old 1 h window + container id",
            Box::new(move |r| Query {
                container: Some(container_id(r.below(CONTAINERS))),
                ..window(r, n)
            }),
        ),
        (
            "old 1 h window + container name",
            Box::new(move |r| Query {
                container: Some(format!("api-{}", r.below(CONTAINERS))),
                ..window(r, n)
            }),
        ),
        (
            "old 1 h window + tag",
            Box::new(move |r| Query {
                tag: Some(format!("mitre_tactic_{}", r.below(7))),
                ..window(r, n)
            }),
        ),
        (
            "old 1 h window + text, common word",
            Box::new(move |r| Query {
                text: Some("shadow".into()),
                ..window(r, n)
            }),
        ),
        (
            "old 1 h window + text, rare word",
            Box::new(move |r| Query {
                text: Some("zebracorn".into()),
                ..window(r, n)
            }),
        ),
        (
            "deep cursor (page at a random point)",
            Box::new(move |r| Query {
                before_seq: Some(1 + (r.next() % total) as i64),
                ..Query::default()
            }),
        ),
        (
            "rare rule-less combination: host + priority",
            Box::new(|r| Query {
                hostname: Some(format!("node-{}", r.below(8))),
                min_severity: Some(2),
                ..Query::default()
            }),
        ),
    ];
    let mut rng = Rng(42);
    for (name, make) in &cases {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..200 {
            let q = Query {
                limit: 100,
                ..make(&mut rng)
            };
            let t = Instant::now();
            rows = store.search(&q)?.alerts.len();
            times.push(t.elapsed());
        }
        let (p50, p95, max) = pct(times);
        println!(
            "  {name:<45} p50 {p50:7.2} ms  p95 {p95:7.2} ms  max {max:7.2} ms  ({rows} rows)"
        );
    }
    // Detail: the alert, its container's alerts within ±5 min, its responses.
    let mut times = Vec::new();
    for _ in 0..200 {
        let i = rng.next() % n;
        let page = store.search(&Query {
            before_seq: Some(i as i64 + 2),
            limit: 1,
            ..Query::default()
        })?;
        let Some(id) = page.alerts.first().map(|a| a.record.id.clone()) else {
            continue;
        };
        let t = Instant::now();
        if let Some(a) = store.get(&id)? {
            store.related(&a, 300_000_000_000, 100)?;
            store.responses(&id)?;
        }
        times.push(t.elapsed());
    }
    let (p50, p95, max) = pct(times);
    println!(
        "  {:<45} p50 {p50:7.2} ms  p95 {p95:7.2} ms  max {max:7.2} ms",
        "detail (get + related ±5 min + responses)"
    );
    let t = Instant::now();
    let hits = store.rule_hits()?;
    println!(
        "  rule hits ({} rules): {:.2} ms",
        hits.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(store);
    drop(cluster.take());
    Ok(())
}
