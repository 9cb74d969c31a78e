//! The alert store: every alert that passed triage, with its Falco JSON and the context the
//! process state had when it fired (ancestry, container, pod), searchable by the console's
//! API, with a handling status, retention by age and size, and per-rule hit counts.
//!
//! Key design decision: the storage is behind the [`AlertStore`] trait and the detection path
//! only ever talks to a [`Writer`] — a bounded channel to one thread that inserts in batches.
//! Detection never waits for the disk: a full channel drops the record and counts it (the
//! outputs still deliver the alert). One host's store is [`SqliteStore`]: an embedded file, no
//! server to run, WAL so searches read beside the writer, FTS5 for free text. A fleet's is
//! [`PgStore`] (PostgreSQL), the same semantics behind the same trait; [`open`] picks one
//! from a URL or path. The cost of SQLite: one writer at a time, so insert throughput is
//! bounded by one core (measured in README), and the amalgamation compiled into the binary.

#![forbid(unsafe_code)]

pub mod postgres;
pub mod record;
pub mod sqlite;
pub mod writer;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use postgres::PgStore;
pub use record::{
    Ancestor, Container, Context, ExportFormat, Page, Pod, Query, Record, RuleHits, Status, Stored,
    TimeCounts,
};
pub use sqlite::SqliteStore;
pub use writer::{prometheus_text, Hooks, OnRetained, OnStored, Retention, Writer, WriterCounters};

/// Most alerts one search returns.
pub const MAX_LIMIT: usize = 1_000;

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("alert_store.path: cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("alert_store.path: cannot create {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("alert store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("alert store: encoding a record: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("alert store: export: {0}")]
    Export(#[from] std::io::Error),
    #[error("alert store: export: {0}")]
    Csv(#[from] csv::Error),
    #[error("alert store: cannot start the writer thread: {0}")]
    Thread(std::io::Error),
    /// The URL is shown without its password.
    #[error("alert store: cannot connect to PostgreSQL at {url}: {source}")]
    PgConnect {
        url: String,
        source: ::postgres::Error,
    },
    #[error("alert store: PostgreSQL: {0}")]
    Pg(#[from] ::postgres::Error),
}

/// Opens the store `url_or_path` names: a `postgres://` or `postgresql://` URL (libpq's URL
/// form: user, password, host or `host=/socket/dir`, port, database) opens a [`PgStore`],
/// migrating its schema; anything else is the path of a [`SqliteStore`] file (created if
/// missing). What the fleet server and the agent's configuration hand over.
pub fn open(url_or_path: &str) -> Result<Arc<dyn AlertStore>, StoreError> {
    if url_or_path.starts_with("postgres://") || url_or_path.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url_or_path)?))
    } else {
        Ok(Arc::new(SqliteStore::open(Path::new(url_or_path))?))
    }
}

/// Where alerts are kept. Implementations are shared between the writer thread and the web
/// server's handlers.
pub trait AlertStore: Send + Sync {
    /// Stores `batch` in one transaction; a record whose id is already stored is skipped.
    /// Returns how many were added.
    fn insert(&self, batch: &[Record]) -> Result<usize, StoreError>;
    fn get(&self, id: &str) -> Result<Option<Stored>, StoreError>;
    /// Newest first; see [`Query`].
    fn search(&self, q: &Query) -> Result<Page, StoreError>;
    /// Sets the status of alert `id`; `None` when there is no such alert.
    fn set_status(
        &self,
        id: &str,
        status: Status,
        by: &str,
        now_ns: u64,
    ) -> Result<Option<Stored>, StoreError>;
    /// Other alerts of `alert`'s container within `window_ns` of it, oldest first.
    fn related(
        &self,
        alert: &Stored,
        window_ns: u64,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError>;
    /// The response records that refer to alert `id`.
    fn responses(&self, id: &str) -> Result<Vec<Stored>, StoreError>;
    /// Deletes alerts older than `max_age` and then the oldest until the data fits
    /// `max_bytes`; returns how many were deleted.
    fn retain(
        &self,
        now_ns: u64,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
    ) -> Result<u64, StoreError>;
    fn rule_hits(&self) -> Result<Vec<RuleHits>, StoreError>;
    /// Alerts from `since_ns` in `buckets` buckets of `bucket_ns` each, per severity, and the
    /// `top` rules with most alerts in that range.
    fn time_counts(
        &self,
        since_ns: u64,
        bucket_ns: u64,
        buckets: usize,
        top: usize,
    ) -> Result<TimeCounts, StoreError>;
    /// Bytes on disk.
    fn size_bytes(&self) -> Result<u64, StoreError>;
    /// Alerts stored.
    fn count(&self) -> Result<u64, StoreError>;
    /// Records stored per host (response records included), for the fleet view's per-host
    /// volume after a restart.
    fn host_counts(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// Writes every alert `q` matches (newest first, `q.limit` ignored) to `out`, a page at a
    /// time so memory stays bounded; returns how many were written.
    fn export(
        &self,
        q: &Query,
        format: ExportFormat,
        out: &mut dyn Write,
    ) -> Result<u64, StoreError> {
        let mut q = Query {
            limit: MAX_LIMIT,
            ..q.clone()
        };
        let mut n = 0u64;
        enum Sink<'a> {
            Csv(Box<csv::Writer<&'a mut dyn Write>>),
            Json(&'a mut dyn Write),
        }
        let mut sink = match format {
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(CSV_HEADER)?;
                Sink::Csv(Box::new(w))
            }
            ExportFormat::JsonLines => Sink::Json(out),
        };
        loop {
            let page = self.search(&q)?;
            for a in &page.alerts {
                match &mut sink {
                    Sink::Csv(w) => w.write_record(csv_row(a))?,
                    Sink::Json(out) => {
                        let mut line = serde_json::to_vec(&export_json(a))?;
                        line.push(b'\n');
                        out.write_all(&line)?;
                    }
                }
                n += 1;
            }
            match &mut sink {
                Sink::Csv(w) => w.flush()?,
                Sink::Json(out) => out.flush()?,
            }
            match page.next_cursor {
                Some(c) => q.before_seq = Some(c),
                None => break,
            }
        }
        Ok(n)
    }
}

/// The CSV export's columns.
pub const CSV_HEADER: [&str; 12] = [
    "id",
    "time_ns",
    "priority",
    "rule",
    "source",
    "hostname",
    "container_id",
    "container_name",
    "namespace",
    "tags",
    "status",
    "output",
];

fn csv_row(a: &Stored) -> [String; 12] {
    let r = &a.record;
    let c = r.context.container.as_ref();
    [
        r.id.clone(),
        r.time_ns.to_string(),
        r.priority.clone(),
        r.rule.clone(),
        r.source.clone(),
        r.hostname.clone(),
        c.map(|c| c.id.clone()).unwrap_or_default(),
        c.map(|c| c.name.clone()).unwrap_or_default(),
        c.and_then(|c| c.pod.as_ref())
            .map(|p| p.namespace.clone())
            .unwrap_or_default(),
        r.tags.join(" "),
        a.status.as_str().to_string(),
        r.output.clone(),
    ]
}

/// One stored alert as the API and the JSON-lines export show it: the handling fields, the
/// context, and the Falco JSON as an object under `alert`.
pub fn export_json(a: &Stored) -> serde_json::Value {
    let r = &a.record;
    let alert: serde_json::Value =
        serde_json::from_str(&r.json).unwrap_or_else(|_| serde_json::Value::String(r.json.clone()));
    let mut v = serde_json::json!({
        "id": r.id,
        "time_ns": r.time_ns,
        "rule": r.rule,
        "priority": r.priority,
        "source": r.source,
        "hostname": r.hostname,
        "tags": r.tags,
        "output": r.output,
        "status": a.status,
        "alert": alert,
        "ancestry": r.context.ancestry,
        "container": r.context.container,
    });
    if let Some(o) = v.as_object_mut() {
        if !a.status_by.is_empty() {
            o.insert("status_by".into(), a.status_by.clone().into());
            o.insert("status_ns".into(), a.status_ns.into());
        }
        if let Some(t) = &r.refers_to {
            o.insert("refers_to".into(), t.clone().into());
        }
    }
    v
}
