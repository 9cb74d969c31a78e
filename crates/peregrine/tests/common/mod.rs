//! Helpers shared by the integration tests: run the built binary, find the upstream material.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `peregrine` with `args` and no inherited configuration from the environment.
pub fn peregrine<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .env(peregrine_config::DEFAULT_CONFIG_ENV, "")
        .args(args)
        .env_remove("PEREGRINE_LOG")
        .output()
        .expect("the peregrine binary runs")
}

/// `shared/upstream` beside the workspace, or `$PEREGRINE_UPSTREAM` (the kit's locator;
/// a test reading it gates on `peregrine_testkit::upstream::require` first).
pub use peregrine_testkit::upstream::dir as upstream;

/// The repository root (for `rules/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The arguments that replay the upstream `capture` against the upstream `rules`, with the
/// syslog output off (test machines have no syslog daemon), deduplication off (on in the
/// built-in configuration; these tests compare every alert with Falco's) and the alert store
/// off (on in the built-in configuration; these runs keep nothing).
pub fn replay_args(rules: &str, capture: &str) -> Vec<String> {
    let up = upstream();
    vec![
        "-r".into(),
        up.join(rules).display().to_string(),
        "-o".into(),
        "engine.kind=replay".into(),
        "-o".into(),
        format!("engine.replay.capture_file={}", up.join(capture).display()),
        "-o".into(),
        "syslog_output.enabled=false".into(),
        // The alert store is on in the built-in configuration too: these runs keep nothing.
        "-o".into(),
        "alert_store.enabled=false".into(),
        // Last: agent_triage drops it to get the built-in default.
        "-o".into(),
        "dedup.enabled=false".into(),
    ]
}
