//! The delivery queue between the engine and the outputs.
//!
//! Key decisions:
//! - **One bounded queue and one worker thread per output.** A slow or dead output fills
//!   only its own queue and loses only its own alerts; Falco's single shared queue lets one
//!   stuck HTTP endpoint delay stdout too. The cost is one thread per enabled output.
//! - **Enqueue never blocks and never formats.** The caller pays for one `Arc` and, per
//!   output, a short uncontended lock and a push; the line is formatted lazily by whichever
//!   worker needs it first and shared by the others (`OnceLock`), so formatting happens
//!   once, off the event path.
//! - **No wake-up per alert under load.** A worker that has just delivered a batch lingers
//!   ([`LINGER`]) and looks again instead of parking, so during an alert storm enqueue never
//!   makes a futex call; only the first alert after an idle spell wakes a parked worker.
//!   Measured here, a wake-up per alert cost the caller ≈ 2.5 µs (1 output) to ≈ 15 µs
//!   (3 outputs). The price is up to [`LINGER`] of extra latency inside a burst.
//! - **Every lost alert is counted** per output and cause (queue full, write error,
//!   abandoned at shutdown); a full queue is never waited on.
//! - **A spooled output's worker is the spool's only user.** It moves what its queue holds
//!   into the spool (one commit per batch), then delivers from the spool's head, removing
//!   what the destination accepted; an unavailable destination is retried after a capped
//!   exponential backoff while new alerts keep flowing into the spool, so the queue in front
//!   stays short and enqueue still never waits.
//! - **Reopen is a generation number**, not a queue message, so it works even when a queue
//!   is full; an idle worker applies it within [`REOPEN_POLL`].

use crate::alert::Alert;
use crate::counters::{Counters, OutputStats, Snapshot};
use crate::format::FormatOptions;
use crate::output::{Output, OutputError};
use crate::ratelimit::TokenBucket;
use crate::route::Route;
use crate::spool::{Record, Spool};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Per-output queue length used when `outputs_queue.capacity` is 0 (Falco's "unbounded"):
/// Peregrine never queues without bound.
pub const DEFAULT_CAPACITY: usize = 16_384;
/// How often an idle worker looks for a pending reopen.
pub const REOPEN_POLL: Duration = Duration::from_millis(200);
/// How long a worker that just emptied its queue waits before parking.
pub const LINGER: Duration = Duration::from_millis(1);
/// The most alerts a worker takes off its queue at once (they stop counting against the
/// queue's capacity once taken).
const BATCH: usize = 64;

/// A bounded multi-producer queue whose consumer is woken only when it is parked.
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
    capacity: usize,
}

struct QueueState {
    items: VecDeque<Arc<Delivery>>,
    parked: bool,
    closed: bool,
}

enum Take {
    Batch(Vec<Arc<Delivery>>),
    Idle,
    Closed,
}

impl Queue {
    fn new(capacity: usize) -> Queue {
        Queue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                parked: false,
                closed: false,
            }),
            ready: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // Nothing in the state can be left half-updated by a panic: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// False when the queue is full or closed.
    fn push(&self, d: Arc<Delivery>) -> bool {
        let mut st = self.lock();
        if st.closed || st.items.len() >= self.capacity {
            return false;
        }
        st.items.push_back(d);
        let wake = st.parked;
        drop(st);
        if wake {
            self.ready.notify_one();
        }
        true
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// Takes up to [`BATCH`] alerts; parks up to `wait` when there are none.
    fn take(&self, wait: Duration) -> Take {
        let mut st = self.lock();
        if st.items.is_empty() && !st.closed {
            st.parked = true;
            st = self
                .ready
                .wait_timeout_while(st, wait, |s| s.items.is_empty() && !s.closed)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
            st.parked = false;
        }
        if !st.items.is_empty() {
            let n = st.items.len().min(BATCH);
            Take::Batch(st.items.drain(..n).collect())
        } else if st.closed {
            Take::Closed
        } else {
            Take::Idle
        }
    }

    fn drain_count(&self) -> usize {
        let mut st = self.lock();
        let n = st.items.len();
        st.items.clear();
        n
    }
}

/// An output and how the queue treats it.
pub struct OutputSpec {
    pub output: Box<dyn Output>,
    /// Which alerts this output takes (Peregrine extension: `min_priority` and `match`).
    pub route: Route,
    /// Queue length; 0 means [`DEFAULT_CAPACITY`].
    pub capacity: usize,
    /// The output's on-disk spool, if it has one: alerts go through it (at-least-once
    /// delivery with a stable id and retries) instead of straight to the output.
    pub spool: Option<Spool>,
    /// How long a spooled output waits before trying an unavailable destination again.
    pub retry: Backoff,
}

impl OutputSpec {
    pub fn new(output: Box<dyn Output>) -> OutputSpec {
        OutputSpec {
            output,
            route: Route::default(),
            capacity: 0,
            spool: None,
            retry: Backoff::default(),
        }
    }
}

/// Default first wait before a spooled output tries an unavailable destination again.
pub const RETRY_FIRST: Duration = Duration::from_millis(100);
/// Default longest wait between two attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(10);

/// The capped exponential backoff of a spooled output (`<output>.retry`): the first wait after
/// a failed attempt is `initial`, each further failure doubles it up to `max`, and a success
/// starts over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: RETRY_FIRST,
            max: RETRY_MAX,
        }
    }
}
/// The most alerts a spooled output moves from its queue into the spool in one commit.
const SPOOL_BATCH: usize = 4096;
/// How long a spooled output keeps delivering from its spool while new alerts wait in its
/// queue: bounds how long an alert stays in memory before it is spooled, and lets one spool
/// commit serve many delivered batches under load.
const DELIVER_STRETCH: Duration = Duration::from_millis(25);
/// How often a spool that drops alerts (full) says so in the log, at most.
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// The `outputs.rate` / `outputs.max_burst` pair; `rate == 0` disables limiting.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RateLimit {
    pub rate: f64,
    pub max_burst: u64,
}

/// One alert on its way, shared by every queue it is in.
struct Delivery {
    alert: Alert,
    line: OnceLock<String>,
    enqueued: Instant,
}

struct Shared {
    format: FormatOptions,
    /// Set at the shutdown deadline: workers stop writing and count what is left.
    abandon: AtomicBool,
}

struct Worker {
    name: String,
    abort: Option<crate::output::AbortHandle>,
    queue: Arc<Queue>,
    route: Route,
    stats: Arc<OutputStats>,
    reopen: Arc<AtomicU64>,
    spooled: bool,
    handle: Option<JoinHandle<()>>,
}

/// What [`Dispatcher::enqueue`] did with an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued for this many outputs (0 when every output filtered it out or was full).
    Queued(usize),
    /// Refused by the rate limiter.
    RateLimited,
}

/// How the shutdown went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Outputs whose worker had not finished at the deadline (blocked in a write); their
    /// threads are left to finish or die with the process.
    pub unfinished: Vec<String>,
}

/// Routes alerts to outputs through bounded per-output queues.
pub struct Dispatcher {
    shared: Arc<Shared>,
    workers: Vec<Worker>,
    counters: Arc<Counters>,
    limiter: Option<Mutex<TokenBucket>>,
    started: Instant,
    done_rx: Receiver<usize>,
}

impl Dispatcher {
    /// Starts one worker thread per output.
    pub fn new(
        format: FormatOptions,
        outputs: Vec<OutputSpec>,
        rate: RateLimit,
    ) -> Result<Dispatcher, OutputError> {
        let shared = Arc::new(Shared {
            format,
            abandon: AtomicBool::new(false),
        });
        let (done_tx, done_rx) = mpsc::channel();
        let mut workers = Vec::with_capacity(outputs.len());
        for (index, spec) in outputs.into_iter().enumerate() {
            let name = spec.output.name().to_string();
            let capacity = if spec.capacity == 0 {
                DEFAULT_CAPACITY
            } else {
                spec.capacity
            };
            let queue = Arc::new(Queue::new(capacity));
            let stats = Arc::new(OutputStats::default());
            let reopen = Arc::new(AtomicU64::new(0));
            let abort = spec.output.abort_handle();
            let spooled = spec.spool.is_some();
            if let Some(sp) = &spec.spool {
                stats.spool_pending.store(sp.len(), Relaxed);
                stats.spool_bytes.store(sp.bytes(), Relaxed);
            }
            let spool = spec.spool;
            let retry = spec.retry;
            let own_format = spec.output.format();
            let ctx = WorkerCtx {
                own_format,
                output: spec.output,
                queue: queue.clone(),
                shared: shared.clone(),
                stats: stats.clone(),
                reopen: reopen.clone(),
                seen_reopen: 0,
                failures: Default::default(),
                unavailable_since: None,
            };
            let done = done_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("output-{name}"))
                .spawn(move || {
                    match spool {
                        Some(spool) => ctx.run_spooled(spool, retry),
                        None => ctx.run(),
                    }
                    let _ = done.send(index);
                })
                .map_err(|source| OutputError::Spawn {
                    output: name.clone(),
                    source,
                })?;
            workers.push(Worker {
                name,
                abort,
                queue,
                route: spec.route,
                stats,
                reopen,
                spooled,
                handle: Some(handle),
            });
        }
        let started = Instant::now();
        let limiter =
            (rate.rate > 0.0).then(|| Mutex::new(TokenBucket::new(rate.rate, rate.max_burst, 0)));
        Ok(Dispatcher {
            shared,
            workers,
            counters: Arc::new(Counters::default()),
            limiter,
            started,
            done_rx,
        })
    }

    /// Hands an alert to every output whose route takes it (counted as `filtered` by the
    /// others). Never blocks: an output whose queue is full loses the alert and counts it.
    pub fn enqueue(&self, alert: Alert) -> Enqueued {
        self.counters.count_alert(&alert.rule, alert.priority);
        // Internal notifications have their own token bucket (Falco's `handle_msg` bypasses
        // the alert rate limiter).
        let limited = alert.source != crate::format::INTERNAL_SOURCE;
        if let Some(limiter) = self.limiter.as_ref().filter(|_| limited) {
            let now = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            let mut bucket = limiter.lock().unwrap_or_else(|p| p.into_inner());
            if !bucket.claim(now) {
                self.counters.count_rate_limited();
                return Enqueued::RateLimited;
            }
        }
        let delivery = Arc::new(Delivery {
            alert,
            line: OnceLock::new(),
            enqueued: Instant::now(),
        });
        let mut queued = 0;
        for w in &self.workers {
            if !w.route.accepts(&delivery.alert) {
                w.stats.filtered.fetch_add(1, Relaxed);
                continue;
            }
            if w.queue.push(delivery.clone()) {
                w.stats.enqueued.fetch_add(1, Relaxed);
                queued += 1;
            } else {
                w.stats.dropped_queue_full.fetch_add(1, Relaxed);
            }
        }
        Enqueued::Queued(queued)
    }

    /// Records one detection's delay for the time-to-detect histogram: `event_ns` is the
    /// event's (kernel) time, `now_ns` when the engine emitted the alert, both ns since the
    /// epoch. The caller decides which alerts count (live events, not replayed ones).
    pub fn observe_detect(&self, event_ns: u64, now_ns: u64) {
        self.counters.observe_detect(event_ns, now_ns);
    }

    /// Asks every output to close and reopen what it holds (files, pipes, sockets) before
    /// its next write. Safe to call from the thread that handles SIGUSR1.
    pub fn reopen(&self) {
        for w in &self.workers {
            w.reopen.fetch_add(1, Relaxed);
        }
    }

    /// The names of the outputs, in the order given.
    pub fn output_names(&self) -> Vec<&str> {
        self.workers.iter().map(|w| w.name.as_str()).collect()
    }

    /// A copy of all counters.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(
            &self.counters,
            self.workers
                .iter()
                .map(|w| w.stats.snapshot(&w.name))
                .collect(),
        )
    }

    /// Joins workers as they report done, until none of the `pending` ones is left or `until`
    /// passes; `pending` is decremented for each one joined.
    fn join_finished(&mut self, pending: &mut usize, until: Instant) {
        while *pending > 0 {
            let left = until.saturating_duration_since(Instant::now());
            match self.done_rx.recv_timeout(left) {
                Ok(i) => {
                    *pending -= 1;
                    if let Some(h) = self.workers.get_mut(i).and_then(|w| w.handle.take()) {
                        let _ = h.join();
                    }
                }
                Err(_) => break,
            }
        }
    }

    /// Stops accepting alerts, lets every output drain its queue until `deadline` from now,
    /// then abandons (and counts) what is left. Outputs are flushed.
    pub fn shutdown(mut self, deadline: Duration) -> (ShutdownReport, Snapshot) {
        let until = Instant::now() + deadline;
        for w in &self.workers {
            w.queue.close();
        }
        let mut pending = self.workers.len();
        self.join_finished(&mut pending, until);
        if pending > 0 {
            self.shared.abandon.store(true, Relaxed);
            // Workers that are between writes notice the flag promptly; give them a moment
            // to count what they abandon.
            self.join_finished(&mut pending, Instant::now() + REOPEN_POLL);
        }
        let mut unfinished = Vec::new();
        for w in self.workers.iter().filter(|w| w.handle.is_some()) {
            // A worker stuck in a write never counts what it holds: the alert being written,
            // the rest of its batch and its queue. Everything enqueued and not yet delivered,
            // failed or abandoned is lost now; write it off so the summary is exact.
            let s = &w.stats;
            // A spooled output's alerts are safe once in the spool, delivered or not.
            let settled = if w.spooled {
                s.spooled.load(Relaxed) + s.unspooled.load(Relaxed) + s.abandoned.load(Relaxed)
            } else {
                s.delivered.load(Relaxed)
                    + s.failed_writes.load(Relaxed)
                    + s.abandoned.load(Relaxed)
            };
            let outstanding = s.enqueued.load(Relaxed).saturating_sub(settled);
            s.abandoned.fetch_add(outstanding, Relaxed);
            if let Some(abort) = &w.abort {
                abort();
            }
            unfinished.push(w.name.clone());
        }
        (ShutdownReport { unfinished }, self.snapshot())
    }
}

impl Drop for Dispatcher {
    /// Dropped without [`Dispatcher::shutdown`]: workers deliver what is queued and exit
    /// on their own.
    fn drop(&mut self) {
        for w in &self.workers {
            w.queue.close();
        }
    }
}

/// Wall-clock now, ns since the Unix epoch (spooled alerts outlive the process, so their
/// times cannot be `Instant`s).
fn epoch_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

struct WorkerCtx {
    /// The sink's own format ([`Output::format`]), instead of the shared line.
    own_format: Option<FormatOptions>,
    output: Box<dyn Output>,
    queue: Arc<Queue>,
    shared: Arc<Shared>,
    stats: Arc<OutputStats>,
    reopen: Arc<AtomicU64>,
    seen_reopen: u64,
    failures: crate::failures::FailureLog,
    /// Spooled outputs: when the destination became unavailable (logged once, with its
    /// recovery; nothing is lost meanwhile).
    unavailable_since: Option<Instant>,
}

impl WorkerCtx {
    fn run(mut self) {
        loop {
            match self.queue.take(REOPEN_POLL) {
                Take::Batch(batch) => {
                    self.apply_reopen();
                    let mut rest = batch.iter();
                    for d in rest.by_ref() {
                        if self.shared.abandon.load(Relaxed) {
                            self.stats.abandoned.fetch_add(1, Relaxed);
                            break;
                        }
                        self.deliver(d);
                    }
                    if self.shared.abandon.load(Relaxed) {
                        let left = rest.count() + self.queue.drain_count();
                        self.stats.abandoned.fetch_add(left as u64, Relaxed);
                        break;
                    }
                    // Linger instead of parking: more alerts are likely to follow, and
                    // they can then be queued without waking this thread.
                    std::thread::sleep(LINGER);
                }
                Take::Idle => {
                    if self.shared.abandon.load(Relaxed) {
                        break;
                    }
                    self.apply_reopen();
                    if let Err(e) = self.output.flush() {
                        self.stats.count_error(&e);
                    }
                }
                Take::Closed => break,
            }
        }
        if let Err(e) = self.output.flush() {
            self.stats.count_error(&e);
        }
    }

    /// The loop of an output with a spool: queue → spool → destination.
    fn run_spooled(mut self, mut spool: Spool, retry: Backoff) {
        let mut backoff = retry.initial;
        // Set after a failed attempt: no delivery before then.
        let mut retry_at: Option<Instant> = None;
        let mut closed = false;
        let mut last_drop_log: Option<Instant> = None;
        loop {
            if self.shared.abandon.load(Relaxed) {
                let left = self.queue.drain_count();
                self.stats.abandoned.fetch_add(left as u64, Relaxed);
                break;
            }
            let now = Instant::now();
            let due = retry_at.is_none_or(|t| now >= t);
            if !closed {
                let wait = match retry_at {
                    _ if due && !spool.is_empty() => Duration::ZERO,
                    Some(t) if !spool.is_empty() => (t - now).min(REOPEN_POLL),
                    _ => REOPEN_POLL,
                };
                match self.take_many(wait) {
                    Some(batch) if !batch.is_empty() => {
                        self.absorb(&mut spool, &batch, &mut last_drop_log);
                    }
                    Some(_) => {
                        self.apply_reopen();
                        if spool.is_empty() {
                            if let Err(e) = self.output.flush() {
                                self.stats.count_error(&e);
                            }
                            self.sync_spool(&mut spool);
                        }
                    }
                    None => closed = true,
                }
            }
            if spool.is_empty() {
                if closed {
                    break;
                }
                continue;
            }
            if retry_at.is_some_and(|t| Instant::now() < t) {
                if closed {
                    // Shutting down with the destination unavailable: the spool keeps the
                    // rest for the next run.
                    break;
                }
                continue;
            }
            self.apply_reopen();
            match self.deliver_spooled(&mut spool) {
                Ok(()) => {
                    backoff = retry.initial;
                    retry_at = None;
                }
                Err(()) => {
                    retry_at = Some(Instant::now() + backoff);
                    backoff = backoff.saturating_mul(2).min(retry.max);
                }
            }
        }
        if let Err(e) = self.output.flush() {
            self.stats.count_error(&e);
        }
        self.sync_spool(&mut spool);
    }

    fn sync_spool(&self, spool: &mut Spool) {
        if let Err(e) = spool.sync() {
            // Only duplicates are at stake (removals a crash would undo).
            log::warn!("{} output: {e}", self.output.name());
        }
    }

    /// Everything queued, up to [`SPOOL_BATCH`], waiting up to `wait` for the first alert;
    /// `None` once the queue is closed and empty.
    fn take_many(&self, wait: Duration) -> Option<Vec<Arc<Delivery>>> {
        let mut all = match self.queue.take(wait) {
            Take::Batch(b) => b,
            Take::Idle => return Some(Vec::new()),
            Take::Closed => return None,
        };
        while all.len() < SPOOL_BATCH {
            match self.queue.take(Duration::ZERO) {
                Take::Batch(b) => all.extend(b),
                Take::Idle | Take::Closed => break,
            }
        }
        Some(all)
    }

    /// Commits `batch` to the spool (formatting each alert once).
    fn absorb(&self, spool: &mut Spool, batch: &[Arc<Delivery>], last_log: &mut Option<Instant>) {
        let now_ns = epoch_ns();
        let records: Vec<Record> = batch
            .iter()
            .map(|d| {
                let line = self.line(d);
                let age = u64::try_from(d.enqueued.elapsed().as_nanos()).unwrap_or(u64::MAX);
                Record::new(d.alert.priority, now_ns.saturating_sub(age), line)
            })
            .collect();
        let n = records.len() as u64;
        match spool.append(&records) {
            Ok(a) => {
                self.stats.spooled.fetch_add(n, Relaxed);
                if a.dropped > 0 {
                    let total = self.stats.spool_dropped.fetch_add(a.dropped, Relaxed) + a.dropped;
                    if last_log.is_none_or(|t| t.elapsed() >= DROP_LOG_EVERY) {
                        *last_log = Some(Instant::now());
                        log::warn!(
                            "{} output: spool {} full: dropped the oldest alerts ({total} so far)",
                            self.output.name(),
                            spool.path().display()
                        );
                    }
                }
            }
            Err(e) => {
                self.stats.unspooled.fetch_add(n, Relaxed);
                self.stats.errors.fetch_add(n, Relaxed);
                *self
                    .stats
                    .last_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                log::error!("{} output: {n} alerts lost: {e}", self.output.name());
            }
        }
        self.publish_spool(spool);
    }

    /// Delivers from the spool's head until it is empty, the destination is unavailable
    /// (`Err`) or new alerts are waiting to be spooled.
    fn deliver_spooled(&mut self, spool: &mut Spool) -> Result<(), ()> {
        let started = Instant::now();
        let result = loop {
            let head = match spool.peek(BATCH) {
                Ok(h) => h,
                Err(e) => {
                    self.stats.note_retry(&OutputError::Unavailable {
                        output: "spool",
                        target: spool.path().display().to_string(),
                        reason: e.to_string(),
                    });
                    break Err(());
                }
            };
            if head.is_empty() {
                break Ok(());
            }
            let mut done = Vec::with_capacity(head.len());
            let mut outcome = Ok(());
            if self.shared.abandon.load(Relaxed) {
                break Err(());
            }
            let ids: Vec<String> = head
                .iter()
                .map(|(_, r)| r.id.hyphenated().to_string())
                .collect();
            let items: Vec<crate::output::Item<'_>> = head
                .iter()
                .zip(&ids)
                .map(|((_, r), id)| crate::output::Item {
                    line: &r.line,
                    priority: r.priority,
                    id,
                })
                .collect();
            let results = self.output.write_batch(&items);
            // In order: an alert after a transient failure stays spooled even if it went
            // through (a pipelined batch), so the spool's order holds; it is sent again
            // under the same id.
            for ((key, r), result) in head.iter().zip(results) {
                let name = self.output.name().to_string();
                match result {
                    Ok(()) => {
                        self.stats.delivered.fetch_add(1, Relaxed);
                        let ns = epoch_ns().saturating_sub(r.enqueued_ns);
                        self.stats.observe_latency(Duration::from_nanos(ns));
                        done.push(*key);
                        if let Some(since) = self.unavailable_since.take() {
                            log::warn!(
                                "Output {name} delivers again (unavailable for {:.1} s)",
                                since.elapsed().as_secs_f64()
                            );
                        }
                        if let Some(line) = self.failures.succeeded(&name) {
                            log::warn!("{line}");
                        }
                    }
                    Err(e) if e.is_transient() => {
                        self.stats.note_retry(&e);
                        if self.unavailable_since.is_none() {
                            self.unavailable_since = Some(Instant::now());
                            log::warn!(
                                "Output {name} unavailable, alerts kept in its spool and \
                                 retried: {}",
                                peregrine_filter::escape::terminal_safe(&e.to_string())
                            );
                        }
                        outcome = Err(());
                        break;
                    }
                    Err(e) => {
                        // Refused for good (a 4xx): retrying cannot help.
                        self.stats.failed_writes.fetch_add(1, Relaxed);
                        self.stats.count_error(&e);
                        done.push(*key);
                        if let Some(line) =
                            self.failures.failed(&name, &e.to_string(), Instant::now())
                        {
                            log::error!("{line}");
                        }
                    }
                }
            }
            if outcome.is_ok() && done.len() < head.len() {
                // The sink stopped short without saying why: try the rest later.
                outcome = Err(());
            }
            if let Err(e) = spool.remove(&done) {
                // Delivered but still spooled: they will be sent again (duplicates, by id).
                log::warn!("{} output: {e}", self.output.name());
                outcome = Err(());
            }
            self.publish_spool(spool);
            if outcome.is_err() {
                break outcome;
            }
            // New alerts wait in the queue (not yet durable): go back and spool them, but only
            // after a stretch of delivery. Under a steady stream the queue is never empty, and
            // returning after every batch made each delivered batch cost a spool commit (an
            // fsync): measured with detection running, delivery then fell to ≈ 3,000/s.
            if !self.queue.lock().items.is_empty() && started.elapsed() >= DELIVER_STRETCH {
                break Ok(());
            }
        };
        result
    }

    fn publish_spool(&self, spool: &Spool) {
        self.stats.spool_pending.store(spool.len(), Relaxed);
        self.stats.spool_bytes.store(spool.bytes(), Relaxed);
    }

    /// The line this sink sends for `d`: the shared one, formatted once for every output,
    /// unless the sink has a format of its own.
    fn line(&self, d: &Delivery) -> String {
        match &self.own_format {
            Some(f) => f.format(&d.alert),
            None => d
                .line
                .get_or_init(|| self.shared.format.format(&d.alert))
                .clone(),
        }
    }

    fn deliver(&mut self, d: &Delivery) {
        let own;
        let line = match &self.own_format {
            Some(f) => {
                own = f.format(&d.alert);
                &own
            }
            None => d.line.get_or_init(|| self.shared.format.format(&d.alert)),
        };
        match self.output.write(line, d.alert.priority) {
            Ok(()) => {
                self.stats.delivered.fetch_add(1, Relaxed);
                self.stats.observe_latency(d.enqueued.elapsed());
                if let Some(line) = self.failures.succeeded(self.output.name()) {
                    log::warn!("{line}");
                }
            }
            Err(e) => {
                self.stats.failed_writes.fetch_add(1, Relaxed);
                self.stats.count_error(&e);
                let cause = e.to_string();
                if let Some(line) = self
                    .failures
                    .failed(self.output.name(), &cause, Instant::now())
                {
                    log::error!("{line}");
                }
            }
        }
    }

    fn apply_reopen(&mut self) {
        let gen = self.reopen.load(Relaxed);
        if gen != self.seen_reopen {
            self.seen_reopen = gen;
            if let Err(e) = self.output.reopen() {
                self.stats.count_error(&e);
            }
        }
    }
}
