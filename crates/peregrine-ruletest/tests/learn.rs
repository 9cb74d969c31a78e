//! `peregrine learn`'s profile and rules without the kernel: facts gathered by its own rules
//! from inline events, directories compacted, rules that load, stay silent on what was learned
//! and fire on the rest (checked with `peregrine test`'s inline events).

use peregrine_ruletest::learn::{self, Profile, MAX_DIRS};
use peregrine_ruletest::{report, run_file, Observed};

fn seen(rule: &str, fields: &[(&str, &str)]) -> Observed {
    Observed {
        rule: rule.into(),
        priority: "Debug".into(),
        output: String::new(),
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
    }
}

#[test]
fn facts_come_from_the_learning_rules_on_real_events() {
    // The learning rules themselves, run by `peregrine test` on inline events.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("learn.yaml"), learn::LEARN_RULES).expect("rules");
    let test = dir.path().join("t.yaml");
    std::fs::write(
        &test,
        r#"
rules: [learn.yaml]
config: [rule_matching=all]
tests:
  - name: each fact
    events:
      - type: execve
        proc: {name: nginx, exepath: /usr/sbin/nginx, container: &c {id: 0123456789abcdef, image: "docker.io/library/nginx:1.25"}}
      - type: openat
        args: {fd: 5, name: /var/log/nginx/access.log, flags: O_WRONLY|O_APPEND}
      - type: listen
        fd: {num: 6, type: ipv4, server: "0.0.0.0:80", role: server}
        args: {res: 0, fd: 6, backlog: 511}
      - type: connect
        fd: {num: 7, type: ipv4}
        args: {res: 0, fd: 7, tuple: "172.17.0.2:40000->10.0.0.9:5432"}
    expect:
      - rule: learn executable
        output_fields: {container.image.repository: docker.io/library/nginx, proc.exepath: /usr/sbin/nginx}
      - rule: learn file written
        output_fields: {fd.name: /var/log/nginx/access.log}
      - rule: learn listening port
        output_fields: {fd.sport: "80"}
      - rule: learn outbound connection
        output_fields: {fd.sip: 10.0.0.9, fd.sport: "5432"}
"#,
    )
    .expect("test");
    let o = run_file(&test, None).unwrap_or_else(|e| panic!("{e}"));
    let files = [o];
    assert_eq!(report::totals(&files).failed, 0, "{}", report::text(&files));
}

#[test]
fn learned_rules_load_and_alert_only_on_deviation() {
    let img = "docker.io/library/nginx";
    let mut p = Profile::default();
    for o in [
        seen(
            "learn executable",
            &[
                ("container.image.repository", img),
                ("proc.exepath", "/usr/sbin/nginx"),
            ],
        ),
        seen(
            "learn file written",
            &[
                ("container.image.repository", img),
                ("fd.name", "/var/log/nginx/access.log"),
            ],
        ),
        seen(
            "learn file written",
            &[
                ("container.image.repository", img),
                ("fd.name", "/dev/null"),
            ],
        ),
        seen(
            "learn listening port",
            &[("container.image.repository", img), ("fd.sport", "80")],
        ),
        seen(
            "learn outbound connection",
            &[("container.image.repository", img), ("fd.sip", "10.0.0.9")],
        ),
        seen(
            "learn executable",
            &[
                ("container.image.repository", "<NA>"),
                ("proc.exepath", "/usr/bin/cat"),
            ],
        ),
        seen("learn executable", &[("proc.exepath", "/tmp/has space")]),
    ] {
        p.observe(&o);
    }
    assert_eq!(p.scopes.len(), 2);
    let host = &p.scopes[learn::HOST];
    assert_eq!(
        host.executables.iter().collect::<Vec<_>>(),
        ["/usr/bin/cat"]
    );
    assert_eq!(host.unusable, 1);
    let web = &p.scopes[img];
    assert_eq!(
        web.write_dirs.iter().collect::<Vec<_>>(),
        ["/dev/null", "/var/log/nginx/"]
    );

    // The profile writes the same four lists as the rules, under its own keys.
    let profile = learn::render_profile(&p, "a test");
    assert!(
        profile.contains(
            "\"docker.io/library/nginx\":\n  executables:\n    - \"/usr/sbin/nginx\"\n  \
             files_written_below:\n    - \"/dev/null\"\n    - \"/var/log/nginx/\"\n  \
             outbound_destinations:\n    - \"10.0.0.9\"\n  listening_ports:\n    - 80\n\
             \"host\":\n  executables:\n    - \"/usr/bin/cat\"\n"
        ),
        "{profile}"
    );
    assert!(profile.ends_with("  values_left_out: 1\n"), "{profile}");

    let rules = learn::render_rules(&p, "a test");
    learn::check_rules(&rules).expect("loads");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("learned.yaml"), &rules).expect("rules");
    let test = dir.path().join("t.yaml");
    std::fs::write(
        &test,
        r#"
rules: [learned.yaml]
tests:
  - name: what nginx did is silent
    events:
      - type: execve
        proc: {name: nginx, exepath: /usr/sbin/nginx, container: &c {id: 0123456789abcdef, image: "docker.io/library/nginx:1.25"}}
      - type: openat
        args: {fd: 5, name: /var/log/nginx/error.log, flags: O_WRONLY|O_APPEND}
      - type: openat
        args: {fd: 6, name: /dev/null, flags: O_WRONLY}
    expect: nothing
  - name: a shell, a write to /dev/shm and a new destination in nginx fire
    events:
      - type: execve
        proc: {name: sh, exepath: /usr/bin/dash, container: *c}
      - type: openat
        args: {fd: 5, name: /dev/shm/x, flags: O_WRONLY|O_CREAT}
      - type: connect
        fd: {num: 7, type: ipv4}
        args: {res: 0, fd: 7, tuple: "172.17.0.2:40000->203.0.113.7:4444"}
    expect:
      - rule: Unexpected executable (image docker.io/library/nginx, learned)
        output_fields: {proc.exepath: /usr/bin/dash}
      - rule: Unexpected file written (image docker.io/library/nginx, learned)
        output_fields: {fd.name: /dev/shm/x}
      - rule: Unexpected outbound connection (image docker.io/library/nginx, learned)
        count: 1
  - name: the host's rules do not look at containers
    events:
      - type: execve
        proc: {name: head, container: *c}
    expect:
      - rule: Unexpected executable (host, learned)
        fires: false
  - name: the host's rules fire on the host
    events:
      - type: execve
        proc: {name: head, exepath: /usr/bin/head}
    expect:
      - rule: Unexpected executable (host, learned)
        count: 1
"#,
    )
    .expect("test");
    let o = run_file(&test, None).unwrap_or_else(|e| panic!("{e}"));
    let files = [o];
    let t = report::totals(&files);
    assert_eq!((t.passed, t.failed), (4, 0), "{}", report::text(&files));
}

#[test]
fn many_directories_are_cut_back_to_their_parents() {
    let mut p = Profile::default();
    for i in 0..200 {
        p.observe(&seen(
            "learn file written",
            &[("fd.name", &format!("/work/build/target/deps/d{i}/out.o"))],
        ));
    }
    p.observe(&seen(
        "learn file written",
        &[("fd.name", "/var/log/app.log")],
    ));
    p.compact();
    let dirs: Vec<&String> = p.scopes[learn::HOST].write_dirs.iter().collect();
    assert!(dirs.len() <= MAX_DIRS, "{dirs:?}");
    assert_eq!(dirs, ["/var/log/", "/work/build/target/deps/"]);
}
