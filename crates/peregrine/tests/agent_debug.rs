//! The console's debug API through the binary, as root on the live kernel: a thread of this
//! test opens a marker file in a loop and `/api/v1/debug/events?filter=fd.name=MARKER` hands
//! back those very opens with their fields (the same through a macro of the loaded rules);
//! a filter that does not compile is a 400 naming its column; drops, rule latency and
//! container metadata answer; nothing answers without the token.

mod e2e_harness;

use e2e_harness::{scratch, Agent};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "debug-test-admin-token-0123";
/// Generous, for a loaded machine: only decides when a figure counts as missing.
const DEADLINE: Duration = Duration::from_secs(20);

/// `GET path` with an optional bearer token: (status, raw body).
fn get(addr: &str, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    e2e_harness::http(addr, "GET", path, token, None)
}

fn json(addr: &str, path: &str) -> (u16, Value) {
    let (status, body) = get(addr, path, Some(TOKEN)).expect("an answer");
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
    )
}

/// Percent-encodes a query value (every byte but unreserved ones).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_debug_api_samples_live_events_and_reports_drops_latency_and_metadata() {
    if !peregrine_testkit::live(
        "the_debug_api_samples_live_events_and_reports_drops_latency_and_metadata",
    ) {
        return;
    }
    let dir = scratch("debug-api");
    let marker = dir.join("debug-marker");
    std::fs::write(&marker, "x").expect("marker");
    let marker_name = marker.display().to_string();
    // The rule names the marker, so the kernel delivers (does not shed) its opens; it never
    // fires (no such process), so what the sample shows is the tap's doing.
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "
- macro: marker_opened
  condition: evt.type in (open, openat, openat2) and fd.name = {marker_name}
- rule: Marker opened by nobody
  desc: names the marker so that its opens reach the engine
  condition: marker_opened and proc.name = no-such-process
  output: never (file=%fd.name)
  priority: NOTICE
"
        ),
    )
    .expect("rules");
    let config = dir.join("falco.yaml");
    std::fs::write(
        &config,
        format!(
            "webserver: {{enabled: true, listen_address: 127.0.0.1, listen_port: 0, \
             prometheus_metrics_enabled: true}}\nmetrics: {{enabled: true}}\n\
             console: {{enabled: true, token: {TOKEN}}}\n"
        ),
    )
    .expect("config");
    let cfg = config.display().to_string();
    let agent = Agent::start(&rules, &["-c", &cfg, "-o", "watch_config_files=false"]);
    let addr = agent.web_addr();

    // Opens of the marker, every 10 ms, from this process, until the test ends.
    let stop = Arc::new(AtomicBool::new(false));
    let opener = {
        let (stop, marker) = (stop.clone(), marker.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::File::open(&marker);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    let path = format!(
        "/api/v1/debug/events?filter={}&limit=5&timeout_ms=5000",
        enc(&format!("fd.name={marker_name}"))
    );
    let (status, v) = json(&addr, &path);
    assert_eq!(status, 200, "{v}");
    let events = v["events"].as_array().expect("events");
    assert_eq!(events.len(), 5, "{v}");
    // Each open is followed by the other syscalls on its fd (std's fcntl, the close).
    assert!(events.iter().any(|e| e["type"] == "openat"), "{v}");
    for e in events {
        assert_eq!(e["fields"]["fd.name"], marker_name.as_str(), "{e}");
        assert_eq!(e["fields"]["evt.type"], e["type"], "{e}");
        assert_eq!(e["dir"], "<", "{e}");
        assert_eq!(
            e["fields"]["proc.pid"].as_u64(),
            Some(u64::from(std::process::id())),
            "{e}"
        );
        assert!(e["ts"].as_u64().is_some_and(|t| t > 0), "{e}");
    }
    assert!(v["matched"].as_u64().is_some_and(|n| n >= 5), "{v}");
    assert!(
        v["examined"].as_u64() >= v["matched"].as_u64(),
        "examined counts every event looked at: {v}"
    );

    // A macro of the loaded rules in the filter.
    let path = format!(
        "/api/v1/debug/events?filter={}&limit=2&timeout_ms=5000",
        enc("marker_opened and not proc.name = no-such-process")
    );
    let (status, v) = json(&addr, &path);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["events"].as_array().map(Vec::len), Some(2), "{v}");

    // Filters that do not compile: 400 at the column.
    let bad = "fd.name = /x and proc.nosuch = 1";
    let (status, v) = json(&addr, &format!("/api/v1/debug/events?filter={}", enc(bad)));
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["column"].as_u64(), Some(18), "{v}");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    let (status, v) = json(
        &addr,
        &format!(
            "/api/v1/debug/events?filter={}",
            enc("fd.name=/x and no_macro")
        ),
    );
    assert_eq!((status, v["column"].as_u64()), (400, Some(16)), "{v}");

    // The server-sent events variant ends with the counts.
    let path = format!(
        "/api/v1/debug/events/stream?filter={}&limit=2&timeout_ms=5000",
        enc(&format!("fd.name={marker_name}"))
    );
    let (status, body) = get(&addr, &path, Some(TOKEN)).expect("stream");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.matches("event: sample").count(), 2, "{body}");
    assert!(body.contains("event: end"), "{body}");

    // Drops per CPU, events/s, rule latency and metadata (the snapshot is published each
    // second: polled).
    let deadline = Instant::now() + DEADLINE;
    let (drops, rules_doc) = loop {
        let (_, d) = json(&addr, "/api/v1/debug/drops");
        let (_, r) = json(&addr, "/api/v1/debug/rules");
        let ready = d["cpus"].as_array().is_some_and(|c| !c.is_empty())
            && d["events_per_sec"].as_f64().is_some_and(|e| e > 0.0)
            && r["rules"].as_array().is_some_and(|r| !r.is_empty());
        if ready || Instant::now() >= deadline {
            break (d, r);
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    // One entry per possible CPU, as the kernel's per-CPU map holds them.
    let cpus = drops["cpus"].as_array().expect("cpus");
    assert!(!cpus.is_empty(), "{drops}");
    let per_cpu: u64 = cpus.iter().filter_map(|c| c["events"].as_u64()).sum();
    assert_eq!(drops["total"]["events"].as_u64(), Some(per_cpu), "{drops}");
    assert!(drops["total"]["causes"]["ring_full"].is_u64(), "{drops}");
    assert!(
        drops["events_per_sec"].as_f64().is_some_and(|e| e > 0.0),
        "{drops}"
    );
    let rule = &rules_doc["rules"][0];
    assert_eq!(rule["rule"], "Marker opened by nobody", "{rules_doc}");
    assert!(
        rule["samples"].as_u64().is_some_and(|n| n > 0),
        "{rules_doc}"
    );
    let (p50, p99) = (rule["p50_ns"].as_u64(), rule["p99_ns"].as_u64());
    assert!(p50.is_some() && p50 <= p99, "{rules_doc}");
    let (status, m) = json(&addr, "/api/v1/debug/metadata");
    assert_eq!(status, 200, "{m}");
    assert!(m["containers"].is_array() && m["pending"].is_u64(), "{m}");
    let (_, page) = get(&addr, "/metrics", Some(TOKEN)).expect("metrics");
    assert!(
        page.contains("peregrine_rule_evaluation_seconds_count{rule=\"Marker opened by nobody\"}"),
        "{page}"
    );

    // Nothing without the token.
    for p in [
        "/api/v1/debug/events?filter=evt.type%3Dopenat",
        "/api/v1/debug/events/stream?filter=evt.type%3Dopenat",
        "/api/v1/debug/drops",
        "/api/v1/debug/rules",
        "/api/v1/debug/metadata",
    ] {
        assert_eq!(get(&addr, p, None).map(|r| r.0), Some(401), "{p}");
    }
    stop.store(true, Ordering::Relaxed);
    let _ = opener.join();
    assert!(agent.stop().success());
}
