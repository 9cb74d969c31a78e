//! `peregrine test`'s behaviour on test files written here: what passes, what fails and how
//! the difference reads, the reports, and bad input reported at its file, line and column.

use std::path::{Path, PathBuf};

use peregrine_ruletest::report;
use peregrine_ruletest::{run_file, Error, Verdict};

const RULES: &str = r#"
- list: shells
  items: [bash, sh]
- rule: Shadow read
  desc: t
  condition: evt.type = openat and fd.name = /etc/shadow and not proc.name in (sshd)
  output: shadow read (proc=%proc.name parent=%proc.pname gp=%proc.aname[2] file=%fd.name user=%user.name image=%container.image.repository)
  priority: WARNING
- rule: Shell spawned by a web server
  desc: t
  condition: evt.type = execve and proc.name in (shells) and proc.pname = nginx
  output: shell (proc=%proc.name cmdline=%proc.cmdline parent=%proc.pname)
  priority: ERROR
"#;

/// Writes the rules and a test file into a fresh directory; returns the test file's path.
fn setup(test: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), RULES).expect("rules");
    let path = dir.path().join("t.yaml");
    std::fs::write(&path, test).expect("test file");
    (dir, path)
}

fn error_of(test: &str) -> (String, PathBuf) {
    let (dir, path) = setup(test);
    let err = run_file(&path, None).expect_err("the file is invalid");
    let text = err.to_string();
    drop(dir);
    (text, path)
}

fn verdicts(path: &Path) -> Vec<Verdict> {
    run_file(path, None)
        .expect("runs")
        .cases
        .into_iter()
        .map(|c| c.verdict)
        .collect()
}

#[test]
fn ancestry_container_and_user_resolve_through_the_state() {
    let (_dir, path) = setup(
        r#"
rules: [rules.yaml]
tests:
  - name: shadow read in a container
    events:
      - type: openat
        proc:
          cmdline: cat /etc/shadow
          user: alice
          parents: [sh, {name: nginx, exepath: /usr/sbin/nginx}]
          container: {id: 0123456789abcdef0123, name: web, image: "registry.local:5000/team/web:1.2"}
        args: {fd: 4, name: /etc/shadow, flags: O_RDONLY}
    expect:
      - rule: Shadow read
        count: 1
        output_fields:
          proc.name: cat
          proc.pname: sh
          proc.aname[2]: nginx
          user.name: alice
          container.image.repository: registry.local:5000/team/web
  - name: sshd reads it
    events:
      - type: openat
        proc: {name: sshd}
        args: {fd: 4, name: /etc/shadow, flags: O_RDONLY}
    expect: nothing
  - name: a shell under nginx, then its read (the same process)
    events:
      - type: execve
        proc: {cmdline: sh -c id, parents: [nginx]}
      - type: openat
        args: {fd: 3, name: /etc/shadow, flags: O_RDONLY}
    expect:
      - rule: Shell spawned by a web server
        output_fields: {proc.cmdline: sh -c id}
      - rule: Shadow read
        output_fields: {proc.pname: nginx}
"#,
    );
    assert_eq!(verdicts(&path), vec![Verdict::Pass; 3]);
}

#[test]
fn a_failure_says_what_differed_and_what_fired() {
    let (_dir, path) = setup(
        r#"
rules: [rules.yaml]
tests:
  - name: wrong expectations
    events:
      - type: openat
        proc: {cmdline: cat /etc/shadow, parents: [bash]}
        args: {fd: 3, name: /etc/shadow, flags: O_RDONLY}
    expect:
      - rule: Shadow read
        count: 2
        output_fields: {proc.pname: sshd, fd.name: /etc/shadow}
      - rule: Shell spawned by a web server
  - name: nothing was wrong
    events:
      - type: openat
        proc: {name: sshd}
        args: {fd: 3, name: /etc/shadow, flags: O_RDONLY}
    expect: nothing
  - name: expected silence
    events:
      - type: openat
        proc: {name: cat}
        args: {fd: 3, name: /etc/shadow, flags: O_RDONLY}
    expect: nothing
"#,
    );
    let outcome = run_file(&path, None).expect("runs");
    let Verdict::Fail(problems) = &outcome.cases[0].verdict else {
        panic!("{:?}", outcome.cases[0].verdict);
    };
    assert_eq!(
        problems,
        &vec![
            "rule 'Shadow read': expected 2 alert(s), got 1".to_string(),
            "rule 'Shadow read': no alert has the expected output fields; the closest differs in:"
                .to_string(),
            "    proc.pname: expected 'sshd', got 'bash'".to_string(),
            "rule 'Shell spawned by a web server': expected at least 1 alert(s), got 0".to_string(),
        ]
    );
    assert_eq!(outcome.cases[1].verdict, Verdict::Pass);
    assert_eq!(
        outcome.cases[2].verdict,
        Verdict::Fail(vec!["expected no alert, got 1".to_string()])
    );
    let files = [outcome];
    let text = report::text(&files);
    assert!(
        text.contains("FAIL  wrong expectations (") && text.contains("t.yaml:4:5)"),
        "{text}"
    );
    assert!(
        text.contains("Shadow read [Warning]: shadow read (proc=cat parent=bash"),
        "{text}"
    );
    assert!(text.ends_with("1 passed, 2 failed, 0 skipped\n"), "{text}");
    let tap = report::tap(&files);
    assert!(
        tap.starts_with("TAP version 13\n1..3\nnot ok 1 - wrong expectations\n  ---\n"),
        "{tap}"
    );
    assert!(
        tap.contains("\nok 2 - nothing was wrong\nnot ok 3 - expected silence\n"),
        "{tap}"
    );
    let junit = report::junit(&files);
    assert!(
        junit.contains(r#"<testsuites name="peregrine test" tests="3" failures="2" skipped="0">"#),
        "{junit}"
    );
    assert!(
        junit.contains(
            r#"<failure message="rule &apos;Shadow read&apos;: expected 2 alert(s), got 1">"#
        ),
        "{junit}"
    );
}

#[test]
fn report_escapes_what_processes_chose() {
    let (_dir, path) = setup(
        "rules: [rules.yaml]\ntests:\n  - name: n\n    events:\n      - type: openat\n        proc: {name: \"x\\e[2J\"}\n        args: {fd: 3, name: /etc/shadow, flags: O_RDONLY}\n    expect: nothing\n",
    );
    let outcome = run_file(&path, None).expect("runs");
    let text = report::text(std::slice::from_ref(&outcome));
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains("proc=x\\e[2J"), "{text}");
    let junit = report::junit(&[outcome]);
    assert!(!junit.contains('\u{1b}'), "{junit:?}");
}

#[test]
fn bad_input_names_file_line_and_column() {
    let head = "rules: [rules.yaml]\ntests:\n  - name: n\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "    events:\n      - type: opneat\n    expect: nothing\n",
            ":5:15: unknown event type 'opneat'",
            "event type",
        ),
        (
            "    events:\n      - type: openat\n        prc: {name: cat}\n    expect: nothing\n",
            ":6:9: unknown key 'prc'",
            "event key",
        ),
        (
            "    events:\n      - type: openat\n        args: {fd: 3, nmae: /etc/shadow}\n    expect: nothing\n",
            ":6:23: event openat has no parameter 'nmae'",
            "parameter",
        ),
        (
            "    events:\n      - type: openat\n        args: {flags: O_RDONY}\n    expect: nothing\n",
            ":6:16: unknown value 'O_RDONY' of",
            "flag",
        ),
        (
            "    events:\n      - type: openat\n    expect:\n      - rule: Shadow reed\n",
            ":7:15: no rule named 'Shadow reed'",
            "rule name",
        ),
        (
            "    events:\n      - type: openat\n    expect:\n      - rule: Shadow read\n        output_fields: {proc.nmae: x}\n",
            ":8:25: unknown field 'proc.nmae'",
            "field",
        ),
        (
            "    events:\n      - type: openat\n    expect:\n      - rule: Shadow read\n        output_fields: {proc.exe: x}\n",
            ":8:25: 'proc.exe' is not an output field of rule 'Shadow read'",
            "field not in the output",
        ),
        (
            "    events:\n      - type: openat\n    expect: everything\n",
            ":6:13: 'expect' is 'nothing' or a list",
            "expect",
        ),
        (
            "    config: [rule_matching=some]\n    events:\n      - type: openat\n    expect: nothing\n",
            ":4:14: ",
            "config override",
        ),
    ];
    for (body, want, what) in cases {
        let (text, path) = error_of(&format!("{head}{body}"));
        let want = format!("{}{want}", path.display());
        assert!(
            text.starts_with(&want),
            "{what}: {text:?} does not start with {want:?}"
        );
    }
}

#[test]
fn rules_that_do_not_load_report_their_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.yaml"),
        "- rule: R\n  desc: d\n  condition: evt.type = opne\n  output: o\n  priority: INFO\n",
    )
    .expect("rules");
    let path = dir.path().join("t.yaml");
    std::fs::write(
        &path,
        "rules: [bad.yaml]\ntests:\n  - name: n\n    events: [{type: openat}]\n    expect: nothing\n",
    )
    .expect("test");
    let err = run_file(&path, None).expect_err("rules fail");
    assert!(matches!(err, Error::Rules { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("LOAD_ERR_COMPILE_CONDITION") && text.contains("opne"),
        "{text}"
    );
}

#[test]
fn a_missing_capture_fails_the_test_not_the_run() {
    let (_dir, path) = setup(
        "rules: [rules.yaml]\ntests:\n  - name: n\n    capture: nowhere.scap\n    expect: nothing\n",
    );
    let v = verdicts(&path);
    assert!(
        matches!(&v[0], Verdict::Fail(p) if p[0].starts_with("cannot replay the capture")),
        "{v:?}"
    );
}

#[test]
fn a_command_without_a_runner_fails_and_one_that_cannot_run_skips() {
    struct NoRoot;
    impl peregrine_ruletest::CommandRunner for NoRoot {
        fn run(
            &self,
            _: &str,
            _: std::sync::Arc<peregrine_engine::Engine>,
        ) -> Result<Option<Vec<peregrine_ruletest::Observed>>, String> {
            Err("must not be called".into())
        }
        fn why_not(&self) -> Option<String> {
            Some("not root".into())
        }
    }
    let (_dir, path) = setup(
        "rules: [rules.yaml]\ntests:\n  - name: n\n    command: cat /etc/shadow\n    expect: nothing\n",
    );
    let o = run_file(&path, Some(&NoRoot)).expect("runs");
    assert_eq!(o.cases[0].verdict, Verdict::Skip("not root".into()));
    assert!(matches!(verdicts(&path)[0], Verdict::Fail(_)));
}

/// `config` overrides reach the engine as `-o` reaches the agent's: the rules selection and
/// `rule_matching`.
#[test]
fn config_overrides_select_rules_and_matching() {
    let (_dir, path) = setup(
        r#"
rules: [rules.yaml]
tests:
  - name: a disabled rule is silent
    config: ["rules[].disable.rule=Shadow read"]
    events:
      - type: openat
        proc: {name: cat}
        args: {fd: 3, name: /etc/shadow, flags: O_RDONLY}
    expect: nothing
  - name: enabled by default
    events:
      - type: openat
        proc: {name: cat}
        args: {fd: 3, name: /etc/shadow, flags: O_RDONLY}
    expect:
      - rule: Shadow read
        count: 1
"#,
    );
    assert_eq!(verdicts(&path), vec![Verdict::Pass; 2]);
}
