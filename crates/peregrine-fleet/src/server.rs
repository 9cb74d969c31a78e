//! `peregrine server`: the streams, their durable consumers, and the store.
//!
//! The alerts stream has one durable pull consumer, acknowledged per batch (`AckPolicy::All`).
//! A fetched batch is parsed, the alerts go to the store in one transaction, and only then is
//! the batch acknowledged: a server that dies between the two gets the batch again from the
//! stream, and the store skips the ids it already has, so nothing is stored twice and nothing
//! is lost. Two stages overlap on two cores: one task fetches and parses the next batch while
//! a blocking thread stores the previous one (a channel of [`IN_FLIGHT`] batches between
//! them); the store stage acknowledges in stream order, each batch after its commit. A message that is not ours ([`Bad`](crate::message::Bad)) is counted and
//! acknowledged with its batch (a redelivery would not make it better).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt;
use peregrine_config::FleetConfig;
use peregrine_store::{AlertStore, Record};

use crate::hosts::Registry;
use crate::message;
use crate::FleetError;

/// Messages fetched per batch: one store transaction each.
pub const BATCH: usize = 1_000;
/// Parsed batches waiting for the store while the next one is fetched and parsed.
const IN_FLIGHT: usize = 1;
/// How long a fetch waits for its batch to fill.
const FETCH_WAIT: Duration = Duration::from_millis(500);
/// The alerts consumer's durable name.
pub const DURABLE: &str = "peregrine-server";
/// How long the alerts stream keeps alerts by default: a server may be down this long and
/// still catch up; the store, not the stream, is the record.
pub const ALERTS_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long the stream keeps heartbeats (coverage needs the latest only).
const HEARTBEAT_AGE: Duration = Duration::from_secs(24 * 3600);

/// The server's options beyond the `fleet` block.
pub struct ServerOptions {
    pub fleet: FleetConfig,
    pub store: Arc<dyn AlertStore>,
    /// A host is covered when its last heartbeat is at most this old.
    pub coverage_window: Duration,
    /// `--expect-hosts`; `None`: every host seen.
    pub expected: Option<BTreeSet<String>>,
    /// How long a new alerts stream keeps alerts (`None`: [`ALERTS_AGE`]).
    pub alerts_max_age: Option<Duration>,
    /// Called with the alerts of each batch the store took (not those it already had), after
    /// the commit: the console's live queue and overview.
    pub on_stored: Option<peregrine_store::writer::OnStored>,
    /// Alerts are not consumed until this says true, or [`HOLD_MAX`] has passed: the console
    /// counts what the store holds first, then every alert `on_stored` is given, whatever its
    /// time (a backlog caught up from the stream included), and none twice.
    pub hold_until: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
}

/// The longest [`ServerOptions::hold_until`] holds the alerts back.
pub const HOLD_MAX: Duration = Duration::from_secs(120);

/// The two stream names of a prefix (a stream name has no dots).
pub fn stream_names(prefix: &str) -> (String, String) {
    (
        format!("{prefix}-alerts").to_uppercase(),
        format!("{prefix}-heartbeats").to_uppercase(),
    )
}

/// A running server's consumers.
pub struct FleetServer {
    pub registry: Arc<Registry>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Connects to the cluster with the block's credential, retrying until `stop`.
pub(crate) async fn connect(
    fleet: &FleetConfig,
    name: &str,
    stop: Option<&AtomicBool>,
) -> Result<async_nats::Client, FleetError> {
    loop {
        let opts = crate::connect_options(fleet)
            .name(name)
            // Keep reconnecting for ever: a cluster node going away is routine.
            .max_reconnects(None)
            .retry_on_initial_connect();
        match tokio::time::timeout(fleet.timeout, opts.connect(fleet.servers.clone())).await {
            Ok(Ok(c)) => return Ok(c),
            Ok(Err(e)) if stop.is_none() => {
                return Err(FleetError::Connect {
                    url: fleet.url(),
                    reason: e.to_string(),
                })
            }
            Ok(Err(e)) => log::warn!("fleet: cannot connect to {}: {e}", fleet.url()),
            Err(_) if stop.is_none() => {
                return Err(FleetError::Connect {
                    url: fleet.url(),
                    reason: "timed out".into(),
                })
            }
            Err(_) => log::warn!("fleet: connecting to {} timed out", fleet.url()),
        }
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err(FleetError::Stopped);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

impl FleetServer {
    /// Connects, creates the streams and consumers when they do not exist, and starts
    /// consuming on a runtime of its own. Fails when the cluster cannot be reached or
    /// refuses the credential (the caller says so and exits).
    pub fn start(opts: ServerOptions) -> Result<FleetServer, FleetError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fleet-server")
            .enable_all()
            .build()
            .map_err(FleetError::Runtime)?;
        let registry = Arc::new(Registry::new(opts.expected.clone(), opts.coverage_window));
        // The per-host volume counts what the store holds, so a restart does not reset it;
        // nothing is consumed yet, so nothing is counted twice.
        match opts.store.host_counts() {
            Ok(hosts) => {
                for (host, n) in hosts {
                    registry.alerts(&host, n);
                }
            }
            Err(e) => log::warn!("fleet: counting the stored alerts per host: {e}"),
        }
        let fleet = opts.fleet.clone();
        let (alerts, heartbeats) = runtime.block_on(async {
            let client = connect(&fleet, "peregrine-server", None).await?;
            let js = jetstream::new(client);
            let (a, h) = stream_names(&fleet.subject_prefix);
            let prefix = &fleet.subject_prefix;
            let alerts = ensure(
                &js,
                stream::Config {
                    name: a,
                    subjects: vec![format!("{prefix}.alerts.>")],
                    num_replicas: fleet.stream_replicas,
                    max_age: opts.alerts_max_age.unwrap_or(ALERTS_AGE),
                    // The agents' spools retry with the same id: the stream drops repeats
                    // published within this window.
                    duplicate_window: Duration::from_secs(120),
                    ..Default::default()
                },
                // Durable, explicit acks: a restarted server resumes where it acknowledged.
                pull::Config {
                    durable_name: Some(DURABLE.into()),
                    ack_wait: Duration::from_secs(30),
                    // One ack for the batch: acknowledging its last message acknowledges
                    // every earlier one, which the store has committed too.
                    ack_policy: jetstream::consumer::AckPolicy::All,
                    // The batch being stored, the ones waiting and the one being fetched are
                    // all unacknowledged at once (the server's default allows one batch).
                    max_ack_pending: i64::try_from((IN_FLIGHT + 3) * BATCH).unwrap_or(i64::MAX),
                    ..Default::default()
                },
            )
            .await?;
            let heartbeats = ensure(
                &js,
                stream::Config {
                    name: h,
                    subjects: vec![format!("{prefix}.heartbeat.>")],
                    num_replicas: fleet.stream_replicas,
                    max_age: HEARTBEAT_AGE,
                    max_messages_per_subject: 16,
                    ..Default::default()
                },
                // Coverage is rebuilt at every start from each host's latest heartbeat, then
                // follows the new ones; nothing to acknowledge (a heartbeat is superseded by
                // the next one, not lost).
                pull::Config {
                    deliver_policy: jetstream::consumer::DeliverPolicy::LastPerSubject,
                    filter_subject: format!("{prefix}.heartbeat.>"),
                    ack_policy: jetstream::consumer::AckPolicy::None,
                    inactive_threshold: Duration::from_secs(300),
                    ..Default::default()
                },
            )
            .await?;
            Ok::<_, FleetError>((alerts, heartbeats))
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let (reg, st) = (registry.clone(), stop.clone());
        let sink = Sink {
            store: opts.store.clone(),
            on_stored: opts.on_stored.clone(),
            hold_until: opts.hold_until.clone(),
        };
        let prefix = opts.fleet.subject_prefix.clone();
        let thread = std::thread::Builder::new()
            .name("fleet-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let a = tokio::spawn(consume_alerts(
                        alerts,
                        sink,
                        reg.clone(),
                        prefix.clone(),
                        st.clone(),
                    ));
                    let h = tokio::spawn(consume_heartbeats(heartbeats, reg, prefix, st));
                    let _ = a.await;
                    let _ = h.await;
                });
            })
            .map_err(FleetError::Runtime)?;
        Ok(FleetServer {
            registry,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops consuming (a batch in flight is stored and acknowledged first).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FleetServer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The stream (created with `cfg` when missing) and a consumer on it made by `consumer`. On a
/// fresh cluster the JetStream leader may not be elected yet: retried for a while.
async fn ensure(
    js: &jetstream::Context,
    cfg: stream::Config,
    consumer: pull::Config,
) -> Result<jetstream::consumer::Consumer<pull::Config>, FleetError> {
    let name = cfg.name.clone();
    let mut last = String::new();
    for _ in 0..30 {
        let made = async {
            let s = js
                .get_or_create_stream(cfg.clone())
                .await
                .map_err(|e| e.to_string())?;
            match &consumer.durable_name {
                Some(d) => s.get_or_create_consumer(d, consumer.clone()).await,
                None => s.create_consumer(consumer.clone()).await,
            }
            .map_err(|e| e.to_string())
        };
        match made.await {
            Ok(c) => return Ok(c),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(FleetError::Stream { name, reason: last })
}

/// The next batch, or an empty one after a fetch error (logged; the loop tries again).
async fn fetch(
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    what: &str,
) -> Vec<jetstream::Message> {
    let batch = consumer
        .fetch()
        .max_messages(BATCH)
        .expires(FETCH_WAIT)
        .messages()
        .await;
    let mut batch = match batch {
        Ok(b) => b,
        Err(e) => {
            log::warn!("fleet: fetching {what}: {e}");
            tokio::time::sleep(Duration::from_millis(500)).await;
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    while let Some(m) = batch.next().await {
        match m {
            Ok(m) => out.push(m),
            Err(e) => {
                log::warn!("fleet: fetching {what}: {e}");
                break;
            }
        }
    }
    out
}

/// Acknowledges the batch (the consumer's policy is `All`: its last message stands for it).
async fn ack_batch(msgs: &[jetstream::Message]) {
    if let Some(last) = msgs.last() {
        // A lost ack means a redelivery, which the store's id check absorbs.
        if let Err(e) = last.ack().await {
            log::debug!("fleet: ack: {e}");
        }
    }
}

fn published_ns(m: &jetstream::Message) -> Option<u64> {
    let info = m.info().ok()?;
    u64::try_from(info.published.unix_timestamp_nanos()).ok()
}

/// A parsed batch on its way to the store, with the messages to acknowledge once stored.
struct Parsed {
    msgs: Vec<jetstream::Message>,
    records: Arc<Vec<Record>>,
    redelivered: Arc<Vec<String>>,
}

/// The fetch-and-parse stage: hands each batch to [`store_alerts`] through `tx`, waiting while
/// the store is [`IN_FLIGHT`] batches behind.
async fn consume_alerts(
    consumer: jetstream::consumer::Consumer<pull::Config>,
    sink: Sink,
    reg: Arc<Registry>,
    prefix: String,
    stop: Arc<AtomicBool>,
) {
    if let Some(ready) = &sink.hold_until {
        let t0 = std::time::Instant::now();
        while !ready() && !stop.load(Ordering::Relaxed) {
            if t0.elapsed() >= HOLD_MAX {
                log::warn!("fleet: consuming alerts before the console counted the store");
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel(IN_FLIGHT);
    let storing = tokio::spawn(store_alerts(rx, sink, reg.clone(), stop.clone()));
    while !stop.load(Ordering::Relaxed) {
        let msgs = fetch(&consumer, "alerts").await;
        if msgs.is_empty() {
            continue;
        }
        let (records, redelivered) = parse_alerts(&msgs, &reg, &prefix);
        let batch = Parsed {
            msgs,
            records: Arc::new(records),
            redelivered: Arc::new(redelivered),
        };
        if tx.send(batch).await.is_err() {
            // The store stage stopped.
            break;
        }
    }
    drop(tx);
    let _ = storing.await;
}

/// The alerts of a fetched batch as records (the ids of redelivered ones apart); anything
/// else is counted as bad.
fn parse_alerts(
    msgs: &[jetstream::Message],
    reg: &Registry,
    prefix: &str,
) -> (Vec<Record>, Vec<String>) {
    let mut records: Vec<Record> = Vec::with_capacity(msgs.len());
    let mut redelivered = Vec::new();
    for m in msgs {
        let host = match message::subject_host(&m.subject, prefix, "alerts") {
            Ok(h) => h,
            Err(e) => {
                bad_alert(reg, &e);
                continue;
            }
        };
        let info = m.info().ok();
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str().to_string())
            .filter(|s| !s.is_empty() && s.len() <= 128)
            .unwrap_or_else(|| format!("nats-{}", info.as_ref().map_or(0, |i| i.stream_sequence)));
        match message::alert_record(host, id, &m.payload) {
            Ok(r) => {
                if info.as_ref().is_some_and(|i| i.delivered > 1) {
                    redelivered.push(r.id.clone());
                }
                records.push(r);
            }
            Err(e) => bad_alert(reg, &e),
        }
    }
    (records, redelivered)
}

/// Where stored alerts go: the store, then whoever watches it.
struct Sink {
    store: Arc<dyn AlertStore>,
    on_stored: Option<peregrine_store::writer::OnStored>,
    hold_until: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
}

/// The store stage: each batch in one transaction on a blocking thread, then acknowledged.
async fn store_alerts(
    mut rx: tokio::sync::mpsc::Receiver<Parsed>,
    sink: Sink,
    reg: Arc<Registry>,
    stop: Arc<AtomicBool>,
) {
    while let Some(Parsed {
        msgs,
        records,
        redelivered,
    }) = rx.recv().await
    {
        // The same batch until it is stored: acknowledging a later batch would acknowledge
        // this one too (`AckPolicy::All`). On stop it stays unacknowledged, for the next run
        // (and so do the batches behind it: they are dropped unacknowledged).
        loop {
            let (s, batch, again) = (sink.store.clone(), records.clone(), redelivered.clone());
            let hook = sink.on_stored.clone();
            let stored = tokio::task::spawn_blocking(move || {
                let done = store_batch(&*s, &batch, &again)?;
                if let Some(h) = hook {
                    h(done.fresh.as_deref().unwrap_or(&batch[..]));
                }
                Ok::<_, peregrine_store::StoreError>(done)
            })
            .await;
            match stored {
                Ok(Ok(Stored {
                    added,
                    dup,
                    per_host,
                    ..
                })) => {
                    let c = &reg.counters;
                    c.alerts_stored.fetch_add(added as u64, Ordering::Relaxed);
                    c.duplicates.fetch_add(dup, Ordering::Relaxed);
                    for (h, n) in per_host {
                        reg.alerts(&h, n);
                    }
                    ack_batch(&msgs).await;
                    break;
                }
                Ok(Err(e)) => {
                    reg.counters.store_errors.fetch_add(1, Ordering::Relaxed);
                    log::error!("fleet: storing {} alerts (retrying): {e}", records.len());
                }
                Err(e) => {
                    reg.counters.store_errors.fetch_add(1, Ordering::Relaxed);
                    log::error!("fleet: the store task failed (retrying): {e}");
                }
            }
            if stop.load(Ordering::Relaxed) {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// What [`store_batch`] did.
struct Stored {
    added: usize,
    dup: u64,
    /// Alerts added per host.
    per_host: std::collections::BTreeMap<String, u64>,
    /// The alerts the store did not have before, when not all of the batch.
    fresh: Option<Vec<Record>>,
}

/// Stores `records`. A redelivered message may be stored already: those ids are looked up
/// first, so the per-host volume and the console count each alert once.
fn store_batch(
    store: &dyn AlertStore,
    records: &[Record],
    redelivered: &[String],
) -> Result<Stored, peregrine_store::StoreError> {
    let mut known = BTreeSet::new();
    for id in redelivered {
        if store.get(id)?.is_some() {
            known.insert(id.as_str());
        }
    }
    // The common case, nothing stored before: the batch as it is, without a copy.
    let fresh = (!known.is_empty()).then(|| {
        records
            .iter()
            .filter(|r| !known.contains(r.id.as_str()))
            .cloned()
            .collect::<Vec<_>>()
    });
    let new = fresh.as_deref().unwrap_or(records);
    let added = store.insert(new)?;
    let dup = (records.len() - added.min(records.len())) as u64;
    let mut per_host = std::collections::BTreeMap::new();
    for r in new {
        *per_host.entry(r.hostname.clone()).or_default() += 1;
    }
    Ok(Stored {
        added,
        dup,
        per_host,
        fresh,
    })
}

fn bad_alert(reg: &Registry, e: &message::Bad) {
    reg.counters.bad_alerts.fetch_add(1, Ordering::Relaxed);
    log::warn!(
        "fleet: skipped a message on the alerts stream: {}",
        peregrine_filter::escape::terminal_safe(&e.to_string())
    );
}

async fn consume_heartbeats(
    consumer: jetstream::consumer::Consumer<pull::Config>,
    reg: Arc<Registry>,
    prefix: String,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let msgs = fetch(&consumer, "heartbeats").await;
        for m in &msgs {
            let parsed = message::subject_host(&m.subject, &prefix, "heartbeat")
                .and_then(|host| message::heartbeat(host, &m.payload));
            match (parsed, published_ns(m)) {
                (Ok(hb), Some(at)) => {
                    reg.counters.heartbeats.fetch_add(1, Ordering::Relaxed);
                    reg.heartbeat(hb, at);
                }
                (Ok(_), None) => {
                    reg.counters.bad_heartbeats.fetch_add(1, Ordering::Relaxed);
                }
                (Err(e), _) => {
                    reg.counters.bad_heartbeats.fetch_add(1, Ordering::Relaxed);
                    log::warn!(
                        "fleet: skipped a message on the heartbeat stream: {}",
                        peregrine_filter::escape::terminal_safe(&e.to_string())
                    );
                }
            }
        }
    }
}
