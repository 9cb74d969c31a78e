//! A destination that accepts connections and never answers costs each network output at most
//! its `timeout_ms` per attempt, and the spool then retries after the configured backoff: every
//! output kind that waits for an answer is pointed at a loopback listener that accepts and stays
//! silent, and must fail and retry several times within a window shorter than a single attempt
//! under its default timeout (5 s or 10 s). Meanwhile a file output gets the same alert at once.

mod common;
use common::*;
use peregrine_outputs::{OutputsConfig, Priority};
use serde_json::{json, Value};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Accepts every connection and keeps it open without reading or writing a byte.
struct Silent {
    port: u16,
    accepted: Arc<Mutex<Vec<TcpStream>>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let keep = accepted.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().map_while(Result::ok) {
                keep.lock().expect("lock").push(s);
            }
        });
        Silent { port, accepted }
    }

    fn connections(&self) -> usize {
        self.accepted.lock().expect("lock").len()
    }
}

/// Attempts each output must fail within [`WINDOW`]: with its default timeout (5 s or more)
/// that many attempts take at least 25 s.
const ATTEMPTS: u64 = 5;
const WINDOW: Duration = Duration::from_secs(15);

#[test]
fn a_silent_destination_costs_each_output_its_timeout_per_attempt() {
    let file_dir = temp_dir("timeouts-file");
    for (name, block) in [
        ("http", json!({"url": "http://127.0.0.1:{port}/"})),
        ("alertmanager", json!({"url": "http://127.0.0.1:{port}"})),
        ("webhook", json!({"url": "http://127.0.0.1:{port}/hook"})),
        ("redis", json!({"url": "redis://127.0.0.1:{port}"})),
        ("nats", json!({"url": "nats://127.0.0.1:{port}"})),
        ("mqtt", json!({"url": "mqtt://127.0.0.1:{port}"})),
    ] {
        let silent = Silent::start();
        let spool_dir = temp_dir(&format!("timeouts-{name}"));
        let mut block = block;
        let url = block["url"]
            .as_str()
            .expect("url")
            .replace("{port}", &silent.port.to_string());
        block["url"] = Value::String(url);
        block["enabled"] = json!(true);
        block["timeout_ms"] = json!(300);
        block["retry"] = json!({"initial_backoff_ms": 50, "max_backoff_ms": 100});
        block["spool"] = json!({"dir": spool_dir.display().to_string()});
        let file = file_dir.join(format!("{name}.txt"));
        let tree = json!({
            "stdout_output": {"enabled": false},
            "syslog_output": {"enabled": false},
            "file_output": {"enabled": true, "filename": file.display().to_string()},
            format!("{name}_output"): block,
        });
        let d = OutputsConfig::from_tree(&tree)
            .expect("config")
            .build()
            .expect("outputs");
        d.enqueue(alert("R", Priority::Critical, "silent destination"));
        let start = Instant::now();
        let retried = |d: &peregrine_outputs::Dispatcher| {
            d.snapshot()
                .outputs
                .iter()
                .find(|o| o.name == name)
                .map_or(0, |o| o.retried)
        };
        while retried(&d) < ATTEMPTS && start.elapsed() < WINDOW {
            std::thread::sleep(Duration::from_millis(50));
        }
        let n = retried(&d);
        assert!(
            n >= ATTEMPTS,
            "{name}: {n} failed attempts in {:?} ({} connections): a silent destination \
             held the output past its 300 ms timeout",
            start.elapsed(),
            silent.connections()
        );
        assert!(silent.connections() >= 1, "{name}: never connected");
        // The file output was not held up by the silent one.
        let written = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            written.contains("silent destination"),
            "{name}: {written:?}"
        );
        let snap = d.snapshot();
        let out = snap
            .outputs
            .iter()
            .find(|o| o.name == name)
            .expect("output");
        assert_eq!(out.delivered, 0, "{name}");
        assert_eq!(out.spool_pending, 1, "{name}: the alert waits in the spool");
        let _ = d.shutdown(Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(spool_dir);
    }
    let _ = std::fs::remove_dir_all(file_dir);
}
