//! Falco-compatible alerts leaving the agent: formatting (Falco's text line and JSON object,
//! byte for byte) and delivery to stdout, files, syslog, programs and HTTP endpoints.
//!
//! Key design decision: the engine hands a fully extracted [`Alert`] to a [`Dispatcher`]
//! that never blocks it. Each output has its own bounded queue and worker thread, so a slow
//! or dead destination loses (and counts) only its own alerts and never delays detection or
//! the other outputs. The price is a thread per enabled output and alerts that can be
//! dropped under overload — always counted in the [`Snapshot`], never silently. Which outputs
//! an alert goes to is each output's [`Route`] (`min_priority` and the `match` block),
//! checked at enqueue.
//!
//! Wiring in the agent: `let outputs = OutputsConfig::from_tree(&tree)?.build()?;`, then
//! `outputs.enqueue(alert)` per match, `outputs.reopen()` on SIGUSR1,
//! `outputs.snapshot()` for metrics, `outputs.shutdown(deadline)` at exit.

#![forbid(unsafe_code)]

pub mod alert;
pub mod alertmanager;
pub mod config;
pub mod counters;
mod failures;
pub mod file;
pub mod format;
pub mod http;
pub mod json;
pub mod mqtt_output;
pub mod nats_output;
pub mod output;
pub mod program;
pub mod queue;
pub mod ratelimit;
pub mod redis_output;
pub mod remote_syslog;
pub mod route;
pub mod spool;
pub mod stdout;
pub mod syslog;
mod template;
pub mod webhook;

pub use alert::{hostname, Alert};
pub use config::OutputsConfig;
pub use counters::{OutputSnapshot, Snapshot};
pub use format::{FormatOptions, INTERNAL_SOURCE};
pub use output::{Output, OutputError};
pub use peregrine_filter::format::OutputValue;
pub use peregrine_filter::priority::Priority;
pub use queue::{Backoff, Dispatcher, Enqueued, OutputSpec, RateLimit, ShutdownReport};
pub use route::Route;
