//! The fleet view: agents publish their alerts, response records and a heartbeat to NATS
//! JetStream; `peregrine server` consumes the streams, stores the alerts, tracks the hosts and
//! serves the console across all of them.
//!
//! Key design decision: **the transport is JetStream, not ours.** Agents already spool and
//! publish alerts with acknowledgements (`nats_output`); a fleet is that output pointed at a
//! replicated stream, plus a heartbeat. The server is a durable consumer that acknowledges a
//! batch only after the store committed it, so a restart resumes from the stream, and stores
//! by alert id, so a redelivery is never stored twice. Clustering, replication, retention,
//! authentication and back-pressure are nats-server's. The cost: a NATS cluster to run
//! beside the server, and at-least-once delivery that the store has to absorb.
//!
//! Layout: [`message`] is what travels (and what is refused), [`hosts`] the host table and
//! coverage, [`server`] the streams and consumers, [`agent`] the agent's heartbeat.

#![forbid(unsafe_code)]

pub mod agent;
pub mod hosts;
pub mod message;
pub mod server;

pub use agent::{AgentCounters, AgentInfo, HeartbeatPublisher};
pub use hosts::Registry;
pub use server::{FleetServer, ServerOptions};

/// Client options with the `fleet` block's credential, TLS and timeouts.
pub(crate) fn connect_options(fleet: &peregrine_config::FleetConfig) -> async_nats::ConnectOptions {
    let mut opts = fleet.auth.apply(
        async_nats::ConnectOptions::new()
            .connection_timeout(fleet.timeout)
            .request_timeout(Some(fleet.timeout)),
    );
    if let Some(tls) = &fleet.tls {
        opts = tls.apply(opts);
    }
    opts
}

/// The fleet could not start.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("fleet.servers: cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("fleet: cannot create or open the JetStream stream {name}: {reason}")]
    Stream { name: String, reason: String },
    #[error("fleet: cannot start its thread: {0}")]
    Runtime(std::io::Error),
    #[error("fleet: stopped")]
    Stopped,
}
