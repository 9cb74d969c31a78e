//! The default rules compiled into the binary, so that `peregrine` with no flags protects a host
//! without any file installed. The text lives in `rules/peregrine_rules.yaml` at the repository
//! root, where it is edited and reviewed like any rules file; `include_str!` keeps the binary and
//! that file from drifting apart.

use peregrine_runtime::EmbeddedRules;

/// The embedded rules, reported as `peregrine_rules.yaml` (in `-V` results and summaries).
pub const EMBEDDED: EmbeddedRules = EmbeddedRules {
    name: "peregrine_rules.yaml",
    content: include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../rules/peregrine_rules.yaml"
    )),
};
