//! Checks captures strictly (every block, length, trailer and parameter layout) and prints a
//! summary per file: `cargo run -p peregrine-scap --example scapcheck FILE…`. Exit 1 if one fails.

fn main() {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        let result = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| peregrine_scap::check(&b).map_err(|e| e.to_string()));
        match result {
            Ok(s) => println!(
                "{path}: ok, scap {}.{}, {} events of {} types, {} threads",
                s.major,
                s.minor,
                s.events,
                s.per_code.len(),
                s.threads
            ),
            Err(e) => {
                failed = true;
                println!("{path}: {e}");
            }
        }
    }
    std::process::exit(i32::from(failed));
}
