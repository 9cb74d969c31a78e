//! Helpers shared by the engine's integration tests.

#![allow(dead_code)] // each test binary uses its own subset

use std::sync::Arc;

use peregrine_engine::{Engine, Pipeline, Settings};
use peregrine_rules::Loader;
use peregrine_state::StateConfig;

/// An engine over rules given as YAML text, which must load without errors.
pub fn engine(yaml: &str) -> Arc<Engine> {
    let mut l = Loader::new();
    l.load_str("rules.yaml", yaml);
    let (rules, res) = l.finish();
    assert!(res.successful(), "{}", res.as_text());
    Arc::new(Engine::new(rules, Settings::default()))
}

/// A pipeline over `yaml` whose state never reads /proc: only the records build it.
pub fn offline_pipeline(yaml: &str) -> Pipeline {
    Pipeline::new(
        engine(yaml),
        StateConfig {
            proc_root: None,
            ..StateConfig::default()
        },
    )
}
