//! The agent's embedded web server: Falco's `webserver` block (`/healthz`, `/versions` and the
//! Prometheus `/metrics` page), and the metrics renderer behind `/metrics`.
//!
//! Key design decision: a small HTTP/1.1 server on std's `TcpListener`, one accept thread plus a
//! short-lived thread per connection, instead of an async runtime or an HTTP framework. The agent
//! has no other use for async, the endpoints are three fixed GETs answered from memory, and
//! scrapes come every few seconds, so hyper/tokio would add compile time and dependencies for no
//! gain. The cost is that hardening is ours: requests are capped in size ([`MAX_REQUEST`]), every
//! socket has read and write timeouts, concurrent connections are capped ([`MAX_CONNECTIONS`],
//! beyond which accepting pauses), and every connection is closed after one response (no
//! keep-alive, no bodies read).
//!
//! Layout: [`server`] is the listener, the HTTP framing and the routes (started from the
//! `webserver` block `peregrine-config` reads), [`versions`] and [`metrics`] are the documents
//! served. A later web console or
//! fleet API is a new module with its routes, added to the server's route table; the metrics
//! page knows nothing of HTTP, so it is tested (and could be pushed elsewhere) on its own.

#![forbid(unsafe_code)]

pub mod metrics;
pub mod server;
pub mod versions;

pub use metrics::{BuildInfo, MetricsSnapshot, RuleMatch};
pub use peregrine_config::WebConfig;
pub use server::{
    Collect, Response, WebError, WebServer, IO_TIMEOUT, MAX_CONNECTIONS, MAX_REQUEST,
};
pub use versions::Versions;
