//! Replays a capture with rules files and prints each match as `rule: output`, then the
//! replay statistics. `cargo run -p peregrine-engine --example replay -- CAPTURE RULES…`

use std::sync::Arc;

use peregrine_engine::replay::replay_file;
use peregrine_engine::{Engine, Match, Settings};
use peregrine_rules::{Loader, Matching};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((capture, rules)) = args.split_first() else {
        eprintln!("usage: replay CAPTURE RULES...");
        std::process::exit(2);
    };
    let mut loader = Loader::compile_once();
    for r in rules {
        loader.load_file(r);
    }
    let (set, res) = loader.finish();
    if !res.successful() {
        eprintln!("{}", res.as_text());
        std::process::exit(1);
    }
    let engine = Engine::new(
        set,
        Settings {
            matching: Matching::All,
            ..Settings::default()
        },
    );
    let mut print = |m: &Match<'_>| println!("{} {}: {}", m.time_ns, m.rule.name, m.output);
    match replay_file(Arc::new(engine), capture.as_ref(), &mut print) {
        Ok((pipe, stats)) => eprintln!("{stats:?}\n{:?}", pipe.stats()),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
