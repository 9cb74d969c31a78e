//! Falco plugins loaded from shared libraries through the real binary: a source plugin with
//! its own rules, an extraction plugin's fields in a syscall rule replayed over a shared
//! capture, `--list-plugins`/`--plugin-info`, `required_plugin_versions` checked against the
//! loaded plugin's version, and plugins that fail or return garbage reported by name. The
//! plugins are built here with Falco's Rust SDK (`crates/peregrine-plugins/test-plugins`).

mod common;

use std::path::{Path, PathBuf};

use common::{peregrine, stderr, stdout};
use peregrine_testkit::plugins::test_plugin;
use serde_json::Value;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("peregrine-plugins-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A configuration loading plugin `name` with `init` (YAML) and `open_params`, JSON alerts on
/// stdout, no syslog, dedup or alert store.
fn config(dir: &Path, name: &str, init: &str, open_params: &str) -> PathBuf {
    let path = dir.join("falco.yaml");
    std::fs::write(
        &path,
        format!(
            "load_plugins: [{name}]\n\
             plugins:\n\
             \x20 - name: {name}\n\
             \x20   library_path: {}\n\
             \x20   init_config: {init}\n\
             \x20   open_params: \"{open_params}\"\n\
             json_output: true\n\
             syslog_output: {{enabled: false}}\n\
             dedup: {{enabled: false}}\n\
             alert_store: {{enabled: false}}\n",
            test_plugin(name).display()
        ),
    )
    .unwrap();
    path
}

const TICKER_RULES: &str = "\
- required_plugin_versions:
  - name: ticker
    version: 0.3.0
- rule: Even tick
  desc: an even tick past the first two
  condition: ticker.even = true and ticker.n > 2
  output: tick %ticker.n (%ticker.msg) info=%evt.plugininfo
  priority: WARNING
  source: ticker
";

fn write(dir: &Path, file: &str, text: &str) -> String {
    let p = dir.join(file);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn alerts(out: &str) -> Vec<Value> {
    out.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The ticker source alone with `init`, `ticks` events and the rules `rules`.
fn run_ticker(dir: &Path, init: &str, ticks: &str, rules: &str) -> std::process::Output {
    let cfg = config(dir, "ticker", init, ticks);
    let rules = write(dir, "ticker_rules.yaml", rules);
    peregrine([
        "-c",
        cfg.to_str().unwrap(),
        "-r",
        &rules,
        "--enable-source",
        "ticker",
    ])
}

/// The procext plugin with `init` and the syscall rules `rules`, over the shared capture
/// `cat_write.scap`.
fn replay_procext(up: &Path, dir: &Path, init: &str, rules: &str) -> std::process::Output {
    let cfg = config(dir, "procext", init, "");
    let rules = write(dir, "rules.yaml", rules);
    let capture = up.join("captures/falco/cat_write.scap");
    peregrine([
        "-c",
        cfg.to_str().unwrap(),
        "-r",
        &rules,
        "-o",
        "engine.kind=replay",
        "-o",
        &format!("engine.replay.capture_file={}", capture.display()),
    ])
}

#[test]
fn rules_on_a_source_plugin_fire_with_its_fields() {
    let dir = tempdir("source");
    let o = run_ticker(&dir, "{batch: 4}", "9", TICKER_RULES);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = alerts(&stdout(&o));
    let outputs: Vec<&str> = got.iter().map(|a| a["output"].as_str().unwrap()).collect();
    assert_eq!(outputs.len(), 3, "{outputs:?}");
    for (a, n) in got.iter().zip([4, 6, 8]) {
        assert_eq!(a["source"], "ticker");
        assert_eq!(a["rule"], "Even tick");
        assert_eq!(a["output_fields"]["ticker.n"], n);
        assert!(
            a["output"]
                .as_str()
                .unwrap()
                .ends_with(&format!("Warning tick {n} (tick {n}) info=tick number {n}")),
            "{a}"
        );
    }
    assert!(stderr(&o).contains("Events processed: 9 (ticker source ticker, 0 plugin errors)"));
}

#[test]
fn an_extraction_plugins_fields_work_in_a_syscall_rule_over_a_shared_capture() {
    let Some(up) = peregrine_testkit::upstream::require("plugins_cli::extraction") else {
        return;
    };
    let dir = tempdir("extract");
    let o = replay_procext(
        &up,
        &dir,
        "\"\"",
        "- required_plugin_versions:\n  - name: procext\n    version: 1.0.0\n\
         - rule: Cat opens\n  desc: an open by cat, seen through the extraction plugin\n\
         \x20 condition: evt.type in (open, openat) and procext.dir = exit and proc.name = cat\n\
         \x20 output: cat opened %fd.name dir=%procext.dir code=%procext.code tidmod=%procext.tidmod[10]\n\
         \x20 priority: NOTICE\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let got = alerts(&stdout(&o));
    let files: Vec<&str> = got
        .iter()
        .map(|a| a["output_fields"]["fd.name"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "/etc/ld.so.cache",
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/usr/lib/locale/locale-archive",
            "/dev/null"
        ]
    );
    for a in &got {
        // PPME_SYSCALL_OPEN_X is 3: the plugin read the event libscap's way.
        assert_eq!(a["output_fields"]["procext.dir"], "exit", "{a}");
        assert_eq!(a["output_fields"]["procext.code"], 3, "{a}");
        let tid = a["output_fields"]["procext.tidmod[10]"].as_u64().unwrap();
        assert!(a["output"]
            .as_str()
            .unwrap()
            .contains(&format!("dir=exit code=3 tidmod={tid}")));
    }
}

#[test]
fn list_plugins_and_plugin_info_describe_the_loaded_plugin() {
    let dir = tempdir("list");
    let cfg = config(&dir, "ticker", "\"\"", "3");
    let o = peregrine(["-c", cfg.to_str().unwrap(), "--list-plugins"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "1 Plugins Loaded:\n\n\
         Name: ticker\n\
         Description: Counts ticks: a test source plugin\n\
         Contact: peregrine tests\n\
         Version: 0.3.1\n\
         Capabilities: \n\
         \x20 - Event Sourcing (ID=999, source='ticker')\n\
         \x20 - Field Extraction\n\n"
    );
    let o = peregrine(["-c", cfg.to_str().unwrap(), "--plugin-info", "ticker"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("Name: ticker\n"), "{out}");
    assert!(out.contains("Init config schema type: JSON\n{\n"), "{out}");
    assert!(out.contains("\"fail_after\""), "{out}");
    // `--list` shows the plugin's fields under its own class, for its source.
    let o = peregrine(["-c", cfg.to_str().unwrap(), "--list", "ticker"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Field Class:                  ticker (plugin)\n"),
        "{out}"
    );
    assert!(
        out.contains("Event Sources:                ticker \n"),
        "{out}"
    );
    assert!(
        out.contains("\nticker.msg                    The tick's text"),
        "{out}"
    );
    let o = peregrine(["-c", cfg.to_str().unwrap(), "--plugin-info", "nope"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("can't find plugin and print its info: nope"));
}

#[test]
fn a_required_version_above_the_loaded_plugins_is_falcos_error() {
    let dir = tempdir("version");
    let o = run_ticker(&dir, "\"\"", "3", &TICKER_RULES.replace("0.3.0", "0.4.0"));
    assert!(!o.status.success());
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        text.contains("Plugin requirement not satisfied, must load one of: ticker (>= 0.4.0)"),
        "{text}"
    );
}

#[test]
fn a_failing_source_is_reported_by_name_after_its_alerts() {
    let dir = tempdir("fail");
    // Batches of two: 0-1, 2-3, 4-5, 6-7, then the batch from 8 fails whole.
    let o = run_ticker(&dir, "{batch: 2, fail_after: 8}", "20", TICKER_RULES);
    assert!(!o.status.success());
    // The alerts before the failure were delivered (ticks 4 and 6).
    assert_eq!(alerts(&stdout(&o)).len(), 2, "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("plugin ticker: next_batch failed:"), "{err}");
    assert!(err.contains("the ticker broke after 8 ticks"), "{err}");
}

#[test]
fn a_plugin_returning_garbage_is_reported_and_the_run_goes_on() {
    let Some(up) = peregrine_testkit::upstream::require("plugins_cli::garbage") else {
        return;
    };
    let dir = tempdir("garbage");
    let o = replay_procext(
        &up,
        &dir,
        "{garbage: true}",
        "- rule: Exit dir\n  desc: x\n  condition: evt.type in (open, openat) and procext.dir = exit\n\
         \x20 output: x %procext.dir\n  priority: NOTICE\n\
         - rule: Cat open\n  desc: y\n  condition: evt.type in (open, openat) and proc.name = cat\n\
         \x20 output: cat %fd.name\n  priority: NOTICE\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let got = alerts(&stdout(&o));
    // The garbage field never matches; the other rule still fires on every open by cat.
    assert!(got.iter().all(|a| a["rule"] == "Cat open"), "{got:?}");
    // cat_write's cat opens four files: an enter and an exit event each.
    assert_eq!(got.len(), 8);
    let err = stderr(&o);
    assert!(
        err.contains(
            "plugin procext returned garbage: field procext.dir is not valid UTF-8 (1 time(s))"
        ),
        "{err}"
    );
}

#[test]
fn a_plugin_source_runs_beside_the_live_capture() {
    if !peregrine_testkit::live("a_plugin_source_runs_beside_the_live_capture") {
        return;
    }
    let dir = tempdir("live");
    let cfg = config(&dir, "ticker", "{batch: 4}", "9");
    let rules = write(&dir, "ticker_rules.yaml", TICKER_RULES);
    // Both sources (no --enable-source): the capture runs for 3 s, the ticker beside it.
    let o = peregrine(["-c", cfg.to_str().unwrap(), "-r", &rules, "-M", "3"]);
    let (so, se) = (stdout(&o), stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.status.success(), "{se}");
    let ticks: Vec<Value> = alerts(&so)
        .into_iter()
        .filter(|a| a["source"] == "ticker")
        .collect();
    let n: Vec<&Value> = ticks
        .iter()
        .map(|a| &a["output_fields"]["ticker.n"])
        .collect();
    assert_eq!(n, [4, 6, 8], "{so}\n{se}");
    // The capture ran too: its own summary line counts kernel events.
    assert!(se.contains("kernel: "), "{se}");
    assert!(
        se.contains("Plugin source ticker: 9 events, 0 plugin errors"),
        "{se}"
    );
}
