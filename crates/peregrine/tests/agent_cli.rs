//! Agent flags that need no kernel: `--support`, `--disable-source`.

mod common;

use common::{peregrine, stderr, stdout, upstream};
use serde_json::Value;

#[test]
fn support_reports_versions_system_config_and_rules_contents() {
    if peregrine_testkit::upstream::require(
        "support_reports_versions_system_config_and_rules_contents",
    )
    .is_none()
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("peregrine-agent-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("falco.yaml");
    std::fs::write(&config, "json_output: true\n").expect("config");
    let rules = upstream().join("falco-testing/rules/single_rule.yaml");
    let out = peregrine([
        "--support".as_ref(),
        "-c".as_ref(),
        config.as_os_str(),
        "-r".as_ref(),
        rules.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["engine_info"]["engine_version"].is_string(), "{v}");
    assert_eq!(v["system_info"]["sysname"], "Linux");
    assert!(v["system_info"]["release"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
    assert_eq!(v["config"], "json_output: true\n");
    let files = v["rules_files"].as_array().expect("rules_files");
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0]["content"].as_str(),
        std::fs::read_to_string(&rules).ok().as_deref()
    );
    assert!(v["cmdline"]
        .as_str()
        .is_some_and(|c| c.contains("--support")));
}

#[test]
fn disable_source_accepts_only_syscall_and_cannot_disable_everything() {
    // (args, exit code, stderr must contain)
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["--disable-source", "k8s_audit", "-L"],
            1,
            "unknown event source: k8s_audit",
        ),
        (&["--disable-source", "syscall", "-L"], 0, ""),
        (
            &["--disable-source", "syscall"],
            1,
            "Must enable at least one event source",
        ),
    ];
    for (args, code, err) in cases {
        let out = peregrine(*args);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(err), "{args:?}: {}", stderr(&out));
    }
}
