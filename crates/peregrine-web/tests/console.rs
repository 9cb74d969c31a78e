//! The console's routes on a real server on loopback over a real SQLite store: pages send a
//! browser without a session to the login page while the login page and assets need no
//! credential; the overview counts the window's alerts by priority against the previous
//! period, with the agent's events, drops and time to detect; the live stream sends each
//! stored alert to a connected client.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use peregrine_config::ConsoleConfig;
use peregrine_store::{AlertStore, Hooks, Record, Retention, SqliteStore, Writer};
use peregrine_web::alerts_api::Api;
use peregrine_web::console::Live;
use peregrine_web::{Collect, Extras, MetricsSnapshot, Versions, WebConfig, WebServer};
use serde_json::Value;

const ADMIN: &str = "admin-token-0123456789";
const S: u64 = 1_000_000_000;

fn now_ns() -> u64 {
    peregrine_store::writer::now_ns()
}

fn record(i: u64, rule: &str, severity: u8, time_ns: u64) -> Record {
    Record {
        id: format!("00000000-0000-4000-8000-{i:012}"),
        time_ns,
        rule: rule.into(),
        priority: ["Emergency", "Alert", "Critical", "Error", "Warning"][usize::from(severity)]
            .into(),
        severity,
        source: "syscall".into(),
        hostname: "node-1".into(),
        tags: vec!["T1003".into()],
        output: format!("event {i}"),
        json: "{}".into(),
        ..Record::default()
    }
}

struct Site {
    server: WebServer,
    live: Arc<Live>,
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

impl Site {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.local_addr())
    }
}

fn counters() -> MetricsSnapshot {
    let mut ttd = peregrine_outputs::counters::LatencySnapshot {
        count: 10,
        sum_ns: 0,
        max_ns: 0,
        buckets: vec![0; peregrine_outputs::counters::DETECT_BUCKETS.len() + 1],
    };
    // Ten alerts, all between 1 and 2.5 ms.
    ttd.buckets[2] = 10;
    MetricsSnapshot {
        capture: Some(peregrine_capture::Counters {
            events: 5_000,
            drops_ring_full: 7,
            ..Default::default()
        }),
        outputs: Some(peregrine_outputs::Snapshot {
            time_to_detect: ttd,
            ..Default::default()
        }),
        ..MetricsSnapshot::default()
    }
}

fn start(batch: &[Record]) -> Site {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("alerts.db")).expect("store"));
    store.insert(batch).expect("insert");
    let cfg = WebConfig {
        listen_address: "127.0.0.1".into(),
        listen_port: 0,
        prometheus_metrics_enabled: false,
        ..WebConfig::default()
    };
    let live = Arc::new(Live::new());
    let versions = Versions::peregrine(&peregrine_rules::version::Version::new(0, 62, 0));
    let extras = Extras {
        console: Some(ConsoleConfig {
            enabled: true,
            token: Some(ADMIN.into()),
            ..ConsoleConfig::default()
        }),
        alerts: Some(Api {
            store: store.clone(),
            rules: Arc::new(Vec::new),
        }),
        live: Some(live.clone()),
        counters: Some(Arc::new(counters) as Arc<dyn Collect>),
        ..Extras::default()
    };
    let server =
        WebServer::start_pending_with(&cfg, &versions, None, extras).expect("server starts");
    server.set_ready();
    Site {
        server,
        live,
        store,
        _dir: dir,
    }
}

/// (status, a header, body) without following redirects.
fn get(url: &str, token: Option<&str>, header: &str) -> (u16, Option<String>, String) {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = resp.status();
    let h = resp.header(header).map(str::to_string);
    (status, h, resp.into_string().expect("body"))
}

#[test]
fn pages_answer_401_with_the_login_form_and_assets_need_no_credential() {
    let site = start(&[]);
    for page in [
        "/console",
        "/console/",
        "/console/alerts",
        "/console/alerts/x",
    ] {
        let (status, auth, body) = get(&site.url(page), None, "WWW-Authenticate");
        assert_eq!(status, 401, "{page}");
        assert!(auth.is_some_and(|a| a.starts_with("Bearer")), "{page}");
        assert!(body.contains("id=\"login\""), "{page}: no login form");
    }
    // The API stays 401 for a client without a credential.
    for api in ["/api/v1/overview", "/api/v1/alerts/stream"] {
        assert_eq!(get(&site.url(api), None, "Location").0, 401, "{api}");
    }
    let (status, csp, body) = get(&site.url("/console/login"), None, "Content-Security-Policy");
    assert_eq!(status, 200);
    assert!(body.contains("id=\"login\""));
    assert!(csp.is_some_and(|c| c.contains("script-src 'self'") && !c.contains("unsafe")));
    let (status, ctype, body) = get(&site.url("/console/assets/app.js"), None, "Content-Type");
    assert_eq!(status, 200);
    assert!(ctype.is_some_and(|c| c.starts_with("text/javascript")));
    assert!(body.contains("EventSource"));
    assert_eq!(
        get(&site.url("/console/assets/style.css"), None, "Location").0,
        200
    );
    // Nothing else under the assets is served without a credential (or at all).
    assert_eq!(
        get(&site.url("/console/assets/x.js"), None, "Location").0,
        404
    );
    // With a credential, each page is the shell.
    for page in [
        "/console/",
        "/console/rules",
        "/console/debug",
        "/console/alerts/abc",
    ] {
        let (status, _, body) = get(&site.url(page), Some(ADMIN), "Location");
        assert_eq!(status, 200, "{page}");
        assert!(body.contains("/console/assets/app.js"), "{page}");
    }
}

fn wait_seeded(site: &Site) {
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while !site.live.is_seeded() {
        assert!(std::time::Instant::now() < end, "the tally was not seeded");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn overview_counts_the_window_against_the_previous_one() {
    let now = now_ns();
    let batch = [
        record(1, "Read sensitive file", 2, now - 10 * 60 * S),
        record(2, "Read sensitive file", 2, now - 5 * 60 * S),
        record(3, "Shell in container", 4, now - 60 * S),
        // The previous hour.
        record(4, "Shell in container", 4, now - 90 * 60 * S),
    ];
    let site = start(&batch);
    // Read from the store, then from the tally once it has counted the store: the same.
    let first = get(&site.url("/api/v1/overview?window=1h"), Some(ADMIN), "x").2;
    wait_seeded(&site);
    let same = |body: &str| {
        let mut v: Value = serde_json::from_str(body).expect("json");
        for k in ["events_per_s", "live_clients"] {
            v.as_object_mut().map(|o| o.remove(k));
        }
        v
    };
    let (status, _, body) = get(&site.url("/api/v1/overview?window=1h"), Some(ADMIN), "x");
    assert_eq!(same(&first), same(&body));
    assert_eq!(status, 200, "{body}");
    let o: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(o["window"], "1h");
    assert_eq!(o["buckets"].as_array().map(Vec::len), Some(60));
    assert_eq!(
        (o["total"].as_u64(), o["previous_total"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(o["trend_pct"].as_f64(), Some(200.0));
    let mut per_sev = [0u64; 8];
    for b in o["buckets"].as_array().into_iter().flatten() {
        for (i, n) in b["counts"].as_array().into_iter().flatten().enumerate() {
            per_sev[i] += n.as_u64().unwrap_or(0);
        }
    }
    assert_eq!(per_sev, [0, 0, 2, 0, 1, 0, 0, 0]);
    assert_eq!(o["top_rules"][0]["rule"], "Read sensitive file");
    assert_eq!(o["top_rules"][0]["alerts"], 2);
    assert_eq!(o["top_rules"][1]["alerts"], 1);
    // The agent's counters.
    assert_eq!(o["events_total"], 5_000);
    assert_eq!(o["drops_total"], 7);
    let p50 = o["ttd_p50_ms"].as_f64().expect("p50");
    assert!((1.0..=2.5).contains(&p50), "{p50}");
    // The 24-hour window holds all four in 96 buckets.
    let (_, _, body) = get(&site.url("/api/v1/overview"), Some(ADMIN), "x");
    let o: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (o["window"].as_str(), o["total"].as_u64()),
        (Some("24h"), Some(4))
    );
    assert_eq!(o["buckets"].as_array().map(Vec::len), Some(96));
    // An alert stored now is counted at once.
    site.live
        .publish(&[record(5, "Shell in container", 4, now_ns())]);
    let (_, _, body) = get(&site.url("/api/v1/overview?window=1h"), Some(ADMIN), "x");
    let o: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(o["total"].as_u64(), Some(4));
    assert_eq!(o["top_rules"][1]["alerts"], 2);
    let (status, _, body) = get(&site.url("/api/v1/overview?window=2d"), Some(ADMIN), "x");
    assert_eq!(status, 400);
    assert!(body.contains("window:"), "{body}");
}

#[test]
fn the_stream_sends_each_stored_alert_to_a_connected_client() {
    let site = start(&[]);
    let mut s = TcpStream::connect(site.server.local_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /api/v1/alerts/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"
    )
    .expect("request");
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("head");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("text/event-stream"),
        "{head}"
    );
    // The head is sent once the handler subscribed: what is published now reaches us.
    assert_eq!(site.live.clients(), 1);
    let mut response = record(9, "kill", 4, now_ns());
    response.source = "response".into();
    site.live
        .publish(&[response, record(8, "Read sensitive file", 2, now_ns())]);
    let mut event = None;
    let mut data = None;
    while data.is_none() {
        let mut line = String::new();
        r.read_line(&mut line).expect("event");
        if let Some(e) = line.strip_prefix("event: ") {
            event = Some(e.trim().to_string());
        }
        if let Some(d) = line.strip_prefix("data: ") {
            data = Some(d.trim().to_string());
        }
    }
    let row: Value = serde_json::from_str(&data.unwrap_or_default()).expect("row json");
    // The response record is not a queue line: the first event is the alert.
    assert_eq!(event.as_deref(), Some("alert"));
    assert_eq!(row["id"], "00000000-0000-4000-8000-000000000008");
    assert_eq!(row["rule"], "Read sensitive file");
    assert_eq!(row["priority"], "Critical");
}

/// 4 KB of JSON that does not compress, so that size retention has rows to weigh.
fn big(i: u64, time_ns: u64) -> Record {
    let rules = [
        "Read sensitive file",
        "Shell in container",
        "Write below etc",
    ];
    let mut r = record(
        i,
        rules[(i % 3) as usize],
        [2, 4, 3][(i % 3) as usize],
        time_ns,
    );
    r.json = (0..500)
        .map(|k| format!("{:08x}", (i * 7919 + k) * 2654435761 % 4294967291))
        .collect();
    r
}

/// The overview of `window` against the store's own counts of the same buckets: every
/// bucket per priority, the previous period, the top rules. Returns (total, previous).
fn overview_agrees_with_the_store(site: &Site, window: &str) -> (u64, u64) {
    let (status, _, body) = get(
        &site.url(&format!("/api/v1/overview?window={window}")),
        Some(ADMIN),
        "x",
    );
    assert_eq!(status, 200, "{body}");
    let o: Value = serde_json::from_str(&body).expect("json");
    let since = o["since_ns"].as_u64().expect("since");
    let bucket = o["bucket_ns"].as_u64().expect("bucket");
    let buckets = o["buckets"].as_array().expect("buckets");
    let n = buckets.len();
    let top = peregrine_web::console::TOP_RULES;
    let cur = site
        .store
        .time_counts(since, bucket, n, top)
        .expect("counts");
    let prev = site
        .store
        .time_counts(since - n as u64 * bucket, bucket, n, 0)
        .expect("counts");
    let shown: Vec<Vec<u64>> = buckets
        .iter()
        .map(|b| {
            b["counts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .collect()
        })
        .collect();
    let stored: Vec<Vec<u64>> = cur.buckets.iter().map(|b| b.to_vec()).collect();
    assert_eq!(shown, stored, "{window}: buckets differ from the store's");
    let sum = |b: &[[u64; 8]]| b.iter().flatten().sum::<u64>();
    assert_eq!(o["total"].as_u64(), Some(sum(&cur.buckets)), "{window}");
    assert_eq!(
        o["previous_total"].as_u64(),
        Some(sum(&prev.buckets)),
        "{window}"
    );
    let top_shown: Vec<(String, u64)> = o["top_rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["rule"].as_str().unwrap_or_default().to_string(),
                r["alerts"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(top_shown, cur.top_rules, "{window}: top rules");
    (sum(&cur.buckets), sum(&prev.buckets))
}

/// Runs one retention pass through a writer with the console's hooks, as the agent does,
/// and waits for the hook; returns how many alerts it deleted.
fn retain(site: &Site, retention: Retention) -> u64 {
    let (tx, rx) = std::sync::mpsc::channel();
    let lower = site.live.on_retained();
    let hooks = Hooks {
        stored: Some(site.live.on_stored()),
        retained: Some(Arc::new(move |store: &dyn AlertStore, n: u64| {
            lower(store, n);
            let _ = tx.send(n);
        })),
    };
    let retention = Retention {
        every: Duration::from_secs(3600),
        ..retention
    };
    // Retention runs as the writer starts.
    let w = Writer::start_hooked(site.store.clone(), retention, hooks).expect("writer");
    let n = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("retention deleted nothing");
    w.finish();
    n
}

/// Retention by age, then by size, deletes alerts the overview's tally counted (seeded from
/// the store and counted live): after each, every bucket of both windows, the previous
/// periods and the top rules are the store's counts again.
#[test]
fn retention_lowers_the_overview_to_what_the_store_holds() {
    const MIN: u64 = 60 * S;
    let now = now_ns();
    // 400 alerts 6 minutes apart over the last 40 hours, oldest first, in the store when the
    // console starts (the seed counts them); then 20 stored through the writer now (counted
    // live).
    let at = |i: u64| now - (400 - i) * 6 * MIN + 30 * S;
    let older: Vec<Record> = (0..400).map(|i| big(i, at(i))).collect();
    let site = start(&older);
    wait_seeded(&site);
    let w = Writer::start_hooked(
        site.store.clone(),
        Retention::default(),
        Hooks {
            stored: Some(site.live.on_stored()),
            retained: None,
        },
    )
    .expect("writer");
    for i in 400..420 {
        assert!(w.offer(big(i, now_ns())));
    }
    w.finish();
    let (total, previous) = overview_agrees_with_the_store(&site, "24h");
    assert_eq!(total + previous, 420);
    overview_agrees_with_the_store(&site, "1h");

    // Age: what is older than 30 hours goes (the previous period's older part).
    let deleted = retain(
        &site,
        Retention {
            max_age: Some(Duration::from_secs(30 * 3600)),
            ..Retention::default()
        },
    );
    assert_eq!(deleted, 100);
    let (total, previous) = overview_agrees_with_the_store(&site, "24h");
    assert_eq!(total + previous, 320);
    assert_eq!(site.store.count().expect("count"), 320);

    // Size: the oldest stored go until 1 MB is left, into the current day.
    let deleted = retain(
        &site,
        Retention {
            max_bytes: Some(1_000_000),
            ..Retention::default()
        },
    );
    let left = site.store.count().expect("count");
    assert!(
        deleted > 0 && left > 0 && deleted + left == 320,
        "{deleted} + {left}"
    );
    let (total, previous) = overview_agrees_with_the_store(&site, "24h");
    assert_eq!(total + previous, left);
    assert_eq!(previous, 0, "the size cut reaches into the current day");
    overview_agrees_with_the_store(&site, "1h");
}
