//! Stand-alone `peregrine events` until the lead wires `events` into main.rs (then delete
//! this file): `cargo run -p peregrine --example events -- -n 20 'evt.type=openat'`.

#[path = "../src/events.rs"]
mod events;

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: events::EventsArgs,
}

fn main() -> anyhow::Result<()> {
    events::run(Cli::parse().args)
}
