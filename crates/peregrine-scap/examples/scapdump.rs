//! Prints a capture one event per line: `cargo run -p peregrine-scap --example scapdump FILE`.
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: scapdump FILE");
        std::process::exit(2);
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = peregrine_scap::dump(&path, &mut out) {
        eprintln!("{path}: {e}");
        std::process::exit(1);
    }
}
