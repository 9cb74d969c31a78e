//! The cost of parsing audit events alone: every event line of the upstream trace files,
//! parsed `ROUNDS` times with `parse_payload`, and the CPU time per event (the process's own,
//! so the load of other processes weighs less than on wall time). Run by hand:
//!
//!   cargo run --release -p peregrine-k8saudit --example parse_bench -- ../shared/upstream/k8saudit [ROUNDS]
//!
//! Not a test: the numbers depend on the machine.

fn cpu_ns() -> u128 {
    // The process's CPU clock: user and system time of every thread (here, one).
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("the upstream k8saudit directory"));
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir.join("events"))
        .expect("events directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let text = std::fs::read(&p).expect("events file");
        for line in text.split(|&b| b == b'\n') {
            let mut parsed = peregrine_k8saudit::Parsed::default();
            peregrine_k8saudit::parse_payload(line, 262_144, &mut parsed);
            if parsed.events.len() == 1 && parsed.errors.is_empty() {
                lines.push(line.to_vec());
            }
        }
    }
    let bytes: usize = lines.iter().map(Vec::len).sum();
    let start = cpu_ns();
    let mut events = 0usize;
    for _ in 0..rounds {
        for l in &lines {
            let mut parsed = peregrine_k8saudit::Parsed::default();
            peregrine_k8saudit::parse_payload(l, 262_144, &mut parsed);
            events += parsed.events.len();
        }
    }
    let ns = cpu_ns() - start;
    println!(
        "{} events ({} lines, {:.0} bytes each on average) × {rounds}: {:.2} µs CPU per event, {:.0} events per CPU-second",
        events,
        lines.len(),
        bytes as f64 / lines.len() as f64,
        ns as f64 / events as f64 / 1000.0,
        events as f64 / (ns as f64 / 1e9)
    );
}
