//! Falco's informational and source-selection flags, through the built binary: `-i`,
//! `--list-events`, `--config-schema`, `--rule-schema`, `--enable-source`/`--disable-source`,
//! `--page-size`, `-p`, `--list-plugins`, `--plugin-info`.

mod common;

use common::{peregrine, replay_args, stderr, stdout};
use serde_json::Value;

/// Runs `args`, checks the exit code, and returns (stdout, stderr).
fn check(args: &[&str], code: i32) -> (String, String) {
    let out = peregrine(args);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}\nstdout: {so}\nstderr: {se}"
    );
    (so, se)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn ignored_events_lists_none() {
    // Peregrine drops no syscall a rule names; the layout is Falco's.
    assert_eq!(check(&["-i"], 0).0, "Ignored syscall(s):\n\n");
}

#[test]
fn list_events_prints_the_event_table() {
    let (so, _) = check(&["--list-events"], 0);
    assert!(so.starts_with("## Syscall events\n\n"), "{so}");
    assert!(
        so.lines()
            .any(|l| l.starts_with("< execve(") && l.contains("CHARBUFARRAY **args**")),
        "{so}"
    );
    assert!(so.contains("< procexit("), "{so}");
    let j = json(&check(&["--list-events", "--format", "json"], 0).0);
    let events = j[0]["events"].as_array().expect("events");
    assert!(events.iter().any(|e| e["name"] == "openat"), "{j}");
}

#[test]
fn schemas_are_json() {
    let config = json(&check(&["--config-schema"], 0).0);
    assert_eq!(
        config["properties"]["webserver"]["properties"]["listen_port"]["type"],
        "integer"
    );
    let rules = json(&check(&["--rule-schema"], 0).0);
    assert_eq!(rules["type"], "array");
    assert!(rules["definitions"]["Rule"]["properties"]["condition"].is_object());
}

#[test]
fn event_sources_follow_falco() {
    check(&["--enable-source", "syscall", "--dry-run"], 0);
    let (_, se) = check(&["--enable-source", "k8s_audit", "--dry-run"], 1);
    assert!(
        se.contains("Attempted enabling an unknown event source: k8s_audit"),
        "{se}"
    );
    let (_, se) = check(
        &[
            "--enable-source",
            "syscall",
            "--disable-source",
            "syscall",
            "--dry-run",
        ],
        1,
    );
    assert!(
        se.contains("You can not mix --enable-source and --disable-source"),
        "{se}"
    );
    let (_, se) = check(&["--disable-source", "syscall"], 1);
    assert!(se.contains("Must enable at least one event source"), "{se}");
}

#[test]
fn page_size_prints_the_system_page_size() {
    let (so, _) = check(&["--page-size"], 0);
    let size: u64 = so
        .trim()
        .strip_prefix("Your system page size is: ")
        .and_then(|s| s.strip_suffix(" bytes"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{so}"));
    assert!(size.is_power_of_two(), "{size}");
}

#[test]
fn plugins_none_loaded() {
    assert_eq!(check(&["--list-plugins"], 0).0, "0 Plugins Loaded:\n\n\n");
    let (_, se) = check(&["--plugin-info", "container"], 1);
    assert!(
        se.contains("can't find plugin and print its info: container"),
        "{se}"
    );
}

#[test]
fn print_flag_appends_to_every_output() {
    if peregrine_testkit::upstream::require("print_flag_appends_to_every_output").is_none() {
        return;
    }
    let run = |extra: &[&str]| {
        let mut args = replay_args(
            "falco-testing/rules/single_rule.yaml",
            "captures/falco/cat_write.scap",
        );
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = peregrine(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let out = run(&["-p", "pid=%proc.pid"]);
    let first = stdout(&out)
        .lines()
        .find(|l| l.contains("An open was seen"))
        .map(str::to_string)
        .expect("an alert");
    assert!(
        first.ends_with("(command=cat /dev/null) pid=20072"),
        "{first}"
    );
    assert!(
        stderr(&out).contains("The -p/--print option is deprecated"),
        "{}",
        stderr(&out)
    );
    // The container shorthands add nothing (the container fields are suggested already).
    for short in ["-pc", "-pk", "-pcontainer"] {
        let out = run(&[short]);
        let first = stdout(&out)
            .lines()
            .find(|l| l.contains("An open was seen"))
            .map(str::to_string)
            .expect("an alert");
        assert!(
            first.ends_with("(command=cat /dev/null)"),
            "{short}: {first}"
        );
    }
}
