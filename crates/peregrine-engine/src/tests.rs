use super::*;
use peregrine_event::builder::RecordBuilder;
use peregrine_rules::Loader;

const RULES: &str = "
- rule: Read shadow
  desc: t
  condition: evt.type = openat and fd.name = /etc/shadow
  output: shadow opened by %proc.name (fd=%fd.num file=%fd.name)
  priority: WARNING
  tags: [filesystem]
- rule: Any openat
  desc: t
  condition: evt.type = openat
  output: open %fd.name
  priority: INFO
";

fn engine(text: &str, matching: Matching) -> Engine {
    let mut l = Loader::new();
    l.load_str("rules.yaml", text);
    let (rules, res) = l.finish();
    assert!(res.successful(), "{}", res.as_text());
    Engine::new(
        rules,
        Settings {
            matching,
            latency_sample: 1,
        },
    )
}

fn openat(ts: u64, tid: u32, fd: i64, name: &str) -> Vec<u8> {
    RecordBuilder::syscall("openat")
        .and_then(|b| b.ts(ts).thread(tid, tid).arg("fd", fd))
        .and_then(|b| b.arg("dirfd", -100i64))
        .and_then(|b| b.arg("name", name))
        .and_then(|b| b.arg("flags", 0u64))
        .expect("openat record")
        .build()
}

fn no_proc() -> StateConfig {
    StateConfig {
        proc_root: None,
        ..StateConfig::default()
    }
}

/// (time, rule, output, output_fields) of one alert.
type Seen = (u64, String, String, Vec<(String, OutputValue)>);

#[derive(Default)]
struct Collect(Vec<Seen>);

impl AlertSink for Collect {
    fn alert(&mut self, m: &Match<'_>) {
        self.0.push((
            m.time_ns,
            m.rule.name.clone(),
            m.output.to_string(),
            m.output_fields.to_vec(),
        ));
    }
}

/// Runs `records` through a pipeline; returns (rule, output) of every alert.
fn check(matching: Matching, records: &[Vec<u8>], expected: &[(&str, &str)]) {
    let mut p = Pipeline::new(Arc::new(engine(RULES, matching)), no_proc());
    let mut sink = Collect::default();
    for r in records {
        p.process_record(r, 0, &mut sink);
    }
    let got: Vec<(&str, &str)> = sink
        .0
        .iter()
        .map(|(_, r, o, _)| (r.as_str(), o.as_str()))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn first_and_all_matching() {
    let recs = [openat(1, 7, 3, "/etc/shadow"), openat(2, 7, 4, "/tmp/x")];
    check(
        Matching::First,
        &recs,
        &[
            ("Read shadow", "shadow opened by  (fd=3 file=/etc/shadow)"),
            ("Any openat", "open /tmp/x"),
        ],
    );
    check(
        Matching::All,
        &recs,
        &[
            ("Read shadow", "shadow opened by  (fd=3 file=/etc/shadow)"),
            ("Any openat", "open /etc/shadow"),
            ("Any openat", "open /tmp/x"),
        ],
    );
}

#[test]
fn alert_carries_event_time_and_typed_fields() {
    let mut p = Pipeline::new(Arc::new(engine(RULES, Matching::First)), no_proc());
    let mut sink = Collect::default();
    p.process_record(
        &openat(1_700_000_000_123, 7, 3, "/etc/shadow"),
        0,
        &mut sink,
    );
    let (time, _, _, fields) = &sink.0[0];
    assert_eq!(*time, 1_700_000_000_123);
    assert_eq!(
        fields,
        &vec![
            ("proc.name".to_string(), OutputValue::Str(String::new())),
            ("fd.num".to_string(), OutputValue::Int(3)),
            (
                "fd.name".to_string(),
                OutputValue::Str("/etc/shadow".to_string())
            ),
        ]
    );
    assert_eq!(p.stats().events, 1);
    assert_eq!(p.stats().matches(), 1);
    assert_eq!(p.rule_counts(), vec![("Read shadow", 1)]);
    assert_eq!(p.stats().latency.samples(), 1);
}

#[test]
fn undecodable_record_is_counted() {
    let mut p = Pipeline::new(Arc::new(engine(RULES, Matching::First)), no_proc());
    let mut rec = openat(1, 7, 3, "/etc/shadow");
    rec.truncate(20);
    p.process_record(&rec, 0, &mut CountingSink::default());
    assert_eq!((p.stats().events, p.stats().decode_errors), (0, 1));
}

#[test]
fn events_of_types_without_rules_are_not_evaluated() {
    let mut p = Pipeline::new(Arc::new(engine(RULES, Matching::First)), no_proc());
    let close = RecordBuilder::syscall("close")
        .and_then(|b| b.thread(7, 7).arg("res", 0i64))
        .expect("close")
        .build();
    p.process_record(&close, 0, &mut CountingSink::default());
    assert_eq!((p.stats().events, p.stats().evaluated), (1, 0));
}

#[test]
fn reload_swaps_rules_between_events_and_keeps_state() {
    let handle = EngineHandle::new(engine(RULES, Matching::First));
    let mut p = Pipeline::with_handle(handle.clone(), no_proc());
    let mut sink = CountingSink::default();
    p.process_record(&openat(1, 7, 3, "/etc/shadow"), 0, &mut sink);
    handle.swap(engine(
        "- rule: Other\n  desc: t\n  condition: evt.type = close and fd.name = /etc/shadow\n  output: closed %fd.name\n  priority: ERROR\n",
        Matching::First,
    ));
    // The fd opened under the old engine is still known to the new one.
    let close = RecordBuilder::syscall("close")
        .and_then(|b| b.ts(2).thread(7, 7).arg("res", 0i64))
        .and_then(|b| b.arg("fd", 3i64))
        .expect("close")
        .build();
    p.process_record(&close, 0, &mut sink);
    p.process_record(&openat(3, 7, 3, "/etc/shadow"), 0, &mut sink);
    assert_eq!(
        sink.counts.into_iter().collect::<Vec<_>>(),
        vec![("Other".to_string(), 1), ("Read shadow".to_string(), 1)]
    );
    assert_eq!(p.stats().reloads, 1);
    assert_eq!(p.stats().events, 3);
}

/// A reload used to zero every rule's count (after thousands of alerts the summary said
/// `Events detected: 0`): counts follow their rule by name, and a removed rule's stay.
#[test]
fn reloads_keep_the_match_counts() {
    let other = "- rule: Other\n  desc: t\n  condition: evt.type = close and fd.name = /etc/shadow\n  output: closed %fd.name\n  priority: ERROR\n";
    let handle = EngineHandle::new(engine(RULES, Matching::First));
    let mut p = Pipeline::with_handle(handle.clone(), no_proc());
    let mut sink = CountingSink::default();
    p.process_record(&openat(1, 7, 3, "/etc/shadow"), 0, &mut sink);
    p.process_record(&openat(2, 7, 4, "/etc/shadow"), 0, &mut sink);
    // The same rules plus one: "Read shadow" keeps its two matches under a new index.
    handle.swap(engine(&format!("{other}{RULES}"), Matching::First));
    p.process_record(&openat(3, 7, 5, "/etc/shadow"), 0, &mut sink);
    assert_eq!(p.stats().matches(), 3);
    assert_eq!(p.rule_counts(), vec![("Read shadow", 3)]);
    // "Read shadow" removed: its count is kept apart, and comes back if the rule does.
    handle.swap(engine(other, Matching::First));
    p.process_record(&openat(4, 7, 6, "/etc/passwd"), 0, &mut sink);
    assert_eq!(p.stats().matches(), 3);
    assert_eq!(p.rule_counts(), vec![("Read shadow", 3)]);
    handle.swap(engine(RULES, Matching::First));
    p.process_record(&openat(5, 7, 7, "/etc/shadow"), 0, &mut sink);
    assert_eq!(p.rule_counts(), vec![("Read shadow", 4)]);
    assert!(p.stats().retired_matches.is_empty());
}

/// The engine of [`RULES`] with `append` compiled in.
fn engine_with(append: &[extra::AppendOutput]) -> Result<Engine, extra::ExtraOutputError> {
    let mut l = Loader::new();
    l.load_str("rules.yaml", RULES);
    let (rules, res) = l.finish();
    assert!(res.successful(), "{}", res.as_text());
    Engine::with_append_output(rules, Settings::default(), append)
}

#[test]
fn append_output_follows_match_conditions_in_order() {
    use extra::{AppendOutput, ExtraField};
    let entry =
        |source: Option<&str>, tags: &[&str], rule: Option<&str>, text: &str| AppendOutput {
            source: source.map(str::to_string),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            rule: rule.map(str::to_string),
            extra_output: Some(text.to_string()),
            suggested_output: false,
            extra_fields: Vec::new(),
        };
    let fields = AppendOutput {
        extra_fields: vec![
            ExtraField::Field("fd.num".into()),
            ExtraField::Formatted {
                key: "site".into(),
                format: "eu-1".into(),
            },
            ExtraField::Formatted {
                key: "who".into(),
                format: "%fd.name@%proc.name".into(),
            },
        ],
        ..entry(None, &["filesystem"], None, "")
    };
    let append = [
        entry(Some("syscall"), &[], None, "A=%fd.num"),
        entry(Some("k8s_audit"), &[], None, "never"),
        entry(None, &["filesystem"], None, "B"),
        entry(None, &["filesystem", "other"], None, "never"),
        entry(None, &[], Some("Any openat"), "C=%evt.type"),
        fields,
    ];
    let engine = engine_with(&append).expect("compiles");
    let mut p = Pipeline::new(Arc::new(engine), no_proc());
    // (rule, output, output_fields keys, extra fields)
    let mut seen = Vec::new();
    let mut sink = |m: &Match<'_>| {
        seen.push((
            m.rule.name.clone(),
            m.output.to_string(),
            m.output_fields
                .iter()
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>(),
            m.extra_fields.to_vec(),
        ))
    };
    p.process_record(&openat(1, 7, 3, "/etc/shadow"), 0, &mut sink);
    p.process_record(&openat(2, 7, 4, "/tmp/x"), 0, &mut sink);
    let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        seen,
        vec![
            (
                "Read shadow".to_string(),
                "shadow opened by  (fd=3 file=/etc/shadow) A=3 B".to_string(),
                keys(&["proc.name", "fd.num", "fd.name"]),
                vec![
                    ("fd.num".to_string(), OutputValue::Int(3)),
                    ("site".to_string(), OutputValue::Str("eu-1".into())),
                    ("who".to_string(), OutputValue::Str("/etc/shadow@".into())),
                ],
            ),
            (
                "Any openat".to_string(),
                "open /tmp/x A=4 C=openat".to_string(),
                keys(&["fd.name", "fd.num", "evt.type"]),
                Vec::new(),
            ),
        ]
    );
}

/// Falco 0.44's stock `append_output: [suggested_output: true]`: the container plugin's six
/// suggested fields, `a_b=%a.b` in the plugin's order, after the entry's own extra output.
#[test]
fn suggested_output_appends_container_fields() {
    let append = [extra::AppendOutput {
        rule: Some("Any openat".into()),
        extra_output: Some("X".into()),
        suggested_output: true,
        ..extra::AppendOutput::default()
    }];
    let engine = engine_with(&append).expect("compiles");
    let mut p = Pipeline::new(Arc::new(engine), no_proc());
    let mut seen = Vec::new();
    let mut sink = |m: &Match<'_>| {
        let keys: Vec<String> = m.output_fields.iter().map(|(k, _)| k.clone()).collect();
        seen.push((m.output.to_string(), keys))
    };
    p.process_record(&openat(2, 7, 4, "/tmp/x"), 0, &mut sink);
    let suggested = [
        "container.id",
        "container.name",
        "container.image.repository",
        "container.image.tag",
        "k8s.pod.name",
        "k8s.ns.name",
    ];
    let mut keys = vec!["fd.name".to_string()];
    keys.extend(suggested.iter().map(|s| s.to_string()));
    assert_eq!(
        seen,
        vec![(
            "open /tmp/x X container_id=host container_name=host container_image_repository= \
             container_image_tag= k8s_pod_name=<NA> k8s_ns_name=<NA>"
                .to_string(),
            keys
        )]
    );
}

#[test]
fn append_output_errors_name_rule_and_format() {
    use extra::{AppendOutput, ExtraField};
    for (entry, rule, bad) in [
        (
            AppendOutput {
                extra_output: Some("x=%proc.nope".into()),
                ..AppendOutput::default()
            },
            "Read shadow",
            "%proc.nope",
        ),
        (
            AppendOutput {
                rule: Some("Any openat".into()),
                extra_fields: vec![ExtraField::Field("no.such".into())],
                ..AppendOutput::default()
            },
            "Any openat",
            "no.such",
        ),
    ] {
        let err = engine_with(&[entry]).expect_err("invalid field");
        assert_eq!(err.rule, rule);
        let text = err.to_string();
        assert!(
            text.contains(bad) && text.contains("invalid formatting token"),
            "{text}"
        );
    }
}

/// The tap hands over only the events its filter matches, with their fields, up to the
/// limit; without a watcher the flag is down; a dropped subscription stops it.
#[test]
fn tap_samples_matching_events_up_to_the_limit() {
    let e = Arc::new(engine(RULES, Matching::All));
    let mut p = Pipeline::new(e.clone(), no_proc());
    let tap = Arc::new(tap::Tap::new());
    p.set_tap(tap.clone());
    assert!(!tap.watching());
    let filter = e
        .rules()
        .compile_filter("fd.name = /tmp/marker")
        .expect("compiles");
    let sub = tap.watch(filter, 2).expect("room");
    assert!(tap.watching());
    let mut sink = Collect::default();
    for (i, name) in ["/etc/passwd", "/tmp/marker", "/tmp/marker", "/tmp/marker"]
        .iter()
        .enumerate()
    {
        let rec = openat(1_000 + i as u64, 7, 3 + i as i64, name);
        p.process_record(&rec, 0, &mut sink);
    }
    let got: Vec<tap::SampledEvent> = sub.events.try_iter().collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].ts, 1_001);
    assert_eq!(got[0].event_type, "openat");
    assert_eq!(got[0].dir, "<");
    let field = |name: &str| {
        got[0]
            .fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        field("fd.name"),
        Some(OutputValue::Str("/tmp/marker".into()))
    );
    assert_eq!(field("evt.res"), Some(OutputValue::Str("SUCCESS".into())));
    use std::sync::atomic::Ordering::Relaxed;
    // The limit reached, the flag is down: the fourth event was not examined.
    assert_eq!(sub.counts.examined.load(Relaxed), 3);
    assert_eq!(sub.counts.matched.load(Relaxed), 2);
    assert!(!tap.watching());
    // Detection went on regardless: every open matched "Any openat".
    assert_eq!(sink.0.iter().filter(|s| s.1 == "Any openat").count(), 4);
    drop(sub);
    assert!(!tap.watching());
}

/// A client that does not read never blocks the loop: a full channel skips events.
#[test]
fn tap_skips_what_a_slow_client_cannot_take() {
    let e = Arc::new(engine(RULES, Matching::All));
    let tap = Arc::new(tap::Tap::new());
    let mut p = Pipeline::new(e.clone(), no_proc());
    p.set_tap(tap.clone());
    let filter = e.rules().compile_filter("evt.type = openat").expect("ok");
    let sub = tap.watch(filter, 1).expect("room");
    let mut busy = Vec::new();
    for _ in 0..tap::MAX_WATCHERS - 1 {
        let f = e.rules().compile_filter("evt.type = openat").expect("ok");
        busy.push(tap.watch(f, 1).expect("room"));
    }
    let f = e.rules().compile_filter("evt.type = openat").expect("ok");
    assert!(tap.watch(f, 1).is_err(), "more than MAX_WATCHERS");
    drop(busy);
    let mut sink = CountingSink::default();
    p.process_record(&openat(1, 7, 3, "/a"), 0, &mut sink);
    assert_eq!(sub.events.try_iter().count(), 1);
    assert_eq!(sink.counts.get("Any openat"), Some(&1));
}

/// Sampled events time each rule of their type; a reload keeps a rule's latency by name.
#[test]
fn rule_latency_is_sampled_per_rule_and_follows_reloads() {
    let handle = EngineHandle::new(engine(RULES, Matching::All));
    let mut p = Pipeline::with_handle(handle.clone(), no_proc());
    let mut sink = CountingSink::default();
    for i in 0..10 {
        p.process_record(&openat(i, 7, 3, "/etc/shadow"), 0, &mut sink);
    }
    let counts: Vec<u64> = p.stats().rule_latency.iter().map(|l| l.count).collect();
    assert_eq!(counts, vec![10, 10]);
    let reordered = format!(
        "{}\n- rule: New\n  desc: t\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n",
        RULES.replace("Read shadow", "Shadow read")
    );
    handle.swap(engine(&reordered, Matching::All));
    p.process_record(&openat(11, 7, 4, "/tmp/x"), 0, &mut sink);
    let by_name: Vec<(String, u64)> = p
        .engine()
        .rules()
        .rules()
        .iter()
        .zip(&p.stats().rule_latency)
        .map(|(r, l)| (r.name.clone(), l.count))
        .collect();
    assert_eq!(
        by_name,
        vec![
            ("Shadow read".to_string(), 1),
            ("Any openat".to_string(), 11),
            ("New".to_string(), 0)
        ]
    );
}
