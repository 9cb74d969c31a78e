//! `peregrine run -- CMD` through the binary, on the live kernel: only CMD's process tree is
//! reported, the exit status is CMD's unless an alert at or above `--fail-on` fired (then
//! 3), and the report (JSON, JUnit, SARIF) lists the alerts. Every other process on the host
//! runs in parallel, so each test's rules match only what its own commands do.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peregrine-run-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `peregrine [pre…] run [run_args…] -- cmd…`.
fn run(pre: &[&str], run_args: &[&str], cmd: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .env(peregrine_config::DEFAULT_CONFIG_ENV, "")
        .env_remove("PEREGRINE_LOG")
        .args(pre)
        .arg("run")
        .args(run_args)
        .arg("--")
        .args(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("the peregrine binary runs")
}

/// The test's rules: a read of /etc/shadow by `head` (Warning) and a connection to `port`
/// (Notice). `head` and the port are this test's own, so other processes do not match.
fn write_rules(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("rules.yaml");
    std::fs::write(
        &path,
        format!(
            r#"- rule: Job read the shadow file
  desc: test rule
  condition: evt.type in (open, openat, openat2) and fd.name=/etc/shadow and proc.name in (head, tail)
  output: shadow read (process=%proc.name parent=%proc.pname cmdline=%proc.cmdline)
  priority: WARNING
  tags: [test]
- rule: Job connected to the test listener
  desc: test rule
  condition: evt.type=connect and fd.sport={port} and proc.name in (bash, nc)
  output: connected (process=%proc.name connection=%fd.name)
  priority: NOTICE
"#
        ),
    )
    .expect("rules file");
    path
}

/// A loopback listener that accepts (and drains) connections until dropped.
struct Listener {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Listener {
    fn start() -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        l.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut buf = Vec::new();
                        let _ = s.read_to_end(&mut buf);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Listener { port, stop }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A grandchild of CMD reads /etc/shadow with `head`, then bash connects to `port`.
fn noisy_script(port: u16) -> String {
    format!(
        "sh -c 'head -c1 /etc/shadow >/dev/null'; exec 3<>/dev/tcp/127.0.0.1/{port}; echo hi >&3; exec 3>&-; sleep 0.2"
    )
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        common::stdout(o),
        common::stderr(o)
    )
}

#[test]
fn silent_build_exits_zero_with_an_empty_report() {
    if !peregrine_testkit::live("silent_build_exits_zero_with_an_empty_report") {
        return;
    }
    let dir = temp_dir("silent");
    let report = dir.join("report.json");
    let script = format!(
        "cd {d} && mkdir -p src out && printf 'int main(void) {{ return 0; }}\\n' > src/a.c \
         && cp src/a.c out/a.o && ls out >/dev/null && cat src/a.c | wc -l >/dev/null",
        d = dir.display()
    );
    // The embedded default rules, as a job would run them.
    let o = run(
        &[],
        &["--report", report.to_str().expect("utf-8")],
        &["sh", "-c", &script],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        dir.join("out/a.o").exists(),
        "the command ran: {}",
        text(&o)
    );
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report written")).expect("JSON");
    assert_eq!(r["alerts"], serde_json::json!([]), "{r:#}");
    assert_eq!(r["status"], 0);
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["failed"], false);
    assert_eq!(r["command"][0], "sh");
    assert!(
        r["duration_seconds"].as_f64().is_some_and(|d| d > 0.0),
        "{r:#}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn credential_read_and_connection_fail_the_run_and_fill_the_report() {
    if !peregrine_testkit::live("credential_read_and_connection_fail_the_run_and_fill_the_report") {
        return;
    }
    let dir = temp_dir("noisy");
    let listener = Listener::start();
    let rules = write_rules(&dir, listener.port);
    let rules = rules.to_str().expect("utf-8");
    let script = noisy_script(listener.port);
    for format in ["json", "junit", "sarif"] {
        let report = dir.join(format!("report.{format}"));
        let o = run(
            &["-r", rules],
            &[
                "--fail-on",
                "warning",
                "--report",
                report.to_str().expect("utf-8"),
                "--report-format",
                format,
            ],
            &["bash", "-c", &script],
        );
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        let out = common::stdout(&o);
        assert!(
            out.contains("Warning shadow read (process=head parent=sh"),
            "{}",
            text(&o)
        );
        assert!(
            out.contains("Notice connected (process=bash connection=127.0.0.1:"),
            "{}",
            text(&o)
        );
        let body = std::fs::read_to_string(&report).expect("report written");
        match format {
            "json" => {
                let r: serde_json::Value = serde_json::from_str(&body).expect("JSON");
                let rules: Vec<&str> = r["alerts"]
                    .as_array()
                    .expect("alerts")
                    .iter()
                    .filter_map(|a| a["rule"].as_str())
                    .collect();
                assert!(rules.contains(&"Job read the shadow file"), "{r:#}");
                assert!(
                    rules.contains(&"Job connected to the test listener"),
                    "{r:#}"
                );
                assert_eq!(r["exit_code"], 3);
                assert_eq!(r["status"], 0, "bash itself succeeded");
                assert_eq!(r["failed"], true);
                assert_eq!(r["fail_on"], "Warning");
            }
            "junit" => {
                let doc = roxmltree::Document::parse(&body).expect("well-formed JUnit XML");
                let suite = doc
                    .descendants()
                    .find(|n| n.has_tag_name("testsuite"))
                    .expect("testsuite");
                // The command and the Warning rule fail; the Notice rule is below --fail-on.
                assert_eq!(suite.attribute("failures"), Some("2"), "{body}");
                assert_eq!(suite.attribute("tests"), Some("3"), "{body}");
                let failed: Vec<&str> = doc
                    .descendants()
                    .filter(|n| n.has_tag_name("testcase"))
                    .filter(|c| c.children().any(|f| f.has_tag_name("failure")))
                    .filter_map(|c| c.attribute("name"))
                    .collect();
                assert!(failed.contains(&"Job read the shadow file"), "{body}");
                assert!(failed.iter().any(|n| n.starts_with("bash -c ")), "{body}");
            }
            _ => {
                let r: serde_json::Value = serde_json::from_str(&body).expect("JSON");
                assert_eq!(r["version"], "2.1.0");
                let results = r["runs"][0]["results"].as_array().expect("results");
                assert!(
                    results
                        .iter()
                        .any(|x| x["ruleId"] == "Job read the shadow file"
                            && x["level"] == "warning"),
                    "{r:#}"
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn command_status_passes_through_when_nothing_fires() {
    if !peregrine_testkit::live("command_status_passes_through_when_nothing_fires") {
        return;
    }
    let dir = temp_dir("status");
    let rules = write_rules(&dir, 1);
    let o = run(
        &["-r", rules.to_str().expect("utf-8")],
        &[],
        &["sh", "-c", "exit 7"],
    );
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
    // A signal that ends CMD is reported as a shell does: 128 + N.
    let o = run(
        &["-r", rules.to_str().expect("utf-8")],
        &[],
        &["sh", "-c", "kill -TERM $$"],
    );
    assert_eq!(o.status.code(), Some(128 + 15), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_process_outside_the_tree_is_not_reported() {
    if !peregrine_testkit::live("a_process_outside_the_tree_is_not_reported") {
        return;
    }
    let dir = temp_dir("outside");
    let listener = Listener::start();
    let rules = write_rules(&dir, listener.port);
    let report = dir.join("report.json");
    // The outsider does what CMD does (with `tail` instead of `head`), all through the run: it
    // loops until killed, since a fixed count ended before a slow run did on a loaded machine.
    // A failed connect ends the shell, which the check after the run catches.
    let outsider = format!(
        "while :; do tail -c1 /etc/shadow >/dev/null; \
         exec 3<>/dev/tcp/127.0.0.1/{port}; exec 3>&-; sleep 0.05; done",
        port = listener.port
    );
    let mut outside = Command::new("bash")
        .args(["-c", &outsider])
        .spawn()
        .expect("outsider starts");
    let script = format!("sleep 0.5; {}; sleep 0.5", noisy_script(listener.port));
    let o = run(
        &["-r", rules.to_str().expect("utf-8")],
        &["--report", report.to_str().expect("utf-8")],
        &["bash", "-c", &script],
    );
    let outsider_ran = outside.try_wait().expect("outsider status").is_none();
    let _ = outside.kill();
    let _ = outside.wait();
    assert!(outsider_ran, "the outsider must run through the whole test");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON");
    let alerts = r["alerts"].as_array().expect("alerts");
    let names: Vec<&str> = alerts
        .iter()
        .filter_map(|a| a["output_fields"]["proc.name"].as_str())
        .collect();
    assert!(names.contains(&"head"), "CMD's own read is reported: {r:#}");
    assert!(
        !names.contains(&"tail"),
        "the outsider's reads are not: {r:#}"
    );
    assert!(!common::stdout(&o).contains("process=tail"), "{}", text(&o));
    // Each connection of CMD (one) is reported, none of the outsider's (many).
    let connects = alerts
        .iter()
        .filter(|a| a["rule"] == "Job connected to the test listener")
        .count();
    assert_eq!(connects, 1, "{r:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_root_the_command_is_not_run() {
    // Fast: root only drops its privileges for the check.
    let dir = temp_dir("noroot");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let marker = dir.join("ran");
    let touch = format!("touch {}", marker.display());
    let bin = env!("CARGO_BIN_EXE_peregrine");
    let mut cmd = if peregrine_testkit::root::is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
        c
    } else {
        Command::new(bin)
    };
    let o = cmd
        .env(peregrine_config::DEFAULT_CONFIG_ENV, "")
        .env_remove("PEREGRINE_LOG")
        .args(["run", "--", "sh", "-c", &touch])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(common::stderr(&o).contains("needs root"), "{}", text(&o));
    assert!(!marker.exists(), "CMD must not run without the capture");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The pid of a process whose parent is `parent` and whose command line is `cmdline`
/// (NUL-separated words), if one is running.
fn child_with_cmdline(parent: u32, cmdline: &[u8]) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        // The field after the parenthesised name is the state, then the parent's pid.
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        let cl = std::fs::read(e.path().join("cmdline")).ok()?;
        (ppid == parent && cl == cmdline).then_some(pid)
    })
}

#[test]
fn sigterm_is_passed_on_to_the_command() {
    if !peregrine_testkit::live("sigterm_is_passed_on_to_the_command") {
        return;
    }
    let dir = temp_dir("signal");
    let rules = write_rules(&dir, 1);
    // A duration no other process uses, so the child is found by its command line.
    let secs = format!("{}.{}", 60, std::process::id());
    let mut peregrine = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .env(peregrine_config::DEFAULT_CONFIG_ENV, "")
        .env_remove("PEREGRINE_LOG")
        .args([
            "-r",
            rules.to_str().expect("utf-8"),
            "run",
            "--",
            "sleep",
            &secs,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("peregrine starts");
    let cmdline = format!("sleep\0{secs}\0");
    let mut sleep = None;
    for _ in 0..600 {
        sleep = child_with_cmdline(peregrine.id(), cmdline.as_bytes());
        if sleep.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(sleep) = sleep else {
        let _ = peregrine.kill();
        panic!("the command did not start within 30 s");
    };
    let pid = i32::try_from(peregrine.id()).expect("pid");
    // SAFETY: kill has no memory preconditions; the pid is our own child's.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let mut status = None;
    for _ in 0..200 {
        status = peregrine.try_wait().expect("wait");
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(status) = status else {
        let _ = peregrine.kill();
        panic!("peregrine run did not end within 10 s of SIGTERM");
    };
    let mut err = String::new();
    let _ = peregrine
        .stderr
        .take()
        .map(|mut s| s.read_to_string(&mut err));
    assert_eq!(
        status.code(),
        Some(128 + 15),
        "the command's death by SIGTERM: {err}"
    );
    assert!(
        !Path::new(&format!("/proc/{sleep}")).exists(),
        "the command was ended, not left behind"
    );
    assert!(err.contains("killed by signal 15"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_report_that_cannot_be_written_stops_the_run_before_the_command() {
    // Fast: the report file is created before the root check.
    let dir = temp_dir("badreport");
    let marker = dir.join("ran");
    let touch = format!("touch {}", marker.display());
    let bad = dir.join("no/such/dir/report.json");
    let o = run(
        &[],
        &["--report", bad.to_str().expect("utf-8")],
        &["sh", "-c", &touch],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        common::stderr(&o).contains("creating the report"),
        "{}",
        text(&o)
    );
    assert!(!marker.exists(), "CMD must not run");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rules_that_do_not_load_stop_the_run_before_the_command() {
    if !peregrine_testkit::live("rules_that_do_not_load_stop_the_run_before_the_command") {
        return;
    }
    let dir = temp_dir("badrules");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: broken\n  desc: d\n  condition: evt.type=open and\n  output: o\n  priority: WARNING\n",
    )
    .expect("rules");
    let marker = dir.join("ran");
    let touch = format!("touch {}", marker.display());
    let o = run(
        &["-r", rules.to_str().expect("utf-8")],
        &[],
        &["sh", "-c", &touch],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        common::stderr(&o).contains("LOAD_ERR_COMPILE_CONDITION"),
        "the load error is reported: {}",
        text(&o)
    );
    assert!(!marker.exists(), "CMD must not run: {}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_daemonised_grandchild_stays_in_the_tree() {
    if !peregrine_testkit::live("a_daemonised_grandchild_stays_in_the_tree") {
        return;
    }
    let dir = temp_dir("daemon");
    let rules = write_rules(&dir, 1);
    let report = dir.join("report.json");
    // The subshell that starts the background one exits at once, so the background subshell
    // is re-parented before it forks `head`: only its remembered membership links `head` to
    // CMD.
    let o = run(
        &["-r", rules.to_str().expect("utf-8")],
        &["--report", report.to_str().expect("utf-8")],
        &[
            "sh",
            "-c",
            "( (sleep 0.3; head -c1 /etc/shadow >/dev/null) & ); sleep 1.5",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON");
    assert!(
        r["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .any(|a| a["output_fields"]["proc.name"] == "head"),
        "{r:#}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_podman_container_started_by_the_command_is_watched() {
    if !peregrine_testkit::e2e_root("a_podman_container_started_by_the_command_is_watched") {
        return;
    }
    let dir = temp_dir("podman");
    // No registry here: a busybox-static image, built once.
    let image = "localhost/pg-run:1";
    peregrine_testkit::podman::ensure_image(image, &dir, &["sh", "cat"], &[]);
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: Container read its hostname\n  desc: test rule\n  condition: evt.type in (open, openat, openat2) and fd.name=/etc/hostname and proc.name=cat and container.id != host\n  output: container read (process=%proc.name container=%container.id)\n  priority: WARNING\n",
    )
    .expect("rules");
    let report = dir.join("report.json");
    // podman has no daemon: conmon and the container's processes descend from CMD (conmon
    // through a double fork, which the tree follows).
    let o = run(
        &[
            "-r",
            rules.to_str().expect("utf-8"),
            "-o",
            "syslog_output.enabled=false",
        ],
        &["--report", report.to_str().expect("utf-8")],
        &[
            "podman",
            "run",
            "--rm",
            "--network=none",
            image,
            "cat",
            "/etc/hostname",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON");
    let alert = &r["alerts"][0];
    assert_eq!(alert["rule"], "Container read its hostname", "{r:#}");
    let id = alert["output_fields"]["container.id"]
        .as_str()
        .unwrap_or("");
    assert!(id.len() == 12 && id != "host", "a container's id: {r:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
