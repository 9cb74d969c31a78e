//! The k8s_audit source through the real binary, the way Falco's test suite runs it: a
//! configuration that loads the k8saudit and json plugins (Falco's library names; Peregrine
//! recognises them and uses its native source) with `open_params` the events file, `-r` for
//! each rules file and `--enable-source k8s_audit`. The 45 shared cases compare rule counts
//! and the malformed event's stderr; a sample of the events files goes through the webhook
//! with a real HTTP client over loopback.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Falco's legacy test configuration (`test/confs/plugins/k8s_audit.yaml`) for `open_params`,
/// with JSON alerts on stdout and no syslog (test machines have no daemon) or deduplication.
fn config(dir: &Path, open_params: &str, init_config: &str) -> std::path::PathBuf {
    let path = dir.join("falco.yaml");
    std::fs::write(
        &path,
        format!(
            "load_plugins: [k8saudit, json]\n\
             plugins:\n\
             \x20 - name: k8saudit\n\
             \x20   library_path: libk8saudit.so\n\
             \x20   init_config: {init_config}\n\
             \x20   open_params: \"{open_params}\"\n\
             \x20 - name: json\n\
             \x20   library_path: libjson.so\n\
             \x20   init_config: \"\"\n\
             json_output: true\n\
             syslog_output: {{enabled: false}}\n\
             dedup: {{enabled: false}}\n"
        ),
    )
    .unwrap();
    path
}

/// The binary on `cfg` with the upstream k8s_audit rules under `dir` and only the k8s_audit
/// source, its stdout and stderr piped.
fn audit_command(cfg: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    cmd.env(peregrine_config::DEFAULT_CONFIG_ENV, "")
        .env_remove("PEREGRINE_LOG")
        .args(["-c", &cfg.display().to_string()])
        .args([
            "-r",
            &dir.join("rules/k8s_audit_rules.yaml").display().to_string(),
        ])
        .args(["--enable-source", "k8s_audit"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("peregrine-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Rule name → alerts, from the JSON lines on stdout; every alert must say its source.
fn counts(stdout: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["source"], "k8s_audit", "{line}");
        *out.entry(v["rule"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    out
}

/// The cases whose legacy `expect_total: 0` the current files contradict (the library-level
/// test in peregrine-k8saudit explains why): the one rule fires once, as in Falco.
const STALE: &[(&str, &str)] = &[
    (
        "k8saudit_compat_engine_v4_create_privileged_trusted_pod",
        "Create Privileged Pod",
    ),
    (
        "k8saudit_compat_engine_v4_create_hostnetwork_trusted_pod",
        "Create HostNetwork Pod",
    ),
];

#[test]
fn falco_k8saudit_cases_through_the_cli() {
    let Some(up) = peregrine_testkit::upstream::require("falco_k8saudit_cases_through_the_cli")
    else {
        return;
    };
    let dir = up.join("k8saudit");
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    assert_eq!(cases.len(), 45);
    let tmp = tempdir("k8saudit-cases");
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let rules = case["rules"].as_array().unwrap();
        let events = case["events"].as_array().unwrap();
        if rules.is_empty() {
            // The field-extraction case (no rules, no stageTimestamp) runs at the library level.
            continue;
        }
        assert_eq!(events.len(), 1, "{name}");
        ran += 1;
        let events = dir.join(events[0].as_str().unwrap());
        let cfg = config(&tmp, &events.display().to_string(), "\"\"");
        let mut args = vec!["-c".to_string(), cfg.display().to_string()];
        for r in rules {
            args.push("-r".into());
            args.push(dir.join(r.as_str().unwrap()).display().to_string());
        }
        for s in case["enabled_sources"].as_array().unwrap() {
            args.push("--enable-source".into());
            args.push(s.as_str().unwrap().into());
        }
        let out = common::peregrine(&args);
        let (so, se) = (common::stdout(&out), common::stderr(&out));
        if !out.status.success() {
            failures.push(format!("{name}: exit {:?}\n{se}", out.status));
            continue;
        }
        let got = counts(&so);
        for (rule, n) in case["expect"].as_object().unwrap() {
            let g = got.get(rule).copied().unwrap_or(0);
            if g != n.as_u64().unwrap() {
                failures.push(format!(
                    "{name}: {rule} fired {g} times, want {n} ({got:?})"
                ));
            }
        }
        if let Some(p) = case.get("expect_priority_present").and_then(Value::as_str) {
            let want = p.to_ascii_lowercase();
            let present = so.lines().filter(|l| l.starts_with('{')).any(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["priority"].as_str().unwrap_or("").to_ascii_lowercase() == want
                    || (want == "info" && v["priority"] == "Informational")
            });
            if !present {
                failures.push(format!("{name}: no alert of priority {p}"));
            }
        }
        if let Some(total) = case.get("expect_total").and_then(Value::as_u64) {
            let sum: u64 = got.values().sum();
            let want = match STALE.iter().find(|(n, _)| *n == name) {
                Some((_, rule)) => {
                    if got.get(*rule) != Some(&1) {
                        failures.push(format!("{name}: want one {rule}, got {got:?}"));
                    }
                    1
                }
                None => total,
            };
            if sum != want {
                failures.push(format!("{name}: {sum} alerts, want {want} ({got:?})"));
            }
        }
        if let Some(re) = case.get("expect_stderr_regex").and_then(Value::as_str) {
            if !regex::Regex::new(re).unwrap().is_match(&se) {
                failures.push(format!("{name}: stderr lacks /{re}/:\n{se}"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert_eq!(ran, 44);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A free loopback port (bound, then released for the agent).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// POSTs `body` and returns the status and the response text.
fn post(url: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    match ureq::post(url)
        .set("Content-Type", content_type)
        .timeout(Duration::from_secs(10))
        .send_bytes(body)
    {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("POST {url}: {e}"),
    }
}

#[test]
fn webhook_raises_the_alerts_of_posted_batches_and_refuses_garbage() {
    if !peregrine_testkit::e2e("webhook_raises_the_alerts_of_posted_batches_and_refuses_garbage") {
        return;
    }
    let Some(up) =
        peregrine_testkit::upstream::require("webhook_raises_the_alerts_of_posted_batches")
    else {
        return;
    };
    let dir = up.join("k8saudit");
    let tmp = tempdir("k8saudit-webhook");
    let port = free_port();
    // A small batch limit to test the refusal of bigger bodies.
    let cfg = config(
        &tmp,
        &format!("http://127.0.0.1:{port}/k8s-audit"),
        "{webhookMaxBatchSize: 200000}",
    );
    let mut child = audit_command(&cfg, &dir).spawn().unwrap();
    let url = format!("http://127.0.0.1:{port}/k8s-audit");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the webhook never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A slow client that sends half a request head and stalls holds nothing up.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut slow, b"POST /k8s-audit HTTP/1.1\r\nHost: x\r\n").unwrap();

    // The sample: each events file's lines as one EventList, as the API server batches them.
    let sample = [
        ("create_nginx_pod_privileged.json", "Create Privileged Pod"),
        (
            "create_cluster_role_wildcard_verbs.json",
            "ClusterRole With Wildcard Created",
        ),
        ("attach_pod.json", "Attach/Exec Pod"),
        (
            "create_configmap_sensitive_values.json",
            "Create/Modify Configmap With Private Credentials",
        ),
    ];
    for (file, _) in sample {
        let text = std::fs::read_to_string(dir.join("events").join(file)).unwrap();
        let items: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let body = format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{}]}}"#,
            items.join(",")
        );
        let (status, _) = post(&url, "application/json", body.as_bytes());
        assert_eq!(status, 200, "{file}");
    }
    // Garbage: each refused with a reason; the server keeps serving.
    let (status, text) = post(&url, "application/json", b"{not json");
    assert_eq!(status, 400);
    assert!(text.contains("invalid JSON"), "{text}");
    let (status, text) = post(&url, "application/json", br#"{"kind": 0}"#);
    assert_eq!(
        (status, text.trim()),
        (400, "data not recognized as a k8s audit event")
    );
    let (status, _) = post(&url, "text/plain", b"{}");
    assert_eq!(status, 400);
    let (status, text) = post(&url, "application/json", &vec![b' '; 300_000]);
    assert_eq!(status, 400);
    assert!(text.contains("webhookMaxBatchSize"), "{text}");
    let (status, _) = ureq::get(&url).call().map_or_else(
        |e| match e {
            ureq::Error::Status(c, _) => (c, ()),
            e => panic!("{e}"),
        },
        |r| (r.status(), ()),
    );
    assert_eq!(status, 405);
    // Still serving after all that.
    let one = std::fs::read_to_string(dir.join("events/create_nginx_pod_privileged.json")).unwrap();
    assert_eq!(post(&url, "application/json", one.trim().as_bytes()).0, 200);
    drop(slow);

    // Wait for the alerts, then stop the agent with SIGTERM.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(l);
        }
        let got = counts(&lines.join("\n"));
        if got.get("Create Privileged Pod") == Some(&2)
            && got.get("Create/Modify Configmap With Private Credentials") == Some(&6)
        {
            break;
        }
    }
    unsafe_kill_term(child.id());
    let status = child.wait().unwrap();
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
        lines.push(l);
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(status.success(), "{status:?}\n{stderr}");
    let got = counts(&lines.join("\n"));
    for (_, rule) in sample {
        assert!(got.contains_key(rule), "{rule} missing: {got:?}\n{stderr}");
    }
    assert_eq!(got["Create Privileged Pod"], 2, "{got:?}");
    assert_eq!(
        got["Create/Modify Configmap With Private Credentials"], 6,
        "{got:?}"
    );
    // 10 events (1 + 1 + 1 + 6 + 1) evaluated, the 4 refused bodies counted.
    assert!(
        stderr.contains("Events processed: 10 (10 source k8s_audit, 4 rejected)"),
        "{stderr}"
    );
}

fn unsafe_kill_term(pid: u32) {
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: kill(2) with our own child's pid and SIGTERM has no memory effects.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0);
}

#[test]
fn the_k8saudit_plugin_config_brings_the_k8s_audit_source_and_its_fields() {
    let tmp = tempdir("k8saudit-list");
    let cfg = config(&tmp, "/nonexistent/audit.log", "\"\"");
    let cfg = cfg.display().to_string();
    let out = common::peregrine(["-c", &cfg, "--list", "k8s_audit", "-N"]);
    let names = common::stdout(&out);
    assert!(out.status.success(), "{}", common::stderr(&out));
    for f in [
        "ka.req.pod.containers.image",
        "ka.uri.param",
        "jevt.value",
        "json.obj",
    ] {
        assert!(names.lines().any(|l| l == f), "{f} missing:\n{names}");
    }
    assert!(!names.lines().any(|l| l == "proc.name"), "{names}");
    // -V checks the rules with the configuration's plugins, as Falco does: the k8s audit
    // rules need k8saudit >= 0.18.0 and json >= 0.7.0.
    if let Some(up) = peregrine_testkit::upstream::require("k8saudit_rules_validate") {
        let rules = up
            .join("k8saudit/rules/k8s_audit_rules.yaml")
            .display()
            .to_string();
        let out = common::peregrine(["-c", &cfg, "-V", &rules]);
        assert!(out.status.success(), "{}", common::stdout(&out));
        assert!(common::stdout(&out).contains(r#""successful":true"#));
        let out = common::peregrine(["-V", &rules]);
        assert!(!out.status.success());
        assert!(common::stdout(&out).contains("Plugin requirement not satisfied"));
    }
    // Without the plugin the source is unknown to --enable-source, as in Falco.
    let out = common::peregrine(["--enable-source", "k8s_audit", "--dry-run"]);
    assert!(!out.status.success());
    // With it, the source can be chosen; a missing file is an error naming it.
    let rules = tmp.join("empty.yaml");
    std::fs::write(&rules, "- list: l\n  items: []\n").unwrap();
    let rules = rules.display().to_string();
    let out = common::peregrine(["-c", &cfg, "--enable-source", "k8s_audit", "-r", &rules]);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("/nonexistent/audit.log"),
        "{}",
        common::stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn the_audit_source_runs_beside_the_live_capture() {
    if !peregrine_testkit::live("the_audit_source_runs_beside_the_live_capture") {
        return;
    }
    let Some(up) =
        peregrine_testkit::upstream::require("the_audit_source_runs_beside_the_live_capture")
    else {
        return;
    };
    let dir = up.join("k8saudit");
    let tmp = tempdir("k8saudit-live");
    let events = dir.join("events/create_nginx_pod_privileged.json");
    let cfg = config(&tmp, &events.display().to_string(), "\"\"");
    // Both sources (no --enable-source): the capture runs for 3 s, the audit file beside it.
    let out = common::peregrine([
        "-c",
        &cfg.display().to_string(),
        "-r",
        &dir.join("rules/k8s_audit_rules.yaml").display().to_string(),
        "-M",
        "3",
    ]);
    let (so, se) = (common::stdout(&out), common::stderr(&out));
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(out.status.success(), "{se}");
    let audit: Vec<&str> = so
        .lines()
        .filter(|l| l.contains(r#""source":"k8s_audit""#))
        .collect();
    assert_eq!(audit.len(), 1, "{so}\n{se}");
    assert!(
        audit[0].contains(r#""rule":"Create Privileged Pod""#),
        "{}",
        audit[0]
    );
    // The capture ran too: its own summary line counts kernel events.
    assert!(se.contains("kernel: "), "{se}");
    assert!(
        se.contains("Events processed: 1 (1 source k8s_audit, 0 rejected)"),
        "{se}"
    );
}

/// `open_params: "-"` reads audit events from standard input until it closes.
#[test]
fn audit_events_from_standard_input() {
    let Some(up) = peregrine_testkit::upstream::require("audit_events_from_standard_input") else {
        return;
    };
    let dir = up.join("k8saudit");
    let tmp = tempdir("k8saudit-stdin");
    let cfg = config(&tmp, "-", "\"\"");
    let mut child = audit_command(&cfg, &dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for f in ["create_nginx_pod_privileged.json", "attach_pod.json"] {
        let line = std::fs::read(dir.join("events").join(f)).unwrap();
        std::io::Write::write_all(&mut stdin, &line).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (common::stdout(&out), common::stderr(&out));
    assert!(out.status.success(), "{stderr}");
    let got = counts(&stdout);
    assert_eq!(
        got,
        BTreeMap::from([
            ("Attach/Exec Pod".to_string(), 1),
            ("Create Privileged Pod".to_string(), 1)
        ]),
        "{stderr}"
    );
}

/// `open_params: "file:///…"` follows the file like `tail -F`: what it held at the start is
/// skipped, appended events raise alerts, and a rotated-in file is read from its start.
#[test]
fn a_followed_audit_file_through_appends_and_a_rotation() {
    let Some(up) = peregrine_testkit::upstream::require(
        "a_followed_audit_file_through_appends_and_a_rotation",
    ) else {
        return;
    };
    let dir = up.join("k8saudit");
    let event = |f: &str| std::fs::read_to_string(dir.join("events").join(f)).unwrap();
    let tmp = tempdir("k8saudit-follow");
    let log = tmp.join("audit.log");
    // Already there at the start: never evaluated.
    std::fs::write(&log, event("attach_pod.json")).unwrap();
    let cfg = config(&tmp, &format!("file://{}", log.display()), "\"\"");
    let mut child = audit_command(&cfg, &dir).spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let append = |text: &str| {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
    };
    // The agent may not have reached the file's end yet: the event is appended until its
    // first alert shows, so later alerts of it are possible (counted, not asserted).
    let wait_for = |rule: &str, again: &dyn Fn()| -> Vec<String> {
        let start = Instant::now();
        let mut seen = Vec::new();
        loop {
            again();
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
                let hit = line.contains(rule);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no {rule} alert: {seen:?}"
            );
        }
    };
    let mut lines = wait_for("Create Privileged Pod", &|| {
        append(&event("create_nginx_pod_privileged.json"))
    });
    // Rotation: the file is renamed away and a new one starts with another event.
    std::fs::rename(&log, tmp.join("audit.log.1")).unwrap();
    std::fs::write(&log, event("create_cluster_role_wildcard_verbs.json")).unwrap();
    lines.extend(wait_for("ClusterRole With Wildcard Created", &|| {}));
    unsafe_kill_term(child.id());
    let status = child.wait().unwrap();
    assert!(status.success());
    let got = counts(&lines.join("\n"));
    assert!(!got.contains_key("Attach/Exec Pod"), "{got:?}");
    assert_eq!(got["ClusterRole With Wildcard Created"], 1, "{got:?}");
    let _ = std::fs::remove_dir_all(&tmp);
}
