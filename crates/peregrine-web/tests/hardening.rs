//! The server against hostile or careless clients, and over TLS: slow clients cannot starve
//! the health probe (issue #13), a full house evicts instead of refusing, HTTPS serves the
//! configured certificate and a certificate that cannot be used stops the start (issue #11).
//! Loopback only, so these run in the fast tier.

use peregrine_web::{Versions, WebConfig, WebServer, HEAD_TIMEOUT, MAX_CONNECTIONS};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn versions() -> Versions {
    Versions::peregrine(&peregrine_rules::version::Version::new(0, 62, 0))
}

fn plain_server() -> WebServer {
    let cfg = WebConfig {
        listen_address: "127.0.0.1".into(),
        listen_port: 0,
        ..WebConfig::default()
    };
    WebServer::start(&cfg, &versions(), None).expect("server starts")
}

/// `GET /healthz` with a 1 s budget for the whole exchange; the status line, or why not.
fn probe(addr: SocketAddr) -> Result<String, String> {
    let start = Instant::now();
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).map_err(|e| e.to_string())?;
    let took = start.elapsed();
    if took > Duration::from_secs(1) {
        return Err(format!("answered after {took:?}"));
    }
    Ok(raw.lines().next().unwrap_or_default().to_string())
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Sends one byte of a never-ending request head every second, until the server closes the
/// connection or `give_up` passes; returns when the server closed it, from `t0`.
fn trickle(addr: SocketAddr, t0: Instant, give_up: Duration) -> Option<Duration> {
    let mut s = TcpStream::connect(addr).expect("slow client connects");
    s.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let head = b"GET /healthz HTTP/1.1\r\nX-Slow: "
        .iter()
        .chain(std::iter::repeat(&b'a'));
    let mut buf = [0u8; 64];
    for byte in head {
        if t0.elapsed() > give_up {
            return None;
        }
        if s.write_all(&[*byte]).is_err() {
            return Some(t0.elapsed());
        }
        match s.read(&mut buf) {
            // The server closed (FIN or reset): nothing else is expected on this connection.
            Ok(_) => return Some(t0.elapsed()),
            Err(e) if timed_out(&e) => {}
            Err(_) => return Some(t0.elapsed()),
        }
    }
    None
}

/// Regression test for issue #13 item 1: with 64 clients trickling a byte a second (the old
/// server, 16 threads with a per-read timeout, was held by 16 of them indefinitely), every
/// health probe every 200 ms answers 200 within 1 s, and the server closes each slow client
/// within the whole-head deadline.
#[test]
fn slow_clients_cannot_starve_the_health_probe() {
    let srv = plain_server();
    let addr = srv.local_addr();
    let t0 = Instant::now();
    let give_up = HEAD_TIMEOUT + Duration::from_secs(3);
    let slow: Vec<_> = (0..64)
        .map(|_| std::thread::spawn(move || trickle(addr, t0, give_up)))
        .collect();
    // Let the slow clients connect and start trickling before probing.
    std::thread::sleep(Duration::from_millis(300));
    let mut probes = 0;
    while t0.elapsed() < HEAD_TIMEOUT + Duration::from_secs(1) {
        let status = probe(addr);
        assert_eq!(
            status.as_deref(),
            Ok("HTTP/1.1 200 OK"),
            "probe {probes} at {:?}",
            t0.elapsed()
        );
        probes += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(probes >= 20, "{probes} probes");
    for (i, t) in slow.into_iter().enumerate() {
        let closed = t.join().expect("slow client thread");
        // Closed after the deadline, give or take the client's 1 s pacing and scheduling.
        assert!(
            closed.is_some_and(|c| c >= HEAD_TIMEOUT - Duration::from_millis(500)
                && c <= HEAD_TIMEOUT + Duration::from_secs(2)),
            "slow client {i} closed at {closed:?}, deadline {HEAD_TIMEOUT:?}"
        );
    }
    srv.shutdown();
}

/// At the connection cap a new client is served at once and the oldest idle connection is
/// the one closed to make room.
#[test]
fn a_full_house_evicts_the_oldest_idle_connection() {
    let srv = plain_server();
    let addr = srv.local_addr();
    let mut idle: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(addr).expect("idle client connects"))
        .collect();
    // Let the server accept them all, in order.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(probe(addr).as_deref(), Ok("HTTP/1.1 200 OK"));
    let oldest = &mut idle[0];
    oldest
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    let r = oldest.read(&mut buf);
    assert!(
        matches!(r, Ok(0)) || r.as_ref().is_err_and(|e| !timed_out(e)),
        "the oldest idle connection is still open: {r:?}"
    );
    // The newest idle connection is still open (a read times out rather than ending).
    let newest = idle.last_mut().expect("non-empty");
    newest
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let r = newest.read(&mut buf);
    assert!(r.as_ref().is_err_and(timed_out), "{r:?}");
    srv.shutdown();
}

// ---- TLS ------------------------------------------------------------------------------------

/// A scratch file, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, contents: &str) -> Scratch {
        let path =
            std::env::temp_dir().join(format!("peregrine-web-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("scratch file");
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A self-signed certificate for 127.0.0.1: (Falco's combined PEM, certificate PEM, DER).
fn self_signed() -> (String, String, Vec<u8>) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("self-signed certificate");
    let cert_pem = cert.pem();
    (
        format!("{cert_pem}{}", key_pair.serialize_pem()),
        cert_pem,
        cert.der().to_vec(),
    )
}

fn tls_config(cert: &std::path::Path) -> WebConfig {
    WebConfig {
        listen_address: "127.0.0.1".into(),
        listen_port: 0,
        prometheus_metrics_enabled: true,
        ssl_enabled: true,
        ssl_certificate: cert.to_path_buf(),
        ..WebConfig::default()
    }
}

/// A rustls client (ring provider) trusting only `der`.
fn client_trusting(der: Vec<u8>) -> ureq::Agent {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(der))
        .expect("root added");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    ureq::AgentBuilder::new()
        .tls_config(Arc::new(config))
        .timeout(Duration::from_secs(5))
        .build()
}

#[test]
fn https_serves_with_the_configured_certificate() {
    let (combined, _, der) = self_signed();
    let file = Scratch::new("falco.pem", &combined);
    let source: Arc<dyn peregrine_web::Collect> = Arc::new(peregrine_web::MetricsSnapshot::default);
    let srv = WebServer::start(&tls_config(&file.0), &versions(), Some(source))
        .expect("HTTPS server starts");
    let port = srv.local_addr().port();
    let agent = client_trusting(der);

    let resp = agent
        .get(&format!("https://127.0.0.1:{port}/healthz"))
        .call()
        .expect("HTTPS /healthz");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.into_string().expect("body"), r#"{"status": "ok"}"#);
    let resp = agent
        .get(&format!("https://127.0.0.1:{port}/versions"))
        .call()
        .expect("HTTPS /versions");
    assert!(resp
        .into_string()
        .expect("body")
        .contains("engine_version_semver"));
    match agent
        .get(&format!("https://127.0.0.1:{port}/nothing"))
        .call()
    {
        Err(ureq::Error::Status(404, _)) => {}
        other => panic!("expected 404, got {other:?}"),
    }

    // A client that does not trust the certificate is refused by its own TLS check.
    let (_, _, other_der) = self_signed();
    let err = client_trusting(other_der)
        .get(&format!("https://127.0.0.1:{port}/healthz"))
        .call()
        .expect_err("an untrusted certificate fails the handshake");
    assert!(matches!(err, ureq::Error::Transport(_)), "{err:?}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut s = TcpStream::connect(srv.local_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert!(
        !raw.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    srv.shutdown();
}

/// Issue #11: `ssl_enabled` with a certificate that cannot be used fails the start with the
/// file and the reason, instead of serving plain HTTP.
#[test]
fn unusable_certificates_fail_the_start_naming_the_file() {
    let check = |path: &std::path::Path, reason: &str| {
        let err = WebServer::start(&tls_config(path), &versions(), None)
            .err()
            .unwrap_or_else(|| panic!("{} must not start", path.display()));
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("webserver.ssl_certificate"), "{msg}");
        assert!(msg.contains(reason), "{msg}");
    };
    let missing = std::env::temp_dir().join("peregrine-web-no-such-dir/falco.pem");
    check(&missing, "No such file");
    let (combined, cert_only, _) = self_signed();
    let no_key = Scratch::new("cert-only.pem", &cert_only);
    check(&no_key.0, "no PRIVATE KEY");
    let garbage = Scratch::new("garbage.pem", "not a certificate\n");
    check(&garbage.0, "no CERTIFICATE");
    // A key from another certificate: rustls refuses the pair.
    let (other, _, _) = self_signed();
    let other_key = other
        .split_once("-----END CERTIFICATE-----\n")
        .map(|(_, key)| key.to_string())
        .expect("key part");
    let mismatched = Scratch::new("mismatched.pem", &format!("{cert_only}{other_key}"));
    let err = WebServer::start(&tls_config(&mismatched.0), &versions(), None);
    assert!(
        err.is_err(),
        "a certificate with another's key must not start"
    );
    drop(combined);
}

/// Issue #16: the console over TLS with the webserver's certificate (no certificate of its
/// own): its API and pages answer over HTTPS only, a credential is still required, and the
/// login's session cookie is marked `Secure`, so a browser never sends it over plain HTTP.
#[test]
fn the_console_is_served_over_https_with_the_webserver_certificate() {
    const TOKEN: &str = "https-console-token-0123456789";
    let (combined, _, der) = self_signed();
    let file = Scratch::new("console.pem", &combined);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = peregrine_store::SqliteStore::open(&dir.path().join("alerts.db")).expect("store");
    let extras = peregrine_web::Extras {
        console: Some(peregrine_config::ConsoleConfig {
            enabled: true,
            token: Some(TOKEN.into()),
            ..peregrine_config::ConsoleConfig::default()
        }),
        alerts: Some(peregrine_web::alerts_api::Api {
            store: Arc::new(store),
            rules: Arc::new(Vec::new),
        }),
        ..peregrine_web::Extras::default()
    };
    let srv = WebServer::start_pending_with(&tls_config(&file.0), &versions(), None, extras)
        .expect("HTTPS server starts");
    srv.set_ready();
    let port = srv.local_addr().port();
    let agent = client_trusting(der);
    let url = |p: &str| format!("https://127.0.0.1:{port}{p}");
    let status = |r: Result<ureq::Response, ureq::Error>| match r {
        Ok(r) => (r.status(), r.header("Set-Cookie").map(str::to_string)),
        Err(ureq::Error::Status(s, r)) => (s, r.header("Set-Cookie").map(str::to_string)),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(status(agent.get(&url("/api/v1/alerts")).call()).0, 401);
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        status(
            agent
                .get(&url("/api/v1/alerts"))
                .set("Authorization", &bearer)
                .call()
        )
        .0,
        200
    );
    let (code, cookie) = status(
        agent
            .post(&url("/api/v1/login"))
            .set("Content-Type", "application/json")
            .send_string(&format!(r#"{{"token": "{TOKEN}"}}"#)),
    );
    assert_eq!(code, 200);
    let cookie = cookie.expect("Set-Cookie");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_string();
    let page = agent
        .get(&url("/console/alerts"))
        .set("Cookie", &pair)
        .call()
        .expect("the alerts page with the session");
    assert!(page
        .into_string()
        .expect("body")
        .contains("/console/assets/app.js"));
    // Plain HTTP on the same port gets no HTTP answer, the console's paths included.
    let mut s = TcpStream::connect(srv.local_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "GET /api/v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: {bearer}\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert!(
        !raw.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    srv.shutdown();
}
