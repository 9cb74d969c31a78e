//! The writer thread: the detection path hands records over a bounded channel and never
//! waits; the thread inserts them in batches (one transaction each) and applies retention
//! periodically.
//!
//! A transaction has a fixed cost besides its rows: each index page it changes (one per
//! distinct rule, container, tag… in the batch) is written to the WAL and checkpointed once,
//! and FTS5 writes one segment. Committing whatever is queued made the writer commit small
//! batches back to back under load and use a whole core at 20,000 alerts/s; so once a batch
//! came out large (the writer is behind), the next one waits up to [`LINGER`] to fill. A
//! trickle of alerts still commits at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::record::Record;
use crate::{AlertStore, StoreError};

/// Records waiting for the writer. At the measured insert rate (see README) this is well
/// under a second of work; a full channel means the disk cannot keep up, and the alert is
/// dropped from the store (the outputs still have it).
pub const CHANNEL: usize = 16_384;
/// Most records per transaction.
pub const BATCH: usize = 4_096;
/// Under load, the least time between two commits: how long the console's live queue can lag.
pub const LINGER: Duration = Duration::from_millis(50);
/// A batch at least this large means the writer is under load (the next one lingers).
const BUSY: usize = 64;

/// Retention settings of the writer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_age: Option<Duration>,
    pub max_bytes: Option<u64>,
    /// How often retention runs.
    pub every: Duration,
}

/// What the writer did, for the metrics.
#[derive(Debug, Default)]
pub struct WriterCounters {
    pub inserted: AtomicU64,
    /// Refused because the channel was full (or the writer gone).
    pub dropped: AtomicU64,
    /// Lost in a failed transaction.
    pub failed: AtomicU64,
    pub retained_deleted: AtomicU64,
}

/// See [`Writer::start_with`].
pub type OnStored = Arc<dyn Fn(&[Record]) + Send + Sync>;
/// Called on the writer thread after a retention run deleted alerts, with the store and how
/// many went; no insert runs meanwhile, so what it reads of the store and what [`OnStored`]
/// was given agree (the console lowers its overview's tally this way).
pub type OnRetained = Arc<dyn Fn(&dyn AlertStore, u64) + Send + Sync>;

/// What the writer calls besides the store; see [`Writer::start_hooked`].
#[derive(Clone, Default)]
pub struct Hooks {
    pub stored: Option<OnStored>,
    pub retained: Option<OnRetained>,
}

/// The sending side; dropping it (or [`Writer::finish`]) lets the thread drain and stop.
pub struct Writer {
    tx: Option<SyncSender<Record>>,
    counters: Arc<WriterCounters>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread over `store`.
    pub fn start(store: Arc<dyn AlertStore>, retention: Retention) -> Result<Writer, StoreError> {
        Self::start_with(store, retention, None)
    }

    /// [`Writer::start`], calling `stored` with each batch once it is in the store (the
    /// console's live queue); it runs on the writer thread, so it must not block.
    pub fn start_with(
        store: Arc<dyn AlertStore>,
        retention: Retention,
        stored: Option<OnStored>,
    ) -> Result<Writer, StoreError> {
        let hooks = Hooks {
            stored,
            retained: None,
        };
        Self::start_hooked(store, retention, hooks)
    }

    /// [`Writer::start_with`], calling `hooks.retained` after each retention run that
    /// deleted alerts.
    pub fn start_hooked(
        store: Arc<dyn AlertStore>,
        retention: Retention,
        hooks: Hooks,
    ) -> Result<Writer, StoreError> {
        let Hooks { stored, retained } = hooks;
        let (tx, rx) = mpsc::sync_channel::<Record>(CHANNEL);
        let counters = Arc::new(WriterCounters::default());
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("alert-store".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                let every = retention.every.max(Duration::from_secs(1));
                let retains = retention.max_age.is_some() || retention.max_bytes.is_some();
                let mut next_retain = Instant::now();
                let mut busy = false;
                let mut last_commit = Instant::now();
                loop {
                    let wait = next_retain.saturating_duration_since(Instant::now());
                    let first = rx.recv_timeout(if retains { wait } else { Duration::MAX });
                    let mut done = match first {
                        Ok(r) => {
                            batch.push(r);
                            false
                        }
                        Err(RecvTimeoutError::Timeout) => false,
                        Err(RecvTimeoutError::Disconnected) => true,
                    };
                    if !batch.is_empty() {
                        // Under load, fill the batch until LINGER after the last commit.
                        let until = last_commit + if busy { LINGER } else { Duration::ZERO };
                        while batch.len() < BATCH && !done {
                            match rx.try_recv() {
                                Ok(r) => batch.push(r),
                                Err(TryRecvError::Disconnected) => done = true,
                                Err(TryRecvError::Empty) => {
                                    let left = until.saturating_duration_since(Instant::now());
                                    if left.is_zero() {
                                        break;
                                    }
                                    match rx.recv_timeout(left) {
                                        Ok(r) => batch.push(r),
                                        Err(RecvTimeoutError::Timeout) => break,
                                        Err(RecvTimeoutError::Disconnected) => done = true,
                                    }
                                }
                            }
                        }
                    }
                    if !batch.is_empty() {
                        busy = batch.len() >= BUSY;
                        last_commit = Instant::now();
                        match store.insert(&batch) {
                            Ok(n) => {
                                c.inserted.fetch_add(n as u64, Ordering::Relaxed);
                                if let Some(f) = &stored {
                                    f(&batch);
                                }
                            }
                            Err(e) => {
                                c.failed.fetch_add(batch.len() as u64, Ordering::Relaxed);
                                log::error!("alert store: {} alerts not stored: {e}", batch.len());
                            }
                        }
                        batch.clear();
                    }
                    if retains && Instant::now() >= next_retain {
                        match store.retain(now_ns(), retention.max_age, retention.max_bytes) {
                            Ok(n) => {
                                c.retained_deleted.fetch_add(n, Ordering::Relaxed);
                                if let (Some(f), true) = (&retained, n > 0) {
                                    f(store.as_ref(), n);
                                }
                            }
                            Err(e) => log::error!("alert store: retention failed: {e}"),
                        }
                        next_retain = Instant::now() + every;
                    }
                    if done {
                        break;
                    }
                }
            })
            .map_err(StoreError::Thread)?;
        Ok(Writer {
            tx: Some(tx),
            counters,
            thread: Some(thread),
        })
    }

    /// Hands `r` to the writer without waiting; false (and counted) when the channel is full.
    pub fn offer(&self, r: Record) -> bool {
        let sent = match &self.tx {
            Some(tx) => match tx.try_send(r) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    pub fn counters(&self) -> Arc<WriterCounters> {
        self.counters.clone()
    }

    /// Stores what is queued and stops the thread.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Now, ns since the epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The store's series for the Prometheus page: what the writer did and the file's size.
pub fn prometheus_text(c: &WriterCounters, size_bytes: u64) -> String {
    let mut out = String::new();
    let mut series = |name: &str, kind: &str, help: &str, v: u64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
        ));
    };
    series(
        "peregrine_alert_store_inserted_total",
        "counter",
        "Alerts written to the alert store.",
        c.inserted.load(Ordering::Relaxed),
    );
    series(
        "peregrine_alert_store_dropped_total",
        "counter",
        "Alerts not stored because the store's queue was full.",
        c.dropped.load(Ordering::Relaxed),
    );
    series(
        "peregrine_alert_store_failed_total",
        "counter",
        "Alerts lost in a failed store transaction.",
        c.failed.load(Ordering::Relaxed),
    );
    series(
        "peregrine_alert_store_retention_deleted_total",
        "counter",
        "Alerts deleted by retention (age or size).",
        c.retained_deleted.load(Ordering::Relaxed),
    );
    series(
        "peregrine_alert_store_size_bytes",
        "gauge",
        "Bytes of the alert store on disk (database and write-ahead log).",
        size_bytes,
    );
    out
}
