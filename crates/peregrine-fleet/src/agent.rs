//! The agent's heartbeat: every `fleet.heartbeat_interval`, a [`Heartbeat`] with the
//! agent's identity, versions, digests and counters, published into JetStream (acknowledged)
//! on `<prefix>.heartbeat.<host>`; one more, marked `stopping`, when the agent stops.
//!
//! A heartbeat is not spooled: a missed one is superseded by the next, and a gap is exactly
//! what coverage is meant to show. It runs on a thread of its own with a one-worker runtime,
//! so a slow or unreachable NATS never delays detection.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use peregrine_config::FleetConfig;

use crate::message::{Heartbeat, HEARTBEAT_KIND};
use crate::FleetError;

/// The agent's running totals, read at each heartbeat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentCounters {
    pub events: u64,
    pub drops: u64,
    pub alerts: u64,
}

/// What the heartbeat reads its counters from.
pub type CounterSource = Arc<dyn Fn() -> AgentCounters + Send + Sync>;

/// The agent's fixed facts for its heartbeats.
#[derive(Clone, Debug, Default)]
pub struct AgentInfo {
    pub version: String,
    pub engine_version: String,
    pub rules_hash: String,
    pub config_hash: String,
}

/// A running heartbeat; [`HeartbeatPublisher::stop`] sends the last one.
pub struct HeartbeatPublisher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HeartbeatPublisher {
    /// Starts publishing (the first heartbeat at once).
    pub fn start(
        fleet: &FleetConfig,
        info: AgentInfo,
        counters: CounterSource,
    ) -> Result<HeartbeatPublisher, FleetError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(FleetError::Runtime)?;
        let (tx, rx) = mpsc::channel::<()>();
        let fleet = fleet.clone();
        let thread = std::thread::Builder::new()
            .name("fleet-heartbeat".into())
            .spawn(move || run(&runtime, &fleet, &info, &counters, &rx))
            .map_err(FleetError::Runtime)?;
        Ok(HeartbeatPublisher {
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Publishes the last heartbeat (bounded by `fleet.timeout_ms`) and stops.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HeartbeatPublisher {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run(
    runtime: &tokio::runtime::Runtime,
    fleet: &FleetConfig,
    info: &AgentInfo,
    counters: &CounterSource,
    rx: &mpsc::Receiver<()>,
) {
    let started = Instant::now();
    let subject = fleet.heartbeat_subject();
    let beat = |stopping: bool| {
        let c = counters();
        Heartbeat {
            kind: HEARTBEAT_KIND.into(),
            host: fleet.host.clone(),
            labels: fleet.labels.iter().cloned().collect(),
            version: info.version.clone(),
            engine_version: info.engine_version.clone(),
            rules_hash: info.rules_hash.clone(),
            config_hash: info.config_hash.clone(),
            events: c.events,
            drops: c.drops,
            alerts: c.alerts,
            uptime_s: started.elapsed().as_secs(),
            time_ns: peregrine_store::writer::now_ns(),
            stopping,
        }
    };
    let mut client: Option<async_nats::Client> = None;
    let mut failing = false;
    let mut first = true;
    loop {
        // The sender dropped (or sent): the agent stops, and says so.
        let stopping = !matches!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
        // A routine heartbeat waits at most one interval: a later one is superseded by the
        // next, and one stuck on a dead cluster node must not hold the next ones back. The
        // first (connecting) and the last wait the whole `fleet.timeout_ms`.
        let timeout = if first || stopping {
            fleet.timeout
        } else {
            fleet.timeout.min(fleet.heartbeat_interval)
        };
        first = false;
        let hb = beat(stopping);
        match runtime.block_on(publish(fleet, timeout, &mut client, &subject, &hb)) {
            Ok(()) if failing => {
                log::info!("fleet: heartbeats reach {} again", fleet.url());
                failing = false;
            }
            Ok(()) => {}
            Err(e) => {
                if !failing {
                    log::warn!("fleet: heartbeat not delivered: {e}");
                }
                // The client stays: it reconnects by itself (to another node of the cluster
                // too), which a new connection per failure would only slow down.
                failing = true;
            }
        }
        if stopping {
            return;
        }
        // Woken early when the agent stops: the next round sends the last heartbeat.
        let _ = rx.recv_timeout(fleet.heartbeat_interval);
    }
}

async fn publish(
    fleet: &FleetConfig,
    timeout: std::time::Duration,
    client: &mut Option<async_nats::Client>,
    subject: &str,
    hb: &Heartbeat,
) -> Result<(), String> {
    let attempt = async {
        if client.is_none() {
            let opts = crate::connect_options(fleet)
                .name(format!("peregrine-agent {}", fleet.host))
                .max_reconnects(None);
            *client = Some(
                opts.connect(fleet.servers.clone())
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        let c = client.clone().ok_or("not connected")?;
        let payload = serde_json::to_vec(hb).map_err(|e| e.to_string())?;
        let js = async_nats::jetstream::new(c);
        let ack = js
            .publish(subject.to_string(), payload.into())
            .await
            .map_err(|e| e.to_string())?;
        ack.await.map(|_| ()).map_err(|e| e.to_string())
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| "timed out".to_string())?
}
