//! `peregrine learn` on the live kernel, through the binary: a job is watched, its profile
//! lists what it did, the generated rules load with `-V`, and `peregrine test` with live
//! commands shows them silent on the same job and firing on a deviation from it.

mod common;

use std::path::Path;

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

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn learned_rules_are_silent_on_the_job_and_fire_on_a_deviation() {
    if !peregrine_testkit::live("learned_rules_are_silent_on_the_job_and_fire_on_a_deviation") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("peregrine-learn-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("out")).expect("out dir");
    std::fs::create_dir_all(dir.join("elsewhere")).expect("other dir");
    let job = format!(
        "cat /etc/hostname >/dev/null; echo x > {}/out/a.txt",
        dir.display()
    );
    let rules = dir.join("learned.yaml");
    let profile = dir.join("profile.yaml");
    let summary = ok(
        &common::peregrine([
            "learn",
            "--profile",
            path(&profile),
            "-o",
            path(&rules),
            "--",
            "sh",
            "-c",
            &job,
        ]),
        "learn",
    );
    assert!(summary.contains("executables"), "{summary}");
    let text = std::fs::read_to_string(&profile).expect("profile");
    assert!(text.contains("\"/usr/bin/cat\""), "{text}");
    assert!(
        text.contains(&format!("\"{}/out/\"", dir.display())),
        "{text}"
    );
    assert!(text.contains("\"/dev/null\""), "{text}");
    ok(&common::peregrine(["-V", path(&rules)]), "-V learned rules");

    let test = dir.join("learned_test.yaml");
    std::fs::write(
        &test,
        format!(
            r#"rules: [learned.yaml]
tests:
  - name: the learned job is silent
    command: '{job}'
    expect: nothing
  - name: a new program and a new directory fire
    command: '{job}; head -c1 /etc/hostname >/dev/null; echo y > {}/elsewhere/b.txt'
    expect:
      - rule: Unexpected executable (host, learned)
        count: 1
        output_fields: {{proc.exepath: /usr/bin/head}}
      - rule: Unexpected file written (host, learned)
        count: 1
        output_fields: {{fd.name: {}/elsewhere/b.txt}}
"#,
            dir.display(),
            dir.display()
        ),
    )
    .expect("test file");
    let report = ok(&common::peregrine(["test", path(&test)]), "peregrine test");
    assert!(report.contains("2 passed, 0 failed, 0 skipped"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}
