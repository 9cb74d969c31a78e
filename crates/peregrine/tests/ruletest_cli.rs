//! `peregrine test` and `peregrine tune` through the binary: exit statuses, the reports, and
//! bad input reported with its position.

mod common;

#[test]
fn the_default_rules_tests_pass_through_the_binary() {
    let rules_tests = common::repo_root().join("rules/tests");
    let out = common::peregrine([std::ffi::OsStr::new("test"), rules_tests.as_os_str()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(" passed, 0 failed, 0 skipped"), "{stdout}");
    let tap = common::peregrine([
        std::ffi::OsStr::new("test"),
        std::ffi::OsStr::new("--tap"),
        rules_tests.as_os_str(),
    ]);
    let tap = String::from_utf8_lossy(&tap.stdout);
    assert!(tap.starts_with("TAP version 13\n1.."), "{tap}");
    assert!(!tap.contains("not ok"), "{tap}");
}

#[test]
fn failures_and_invalid_files_exit_1_with_what_and_where() {
    let dir = std::env::temp_dir().join(format!("peregrine-ruletest-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let rules = common::repo_root().join("rules/peregrine_rules.yaml");
    let failing = dir.join("failing.yaml");
    std::fs::write(
        &failing,
        format!(
            "rules: [\"{}\"]\ntests:\n  - name: expects the wrong rule\n    events:\n      - type: openat\n        proc: {{name: cat}}\n        args: {{name: /etc/shadow, flags: O_RDONLY}}\n    expect:\n      - rule: Log file truncated\n",
            rules.display()
        ),
    )
    .expect("failing");
    let out = common::peregrine(["test", failing.to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  expects the wrong rule"), "{stdout}");
    assert!(
        stdout.contains("rule 'Log file truncated': expected at least 1 alert(s), got 0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Credential file opened for reading [Warning]"),
        "{stdout}"
    );

    let invalid = dir.join("invalid.yaml");
    std::fs::write(
        &invalid,
        format!(
            "rules: [\"{}\"]\ntests:\n  - name: n\n    events:\n      - type: opnat\n    expect: nothing\n",
            rules.display()
        ),
    )
    .expect("invalid");
    let out = common::peregrine(["test", invalid.to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "error: {}:5:15: unknown event type 'opnat'",
            invalid.display()
        )),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tune_needs_a_source() {
    let out = common::peregrine(["tune", "-o", "/dev/null"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--from <FILE>"), "{stderr}");
}
