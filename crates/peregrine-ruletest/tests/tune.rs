//! `peregrine tune` on alerts written here in Falco's JSON: what it proposes for a rule with
//! declared exceptions and for one without, what it leaves out, that the file loads after
//! the default rules, and — through `peregrine test` on inline events — that the tuned rules
//! stay silent on the benign population and still fire on the attacks.

use std::path::PathBuf;

use peregrine_rules::load::RulesInput;
use peregrine_ruletest::cli::{tune, TuneArgs};
use peregrine_ruletest::report;

fn default_rules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules/peregrine_rules.yaml")
}

fn alert(rule: &str, output: &str, fields: &[(&str, &str)]) -> String {
    let mut of = serde_json::Map::new();
    for (k, v) in fields {
        of.insert((*k).into(), serde_json::Value::String((*v).into()));
    }
    of.insert("container.name".into(), serde_json::Value::Null);
    serde_json::json!({
        "rule": rule, "priority": "Warning", "output": output, "output_fields": of,
        "source": "syscall", "time": "2026-12-08T00:00:00Z",
    })
    .to_string()
}

#[test]
fn tuned_rules_silence_the_benign_and_still_fire_on_attacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lines = Vec::new();
    for _ in 0..30 {
        lines.push(alert(
            "Credential file opened for reading",
            "backup reads shadow",
            &[
                ("proc.name", "backup-agent"),
                ("proc.pname", "systemd"),
                ("fd.name", "/etc/shadow"),
            ],
        ));
    }
    for exe in ["/app/bin/plugin", "/app/bin/plugin", "/app/bin/helper"] {
        lines.push(alert(
            "Dropped binary executed in container",
            // A process chose this text: it must not break out of its comment.
            "dropped\n- rule: injected\n",
            &[
                ("container.image.repository", "docker.io/acme/app"),
                ("proc.exepath", exe),
                ("proc.name", "plugin"),
            ],
        ));
    }
    for i in 0..25 {
        let name = format!("tool{i}");
        let image = format!("docker.io/acme/img{i}");
        lines.push(alert(
            "Package manager run in container",
            "pm",
            &[
                ("proc.name", name.as_str()),
                ("container.image.repository", image.as_str()),
            ],
        ));
    }
    lines.push("{\"not\": \"an alert\"}".to_string());
    let alerts = dir.path().join("alerts.jsonl");
    std::fs::write(&alerts, lines.join("\n")).expect("alerts");
    let tuned = dir.path().join("tuned.yaml");
    let mut summary = Vec::new();
    let t = tune(
        &TuneArgs {
            from: Some(alerts),
            store: None,
            rules: vec![RulesInput::File(default_rules())],
            output: Some(tuned.clone()),
        },
        &mut summary,
    )
    .expect("tune");
    let summary = String::from_utf8(summary).expect("utf8");
    assert!(
        summary.starts_with("58 alerts read (1 lines skipped); 2 rule(s) tuned, 1 left out"),
        "{summary}"
    );
    // Ranked by volume.
    let ranked: Vec<&str> = t.proposals.iter().map(|p| p.rule.as_str()).collect();
    assert_eq!(
        ranked,
        [
            "Credential file opened for reading",
            "Dropped binary executed in container"
        ]
    );
    assert_eq!(t.skipped[0].rule, "Package manager run in container");
    assert!(
        t.skipped[0].why.starts_with("25 distinct values"),
        "{:?}",
        t.skipped
    );

    let text = std::fs::read_to_string(&tuned).expect("tuned");
    // The rule's own exception gets values; a new one names fields and comps.
    assert!(text.contains("    - name: known_image_and_exe\n      values:\n        - [\"docker.io/acme/app\", \"/app/bin/plugin\"]  # 2 alerts\n        - [\"docker.io/acme/app\", \"/app/bin/helper\"]  # 1 alerts\n"), "{text}");
    assert!(text.contains("    - name: tuned_proc_name_proc_pname\n      fields: [proc.name, proc.pname]\n      comps: [=, =]\n      values:\n        - [\"backup-agent\", \"systemd\"]  # 30 alerts\n"), "{text}");
    assert!(!text.contains("\n- rule: injected"), "{text}");
    assert!(
        text.contains("sample: dropped\\n- rule: injected\n"),
        "{text}"
    );

    // Loads after the defaults without a problem, as `peregrine -V` checks.
    let mut loader = peregrine_rules::Loader::new();
    assert!(loader.load_file(default_rules()));
    assert!(loader.load_file(&tuned));
    let (_, results) = loader.finish();
    assert!(results.successful(), "{}", results.as_text());
    assert_eq!(results.warnings().count(), 0, "{}", results.as_text());

    let test = dir.path().join("tuned_test.yaml");
    std::fs::write(
        &test,
        format!(
            r#"
rules: ["{}", tuned.yaml]
tests:
  - name: the backup agent is silenced
    events:
      - type: openat
        proc: {{name: backup-agent, parents: [systemd]}}
        args: {{fd: 3, name: /etc/shadow, flags: O_RDONLY}}
    expect: nothing
  - name: cat reading shadow still fires
    events:
      - type: openat
        proc: {{name: cat, parents: [bash]}}
        args: {{fd: 3, name: /etc/shadow, flags: O_RDONLY}}
    expect:
      - rule: Credential file opened for reading
        count: 1
  - name: the backup agent started by a shell still fires
    events:
      - type: openat
        proc: {{name: backup-agent, parents: [bash]}}
        args: {{fd: 3, name: /etc/shadow, flags: O_RDONLY}}
    expect:
      - rule: Credential file opened for reading
  - name: the image's known plugin is silenced
    events:
      - type: execve
        proc: {{name: plugin, exepath: /app/bin/plugin, exe_upper_layer: true, container: &c {{id: 0123456789abcdef, image: "docker.io/acme/app:2"}}}}
    expect: nothing
  - name: another binary dropped into the same image still fires
    events:
      - type: execve
        proc: {{name: x, exepath: /tmp/x, exe_upper_layer: true, container: *c}}
    expect:
      - rule: Dropped binary executed in container
"#,
            default_rules().display()
        ),
    )
    .expect("test file");
    let outcome = peregrine_ruletest::run_file(&test, None).unwrap_or_else(|e| panic!("{e}"));
    let files = [outcome];
    let totals = report::totals(&files);
    assert_eq!(
        (totals.passed, totals.failed),
        (5, 0),
        "{}",
        report::text(&files)
    );
}

#[test]
fn tune_needs_exactly_one_source() {
    let err = tune(&TuneArgs::default(), &mut Vec::new()).expect_err("no source");
    assert!(
        err.to_string()
            .contains("exactly one of --from FILE and --store PATH"),
        "{err}"
    );
}

/// `--store`: every alert of a real alert store, page after page, response records left out.
#[test]
fn tune_reads_the_alert_store() {
    use peregrine_store::{AlertStore, Record, SqliteStore};
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("alerts.db");
    let store = SqliteStore::open(&db).expect("store");
    let record = |i: usize, rule: &str, source: &str| {
        let json = alert(
            rule,
            "o",
            &[
                ("proc.name", if i % 2 == 0 { "cat" } else { "less" }),
                ("proc.pname", "sh"),
            ],
        );
        Record {
            id: format!("id-{rule}-{i}"),
            time_ns: 1_700_000_000_000_000_000 + i as u64,
            rule: rule.into(),
            priority: "Warning".into(),
            severity: 4,
            source: source.into(),
            output: "o".into(),
            json,
            ..Record::default()
        }
    };
    // More than one page of the store's search (1,000).
    let batch: Vec<Record> = (0..1500)
        .map(|i| record(i, "Credential file opened for reading", "syscall"))
        .chain([record(0, "Shell history deleted", "response")])
        .collect();
    assert_eq!(store.insert(&batch).expect("insert"), 1501);
    drop(store);
    let mut summary = Vec::new();
    let t = tune(
        &TuneArgs {
            from: None,
            store: Some(db),
            rules: vec![RulesInput::File(default_rules())],
            output: Some(dir.path().join("tuned.yaml")),
        },
        &mut summary,
    )
    .expect("tune");
    assert_eq!(t.skipped, vec![]);
    assert_eq!(t.proposals.len(), 1);
    let p = &t.proposals[0];
    assert_eq!(
        (p.rule.as_str(), p.alerts),
        ("Credential file opened for reading", 1500)
    );
    assert_eq!(
        p.values,
        vec![
            (vec!["cat".to_string(), "sh".to_string()], 750),
            (vec!["less".to_string(), "sh".to_string()], 750)
        ]
    );
}

/// A field with an argument (`proc.aname[2]`) in a new exception is quoted in its flow
/// sequence, and the file loads.
#[test]
fn an_indexed_field_in_an_exception_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: R\n  desc: d\n  condition: evt.type = openat\n  output: \"%proc.name %proc.aname[2]\"\n  priority: INFO\n",
    )
    .expect("rules");
    let alerts = dir.path().join("alerts.jsonl");
    std::fs::write(
        &alerts,
        alert("R", "o", &[("proc.name", "cat"), ("proc.aname[2]", "sshd")]),
    )
    .expect("alerts");
    let out = dir.path().join("tuned.yaml");
    let t = tune(
        &TuneArgs {
            from: Some(alerts),
            store: None,
            rules: vec![RulesInput::File(rules)],
            output: Some(out.clone()),
        },
        &mut Vec::new(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        t.proposals[0].exception, "tuned_proc_name_proc_aname_2",
        "{t:?}"
    );
    let text = std::fs::read_to_string(&out).expect("tuned");
    assert!(
        text.contains("fields: [proc.name, \"proc.aname[2]\"]"),
        "{text}"
    );
}
