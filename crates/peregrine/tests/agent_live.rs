//! End to end as root through the binary: an alert for the behaviour (within a generous deadline), a
//! clean exit on SIGTERM, `-P` pid files, and rules reloaded on SIGHUP and on a watched
//! rules file change without restarting the agent.

mod e2e_harness;

use e2e_harness::{http_get, run, run_on_host, scratch, Agent};
use std::path::Path;
use std::time::Duration;

const SHADOW_RULE: &str = "
- rule: Read shadow
  desc: t
  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow and proc.name = cat
  output: shadow read by %proc.cmdline (file=%fd.name)
  priority: WARNING
";

/// Rule B watches the same event types as rule A: the kernel interest does not change, so
/// the switch is exact (the pipeline adopts the new rules before its next event). A rule on
/// new event types applies once the capture loop rewrites the interest map (its next drain).
/// Tests run in parallel and every agent sees the whole host, so the reload tests watch a
/// file of their own.
fn rule_a(file: &Path) -> String {
    format!(
        "
- rule: Cat file
  desc: t
  condition: evt.type in (open, openat, openat2) and fd.name = {} and proc.name = cat
  output: file read by %proc.cmdline
  priority: WARNING
",
        file.display()
    )
}

fn rule_b(file: &Path) -> String {
    format!(
        "
- rule: Head file
  desc: t
  condition: evt.type in (open, openat, openat2) and fd.name = {} and proc.name = head
  output: file head by %proc.cmdline
  priority: NOTICE
",
        file.display()
    )
}

const BROKEN_RULE: &str = "
- rule: Broken
  desc: t
  condition: evt.type = open and no.such.field = 1
  output: x
  priority: NOTICE
";

/// Generous, for a loaded CI machine: the e2e tests report the latency actually seen, and the
/// benchmark (bench/agent.sh) measures it; this only decides when an alert counts as missing.
const ALERT_DEADLINE: Duration = Duration::from_secs(10);

#[test]
fn cat_etc_shadow_alerts_and_pidfile_lives_with_the_agent() {
    if !peregrine_testkit::live("cat_etc_shadow_alerts_and_pidfile_lives_with_the_agent") {
        return;
    }
    let dir = scratch("agent-live");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, SHADOW_RULE).expect("rules file");
    let pidfile = dir.join("peregrine.pid");
    let pid_arg = pidfile.display().to_string();
    let mut agent = Agent::start(&rules, &["-P", &pid_arg]);
    let pid = std::fs::read_to_string(&pidfile).expect("pid file written");
    assert_eq!(pid.trim(), agent.pid().to_string());
    run("cat", &["/etc/shadow"]);
    let found = agent.wait_for(ALERT_DEADLINE, |l| {
        l.stdout
            && l.text
                .ends_with("Warning shadow read by cat /etc/shadow (file=/etc/shadow)")
    });
    let log = agent.log.clone();
    let status = agent.stop();
    assert!(found, "no alert within {ALERT_DEADLINE:?}: {log:#?}");
    assert!(status.success(), "{status:?}");
    assert!(!pidfile.exists(), "pid file removed at exit");
}

/// Falco's `HOST_ROOT`: the agent reads the host's `/proc` and users below it. Here it holds
/// a link to the real `/proc` and an `etc/passwd`/`etc/group` naming uid and gid 0
/// differently from the machine's, so the alert's user can only come from HOST_ROOT.
#[test]
fn host_root_supplies_proc_and_the_host_users() {
    if !peregrine_testkit::live("host_root_supplies_proc_and_the_host_users") {
        return;
    }
    let dir = scratch("host-root");
    let host = dir.join("host");
    std::fs::create_dir_all(host.join("etc")).expect("host etc");
    std::os::unix::fs::symlink("/proc", host.join("proc")).expect("proc link");
    std::fs::write(
        host.join("etc/passwd"),
        "pghostroot:x:0:0:root:/root:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(host.join("etc/group"), "pghostgroup:x:0:\n").expect("group");
    let marker = dir.join("marker");
    std::fs::write(&marker, "x").expect("marker");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "
- rule: Host root user
  desc: t
  condition: evt.type in (open, openat, openat2) and fd.name = {} and proc.name = cat
  output: read by user=%user.name group=%group.name
  priority: WARNING
",
            marker.display()
        ),
    )
    .expect("rules file");
    let mut agent = Agent::start_env(&rules, &[], &[("HOST_ROOT", &host)]);
    // A host process: the test's own cgroup reads as a container here (see `on_host`).
    run_on_host(&["cat".to_string(), marker.display().to_string()]);
    let found = agent.wait_for(ALERT_DEADLINE, |l| {
        l.stdout
            && l.text
                .ends_with("read by user=pghostroot group=pghostgroup")
    });
    let log = agent.log.clone();
    agent.stop();
    assert!(found, "no alert naming HOST_ROOT's users: {log:#?}");
}

/// Rewrites the rules file and waits for the agent's reload message.
fn reload_to(agent: &mut Agent, rules: &std::path::Path, text: &str, signal: bool) -> bool {
    std::fs::write(rules, text).expect("rewrite rules");
    if signal {
        agent.signal("HUP");
    }
    agent.wait_for(Duration::from_secs(5), |l| {
        !l.stdout && (l.text.contains("rules reloaded") || l.text.contains("keeping the running"))
    })
}

#[test]
fn sighup_reloads_rules_and_a_broken_file_keeps_the_old_ones() {
    if !peregrine_testkit::live("sighup_reloads_rules_and_a_broken_file_keeps_the_old_ones") {
        return;
    }
    let dir = scratch("agent-reload");
    let rules = dir.join("rules.yaml");
    let file = dir.join("secret");
    std::fs::write(&file, "x").expect("target file");
    let target = file.display().to_string();
    std::fs::write(&rules, rule_a(&file)).expect("rules file");
    // The watcher is off so that only the signal reloads.
    let mut agent = Agent::start(&rules, &["-o", "watch_config_files=false"]);

    assert!(
        reload_to(&mut agent, &rules, &rule_b(&file), true),
        "{:#?}",
        agent.log
    );
    run("head", &["-c1", &target]);
    let made = agent.wait_for(ALERT_DEADLINE, |l| {
        l.stdout
            && l.text
                .ends_with(&format!("Notice file head by head -c1 {target}"))
    });
    assert!(made, "rule B did not fire after SIGHUP: {:#?}", agent.log);

    // A rules file that does not load: errors logged, rule B still active.
    assert!(
        reload_to(&mut agent, &rules, BROKEN_RULE, true),
        "{:#?}",
        agent.log
    );
    assert!(agent.log.iter().any(|l| l.contains("keeping the running")));
    run("head", &["-c1", &target]);
    let still = agent.wait_for(ALERT_DEADLINE, |l| {
        l.stdout
            && l.text
                .ends_with(&format!("Notice file head by head -c1 {target}"))
    });
    assert!(
        still,
        "old rules lost after a failed reload: {:#?}",
        agent.log
    );
    assert!(agent.stop().success());
}

#[test]
fn a_watched_rules_file_change_reloads_without_a_signal() {
    if !peregrine_testkit::live("a_watched_rules_file_change_reloads_without_a_signal") {
        return;
    }
    let dir = scratch("agent-watch");
    let rules = dir.join("rules.yaml");
    let file = dir.join("secret");
    std::fs::write(&file, "x").expect("target file");
    let target = file.display().to_string();
    std::fs::write(&rules, rule_a(&file)).expect("rules file");
    let mut agent = Agent::start(&rules, &[]);
    assert!(
        reload_to(&mut agent, &rules, &rule_b(&file), false),
        "{:#?}",
        agent.log
    );
    // The reload says why (the file that changed) and which files it read.
    let path = rules.display().to_string();
    assert!(
        agent.log.iter().any(|l| l.contains(&format!(
            "{path} changed: rules reloaded, 1 rules active (files: {path})"
        ))),
        "{:#?}",
        agent.log
    );
    // Rule A is gone: cat must not alert any more, head must.
    run("cat", &[&target]);
    run("head", &["-c1", &target]);
    let made = agent.wait_for(ALERT_DEADLINE, |l| {
        l.stdout
            && l.text
                .ends_with(&format!("Notice file head by head -c1 {target}"))
    });
    assert!(
        !agent.log.iter().any(|l| l.contains("file read by cat")),
        "rule A still active: {:#?}",
        agent.log
    );
    assert!(made, "{:#?}", agent.log);
    assert!(agent.stop().success());
}

/// An agent watching a file with [`rule_a`] under `config` (falco.yaml text), returned once a
/// log line contains `ready`; and the file.
fn web_agent(name: &str, config: &str, ready: &str) -> (Agent, std::path::PathBuf) {
    let dir = scratch(name);
    let file = dir.join("secret");
    std::fs::write(&file, "x").expect("target file");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, rule_a(&file)).expect("rules file");
    let config_path = dir.join("falco.yaml");
    std::fs::write(&config_path, config).expect("config");
    let config_arg = config_path.display().to_string();
    let agent = Agent::start_until(&rules, &["-c", &config_arg], ready);
    (agent, file)
}

#[test]
fn webserver_serves_health_versions_and_live_metrics() {
    if !peregrine_testkit::live("webserver_serves_health_versions_and_live_metrics") {
        return;
    }
    let (mut agent, file) = web_agent(
        "agent-web",
        "webserver: {enabled: true, listen_address: 127.0.0.1, listen_port: 0, \
         prometheus_metrics_enabled: true}\nmetrics: {enabled: true}\n",
        "capturing",
    );
    let addr = agent.web_addr();

    let health = http_get(&addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let versions = http_get(&addr, "/versions");
    assert!(versions.contains("\"engine_version_semver\""), "{versions}");

    let target = file.display().to_string();
    run("cat", &[&target]);
    assert!(
        agent.wait_for(ALERT_DEADLINE, |l| l.stdout
            && l.text.contains("file read by cat")),
        "{:#?}",
        agent.log
    );
    // The snapshot is refreshed every second: poll the page until the match shows.
    let wanted = "falcosecurity_falco_rules_matches_total{";
    let mut page = String::new();
    let found = (0..40).any(|_| {
        page = http_get(&addr, "/metrics");
        let hit = page.lines().any(|l| {
            l.starts_with(wanted) && l.contains("rule_name=\"Cat file\"") && l.ends_with(" 1")
        });
        if !hit {
            std::thread::sleep(Duration::from_millis(100));
        }
        hit
    });
    assert!(found, "{page}");
    assert!(page.contains("falcosecurity_scap_n_evts_total"), "{page}");
    assert!(agent.stop().success());
}

/// `/healthz` says ok only once the capture is attached: what a probe reads as "watched" is.
/// The agent used to say so about half a second before, and an event in that window was
/// missed without a trace.
#[test]
fn healthz_is_up_only_when_the_capture_is() {
    if !peregrine_testkit::live("healthz_is_up_only_when_the_capture_is") {
        return;
    }
    let (mut agent, file) = web_agent(
        "agent-ready",
        "webserver: {enabled: true, listen_address: 127.0.0.1, listen_port: 0}\n",
        "listening on http://",
    );
    let addr = agent.web_addr();
    // Until the capture is attached the probe is told so (503), then it is ok.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let health = http_get(&addr, "/healthz");
        if health.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            health.starts_with("HTTP/1.1 503") && health.contains(r#"{"status": "starting"}"#),
            "{health}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "never healthy: {:#?}",
            agent.log
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Healthy means watched: the very next behaviour is detected.
    let target = file.display().to_string();
    run("cat", &[&target]);
    assert!(
        agent.wait_for(ALERT_DEADLINE, |l| l.stdout
            && l.text.contains("file read by cat")),
        "{:#?}",
        agent.log
    );
    assert!(agent.stop().success());
}

#[test]
fn sigusr1_reopens_the_file_output_after_rotation() {
    if !peregrine_testkit::live("sigusr1_reopens_the_file_output_after_rotation") {
        return;
    }
    let dir = scratch("agent-usr1");
    let file = dir.join("secret");
    std::fs::write(&file, "x").expect("target file");
    let target = file.display().to_string();
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, rule_a(&file)).expect("rules file");
    let events = dir.join("events.txt");
    let file_opt = format!("file_output.filename={}", events.display());
    let mut agent = Agent::start(&rules, &["-o", "file_output.enabled=true", "-o", &file_opt]);
    let alerted = |agent: &mut Agent| {
        agent.wait_for(ALERT_DEADLINE, |l| {
            l.stdout && l.text.contains("file read by cat")
        })
    };
    run("cat", &[&target]);
    assert!(alerted(&mut agent), "{:#?}", agent.log);
    // Rotate as logrotate does: rename, then SIGUSR1.
    let rotated = dir.join("events.txt.1");
    // The file output writes on its own thread: wait for the first line to land.
    let landed = (0..50).any(|_| {
        let ok = std::fs::read_to_string(&events).is_ok_and(|t| t.lines().count() == 1);
        if !ok {
            std::thread::sleep(Duration::from_millis(20));
        }
        ok
    });
    assert!(landed, "first alert not in {}", events.display());
    std::fs::rename(&events, &rotated).expect("rotate");
    agent.signal("USR1");
    run("cat", &[&target]);
    assert!(alerted(&mut agent), "{:#?}", agent.log);
    assert!(agent.stop().success());
    // Shutdown drained the outputs: the second alert is in a new file, not the rotated one.
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    assert_eq!(read(&rotated).lines().count(), 1, "{}", read(&rotated));
    assert_eq!(read(&events).lines().count(), 1, "{}", read(&events));
    assert!(read(&events).contains("file read by cat"));
}
