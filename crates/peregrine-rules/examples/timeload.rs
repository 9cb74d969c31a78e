//! Times loading rules files (release build: `cargo run --release --example timeload -- FILES`).
fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let t = std::time::Instant::now();
    let mut best = std::time::Duration::MAX;
    let mut last = None;
    for _ in 0..reps {
        let t0 = std::time::Instant::now();
        let mut l = if std::env::var_os("ONCE").is_some() {
            peregrine_rules::Loader::compile_once()
        } else {
            peregrine_rules::Loader::new()
        };
        for f in &files {
            l.load_file(f);
        }
        last = Some(l.finish());
        best = best.min(t0.elapsed());
    }
    let per = t.elapsed() / reps as u32;
    if let Some((set, r)) = last {
        if std::env::var_os("SHOW").is_some() {
            println!("{}", r.as_text());
        }
        println!(
            "{} files: {:?} per load (best {:?}), {} rules, {} errors, {} warnings",
            files.len(),
            per,
            best,
            set.rules().len(),
            r.errors().count(),
            r.warnings().count()
        );
    }
}
