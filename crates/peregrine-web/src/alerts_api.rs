//! The alerts API over the alert store (`alert_store` with `console.enabled`), JSON under
//! `/api/v1/`, shaped for the console's pages: list rows, a detail with the process tree,
//! and the rules with their hits.
//!
//! - `GET /api/v1/alerts?rule=&priority=&since=&until=&source=&host=&container=&namespace=&tag=&q=&status=&limit=&cursor=`
//!   → `{"alerts": [row…], "next_cursor": "…" | null}`, newest first;
//! - `GET /api/v1/alerts/{id}` → the alert, its Falco JSON under `alert`, `ancestry`,
//!   `process_tree`, `container`, `rule` (description and condition), `responses`, and
//!   `related` (other alerts of its container within ±5 minutes);
//! - `POST /api/v1/alerts/{id}/ack`, `POST /api/v1/alerts/{id}/resolve` → the alert;
//! - `GET /api/v1/alerts/export?format=jsonl|csv&<the list's filters>` → every match, streamed;
//! - `GET /api/v1/rules` → `{"rules": [{name, enabled, source, priority, tags, description,
//!   condition, file, line, hits, last_hit_ns}]}`.
//!
//! Times (`since`, `until`) are RFC 3339 (`2026-12-07T20:00:00Z`), nanoseconds since the epoch,
//! or a duration back from now (`15m`, `2h`). `priority` is the least severe priority wanted
//! (`warning` lists Warning and more severe). Unknown parameters are refused (400, naming
//! the parameter), so a typo does not silently widen a search.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use peregrine_store::{AlertStore, ExportFormat, Query, Status, Stored};
use serde_json::{json, Value};

use crate::access::Caller;

/// Related alerts are those of the same container within this much of the alert.
pub const RELATED_WINDOW_NS: u64 = 5 * 60 * 1_000_000_000;
/// At most this many related alerts in a detail.
pub const RELATED_LIMIT: usize = 100;
/// A list's default page size.
pub const DEFAULT_LIMIT: usize = 100;

/// One loaded rule, as the rules endpoint shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleInfo {
    pub name: String,
    pub enabled: bool,
    pub source: String,
    pub priority: String,
    pub tags: Vec<String>,
    pub description: String,
    pub condition: String,
    /// The rules file and the 1-based line of the rule's definition.
    pub file: String,
    pub line: usize,
}

/// The loaded rules (which a reload changes), as the agent knows them.
pub trait RulesView: Send + Sync + 'static {
    fn rules(&self) -> Vec<RuleInfo>;
}

impl<F: Fn() -> Vec<RuleInfo> + Send + Sync + 'static> RulesView for F {
    fn rules(&self) -> Vec<RuleInfo> {
        self()
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct Api {
    pub store: Arc<dyn AlertStore>,
    pub rules: Arc<dyn RulesView>,
}

/// A JSON body and a newline, as every JSON API of the console answers.
pub(crate) fn reply(status: StatusCode, body: &Value) -> Response {
    let mut text = body.to_string();
    text.push('\n');
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// `{"error": message}` with `status`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    reply(status, &json!({ "error": message }))
}

fn now_ns() -> u64 {
    peregrine_store::writer::now_ns()
}

/// Runs a store call off the connection task.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, peregrine_store::StoreError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            log::error!("alerts API: {e}");
            Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "alert store error",
            ))
        }
        Err(_) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")),
    }
}

/// A time parameter: RFC 3339, ns since the epoch, or a duration back from now.
fn time_param(key: &str, v: &str, now: u64) -> Result<u64, String> {
    if let Ok(n) = v.parse::<u64>() {
        return Ok(n);
    }
    if let Some(t) = peregrine_triage::timefmt::parse_rfc3339(v) {
        return Ok(t);
    }
    if let Some(d) = peregrine_config::parse_duration(v) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        return Ok(now.saturating_sub(ns));
    }
    Err(format!(
        "{key}: expected RFC 3339, nanoseconds since the epoch, or a duration such as 15m"
    ))
}

/// The syslog severity of a priority name (any case; Falco's aliases too).
fn severity(name: &str) -> Option<u8> {
    let p = peregrine_rules::Priority::parse(name)?;
    peregrine_rules::Priority::ALL
        .iter()
        .position(|x| *x == p)
        .and_then(|i| u8::try_from(i).ok())
}

/// The list's and the export's filters; `extra` names the other parameters the route takes.
fn query(raw: Option<&str>, extra: &[&str]) -> Result<(Query, HashMap<String, String>), String> {
    let mut q = Query {
        limit: DEFAULT_LIMIT,
        ..Query::default()
    };
    let mut rest = HashMap::new();
    let now = now_ns();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let v = v.into_owned();
        let text = || (!v.is_empty()).then(|| v.clone());
        match k.as_ref() {
            "rule" => q.rule = text(),
            "source" => q.source = text(),
            "host" => q.hostname = text(),
            "container" => q.container = text(),
            "namespace" => q.namespace = text(),
            "tag" => q.tag = text(),
            "q" => q.text = text(),
            "priority" => {
                q.min_severity = Some(
                    severity(&v)
                        .ok_or_else(|| format!("priority: unknown priority '{}'", short(&v)))?,
                )
            }
            "status" => {
                q.status =
                    Some(Status::parse(&v).ok_or_else(|| {
                        "status: expected open, acknowledged or resolved".to_string()
                    })?)
            }
            "since" => q.since_ns = Some(time_param("since", &v, now)?),
            "until" => q.until_ns = Some(time_param("until", &v, now)?),
            "limit" => {
                q.limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=peregrine_store::MAX_LIMIT).contains(n))
                    .ok_or_else(|| format!("limit: expected 1 to {}", peregrine_store::MAX_LIMIT))?
            }
            "cursor" => {
                q.before_seq = Some(
                    v.parse::<i64>()
                        .map_err(|_| "cursor: expected a cursor from next_cursor".to_string())?,
                )
            }
            k if extra.contains(&k) => {
                rest.insert(k.to_string(), v);
            }
            k => return Err(format!("unknown parameter '{}'", short(k))),
        }
    }
    Ok((q, rest))
}

/// At most 64 characters of a user's text, for an error message.
fn short(s: &str) -> String {
    s.chars().take(64).collect()
}

/// An alert as a list row: enough for a queue line (no Falco JSON, no ancestry).
pub fn row(a: &Stored) -> Value {
    let r = &a.record;
    let c = r.context.container.as_ref();
    let proc = r.context.ancestry.first();
    json!({
        "id": r.id,
        "time_ns": r.time_ns,
        "time": peregrine_triage::timefmt::format_rfc3339(r.time_ns),
        "rule": r.rule,
        "priority": r.priority,
        "source": r.source,
        "hostname": r.hostname,
        "tags": r.tags,
        "output": r.output,
        "status": a.status,
        "container_id": c.map(|c| c.id.as_str()),
        "container_name": c.map(|c| c.name.as_str()),
        "namespace": c.and_then(|c| c.pod.as_ref()).map(|p| p.namespace.as_str()),
        "pod": c.and_then(|c| c.pod.as_ref()).map(|p| p.name.as_str()),
        "proc_exe": proc.map(|p| p.exe.as_str()),
        "proc_pid": proc.map(|p| p.pid),
    })
}

/// The ancestry (event process first) as a tree from the oldest ancestor down: each node
/// has its one child under `children`, the shape a tree view draws.
pub fn process_tree(a: &Stored) -> Value {
    let mut node: Option<Value> = None;
    for (i, p) in a.record.context.ancestry.iter().enumerate() {
        let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "children".into(),
                Value::Array(node.take().into_iter().collect()),
            );
            // The process that made the event.
            o.insert("alert".into(), Value::Bool(i == 0));
        }
        node = Some(v);
    }
    node.unwrap_or(Value::Null)
}

async fn list(State(api): State<Api>, RawQuery(raw): RawQuery) -> Response {
    let q = match query(raw.as_deref(), &[]) {
        Ok((q, _)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let store = api.store.clone();
    match blocking(move || store.search(&q)).await {
        Ok(page) => reply(
            StatusCode::OK,
            &json!({
                "alerts": page.alerts.iter().map(row).collect::<Vec<_>>(),
                "next_cursor": page.next_cursor.map(|c| c.to_string()),
            }),
        ),
        Err(r) => r,
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

async fn detail(State(api): State<Api>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return error(StatusCode::NOT_FOUND, "no such alert");
    }
    let store = api.store.clone();
    let found = blocking(move || {
        let Some(a) = store.get(&id)? else {
            return Ok(None);
        };
        let related = store.related(&a, RELATED_WINDOW_NS, RELATED_LIMIT)?;
        let responses = store.responses(&a.record.id)?;
        Ok(Some((a, related, responses)))
    })
    .await;
    let (a, related, responses) = match found {
        Ok(Some(x)) => x,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no such alert"),
        Err(r) => return r,
    };
    let mut v = peregrine_store::export_json(&a);
    let rule = api
        .rules
        .rules()
        .into_iter()
        .find(|r| r.name == a.record.rule);
    if let Some(o) = v.as_object_mut() {
        o.insert("process_tree".into(), process_tree(&a));
        o.insert(
            "rule_info".into(),
            rule.map_or(Value::Null, |r| {
                json!({"description": r.description, "condition": r.condition, "enabled": r.enabled})
            }),
        );
        o.insert(
            "responses".into(),
            Value::Array(responses.iter().map(peregrine_store::export_json).collect()),
        );
        o.insert(
            "related".into(),
            Value::Array(related.iter().map(row).collect()),
        );
    }
    reply(StatusCode::OK, &v)
}

async fn set_status(api: Api, id: String, status: Status, caller: Option<Caller>) -> Response {
    if !valid_id(&id) {
        return error(StatusCode::NOT_FOUND, "no such alert");
    }
    let by = caller.map_or_else(|| "anonymous".to_string(), |c| c.name);
    let store = api.store.clone();
    match blocking(move || store.set_status(&id, status, &by, now_ns())).await {
        Ok(Some(a)) => reply(StatusCode::OK, &peregrine_store::export_json(&a)),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such alert"),
        Err(r) => r,
    }
}

async fn ack(
    State(api): State<Api>,
    Path(id): Path<String>,
    caller: Option<Extension<Caller>>,
) -> Response {
    set_status(api, id, Status::Acknowledged, caller.map(|c| c.0)).await
}

async fn resolve(
    State(api): State<Api>,
    Path(id): Path<String>,
    caller: Option<Extension<Caller>>,
) -> Response {
    set_status(api, id, Status::Resolved, caller.map(|c| c.0)).await
}

/// Chunks in flight between the exporting thread and the connection.
const EXPORT_CHUNKS: usize = 8;

/// A `Write` that hands 64 KiB chunks to the response body; fails once the client is gone.
struct ChunkWriter {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(64 * 1024));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 64 * 1024 {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

async fn export(State(api): State<Api>, RawQuery(raw): RawQuery) -> Response {
    let (mut q, rest) = match query(raw.as_deref(), &["format"]) {
        Ok(x) => x,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    q.limit = peregrine_store::MAX_LIMIT;
    let (format, ctype, ext) = match rest.get("format").map(String::as_str) {
        None | Some("jsonl") => (ExportFormat::JsonLines, "application/x-ndjson", "jsonl"),
        Some("csv") => (ExportFormat::Csv, "text/csv; charset=utf-8", "csv"),
        Some(_) => return error(StatusCode::BAD_REQUEST, "format: expected jsonl or csv"),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(EXPORT_CHUNKS);
    let store = api.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = ChunkWriter {
            buf: Vec::with_capacity(64 * 1024),
            tx,
        };
        match store.export(&q, format, &mut w) {
            Ok(_) => {
                let _ = std::io::Write::flush(&mut w);
            }
            Err(e) => log::warn!("alerts API: export ended early: {e}"),
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|c| c.map(|c| Ok::<_, std::io::Error>(axum::body::Bytes::from(c))))
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"alerts.{ext}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn rules(State(api): State<Api>) -> Response {
    let store = api.store.clone();
    let hits = match blocking(move || store.rule_hits()).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let hits: HashMap<String, (u64, u64)> = hits
        .into_iter()
        .map(|h| (h.rule, (h.hits, h.last_ns)))
        .collect();
    let rules: Vec<Value> = api
        .rules
        .rules()
        .into_iter()
        .map(|r| {
            let (n, last) = hits.get(&r.name).copied().unwrap_or((0, 0));
            json!({
                "name": r.name,
                "enabled": r.enabled,
                "source": r.source,
                "priority": r.priority,
                "tags": r.tags,
                "description": r.description,
                "condition": r.condition,
                "file": r.file,
                "line": r.line,
                "hits": n,
                "last_hit_ns": (last > 0).then_some(last),
            })
        })
        .collect();
    reply(StatusCode::OK, &json!({ "rules": rules }))
}

/// The API's routes.
pub fn routes(api: Api) -> Router {
    Router::new()
        .route("/api/v1/alerts", get(list))
        .route("/api/v1/alerts/export", get(export))
        .route("/api/v1/alerts/{id}", get(detail))
        .route("/api/v1/alerts/{id}/ack", post(ack))
        .route("/api/v1/alerts/{id}/resolve", post(resolve))
        .route("/api/v1/rules", get(rules))
        .with_state(api)
}
