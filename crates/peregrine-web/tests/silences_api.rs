//! The silences API on a real server on loopback: create, list, get, expire, every error
//! status, and the state file a restart reads back; the isolated containers' API beside it.

use peregrine_triage::silence::STATE_FILE;
use peregrine_triage::Silences;
use peregrine_web::{Versions, WebConfig, WebServer};
use serde_json::Value;
use std::sync::Arc;

fn start(store: Arc<Silences>) -> WebServer {
    let cfg = WebConfig {
        listen_address: "127.0.0.1".into(),
        listen_port: 0,
        ..WebConfig::default()
    };
    let versions = Versions::peregrine(&peregrine_rules::version::Version::new(0, 62, 0));
    WebServer::start_pending_with_silences(&cfg, &versions, None, store).expect("server starts")
}

/// Status and JSON body of one request.
fn call(method: &str, url: &str, content_type: Option<&str>, body: Option<&str>) -> (u16, Value) {
    let mut req = ureq::request(method, url);
    if let Some(ct) = content_type {
        req = req.set("Content-Type", ct);
    }
    let result = match body {
        Some(b) => req.send_string(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn create_list_get_expire_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(STATE_FILE);
    let store = Arc::new(Silences::new(Vec::new(), Some(file.clone())).expect("store"));
    let server = start(store.clone());
    let base = format!("http://{}/api/v1/silences", server.local_addr());
    let json = Some("application/json");

    let (st, created) = call(
        "POST",
        &base,
        json,
        Some(
            r#"{"matchers": ["k8s.ns.name=staging", "rule=Write below *"], "duration_seconds": 600, "comment": "deploy", "created_by": "ops"}"#,
        ),
    );
    assert_eq!(st, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["state"], "active");
    assert_eq!(created["matchers"][1], "rule=Write below *");

    let (st, list) = call("GET", &base, None, None);
    assert_eq!(st, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let (st, one) = call("GET", &format!("{base}/{id}"), None, None);
    assert_eq!((st, one["comment"].as_str()), (200, Some("deploy")));

    // Errors: each with its status and a message naming what is wrong.
    let (st, e) = call("POST", &base, json, Some(r#"{"matchers": ["rule"]}"#));
    assert_eq!(st, 400);
    assert!(
        e["error"]
            .as_str()
            .is_some_and(|m| m.contains("silence.matchers[0]")),
        "{e}"
    );
    let (st, e) = call("POST", &base, json, Some(r#"{"matchers": ["a=b"]}"#));
    assert_eq!(st, 400);
    assert!(
        e["error"].as_str().is_some_and(|m| m.contains("ends_at")),
        "{e}"
    );
    let (st, _) = call("POST", &base, json, Some("not json"));
    assert_eq!(st, 400);
    let (st, _) = call(
        "POST",
        &base,
        Some("text/plain"),
        Some(r#"{"matchers": ["a=b"], "duration_seconds": 5}"#),
    );
    assert_eq!(st, 415, "a cross-origin form post cannot create a silence");
    let dup = format!(r#"{{"id": "{id}", "matchers": ["a=b"], "duration_seconds": 5}}"#);
    assert_eq!(call("POST", &base, json, Some(&dup)).0, 409);
    assert_eq!(call("GET", &format!("{base}/nope"), None, None).0, 404);
    assert_eq!(call("GET", &format!("{base}/..%2f"), None, None).0, 404);
    assert_eq!(call("DELETE", &format!("{base}/nope"), None, None).0, 404);
    assert_eq!(call("PUT", &base, json, Some("{}")).0, 405);
    let big = format!(
        r#"{{"comment": "{}"}}"#,
        "x".repeat(peregrine_web::MAX_BODY)
    );
    assert_eq!(call("POST", &base, json, Some(&big)).0, 413);

    // Expire: still listed, as expired, and the state file says so too.
    let (st, gone) = call("DELETE", &format!("{base}/{id}"), None, None);
    assert_eq!((st, gone["state"].as_str()), (200, Some("expired")));
    let stored: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("state")).expect("json");
    assert_eq!(stored["silences"][0]["id"].as_str(), Some(id.as_str()));
    server.shutdown();
    let again = Silences::new(Vec::new(), Some(file)).expect("reload");
    assert_eq!(again.list(u64::MAX / 2)[0]["state"], "expired");
}

/// The isolated containers' API beside the silences one, on a registry read from a state
/// file a previous run left: listed; unisolate of a container whose namespace has gone
/// forgets it (nothing to remove), and rewrites the file; a malformed or unknown id is 404;
/// the wrong method 405.
#[test]
fn isolated_containers_list_and_unisolate() {
    use peregrine_response::isolate::{Registry, STATE_FILE as ISOLATED};
    let dir = tempfile::tempdir().expect("tempdir");
    let id = "c0ffee".repeat(10) + "abcd";
    // A pid beyond pid_max: its namespace is certainly gone.
    std::fs::write(
        dir.path().join(ISOLATED),
        format!(
            r#"[{{"container_id":"{id}","pid":99999999,"netns":4026531840,"since_ns":1,"policy":"p","rule":"r"}}]"#
        ),
    )
    .expect("state");
    let registry = Arc::new(Registry::open(std::path::Path::new("/"), Some(dir.path())));
    let cfg = WebConfig {
        listen_address: "127.0.0.1".into(),
        listen_port: 0,
        ..WebConfig::default()
    };
    let versions = Versions::peregrine(&peregrine_rules::version::Version::new(0, 62, 0));
    let extras = peregrine_web::Extras {
        silences: Some(Arc::new(Silences::new(Vec::new(), None).expect("store"))),
        isolation: Some(registry),
        ..peregrine_web::Extras::default()
    };
    let server =
        WebServer::start_pending_with(&cfg, &versions, None, extras).expect("server starts");
    let base = format!("http://{}/api/v1", server.local_addr());

    let (st, list) = call("GET", &format!("{base}/isolated"), None, None);
    assert_eq!(st, 200);
    assert_eq!(list[0]["container_id"].as_str(), Some(id.as_str()));
    let (st, e) = call(
        "POST",
        &format!("{base}/containers/xyz/unisolate"),
        None,
        None,
    );
    assert_eq!(st, 404, "{e}");
    let (st, e) = call(
        "POST",
        &format!("{base}/containers/{}/unisolate", "ab".repeat(8)),
        None,
        None,
    );
    assert_eq!(st, 404, "{e}");
    let (st, _) = call(
        "GET",
        &format!("{base}/containers/{id}/unisolate"),
        None,
        None,
    );
    assert_eq!(st, 405);
    let (st, done) = call(
        "POST",
        &format!("{base}/containers/{}/unisolate", &id[..12]),
        None,
        None,
    );
    assert_eq!(st, 200, "{done}");
    assert_eq!(done["rules_removed"], false);
    let (_, list) = call("GET", &format!("{base}/isolated"), None, None);
    assert_eq!(list, serde_json::json!([]));
    let kept = std::fs::read_to_string(dir.path().join(ISOLATED)).expect("state");
    assert_eq!(kept, "[]");
}
