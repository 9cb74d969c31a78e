//! falco.yaml keys that shape alerts and the agent's own log: `append_output`,
//! `static_fields`, `log_level`, `log_stderr`, `log_syslog`. A capture is replayed through the
//! binary (deterministic, no root), so alert times and field values are exact.

mod common;

use common::{replay_args, stderr, stdout};
use serde_json::{json, Value};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Output};

const RULES: &str = "falco-testing/rules/single_rule.yaml";
const CAPTURE: &str = "captures/falco/cat_write.scap";
/// The first alert of the replay: `open_from_cat` on the first open's enter event.
const FIRST_TIME: u64 = 1_470_327_477_881_781_397;

/// Replays the capture with `config` (a falco.yaml text) and `options`; `SITE` is set in the
/// environment for `${SITE}` expansion.
fn replay(config: &str, options: &[&str]) -> Output {
    replay_with(config, options, &[])
}

/// [`replay`] with extra command-line `flags`.
fn replay_with(config: &str, options: &[&str], flags: &[&str]) -> Output {
    let dir = std::env::temp_dir().join(format!("peregrine-agent-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // One file per call: tests run in parallel.
    let file = dir.join(format!(
        "falco-{:016x}.yaml",
        fxhash(config, options, flags)
    ));
    std::fs::write(&file, config).expect("write config");
    let mut args = vec!["-c".to_string(), file.display().to_string()];
    args.extend(replay_args(RULES, CAPTURE));
    for o in options {
        args.push("-o".into());
        args.push((*o).to_string());
    }
    args.extend(flags.iter().map(|f| f.to_string()));
    Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .env(peregrine_config::DEFAULT_CONFIG_ENV, "")
        .args(&args)
        .env_remove("PEREGRINE_LOG")
        .env("SITE", "eu-west-1")
        .output()
        .expect("the peregrine binary runs")
}

/// A stable name for a test case's config file.
fn fxhash(config: &str, options: &[&str], flags: &[&str]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (config, options, flags).hash(&mut h);
    h.finish()
}

fn first_json(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    let text = stdout(out);
    let line = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no alert: {}", stderr(out)));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

const APPEND: &str = r#"
json_output: true
append_output:
  - match: {source: syscall}
    extra_output: "pid=%proc.pid"
    extra_fields:
      - site: "${SITE}"
      - evt.type
      - who: "%user.uid/%proc.name"
  - match: {tags: [never_tagged]}
    extra_output: "NOT-BY-TAG"
  - match: {rule: other_rule}
    extra_output: "NOT-BY-NAME"
  - match: {source: k8s_audit}
    extra_output: "NOT-BY-SOURCE"
  - match: {rule: open_from_cat}
    extra_output: "[%evt.type]"
static_fields:
  cluster: prod-${SITE}
  team: blue
"#;

#[test]
fn append_output_and_static_fields_shape_the_json_alert() {
    if peregrine_testkit::upstream::require("append_output_and_static_fields_shape_the_json_alert")
        .is_none()
    {
        return;
    }
    let v = first_json(&replay(APPEND, &[]));
    assert_eq!(
        v["output"],
        "16:17:57.881781397: Warning An open was seen (command=cat /dev/null) pid=20072 [open]"
    );
    // Extra output fields join output_fields like rule fields; extra_fields keep their
    // type (a bare field name) or render to text (`key: format`); static fields are text.
    assert_eq!(
        v["output_fields"],
        json!({
            "cluster": "prod-eu-west-1",
            "evt.time": FIRST_TIME,
            "evt.type": "open",
            "proc.cmdline": "cat /dev/null",
            "proc.pid": 20072,
            "site": "eu-west-1",
            "team": "blue",
            // cat's thread is not in the capture's table: Falco's placeholder has no uid.
            "who": "4294967295/cat",
        })
    );
    assert_eq!(v["rule"], "open_from_cat");
}

#[test]
fn extra_fields_stay_out_of_the_text_line() {
    if peregrine_testkit::upstream::require("extra_fields_stay_out_of_the_text_line").is_none() {
        return;
    }
    let out = replay(APPEND, &["json_output=false"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "16:17:57.881781397: Warning An open was seen (command=cat /dev/null) pid=20072 [open]"
    );
    assert!(
        !text.contains("eu-west-1") && !text.contains("NOT-BY"),
        "{text}"
    );
}

#[test]
fn append_output_via_command_line_options() {
    if peregrine_testkit::upstream::require("append_output_via_command_line_options").is_none() {
        return;
    }
    // Falco's -o path syntax appends list entries and sets keys below them.
    let v = first_json(&replay(
        "json_output: true\n",
        &[
            "append_output[]={match: {source: syscall}, extra_fields: [proc.pid]}",
            "append_output[0].extra_output=uid=%user.uid",
            "append_output[].extra_fields[].k=v",
            "static_fields.node=n1",
        ],
    ));
    assert_eq!(
        v["output"],
        "16:17:57.881781397: Warning An open was seen (command=cat /dev/null) uid=4294967295"
    );
    assert_eq!(
        v["output_fields"],
        json!({
            "evt.time": FIRST_TIME,
            "k": "v",
            "node": "n1",
            "proc.cmdline": "cat /dev/null",
            "proc.pid": 20072,
            "user.uid": 4294967295u32,
        })
    );
}

#[test]
fn bad_append_output_is_a_load_error() {
    if peregrine_testkit::upstream::require("bad_append_output_is_a_load_error").is_none() {
        return;
    }
    // (extra entry, text the error must contain)
    let cases = [
        (
            "{extra_output: '%proc.nosuch'}",
            "rule 'open_from_cat': invalid output format",
        ),
        (
            "{extra_fields: [no.such.field]}",
            "invalid formatting token",
        ),
        ("{extra_fields: [a, a]}", "extra field 'a' is defined twice"),
        ("{match: {tags: x}}", "'match.tags' must be a list"),
    ];
    for (entry, expected) in cases {
        let option = format!("append_output[]={entry}");
        let out = replay("", &[&option]);
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{entry}: {err}");
        assert!(err.contains(expected), "{entry}: {err}");
        assert!(
            stdout(&out).lines().all(|l| !l.contains("open was seen")),
            "{entry}"
        );
    }
}

/// The agent's own log lines on stderr.
fn log_lines(options: &[&str]) -> Vec<String> {
    // A Falco key Peregrine does not act on and an unknown key both warn.
    let mut all = vec!["grpc.enabled=false", "frobnicate=1"];
    all.extend_from_slice(options);
    let out = replay("", &all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let iso = options.contains(&"time_format_iso_8601=true");
    stderr(&out)
        .lines()
        .filter_map(|l| {
            let (time, rest) = l.split_once(": peregrine: ")?;
            assert!(is_log_time(time, iso), "{l:?} starts with Falco's log time");
            Some(format!("peregrine: {rest}"))
        })
        .map(|l| match l.find("Configuration files loaded: ") {
            Some(at) => format!("{}Configuration files loaded: …", &l[..at]),
            None => l.to_string(),
        })
        .collect()
}

/// Falco's log-line time: ctime's `Mon Dec  7 17:22:24 2026`, or `2026-12-07T17:22:24+0000`.
fn is_log_time(t: &str, iso: bool) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if iso {
        let b = t.as_bytes();
        return t.len() == 24
            && t.ends_with("+0000")
            && b[4] == b'-'
            && b[10] == b'T'
            && digits(&t[..4])
            && digits(&t[11..13]);
    }
    let parts: Vec<&str> = t.split(' ').filter(|p| !p.is_empty()).collect();
    t.len() == 24
        && parts.len() == 5
        && ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].contains(&parts[0])
        && parts[1].len() == 3
        && digits(parts[2])
        && parts[3].len() == 8
        && digits(parts[4])
}

const WARN_LINE: &str = "peregrine: warn: unknown configuration key 'frobnicate' (ignored)";
/// A Falco key Peregrine does not act on is named in one warning line.
const UNSUPPORTED_LINE: &str =
    "peregrine: warn: configuration keys not supported by Peregrine (ignored): grpc";
/// The start-up line naming the configuration files read (their temporary paths elided).
const INFO_LINE: &str = "peregrine: info: Configuration files loaded: …";

#[test]
fn log_level_and_log_stderr_filter_the_agents_lines() {
    if peregrine_testkit::upstream::require("log_level_and_log_stderr_filter_the_agents_lines")
        .is_none()
    {
        return;
    }
    // (options, expected log lines)
    let cases: &[(&[&str], &[&str])] = &[
        (&[], &[WARN_LINE, UNSUPPORTED_LINE]),
        (
            &["log_level=debug"],
            &[INFO_LINE, WARN_LINE, UNSUPPORTED_LINE],
        ),
        (
            &["log_level=info"],
            &[INFO_LINE, WARN_LINE, UNSUPPORTED_LINE],
        ),
        (&["log_level=error"], &[]),
        (
            &["log_level=info", "time_format_iso_8601=true"],
            &[INFO_LINE, WARN_LINE, UNSUPPORTED_LINE],
        ),
        (&["log_level=debug", "log_stderr=false"], &[]),
    ];
    for (options, expected) in cases {
        assert_eq!(log_lines(options), *expected, "{options:?}");
    }
    let out = replay("", &["log_level=loud"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("log_level"), "{}", stderr(&out));
}

#[test]
fn log_syslog_sends_the_lines_to_the_syslog_socket() {
    if peregrine_testkit::upstream::require("log_syslog_sends_the_lines_to_the_syslog_socket")
        .is_none()
    {
        return;
    }
    let (socket, path) = test_syslog("log");
    let socket_option = format!("syslog_output.socket={}", path.display());
    let lines = log_lines(&[
        "log_level=debug",
        "log_stderr=false",
        "log_syslog=true",
        &socket_option,
    ]);
    assert!(lines.is_empty(), "{lines:?}");
    // The run is over: everything it logged is queued on the socket.
    let got = datagrams(&socket);
    let _ = std::fs::remove_file(&path);
    // <PRI> is LOG_USER * 8 + severity; the timestamp in between is the send time.
    let expected = [
        ("<14>", "falco: Configuration files loaded: "),
        (
            "<12>",
            "falco: unknown configuration key 'frobnicate' (ignored)",
        ),
        (
            "<12>",
            "falco: configuration keys not supported by Peregrine (ignored): grpc",
        ),
    ];
    for (pri, tail) in expected {
        assert!(
            got.iter().any(|d| d.starts_with(pri) && d.contains(tail)),
            "{pri} {tail}: {got:?}"
        );
    }
}

/// Binds a datagram socket at a fresh temp path, standing in for `/dev/log`.
fn test_syslog(name: &str) -> (UnixDatagram, PathBuf) {
    let path = std::env::temp_dir().join(format!(
        "peregrine-agent-config-{}-{name}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let socket = UnixDatagram::bind(&path).expect("bind the test syslog socket");
    socket.set_nonblocking(true).expect("nonblocking");
    (socket, path)
}

/// Every datagram queued on `socket`.
fn datagrams(socket: &UnixDatagram) -> Vec<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = socket.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    got
}

#[test]
fn syslog_output_socket_carries_alerts_with_append_output() {
    if peregrine_testkit::upstream::require(
        "syslog_output_socket_carries_alerts_with_append_output",
    )
    .is_none()
    {
        return;
    }
    let (socket, path) = test_syslog("alerts");
    let socket_option = format!("syslog_output.socket={}", path.display());
    let out = replay(
        "append_output: [{extra_output: 'pid=%proc.pid'}]\n",
        &[
            "syslog_output.enabled=true",
            &socket_option,
            "stdout_output.enabled=false",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The replay has ended and the outputs were drained: every alert is queued.
    let got = datagrams(&socket);
    let _ = std::fs::remove_file(&path);
    assert_eq!(got.len(), 8, "{got:?}");
    for d in &got {
        // LOG_USER (1) * 8 + warning (4); the syslog header time is the send time.
        assert!(d.starts_with("<12>"), "{d}");
        assert!(
            d.ends_with(": Warning An open was seen (command=cat /dev/null) pid=20072"),
            "{d}"
        );
    }
}
