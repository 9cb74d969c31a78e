//! The default rules compiled into the binary, so that `peregrine` with no flags protects a host
//! without any file installed. The text lives in `rules/peregrine_rules.yaml` at the repository
//! root, where it is edited and reviewed like any rules file; `include_str!` keeps the binary and
//! that file from drifting apart.

/// The name the embedded file is reported under (in `-V` results and summaries).
pub const NAME: &str = "peregrine_rules.yaml";

/// The embedded rules text.
pub const RULES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../rules/peregrine_rules.yaml"
));
