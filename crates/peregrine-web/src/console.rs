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
//! waits, so detection and the writer never wait for a browser; a client that falls
//! [`LIVE_BUFFER`] alerts behind is dropped (its stream ends, and the page's `EventSource`
//! reconnects and reloads the list). Publishing after the insert means every id a browser
//! receives can already be opened.
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
use axum::Router;
use peregrine_store::{Record, Status, Stored};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::alerts_api::{row, Api};
use crate::server::Collect;

/// Alerts a live client may fall behind before it is dropped.
pub const LIVE_BUFFER: usize = 1_024;
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

/// The live queue's channel: the store's writer publishes, each SSE client subscribes.
pub struct Live {
    tx: broadcast::Sender<Arc<str>>,
}

impl Default for Live {
    fn default() -> Self {
        Live::new()
    }
}

impl Live {
    pub fn new() -> Live {
        let (tx, _) = broadcast::channel(LIVE_BUFFER);
        Live { tx }
    }

    /// Sends each record as a list row to the connected clients; never waits. Response
    /// records are not queue lines.
    pub fn publish(&self, batch: &[Record]) {
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
    pub fn new(api: Api, live: Arc<Live>, metrics: Option<Arc<dyn Collect>>) -> Console {
        Console {
            api,
            live,
            metrics,
            rate: Arc::default(),
        }
    }
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

fn reply(status: StatusCode, body: &Value) -> Response {
    let mut text = body.to_string();
    text.push('\n');
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
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
    let counted = tokio::task::spawn_blocking(move || {
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

async fn stream(State(c): State<Console>) -> Response {
    let rx = c.live.tx.subscribe();
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(row) => Some((
                Ok::<_, std::convert::Infallible>(Event::default().event("alert").data(&*row)),
                rx,
            )),
            // Lagged: a slow client is dropped rather than buffered for; Closed: shutdown.
            Err(_) => None,
        }
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
