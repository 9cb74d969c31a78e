//! Rules through the binary: the embedded defaults, `-V` (text and JSON), `-L`, `-l`, selection
//! by `-o rules[]…` and priority, and Falco's own rules files.

mod common;

use common::{peregrine, repo_root, stderr, stdout, upstream};
use serde_json::Value;
use std::path::PathBuf;

fn default_rules() -> String {
    repo_root()
        .join("rules/peregrine_rules.yaml")
        .display()
        .to_string()
}

fn falco_rules() -> String {
    upstream()
        .join("rules/falco_rules.yaml")
        .display()
        .to_string()
}

/// A rules file written for one test, removed when dropped.
struct TempRules(PathBuf);

impl TempRules {
    fn new(tag: &str, text: &str) -> TempRules {
        let p = std::env::temp_dir().join(format!("peregrine-{tag}-{}.yaml", std::process::id()));
        std::fs::write(&p, text).expect("write temp rules");
        TempRules(p)
    }

    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempRules {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const BAD_RULES: &str =
    "- rule: broken\n  desc: d\n  condition: evt.type = open and\n  output: o\n  priority: INFO\n";

/// Runs `-V` with JSON output and returns (exit code, the parsed results).
fn validate_json(files: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["-o", "json_output=true"];
    for f in files {
        args.extend(["-V", f]);
    }
    let out = peregrine(&args);
    let json = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("-V JSON is not JSON ({e}): {}", stdout(&out)));
    (out.status.code(), json)
}

#[test]
fn default_rules_load_with_no_error_or_warning() {
    let (code, json) = validate_json(&[&default_rules()]);
    let result = &json["falco_load_results"][0];
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(result["successful"], Value::Bool(true), "{json:#}");
    assert_eq!(
        result["errors"].as_array().map(Vec::len),
        Some(0),
        "{json:#}"
    );
    assert_eq!(
        result["warnings"].as_array().map(Vec::len),
        Some(0),
        "{json:#}"
    );
}

#[test]
fn running_without_flags_summarises_the_embedded_rules() {
    let out = peregrine(["--dry-run"]);
    let so = stdout(&out);
    assert!(out.status.success(), "{so}{}", stderr(&out));
    // The embedded copy loads without a single warning.
    assert_eq!(stderr(&out), "");
    assert!(so.contains("Rules loaded: 31 (31 enabled"), "{so}");
    assert!(so.contains("Critical:      10"), "{so}");

    // Selections and the minimum priority change what is enabled, not what is loaded.
    let out = peregrine([
        "--dry-run",
        "-o",
        "rules[].disable.tag=container",
        "-o",
        "rules[].enable.rule=Kernel module*",
        "-o",
        "priority=warning",
    ]);
    let so = stdout(&out);
    assert!(
        so.contains("Rules loaded: 31 (1 enabled"),
        "{so}{}",
        stderr(&out)
    );
}

#[test]
fn validate_text_reports_each_file() {
    let bad = TempRules::new("bad-text", BAD_RULES);
    let good = default_rules();
    let out = peregrine(["-V", &good]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("{good}: Ok")),
        "{}",
        stdout(&out)
    );

    let out = peregrine(["-V", &good, "-V", &bad.path()]);
    assert_eq!(out.status.code(), Some(1));
    let all = stdout(&out) + &stderr(&out);
    assert!(all.contains(&format!("{}: Invalid", bad.path())), "{all}");
    assert!(all.contains("LOAD_ERR_COMPILE_CONDITION"), "{all}");
}

#[test]
fn validate_json_matches_falcos_shape() {
    let bad = TempRules::new("bad-json", BAD_RULES);
    let (code, json) = validate_json(&[&default_rules(), &bad.path()]);
    assert_eq!(code, Some(1), "{json:#}");
    let results = json["falco_load_results"].as_array().expect("results list");
    assert_eq!(results.len(), 2, "{json:#}");
    assert_eq!(results[0]["successful"], Value::Bool(true));
    assert_eq!(results[1]["successful"], Value::Bool(false));
    assert_eq!(results[1]["name"], Value::String(bad.path()));
    let error = &results[1]["errors"][0];
    assert_eq!(error["code"], "LOAD_ERR_COMPILE_CONDITION", "{json:#}");
    // Falco nests locations: the file ("rules content"), then the rule, then its condition.
    let locations = error["context"]["locations"].as_array().expect("locations");
    assert_eq!(locations[0]["item_type"], "rules content", "{json:#}");
    assert!(
        locations
            .iter()
            .any(|l| l["item_type"] == "rule" && l["item_name"] == "broken"),
        "{json:#}"
    );
}

#[test]
fn list_rules_prints_names_and_descriptions() {
    if peregrine_testkit::upstream::require("list_rules_prints_names_and_descriptions").is_none() {
        return;
    }
    let out = peregrine(["-L"]);
    let so = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut lines = so.lines();
    assert!(lines
        .next()
        .is_some_and(|l| l.starts_with("Rule ") && l.ends_with("Description")));
    for name in [
        "Interactive shell in container",
        "Log file truncated",
        "Kernel module loaded",
    ] {
        assert!(
            so.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{so}"
        );
    }
    // Descriptions wrap; compare them with the line breaks taken out.
    let flat = so.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("Rootkits arrive as kernel modules; on most hosts"),
        "{so}"
    );

    let out = peregrine(["-r", &falco_rules(), "-L"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Read sensitive file untrusted"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn describe_rule_prints_json_with_the_compiled_condition() {
    let out = peregrine(["-l", "Kernel module loaded"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).expect("-l prints JSON");
    let text = json.to_string();
    assert!(text.contains("Kernel module loaded"), "{json:#}");
    assert!(text.contains("init_module"), "{json:#}");

    let out = peregrine(["-l", "No such rule"]);
    assert!(!out.status.success(), "{}", stdout(&out));
}

#[test]
fn falcos_rules_files_validate() {
    if peregrine_testkit::upstream::require("falcos_rules_files_validate").is_none() {
        return;
    }
    for file in [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ] {
        let path = upstream().join("rules").join(file).display().to_string();
        let (code, json) = validate_json(&[&path]);
        assert_eq!(code, Some(0), "{file}: {json:#}");
        assert_eq!(
            json["falco_load_results"][0]["successful"],
            Value::Bool(true),
            "{file}"
        );
    }
}

#[test]
fn an_unreadable_file_is_a_load_error_in_the_results() {
    let (code, json) = validate_json(&["/does/not/exist.yaml"]);
    assert_eq!(code, Some(1), "{json:#}");
    let result = &json["falco_load_results"][0];
    assert_eq!(result["name"], "/does/not/exist.yaml", "{json:#}");
    assert_eq!(
        result["errors"][0]["code"], "LOAD_ERR_FILE_READ",
        "{json:#}"
    );
}

#[test]
fn a_falco_yaml_selects_rules_files_and_rules() {
    let config = TempRules::new(
        "config",
        &format!(
            "rules_files:\n  - {}\nrules:\n  - disable:\n      tag: filesystem\npriority: error\nwebserver:\n  enabled: false\n",
            default_rules()
        ),
    );
    let out = peregrine(["-c", &config.path(), "--dry-run"]);
    let so = stdout(&out);
    assert!(out.status.success(), "{so}{}", stderr(&out));
    assert!(so.contains(&format!("   {}", default_rules())), "{so}");
    // Critical (10) and Error (4) rules pass the threshold; the three of them tagged
    // filesystem are disabled.
    assert!(
        so.contains("Rules loaded: 31 (11 enabled, minimum priority Error)"),
        "{so}"
    );

    // -o edits the same tree after the file: the override wins.
    let out = peregrine(["-c", &config.path(), "-o", "priority=debug", "--dry-run"]);
    assert!(
        stdout(&out).contains("(22 enabled, minimum priority Debug)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn validate_text_shows_warning_details_only_with_v() {
    let rules = TempRules::new(
        "warn",
        "- macro: never_used\n  condition: proc.name = x\n- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n",
    );
    let out = peregrine(["-V", &rules.path()]);
    let so = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{so}{}", stderr(&out));
    assert!(
        so.starts_with(&format!("{}: Ok, with warnings", rules.path())),
        "{so}"
    );
    assert!(so.contains("LOAD_UNUSED_MACRO"), "{so}");
    assert!(
        !so.contains("Macro not referred to"),
        "details need -v: {so}"
    );

    let so = stdout(&peregrine(["-v", "-V", &rules.path()]));
    assert!(
        so.contains("Macro not referred to by any other rule/macro"),
        "{so}"
    );
}
