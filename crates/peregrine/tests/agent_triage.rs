//! Alert triage through the binary, as root on the live kernel: deduplication folds 10,000
//! identical opens into one alert and one summary sent on time by the agent's timer while
//! another executable's opens stay distinct; silences created over the HTTP API suppress,
//! are counted in `/metrics`, survive an agent restart and expire on time; and (replay)
//! routing sends critical alerts to one output and the rest to another, and deduplication is
//! on in the built-in configuration and off under a falco.yaml that does not set it.

mod common;
mod e2e_harness;

use e2e_harness::{field, poll, run, scratch, Agent};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// Generous, for a loaded machine: only decides when an alert counts as missing.
const ALERT_DEADLINE: Duration = Duration::from_secs(10);

fn open_rule(marker: &Path) -> String {
    format!(
        "
- rule: Marker opened
  desc: t
  condition: evt.type in (open, openat, openat2) and fd.name startswith {}
  output: marker opened (file=%fd.name exe=%proc.exepath container=%container.id pid=%proc.pid)
  priority: WARNING
",
        marker.display()
    )
}

fn is_marker(v: &Value, file: &Path, exe_suffix: &str) -> bool {
    v["rule"] == "Marker opened"
        && field(v, "fd.name").as_deref() == Some(&*file.display().to_string())
        && field(v, "proc.exepath").is_some_and(|e| e.contains(exe_suffix))
}

fn is_summary(v: &Value) -> bool {
    field(v, "dedup.count").is_some()
}

#[test]
fn dedup_folds_ten_thousand_opens_into_one_alert_and_a_summary_on_time() {
    if !peregrine_testkit::live(
        "dedup_folds_ten_thousand_opens_into_one_alert_and_a_summary_on_time",
    ) {
        return;
    }
    let dir = scratch("triage-dedup");
    let marker = dir.join("marker");
    std::fs::write(&marker, "x").expect("marker");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, open_rule(&dir.join("marker"))).expect("rules");
    let mut agent = Agent::start(
        &rules,
        &[
            "-o",
            "json_output=true",
            "-o",
            "dedup.enabled=true",
            "-o",
            "dedup.window=4s",
        ],
    );
    let path = marker.display().to_string();
    let started = Instant::now();
    run(
        "python3",
        &[
            "-c",
            "import sys\nfor _ in range(10000): open(sys.argv[1]).close()",
            &path,
        ],
    );
    let behaviour = started.elapsed();
    // Another executable opening the same file: another fingerprint.
    run("cat", &[&path]);
    run("cat", &[&path]);

    let py = |v: &Value| is_marker(v, &marker, "python") && !is_summary(v);
    let first = agent.expect_alert(ALERT_DEADLINE, py);
    assert!(first.is_some(), "no first alert: {:#?}", agent.log);
    let cat = agent.expect_alert(ALERT_DEADLINE, |v| {
        is_marker(v, &marker, "/cat") && !is_summary(v)
    });
    assert!(
        cat.is_some(),
        "cat's opens are a distinct alert: {:#?}",
        agent.log
    );
    // The summary comes from the agent's timer: nothing else happens meanwhile.
    let summary = agent.expect_alert(Duration::from_secs(15), |v| {
        is_marker(v, &marker, "python") && is_summary(v)
    });
    let Some(summary) = summary else {
        panic!("no summary within the window: {:#?}", agent.log);
    };
    let s = &summary.json;
    assert_eq!(field(s, "dedup.count").as_deref(), Some("9999"), "{s}");
    assert_eq!(s["priority"], "Warning");
    assert!(
        s["output"]
            .as_str()
            .is_some_and(|o| o.contains("Marker opened: repeated 9999 times in 4s")),
        "{s}"
    );
    assert!(field(s, "dedup.first_time").is_some() && field(s, "dedup.last_time").is_some());
    let cat_summary = agent.expect_alert(ALERT_DEADLINE, |v| {
        is_marker(v, &marker, "/cat") && is_summary(v)
    });
    assert_eq!(
        cat_summary
            .and_then(|a| field(&a.json, "dedup.count"))
            .as_deref(),
        Some("1")
    );
    // Nothing else for the marker: 10,002 opens made 4 alerts.
    let rest: Vec<Value> = agent
        .drain(Duration::from_secs(2))
        .into_iter()
        .filter(|v| v["rule"] == "Marker opened")
        .collect();
    assert!(rest.is_empty(), "{rest:#?}");
    let status = agent.stop();
    assert!(status.success(), "{status:?}");
    println!("10,000 opens took {behaviour:?}: 1 alert + 1 summary (count 9999)");
}

/// `METHOD path` with an optional JSON body: (status, body), `None` when the server does
/// not answer.
fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
    e2e_harness::http(addr, method, path, None, body)
}

/// The value of `name{silence="id"}` on the metrics page.
fn silence_count(addr: &str, id: &str) -> Option<f64> {
    let (_, page) = http(addr, "GET", "/metrics", None)?;
    let want = format!("peregrine_silence_suppressed_total{{silence=\"{id}\"}} ");
    page.lines()
        .find_map(|l| l.strip_prefix(&want))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn silences_over_the_api_suppress_survive_a_restart_and_expire_on_time() {
    if !peregrine_testkit::live(
        "silences_over_the_api_suppress_survive_a_restart_and_expire_on_time",
    ) {
        return;
    }
    let dir = scratch("triage-silences");
    let state = dir.join("state");
    let _ = std::fs::remove_dir_all(&state);
    let (quiet, loud, gone) = (
        dir.join("marker-quiet"),
        dir.join("marker-loud"),
        dir.join("marker-gone"),
    );
    for f in [&quiet, &loud, &gone] {
        std::fs::write(f, "x").expect("marker");
    }
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, open_rule(&dir.join("marker-"))).expect("rules");
    let config = dir.join("falco.yaml");
    std::fs::write(
        &config,
        format!(
            "webserver: {{enabled: true, listen_address: 127.0.0.1, listen_port: 0, \
             prometheus_metrics_enabled: true}}\nmetrics: {{enabled: true}}\n\
             json_output: true\nsilences_api: {{enabled: true}}\nstate_dir: {}\n",
            state.display()
        ),
    )
    .expect("config");
    let cfg = config.display().to_string();
    let start = || Agent::start(&rules, &["-c", &cfg, "-o", "watch_config_files=false"]);
    let cat = |f: &Path| run("cat", &[&f.display().to_string()]);
    let mut agent = start();
    let addr = agent.web_addr();

    // Two silences; the second is expired over the API at once.
    let create = |addr: &str, file: &Path, secs: u64| -> String {
        let body = format!(
            r#"{{"matchers": ["rule=Marker *", "fd.name={}"], "duration_seconds": {secs}, "comment": "test"}}"#,
            file.display()
        );
        let (status, text) = http(addr, "POST", "/api/v1/silences", Some(&body)).expect("answer");
        assert_eq!(status, 201, "{text}");
        let v: Value = serde_json::from_str(&text).expect("json");
        v["id"].as_str().expect("id").to_string()
    };
    let silence_window = Duration::from_secs(25);
    let created = Instant::now();
    let id = create(&addr, &quiet, silence_window.as_secs());
    let id_gone = create(&addr, &gone, 600);
    let (status, text) = http(
        &addr,
        "DELETE",
        &format!("/api/v1/silences/{id_gone}"),
        None,
    )
    .expect("answer");
    assert_eq!(status, 200, "{text}");
    let (status, _) =
        http(&addr, "POST", "/api/v1/silences", Some("{\"matchers\": 5}")).expect("answer");
    assert_eq!(status, 400);

    let is = |f: &Path| {
        let f = f.to_path_buf();
        move |v: &Value| {
            v["rule"] == "Marker opened"
                && field(v, "fd.name").as_deref() == Some(&*f.display().to_string())
        }
    };
    cat(&quiet);
    cat(&gone);
    cat(&loud);
    assert!(
        agent.expect_alert(ALERT_DEADLINE, is(&loud)).is_some(),
        "{:#?}",
        agent.log
    );
    assert!(
        agent.expect_alert(ALERT_DEADLINE, is(&gone)).is_some(),
        "an expired silence suppresses nothing"
    );
    let counted = poll(Duration::from_secs(5), || {
        silence_count(&addr, &id).filter(|n| *n >= 1.0)
    });
    assert_eq!(counted, Some(1.0), "suppressed count in /metrics");
    let leaked: Vec<Value> = agent
        .drain(Duration::from_secs(1))
        .into_iter()
        .filter(|v| is(&quiet)(v))
        .collect();
    assert!(leaked.is_empty(), "{leaked:#?}");
    assert!(agent.stop().success());

    // A restart reads the silence back from state_dir.
    let mut agent = start();
    let addr = agent.web_addr();
    let (status, list) = http(&addr, "GET", "/api/v1/silences", None).expect("answer");
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&list).expect("json");
    let states: Vec<(String, String)> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or("").to_string(),
                s["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        states.contains(&(id.clone(), "active".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&(id_gone.clone(), "expired".into())),
        "{states:?}"
    );
    cat(&quiet);
    cat(&loud);
    assert!(
        agent.expect_alert(ALERT_DEADLINE, is(&loud)).is_some(),
        "{:#?}",
        agent.log
    );
    assert_eq!(
        poll(Duration::from_secs(5), || silence_count(&addr, &id)
            .filter(|n| *n >= 1.0)),
        Some(1.0)
    );
    assert!(agent
        .drain(Duration::from_secs(1))
        .iter()
        .all(|v| !is(&quiet)(v)));

    // Past its end the silence lets the alert through.
    let left = silence_window.saturating_sub(created.elapsed());
    assert!(
        left > Duration::ZERO,
        "the restart took longer than the silence lasts"
    );
    std::thread::sleep(left + Duration::from_millis(500));
    cat(&quiet);
    assert!(
        agent.expect_alert(ALERT_DEADLINE, is(&quiet)).is_some(),
        "the silence did not expire on time: {:#?}",
        agent.log
    );
    let (_, one) = http(&addr, "GET", &format!("/api/v1/silences/{id}"), None).expect("answer");
    assert!(one.contains("\"state\":\"expired\""), "{one}");
    assert!(agent.stop().success());
}

/// Replay (fast tier): with `match` blocks, critical alerts go to the file output and the
/// rest to the program output, and each output counts what its route refused.
#[test]
fn routing_sends_critical_alerts_to_one_output_and_the_rest_to_another() {
    if peregrine_testkit::upstream::require(
        "routing_sends_critical_alerts_to_one_output_and_the_rest_to_another",
    )
    .is_none()
    {
        return;
    }
    let dir = scratch("triage-routing");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "
- rule: Cat opens null
  desc: t
  condition: evt.type in (open, openat) and proc.name = cat and fd.name = /dev/null
  output: null opened (file=%fd.name)
  priority: CRITICAL
- rule: Cat opens something
  desc: t
  condition: evt.type in (open, openat) and proc.name = cat and fd.name != /dev/null
  output: file opened (file=%fd.name)
  priority: NOTICE
",
    )
    .expect("rules");
    let (pages, tickets) = (dir.join("pages.json"), dir.join("tickets.json"));
    for f in [&pages, &tickets] {
        let _ = std::fs::remove_file(f);
    }
    let mut args = common::replay_args(
        "falco-testing/rules/single_rule.yaml",
        "captures/falco/cat_write.scap",
    );
    // Our rules instead of the upstream one.
    args[1] = rules.display().to_string();
    for o in [
        "json_output=true".to_string(),
        "file_output.enabled=true".into(),
        format!("file_output.filename={}", pages.display()),
        "file_output.match.min_priority=critical".into(),
        "program_output.enabled=true".into(),
        format!("program_output.program=cat >> {}", tickets.display()),
        "program_output.match.max_priority=error".into(),
        "program_output.match.rules[]=Cat opens *".into(),
    ] {
        args.push("-o".into());
        args.push(o);
    }
    let out = common::peregrine(&args);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let all = common::stdout(&out);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let priorities = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("json line");
                v["priority"].as_str().unwrap_or("").to_string()
            })
            .collect()
    };
    let (p, t, a) = (
        priorities(&read(&pages)),
        priorities(&read(&tickets)),
        priorities(&all),
    );
    assert!(
        !p.is_empty() && p.iter().all(|x| x == "Critical"),
        "pages: {p:?}"
    );
    assert!(
        !t.is_empty() && t.iter().all(|x| x == "Notice"),
        "tickets: {t:?}"
    );
    assert_eq!(
        p.len() + t.len(),
        a.len(),
        "stdout takes every alert: {a:?}"
    );
}

/// Replay (fast tier): the built-in configuration deduplicates — the capture's eight
/// `open_from_cat` alerts share one fingerprint (the rule prints no container, executable or
/// file), so one alert goes out and the summary owed at exit counts the seven others, and the
/// exit summary says so — while a configuration file that does not turn dedup on sends all
/// eight, as Falco does.
#[test]
fn builtin_configuration_deduplicates_and_a_falco_file_does_not() {
    if peregrine_testkit::upstream::require(
        "builtin_configuration_deduplicates_and_a_falco_file_does_not",
    )
    .is_none()
    {
        return;
    }
    let base = common::replay_args(
        "falco-testing/rules/single_rule.yaml",
        "captures/falco/cat_write.scap",
    );
    // replay_args turns dedup off (the last option); drop it to get the built-in default.
    let builtin: Vec<String> = base[..base.len() - 2].to_vec();
    assert_eq!(base[base.len() - 1], "dedup.enabled=false");
    let mut args = builtin.clone();
    args.extend(["-o".to_string(), "json_output=true".to_string()]);
    let out = common::peregrine(&args);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let alerts: Vec<Value> = common::stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert!(!is_summary(&alerts[0]));
    assert_eq!(field(&alerts[1], "dedup.count").as_deref(), Some("7"));
    assert_eq!(alerts[1]["rule"], "open_from_cat");
    let err = common::stderr(&out);
    assert!(
        err.contains(
            "Deduplication: 7 repeated alerts held back, 1 summaries sent, 0 windows evicted"
        ),
        "{err}"
    );

    let dir = scratch("triage-falco-file");
    let config = dir.join("falco.yaml");
    std::fs::write(&config, "json_output: true\n").expect("config");
    let mut args = builtin;
    args.extend(["-c".to_string(), config.display().to_string()]);
    let out = common::peregrine(&args);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(common::stdout(&out).lines().count(), 8);
    assert!(!common::stderr(&out).contains("Deduplication:"));
}
