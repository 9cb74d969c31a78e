//! scap capture files through the whole replay path: block reader (gzip too), metadata lists,
//! old-layout conversion to kernel records, state seeding and updates, and rule evaluation
//! with Peregrine's default rules.
use peregrine_engine::{CountingSink, Engine, Pipeline, Settings};
use std::sync::{Arc, OnceLock};

fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut loader = peregrine_rules::Loader::new();
            loader.load_str(
                "peregrine_rules.yaml",
                include_str!("../../../rules/peregrine_rules.yaml"),
            );
            let (rules, _) = loader.finish();
            Arc::new(Engine::new(rules, Settings::default()))
        })
        .clone()
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(reader) = peregrine_scap::Reader::new(data) else {
            return;
        };
        let mut pipe = Pipeline::new(engine(), peregrine_engine::replay::replay_state_config());
        let mut sink = CountingSink::default();
        let _ = peregrine_engine::replay::replay_reader(reader, "fuzz.scap", &mut pipe, &mut sink);
    });
}
