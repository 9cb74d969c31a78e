//! Each sink end to end on this machine: real files, a bound syslog socket, a real `sh`,
//! and HTTP/HTTPS servers started by the test on 127.0.0.1.

mod common;
use common::*;
use peregrine_outputs::file::FileOutput;
use peregrine_outputs::http::{HttpConfig, HttpOutput};
use peregrine_outputs::output::Output;
use peregrine_outputs::program::ProgramOutput;
use peregrine_outputs::syslog::SyslogOutput;
use peregrine_outputs::{Dispatcher, FormatOptions, OutputSpec, Priority, RateLimit};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::sync::mpsc;
use std::time::Duration;

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn file_keep_alive_follows_rename_until_reopen() {
    let dir = temp_dir("file");
    let path = dir.join("events.txt");
    let rotated = dir.join("events.txt.1");
    let mut out = FileOutput::new(&path, true);
    out.write("one", Priority::Warning).expect("write");
    std::fs::rename(&path, &rotated).expect("rename");
    out.write("two", Priority::Warning).expect("write");
    out.reopen().expect("reopen");
    assert!(path.exists(), "reopen creates the new file at once");
    out.write("three", Priority::Warning).expect("write");
    assert_eq!(read(&rotated), "one\ntwo\n");
    assert_eq!(read(&path), "three\n");
}

#[test]
fn file_without_keep_alive_reopens_every_alert() {
    let dir = temp_dir("file-nk");
    let path = dir.join("events.txt");
    let mut out = FileOutput::new(&path, false);
    out.write("one", Priority::Warning).expect("write");
    std::fs::rename(&path, dir.join("old")).expect("rename");
    out.write("two", Priority::Warning).expect("write");
    assert_eq!(read(&path), "two\n");
}

#[test]
fn file_reopen_through_the_dispatcher() {
    let dir = temp_dir("file-d");
    let path = dir.join("events.txt");
    let rotated = dir.join("events.txt.1");
    let d = Dispatcher::new(
        FormatOptions::default(),
        vec![OutputSpec::new(Box::new(FileOutput::new(&path, true)))],
        RateLimit::default(),
    )
    .expect("dispatcher");
    d.enqueue(alert("r", Priority::Notice, "before"));
    wait_until("first line", || read(&path).lines().count() == 1);
    std::fs::rename(&path, &rotated).expect("rename");
    d.reopen();
    d.enqueue(alert("r", Priority::Notice, "after"));
    let (_, s) = d.shutdown(Duration::from_secs(20));
    assert_eq!(read(&rotated), "21:05:03.123456789: Notice before\n");
    assert_eq!(read(&path), "21:05:03.123456789: Notice after\n");
    assert_eq!(s.outputs[0].delivered, 2);
}

#[test]
fn a_full_disk_never_leaves_a_torn_line() {
    // Root, to mount a small tmpfs that fills up.
    if !peregrine_testkit::live("a_full_disk_never_leaves_a_torn_line") {
        return;
    }
    let dir = temp_dir("full");
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&dir)
        .status()
        .expect("mount runs")
        .success();
    assert!(ok, "mounting a small tmpfs");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(dir.clone());
    let path = dir.join("alerts.json");
    let mut out = FileOutput::new(&path, true);
    let line = format!("{{\"output\":\"{}\"}}", "x".repeat(700));
    let mut failures = 0;
    for _ in 0..200 {
        if out.write(&line, Priority::Error).is_err() {
            failures += 1;
        }
    }
    assert!(failures > 0, "the tmpfs filled up");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.ends_with('\n'));
    assert!(text.lines().all(|l| l == line), "only whole lines");
    // Room again: the next alert starts on a line of its own.
    std::fs::write(&path, "").expect("truncate");
    out.write("after", Priority::Error).expect("written");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "after\n");
}

#[test]
fn file_errors_name_the_path() {
    let mut out = FileOutput::new("/nonexistent-dir/x/events.txt", false);
    let e = out.write("x", Priority::Warning).expect_err("cannot open");
    assert!(
        e.to_string()
            .starts_with("file output: cannot open /nonexistent-dir/x/events.txt:"),
        "{e}"
    );
}

#[test]
fn syslog_datagrams_to_a_bound_socket() {
    let dir = temp_dir("syslog");
    let sock_path = dir.join("log.sock");
    let server = UnixDatagram::bind(&sock_path).expect("bind");
    let mut out = SyslogOutput::new(&sock_path, "falco", 1);
    let cases = [
        (Priority::Emergency, "<8>"),
        (Priority::Warning, "<12>"),
        (Priority::Informational, "<14>"),
        (Priority::Debug, "<15>"),
    ];
    for (p, pri) in cases {
        out.write("21:05:03.123456789: Warning hello", p)
            .expect("send");
        let mut buf = [0u8; 4096];
        let n = server.recv(&mut buf).expect("recv");
        let msg = std::str::from_utf8(&buf[..n]).expect("utf-8");
        // <PRI>Mmm dd hh:mm:ss falco: line — the timestamp is the send time.
        let rest = msg.strip_prefix(pri).unwrap_or_else(|| panic!("{msg}"));
        assert_eq!(
            &rest[15..],
            " falco: 21:05:03.123456789: Warning hello",
            "{msg}"
        );
        let b = rest.as_bytes();
        assert!(
            b[3] == b' ' && b[6] == b' ' && b[9] == b':' && b[12] == b':',
            "{msg}"
        );
    }
    // The daemon goes away: an error is reported; it comes back: delivery resumes.
    drop(server);
    std::fs::remove_file(&sock_path).expect("unlink");
    assert!(out.write("lost", Priority::Warning).is_err());
    let server = UnixDatagram::bind(&sock_path).expect("rebind");
    out.write("back", Priority::Warning)
        .expect("send after restart");
    let mut buf = [0u8; 4096];
    let n = server.recv(&mut buf).expect("recv");
    assert!(buf[..n].ends_with(b" falco: back"));
}

#[test]
fn program_without_keep_alive_runs_once_per_alert() {
    let dir = temp_dir("prog");
    let file = dir.join("out.txt");
    let cmd = format!(
        "cat >> '{}'; echo pid >> '{}.pids'",
        file.display(),
        file.display()
    );
    let mut out = ProgramOutput::new(&cmd, false);
    out.write("one", Priority::Warning).expect("write");
    out.write("two", Priority::Warning).expect("write");
    // Each write waits for its process (pclose), so the file is complete now.
    assert_eq!(read(&file), "one\ntwo\n");
    assert_eq!(read(&dir.join("out.txt.pids")), "pid\npid\n");
}

#[test]
fn program_keep_alive_uses_one_process_until_reopen() {
    let dir = temp_dir("prog-k");
    let file = dir.join("out.txt");
    let cmd = format!(
        "cat >> '{}'; echo done >> '{}.ends'",
        file.display(),
        file.display()
    );
    let ends = dir.join("out.txt.ends");
    let mut out = ProgramOutput::new(&cmd, true);
    out.write("one", Priority::Warning).expect("write");
    out.write("two", Priority::Warning).expect("write");
    wait_until("cat to copy", || read(&file) == "one\ntwo\n");
    assert_eq!(read(&ends), "", "the process is still running");
    out.reopen().expect("reopen");
    assert_eq!(read(&ends), "done\n");
    out.write("three", Priority::Warning).expect("write");
    drop(out);
    assert_eq!(read(&file), "one\ntwo\nthree\n");
    assert_eq!(read(&ends), "done\ndone\n");
}

#[test]
fn program_through_the_dispatcher_in_json() {
    let dir = temp_dir("prog-d");
    let file = dir.join("out.json");
    let opts = FormatOptions {
        json_output: true,
        ..Default::default()
    };
    let d = Dispatcher::new(
        opts.clone(),
        vec![OutputSpec::new(Box::new(ProgramOutput::new(
            &format!("cat >> '{}'", file.display()),
            true,
        )))],
        RateLimit::default(),
    )
    .expect("dispatcher");
    let a = alert(
        "Terminal shell in container",
        Priority::Notice,
        "shell spawned",
    );
    d.enqueue(a.clone());
    d.enqueue(a.clone());
    let (report, _) = d.shutdown(Duration::from_secs(20));
    assert!(report.unfinished.is_empty());
    let line = opts.format(&a);
    assert_eq!(read(&file), format!("{line}\n{line}\n"));
}

#[test]
fn a_stuck_program_and_its_children_do_not_outlive_the_shutdown() {
    let dir = temp_dir("prog-stuck");
    let pids = dir.join("pids");
    // Never reads its input and never exits; its child (`sleep`) neither.
    let program = format!("sleep 600 & echo $$ $! > '{}'; wait", pids.display());
    let d = Dispatcher::new(
        FormatOptions::default(),
        vec![OutputSpec::new(Box::new(ProgramOutput::new(
            &program, false,
        )))],
        RateLimit::default(),
    )
    .expect("dispatcher");
    d.enqueue(alert("r", Priority::Error, "a"));
    wait_until("program started", || {
        std::fs::read_to_string(&pids).is_ok_and(|t| t.split_whitespace().count() == 2)
    });
    let pids: Vec<String> = read(&pids).split_whitespace().map(String::from).collect();
    let (report, s) = d.shutdown(Duration::from_millis(100));
    assert_eq!(report.unfinished, ["program"]);
    assert_eq!(s.total_lost(), 1);
    // The shell and its child are gone (killed, reaped by their parent or by init).
    wait_until("program processes ended", || {
        pids.iter().all(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .map_or(true, |st| st.split_whitespace().nth(2) == Some("Z"))
        })
    });
}

#[test]
fn program_that_exits_is_restarted() {
    let dir = temp_dir("prog-x");
    let file = dir.join("out.txt");
    let ends = dir.join("ends");
    // Copies one line and exits, leaving a mark once the copy is done.
    let cmd = format!(
        "head -n 1 >> '{}'; echo x >> '{}'",
        file.display(),
        ends.display()
    );
    let mut out = ProgramOutput::new(&cmd, true);
    let mut results = Vec::new();
    for i in 0..6 {
        results.push(out.write(&format!("l{i}"), Priority::Warning).is_ok());
        // Wait until every process that took a line has finished.
        // Wait until the first line is copied and every process that copied one is done;
        // then give the exiting shell a moment to close the pipe.
        wait_until("head to finish", || {
            let copied = read(&file).lines().count();
            copied >= 1 && copied == read(&ends).lines().count()
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    let lines: Vec<String> = read(&file).lines().map(String::from).collect();
    assert!(
        results.contains(&false),
        "a write to the exited program fails: {results:?}"
    );
    assert!(
        lines.len() >= 2 && lines[0] == "l0",
        "a new process took later lines: {lines:?}"
    );
}

/// One request as the test server saw it.
#[derive(Debug)]
struct Request {
    head: String,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (Content-Length bodies only, which is what ureq sends).
fn read_request(stream: &mut impl Read) -> Option<Request> {
    let mut r = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request { head, body })
}

/// Serves one connection per status in `statuses`, answering each with that status and
/// `body`; every request goes to the returned channel.
fn http_server(statuses: Vec<u16>, body: &'static str) -> (String, mpsc::Receiver<Request>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://127.0.0.1:{}/alerts",
        l.local_addr().expect("addr").port()
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for status in statuses {
            let Ok((mut s, _)) = l.accept() else { return };
            if let Some(req) = read_request(&mut s) {
                let _ = tx.send(req);
            }
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, rx)
}

fn http_cfg(url: &str) -> HttpConfig {
    HttpConfig {
        url: url.into(),
        backoff: Duration::from_millis(1),
        ..Default::default()
    }
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

#[test]
fn http_posts_json_with_falco_headers() {
    let (url, rx) = http_server(vec![200], "ok");
    let echo = SharedBuf::default();
    let mut out = HttpOutput::with_echo(
        HttpConfig {
            json: true,
            echo: true,
            ..http_cfg(&url)
        },
        Box::new(echo.clone()),
    )
    .expect("http output");
    out.write("{\"rule\":\"x\"}", Priority::Warning)
        .expect("post");
    let req = rx.recv().expect("request");
    assert!(
        req.head.starts_with("POST /alerts HTTP/1.1\r\n"),
        "{}",
        req.head
    );
    assert_eq!(header(&req, "content-type"), Some("application/json"));
    assert_eq!(header(&req, "user-agent"), Some("falcosecurity/falco"));
    assert_eq!(req.body, b"{\"rule\":\"x\"}");
    assert_eq!(echo.text(), "ok");
}

#[test]
fn http_text_and_gzip_body() {
    let (url, rx) = http_server(vec![200], "");
    let mut out = HttpOutput::new(HttpConfig {
        gzip_body: true,
        user_agent: "peregrine-test".into(),
        ..http_cfg(&url)
    })
    .expect("http output");
    out.write("21:05:03.123456789: Warning x", Priority::Warning)
        .expect("post");
    let req = rx.recv().expect("request");
    assert_eq!(header(&req, "content-type"), Some("text/plain"));
    assert_eq!(header(&req, "content-encoding"), Some("gzip"));
    assert_eq!(header(&req, "user-agent"), Some("peregrine-test"));
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&req.body[..])
        .read_to_string(&mut plain)
        .expect("gunzip");
    assert_eq!(plain, "21:05:03.123456789: Warning x");
}

#[test]
fn http_compress_uploads_keeps_the_body_plain_like_falco() {
    let (url, rx) = http_server(vec![200], "");
    let mut out = HttpOutput::new(HttpConfig {
        compress_uploads: true,
        ..http_cfg(&format!("'{url}'"))
    })
    .expect("quoted url accepted");
    out.write("{}", Priority::Warning).expect("post");
    let req = rx.recv().expect("request");
    assert_eq!(header(&req, "content-encoding"), None);
    assert_eq!(req.body, b"{}");
}

#[test]
fn http_retries_server_errors_not_client_errors() {
    let (url, rx) = http_server(vec![503, 500, 200], "");
    let mut out = HttpOutput::new(http_cfg(&url)).expect("http output");
    out.write("x", Priority::Warning)
        .expect("delivered on the third attempt");
    assert_eq!(rx.try_iter().count(), 3);

    let (url, rx) = http_server(vec![400, 200], "");
    let mut out = HttpOutput::new(http_cfg(&url)).expect("http output");
    let e = out.write("x", Priority::Warning).expect_err("400 is final");
    assert!(
        e.to_string().contains("HTTP status 400 (after 1 attempts)"),
        "{e}"
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).map(|r| r.body).ok(),
        Some(b"x".to_vec())
    );

    let (url, _rx) = http_server(vec![503, 503, 503], "");
    let mut out = HttpOutput::new(HttpConfig {
        max_retries: 2,
        ..http_cfg(&url)
    })
    .expect("http output");
    let e = out.write("x", Priority::Warning).expect_err("gives up");
    assert!(
        e.to_string().contains("HTTP status 503 (after 3 attempts)"),
        "{e}"
    );
}

#[test]
fn http_connection_refused_is_an_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut out = HttpOutput::new(HttpConfig {
        max_retries: 1,
        ..http_cfg(&format!("http://127.0.0.1:{port}/"))
    })
    .expect("http output");
    assert!(out.write("x", Priority::Warning).is_err());
}

mod tls {
    use super::*;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::sync::Arc;

    struct Pki {
        dir: std::path::PathBuf,
        server: rustls::ServerConfig,
    }

    /// A self-signed server certificate for localhost/127.0.0.1, and optionally a client CA
    /// the server requires client certificates from.
    fn pki(require_client: bool) -> Pki {
        let dir = temp_dir("tls");
        let server =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .expect("server cert");
        std::fs::write(dir.join("ca.pem"), server.cert.pem()).expect("write ca");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = if require_client {
            let client =
                rcgen::generate_simple_self_signed(vec!["client".into()]).expect("client cert");
            std::fs::write(dir.join("client.crt"), client.cert.pem()).expect("write");
            std::fs::write(dir.join("client.key"), client.key_pair.serialize_pem()).expect("write");
            let mut roots = rustls::RootCertStore::empty();
            roots.add(client.cert.der().clone()).expect("client root");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key_pair.serialize_der()));
        let server = builder
            .with_single_cert(vec![CertificateDer::from(server.cert.der().to_vec())], key)
            .expect("server config");
        Pki { dir, server }
    }

    /// Serves TLS connections until the channel's receiver is gone; sends each request body.
    fn https_server(cfg: rustls::ServerConfig) -> (String, mpsc::Receiver<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "https://localhost:{}/",
            l.local_addr().expect("addr").port()
        );
        let cfg = Arc::new(cfg);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(tcp) = conn else { return };
                let Ok(tls) = rustls::ServerConnection::new(cfg.clone()) else {
                    return;
                };
                let mut s = rustls::StreamOwned::new(tls, tcp);
                if let Some(req) = read_request(&mut s) {
                    if tx.send(req.body).is_err() {
                        return;
                    }
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    let _ = s.flush();
                    s.conn.send_close_notify();
                    let _ = s.flush();
                }
            }
        });
        (url, rx)
    }

    fn cfg(url: &str, pki: &Pki) -> HttpConfig {
        HttpConfig {
            ca_path: pki.dir.join("no-such-dir").display().to_string(),
            max_retries: 0,
            ..http_cfg(url)
        }
    }

    #[test]
    fn trust_comes_from_ca_cert_or_insecure() {
        let pki = pki(false);
        let (url, rx) = https_server(pki.server.clone());
        let ca = pki.dir.join("ca.pem").display().to_string();

        let mut trusted = HttpOutput::new(HttpConfig {
            ca_cert: ca.clone(),
            ..cfg(&url, &pki)
        })
        .expect("output");
        trusted
            .write("via ca_cert", Priority::Warning)
            .expect("trusted");
        assert_eq!(rx.recv().expect("body"), b"via ca_cert");

        let mut bundle = HttpOutput::new(HttpConfig {
            ca_bundle: ca,
            ..cfg(&url, &pki)
        })
        .expect("output");
        bundle
            .write("via ca_bundle", Priority::Warning)
            .expect("trusted");
        assert_eq!(rx.recv().expect("body"), b"via ca_bundle");

        let mut untrusted = HttpOutput::new(cfg(&url, &pki)).expect("output");
        let e = untrusted
            .write("x", Priority::Warning)
            .expect_err("unknown issuer");
        assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");

        let mut insecure = HttpOutput::new(HttpConfig {
            insecure: true,
            ..cfg(&url, &pki)
        })
        .expect("output");
        insecure
            .write("insecure", Priority::Warning)
            .expect("insecure accepts");
        assert_eq!(rx.recv().expect("body"), b"insecure");
    }

    #[test]
    fn mutual_tls() {
        let pki = pki(true);
        let (url, rx) = https_server(pki.server.clone());
        let base = HttpConfig {
            ca_cert: pki.dir.join("ca.pem").display().to_string(),
            ..cfg(&url, &pki)
        };
        let mut without = HttpOutput::new(base.clone()).expect("output");
        assert!(without.write("x", Priority::Warning).is_err());

        let mut with = HttpOutput::new(HttpConfig {
            mtls: true,
            client_cert: pki.dir.join("client.crt").display().to_string(),
            client_key: pki.dir.join("client.key").display().to_string(),
            ..base.clone()
        })
        .expect("output");
        with.write("mtls", Priority::Warning)
            .expect("client certificate accepted");
        assert_eq!(rx.recv().expect("body"), b"mtls");

        let e = HttpOutput::new(HttpConfig {
            mtls: true,
            client_cert: "/nonexistent.crt".into(),
            ..base
        })
        .err()
        .expect("missing client cert");
        assert!(e.to_string().contains("/nonexistent.crt"), "{e}");
    }
}
