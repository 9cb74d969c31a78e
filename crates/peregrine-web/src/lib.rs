//! The agent's embedded web server: Falco's `webserver` block (`/healthz`, `/versions` and the
//! Prometheus `/metrics` page, over HTTP or HTTPS), and the metrics renderer behind `/metrics`.
//!
//! Key design decision: the server is hyper's HTTP/1.1 connection driver and axum's router on
//! a small tokio runtime of its own — one `current_thread` runtime on a dedicated
//! `peregrine-web` thread (plus a blocking thread, created on demand, that collects a
//! `/metrics` page) — with rustls (`ring` provider, as in `peregrine-outputs`) for TLS. The
//! detection path stays synchronous and never sees the runtime. A first, hand-written server on
//! std's `TcpListener` (a thread per connection, at most 16, a timeout per read) could be held
//! by sixteen clients each trickling a byte every few seconds, so `/healthz` stopped answering
//! and Kubernetes restarted the agent (issue #13); and the console, fleet API and audit webhook
//! to come need bodies, streaming, TLS and authentication, which are protocol work we should
//! not write ourselves. The cost: 35 more crates in the server's dependency tree (tokio, hyper,
//! axum, tower, tokio-rustls and their helpers; rustls was already there), a longer first
//! compile and a larger binary (the stripped release binary grew from 10.4 to 11.5 MB).
//!
//! Defences against slow or hostile clients, each a constant in [`server`]:
//! - **Whole-head deadline** ([`HEAD_TIMEOUT`], 5 s from accept, the TLS handshake included):
//!   a client that has not sent its complete request head by then is disconnected, however it
//!   trickles. hyper's `header_read_timeout` is set too; the deadline of our own also covers
//!   the handshake and does not depend on when hyper starts its timer.
//! - **Whole-request deadline** ([`REQUEST_TIMEOUT`], 30 s): a connection serves one request
//!   (no keep-alive, as before) and is closed after this time, a slow reader of the response
//!   included.
//! - **Connection cap with eviction** ([`MAX_CONNECTIONS`], 256): a new connection is always
//!   accepted; at the cap the oldest connection that has not completed its request head is
//!   closed to make room, or the oldest of all when every open one is past its head. A probe
//!   sends its head at once, so it is served unless 256 newer connections arrive before its
//!   head is read. Cost: under a flood a legitimate but slow client (or a large `/metrics`
//!   download to a slow reader) can be cut off; refusing newcomers instead would let the
//!   flood lock out the probe, which is what matters.
//! - **Size limits**: request heads over [`MAX_REQUEST`] get 431; bodies (only the silences
//!   API reads one) are capped at [`MAX_BODY`] (axum's `DefaultBodyLimit`).
//! - The health path is answered before routing, from a constant; `/metrics` is collected on a
//!   blocking thread so a slow `/proc` read delays no probe.
//!
//! TLS: `webserver.ssl_enabled` serves HTTPS with `webserver.ssl_certificate` (Falco's file
//! holding the certificate chain and the private key together). A certificate that cannot be
//! loaded makes [`WebServer::start`] fail with [`WebError::Tls`] naming the file: a security
//! setting never falls back to plain HTTP. Plain HTTP on every interface (Falco's default
//! `0.0.0.0`) logs one warning at start-up, since the endpoints are unauthenticated.
//!
//! Layout: [`server`] is the listener, the connection handling and the routes (started from the
//! `webserver` block `peregrine-config` reads), [`versions`] and [`metrics`] are the documents
//! served, [`silences`] the silences API and [`isolation`] the isolated containers and their
//! unisolate (Peregrine extensions, off unless `silences_api.enabled`),
//! [`alerts_api`] the alerts and rules API over the alert store, [`debug_api`] the debug
//! view's event sample, drops, rule latency and container metadata, [`fleet_api`] the fleet's
//! hosts and coverage (`peregrine server`), and [`access`] the console's
//! credentials, sessions, roles and CSRF check — a middleware over every route while
//! `console.enabled` (see [`Extras`]). Each further API is a module with its axum routes, merged
//! into the router; the metrics page knows nothing of HTTP, so it is tested (and could be pushed
//! elsewhere) on its own.

#![forbid(unsafe_code)]

pub mod access;
pub mod alerts_api;
pub mod console;
pub mod debug_api;
pub mod fleet_api;
pub mod isolation;
pub mod metrics;
pub mod server;
pub mod silences;
pub mod versions;

pub use metrics::{BuildInfo, MetricsSnapshot, RuleMatch};
pub use peregrine_config::WebConfig;
pub use server::{
    Collect, Extras, WebError, WebServer, HEAD_TIMEOUT, MAX_BODY, MAX_CONNECTIONS, MAX_REQUEST,
    REQUEST_TIMEOUT,
};
pub use versions::Versions;
