//! The alert store and its API through the binary, as root on the live kernel: a real
//! `bash → python3 → cat` reading a file raises an alert that the API lists with its process
//! tree; requests without a token get 401 and a read-only token cannot acknowledge; the
//! acknowledged alert is still there, acknowledged, after the agent restarts.

mod e2e_harness;

use e2e_harness::{console_agent, fresh_db, poll, run, scratch};
use serde_json::Value;
use std::time::Duration;

/// Generous, for a loaded machine: only decides when an alert counts as missing.
const DEADLINE: Duration = Duration::from_secs(15);
const TOKEN: &str = "store-test-admin-token-0123";
const READER: &str = "store-test-reader-token-0123";

/// `METHOD path` with an optional bearer token: (status, JSON body).
fn http(addr: &str, method: &str, path: &str, token: Option<&str>) -> Option<(u16, Value)> {
    let (status, body) = e2e_harness::http(addr, method, path, token, None)?;
    Some((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

/// `GET path` with a token: the raw body.
fn text(addr: &str, path: &str, token: &str) -> Option<String> {
    e2e_harness::http(addr, "GET", path, Some(token), None).map(|(_, body)| body)
}

/// A series' value on the metrics page.
fn series(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// The process tree's chain of executables, from the oldest ancestor down.
fn chain(tree: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut node = tree;
    while let Some(exe) = node["exe"].as_str() {
        out.push(exe.to_string());
        node = &node["children"][0];
    }
    out
}

#[test]
fn a_live_alert_is_stored_with_its_process_tree_guarded_and_kept_across_a_restart() {
    if !peregrine_testkit::live(
        "a_live_alert_is_stored_with_its_process_tree_guarded_and_kept_across_a_restart",
    ) {
        return;
    }
    let dir = scratch("alert-store");
    let db = fresh_db(&dir);
    let secret = dir.join("shadow");
    std::fs::write(&secret, "root:x:0:\n").expect("secret");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "
- rule: Secret read by cat
  desc: a test file read by cat under python3
  condition: evt.type in (open, openat, openat2) and fd.name = {} and proc.name = cat
  output: secret read (file=%fd.name cmdline=%proc.cmdline parent=%proc.pname)
  priority: CRITICAL
  tags: [T1003, test]
",
            secret.display()
        ),
    )
    .expect("rules");
    let config = format!(
        "webserver: {{enabled: true, listen_address: 127.0.0.1, listen_port: 0, \
             prometheus_metrics_enabled: true}}\nmetrics: {{enabled: true}}\n\
             json_output: true\n\
             console: {{enabled: true, token: {TOKEN}, read_only_token: {READER}}}\n\
             alert_store: {{enabled: true, path: {}, ancestry_depth: 8}}\n",
        db.display()
    );
    let mut agent = console_agent(&dir, &rules, &config, &[]);
    let addr = agent.web_addr();

    let script = format!(
        "import subprocess; subprocess.run(['cat', '{}'], stdout=subprocess.DEVNULL)",
        secret.display()
    );
    run(
        "bash",
        &["-c", &format!("/usr/bin/python3 -c \"{script}\"; true")],
    );
    assert!(
        agent
            .expect_alert(DEADLINE, |v| v["rule"] == "Secret read by cat")
            .is_some(),
        "no alert on stdout"
    );
    let list = "/api/v1/alerts?rule=Secret+read+by+cat&priority=critical&tag=T1003";
    let rows = poll(DEADLINE, || {
        let (status, v) = http(&addr, "GET", list, Some(TOKEN))?;
        assert_eq!(status, 200, "{v}");
        let rows = v["alerts"].as_array()?.clone();
        (!rows.is_empty()).then_some(rows)
    })
    .expect("the alert is listed");
    let id = rows[0]["id"].as_str().expect("id").to_string();
    let detail = format!("/api/v1/alerts/{id}");
    let (status, d) = http(&addr, "GET", &detail, Some(READER)).expect("answer");
    assert_eq!(status, 200, "{d}");
    let exes = chain(&d["process_tree"]);
    let tail: Vec<&str> = exes
        .iter()
        .rev()
        .take(3)
        .map(|e| e.rsplit('/').next().unwrap_or(e))
        .collect();
    assert_eq!(tail.len(), 3, "{exes:?}");
    assert_eq!(tail[0], "cat", "{exes:?}");
    assert!(tail[1].starts_with("python3"), "{exes:?}");
    assert_eq!(tail[2], "bash", "{exes:?}");
    assert_eq!(
        d["ancestry"][0]["cmdline"],
        format!("cat {}", secret.display())
    );
    assert!(
        d["ancestry"][0]["start_ns"].as_u64().is_some_and(|t| t > 0),
        "{d}"
    );
    assert_eq!(d["alert"]["rule"], "Secret read by cat");
    assert_eq!(
        d["rule_info"]["description"],
        "a test file read by cat under python3"
    );

    // No token: 401 on every API; read-only: no acknowledging.
    for (m, p) in [
        ("GET", list),
        ("GET", detail.as_str()),
        ("GET", "/api/v1/rules"),
        ("GET", "/metrics"),
    ] {
        assert_eq!(http(&addr, m, p, None).map(|r| r.0), Some(401), "{p}");
    }
    let ack = format!("{detail}/ack");
    assert_eq!(http(&addr, "POST", &ack, None).map(|r| r.0), Some(401));
    assert_eq!(
        http(&addr, "POST", &ack, Some(READER)).map(|r| r.0),
        Some(403)
    );
    let (status, a) = http(&addr, "POST", &ack, Some(TOKEN)).expect("answer");
    assert_eq!(
        (status, a["status"].as_str()),
        (200, Some("acknowledged")),
        "{a}"
    );
    let (_, rules_page) = http(&addr, "GET", "/api/v1/rules", Some(TOKEN)).expect("answer");
    let rule = &rules_page["rules"][0];
    // The rule is the first item of its file (line 2: the file starts with a newline).
    assert_eq!(rule["file"].as_str(), Some(&*rules.display().to_string()));
    assert_eq!(rule["line"].as_u64(), Some(2), "{rule}");
    assert_eq!(
        (rule["name"].as_str(), rule["hits"].as_u64()),
        (Some("Secret read by cat"), Some(1))
    );
    // The store's series on the metrics page.
    let page = text(&addr, "/metrics", READER).expect("metrics");
    assert!(
        series(&page, "peregrine_alert_store_inserted_total").is_some_and(|n| n >= 1.0),
        "{page}"
    );
    assert_eq!(
        series(&page, "peregrine_alert_store_dropped_total"),
        Some(0.0)
    );
    assert!(series(&page, "peregrine_alert_store_size_bytes").is_some_and(|n| n > 0.0));
    assert!(agent.stop().success());

    let agent = console_agent(&dir, &rules, &config, &[]);
    let addr = agent.web_addr();
    let (status, d) = http(&addr, "GET", &detail, Some(TOKEN)).expect("answer");
    assert_eq!(status, 200, "kept across the restart: {d}");
    assert_eq!(
        (d["status"].as_str(), d["status_by"].as_str()),
        (Some("acknowledged"), Some("token"))
    );
    assert_eq!(chain(&d["process_tree"]), exes);
    assert!(agent.stop().success());
}
