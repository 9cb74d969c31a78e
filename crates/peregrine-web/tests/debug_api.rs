//! The debug API on a real server on loopback, over a real engine whose pipeline a thread
//! feeds with kernel-format records: the event sample hands back the events its filter
//! (a macro of the loaded rules included) matches, with their fields; a filter that does not
//! compile is a 400 at its column; the snapshot endpoints answer; a read-only token reads and
//! no credential gets 401.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peregrine_config::ConsoleConfig;
use peregrine_engine::tap::Tap;
use peregrine_engine::{CountingSink, Engine, EngineHandle, Pipeline, RuleLatency, Settings};
use peregrine_event::builder::RecordBuilder;
use peregrine_rules::Loader;
use peregrine_state::StateConfig;
use peregrine_web::debug_api::{Api, DebugSnapshot, RuleTiming};
use peregrine_web::{Extras, Versions, WebConfig, WebServer};
use serde_json::Value;

const ADMIN: &str = "admin-token-0123456789";
const READER: &str = "reader-token-0123456789";
const MARKER: &str = "/tmp/debug-api-marker";

const RULES: &str = "
- macro: marker_opened
  condition: evt.type = openat and fd.name = /tmp/debug-api-marker
- rule: Marker
  desc: t
  condition: marker_opened and proc.name = nobody
  output: o
  priority: INFO
";

fn openat(ts: u64, fd: i64, name: &str) -> Vec<u8> {
    RecordBuilder::syscall("openat")
        .and_then(|b| b.ts(ts).thread(42, 42).arg("fd", fd))
        .and_then(|b| b.arg("dirfd", -100i64))
        .and_then(|b| b.arg("name", name))
        .and_then(|b| b.arg("flags", 0u64))
        .expect("openat record")
        .build()
}

struct Site {
    server: WebServer,
    stop: Arc<AtomicBool>,
    feeder: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
    }
}

fn start() -> Site {
    let mut l = Loader::new();
    assert!(l.load_str("rules.yaml", RULES));
    let handle = EngineHandle::new(Engine::new(l.finish().0, Settings::default()));
    let tap = Arc::new(Tap::new());
    let mut latency = RuleLatency::default();
    latency.record(250);
    let snapshot = Arc::new(Mutex::new(DebugSnapshot {
        now_ns: 2_000_000_000,
        cpus: vec![peregrine_capture::Counters {
            events: 7,
            drops_ring_full: 2,
            ..Default::default()
        }],
        events_per_sec: 7.0,
        latency_sample: 64,
        rules: vec![RuleTiming {
            name: "Marker".into(),
            latency,
        }],
        ..Default::default()
    }));
    // The agent's loop, in small: every event through the pipeline, the tap included; opens
    // of the marker and of another file, alternately.
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (handle, tap, stop) = (handle.clone(), tap.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut pipe = Pipeline::with_handle(
                handle,
                StateConfig {
                    proc_root: None,
                    ..StateConfig::default()
                },
            );
            pipe.set_tap(tap);
            let mut sink = CountingSink::default();
            let mut ts = 1;
            while !stop.load(Ordering::Relaxed) {
                for name in [MARKER, "/etc/hosts"] {
                    ts += 1;
                    pipe.process_record(&openat(ts, 3, name), 0, &mut sink);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
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
            token: Some(ADMIN.into()),
            read_only_token: Some(READER.into()),
            ..ConsoleConfig::default()
        }),
        debug: Some(Api {
            engine: handle,
            tap,
            snapshot,
        }),
        ..Extras::default()
    };
    let server = WebServer::start_pending_with(&cfg, &versions, None, extras).expect("starts");
    server.set_ready();
    Site {
        server,
        stop,
        feeder: Some(feeder),
    }
}

fn get(site: &Site, path_and_query: &str, token: Option<&str>) -> (u16, Value) {
    let url = format!("http://{}{path_and_query}", site.server.local_addr());
    let mut req = ureq::get(&url);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn the_event_sample_matches_its_filter_and_locates_errors() {
    let site = start();
    let (status, v) = get(
        &site,
        "/api/v1/debug/events?filter=fd.name%3D%2Ftmp%2Fdebug-api-marker&limit=3&timeout_ms=5000",
        Some(READER),
    );
    assert_eq!(status, 200, "{v}");
    let events = v["events"].as_array().expect("events");
    assert_eq!(events.len(), 3, "{v}");
    for e in events {
        assert_eq!(e["type"], "openat", "{e}");
        assert_eq!(e["fields"]["fd.name"], MARKER, "{e}");
        assert_eq!(e["fields"]["evt.type"], "openat", "{e}");
        assert!(e["ts"].as_u64().is_some_and(|t| t > 1), "{e}");
    }
    // Every other event examined is the other file's open.
    assert!(v["examined"].as_u64() > v["matched"].as_u64(), "{v}");
    // A macro of the loaded rules.
    let (status, v) = get(
        &site,
        "/api/v1/debug/events?filter=marker_opened&limit=1&timeout_ms=5000",
        Some(ADMIN),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["events"][0]["fields"]["fd.name"], MARKER, "{v}");
    // Nothing matches: an empty sample when the time is up.
    let (status, v) = get(
        &site,
        "/api/v1/debug/events?filter=fd.name%3D%2Fnone&timeout_ms=200",
        Some(ADMIN),
    );
    assert_eq!(
        (status, v["events"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    // Errors: at the column of the typed text.
    let (status, v) = get(
        &site,
        "/api/v1/debug/events?filter=evt.type%3Dopenat+and+proc.nosuch%3D1",
        Some(ADMIN),
    );
    assert_eq!((status, v["column"].as_u64()), (400, Some(21)), "{v}");
    let (status, v) = get(
        &site,
        "/api/v1/debug/events?filter=marker_opened+and+(",
        Some(ADMIN),
    );
    assert_eq!(status, 400, "{v}");
    assert!(v["column"].as_u64().is_some_and(|c| c >= 19), "{v}");
    let (status, v) = get(&site, "/api/v1/debug/events?filter=a&limit=0", Some(ADMIN));
    assert_eq!(status, 400, "{v}");
}

#[test]
fn snapshots_answer_and_everything_needs_a_credential() {
    let site = start();
    let (status, d) = get(&site, "/api/v1/debug/drops", Some(READER));
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["total"]["drops"], 2, "{d}");
    assert_eq!(d["cpus"][0]["causes"]["ring_full"], 2, "{d}");
    assert_eq!(d["events_per_sec"], 7.0, "{d}");
    let (status, r) = get(&site, "/api/v1/debug/rules", Some(READER));
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["rules"][0]["rule"], "Marker", "{r}");
    assert_eq!(r["rules"][0]["samples"], 1, "{r}");
    let (status, m) = get(&site, "/api/v1/debug/metadata", Some(READER));
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["containers"], Value::Array(Vec::new()), "{m}");
    for p in [
        "/api/v1/debug/events?filter=evt.type%3Dopenat",
        "/api/v1/debug/events/stream?filter=evt.type%3Dopenat",
        "/api/v1/debug/drops",
        "/api/v1/debug/rules",
        "/api/v1/debug/metadata",
    ] {
        assert_eq!(get(&site, p, None).0, 401, "{p}");
    }
}
