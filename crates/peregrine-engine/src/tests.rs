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
