//! The debug API behind the console's Debug view (served with `console.enabled`, under its
//! access control): what a security engineer needs to trust the detector.
//!
//! - `GET /api/v1/debug/events?filter=COND&limit=N&timeout_ms=T` → a live sample of decoded
//!   events matching COND, a condition in Falco's language compiled like a rule's (the loaded
//!   rules' macros and lists usable): `{"events": [{ts, type, dir, fields: {…}}], "matched",
//!   "examined", "skipped"}`; a condition that does not compile → 400 `{"error", "line",
//!   "column"}`. The request waits until `limit` events (default 100, at most 1000) matched or
//!   `timeout_ms` (default 2000, at most 10000) passed. **The sample shows what reaches the
//!   engine**: the kernel sends the event types the loaded rules and the state engine need,
//!   and may shed opens of paths no rule names, so a filter on anything else matches nothing.
//! - `GET /api/v1/debug/events/stream?filter=COND&limit=N&timeout_ms=T`: the same as
//!   server-sent events (`event: sample`, one JSON event per message, then `event: end` with
//!   the counts); `timeout_ms` up to 25000 (the server's request deadline is 30 s).
//! - `GET /api/v1/debug/drops` → per-CPU kernel counters by drop cause, the totals, and the
//!   kernel's events per second over the last interval.
//! - `GET /api/v1/debug/rules` → each rule's sampled evaluation latency: samples, p50, p99,
//!   sum, and the estimated total time (sum × sampling period).
//! - `GET /api/v1/debug/metadata` → container metadata lookups: pending, failed (with the
//!   reason) and known, each with its age.
//!
//! Key decision: the figures are a snapshot the agent's loop publishes once per metrics
//! interval (the loop owns the state, the pipeline and the capture; nothing here locks them),
//! while the event sample goes through [`peregrine_engine::tap`], evaluated on the loop
//! thread only while a request is open.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use peregrine_engine::tap::{SampledEvent, Subscription, Tap, MAX_SAMPLE};
use peregrine_engine::{EngineHandle, RuleLatency};
use peregrine_filter::escape::terminal_safe;
use peregrine_filter::format::OutputValue;
use peregrine_state::{ContainerMetadata, MetadataStatus};
use serde_json::{json, Map, Value};

use crate::alerts_api::{error, reply};

/// Default and largest sample.
pub const DEFAULT_LIMIT: usize = 100;
/// Default and longest wait of the JSON endpoint, and of the stream.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_STREAM_TIMEOUT: Duration = Duration::from_secs(25);

/// One rule's sampled latency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleTiming {
    pub name: String,
    pub latency: RuleLatency,
}

/// The figures the agent's loop publishes for the debug view.
#[derive(Clone, Debug, Default)]
pub struct DebugSnapshot {
    /// When it was taken, ns since the epoch.
    pub now_ns: u64,
    /// Kernel counters of each CPU (index = CPU); empty without a live capture.
    pub cpus: Vec<peregrine_capture::Counters>,
    /// Kernel events written per second over the last interval.
    pub events_per_sec: f64,
    /// One event in this many is timed (0: never).
    pub latency_sample: u32,
    pub rules: Vec<RuleTiming>,
    pub containers: Vec<ContainerMetadata>,
    /// The state's lookup counters: answered, failed, not queued.
    pub lookups: u64,
    pub lookups_failed: u64,
    pub requests_dropped: u64,
}

/// Where the snapshot lives; the agent replaces it, a request copies it.
pub type SharedSnapshot = Arc<Mutex<DebugSnapshot>>;

/// What the handlers share.
#[derive(Clone)]
pub struct Api {
    /// The running engine (its rules' lists and macros compile the filters).
    pub engine: Arc<EngineHandle>,
    pub tap: Arc<Tap>,
    pub snapshot: SharedSnapshot,
}

/// The events endpoints' parameters.
#[derive(Debug, PartialEq, Eq)]
struct Params {
    filter: String,
    limit: usize,
    timeout: Duration,
}

fn params(raw: Option<&str>, max_timeout: Duration) -> Result<Params, String> {
    let mut p = Params {
        filter: String::new(),
        limit: DEFAULT_LIMIT,
        timeout: DEFAULT_TIMEOUT.min(max_timeout),
    };
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "filter" => p.filter = v.into_owned(),
            "limit" => {
                p.limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_SAMPLE).contains(n))
                    .ok_or_else(|| format!("limit: expected 1 to {MAX_SAMPLE}"))?
            }
            "timeout_ms" => {
                let max = max_timeout.as_millis();
                p.timeout = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=max).contains(&u128::from(*n)))
                    .map(Duration::from_millis)
                    .ok_or_else(|| format!("timeout_ms: expected 1 to {max}"))?
            }
            k => {
                let k: String = k.chars().take(64).collect();
                return Err(format!("unknown parameter '{}'", terminal_safe(&k)));
            }
        }
    }
    if p.filter.trim().is_empty() {
        return Err("filter: a condition is required, e.g. fd.name=/etc/shadow".into());
    }
    Ok(p)
}

/// Compiles the filter and opens the tap; the error response otherwise.
fn subscribe(api: &Api, p: &Params) -> Result<Subscription, Response> {
    let engine = api.engine.load();
    let filter = engine.rules().compile_filter(&p.filter).map_err(|e| {
        reply(
            StatusCode::BAD_REQUEST,
            &json!({ "error": e.message, "line": e.line, "column": e.col }),
        )
    })?;
    api.tap
        .watch(filter, p.limit)
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))
}

fn value(v: &OutputValue) -> Value {
    match v {
        OutputValue::Null => Value::Null,
        OutputValue::Bool(b) => json!(b),
        OutputValue::Int(n) => json!(n),
        OutputValue::UInt(n) => json!(n),
        OutputValue::Double(d) => json!(d),
        OutputValue::Str(s) => json!(s),
        OutputValue::List(l) => Value::Array(l.iter().map(value).collect()),
    }
}

/// A sampled event as the API shows it.
pub fn event_json(e: &SampledEvent) -> Value {
    let fields: Map<String, Value> = e
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), value(v)))
        .collect();
    json!({ "ts": e.ts, "type": e.event_type, "dir": e.dir, "fields": fields })
}

fn counts_json(sub: &Subscription) -> Value {
    use std::sync::atomic::Ordering::Relaxed;
    json!({
        "matched": sub.counts.matched.load(Relaxed),
        "examined": sub.counts.examined.load(Relaxed),
        "skipped": sub.counts.skipped.load(Relaxed),
    })
}

async fn events(State(api): State<Api>, RawQuery(raw): RawQuery) -> Response {
    let p = match params(raw.as_deref(), MAX_TIMEOUT) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let sub = match subscribe(&api, &p) {
        Ok(s) => s,
        Err(r) => return r,
    };
    // Waiting for events blocks: done on a blocking thread, not the connection task.
    let waited = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + p.timeout;
        let mut got = Vec::new();
        while got.len() < p.limit {
            let left = deadline.saturating_duration_since(Instant::now());
            match sub.events.recv_timeout(left) {
                Ok(e) => got.push(event_json(&e)),
                Err(_) => break,
            }
        }
        let mut body = counts_json(&sub);
        body["events"] = Value::Array(got);
        body
    })
    .await;
    match waited {
        Ok(body) => reply(StatusCode::OK, &body),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

async fn events_stream(State(api): State<Api>, RawQuery(raw): RawQuery) -> Response {
    let p = match params(raw.as_deref(), MAX_STREAM_TIMEOUT) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let sub = match subscribe(&api, &p) {
        Ok(s) => s,
        Err(r) => return r,
    };
    // A blocking thread moves the tap's events into an async channel the stream reads; it
    // ends at the limit, the deadline, or when the client has gone (the send fails).
    let (tx, rx) = tokio::sync::mpsc::channel::<SseEvent>(16);
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + p.timeout;
        let mut sent = 0;
        while sent < p.limit {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(e) = sub.events.recv_timeout(left) else {
                break;
            };
            let msg = SseEvent::default()
                .event("sample")
                .data(event_json(&e).to_string());
            if tx.blocking_send(msg).is_err() {
                return;
            }
            sent += 1;
        }
        let end = SseEvent::default()
            .event("end")
            .data(counts_json(&sub).to_string());
        let _ = tx.blocking_send(end);
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn snapshot(api: &Api) -> DebugSnapshot {
    api.snapshot
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// The drops document.
pub fn drops_json(s: &DebugSnapshot) -> Value {
    use peregrine_capture::Family;
    let family = |c: &peregrine_capture::Counters, f: Family| {
        c.drops_by_family.get(f as usize).copied().unwrap_or(0)
    };
    let cpu = |i: usize, c: &peregrine_capture::Counters| {
        json!({
            "cpu": i,
            "events": c.events,
            "drops": c.drops(),
            "causes": {
                "ring_full": c.drops_ring_full,
                "ring_full_by_family": {
                    "file": family(c, Family::File),
                    "net": family(c, Family::Net),
                    "process": family(c, Family::Process),
                    "other": family(c, Family::Other),
                },
                "too_large": c.drops_too_large,
                "missing_enter": c.missing_enter,
            },
            "read_failures": c.read_failures,
            "stash_failures": c.stash_failures,
            "shed": { "open_path": c.shed_open_path, "close": c.shed_close },
        })
    };
    let mut total = peregrine_capture::Counters::default();
    for c in &s.cpus {
        total.events += c.events;
        total.drops_ring_full += c.drops_ring_full;
        total.drops_too_large += c.drops_too_large;
        total.missing_enter += c.missing_enter;
        total.read_failures += c.read_failures;
        total.stash_failures += c.stash_failures;
        total.shed_open_path += c.shed_open_path;
        total.shed_close += c.shed_close;
        for (t, d) in total.drops_by_family.iter_mut().zip(c.drops_by_family) {
            *t += d;
        }
    }
    let mut total = cpu(0, &total);
    if let Some(t) = total.as_object_mut() {
        t.remove("cpu");
    }
    json!({
        "time_ns": s.now_ns,
        "events_per_sec": s.events_per_sec,
        "total": total,
        "cpus": s.cpus.iter().enumerate().map(|(i, c)| cpu(i, c)).collect::<Vec<_>>(),
    })
}

/// The rules latency document, the slowest total first.
pub fn rules_json(s: &DebugSnapshot) -> Value {
    let period = u64::from(s.latency_sample);
    let mut rows: Vec<&RuleTiming> = s.rules.iter().filter(|r| r.latency.count > 0).collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.latency.sum_ns));
    let rules: Vec<Value> = rows
        .iter()
        .map(|r| {
            let l = &r.latency;
            json!({
                "rule": r.name,
                "samples": l.count,
                "p50_ns": l.quantile_ns(0.5),
                "p99_ns": l.quantile_ns(0.99),
                "mean_ns": l.sum_ns / l.count.max(1),
                "sampled_sum_ns": l.sum_ns,
                "estimated_total_ns": l.sum_ns.saturating_mul(period),
            })
        })
        .collect();
    json!({
        "time_ns": s.now_ns,
        "sample_period": s.latency_sample,
        "rules": rules,
    })
}

/// The container metadata document: each container's lookup, reasons made terminal-safe.
pub fn metadata_json(s: &DebugSnapshot) -> Value {
    let mut pending = 0;
    let mut failed = 0;
    let containers: Vec<Value> = s
        .containers
        .iter()
        .map(|c| {
            let age_ms = s.now_ns.saturating_sub(c.since_ns) / 1_000_000;
            let mut v = json!({
                "id": terminal_safe(&c.id),
                "age_ms": age_ms,
                "since_ns": c.since_ns,
                "attempts": c.attempts,
            });
            match &c.status {
                MetadataStatus::Pending => {
                    pending += 1;
                    v["status"] = json!("pending");
                }
                MetadataStatus::Known => {
                    v["status"] = json!("known");
                    v["name"] = json!(terminal_safe(&c.name));
                    v["image"] = json!(terminal_safe(&c.image));
                }
                MetadataStatus::Failed(reason) => {
                    failed += 1;
                    v["status"] = json!("failed");
                    v["reason"] = json!(terminal_safe(reason));
                }
            }
            v
        })
        .collect();
    json!({
        "time_ns": s.now_ns,
        "pending": pending,
        "failed": failed,
        "lookups": s.lookups,
        "lookups_failed": s.lookups_failed,
        "requests_dropped": s.requests_dropped,
        "containers": containers,
    })
}

/// Per-rule evaluation latency in Prometheus's text format: a summary with the p50 and p99
/// of the sampled evaluations (`_count` and `_sum` are the samples, not every evaluation).
pub fn metrics_text(s: &DebugSnapshot) -> String {
    let mut out = String::new();
    if s.rules.iter().all(|r| r.latency.count == 0) {
        return out;
    }
    out.push_str(
        "# HELP peregrine_rule_evaluation_seconds Evaluation time of each rule's condition, \
         sampled (one event in peregrine's latency_sample).\n\
         # TYPE peregrine_rule_evaluation_seconds summary\n",
    );
    for r in s.rules.iter().filter(|r| r.latency.count > 0) {
        let name = crate::metrics::escape_label(&r.name);
        let l = &r.latency;
        for q in [0.5, 0.99] {
            let v = l.quantile_ns(q).unwrap_or(0) as f64 / 1e9;
            out.push_str(&format!(
                "peregrine_rule_evaluation_seconds{{rule=\"{name}\",quantile=\"{q}\"}} {v:e}\n"
            ));
        }
        out.push_str(&format!(
            "peregrine_rule_evaluation_seconds_sum{{rule=\"{name}\"}} {:e}\n\
             peregrine_rule_evaluation_seconds_count{{rule=\"{name}\"}} {}\n",
            l.sum_ns as f64 / 1e9,
            l.count
        ));
    }
    out
}

async fn drops(State(api): State<Api>) -> Response {
    reply(StatusCode::OK, &drops_json(&snapshot(&api)))
}

async fn rules(State(api): State<Api>) -> Response {
    reply(StatusCode::OK, &rules_json(&snapshot(&api)))
}

async fn metadata(State(api): State<Api>) -> Response {
    reply(StatusCode::OK, &metadata_json(&snapshot(&api)))
}

pub fn routes(api: Api) -> Router {
    Router::new()
        .route("/api/v1/debug/events", get(events))
        .route("/api/v1/debug/events/stream", get(events_stream))
        .route("/api/v1/debug/drops", get(drops))
        .route("/api/v1/debug/rules", get(rules))
        .route("/api/v1/debug/metadata", get(metadata))
        .with_state(api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked() {
        let p = params(
            Some("filter=fd.name%3D%2Ftmp%2Fx&limit=5&timeout_ms=300"),
            MAX_TIMEOUT,
        )
        .expect("valid");
        assert_eq!(
            p,
            Params {
                filter: "fd.name=/tmp/x".into(),
                limit: 5,
                timeout: Duration::from_millis(300)
            }
        );
        for bad in [
            "limit=5",
            "filter=a&limit=0",
            "filter=a&limit=1001",
            "filter=a&timeout_ms=10001",
            "filter=a&colour=red",
        ] {
            assert!(params(Some(bad), MAX_TIMEOUT).is_err(), "{bad}");
        }
        assert!(params(Some("filter=a&timeout_ms=20000"), MAX_STREAM_TIMEOUT).is_ok());
    }

    #[test]
    fn documents() {
        let mut l = RuleLatency::default();
        l.record(100);
        l.record(300);
        let mut cpu = peregrine_capture::Counters {
            events: 10,
            drops_ring_full: 3,
            missing_enter: 1,
            ..Default::default()
        };
        cpu.drops_by_family[peregrine_capture::Family::File as usize] = 3;
        let s = DebugSnapshot {
            now_ns: 5_000_000_000,
            cpus: vec![cpu, peregrine_capture::Counters::default()],
            events_per_sec: 10.0,
            latency_sample: 64,
            rules: vec![
                RuleTiming {
                    name: "Quote\"d".into(),
                    latency: l,
                },
                RuleTiming {
                    name: "never".into(),
                    latency: RuleLatency::default(),
                },
            ],
            containers: vec![
                ContainerMetadata {
                    id: "abc".into(),
                    status: MetadataStatus::Failed("sock: \x1b[31mred".into()),
                    since_ns: 3_000_000_000,
                    attempts: 2,
                    name: String::new(),
                    image: String::new(),
                },
                ContainerMetadata {
                    id: "def".into(),
                    status: MetadataStatus::Pending,
                    since_ns: 4_500_000_000,
                    attempts: 0,
                    name: String::new(),
                    image: String::new(),
                },
            ],
            ..Default::default()
        };
        let d = drops_json(&s);
        assert_eq!(d["total"]["drops"], 4);
        assert_eq!(d["cpus"][0]["causes"]["ring_full_by_family"]["file"], 3);
        assert_eq!(d["cpus"][1]["cpu"], 1);
        let r = rules_json(&s);
        assert_eq!(r["rules"].as_array().map(Vec::len), Some(1));
        assert_eq!(r["rules"][0]["samples"], 2);
        assert_eq!(r["rules"][0]["estimated_total_ns"], 400 * 64);
        let m = metadata_json(&s);
        assert_eq!(
            (m["pending"].clone(), m["failed"].clone()),
            (json!(1), json!(1))
        );
        assert_eq!(m["containers"][0]["age_ms"], 2000);
        let reason = m["containers"][0]["reason"].as_str().unwrap_or_default();
        assert!(!reason.contains('\x1b'), "{reason:?}");
        let text = metrics_text(&s);
        assert!(
            text.contains("peregrine_rule_evaluation_seconds_count{rule=\"Quote\\\"d\"} 2"),
            "{text}"
        );
        assert!(!text.contains("never"), "{text}");
    }
}
