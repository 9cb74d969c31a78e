//! The command line itself: flags, configuration handling, version and field listing.

mod common;

use common::{peregrine, stderr, stdout};

/// Runs `args` and checks the exit code and fragments of stdout and stderr.
fn check(args: &[&str], code: i32, stdout_has: &[&str], stderr_has: &[&str]) {
    let out = peregrine(args);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}\nstdout: {so}\nstderr: {se}"
    );
    for s in stdout_has {
        assert!(so.contains(s), "{args:?}: stdout lacks {s:?}:\n{so}");
    }
    for s in stderr_has {
        assert!(se.contains(s), "{args:?}: stderr lacks {s:?}:\n{se}");
    }
}

#[test]
fn version_reports_falco_engine_compatibility() {
    check(
        &["--version"],
        0,
        &[
            "Peregrine version: 0.1.0",
            "Engine:        0.62.0",
            "Falco compatibility: 0.44",
        ],
        &[],
    );
}

#[test]
fn bad_flags_and_options_fail_with_a_message() {
    check(&["--no-such-flag"], 2, &[], &["--no-such-flag"]);
    check(&["-o", "json_output"], 1, &[], &["expected KEY=VALUE"]);
    check(
        &["-o", "priority=loud", "--version"],
        1,
        &[],
        &["unknown priority 'loud'"],
    );
    check(
        &["-c", "/does/not/exist.yaml"],
        1,
        &[],
        &["/does/not/exist.yaml"],
    );
    check(
        &["-r", "/does/not/exist.yaml", "-L"],
        1,
        &[],
        &["/does/not/exist.yaml"],
    );
    check(&["--list", "--format", "xml"], 2, &[], &["xml"]);
}

#[test]
fn unknown_config_keys_warn_but_do_not_stop() {
    let path = std::env::temp_dir().join(format!("peregrine-cfg-{}.yaml", std::process::id()));
    std::fs::write(
        &path,
        "json_output: true\nwebserver: {enabled: true}\nno_such_key: 1\n",
    )
    .expect("write config");
    let p = path.to_str().expect("utf-8 temp path");
    let out = peregrine(["-c", p, "--version"]);
    std::fs::remove_file(&path).expect("cleanup");
    assert!(out.status.success(), "{}", stderr(&out));
    let se = stderr(&out);
    assert!(
        se.contains("unknown configuration key 'no_such_key'"),
        "{se}"
    );
    assert!(
        !se.contains("webserver"),
        "Falco keys are not warned about: {se}"
    );
}

#[test]
fn list_fields_in_three_formats() {
    check(
        &["--list"],
        0,
        &["Field Class:", "evt.type", "proc.name"],
        &[],
    );
    check(&["--list", "syscall"], 0, &["evt.type"], &[]);
    check(
        &["--list", "--format", "markdown"],
        0,
        &["## Field Class: evt", "`evt.type`"],
        &[],
    );

    let names = stdout(&peregrine(["--list", "-N"]));
    let lines: Vec<&str> = names.lines().collect();
    assert!(
        lines.contains(&"evt.type") && lines.contains(&"fd.name"),
        "{names}"
    );
    assert!(
        lines.iter().all(|l| !l.contains(' ')),
        "names only: {names}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&peregrine(["--list", "--format", "json"])))
            .expect("--format json prints JSON");
    let fields: Vec<&str> = json
        .as_array()
        .expect("a list of classes")
        .iter()
        .flat_map(|c| c["fields"].as_array().into_iter().flatten())
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(fields.contains(&"proc.name"), "{json}");

    // A source nobody provides lists nothing.
    let out = peregrine(["--list", "k8s_audit", "-N"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "");
}

#[test]
fn help_shows_falco_flags_and_subcommands() {
    check(
        &["--help"],
        0,
        &[
            "-r <FILE|DIR>",
            "--validate",
            "--list",
            "-o, --option",
            "parse-condition",
        ],
        &[],
    );
}

/// `peregrine events FILTER` refuses a filter it cannot use before starting any capture (so
/// no root is needed here): the message names the problem and points at its column.
#[test]
fn events_filter_errors_point_at_the_column() {
    for (filter, message) in [
        (
            "evt.type=opne",
            "unknown event type 'opne' (line 1, column 10)\n  evt.type=opne\n           ^",
        ),
        (
            "evt.type in (open, readvv)",
            "unknown event type 'readvv' (line 1, column 20)",
        ),
        (
            "proc.name=cat and fd.nme=x",
            "nonexistent field fd.nme (line 1, column 19)",
        ),
        (
            "evt.type=open and (proc.name=cat",
            "expected a ')' token (line 1, column 33)",
        ),
    ] {
        check(&["events", "-n", "1", filter], 1, &[], &[message]);
    }
}

/// Runs the binary with `PEREGRINE_DEFAULT_CONFIG` set to `default` (the file read without
/// `-c`).
fn peregrine_with_default(default: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args(args)
        .env_remove("PEREGRINE_LOG")
        .env(peregrine_config::DEFAULT_CONFIG_ENV, default)
        .output()
        .expect("the peregrine binary runs")
}

#[test]
fn without_c_the_default_file_and_its_drop_ins_are_read() {
    let dir = std::env::temp_dir().join(format!("peregrine-default-cfg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config.d")).expect("mkdir");
    let main = dir.join("falco.yaml");
    std::fs::write(
        &main,
        format!(
            "config_files: [{}]\nlog_level: info\npriority: debug\n",
            dir.join("config.d").display()
        ),
    )
    .expect("write");
    let drop_in = dir.join("config.d/10-json.yaml");
    std::fs::write(&drop_in, "json_output: true\n").expect("write");
    // -L with json_output prints JSON: the drop-in was merged.
    let out = peregrine_with_default(&main, &["-L"]);
    let (so, se) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{se}");
    assert!(so.trim_start().starts_with('{'), "{so}");
    assert!(
        se.contains(&format!(
            "Configuration files loaded: {}, {}",
            main.display(),
            drop_in.display()
        )),
        "{se}"
    );
    // -o applies after the drop-ins.
    let out = peregrine_with_default(&main, &["-L", "-o", "json_output=false"]);
    assert!(stdout(&out).starts_with("Rule"), "{}", stdout(&out));
    // An absent default file means the built-in defaults.
    let out = peregrine_with_default(&dir.join("absent.yaml"), &["-v", "--version"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("No configuration file: using the built-in defaults"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn falcos_stock_configuration_loads_with_one_not_supported_line() {
    let Some(up) = peregrine_testkit::upstream::require(
        "falcos_stock_configuration_loads_with_one_not_supported_line",
    ) else {
        return;
    };
    let stock = up.join("config/falco.yaml");
    let rules = common::repo_root().join("rules/peregrine_rules.yaml");
    let (stock, rules) = (stock.display().to_string(), rules.display().to_string());
    // The stock file's rules files are not installed here; -r replaces them. Its syslog
    // logging is turned off (no syslog daemon on test machines).
    let base = ["-c", &stock, "-r", &rules, "-o", "log_syslog=false"];
    let out = peregrine(base.iter().chain(&["--dry-run"]));
    let se = stderr(&out);
    assert!(out.status.success(), "{se}");
    let lines: Vec<&str> = se.lines().filter(|l| l.contains("not supported")).collect();
    assert_eq!(lines.len(), 1, "{se}");
    // `load_plugins: []` and the container plugin's entry are honoured now (not named).
    for key in ["load_plugins", "plugins"] {
        assert!(
            !lines[0].contains(&format!(" {key},")) && !lines[0].ends_with(&format!(" {key}")),
            "{key} named: {}",
            lines[0]
        );
    }
    for key in [
        "falco_libs",
        "output_timeout",
        "syscall_event_timeouts",
        "libs_logger",
        "engine.kmod",
        "webserver.threadiness",
        // metrics.interval was the example here until the metrics work honoured it.
        "metrics.libbpf_stats_enabled",
    ] {
        assert!(
            lines[0].contains(&format!(" {key},")) || lines[0].ends_with(&format!(" {key}")),
            "{key} not named: {}",
            lines[0]
        );
    }
    assert!(!se.contains("unknown configuration key"), "{se}");
    // Unknown keys are named by their full path, at any depth.
    let out = peregrine(base.iter().chain(&[
        "-o",
        "webserver.foo=1",
        "-o",
        "http_output.bar.baz=2",
        "--dry-run",
    ]));
    let se = stderr(&out);
    assert!(out.status.success(), "{se}");
    for key in ["webserver.foo", "http_output.bar"] {
        assert!(
            se.contains(&format!("unknown configuration key '{key}' (ignored)")),
            "{se}"
        );
    }
}
