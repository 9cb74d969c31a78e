//! The shift-left loop on the live kernel, through the binary as a user runs it: a noisy,
//! benign job runs under `peregrine run` with the default rules (every alert to a JSON-lines
//! file), `peregrine tune` turns those alerts into exceptions, `peregrine -V` accepts the
//! tuned file beside the defaults, and `peregrine test` shows with live commands that the
//! tuned rules are silent on the job and still fire on an attack.

mod common;

use std::path::Path;

/// The benign job: a backup step reading the shadow file, a key audit searching for keys.
const JOB: &str = "for i in $(seq N); do cat /etc/shadow >/dev/null; \
                   find /nonexistent-peregrine-tune -name id_rsa 2>/dev/null; done; true";

fn ok(out: &std::process::Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn tuned_rules_from_a_noisy_run_silence_it_and_still_fire_on_an_attack() {
    if !peregrine_testkit::live(
        "tuned_rules_from_a_noisy_run_silence_it_and_still_fire_on_an_attack",
    ) {
        return;
    }
    let dir = tempfile_dir();
    let alerts = dir.join("alerts.jsonl");
    let file_output = format!("file_output.filename={}", alerts.display());
    let job = JOB.replace('N', "40");
    let out = common::peregrine([
        "-o",
        "json_output=true",
        "-o",
        "file_output.enabled=true",
        "-o",
        &file_output,
        "-o",
        "stdout_output.enabled=false",
        "-o",
        "syslog_output.enabled=false",
        "run",
        "--",
        "sh",
        "-c",
        &job,
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = std::fs::read_to_string(&alerts).expect("alerts file");
    let count = |rule: &str| {
        seen.lines()
            .filter(|l| l.contains(&format!("\"rule\":\"{rule}\"")))
            .count()
    };
    assert_eq!(count("Credential file opened for reading"), 40, "{seen}");
    assert_eq!(count("Search for credentials"), 40, "{seen}");

    let tuned = dir.join("tuned.yaml");
    let summary = ok(
        &common::peregrine(["tune", "--from", path(&alerts), "-o", path(&tuned)]),
        "tune",
    );
    assert!(summary.contains("2 rule(s) tuned"), "{summary}");
    let defaults = common::repo_root().join("rules/peregrine_rules.yaml");
    ok(
        &common::peregrine(["-V", path(&defaults), "-V", path(&tuned)]),
        "-V with the tuned file",
    );

    let test = dir.join("tuned_test.yaml");
    std::fs::write(
        &test,
        format!(
            r#"rules: ["{}", tuned.yaml]
tests:
  - name: the benign job is silent
    command: '{}'
    expect: nothing
  - name: the attack still fires
    command: 'head -c1 /etc/shadow >/dev/null; grep -r "PRIVATE KEY" /nonexistent-peregrine-tune 2>/dev/null; true'
    expect:
      - rule: Credential file opened for reading
        count: 1
        output_fields: {{proc.name: head, fd.name: /etc/shadow}}
      - rule: Search for credentials
        count: 1
        output_fields: {{proc.name: grep}}
"#,
            defaults.display(),
            JOB.replace('N', "5")
        ),
    )
    .expect("test file");
    let junit = dir.join("junit.xml");
    let report = ok(
        &common::peregrine(["test", "--junit", path(&junit), path(&test)]),
        "peregrine test",
    );
    assert!(report.contains("2 passed, 0 failed, 0 skipped"), "{report}");
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(
        xml.contains(r#"tests="2" failures="0" skipped="0""#),
        "{xml}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("peregrine-tune-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
