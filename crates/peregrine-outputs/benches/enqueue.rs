//! Cost of `Dispatcher::enqueue` on the engine thread: the only part of alert delivery the
//! detection path pays for. Outputs discard their lines, so the workers keep up and the
//! measurement is of the accepting path (an `Arc` and one `try_send` per output).

use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_outputs::output::{Output, OutputError};
use peregrine_outputs::{
    Alert, Dispatcher, FormatOptions, OutputSpec, OutputValue, Priority, RateLimit,
};
use std::hint::black_box;
use std::time::Duration;

struct Discard;

impl Output for Discard {
    fn name(&self) -> &str {
        "discard"
    }
    fn write(&mut self, line: &str, _p: Priority) -> Result<(), OutputError> {
        black_box(line);
        Ok(())
    }
}

fn alert() -> Alert {
    Alert {
        time_ns: 1_795_899_903_123_456_789,
        rule: "Read sensitive file untrusted".into(),
        priority: Priority::Warning,
        source: "syscall".into(),
        hostname: "node-1".into(),
        tags: vec!["T1555".into(), "filesystem".into(), "host".into()],
        output: "Sensitive file opened for reading by non-trusted program (file=/etc/shadow \
                 process=cat command=cat /etc/shadow user=root)"
            .into(),
        output_fields: vec![
            ("fd.name".into(), OutputValue::Str("/etc/shadow".into())),
            ("proc.name".into(), OutputValue::Str("cat".into())),
            (
                "proc.cmdline".into(),
                OutputValue::Str("cat /etc/shadow".into()),
            ),
            ("user.name".into(), OutputValue::Str("root".into())),
        ],
        extra_fields: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let template = alert();
    let json = FormatOptions {
        json_output: true,
        ..Default::default()
    };
    // What the engine pays to build an Alert, to subtract from the enqueue figures.
    c.bench_function("alert_clone", |b| b.iter(|| black_box(template.clone())));
    c.bench_function("format_json", |b| {
        b.iter(|| black_box(json.format(black_box(&template))))
    });
    for outputs in [1usize, 3] {
        let specs = (0..outputs)
            .map(|_| OutputSpec {
                capacity: 1 << 20,
                ..OutputSpec::new(Box::new(Discard))
            })
            .collect();
        let d = match Dispatcher::new(json.clone(), specs, RateLimit::default()) {
            Ok(d) => d,
            Err(e) => panic!("dispatcher: {e}"),
        };
        c.bench_function(&format!("enqueue_{outputs}_outputs"), |b| {
            // The clone is the caller's cost too: an engine builds a fresh Alert per match.
            b.iter(|| black_box(d.enqueue(template.clone())))
        });
        let (_, s) = d.shutdown(Duration::from_secs(30));
        eprintln!(
            "{outputs} outputs: delivered {:?}, dropped {:?}",
            s.outputs.iter().map(|o| o.delivered).collect::<Vec<_>>(),
            s.outputs
                .iter()
                .map(|o| o.dropped_queue_full)
                .collect::<Vec<_>>()
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
