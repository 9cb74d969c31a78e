//! The console's live alert stream with a client that stops reading, against the live agent:
//! a raw TCP client subscribes to `GET /api/v1/alerts/stream` and never reads while the agent
//! raises thousands of alerts with long outputs (megabytes, more than the socket buffers
//! hold); a second client keeps reading. The second client gets every marker alert raised
//! meanwhile, the agent goes on detecting, and the silent client is disconnected (its socket
//! ends once it reads again) and counted in `peregrine_console_stream_dropped_total`.

mod e2e_harness;

use e2e_harness::{console_agent, scratch};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TOKEN: &str = "console-stream-token-0123456789";
const LOAD_RULE: &str = "Long path opened";
const MARKER_RULE: &str = "Stream marker opened";
/// Generous, for a loaded machine: only decides when something counts as missing. The
/// server ends every request at 30 s, so the whole exchange must fit in that.
const DEADLINE: Duration = Duration::from_secs(20);

/// Subscribes to the live stream on a new connection; the response is not read here.
fn subscribe(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET /api/v1/alerts/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )
    .expect("request");
    s
}

/// A `/metrics` sample's value (0 when absent).
fn metric(addr: &str, name: &str) -> u64 {
    let body = ureq::get(&format!("http://{addr}/metrics"))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .expect("metrics")
        .into_string()
        .expect("metrics body");
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn wait_metric(addr: &str, name: &str, want: impl Fn(u64) -> bool) -> u64 {
    let end = Instant::now() + DEADLINE;
    loop {
        let v = metric(addr, name);
        if want(v) || Instant::now() > end {
            return v;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A file whose path is about `len` bytes long (nested directories of 200-byte names).
fn long_path(dir: &Path, len: usize) -> PathBuf {
    let mut p = dir.to_path_buf();
    while p.as_os_str().len() + 201 < len {
        p.push("d".repeat(200));
    }
    std::fs::create_dir_all(&p).expect("long dirs");
    p.push("target");
    std::fs::write(&p, "x").expect("long file");
    p
}

#[test]
fn a_client_that_does_not_read_is_dropped_while_others_and_detection_go_on() {
    if !peregrine_testkit::live(
        "a_client_that_does_not_read_is_dropped_while_others_and_detection_go_on",
    ) {
        return;
    }
    let dir = scratch("console-stream");
    let db = dir.join("alerts.db");
    let load = long_path(&dir.join("long"), 1_500);
    let marker = dir.join("stream-marker");
    std::fs::write(&marker, "x").expect("marker");
    let rules = dir.join("rules.yaml");
    // The load's output names the 1.5 KB path three times: about 5 KB per streamed row.
    std::fs::write(
        &rules,
        format!(
            "
- rule: {LOAD_RULE}
  desc: the load, with a long output
  condition: evt.type in (open, openat, openat2) and fd.name = {load}
  output: load (file=%fd.name again=%fd.name and=%fd.name)
  priority: NOTICE
- rule: {MARKER_RULE}
  desc: the alerts the reading client waits for
  condition: evt.type in (open, openat, openat2) and fd.name = {marker}
  output: marker (file=%fd.name)
  priority: CRITICAL
",
            load = load.display(),
            marker = marker.display()
        ),
    )
    .expect("rules");
    let config = format!(
        "webserver: {{enabled: true, listen_address: 127.0.0.1, listen_port: 0, \
             prometheus_metrics_enabled: true}}\nmetrics: {{enabled: true}}\n\
             console: {{enabled: true, token: {TOKEN}}}\n\
             alert_store: {{enabled: true, path: {}}}\n",
        db.display()
    );
    // Thousands of 5 KB lines are not what this test reads.
    let agent = console_agent(
        &dir,
        &rules,
        &config,
        &["-o", "stdout_output.enabled=false"],
    );
    let addr = agent.web_addr();
    const CLIENTS: &str = "peregrine_console_stream_clients";
    const DROPPED: &str = "peregrine_console_stream_dropped_total";
    const STORED: &str = "peregrine_alert_store_inserted_total";

    // The silent client: never reads a byte until it is checked below.
    let mut silent = subscribe(&addr);
    assert_eq!(wait_metric(&addr, CLIENTS, |n| n == 1), 1, "not subscribed");
    // The reading client: every marker row, with the moment it was read.
    let reader = subscribe(&addr);
    reader
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let (tx, markers) = mpsc::channel::<Instant>();
    let reading = std::thread::spawn(move || {
        let mut rows = 0u64;
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if let Some(data) = line.strip_prefix("data: ") {
                rows += 1;
                if data.contains(MARKER_RULE) && tx.send(Instant::now()).is_err() {
                    break;
                }
            }
        }
        rows
    });
    assert_eq!(wait_metric(&addr, CLIENTS, |n| n == 2), 2, "not subscribed");
    assert_eq!(metric(&addr, DROPPED), 0);

    // Load in bursts, a marker between bursts, until the silent client is dropped.
    let started = Instant::now();
    let mut opened = 0u64;
    let mut latencies = Vec::new();
    let mut dropped_after = None;
    let marker_at = |latencies: &mut Vec<Duration>| {
        let at = Instant::now();
        let _ = std::fs::File::open(&marker);
        let got = markers.recv_timeout(DEADLINE);
        let got = got.expect("the reading client did not get the marker alert");
        latencies.push(got.saturating_duration_since(at));
    };
    while started.elapsed() < DEADLINE {
        for _ in 0..200 {
            let _ = std::fs::File::open(&load);
        }
        opened += 200;
        marker_at(&mut latencies);
        if metric(&addr, DROPPED) > 0 {
            dropped_after = Some((started.elapsed(), opened));
            break;
        }
    }
    let stored = metric(&addr, STORED);
    let Some((took, after)) = dropped_after else {
        panic!("the silent client was not dropped after {opened} load alerts ({stored} stored)");
    };
    // Only the silent one: the reader is still subscribed.
    assert_eq!(metric(&addr, DROPPED), 1);
    assert_eq!(metric(&addr, CLIENTS), 1);
    // Detection goes on: a marker after the drop still reaches the reader, and is stored.
    marker_at(&mut latencies);
    assert!(
        wait_metric(&addr, STORED, |n| n > stored) > stored,
        "nothing stored after the drop"
    );

    // The silent client's connection was closed: reading it now drains what the kernel
    // held and ends (EOF or reset), rather than waiting.
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut held = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let ended = loop {
        match silent.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => held += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    assert!(
        ended,
        "the silent client is still connected ({held} bytes read)"
    );
    assert!(
        held > 0,
        "the silent client got nothing before it was dropped"
    );

    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let max = latencies[latencies.len() - 1];
    println!(
        "silent client dropped after {took:?} and {after} load alerts ({} bytes held for it); \
         reader: {} markers, open → row p50 {p50:?}, max {max:?}",
        held,
        latencies.len()
    );
    drop(markers);
    assert!(agent.stop().success());
    let rows = reading.join().expect("reader thread");
    assert!(rows as usize >= latencies.len(), "{rows}");
}
