//! The kit's private servers, for real (e2e tier): each starts from the Debian package's
//! binary, answers a minimal exchange of its own protocol on loopback, and is gone after stop.

use peregrine_testkit::services::{self, Service};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

/// Stops `s` and checks its process no longer exists.
fn stop_and_check_gone(s: Service) {
    let (pid, name) = (s.pid(), s.name());
    assert!(services::running(pid), "{name} runs before stop");
    let dir = s.dir().to_path_buf();
    s.stop();
    assert!(!services::running(pid), "{name} (pid {pid}) still runs");
    assert!(
        !dir.exists(),
        "{name}'s directory {} is left",
        dir.display()
    );
}

#[test]
fn nats_server_greets_with_jetstream_and_answers_ping() {
    if !peregrine_testkit::e2e("nats_server_greets_with_jetstream_and_answers_ping") {
        return;
    }
    let nats = services::nats().expect("nats-server starts");
    let info = services::greeting(nats.addr()).expect("INFO line");
    assert!(info.starts_with("INFO {"), "{info}");
    assert!(info.contains("\"jetstream\":true"), "{info}");
    let mut s = TcpStream::connect(nats.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while !got.contains("PONG") {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed after {got:?}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    stop_and_check_gone(nats);
}

#[test]
fn redis_server_answers_ping() {
    if !peregrine_testkit::e2e("redis_server_answers_ping") {
        return;
    }
    let redis = services::redis().expect("redis-server starts");
    let line = services::request_line(redis.addr(), b"*1\r\n$4\r\nPING\r\n").expect("reply");
    assert_eq!(line, "+PONG\r\n");
    stop_and_check_gone(redis);
}

#[test]
fn postgres_runs_a_query_through_psql() {
    if !peregrine_testkit::e2e("postgres_runs_a_query_through_psql") {
        return;
    }
    let pg = services::postgres().expect("postgres starts");
    let psql = services::postgres_bin().expect("bin").join("psql");
    let out = Command::new(psql)
        .args(["-h", "127.0.0.1", "-p", &pg.port().to_string()])
        .args([
            "-U",
            services::POSTGRES_USER,
            "-d",
            "postgres",
            "-Atc",
            "select 1",
        ])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    stop_and_check_gone(pg);
}

#[test]
fn prometheus_is_ready_with_its_targets_and_rules() {
    if !peregrine_testkit::e2e("prometheus_is_ready_with_its_targets_and_rules") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("kit-prom-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let rules = dir.join("r.yaml");
    std::fs::write(
        &rules,
        "groups:\n  - name: kit\n    rules:\n      - record: kit:one\n        expr: vector(1)\n",
    )
    .expect("rules");
    let prom = services::prometheus(&["127.0.0.1:9".to_string()], &[&rules]).expect("starts");
    // Service discovery hands the target over shortly after start-up.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let body = loop {
        let (status, body) = services::http_get(prom.addr(), "/api/v1/targets").expect("targets");
        assert_eq!(status, 200, "{body}");
        if body.contains("\"job\":\"peregrine\"") || std::time::Instant::now() >= end {
            break body;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(body.contains("\"job\":\"peregrine\""), "{body}");
    assert!(body.contains("127.0.0.1:9"), "{body}");
    let (status, body) = services::http_get(prom.addr(), "/api/v1/rules").expect("rules");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("kit:one"), "{body}");
    stop_and_check_gone(prom);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn alertmanager_is_ready() {
    if !peregrine_testkit::e2e("alertmanager_is_ready") {
        return;
    }
    let am = services::alertmanager().expect("alertmanager starts");
    let (status, _) = services::http_get(am.addr(), "/-/ready").expect("answer");
    assert_eq!(status, 200);
    let (status, body) = services::http_get(am.addr(), "/api/v2/status").expect("status");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"versionInfo\""), "{body}");
    stop_and_check_gone(am);
}

#[test]
fn mosquitto_accepts_an_mqtt_connect() {
    if !peregrine_testkit::e2e("mosquitto_accepts_an_mqtt_connect") {
        return;
    }
    let mq = services::mosquitto().expect("mosquitto starts");
    let mut s = TcpStream::connect(mq.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // MQTT 3.1.1 CONNECT: protocol "MQTT" level 4, clean session, keep-alive 60, client id.
    let id = b"peregrine-kit";
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
    body.extend_from_slice(&(id.len() as u16).to_be_bytes());
    body.extend_from_slice(id);
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend_from_slice(&body);
    s.write_all(&packet).unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).expect("CONNACK");
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00], "CONNACK, accepted");
    stop_and_check_gone(mq);
}

#[test]
fn rsyslog_writes_what_it_receives_and_keeps_it_across_a_restart() {
    if !peregrine_testkit::e2e("rsyslog_writes_what_it_receives_and_keeps_it_across_a_restart") {
        return;
    }
    let mut rs = services::rsyslog(None).expect("rsyslogd starts");
    let out = rs.dir().join("remote.out");
    let send = |addr, text: &str| {
        // RFC 6587 octet counting, as remote_syslog_output frames its messages.
        let msg = format!("<12>1 2026-12-07T00:00:00Z host kit 1 MID - {text}");
        let mut s = TcpStream::connect(addr).expect("connect");
        write!(s, "{} {msg}", msg.len()).expect("send");
    };
    let has = |text: &str| {
        let end = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let got = std::fs::read_to_string(&out).unwrap_or_default();
            if got.contains(text) || std::time::Instant::now() >= end {
                return got.contains(text);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    send(rs.addr(), "before");
    assert!(has("user.warning MID -before"), "{}", rs.log());
    rs.halt();
    rs.restart().expect("rsyslogd restarts");
    send(rs.addr(), "after");
    assert!(has("after"), "{}", rs.log());
    assert!(has("before"));
    stop_and_check_gone(rs);
}

#[test]
fn chromium_headless_serves_devtools_version() {
    if !peregrine_testkit::e2e("chromium_headless_serves_devtools_version") {
        return;
    }
    let chrome = services::chromium().expect("chromium starts");
    let (status, body) = services::http_get(chrome.addr(), "/json/version").expect("answer");
    assert_eq!(status, 200);
    assert!(body.contains("\"Browser\""), "{body}");
    assert!(body.contains("webSocketDebuggerUrl"), "{body}");
    stop_and_check_gone(chrome);
}
