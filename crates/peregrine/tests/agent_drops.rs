//! Falco's `syscall_event_drops` through the binary: replaying a capture with simulated drops
//! (Falco's own way of testing it) gives Falco's notification byte for byte, its token bucket
//! and its `exit` action; and the live agent (root) raises the notification from its kernel
//! capture with the configured `static_fields`.

mod common;
mod e2e_harness;

use common::{replay_args, stderr, stdout};
use serde_json::Value;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const RULES: &str = "falco-testing/rules/single_rule.yaml";
/// Ten seconds of `ping`: with the check at most once per second of event time, simulated
/// drops are found 9 times (Falco's suite expects exactly that).
const CAPTURE: &str = "captures/falco/ping_sendto.scap";
const DROP_RULE: &str = "Falco internal: syscall event drop";

/// Replays [`CAPTURE`] with `config` as the configuration file, `FALCO_HOSTNAME` set.
fn replay(name: &str, config: &str, options: &[&str]) -> Output {
    let dir = std::env::temp_dir().join(format!("peregrine-agent-drops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, config).expect("config");
    let mut args = replay_args(RULES, CAPTURE);
    args.extend(["-c".into(), file.display().to_string()]);
    for o in options {
        args.extend(["-o".to_string(), o.to_string()]);
    }
    std::process::Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .env(peregrine_config::DEFAULT_CONFIG_ENV, "")
        .args(&args)
        .env("FALCO_HOSTNAME", "drops-host")
        .env_remove("PEREGRINE_LOG")
        .output()
        .expect("the peregrine binary runs")
}

fn simulated(actions: &str, max_burst: u32) -> String {
    format!(
        "syscall_event_drops:\n  actions: {actions}\n  rate: .03333\n  max_burst: {max_burst}\n  simulate_drops: true\nstatic_fields:\n  env: drop-test\n"
    )
}

fn summary(detected: u32, taken: u32) -> String {
    format!(
        "Syscall event drop monitoring:\n   - event drop detected: {detected} occurrences\n   - num times actions taken: {taken}\n"
    )
}

/// The JSON notification exactly as Falco's `handle_msg` prints it (one nlohmann object:
/// sorted keys, every counter a string, no tags), plus the static field.
#[test]
fn simulated_drops_alert_in_falcos_json() {
    if peregrine_testkit::upstream::require("simulated_drops_alert_in_falcos_json").is_none() {
        return;
    }
    let out = replay("alert", &simulated("[alert]", 10), &["json_output=true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(DROP_RULE)).collect();
    assert_eq!(lines.len(), 9, "{text}");
    let first: Value = serde_json::from_str(lines[0]).expect("JSON");
    let time = first["time"].as_str().expect("time").to_string();
    let zeros = [
        "n_drops_buffer_clone_fork_exit",
        "n_drops_buffer_close_exit",
        "n_drops_buffer_connect_exit",
        "n_drops_buffer_dir_file_exit",
        "n_drops_buffer_execve_exit",
        "n_drops_buffer_open_exit",
        "n_drops_buffer_other_interest_exit",
        "n_drops_buffer_proc_exit",
        "n_drops_buffer_total",
        "n_drops_bug",
        "n_drops_page_faults",
        "n_drops_scratch_map",
    ]
    .map(|k| format!(",\"{k}\":\"0\""))
    .concat();
    let expected = format!(
        "{{\"hostname\":\"drops-host\",\"output\":\"{DROP_RULE}. 1 system calls dropped in last second.\",\
         \"output_fields\":{{\"ebpf_enabled\":\"0\",\"env\":\"drop-test\",\"n_drops\":\"1\"{zeros},\"n_evts\":\"0\"}},\
         \"priority\":\"Debug\",\"rule\":\"{DROP_RULE}\",\"source\":\"internal\",\"time\":\"{time}\"}}"
    );
    assert_eq!(lines[0], expected);
    // The notification's time is the event's: within the capture (2016 and later).
    assert!(time.starts_with("20") && time.ends_with('Z'), "{time}");
    assert!(stderr(&out).contains(&summary(9, 9)), "{}", stderr(&out));
}

/// Text mode: `time: Debug message (k="v" …)`, fields in key order.
#[test]
fn simulated_drops_alert_in_falcos_text() {
    if peregrine_testkit::upstream::require("simulated_drops_alert_in_falcos_text").is_none() {
        return;
    }
    let out = replay("text", &simulated("[alert]", 10), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains(DROP_RULE))
        .unwrap_or_else(|| panic!("no notification: {text}"));
    let re = regex::Regex::new(
        r#"^\d\d:\d\d:\d\d\.\d{9}: Debug Falco internal: syscall event drop\. 1 system calls dropped in last second\. \(ebpf_enabled="0" env="drop-test" n_drops="1" n_drops_buffer_clone_fork_exit="0" .* n_evts="0"\)$"#,
    )
    .expect("regex");
    assert!(re.is_match(line), "{line}");
}

/// The token bucket: every check finds a drop, only `max_burst` of them act (the rate adds a
/// token every 30 s, longer than the capture).
#[test]
fn the_token_bucket_limits_the_actions() {
    if peregrine_testkit::upstream::require("the_token_bucket_limits_the_actions").is_none() {
        return;
    }
    let out = replay("burst", &simulated("[alert]", 3), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches(DROP_RULE).count(), 3);
    assert!(stderr(&out).contains(&summary(9, 3)), "{}", stderr(&out));
}

/// `exit`: critical lines on stderr, the summary, exit code 1, the rest of the capture unread.
#[test]
fn the_exit_action_stops_with_an_error() {
    if peregrine_testkit::upstream::require("the_exit_action_stops_with_an_error").is_none() {
        return;
    }
    let out = replay("exit", &simulated("[exit]", 10), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    for part in [
        "Falco internal: syscall event drop. 1 system calls dropped in last second.",
        "Exiting.",
        &summary(1, 1),
        "Drop manager internal error",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
    assert!(!stdout(&out).contains(DROP_RULE));
}

/// Without drops (a capture has no loss counters) nothing happens, whatever the actions.
#[test]
fn no_drops_no_actions() {
    if peregrine_testkit::upstream::require("no_drops_no_actions").is_none() {
        return;
    }
    let cfg = "syscall_event_drops:\n  actions: [log, alert, exit]\n  threshold: 0\n";
    let out = replay("none", cfg, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains(DROP_RULE));
    assert!(stderr(&out).contains(&summary(0, 0)), "{}", stderr(&out));
}

/// Falco's configuration errors, through the binary.
#[test]
fn bad_drop_settings_are_config_errors() {
    if peregrine_testkit::upstream::require("bad_drop_settings_are_config_errors").is_none() {
        return;
    }
    for (cfg, message) in [
        (
            "syscall_event_drops:\n  actions: [ignore, log]\n",
            "syscall event drop action \"log\" does not make sense with the \"ignore\" action",
        ),
        (
            "syscall_event_drops:\n  actions: [shout]\n",
            "available actions for syscall event drops are",
        ),
        (
            "syscall_event_drops:\n  threshold: 2\n",
            "syscall event drops threshold must be a double in the range [0, 1]",
        ),
    ] {
        let out = replay("bad", cfg, &[]);
        assert_eq!(out.status.code(), Some(1), "{cfg}");
        assert!(stderr(&out).contains(message), "{cfg}: {}", stderr(&out));
    }
}

/// Live (root): the agent's kernel capture feeds the same monitor; with simulated drops the
/// notification comes from live events, marked eBPF, with the static fields.
#[test]
fn the_live_agent_raises_the_notification_with_static_fields() {
    if !peregrine_testkit::live("the_live_agent_raises_the_notification_with_static_fields") {
        return;
    }
    let dir = e2e_harness::scratch("agent-drops");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: Never\n  desc: t\n  condition: evt.type = openat and proc.name = pg-no-such-proc\n  output: x\n  priority: INFO\n",
    )
    .expect("rules");
    let config = dir.join("falco.yaml");
    std::fs::write(&config, simulated("[alert]", 10)).expect("config");
    let config_arg = config.display().to_string();
    let mut agent =
        e2e_harness::Agent::start(&rules, &["-c", &config_arg, "-o", "json_output=true"]);
    // Events for the clock: the check runs at an event a second after the previous one.
    let stop = Arc::new(AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::read("/etc/hostname");
                let _ = std::process::Command::new("true").status();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let alert = agent.expect_alert(Duration::from_secs(60), |v| v["rule"] == DROP_RULE);
    stop.store(true, Ordering::Relaxed);
    let _ = busy.join();
    let log = agent.log.clone();
    let status = agent.stop();
    let alert = alert.unwrap_or_else(|| panic!("no drop notification: {log:#?}"));
    let v = &alert.json;
    assert_eq!(v["source"], "internal", "{v}");
    assert_eq!(v["priority"], "Debug", "{v}");
    assert_eq!(v["output_fields"]["env"], "drop-test", "{v}");
    assert_eq!(v["output_fields"]["ebpf_enabled"], "1", "{v}");
    // The simulated drop is on top of the real ones, so at least one.
    let n: u64 = v["output_fields"]["n_drops"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("n_drops");
    assert!(n >= 1, "{v}");
    assert!(status.success(), "{status:?}");
}
