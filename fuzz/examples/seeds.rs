//! Writes the seed corpus (`fuzz/corpus/<target>/`): small inputs made from Peregrine's own
//! rules and records, so no upstream material is copied into the repository. Run it again
//! after a format change: `cargo run --example seeds` from `fuzz/`.
use peregrine_engine::capture_file::{metadata_from_state, ScapEncoder};
use peregrine_event::builder::RecordBuilder;
use peregrine_event::Event;
use std::path::Path;

fn put(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    std::fs::write(dir.join(name), bytes).expect("seed written");
}

fn records() -> Vec<Vec<u8>> {
    let b = |name: &str| {
        RecordBuilder::syscall(name)
            .expect("known syscall")
            .ts(1_000)
            .thread(4242, 4242)
    };
    vec![
        b("execve")
            .arg("res", 0i64)
            .and_then(|r| r.arg("exe", "/usr/bin/cat"))
            .and_then(|r| r.arg("args", &["/etc/shadow"][..]))
            .and_then(|r| r.arg("comm", "cat"))
            .and_then(|r| r.arg("cwd", "/root"))
            .expect("execve")
            .build(),
        b("openat")
            .arg("fd", 3i64)
            .and_then(|r| r.arg("dirfd", -100i64))
            .and_then(|r| r.arg("name", "/etc/shadow"))
            .and_then(|r| r.arg("flags", 1u32))
            .expect("openat")
            .build(),
        b("read")
            .arg("res", 5i64)
            .and_then(|r| r.arg("fd", 3i64))
            .expect("read")
            .build(),
        b("close")
            .arg("res", 0i64)
            .and_then(|r| r.arg("fd", 3i64))
            .expect("close")
            .build(),
    ]
}

fn main() {
    // Audit payloads of our own making: an Event, an EventList, an array, a pod with lists.
    let event = r#"{"kind":"Event","auditID":"a1","stage":"ResponseComplete","verb":"create","user":{"username":"u","groups":["g"]},"objectRef":{"resource":"pods","namespace":"ns","name":"p"},"requestURI":"/api/v1/namespaces/ns/pods/p/exec?command=sh&container=c","responseStatus":{"code":201},"stageTimestamp":"2026-01-02T03:04:05.123456Z","requestObject":{"spec":{"containers":[{"name":"c","image":"reg:5000/a/b:1","command":["sh","-c","x"],"ports":[{"containerPort":80,"hostPort":8080}],"securityContext":{"privileged":true,"capabilities":{"add":["NET_ADMIN"]}}}],"initContainers":[{"name":"i","image":"i@sha256:0"}],"volumes":[{"name":"v","hostPath":{"path":"/proc"}}],"hostNetwork":true}}}"#;
    put("k8saudit_payload", "event.json", event.as_bytes());
    put(
        "k8saudit_payload",
        "event_list.json",
        format!(r#"{{"kind":"EventList","items":[{event},{event}]}}"#).as_bytes(),
    );
    put("k8saudit_payload", "array.json", format!("[{event},[{event}]]").as_bytes());
    put(
        "k8saudit_payload",
        "role.json",
        br#"{"kind":"Event","auditID":"r","stageTimestamp":"2026-01-02T03:04:05Z","requestObject":{"rules":[{"verbs":["*"],"resources":["pods/exec"],"apiGroups":[""],"sourceIPs":["1.2.3.4"]}],"subjects":[{"kind":"ServiceAccount","name":"s","namespace":"n"},{"kind":"User","name":"u"}],"roleRef":{"name":"cluster-admin"}}}"#,
    );
    for (cond, name) in [
        (
            "evt.type = openat and fd.name startswith /etc",
            "startswith",
        ),
        (
            "proc.name in (cat, less) and not user.name = root",
            "in_list",
        ),
        (
            "(evt.type in (execve, execveat) and evt.dir = <) or fd.sip.name exists",
            "nested",
        ),
        (
            "proc.aname[2] glob '*sh' and evt.arg.flags contains O_CREAT",
            "args",
        ),
        ("fd.net = 10.0.0.0/8 and fd.rport > 1024", "net"),
        (
            "val(proc.pname) = proc.name and tolower(proc.exe) pmatch (/tmp, /dev/shm)",
            "transformers",
        ),
    ] {
        put("condition", name, cond.as_bytes());
    }

    put(
        "rules_yaml",
        "rule",
        br#"- required_engine_version: 0.31.0
- list: shells
  items: [bash, sh, zsh]
- macro: spawned
  condition: evt.type in (execve, execveat) and evt.dir = <
- rule: Shell spawned
  desc: a shell
  condition: spawned and proc.name in (shells)
  output: shell (user=%user.name cmd=%proc.cmdline)
  priority: WARNING
  tags: [shell]
  exceptions:
    - name: known
      fields: [proc.pname]
      values: [[sshd]]
- rule: Shell spawned
  append: true
  condition: and not proc.pname = cron
- rule: Shell spawned
  override:
    desc: replace
  desc: replaced
"#,
    );
    put(
        "rules_yaml",
        "anchors",
        b"- list: a\n  items: &x [1, 2]\n- list: b\n  items: *x\n- macro: m\n  condition: fd.num in (a)\n",
    );

    let records = records();
    for (i, r) in records.iter().enumerate() {
        put("kernel_record", &format!("record{i}"), r);
    }

    // A capture with a process list and the records above, as the live path writes one.
    let mut state = peregrine_state::State::new(peregrine_engine::replay::replay_state_config());
    let events: Vec<Event<'_>> = records
        .iter()
        .map(|r| Event::decode(r, 0).expect("decodes"))
        .collect();
    for e in &events {
        state.update(e);
    }
    let meta = metadata_from_state(&state, None, None);
    let mut enc = ScapEncoder::new();
    let owned: Vec<_> = events.iter().filter_map(|e| enc.to_owned(e)).collect();
    let bytes = peregrine_scap::writer::write_capture(&meta, &owned).expect("capture written");
    put("scap_replay", "exec_open_read_close.scap", &bytes);
}
