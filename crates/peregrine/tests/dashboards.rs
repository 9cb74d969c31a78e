//! The shipped Prometheus rules (`deploy/prometheus/peregrine.rules.yaml`) and Grafana dashboard
//! (`deploy/grafana/peregrine.json`), checked the way an operator would use them: promtool
//! checks the rules and runs their unit tests, and a real Prometheus (started here on loopback)
//! loads the rules and scrapes a live agent that raised a known number of alerts. Every
//! recording and alerting rule must evaluate without error, and every panel expression of the
//! dashboard must parse through Prometheus' HTTP API and name only series the agent exports;
//! the ones about alerts must count the alerts raised.

mod e2e_harness;

use e2e_harness::{scratch, Agent};
use peregrine_testkit::services;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long any background condition may take on a busy 2-core machine.
const DEADLINE: Duration = Duration::from_secs(60);

/// Alerts the live test raises.
const ALERTS: usize = 5;

const RULE: &str = "Dashboard marker";

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path)
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(deploy("grafana/peregrine.json")).expect("dashboard");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// `(panel title, expression)` of every query of the dashboard.
fn panel_exprs(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or_default().to_string();
            out.push((title, t["expr"].as_str().unwrap_or_default().to_string()));
        }
    }
    out
}

/// Grafana's variables as they are when every host is selected over the last hour.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "10s")
        .replace("$__range", "1h")
        .replace("$instance", ".*")
}

#[test]
fn the_dashboard_has_three_views_and_a_query_per_panel() {
    let dash = dashboard();
    let panels = dash["panels"].as_array().expect("panels");
    let rows: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert_eq!(rows, ["Executive", "On-call", "Debug"]);
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_u64()), "duplicate panel id: {p}");
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{} has no query", p["title"]);
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or_default();
            assert!(!expr.trim().is_empty(), "{}: empty query", p["title"]);
            // Every raw series is filtered by the host variable (recording rules of the whole
            // fleet are the exception: they carry no instance).
            if series_names(expr).iter().any(|n| !n.contains(':')) {
                assert!(expr.contains("instance=~\"$instance\""), "{expr}");
            }
        }
    }
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for wanted in [
        "Alerts over time by priority",
        "Trend vs previous period",
        "Top rules",
        "Time to detect p50 / p95",
        "Coverage",
        "Alert rate by rule",
        "Response actions by outcome",
        "Events/s",
        "Drops by cause",
        "Per-output delivery",
        "Spool",
        "Container metadata lookups",
        "Rule evaluation cost",
    ] {
        assert!(titles.contains(&wanted), "no panel {wanted:?}: {titles:?}");
    }
}

fn promtool(args: &[&Path]) -> (bool, String) {
    let out = Command::new("/usr/bin/promtool")
        .args(args.iter().map(|a| a.as_os_str()))
        .output()
        .expect("promtool runs (scripts/bootstrap installs the Debian package prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn promtool_checks_the_rules_and_runs_their_unit_tests() {
    if !peregrine_testkit::e2e("promtool_checks_the_rules_and_runs_their_unit_tests") {
        return;
    }
    let rules = deploy("prometheus/peregrine.rules.yaml");
    let (ok, text) = promtool(&[Path::new("check"), Path::new("rules"), &rules]);
    assert!(ok && text.contains("SUCCESS"), "{text}");
    let tests = deploy("prometheus/tests/peregrine.rules.test.yaml");
    let (ok, text) = promtool(&[Path::new("test"), Path::new("rules"), &tests]);
    assert!(ok && text.contains("SUCCESS"), "{text}");
    // A broken expectation fails: the unit tests are not vacuous.
    let dir = scratch("dash-promtool");
    let broken = dir.join("broken.test.yaml");
    let text = std::fs::read_to_string(&tests).expect("rule tests");
    std::fs::write(
        &broken,
        text.replace("../peregrine.rules.yaml", &rules.display().to_string())
            .replacen("value: 1200", "value: 1201", 1),
    )
    .expect("broken copy");
    let (ok, out) = promtool(&[Path::new("test"), Path::new("rules"), &broken]);
    assert!(!ok && out.contains("FAILED"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `s` percent-encoded for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Prometheus' answer to `GET /api/v1/<path>` (its JSON, whatever the status). HTTP/1.0, so
/// that a long answer comes whole rather than chunked.
fn api(prom: SocketAddr, path: &str) -> Option<Value> {
    let mut s = std::net::TcpStream::connect_timeout(&prom, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET /api/v1/{path} HTTP/1.0\r\nHost: {prom}\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (_, body) = raw.split_once("\r\n\r\n")?;
    serde_json::from_str(body).ok()
}

/// An instant query: `Ok(result vector)` or `Err(error text)`.
fn query(prom: SocketAddr, expr: &str) -> Result<Vec<Value>, String> {
    let v = api(prom, &format!("query?query={}", encode(expr)))
        .ok_or_else(|| "no answer".to_string())?;
    if v["status"] != "success" {
        return Err(format!("{}: {}", v["errorType"], v["error"]));
    }
    match &v["data"]["result"] {
        Value::Array(a) => Ok(a.clone()),
        // A scalar result: one value.
        other => Ok(vec![serde_json::json!({"metric": {}, "value": other})]),
    }
}

fn value(sample: &Value) -> Option<f64> {
    sample["value"][1].as_str()?.parse().ok()
}

/// The single value of `expr` once `ok` holds for it, at most [`DEADLINE`].
fn wait_value(prom: SocketAddr, expr: &str, ok: impl Fn(f64) -> bool) -> Result<f64, String> {
    let end = Instant::now() + DEADLINE;
    loop {
        let last = match query(prom, expr) {
            Ok(r) => {
                let vals: Vec<f64> = r.iter().filter_map(value).collect();
                if let [v] = vals[..] {
                    if ok(v) {
                        return Ok(v);
                    }
                }
                format!("{r:?}")
            }
            Err(e) => e,
        };
        if Instant::now() >= end {
            return Err(format!("{expr}: last answer {last}"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Series names an expression reads (metric names and recording rules, outside quotes).
fn series_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_quote = false;
    let mut word = String::new();
    for c in expr.chars().chain([' ']) {
        if c == '"' {
            in_quote = !in_quote;
            word.clear();
            continue;
        }
        if !in_quote && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            word.push(c);
            continue;
        }
        let series = word.starts_with("peregrine")
            || word.starts_with("falcosecurity_")
            || word.starts_with("instance")
            || word.starts_with("rule_name:")
            || word.starts_with("priority:")
            || word == "up";
        if series && word != "instance" {
            names.insert(word.clone());
        }
        word.clear();
    }
    names
}

/// Series that only exist when a feature this test leaves off is configured (response
/// policies, silences): their panels must still parse, but have nothing to show here.
const NEEDS_FEATURE: &[&str] = &[
    "peregrine_response_actions_total",
    "peregrine_response_action_latency_seconds_bucket",
    "peregrine_response_breaker_trips_total",
    "peregrine_response_dropped_total",
    "peregrine_silence_suppressed_total",
];

#[test]
fn a_real_prometheus_evaluates_the_rules_and_every_panel_on_a_live_agent() {
    if !peregrine_testkit::e2e_root(
        "a_real_prometheus_evaluates_the_rules_and_every_panel_on_a_live_agent",
    ) {
        return;
    }
    let dir = scratch("dash-live");
    let program = dir.join("dashmark");
    std::fs::copy("/usr/bin/true", &program).expect("copy true");
    let program = program.display().to_string();
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "- rule: {RULE}\n  desc: the marker program ran\n  \
             condition: evt.type in (execve, execveat) and proc.exe = {program}\n  \
             output: dashboard marker %proc.cmdline\n  priority: CRITICAL\n  tags: [dash]\n"
        ),
    )
    .expect("rules file");
    let config = dir.join("falco.yaml");
    std::fs::write(
        &config,
        "webserver: {enabled: true, listen_address: 127.0.0.1, listen_port: 0, \
         prometheus_metrics_enabled: true}\nmetrics: {enabled: true, include_empty_values: true}\n",
    )
    .expect("config file");
    // Exec events and process creation only: a flood of other syscalls on the host cannot
    // push a marker out of the ring.
    let mut agent = Agent::start(
        &rules,
        &[
            "-c",
            &config.display().to_string(),
            "-o",
            "base_syscalls.repair=false",
            "-o",
            "base_syscalls.custom_set[]=clone",
            "-o",
            "base_syscalls.custom_set[]=clone3",
        ],
    );
    let target = agent.web_addr();
    let rules_file = deploy("prometheus/peregrine.rules.yaml");
    let prom = services::prometheus(std::slice::from_ref(&target), &[&rules_file])
        .expect("prometheus starts");
    let p = prom.addr();
    // Zero alerts scraped first, so the alerts counted below are all increase.
    wait_value(p, "sum(peregrine_alerts_total)", |v| v == 0.0).expect("agent scraped");
    std::thread::sleep(Duration::from_secs(5));
    let mut raised = 0;
    let end = Instant::now() + DEADLINE;
    while raised < ALERTS && Instant::now() < end {
        assert!(Command::new(&program).status().expect("marker").success());
        if agent.wait_for(Duration::from_secs(5), |l| {
            l.stdout && l.text.contains("dashboard marker")
        }) {
            raised += 1;
        }
    }
    assert_eq!(raised, ALERTS, "{:#?}", agent.log);
    let n = ALERTS as f64;
    let exact = |v: f64| v == n;
    // `increase` extrapolates to the end of its window by up to one scrape interval: with at
    // least 10 s of samples that is under 11 %.
    let about = |v: f64| v >= n && v <= n * 1.2;
    let why = |e: String| format!("{e}\n{}", prom.log());
    // The raw series.
    wait_value(
        p,
        "sum(peregrine_alerts_total{priority=\"Critical\"})",
        exact,
    )
    .map_err(why)
    .unwrap();
    wait_value(p, "sum(peregrine_time_to_detect_seconds_count)", exact)
        .map_err(why)
        .unwrap();
    wait_value(
        p,
        &format!("sum(peregrine_alerts_by_rule_total{{rule=\"{RULE}\"}})"),
        exact,
    )
    .map_err(why)
    .unwrap();
    // Let the samples span 10 s past the last alert.
    std::thread::sleep(Duration::from_secs(10));

    // The recording rules, as Prometheus evaluated them.
    for (expr, ok) in [
        (
            "instance:peregrine_alerts:increase1h".to_string(),
            &about as &dyn Fn(f64) -> bool,
        ),
        (
            "instance_priority:peregrine_alerts:increase1h{priority=\"Critical\"}".into(),
            &about,
        ),
        (
            format!(
                "rule_name:falcosecurity_falco_rules_matches:increase1h{{rule_name=\"{RULE}\"}}"
            ),
            &about,
        ),
        (
            format!("rule_name:falcosecurity_falco_rules_matches:ratio1h{{rule_name=\"{RULE}\"}}"),
            &|v| v == 1.0,
        ),
        ("peregrine:hosts_expected:count".into(), &|v| v == 1.0),
        ("peregrine:hosts_reporting:count".into(), &|v| v == 1.0),
        ("peregrine:coverage:ratio".into(), &|v| v == 1.0),
        // Detection on an idle host takes milliseconds; anything under 10 s is a real figure
        // (the histogram's last bound), past it only +Inf.
        ("peregrine:time_to_detect_seconds:p50_5m".into(), &|v| {
            v > 0.0 && v <= 10.0
        }),
        ("peregrine:time_to_detect_seconds:p95_5m".into(), &|v| {
            v > 0.0 && v <= 10.0
        }),
        (
            "instance:peregrine_dropped_events:ratio_rate5m".into(),
            &|v| (0.0..=1.0).contains(&v),
        ),
        (
            "priority:peregrine_alerts:rate5m{priority=\"Critical\"}".into(),
            &|v| v > 0.0,
        ),
    ] {
        wait_value(p, &expr, ok).map_err(why).unwrap();
    }
    // Every rule of the file is loaded and evaluates without error; no agent alert fires.
    let groups = api(p, "rules").expect("rules API");
    let mut loaded = 0;
    for g in groups["data"]["groups"].as_array().expect("groups") {
        for r in g["rules"].as_array().expect("rules") {
            loaded += 1;
            assert_eq!(r["health"], "ok", "{r}");
            if r["type"] == "alerting" {
                assert_eq!(r["state"], "inactive", "{r}");
            }
        }
    }
    let file = std::fs::read_to_string(&rules_file).expect("rules");
    let in_file = file
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("- record:") || l.trim_start().starts_with("- alert:")
        })
        .count();
    assert_eq!(loaded, in_file, "{groups}");

    // Every panel of the dashboard: parses, and reads only series that exist.
    let names: BTreeSet<String> = api(p, "label/__name__/values").expect("names")["data"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let dash = dashboard();
    for (title, expr) in panel_exprs(&dash) {
        let expr = substitute(&expr);
        if let Err(e) = query(p, &expr) {
            panic!("panel {title:?}: {expr}: {e}");
        }
        for name in series_names(&expr) {
            assert!(
                names.contains(&name) || NEEDS_FEATURE.contains(&name.as_str()),
                "panel {title:?} reads {name}, which Prometheus does not have"
            );
        }
    }
    // The panels about alerts count the alerts raised.
    let panel = |title: &str| {
        panel_exprs(&dash)
            .into_iter()
            .find(|(t, _)| t == title)
            .map(|(_, e)| substitute(&e))
            .unwrap_or_else(|| panic!("no panel {title}"))
    };
    for title in ["Alerts in range", "Critical and above in range"] {
        wait_value(p, &panel(title), about).map_err(why).unwrap();
    }
    let top = query(p, &panel("Top rules")).expect("top rules");
    let ours = top
        .iter()
        .find(|s| s["metric"]["rule_name"] == RULE)
        .and_then(value);
    assert!(ours.is_some_and(about), "{top:?}");
    let by_prio = query(p, &panel("Alerts over time by priority")).expect("by priority");
    assert!(
        by_prio
            .iter()
            .any(|s| s["metric"]["priority"] == "Critical"),
        "{by_prio:?}"
    );
    let hits = query(p, &panel("Rule hits by host")).expect("rule hits");
    assert!(
        hits.iter()
            .any(|s| s["metric"]["rule_name"] == RULE && value(s).is_some_and(about)),
        "{hits:?}"
    );
    let ttd = query(p, &panel("Time to detect p95 in range")).expect("ttd");
    assert!(
        ttd.first()
            .and_then(value)
            .is_some_and(|v| v > 0.0 && v <= 10.0),
        "{ttd:?}"
    );
    assert!(agent.stop().success());
    let _ = std::fs::remove_dir_all(dir);
}
