//! Peregrine's runtime: everything the program does once its arguments are validated. The
//! agent's run loop (live and replay), the one live start-up shared by every live mode, Falco's
//! drop monitor, rule-triggered capture, `peregrine events`, `peregrine capture -w`,
//! `peregrine run -- CMD`, rules loading and reload, and the informational listings. Each mode
//! is one function in [`modes`] (or [`events::run`], [`capture::run`], [`run::run`]) that the
//! binary calls.
//!
//! Key design decision: the runtime is a library that only wires the pipeline crates (engine,
//! state, outputs, web), and the binary only parses flags, so every mode can be driven by a
//! test without spawning the program, and a second front end (a service manager, a test
//! harness) reuses the modes as they are. The cost is a wide dependency fan-in here: this
//! crate depends on nearly every other crate of the workspace, and so compiles last.
//!
//! Signals set flags that the capture loop checks between drains (every ≤2 ms), so SIGINT and
//! SIGTERM end a run cleanly: what the kernel already wrote is processed and the statistics
//! printed, as Falco does on exit.

#![forbid(unsafe_code)]

pub mod agent;
pub mod audit;
pub mod capture;
mod debug;
pub mod drops;
mod error;
pub mod events;
pub mod info;
pub mod kkill;
pub mod listing;
pub mod live;
pub mod modes;
pub mod recorder;
pub mod rules;
pub mod run;
mod store;
pub mod support;

pub use error::{Result, RuntimeError};
pub use rules::{EmbeddedRules, RulesSource};

/// The Falco release whose behaviour Peregrine follows.
pub const FALCO_COMPAT_VERSION: &str = "0.44.1";

/// Falco's `HOST_ROOT` for the modes that read no configuration file (`events`, `capture`).
pub(crate) fn env_host_root() -> Result<std::path::PathBuf> {
    peregrine_config::host_root(std::env::var_os("HOST_ROOT").as_deref())
        .map_err(|e| RuntimeError::Invalid(e.to_string()))
}

/// A host file (`/proc/sys/kernel/osrelease`) below `HOST_ROOT`, `/` when it is unset or
/// invalid (the agent has refused an invalid one by then).
pub(crate) fn host_file(path: &str) -> std::path::PathBuf {
    let root = env_host_root().unwrap_or_else(|_| std::path::PathBuf::from("/"));
    peregrine_state::host_path(&root, path)
}
