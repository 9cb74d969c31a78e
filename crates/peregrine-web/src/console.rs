//! The web console (`console.enabled` with `alert_store.enabled`): HTML pages under
//! `/console/`, drawn in the browser by one hand-written script over the JSON API, plus the
//! two endpoints only the pages need.
//!
//! - `GET /console/` (overview), `/console/alerts`, `/console/alerts/{id}`, `/console/rules`,
//!   `/console/debug`: the same page shell; the script draws the page its path names.
//! - `GET /console/login`: the login form (posts to `/api/v1/login`, which sets the session
//!   cookie). A browser without a session asking for a page is redirected there.
//! - `GET /console/assets/{app.js,style.css}`: embedded in the binary (`include_str!`); no
//!   CDN, no external font, so the console works on a node that reaches nothing.
//! - `GET /api/v1/overview?window=1h|24h`: alerts per bucket and priority, the previous
//!   period's total, top rules, events/s, drops, time to detect p50/p95.
//! - `GET /api/v1/alerts/stream`: server-sent events, one `alert` event (a list row) per alert
//!   once it is stored.
//!
//! Key design decision: the live queue is a `tokio::sync::broadcast` channel fed by the
//! store's writer thread after each batch is inserted ([`Live::on_stored`]): sending never
//! waits, so detection and the writer never wait for a browser. Each client has a task that
//! moves rows from the channel into the client's own queue of [`CLIENT_QUEUE`] rows, which
//! its response drains as fast as the socket takes it. A client that does not read fills its
//! socket, then its queue; the task then disconnects it at once (and counts it), instead of
//! leaving it connected and silently skipping alerts; the page's `EventSource` reconnects and
//! reloads the list. The task notices even though the response is no longer polled (hyper
//! stops polling a body whose socket is full), which is why it exists. Publishing after the
//! insert means every id a browser receives can already be opened.
//!
//! Every page gets a Content-Security-Policy allowing only this origin's script and style:
//! the script builds the DOM with `textContent` (never HTML from data), and the policy is the
//! second line if that ever slips.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Extension;
use axum::Router;
use peregrine_store::{AlertStore, Record, Status, Stored, TimeCounts};
use serde_json::json;
use tokio::sync::broadcast;

use crate::alerts_api::reply;
use crate::alerts_api::{row, Api};
use crate::server::{Collect, Disconnect};

/// The broadcast channel's length: a client's task more than this many alerts behind (the
/// server's thread starved) drops its client.
pub const LIVE_BUFFER: usize = 1_024;
/// Rows waiting in one client's queue (shared rows: a pointer each); a full queue drops the
/// client.
pub const CLIENT_QUEUE: usize = 256;
/// Rules listed in the overview.
pub const TOP_RULES: usize = 10;
/// The path prefix of the pages.
pub const PREFIX: &str = "/console";
/// The login page: served without a credential, like its assets.
pub const LOGIN_PAGE: &str = "/console/login";
/// The embedded assets' prefix.
pub const ASSETS: &str = "/console/assets/";

const SHELL_HTML: &str = include_str!("console/shell.html");
const LOGIN_HTML: &str = include_str!("console/login.html");
const APP_JS: &str = include_str!("console/app.js");
const STYLE_CSS: &str = include_str!("console/style.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The live queue's channel: the store's writer publishes, each SSE client subscribes. It
/// also keeps the overview's [`Tally`], so the overview never scans the store.
pub struct Live {
    tx: broadcast::Sender<Arc<str>>,
    tally: Mutex<Tally>,
    /// The tally holds the store's alerts of the last two days (see [`Live::seed`]).
    seeded: std::sync::atomic::AtomicBool,
    /// Live clients disconnected because they did not keep up.
    dropped: std::sync::atomic::AtomicU64,
    /// Every alert published after the seed counts, whatever its time (see
    /// [`Live::counting_arrivals`]).
    arrivals: bool,
}

impl Default for Live {
    fn default() -> Self {
        Live::new()
    }
}

impl Live {
    pub fn new() -> Live {
        let (tx, _) = broadcast::channel(LIVE_BUFFER);
        Live {
            tx,
            tally: Mutex::new(Tally::default()),
            seeded: std::sync::atomic::AtomicBool::new(false),
            dropped: std::sync::atomic::AtomicU64::new(0),
            arrivals: false,
        }
    }

    /// For a store filled by someone else, with alerts of any age (`peregrine server`, which
    /// catches up a backlog from the stream): the seed counts everything stored up to now,
    /// and nothing may be published until it is done ([`Live::is_seeded`]); then every alert
    /// published counts, however old its time.
    pub fn counting_arrivals() -> Live {
        Live {
            arrivals: true,
            ..Live::new()
        }
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts the store's alerts of the last two days into the tally, once. The seed counts
    /// the alerts before the current minute; live counting takes those from its start on, so
    /// none is counted twice (one stored in that same moment with an older event time may be
    /// missed).
    pub fn seed(&self, store: &dyn AlertStore) -> Result<(), peregrine_store::StoreError> {
        let now = peregrine_store::writer::now_ns();
        // Counting arrivals, the current minute is seeded too (nothing is published before
        // the seed is done) and live counting takes any time.
        let t0 = if self.arrivals {
            now.div_ceil(MIN_NS) * MIN_NS
        } else {
            now / MIN_NS * MIN_NS
        };
        self.tally().from_ns = if self.arrivals { 0 } else { t0 };
        let mut seeded = Tally::default();
        // Quarter by quarter: minutes by severity and the quarter's rules; then the last two
        // hours minute by minute for the minutes' rules.
        let first_q = now.saturating_sub(KEEP_NS) / QUARTER_NS;
        for q in first_q..=t0 / QUARTER_NS {
            let start = q * QUARTER_NS;
            let minutes =
                usize::try_from((t0.saturating_sub(start) / MIN_NS).min(15)).unwrap_or(15);
            if minutes == 0 {
                continue;
            }
            let c = store.time_counts(start, MIN_NS, minutes, usize::MAX)?;
            for (i, counts) in c.buckets.iter().enumerate() {
                if counts.iter().any(|n| *n > 0) {
                    seeded.minutes.insert(q * 15 + i as u64, *counts);
                }
            }
            if !c.top_rules.is_empty() {
                seeded.rules_q.insert(q, c.top_rules.into_iter().collect());
            }
        }
        for m in now.saturating_sub(RULE_MINUTES_NS) / MIN_NS..t0 / MIN_NS {
            let c = store.time_counts(m * MIN_NS, MIN_NS, 1, usize::MAX)?;
            if !c.top_rules.is_empty() {
                seeded
                    .rules_min
                    .insert(m, c.top_rules.into_iter().collect());
            }
        }
        let mut t = self.tally();
        t.merge(seeded);
        // Under the tally's lock, so a retention run either waits for this or is recounted
        // here (see [`Live::lower`]).
        self.seeded
            .store(true, std::sync::atomic::Ordering::Release);
        if std::mem::take(&mut t.retained) {
            t.recount_oldest(store, peregrine_store::writer::now_ns())?;
        }
        Ok(())
    }

    /// Retention deleted alerts from `store`: the tally is recounted where they were (see
    /// [`Tally::recount_oldest`]). Before the seed is in, the seed does it once it is (what
    /// it counted may include alerts deleted since).
    pub fn lower(&self, store: &dyn AlertStore) -> Result<(), peregrine_store::StoreError> {
        let mut t = self.tally();
        if !self.is_seeded() {
            t.retained = true;
            return Ok(());
        }
        t.recount_oldest(store, peregrine_store::writer::now_ns())
    }

    /// The hook the store's writer calls after a retention run deleted alerts.
    pub fn on_retained(self: &Arc<Self>) -> peregrine_store::OnRetained {
        let live = self.clone();
        Arc::new(move |store: &dyn AlertStore, _deleted: u64| {
            if let Err(e) = live.lower(store) {
                log::warn!("console: recounting the overview after retention: {e}");
            }
        })
    }

    /// Whether the tally holds the store's alerts yet (the overview reads the store until
    /// then).
    pub fn is_seeded(&self) -> bool {
        self.seeded.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Counts each record into the overview's tally and sends it as a list row to the
    /// connected clients; never waits. Response records are neither.
    pub fn publish(&self, batch: &[Record]) {
        {
            let now = peregrine_store::writer::now_ns();
            let mut t = self.tally();
            for r in batch.iter().filter(|r| r.source != "response") {
                t.add(r.time_ns, r.severity, &r.rule, now);
            }
        }
        if self.tx.receiver_count() == 0 {
            return;
        }
        for r in batch.iter().filter(|r| r.source != "response") {
            let stored = Stored {
                seq: 0,
                record: r.clone(),
                status: Status::Open,
                status_by: String::new(),
                status_ns: 0,
            };
            // Err only when no client is connected any more.
            let _ = self.tx.send(row(&stored).to_string().into());
        }
    }

    /// The hook the store's writer calls after each stored batch.
    pub fn on_stored(self: &Arc<Self>) -> peregrine_store::OnStored {
        let live = self.clone();
        Arc::new(move |batch: &[Record]| live.publish(batch))
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Live clients disconnected so far because they did not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The live queue's series for the Prometheus page.
    pub fn prometheus_text(&self) -> String {
        format!(
            "# HELP peregrine_console_stream_clients Clients of the console's live alert \
             stream.\n# TYPE peregrine_console_stream_clients gauge\n\
             peregrine_console_stream_clients {}\n\
             # HELP peregrine_console_stream_dropped_total Live stream clients disconnected \
             because they did not read fast enough.\n\
             # TYPE peregrine_console_stream_dropped_total counter\n\
             peregrine_console_stream_dropped_total {}\n",
            self.clients(),
            self.dropped()
        )
    }
}

const MIN_NS: u64 = 60_000_000_000;
const QUARTER_NS: u64 = 15 * MIN_NS;
const DAY_NS: u64 = 24 * 60 * MIN_NS;
/// The tally keeps the 24-hour window and the one before it (and a quarter of slack).
const KEEP_NS: u64 = 2 * DAY_NS + QUARTER_NS;
/// Rules per minute are kept for the 1-hour window and the one before it.
const RULE_MINUTES_NS: u64 = 2 * 60 * MIN_NS + MIN_NS;

/// The overview's counts, kept in memory: alerts per minute by severity for two days, and per
/// rule by quarter hour (two days) and by minute (two hours), so the 24 h and 1 h windows and
/// their previous periods are sums of at most a few thousand small entries, whatever the store
/// holds. Retention lowers them ([`Tally::recount_oldest`]); the rules page's hits it does not.
#[derive(Default)]
pub struct Tally {
    /// Minute (ns / 60 s) → alerts per severity.
    minutes: std::collections::BTreeMap<u64, [u64; 8]>,
    /// Quarter hour → rule → alerts.
    rules_q: std::collections::BTreeMap<u64, std::collections::HashMap<String, u64>>,
    /// Minute → rule → alerts.
    rules_min: std::collections::BTreeMap<u64, std::collections::HashMap<String, u64>>,
    /// Live counting starts here (the seed covers what is before).
    from_ns: u64,
    /// Retention deleted alerts while the seed was counting.
    retained: bool,
}

impl Tally {
    fn add(&mut self, time_ns: u64, severity: u8, rule: &str, now: u64) {
        if time_ns < self.from_ns || time_ns < now.saturating_sub(KEEP_NS) {
            return;
        }
        let m = time_ns / MIN_NS;
        self.minutes.entry(m).or_default()[usize::from(severity.min(7))] += 1;
        *self
            .rules_q
            .entry(time_ns / QUARTER_NS)
            .or_default()
            .entry(rule.to_string())
            .or_default() += 1;
        if time_ns >= now.saturating_sub(RULE_MINUTES_NS) {
            *self
                .rules_min
                .entry(m)
                .or_default()
                .entry(rule.to_string())
                .or_default() += 1;
        }
        self.prune(now);
    }

    fn prune(&mut self, now: u64) {
        // `split_off` keeps the keys at or after the cut: nothing to do while none is older.
        let m = now.saturating_sub(KEEP_NS) / MIN_NS;
        if self.minutes.first_key_value().is_some_and(|(k, _)| *k < m) {
            self.minutes = self.minutes.split_off(&m);
        }
        let q = now.saturating_sub(KEEP_NS) / QUARTER_NS;
        if self.rules_q.first_key_value().is_some_and(|(k, _)| *k < q) {
            self.rules_q = self.rules_q.split_off(&q);
        }
        let rm = now.saturating_sub(RULE_MINUTES_NS) / MIN_NS;
        if self
            .rules_min
            .first_key_value()
            .is_some_and(|(k, _)| *k < rm)
        {
            self.rules_min = self.rules_min.split_off(&rm);
        }
    }

    fn merge(&mut self, other: Tally) {
        for (m, c) in other.minutes {
            let e = self.minutes.entry(m).or_default();
            for (a, b) in e.iter_mut().zip(c) {
                *a += b;
            }
        }
        for (dst, src) in [
            (&mut self.rules_q, other.rules_q),
            (&mut self.rules_min, other.rules_min),
        ] {
            for (k, rules) in src {
                let e = dst.entry(k).or_default();
                for (r, n) in rules {
                    *e.entry(r).or_default() += n;
                }
            }
        }
    }

    /// Recounts the tally from the store, quarter hour by quarter hour from its oldest,
    /// until a quarter that holds alerts agrees with the store. Retention deletes the oldest
    /// alerts (by age all before a time, by size the first stored), so what it took is at the
    /// tally's old end and the walk stops just past it: one query when retention took
    /// nothing the tally holds. Runs on the writer's thread, so no insert is counted in the
    /// store and not yet here, or the reverse. Per-rule minutes are recounted only for
    /// minutes whose counts changed.
    fn recount_oldest(
        &mut self,
        store: &dyn AlertStore,
        now: u64,
    ) -> Result<(), peregrine_store::StoreError> {
        let oldest = [
            self.minutes.first_key_value().map(|(m, _)| m / 15),
            self.rules_q.first_key_value().map(|(q, _)| *q),
        ];
        let Some(first) = oldest.into_iter().flatten().min() else {
            return Ok(());
        };
        let rule_minutes_from = now.saturating_sub(RULE_MINUTES_NS) / MIN_NS;
        for q in first..=now / QUARTER_NS {
            let c = store.time_counts(q * QUARTER_NS, MIN_NS, 15, usize::MAX)?;
            let had: Vec<[u64; 8]> = (q * 15..q * 15 + 15)
                .map(|m| self.minutes.get(&m).copied().unwrap_or_default())
                .collect();
            if had == c.buckets && c.buckets.iter().flatten().any(|n| *n > 0) {
                break;
            }
            for (m, (new, old)) in (q * 15..).zip(c.buckets.iter().zip(&had)) {
                if new == old {
                    continue;
                }
                if new.iter().all(|n| *n == 0) {
                    self.minutes.remove(&m);
                } else {
                    self.minutes.insert(m, *new);
                }
                if m >= rule_minutes_from {
                    let r = store.time_counts(m * MIN_NS, MIN_NS, 1, usize::MAX)?;
                    if r.top_rules.is_empty() {
                        self.rules_min.remove(&m);
                    } else {
                        self.rules_min.insert(m, r.top_rules.into_iter().collect());
                    }
                }
            }
            if c.top_rules.is_empty() {
                self.rules_q.remove(&q);
            } else {
                self.rules_q.insert(q, c.top_rules.into_iter().collect());
            }
        }
        Ok(())
    }

    /// `n` buckets of `bucket` (a multiple of a minute) from `since`, per severity.
    fn buckets(&self, since: u64, bucket: u64, n: usize) -> Vec<[u64; 8]> {
        let mut out = vec![[0u64; 8]; n];
        let until = since.saturating_add(bucket.saturating_mul(n as u64));
        for (m, c) in self.minutes.range(since / MIN_NS..until.div_ceil(MIN_NS)) {
            let t = m * MIN_NS;
            if t < since {
                continue;
            }
            if let Some(b) = usize::try_from((t - since) / bucket)
                .ok()
                .and_then(|i| out.get_mut(i))
            {
                for (a, x) in b.iter_mut().zip(c) {
                    *a += x;
                }
            }
        }
        out
    }

    /// The `k` rules with most alerts in [since, until): by minute when the range is within
    /// the last two hours' minutes, else by quarter hour (the 24 h window is quarter-aligned).
    fn top(&self, since: u64, until: u64, minutes: bool, k: usize) -> Vec<(String, u64)> {
        let (map, unit) = if minutes {
            (&self.rules_min, MIN_NS)
        } else {
            (&self.rules_q, QUARTER_NS)
        };
        let mut sum: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for rules in map
            .range(since / unit..until.div_ceil(unit))
            .map(|(_, r)| r)
        {
            for (r, n) in rules {
                *sum.entry(r).or_default() += n;
            }
        }
        let mut v: Vec<(String, u64)> = sum.into_iter().map(|(r, n)| (r.to_string(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(k);
        v
    }
}

/// What the console's routes share.
#[derive(Clone)]
pub struct Console {
    pub api: Api,
    pub live: Arc<Live>,
    /// The agent's counters (events, drops, time to detect); `None` leaves those figures out.
    pub metrics: Option<Arc<dyn Collect>>,
    /// The previous (time, events) sample, for events/s between two overview requests.
    rate: Arc<Mutex<Rate>>,
}

#[derive(Default)]
struct Rate {
    last: Option<(Instant, u64)>,
    per_s: Option<f64>,
}

impl Console {
    /// Also starts counting the store's last two days into the live queue's tally, on a
    /// thread of its own (the overview reads the store itself until that is done).
    pub fn new(api: Api, live: Arc<Live>, metrics: Option<Arc<dyn Collect>>) -> Console {
        let (l, store) = (live.clone(), api.store.clone());
        let seed = std::thread::Builder::new()
            .name("console-seed".into())
            .spawn(move || {
                if let Err(e) = l.seed(store.as_ref()) {
                    log::warn!("console: counting the stored alerts for the overview: {e}");
                }
            });
        if let Err(e) = seed {
            log::warn!("console: cannot start the overview's counting thread: {e}");
        }
        Console {
            api,
            live,
            metrics,
            rate: Arc::default(),
        }
    }
}

/// The login form as the body of a 401: a browser without a session sees the form at the
/// address it asked for (and comes back to it after logging in), while every client, browser
/// or not, gets the status that says a credential is missing.
pub fn login_required() -> Response {
    let mut r = page(LOGIN_HTML);
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"peregrine\""),
    );
    r
}

fn page(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}

fn asset(ctype: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The window parameter: (name, length ns, bucket ns).
fn window(raw: Option<&str>) -> Result<(&'static str, u64, u64), String> {
    const MIN: u64 = 60_000_000_000;
    let mut w = ("24h", 24 * 60 * MIN, 15 * MIN);
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match (k.as_ref(), v.as_ref()) {
            ("window", "1h") => w = ("1h", 60 * MIN, MIN),
            ("window", "24h") => w = ("24h", 24 * 60 * MIN, 15 * MIN),
            ("window", _) => return Err("window: expected 1h or 24h".into()),
            (k, _) => {
                return Err(format!(
                    "unknown parameter '{}'",
                    k.chars().take(64).collect::<String>()
                ))
            }
        }
    }
    Ok(w)
}

/// The `q` quantile of a histogram of per-bucket counts over `bounds` (seconds; the last
/// bucket unbounded), interpolated linearly inside its bucket as Prometheus's
/// `histogram_quantile` does; in seconds.
pub fn quantile(q: f64, bounds: &[f64], counts: &[u64]) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 || counts.len() != bounds.len() + 1 {
        return None;
    }
    let rank = q * total as f64;
    let mut seen = 0u64;
    for (i, n) in counts.iter().enumerate() {
        let before = seen as f64;
        seen += n;
        if seen as f64 >= rank && *n > 0 {
            let Some(hi) = bounds.get(i) else {
                // Past the last bound: the last bound is all that is known.
                return bounds.last().copied();
            };
            let lo = if i == 0 { 0.0 } else { bounds[i - 1] };
            return Some(lo + (hi - lo) * ((rank - before) / *n as f64));
        }
    }
    bounds.last().copied()
}

async fn overview(State(c): State<Console>, RawQuery(raw): RawQuery) -> Response {
    let (name, len, bucket) = match window(raw.as_deref()) {
        Ok(w) => w,
        Err(e) => return reply(StatusCode::BAD_REQUEST, &json!({ "error": e })),
    };
    let now = peregrine_store::writer::now_ns();
    let n = usize::try_from(len / bucket).unwrap_or(1);
    // Buckets end at the next bucket boundary, so a bar does not shift as time passes.
    let end = (now / bucket + 1) * bucket;
    let since = end.saturating_sub(len);
    let store = c.api.store.clone();
    let live = c.live.clone();
    let counted = tokio::task::spawn_blocking(move || {
        if live.is_seeded() {
            let t = live.tally();
            let cur = TimeCounts {
                buckets: t.buckets(since, bucket, n),
                top_rules: t.top(since, end, bucket < QUARTER_NS, TOP_RULES),
            };
            let prev = TimeCounts {
                buckets: t.buckets(since.saturating_sub(len), bucket, n),
                top_rules: Vec::new(),
            };
            return Ok((cur, prev));
        }
        let cur = store.time_counts(since, bucket, n, TOP_RULES)?;
        let prev = store.time_counts(since.saturating_sub(len), bucket, n, 0)?;
        Ok::<_, peregrine_store::StoreError>((cur, prev))
    })
    .await;
    let (cur, prev) = match counted {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            log::error!("console overview: {e}");
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": "alert store error"}),
            );
        }
        Err(_) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": "internal error"}),
            )
        }
    };
    let sum = |b: &[[u64; 8]]| b.iter().flatten().sum::<u64>();
    let (total, previous) = (sum(&cur.buckets), sum(&prev.buckets));
    let trend = (previous > 0).then(|| (total as f64 - previous as f64) * 100.0 / previous as f64);
    let mut v = json!({
        "window": name,
        "since_ns": since,
        "bucket_ns": bucket,
        "priorities": peregrine_rules::Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "buckets": cur.buckets.iter().enumerate().map(|(i, b)| json!({
            "t_ns": since + i as u64 * bucket,
            "counts": b,
        })).collect::<Vec<_>>(),
        "total": total,
        "previous_total": previous,
        "trend_pct": trend,
        "top_rules": cur.top_rules.iter().map(|(r, n)| json!({"rule": r, "alerts": n})).collect::<Vec<_>>(),
        "live_clients": c.live.clients(),
    });
    if let (Some(m), Some(o)) = (c.metrics.clone(), v.as_object_mut()) {
        let snap = tokio::task::spawn_blocking(move || m.collect()).await.ok();
        if let Some(cap) = snap.as_ref().and_then(|s| s.capture) {
            let mut rate = c.rate.lock().unwrap_or_else(|p| p.into_inner());
            let t = Instant::now();
            if let Some((t0, e0)) = rate.last {
                let dt = t.duration_since(t0).as_secs_f64();
                if dt >= 1.0 {
                    rate.per_s = Some(cap.events.saturating_sub(e0) as f64 / dt);
                }
            }
            if rate
                .last
                .is_none_or(|(t0, _)| t.duration_since(t0).as_secs_f64() >= 1.0)
            {
                rate.last = Some((t, cap.events));
            }
            o.insert("events_total".into(), cap.events.into());
            o.insert("events_per_s".into(), json!(rate.per_s));
            o.insert("drops_total".into(), cap.drops().into());
        }
        if let Some(out) = snap.as_ref().and_then(|s| s.outputs.as_ref()) {
            let d = &out.time_to_detect;
            let b = &peregrine_outputs::counters::DETECT_BUCKETS;
            let ms = |q| quantile(q, b, &d.buckets).map(|s| s * 1e3);
            o.insert("ttd_count".into(), d.count.into());
            o.insert("ttd_p50_ms".into(), json!(ms(0.5)));
            o.insert("ttd_p95_ms".into(), json!(ms(0.95)));
        }
    }
    reply(StatusCode::OK, &v)
}

async fn stream(State(c): State<Console>, conn: Option<Extension<Disconnect>>) -> Response {
    // Subscribed before the head is sent: what is published once a client has the head
    // reaches it.
    let mut sub = c.live.tx.subscribe();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Arc<str>>(CLIENT_QUEUE);
    let live = c.live.clone();
    tokio::spawn(async move {
        let behind = loop {
            let row = tokio::select! {
                // The response is gone (the client left, or the request limit ended it).
                _ = tx.closed() => return,
                r = sub.recv() => r,
            };
            match row {
                Ok(row) => match tx.try_send(row) {
                    Ok(()) => {}
                    Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => break CLIENT_QUEUE,
                    Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return,
                },
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    break usize::try_from(n).unwrap_or(usize::MAX)
                }
                // Shutdown.
                Err(broadcast::error::RecvError::Closed) => return,
            }
        };
        live.dropped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        log::debug!("console: a live stream client {behind} alerts behind was disconnected");
        // Without our server's handle (a router served elsewhere), the stream just ends.
        if let Some(Extension(d)) = conn {
            d.now();
        }
    });
    let events = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|row| {
            row.map(|row| {
                Ok::<_, std::convert::Infallible>(Event::default().event("alert").data(&*row))
            })
        })
    });
    let mut r = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The pages, their assets and the two endpoints.
pub fn routes(console: Console) -> Router {
    let shell = || get(|| async { page(SHELL_HTML) });
    Router::new()
        .route(PREFIX, get(|| async { Redirect::to("/console/") }))
        .route("/console/", shell())
        .route("/console/alerts", shell())
        .route("/console/alerts/{id}", shell())
        .route("/console/rules", shell())
        .route("/console/debug", shell())
        .route(LOGIN_PAGE, get(|| async { page(LOGIN_HTML) }))
        .route(
            "/console/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/console/assets/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/api/v1/overview", get(overview))
        .route("/api/v1/alerts/stream", get(stream))
        .with_state(console)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_within_the_bucket() {
        let bounds = [0.001, 0.01, 0.1];
        // 10 in ≤1 ms, 10 in 1–10 ms, none above.
        let counts = [10, 10, 0, 0];
        assert_eq!(quantile(0.5, &bounds, &counts), Some(0.001));
        let p95 = quantile(0.95, &bounds, &counts).expect("p95");
        assert!((p95 - (0.001 + 0.009 * 0.9)).abs() < 1e-12, "{p95}");
        assert_eq!(quantile(0.5, &bounds, &[0, 0, 0, 0]), None);
        // Only the unbounded bucket: the last bound is all that is known.
        assert_eq!(quantile(0.5, &bounds, &[0, 0, 0, 3]), Some(0.1));
    }

    /// The tally sums minutes into the window's buckets, ranks rules over the range, leaves
    /// out what is before its live start and drops what is older than two days.
    #[test]
    fn tally_buckets_ranks_and_prunes() {
        let now = 1_000 * DAY_NS;
        let mut t = Tally::default();
        for (ago_min, sev, rule) in [
            (1, 2, "a"),
            (1, 2, "a"),
            (3, 4, "b"),
            (30, 2, "a"),
            (90, 4, "c"),
        ] {
            t.add(now - ago_min * MIN_NS, sev, rule, now);
        }
        let end = (now / MIN_NS + 1) * MIN_NS;
        let since = end - 60 * MIN_NS;
        let b = t.buckets(since, MIN_NS, 60);
        assert_eq!(b.iter().flatten().sum::<u64>(), 4);
        assert_eq!(b[58][2], 2);
        assert_eq!(b[56][4], 1);
        let prev = t.buckets(since - 60 * MIN_NS, MIN_NS, 60);
        assert_eq!(prev.iter().flatten().sum::<u64>(), 1);
        assert_eq!(
            t.top(since, end, true, 10),
            vec![("a".to_string(), 3), ("b".to_string(), 1)]
        );
        // Quarter-hour rules over the 24 h window hold the older alert too.
        let qend = (now / QUARTER_NS + 1) * QUARTER_NS;
        assert_eq!(
            t.top(qend - DAY_NS, qend, false, 1),
            vec![("a".to_string(), 3)]
        );
        // Before the live start: not counted.
        t.from_ns = now;
        t.add(now - MIN_NS, 2, "a", now);
        assert_eq!(
            t.buckets(since, MIN_NS, 60).iter().flatten().sum::<u64>(),
            4
        );
        // Three days later everything is gone.
        t.add(now + 3 * DAY_NS, 7, "z", now + 3 * DAY_NS);
        assert_eq!(t.minutes.len(), 1);
        assert_eq!(t.rules_q.len(), 1);
        assert_eq!(t.rules_min.len(), 1);
    }

    #[test]
    fn window_names_its_key() {
        assert_eq!(window(None).map(|w| w.0), Ok("24h"));
        assert_eq!(window(Some("window=1h")).map(|w| w.0), Ok("1h"));
        assert!(window(Some("window=2d"))
            .unwrap_err()
            .starts_with("window:"));
        assert!(window(Some("x=1")).unwrap_err().contains("'x'"));
    }
}
