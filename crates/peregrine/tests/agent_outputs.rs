//! The agent's alert delivery configured from falco.yaml keys: a capture is replayed through
//! the binary and every enabled output must carry the same Falco-shaped alerts.

mod common;

use common::{peregrine, replay_args, stderr, stdout};
use serde_json::Value;
use std::path::Path;

const RULES: &str = "falco-testing/rules/single_rule.yaml";
const CAPTURE: &str = "captures/falco/cat_write.scap";
/// `open_from_cat` fires on the four opens of the capture twice each, on the enter and on the
/// exit event: Falco hands this old capture's `open` enter events to the rules too.
const EXPECTED_ALERTS: usize = 8;

/// Replays the capture with `options` and returns (stdout, stderr, exit code).
fn replay(options: &[String]) -> (String, String, Option<i32>) {
    let mut args = replay_args(RULES, CAPTURE);
    for o in options {
        args.push("-o".into());
        args.push(o.clone());
    }
    let out = peregrine(&args);
    (stdout(&out), stderr(&out), out.status.code())
}

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("peregrine-agent-outputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// Asserts Falco's JSON alert shape on every line.
fn check_json_lines(text: &str, what: &str) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), EXPECTED_ALERTS, "{what}: {text}");
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{what}: {e}: {line}"));
        assert_eq!(v["rule"], "open_from_cat", "{what}: {line}");
        assert_eq!(v["priority"], "Warning", "{what}: {line}");
        assert_eq!(v["source"], "syscall", "{what}: {line}");
        assert_eq!(
            v["output_fields"]["proc.cmdline"], "cat /dev/null",
            "{what}: {line}"
        );
        assert!(v["output_fields"]["evt.time"].is_u64(), "{what}: {line}");
        let output = v["output"].as_str().unwrap_or_default();
        assert!(
            output.ends_with("Warning An open was seen (command=cat /dev/null)"),
            "{what}: {line}"
        );
        assert!(
            v["time"]
                .as_str()
                .is_some_and(|t| t.starts_with("2016-08-04T")),
            "{line}"
        );
        assert!(v["tags"].is_array() && v["hostname"].is_string(), "{line}");
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn file_and_program_outputs_get_the_stdout_alerts() {
    if peregrine_testkit::upstream::require("file_and_program_outputs_get_the_stdout_alerts")
        .is_none()
    {
        return;
    }
    let file = temp_path("events.json");
    let prog = temp_path("program.json");
    let (out, err, code) = replay(&[
        "json_output=true".into(),
        "file_output.enabled=true".into(),
        format!("file_output.filename={}", file.display()),
        "program_output.enabled=true".into(),
        format!("program_output.program=cat >> {}", prog.display()),
    ]);
    assert_eq!(code, Some(0), "{err}");
    check_json_lines(&out, "stdout");
    check_json_lines(&read(&file), "file_output");
    check_json_lines(&read(&prog), "program_output");
    assert_eq!(read(&file), out, "file and stdout carry the same lines");
}

#[test]
fn output_keys_shape_the_alerts() {
    if peregrine_testkit::upstream::require("output_keys_shape_the_alerts").is_none() {
        return;
    }
    // (options, check on the single stdout line's text)
    type Check = fn(&str) -> bool;
    let cases: &[(&[&str], Check)] = &[
        (&[], |l| {
            l.ends_with(": Warning An open was seen (command=cat /dev/null)")
        }),
        (&["time_format_iso_8601=true"], |l| {
            // The first open's enter event.
            l.starts_with("2016-08-04T16:17:57.881781397+0000: Warning")
        }),
        (
            &[
                "json_output=true",
                "json_include_output_fields_property=false",
            ],
            |l| l.starts_with('{') && !l.contains("output_fields"),
        ),
        (
            &["json_output=true", "json_include_tags_property=false"],
            |l| !l.contains("\"tags\""),
        ),
        (&["stdout_output.enabled=false"], str::is_empty),
        (&["priority=error"], str::is_empty),
    ];
    for (options, ok) in cases {
        let opts: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        let (out, err, code) = replay(&opts);
        assert_eq!(code, Some(0), "{options:?}: {err}");
        let first = out.lines().next().unwrap_or("");
        assert!(ok(first), "{options:?}: first line {first:?}");
    }
}

#[test]
fn rate_limit_drops_alerts_beyond_the_burst() {
    if peregrine_testkit::upstream::require("rate_limit_drops_alerts_beyond_the_burst").is_none() {
        return;
    }
    let (out, err, code) = replay(&["outputs.rate=0.000001".into(), "outputs.max_burst=2".into()]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn bad_output_values_are_config_errors() {
    if peregrine_testkit::upstream::require("bad_output_values_are_config_errors").is_none() {
        return;
    }
    for opt in [
        "json_output=maybe",
        "outputs.rate=fast",
        "file_output.enabled=perhaps",
    ] {
        let (_, err, code) = replay(&[opt.to_string()]);
        assert_eq!(code, Some(1), "{opt}");
        let key = opt.split('=').next().unwrap_or_default();
        assert!(err.contains(key), "{opt}: {err}");
    }
}

/// A dead http_output (a refused port) and a syslog output with no socket: the start names
/// the unreachable syslog socket, the first failed delivery is logged with the output's name
/// and cause (once: the replay lasts less than the 10 s reporting interval), and the exit
/// summary counts every alert lost by both.
#[test]
fn a_failing_output_is_logged_once_per_interval_and_counted() {
    if peregrine_testkit::upstream::require(
        "a_failing_output_is_logged_once_per_interval_and_counted",
    )
    .is_none()
    {
        return;
    }
    // A port nothing listens on any more: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let missing = temp_path("no-such-syslog.sock");
    let (out, err, code) = replay(&[
        "http_output.enabled=true".into(),
        format!("http_output.url=http://127.0.0.1:{port}/alerts"),
        "syslog_output.enabled=true".into(),
        format!("syslog_output.socket={}", missing.display()),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), EXPECTED_ALERTS, "stdout still works");
    let lines =
        |needle: &str| -> Vec<&str> { err.lines().filter(|l| l.contains(needle)).collect() };
    let start = lines("alerts for the syslog output are lost");
    assert_eq!(start.len(), 1, "{err}");
    assert!(start[0].contains(&missing.display().to_string()), "{err}");
    let http = lines("Output http failed");
    assert_eq!(http.len(), 1, "one line per interval: {err}");
    assert!(
        http[0].contains(&format!("127.0.0.1:{port}")) && http[0].contains("refused"),
        "names the endpoint and the cause: {err}"
    );
    let syslog = lines("Output syslog failed");
    assert_eq!(syslog.len(), 1, "{err}");
    assert!(syslog[0].contains("No such file"), "{err}");
    assert!(
        err.contains(&format!("Alerts lost by outputs: {}", 2 * EXPECTED_ALERTS)),
        "{err}"
    );
}
