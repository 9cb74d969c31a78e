//! The k8s_audit source alone (`--enable-source k8s_audit`) serves Falco's web server as the
//! capture mode does: `/healthz`, `/metrics` with the webhook's request counters and the
//! alerts it raised, and the alert store; and it reloads its rules on SIGHUP. Everything on
//! loopback, no root: the fast tier (the live test adds the capture beside the webhook).

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh `peregrine-{name}-{pid}` directory under the system temp dir.
fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("peregrine-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn wait_listening(port: u16) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < DEADLINE, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The status and text of a request, whatever the status.
fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    match r {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{e}"),
    }
}

fn post(url: &str, body: &[u8]) -> (u16, String) {
    answer(
        ureq::post(url)
            .set("Content-Type", "application/json")
            .timeout(Duration::from_secs(10))
            .send_bytes(body),
    )
}

fn get(url: &str) -> (u16, String) {
    answer(ureq::get(url).timeout(Duration::from_secs(10)).call())
}

/// The value of the series `name` (with its labels, if any) on a metrics page.
fn series(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn stop(mut child: Child) -> String {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with our own child's pid and SIGTERM has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}\n{stderr}");
    stderr
}

/// The agent with the k8s_audit source alone.
fn start(config: &Path, rules: &Path) -> Child {
    start_with(config, rules, &["--enable-source", "k8s_audit"])
}

fn start_with(config: &Path, rules: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .env(peregrine_config::DEFAULT_CONFIG_ENV, "")
        .env_remove("PEREGRINE_LOG")
        .args(["-c", &config.display().to_string()])
        .args(["-r", &rules.display().to_string()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn the_audit_only_agent_serves_health_metrics_and_the_alert_store() {
    let Some(up) = peregrine_testkit::upstream::require("the_audit_only_agent_serves_health")
    else {
        return;
    };
    let dir = up.join("k8saudit");
    let tmp = tempdir("k8saudit-web");
    let (hook_port, web_port) = (free_port(), free_port());
    let config = webhook_config(
        &tmp,
        hook_port,
        web_port,
        &format!(
            "json_output: true\n\
             alert_store: {{enabled: true, path: {}}}\n",
            tmp.join("alerts.db").display()
        ),
    );
    let child = start(&config, &dir.join("rules/k8s_audit_rules.yaml"));
    wait_listening(web_port);
    wait_listening(hook_port);
    let web = format!("http://127.0.0.1:{web_port}");
    let health = Instant::now();
    loop {
        let (status, text) = get(&format!("{web}/healthz"));
        if status == 200 {
            assert!(text.contains("ok"), "{text}");
            break;
        }
        assert!(health.elapsed() < DEADLINE, "/healthz: {status} {text}");
        std::thread::sleep(Duration::from_millis(100));
    }

    let hook = format!("http://127.0.0.1:{hook_port}/k8s-audit");
    assert_eq!(post(&hook, b"{not json").0, 400);
    let event =
        std::fs::read_to_string(dir.join("events/create_nginx_pod_privileged.json")).unwrap();
    assert_eq!(post(&hook, event.trim().as_bytes()).0, 200);

    let accepted = "peregrine_k8saudit_webhook_requests_total{result=\"accepted\"}";
    let refused = "peregrine_k8saudit_webhook_requests_total{result=\"refused\"}";
    let alerts = "peregrine_alerts_by_rule_total{rule=\"Create Privileged Pod\"}";
    let stored = "peregrine_alert_store_inserted_total";
    let start = Instant::now();
    let page = loop {
        let (status, page) = get(&format!("{web}/metrics"));
        assert_eq!(status, 200, "{page}");
        if series(&page, alerts) == Some(1.0) && series(&page, stored).is_some_and(|n| n >= 1.0) {
            break page;
        }
        assert!(start.elapsed() < DEADLINE, "no alert counted:\n{page}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(series(&page, accepted), Some(1.0), "{page}");
    assert_eq!(series(&page, refused), Some(1.0), "{page}");
    assert!(
        page.contains("evt_source=\"k8s_audit\""),
        "the run's source: {page}"
    );
    let stderr = stop(child);
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        stderr.contains(" stored, 0 dropped (queue full), 0 failed")
            && !stderr.contains("Alert store: 0 stored"),
        "{stderr}"
    );
}

/// A `k8s_audit` rule named `name` that matches every `create`.
fn rule(name: &str) -> String {
    format!(
        "- rule: {name}\n  desc: every create\n  condition: ka.verb = create\n  \
         output: created (user=%ka.user.name)\n  priority: WARNING\n  source: k8s_audit\n"
    )
}

#[test]
fn the_audit_only_agent_reloads_its_rules_on_sighup() {
    let Some(up) = peregrine_testkit::upstream::require("the_audit_only_agent_reloads") else {
        return;
    };
    let event =
        std::fs::read_to_string(up.join("k8saudit/events/create_nginx_pod_privileged.json"))
            .unwrap();
    let tmp = tempdir("k8saudit-reload");
    let (hook_port, web_port) = (free_port(), free_port());
    let config = webhook_config(&tmp, hook_port, web_port, "watch_config_files: false\n");
    let rules = tmp.join("rules.yaml");
    std::fs::write(&rules, rule("Before reload")).unwrap();
    let child = start(&config, &rules);
    wait_listening(hook_port);
    let hook = format!("http://127.0.0.1:{hook_port}/k8s-audit");
    let metrics = format!("http://127.0.0.1:{web_port}/metrics");
    let count = |rule: &str| {
        let (status, page) = get(&metrics);
        assert_eq!(status, 200, "{page}");
        series(
            &page,
            &format!("peregrine_alerts_by_rule_total{{rule=\"{rule}\"}}"),
        )
    };
    assert_eq!(post(&hook, event.trim().as_bytes()).0, 200);
    let start = Instant::now();
    while count("Before reload") != Some(1.0) {
        assert!(start.elapsed() < DEADLINE, "no alert before the reload");
        std::thread::sleep(Duration::from_millis(200));
    }

    std::fs::write(&rules, rule("After reload")).unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with our own child's pid and SIGHUP has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    // Events keep arriving; once the new rules are published they alert under the new name
    // and the old rule no longer fires.
    let start = Instant::now();
    let before = loop {
        assert_eq!(post(&hook, event.trim().as_bytes()).0, 200);
        std::thread::sleep(Duration::from_millis(300));
        if count("After reload").is_some_and(|n| n >= 1.0) {
            break count("Before reload").unwrap_or(0.0);
        }
        assert!(start.elapsed() < DEADLINE, "the rules were never reloaded");
    };
    assert_eq!(post(&hook, event.trim().as_bytes()).0, 200);
    let start = Instant::now();
    while count("After reload").is_none_or(|n| n < 2.0) {
        assert!(
            start.elapsed() < DEADLINE,
            "no second alert after the reload"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        count("Before reload"),
        Some(before),
        "the old rule still fires"
    );
    let stderr = stop(child);
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(stderr.contains("   After reload: "), "{stderr}");
}

/// An agent configuration with the k8saudit webhook on `hook_port` and the web server on
/// `web_port`, both on loopback, and the YAML lines `extra` at its end.
fn webhook_config(dir: &Path, hook_port: u16, web_port: u16, extra: &str) -> std::path::PathBuf {
    let config = dir.join("falco.yaml");
    std::fs::write(
        &config,
        format!(
            "load_plugins: [k8saudit, json]\n\
             plugins:\n\
             \x20 - name: k8saudit\n\
             \x20   library_path: libk8saudit.so\n\
             \x20   open_params: \"http://127.0.0.1:{hook_port}/k8s-audit\"\n\
             \x20 - name: json\n\
             \x20   library_path: libjson.so\n\
             syslog_output: {{enabled: false}}\n\
             dedup: {{enabled: false}}\n\
             webserver: {{enabled: true, listen_address: 127.0.0.1, listen_port: {web_port}, \
             prometheus_metrics_enabled: true}}\n\
             metrics: {{enabled: true}}\n\
             {extra}"
        ),
    )
    .unwrap();
    config
}

/// Beside the live capture (both sources), `/metrics` carries the webhook's counters too.
#[test]
fn the_webhook_counters_beside_the_live_capture() {
    if !peregrine_testkit::live("the_webhook_counters_beside_the_live_capture") {
        return;
    }
    let Some(up) = peregrine_testkit::upstream::require("the_webhook_counters_beside_the_live")
    else {
        return;
    };
    let event =
        std::fs::read_to_string(up.join("k8saudit/events/create_nginx_pod_privileged.json"))
            .unwrap();
    let tmp = tempdir("k8saudit-live-web");
    let (hook_port, web_port) = (free_port(), free_port());
    let config = webhook_config(&tmp, hook_port, web_port, "watch_config_files: false\n");
    let rules = tmp.join("rules.yaml");
    std::fs::write(&rules, rule("Created")).unwrap();
    let child = start_with(&config, &rules, &[]);
    wait_listening(hook_port);
    let hook = format!("http://127.0.0.1:{hook_port}/k8s-audit");
    assert_eq!(post(&hook, b"[1, 2]").0, 400);
    assert_eq!(post(&hook, event.trim().as_bytes()).0, 200);
    assert_eq!(post(&hook, b"{").0, 400);
    let metrics = format!("http://127.0.0.1:{web_port}/metrics");
    let start = Instant::now();
    let page = loop {
        let (status, page) = get(&metrics);
        if status == 200
            && series(&page, "peregrine_alerts_by_rule_total{rule=\"Created\"}") == Some(1.0)
        {
            break page;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{status}: no alert counted:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let requests = "peregrine_k8saudit_webhook_requests_total";
    assert_eq!(
        series(&page, &format!("{requests}{{result=\"accepted\"}}")),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        series(&page, &format!("{requests}{{result=\"refused\"}}")),
        Some(2.0),
        "{page}"
    );
    // The capture's own series are there too.
    assert!(page.contains("falcosecurity_scap_n_evts_total"), "{page}");
    stop(child);
    let _ = std::fs::remove_dir_all(&tmp);
}
