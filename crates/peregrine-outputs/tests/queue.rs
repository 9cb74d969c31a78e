//! The delivery queue end to end: isolation of slow outputs, exact drop counts, priorities,
//! rate limiting, reopen and shutdown.

mod common;
use common::*;
use peregrine_outputs::output::{Output, OutputError};
use peregrine_outputs::stdout::WriterOutput;
use peregrine_outputs::{Dispatcher, Enqueued, FormatOptions, OutputSpec, Priority, RateLimit};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An output that blocks in every write until the test sends a token.
struct Gate {
    started: Sender<String>,
    release: Arc<Mutex<Receiver<()>>>,
}

impl Output for Gate {
    fn name(&self) -> &str {
        "gate"
    }
    fn write(&mut self, line: &str, _p: Priority) -> Result<(), OutputError> {
        let _ = self.started.send(line.to_string());
        let _ = self.release.lock().expect("lock").recv();
        Ok(())
    }
}

fn gate() -> (Box<Gate>, Receiver<String>, Sender<()>) {
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    (
        Box::new(Gate {
            started: started_tx,
            release: Arc::new(Mutex::new(release_rx)),
        }),
        started_rx,
        release_tx,
    )
}

fn memory(buf: &SharedBuf) -> OutputSpec {
    OutputSpec::new(Box::new(WriterOutput::new("memory", buf.clone(), false)))
}

#[test]
fn a_stuck_output_drops_exactly_its_overflow_and_delays_no_one() {
    let (gate, started, release) = gate();
    let buf = SharedBuf::default();
    let d = Dispatcher::new(
        FormatOptions::default(),
        vec![
            OutputSpec {
                output: gate,
                route: Default::default(),
                capacity: 4,
                spool: None,
                retry: Default::default(),
            },
            memory(&buf),
        ],
        RateLimit::default(),
    )
    .expect("dispatcher");

    assert_eq!(
        d.enqueue(alert("r", Priority::Warning, "a0")),
        Enqueued::Queued(2)
    );
    // The gate worker now holds a0 inside write(): its queue is empty again.
    assert!(started.recv().expect("gate started").ends_with("a0"));
    let mut outcomes = Vec::new();
    for i in 1..=10 {
        outcomes.push(d.enqueue(alert("r", Priority::Warning, &format!("a{i}"))));
    }
    // 4 fit in the gate's queue, 6 are dropped there; the memory output takes all of them.
    let expected: Vec<Enqueued> = (1..=10)
        .map(|i| Enqueued::Queued(if i <= 4 { 2 } else { 1 }))
        .collect();
    assert_eq!(outcomes, expected);
    wait_until("memory output", || buf.text().lines().count() == 11);
    let s = d.snapshot();
    let gate_stats = &s.outputs[0];
    assert_eq!((gate_stats.enqueued, gate_stats.dropped_queue_full), (5, 6));
    assert_eq!(s.outputs[1].delivered, 11);
    assert_eq!(s.outputs[1].dropped_queue_full, 0);
    assert_eq!(s.alerts_by_rule.get("r"), Some(&11));

    // Released, the gate delivers what it queued, in order.
    for _ in 0..5 {
        release.send(()).expect("release");
    }
    let (report, s) = d.shutdown(Duration::from_secs(20));
    assert!(report.unfinished.is_empty());
    let seen: Vec<String> = started.try_iter().collect();
    assert_eq!(seen.len(), 4);
    assert!(seen[3].ends_with("a4"));
    assert_eq!(s.outputs[0].delivered, 5);
    assert_eq!(s.total_lost(), 6);
}

#[test]
fn shutdown_gives_up_on_a_dead_output_at_the_deadline() {
    let (gate, started, release) = gate();
    let buf = SharedBuf::default();
    let d = Dispatcher::new(
        FormatOptions::default(),
        vec![OutputSpec::new(gate), memory(&buf)],
        RateLimit::default(),
    )
    .expect("dispatcher");
    for i in 0..3 {
        d.enqueue(alert("r", Priority::Error, &format!("b{i}")));
    }
    started.recv().expect("gate started");
    let (report, s) = d.shutdown(Duration::from_millis(50));
    assert_eq!(report.unfinished, ["gate"]);
    assert_eq!(s.outputs[1].delivered, 3, "the healthy output drained");
    assert_eq!(buf.text().lines().count(), 3);
    // The gate never delivered: the alert stuck in its write and the two behind it are lost,
    // and the summary says so (they used to go uncounted).
    assert_eq!(s.outputs[0].delivered, 0);
    assert_eq!(s.outputs[0].abandoned, 3);
    assert_eq!(s.total_lost(), 3);
    drop(release);
}

#[test]
fn a_hanging_output_accounts_for_every_alert_at_shutdown() {
    let (gate, started, release) = gate();
    let d = Dispatcher::new(
        FormatOptions::default(),
        vec![OutputSpec {
            output: gate,
            route: Default::default(),
            capacity: 250,
            spool: None,
            retry: Default::default(),
        }],
        RateLimit::default(),
    )
    .expect("dispatcher");
    for i in 0..300 {
        d.enqueue(alert("r", Priority::Error, &format!("c{i}")));
    }
    started.recv().expect("gate started");
    let (report, s) = d.shutdown(Duration::from_millis(50));
    assert_eq!(report.unfinished, ["gate"]);
    let o = &s.outputs[0];
    assert_eq!(o.delivered, 0);
    assert_eq!(o.enqueued + o.dropped_queue_full, 300);
    assert_eq!(s.total_lost(), 300, "{o:?}");
    drop(release);
}

#[test]
fn minimum_priority_per_output() {
    let all = SharedBuf::default();
    let severe = SharedBuf::default();
    let d = Dispatcher::new(
        FormatOptions::default(),
        vec![
            memory(&all),
            OutputSpec {
                route: peregrine_outputs::Route {
                    min_priority: Some(Priority::Warning),
                    ..Default::default()
                },
                ..memory(&severe)
            },
        ],
        RateLimit::default(),
    )
    .expect("dispatcher");
    for p in [
        Priority::Debug,
        Priority::Warning,
        Priority::Notice,
        Priority::Critical,
    ] {
        d.enqueue(alert("r", p, "x"));
    }
    let (_, s) = d.shutdown(Duration::from_secs(20));
    let prios = |b: &SharedBuf| -> Vec<String> {
        b.text()
            .lines()
            .map(|l| l.split(' ').nth(1).unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(prios(&all), ["Debug", "Warning", "Notice", "Critical"]);
    assert_eq!(prios(&severe), ["Warning", "Critical"]);
    assert_eq!(s.outputs[1].filtered, 2);
    let by_prio: Vec<u64> = s.alerts_by_priority.iter().map(|(_, n)| *n).collect();
    assert_eq!(by_prio, [0, 0, 1, 0, 1, 1, 0, 1]);
}

#[test]
fn rate_limit_burst() {
    let buf = SharedBuf::default();
    // One token per ~30 years: only the burst gets through.
    let d = Dispatcher::new(
        FormatOptions::default(),
        vec![memory(&buf)],
        RateLimit {
            rate: 1e-9,
            max_burst: 2,
        },
    )
    .expect("dispatcher");
    let got: Vec<Enqueued> = (0..4)
        .map(|_| d.enqueue(alert("r", Priority::Notice, "x")))
        .collect();
    assert_eq!(
        got,
        [
            Enqueued::Queued(1),
            Enqueued::Queued(1),
            Enqueued::RateLimited,
            Enqueued::RateLimited
        ]
    );
    let (_, s) = d.shutdown(Duration::from_secs(20));
    assert_eq!((s.rate_limited, s.outputs[0].delivered), (2, 2));
    assert_eq!(s.alerts_by_rule.get("r"), Some(&4));
}

#[test]
fn json_lines_are_formatted_once_and_shared() {
    let a = SharedBuf::default();
    let b = SharedBuf::default();
    let opts = FormatOptions {
        json_output: true,
        ..Default::default()
    };
    let d = Dispatcher::new(
        opts.clone(),
        vec![memory(&a), memory(&b)],
        RateLimit::default(),
    )
    .expect("dispatcher");
    let al = alert("Read sensitive file", Priority::Warning, "file opened");
    d.enqueue(al.clone());
    let (_, s) = d.shutdown(Duration::from_secs(20));
    let expected = format!("{}\n", opts.format(&al));
    assert_eq!(a.text(), expected);
    assert_eq!(b.text(), expected);
    assert_eq!(s.outputs[0].latency.count, 1);
}

/// An output that fails every other write.
struct Flaky(u32);

impl Output for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn write(&mut self, _line: &str, _p: Priority) -> Result<(), OutputError> {
        self.0 += 1;
        if self.0 % 2 == 0 {
            Err(OutputError::Config {
                key: "flaky".into(),
                reason: format!("failure {}", self.0),
            })
        } else {
            Ok(())
        }
    }
}

#[test]
fn write_errors_are_counted_with_the_last_message() {
    let d = Dispatcher::new(
        FormatOptions::default(),
        vec![OutputSpec::new(Box::new(Flaky(0)))],
        RateLimit::default(),
    )
    .expect("dispatcher");
    for _ in 0..5 {
        d.enqueue(alert("r", Priority::Notice, "x"));
    }
    let (_, s) = d.shutdown(Duration::from_secs(20));
    let o = &s.outputs[0];
    assert_eq!((o.delivered, o.errors), (3, 2));
    assert_eq!(
        o.last_error.as_deref(),
        Some("invalid value for 'flaky': failure 4")
    );
}
