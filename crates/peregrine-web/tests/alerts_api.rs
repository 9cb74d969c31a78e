//! The alerts API and the console's access control on a real server on loopback, over a real
//! SQLite store: every route refuses a request without a credential, a read-only token reads
//! but cannot acknowledge or silence, a cookie session needs its CSRF token to change state,
//! and the list, detail (process tree, related alerts, responses), status, export and rules
//! answers carry what the console shows.

use std::sync::Arc;

use peregrine_config::{ConsoleConfig, ConsoleUser, Role};
use peregrine_store::{AlertStore, Ancestor, Container, Context, Pod, Record, SqliteStore};
use peregrine_triage::Silences;
use peregrine_web::alerts_api::{Api, RuleInfo};
use peregrine_web::{Extras, Versions, WebConfig, WebServer};
use serde_json::Value;

const ADMIN: &str = "admin-token-0123456789";
const READER: &str = "reader-token-0123456789";
const CID: &str = "4f2a9c1b7d3e00000000000000000000000000000000000000000000000000aa";
const S: u64 = 1_000_000_000;

fn record(i: u64, rule: &str) -> Record {
    Record {
        id: format!("00000000-0000-4000-8000-{i:012}"),
        time_ns: 1_800_000_000 * S + i * 60 * S,
        rule: rule.into(),
        priority: "Warning".into(),
        severity: 4,
        source: "syscall".into(),
        hostname: "node-1".into(),
        tags: vec!["T1003".into(), "filesystem".into()],
        output: format!("Sensitive file opened by cat (n={i})"),
        json: format!("{{\"rule\":\"{rule}\",\"output_fields\":{{\"proc.name\":\"cat\"}}}}"),
        context: Context {
            ancestry: vec![
                Ancestor {
                    pid: 300,
                    ppid: 200,
                    exe: "/usr/bin/cat".into(),
                    cmdline: "cat /etc/shadow".into(),
                    uid: 0,
                    user: "root".into(),
                    start_ns: 3,
                },
                Ancestor {
                    pid: 200,
                    ppid: 100,
                    exe: "/usr/bin/python3".into(),
                    cmdline: "python3 -c x".into(),
                    uid: 0,
                    user: "root".into(),
                    start_ns: 2,
                },
                Ancestor {
                    pid: 100,
                    ppid: 1,
                    exe: "/usr/bin/bash".into(),
                    cmdline: "bash".into(),
                    uid: 0,
                    user: "root".into(),
                    start_ns: 1,
                },
            ],
            container: Some(Container {
                id: CID.into(),
                name: "web".into(),
                image: "nginx:1.25".into(),
                labels: vec![("io.kubernetes.pod.name".into(), "web-0".into())],
                pod: Some(Pod {
                    name: "web-0".into(),
                    namespace: "shop".into(),
                    labels: vec![("app".into(), "web".into())],
                }),
            }),
        },
        refers_to: None,
    }
}

struct Site {
    server: WebServer,
    _dir: tempfile::TempDir,
}

impl Site {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.local_addr())
    }
}

fn start(console: ConsoleConfig, listen: &str) -> Site {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("alerts.db")).expect("store");
    let mut batch: Vec<Record> = (1..=5)
        .map(|i| record(i, "Read sensitive file untrusted"))
        .collect();
    batch.push(record(6, "Terminal shell in container"));
    let mut resp = record(7, "Response");
    resp.source = "response".into();
    resp.refers_to = Some(batch[2].id.clone());
    batch.push(resp);
    store.insert(&batch).expect("insert");
    let silences = Arc::new(
        Silences::new(Vec::new(), Some(dir.path().join("silences.json"))).expect("silences"),
    );
    let rules = || {
        vec![RuleInfo {
            name: "Read sensitive file untrusted".into(),
            enabled: true,
            source: "syscall".into(),
            priority: "Warning".into(),
            tags: vec!["T1003".into()],
            description: "an attempt to read a sensitive file".into(),
            condition: "open_read and sensitive_files".into(),
            file: "/etc/falco/falco_rules.yaml".into(),
            line: 42,
        }]
    };
    let cfg = WebConfig {
        listen_address: listen.into(),
        listen_port: 0,
        prometheus_metrics_enabled: false,
        ..WebConfig::default()
    };
    let versions = Versions::peregrine(&peregrine_rules::version::Version::new(0, 62, 0));
    let extras = Extras {
        silences: Some(silences),
        console: Some(console),
        metrics_text: None,
        alerts: Some(Api {
            store: Arc::new(store),
            rules: Arc::new(rules),
        }),
        ..Extras::default()
    };
    let server =
        WebServer::start_pending_with(&cfg, &versions, None, extras).expect("server starts");
    server.set_ready();
    Site { server, _dir: dir }
}

fn console() -> ConsoleConfig {
    ConsoleConfig {
        enabled: true,
        token: Some(ADMIN.into()),
        read_only_token: Some(READER.into()),
        users: vec![ConsoleUser {
            name: "alice".into(),
            password: "correct horse".into(),
            role: Role::Admin,
        }],
        ..ConsoleConfig::default()
    }
}

/// Status, headers of interest and JSON (or text) body of one request.
fn call(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> (u16, Option<String>, Value) {
    let mut req = ureq::request(method, url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match body {
        Some((ct, b)) => req.set("Content-Type", ct).send_string(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let cookie = resp.header("Set-Cookie").map(str::to_string);
    let text = resp.into_string().expect("body");
    (
        status,
        cookie,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

const ID3: &str = "00000000-0000-4000-8000-000000000003";

#[test]
fn no_credential_gets_401_everywhere_but_the_health_path() {
    let site = start(console(), "127.0.0.1");
    let routes = [
        ("GET", "/api/v1/alerts"),
        ("GET", "/api/v1/alerts/export?format=csv"),
        ("GET", &format!("/api/v1/alerts/{ID3}")),
        ("POST", &format!("/api/v1/alerts/{ID3}/ack")),
        ("POST", &format!("/api/v1/alerts/{ID3}/resolve")),
        ("GET", "/api/v1/rules"),
        ("GET", "/api/v1/silences"),
        ("POST", "/api/v1/silences"),
        ("GET", "/api/v1/session"),
        ("POST", "/api/v1/logout"),
        ("GET", "/api/v1/overview"),
        ("GET", "/api/v1/alerts/stream"),
        ("GET", "/versions"),
        ("GET", "/no/such/path"),
        // A page asked for with another method than a browser's navigation.
        ("POST", "/console/alerts"),
    ];
    for (m, p) in routes {
        let (status, _, body) = call(m, &site.url(p), &[], None);
        assert_eq!(status, 401, "{m} {p}: {body}");
        // A wrong token is no better.
        let (status, _, _) = call(
            m,
            &site.url(p),
            &[("Authorization", &bearer("wrong-token-0123456789"))],
            None,
        );
        assert_eq!(status, 401, "{m} {p} with a wrong token");
    }
    // A browser asking for a page is sent to the login form, and is shown nothing else.
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    for page in [
        "/console/",
        "/console/alerts",
        "/console/rules",
        "/console/debug",
    ] {
        let r = match agent.get(&site.url(page)).call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{page}: {e}"),
        };
        assert_eq!((r.status(), r.header("Location")), (401, None), "{page}");
        assert!(
            r.into_string().expect("body").contains("id=\"login\""),
            "{page}"
        );
    }
    let (status, _, body) = call("GET", &site.url("/healthz"), &[], None);
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
}

#[test]
fn read_only_reads_but_cannot_acknowledge_or_silence() {
    let site = start(console(), "127.0.0.1");
    let ro = bearer(READER);
    let h = [("Authorization", ro.as_str())];
    let (status, _, body) = call("GET", &site.url("/api/v1/alerts"), &h, None);
    assert_eq!(status, 200, "{body}");
    for p in [
        format!("/api/v1/alerts/{ID3}/ack"),
        format!("/api/v1/alerts/{ID3}/resolve"),
    ] {
        let (status, _, _) = call("POST", &site.url(&p), &h, None);
        assert_eq!(status, 403, "{p}");
    }
    let silence = r#"{"matchers": ["rule=x"], "duration_seconds": 60}"#;
    let (status, _, _) = call(
        "POST",
        &site.url("/api/v1/silences"),
        &h,
        Some(("application/json", silence)),
    );
    assert_eq!(status, 403);
    let (_, _, list) = call("GET", &site.url("/api/v1/silences"), &h, None);
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
    let (_, _, a) = call("GET", &site.url(&format!("/api/v1/alerts/{ID3}")), &h, None);
    assert_eq!(a["status"], "open", "nothing changed");
    // The admin token may.
    let admin = bearer(ADMIN);
    let h = [("Authorization", admin.as_str())];
    let (status, _, a) = call(
        "POST",
        &site.url(&format!("/api/v1/alerts/{ID3}/ack")),
        &h,
        None,
    );
    assert_eq!(
        (status, a["status"].as_str(), a["status_by"].as_str()),
        (200, Some("acknowledged"), Some("token"))
    );
    let (status, _, _) = call(
        "POST",
        &site.url("/api/v1/silences"),
        &h,
        Some(("application/json", silence)),
    );
    assert_eq!(status, 201);
}

#[test]
fn a_cookie_session_needs_its_csrf_token_to_change_state() {
    let site = start(console(), "127.0.0.1");
    let (status, _, _) = call(
        "POST",
        &site.url("/api/v1/login"),
        &[],
        Some((
            "application/x-www-form-urlencoded",
            "user=alice&password=wrong",
        )),
    );
    assert_eq!(status, 401);
    let (status, cookie, body) = call(
        "POST",
        &site.url("/api/v1/login"),
        &[],
        Some((
            "application/x-www-form-urlencoded",
            "user=alice&password=correct+horse",
        )),
    );
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.expect("Set-Cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_string();
    let csrf = body["csrf_token"].as_str().expect("csrf").to_string();
    let c = [("Cookie", pair.as_str())];
    let (status, _, who) = call("GET", &site.url("/api/v1/session"), &c, None);
    assert_eq!(
        (status, who["user"].as_str(), who["csrf_token"].as_str()),
        (200, Some("alice"), Some(csrf.as_str()))
    );
    let ack = site.url(&format!("/api/v1/alerts/{ID3}/resolve"));
    let (status, _, _) = call("POST", &ack, &c, None);
    assert_eq!(status, 403, "no CSRF token");
    let (status, _, _) = call("POST", &ack, &[c[0], ("X-CSRF-Token", "0000")], None);
    assert_eq!(status, 403, "wrong CSRF token");
    let (status, _, a) = call("POST", &ack, &[c[0], ("X-CSRF-Token", &csrf)], None);
    assert_eq!(
        (status, a["status"].as_str(), a["status_by"].as_str()),
        (200, Some("resolved"), Some("alice"))
    );
    // After logout the cookie is worthless.
    let (status, _, _) = call(
        "POST",
        &site.url("/api/v1/logout"),
        &[c[0], ("X-CSRF-Token", &csrf)],
        None,
    );
    assert_eq!(status, 200);
    let (status, _, _) = call("GET", &site.url("/api/v1/alerts"), &c, None);
    assert_eq!(status, 401);
}

#[test]
fn failed_logins_from_one_address_are_limited() {
    let site = start(console(), "127.0.0.1");
    let login = |form: &str| match ureq::post(&site.url("/api/v1/login"))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string(form)
    {
        Ok(r) => (r.status(), r.header("Retry-After").map(str::to_string)),
        Err(ureq::Error::Status(s, r)) => (s, r.header("Retry-After").map(str::to_string)),
        Err(e) => panic!("login: {e}"),
    };
    for _ in 0..5 {
        assert_eq!(login("user=alice&password=guess"), (401, None));
    }
    // The sixth within the minute is refused before the password is looked at, right or
    // wrong, and says when to come back.
    for form in [
        "user=alice&password=guess",
        "user=alice&password=correct+horse",
    ] {
        let (status, retry) = login(form);
        assert_eq!(status, 429, "{form}");
        let secs: u64 = retry.expect("Retry-After").parse().expect("seconds");
        assert!((1..=60).contains(&secs), "{secs}");
    }
    // Only logins are limited: a bearer token still reads.
    let (status, _, _) = call(
        "GET",
        &site.url("/api/v1/alerts"),
        &[("Authorization", &bearer(ADMIN))],
        None,
    );
    assert_eq!(status, 200);
}

#[test]
fn list_detail_export_and_rules() {
    let site = start(console(), "127.0.0.1");
    let admin = bearer(ADMIN);
    let h = [("Authorization", admin.as_str())];
    let (status, _, page) = call(
        "GET",
        &site.url("/api/v1/alerts?rule=Read+sensitive+file+untrusted&limit=2&priority=warning"),
        &h,
        None,
    );
    assert_eq!(status, 200, "{page}");
    let rows = page["alerts"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], "00000000-0000-4000-8000-000000000005");
    assert_eq!(rows[0]["namespace"], "shop");
    assert_eq!(rows[0]["proc_exe"], "/usr/bin/cat");
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let (_, _, next) = call(
        "GET",
        &site.url(&format!(
            "/api/v1/alerts?rule=Read+sensitive+file+untrusted&limit=2&cursor={cursor}"
        )),
        &h,
        None,
    );
    assert_eq!(next["alerts"][0]["id"], ID3);
    let (_, _, q) = call(
        "GET",
        &site.url("/api/v1/alerts?q=n%3D6&namespace=shop&since=2027-01-01T00:00:00Z"),
        &h,
        None,
    );
    assert_eq!(q["alerts"].as_array().map(Vec::len), Some(1), "{q}");
    let (status, _, bad) = call("GET", &site.url("/api/v1/alerts?rulez=x"), &h, None);
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("unknown parameter 'rulez'"))
    );
    let (status, _, _) = call("GET", &site.url("/api/v1/alerts?priority=loud"), &h, None);
    assert_eq!(status, 400);

    let (status, _, d) = call("GET", &site.url(&format!("/api/v1/alerts/{ID3}")), &h, None);
    assert_eq!(status, 200, "{d}");
    // bash → python3 → cat, from the oldest down.
    let t = &d["process_tree"];
    assert_eq!(t["exe"], "/usr/bin/bash");
    assert_eq!(t["children"][0]["exe"], "/usr/bin/python3");
    assert_eq!(
        t["children"][0]["children"][0]["cmdline"],
        "cat /etc/shadow"
    );
    assert_eq!(t["children"][0]["children"][0]["alert"], true);
    assert_eq!(
        d["container"]["pod"]["labels"][0],
        serde_json::json!(["app", "web"])
    );
    assert_eq!(d["alert"]["output_fields"]["proc.name"], "cat");
    assert_eq!(d["rule_info"]["condition"], "open_read and sensitive_files");
    assert_eq!(d["responses"][0]["source"], "response");
    // ±5 minutes of minute 3 in the same container: minutes 1, 2, 4, 5, 6, 7 (the response
    // record shares the container too).
    assert_eq!(
        d["related"].as_array().map(Vec::len),
        Some(6),
        "{}",
        d["related"]
    );
    let (status, _, _) = call("GET", &site.url("/api/v1/alerts/no-such-id"), &h, None);
    assert_eq!(status, 404);

    let (status, _, csv) = call(
        "GET",
        &site.url("/api/v1/alerts/export?format=csv&tag=T1003"),
        &h,
        None,
    );
    assert_eq!(status, 200);
    let csv = csv.as_str().expect("text").to_string();
    assert_eq!(csv.lines().count(), 8, "{csv}");
    assert!(csv.starts_with("id,time_ns,priority,rule"));
    let (_, _, jl) = call(
        "GET",
        &site.url("/api/v1/alerts/export?format=jsonl&rule=Terminal+shell+in+container"),
        &h,
        None,
    );
    // One line: the helper parsed it as one JSON value.
    assert_eq!(jl["rule"], "Terminal shell in container", "{jl}");

    let (_, _, rules) = call("GET", &site.url("/api/v1/rules"), &h, None);
    let r = &rules["rules"][0];
    assert_eq!(
        (r["name"].as_str(), r["hits"].as_u64()),
        (Some("Read sensitive file untrusted"), Some(5))
    );
    assert_eq!(
        (r["file"].as_str(), r["line"].as_u64()),
        (Some("/etc/falco/falco_rules.yaml"), Some(42))
    );
    assert_eq!(
        r["last_hit_ns"].as_u64(),
        Some(1_800_000_000 * S + 5 * 60 * S)
    );
}

#[test]
fn no_credential_on_a_public_address_serves_no_console() {
    let open = ConsoleConfig {
        enabled: true,
        ..ConsoleConfig::default()
    };
    let site = start(open, "0.0.0.0");
    let port = site.server.local_addr().port();
    let (status, _, _) = call(
        "GET",
        &format!("http://127.0.0.1:{port}/api/v1/alerts"),
        &[],
        None,
    );
    assert_eq!(status, 404, "the alerts API is not served");
}
