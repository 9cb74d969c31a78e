//! Read throughput (events/s) over the largest capture (502Error.scap, 22 381 events,
//! uncompressed) and a gzip one, from memory so the disk is not measured.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use peregrine_testkit::upstream::dir as upstream;

/// Streams every event, touching every parameter so nothing is optimised away.
fn read_events(bytes: &[u8]) -> (u64, usize) {
    let Ok(mut rd) = peregrine_scap::Reader::new(bytes) else {
        return (0, 0);
    };
    let (mut n, mut sum) = (0, 0);
    while let Ok(Some(e)) = rd.next_event() {
        n += 1;
        sum += e.params.iter().map(<[u8]>::len).sum::<usize>();
    }
    (n, sum)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("scap_read");
    for (label, file) in [
        ("502Error_plain", "sysdig-inspect/502Error.scap"),
        ("psp_user_0_gzip", "falco/psp_run_as_user_0_container.scap"),
    ] {
        let bytes = std::fs::read(upstream().join("captures").join(file)).expect("capture");
        let (events, _) = read_events(&bytes);
        g.throughput(Throughput::Elements(events));
        g.bench_function(label, |b| {
            b.iter(|| read_events(std::hint::black_box(&bytes)))
        });
    }
    // Rendering every event as `name params`, as `dump` does.
    let bytes =
        std::fs::read(upstream().join("captures/sysdig-inspect/502Error.scap")).expect("capture");
    g.throughput(Throughput::Elements(read_events(&bytes).0));
    g.bench_function("502Error_render", |b| {
        b.iter(|| {
            let Ok(mut rd) = peregrine_scap::Reader::new(&bytes[..]) else {
                return 0;
            };
            let mut total = 0;
            while let Ok(Some(e)) = rd.next_event() {
                total += e.render_params().len();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
