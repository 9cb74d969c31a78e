//! Sustained delivery through the spool (bench/outputs.sh runs it; not a CI test: the figures
//! depend on the machine, its disk and its load):
//!
//! 1. **into the spool**: N alerts enqueued as fast as the caller can, to an http output
//!    whose destination is down, so every alert goes to disk and stays there; the rate is
//!    N / time until the last one is committed.
//! 2. **to NATS**: the same burst through `nats_output` (core NATS, then JetStream with
//!    acknowledgements) to a private nats-server; rate until the last is delivered.
//! 3. **latency at a healthy destination**: alerts paced at a steady rate to NATS, each
//!    stamped with its enqueue time; a subscriber takes the time of arrival, p50/p99/max.
//!
//!   cargo bench -p peregrine-outputs --bench delivery [-- N RATE SECONDS]

use peregrine_outputs::http::{HttpConfig, HttpOutput};
use peregrine_outputs::nats_output::{NatsConfig, NatsOutput};
use peregrine_outputs::spool::Spool;
use peregrine_outputs::{
    Alert, Dispatcher, FormatOptions, Output, OutputSpec, OutputValue, Priority, RateLimit,
};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn alert(n: u64) -> Alert {
    Alert {
        time_ns: now_ns(),
        rule: "Read sensitive file untrusted".into(),
        priority: Priority::Warning,
        source: "syscall".into(),
        hostname: "node-1".into(),
        tags: vec!["T1555".into(), "filesystem".into(), "host".into()],
        output: "Sensitive file opened for reading by non-trusted program (file=/etc/shadow \
                 process=cat command=cat /etc/shadow user=root)"
            .into(),
        output_fields: vec![
            ("fd.name".into(), OutputValue::Str("/etc/shadow".into())),
            ("proc.name".into(), OutputValue::Str("cat".into())),
            ("evt.num".into(), OutputValue::UInt(n)),
        ],
        extra_fields: Vec::new(),
    }
}

fn spool_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("peregrine-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Enqueues `n` alerts at full speed and waits until `done(snapshot)` reaches `n`; alerts/s.
fn burst(
    name: &str,
    output: Box<dyn Output>,
    n: u64,
    done: fn(&peregrine_outputs::OutputSnapshot) -> u64,
) -> f64 {
    let dir = spool_dir(name);
    let spool = Spool::open(&dir, output.name(), 1 << 32).expect("spool");
    let d = Dispatcher::new(
        FormatOptions {
            json_output: true,
            ..FormatOptions::default()
        },
        vec![OutputSpec {
            capacity: usize::try_from(n).unwrap_or(usize::MAX),
            spool: Some(spool),
            ..OutputSpec::new(output)
        }],
        RateLimit::default(),
    )
    .expect("dispatcher");
    let start = Instant::now();
    for i in 0..n {
        d.enqueue(alert(i));
    }
    let enqueued = start.elapsed();
    while done(&d.snapshot().outputs[0]) < n {
        std::thread::sleep(Duration::from_millis(1));
    }
    let took = start.elapsed();
    let s = d.snapshot().outputs[0].clone();
    let rate = n as f64 / took.as_secs_f64();
    println!(
        "{name:<28} {n} alerts in {:.3} s = {rate:>8.0} alerts/s (enqueue {:.3} s; spooled {}, \
         delivered {}, drops {})",
        took.as_secs_f64(),
        enqueued.as_secs_f64(),
        s.spooled,
        s.delivered,
        s.dropped_queue_full + s.spool_dropped
    );
    drop(d.shutdown(Duration::from_secs(5)));
    let _ = std::fs::remove_dir_all(&dir);
    rate
}

fn nats(url: &str, jetstream: bool) -> Box<dyn Output> {
    Box::new(
        NatsOutput::new(NatsConfig {
            url: url.into(),
            subject: "bench.{priority}".into(),
            jetstream,
            timeout: Duration::from_secs(5),
            ..NatsConfig::default()
        })
        .expect("nats output"),
    )
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(50_000);
    let rate = args.get(1).copied().unwrap_or(2_000);
    let secs = args.get(2).copied().unwrap_or(10);

    // Nothing listens on a port just released: every attempt fails, everything stays spooled.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let http = HttpOutput::new(HttpConfig {
        url: format!("http://{dead}/"),
        ..HttpConfig::default()
    })
    .expect("http");
    burst("into the spool (http down)", Box::new(http), n, |s| {
        s.spooled
    });

    let server = peregrine_testkit::services::nats().expect("nats-server starts");
    let url = format!("nats://{}", server.addr());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt.block_on(async {
        let c = async_nats::connect(url.as_str()).await.expect("connect");
        async_nats::jetstream::new(c.clone())
            .create_stream(async_nats::jetstream::stream::Config {
                name: "BENCH".into(),
                subjects: vec!["bench.>".into()],
                ..Default::default()
            })
            .await
            .expect("stream");
        c
    });
    burst("to NATS (core)", nats(&url, false), n, |s| s.delivered);
    burst("to NATS (JetStream, acked)", nats(&url, true), n, |s| {
        s.delivered
    });

    // Latency: a subscriber stamps arrivals; the alert's time is its enqueue time.
    let total = rate * secs;
    let latencies = rt.block_on(async {
        use futures_util::StreamExt;
        let mut sub = client.subscribe("bench.>").await.expect("subscribe");
        client.flush().await.expect("flush");
        let dir = spool_dir("latency");
        let d = Dispatcher::new(
            FormatOptions {
                json_output: true,
                ..FormatOptions::default()
            },
            vec![OutputSpec {
                spool: Some(Spool::open(&dir, "nats", 1 << 32).expect("spool")),
                ..OutputSpec::new(nats(&url, true))
            }],
            RateLimit::default(),
        )
        .expect("dispatcher");
        let feeder = std::thread::spawn(move || {
            let start = Instant::now();
            for i in 0..total {
                let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                d.enqueue(alert(i));
            }
            d
        });
        let mut lat = Vec::with_capacity(total as usize);
        while (lat.len() as u64) < total {
            let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(30), sub.next()).await
            else {
                break;
            };
            let arrived = now_ns();
            let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("JSON");
            let t = v["time"].as_str().unwrap_or_default().to_string();
            lat.push(arrived.saturating_sub(parse_ns(&t)));
        }
        let d = feeder.join().expect("feeder");
        drop(d.shutdown(Duration::from_secs(5)));
        let _ = std::fs::remove_dir_all(&dir);
        lat
    });
    let mut lat = latencies;
    lat.sort_unstable();
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] as f64 / 1e6;
    println!(
        "latency enqueue → NATS subscriber (JetStream, acked, spooled) at {rate}/s for {secs} s: \
         {} alerts, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        q(0.5),
        q(0.99),
        *lat.last().unwrap_or(&0) as f64 / 1e6
    );
    drop(server);
}

/// `2026-11-28T21:05:03.123456789Z` → ns since the epoch.
fn parse_ns(t: &str) -> u64 {
    let p = |r: std::ops::Range<usize>| t.get(r).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let (y, mo, d) = (p(0..4), p(5..7), p(8..10));
    let (h, mi, s, ns) = (p(11..13), p(14..16), p(17..19), p(20..29));
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000_000 + ns) as u64
}
