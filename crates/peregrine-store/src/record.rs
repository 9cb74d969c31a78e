//! What the store keeps of one alert, and what a search asks for.

use serde::{Deserialize, Serialize};

/// One alert as the agent hands it to the store: the alert's own facts, its Falco JSON, and
/// the context taken from the process state when it fired.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The alert's stable id (a UUID), unique in the store.
    pub id: String,
    /// Event time, ns since the epoch.
    pub time_ns: u64,
    pub rule: String,
    /// Falco's priority name (`Warning`, …).
    pub priority: String,
    /// The priority as a syslog severity: 0 (Emergency) … 7 (Debug); lower is more severe.
    pub severity: u8,
    /// `syscall`, `internal`, `response`, …
    pub source: String,
    pub hostname: String,
    pub tags: Vec<String>,
    /// The rendered rule output (no time/priority prefix).
    pub output: String,
    /// The alert exactly as Falco's JSON output prints it.
    pub json: String,
    #[serde(default)]
    pub context: Context,
    /// For a response record (`source: response`): the id of the alert that triggered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refers_to: Option<String>,
}

/// Where the alert happened, as the state knew it at alert time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// The process that made the event first, then its parent, and so on up to the
    /// configured depth (`alert_store.ancestry_depth`).
    #[serde(default)]
    pub ancestry: Vec<Ancestor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
}

/// One process of an alert's ancestry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ancestor {
    pub pid: i64,
    pub ppid: i64,
    /// `proc.exepath` when known, else `proc.exe`.
    pub exe: String,
    /// `proc.cmdline`.
    pub cmdline: String,
    pub uid: u32,
    /// The user name, when the state resolved it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// ns since the epoch; 0 when unknown.
    pub start_ns: u64,
}

/// The alert's container (and pod), with labels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub labels: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<Pod>,
}

/// A Kubernetes pod, from the container runtime's `io.kubernetes.pod.*` labels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    #[serde(default)]
    pub labels: Vec<(String, String)>,
}

/// Where an alert is in its handling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Open,
    Acknowledged,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "open" => Some(Status::Open),
            "acknowledged" => Some(Status::Acknowledged),
            "resolved" => Some(Status::Resolved),
            _ => None,
        }
    }
}

/// A stored alert: the record and its handling state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// Insertion order in this store: what a search's cursor counts in.
    pub seq: i64,
    #[serde(flatten)]
    pub record: Record,
    pub status: Status,
    /// Who set the status, and when (ns since the epoch); empty/0 while open.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status_by: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub status_ns: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A search. Every filter that is set must hold; results come newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Event time at or after, ns since the epoch.
    pub since_ns: Option<u64>,
    /// Event time before, ns since the epoch.
    pub until_ns: Option<u64>,
    /// Exact rule name.
    pub rule: Option<String>,
    /// At least this severe: a syslog severity, alerts with `severity <= min_severity`.
    pub min_severity: Option<u8>,
    pub source: Option<String>,
    pub hostname: Option<String>,
    /// A container id (full, or the 12-character short id) or name.
    pub container: Option<String>,
    /// Kubernetes namespace.
    pub namespace: Option<String>,
    /// One of the rule's tags.
    pub tag: Option<String>,
    /// Free text: every word must appear in the output, rule name or tags (FTS5).
    pub text: Option<String>,
    pub status: Option<Status>,
    /// At most this many (capped by [`crate::MAX_LIMIT`]).
    pub limit: usize,
    /// From a previous page's [`Page::next_cursor`]: only alerts stored before it.
    pub before_seq: Option<i64>,
}

/// One page of a search.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub alerts: Vec<Stored>,
    /// Pass as [`Query::before_seq`] for the next page; `None` on the last page.
    pub next_cursor: Option<i64>,
}

impl Page {
    /// A page from a search that fetched `limit + 1` rows: the extra row only says there is a
    /// next page, whose cursor is the last kept alert's `seq`.
    pub(crate) fn cut(mut alerts: Vec<Stored>, limit: usize) -> Page {
        let next_cursor = if alerts.len() > limit {
            alerts.truncate(limit);
            alerts.last().map(|a| a.seq)
        } else {
            None
        };
        Page {
            alerts,
            next_cursor,
        }
    }
}

/// Hits of one rule since the store was created (retention does not lower them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleHits {
    pub rule: String,
    pub hits: u64,
    pub last_ns: u64,
}

/// Alerts of a time range counted per bucket and severity, and its most frequent rules: what
/// the console's overview draws. Response records are not counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimeCounts {
    /// Per bucket (oldest first), alerts per syslog severity (index 0 Emergency … 7 Debug).
    pub buckets: Vec<[u64; 8]>,
    /// (rule, alerts) in the whole range, most first.
    pub top_rules: Vec<(String, u64)>,
}

/// What [`crate::AlertStore::export`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// One stored alert per line as JSON (the API's detail shape without related alerts).
    JsonLines,
    /// RFC 4180 CSV with a header row.
    Csv,
}

/// One stored alert's columns as a database row holds them, in the stores' `COLUMNS` order
/// (seq, id, time, rule, priority, severity, source, hostname, tags, output, json, context,
/// refers_to, status, status_by, status_ns): each store implements it for its row type, and
/// [`read_stored`] decodes the columns the same way for both.
pub(crate) trait StoredRow {
    type Error;
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    fn int(&self, i: usize) -> Result<i64, Self::Error>;
    /// The severity column (a SMALLINT in PostgreSQL).
    fn small(&self, i: usize) -> Result<i64, Self::Error>;
}

/// Times and counts are u64 here and i64 (signed) in both databases: saturate going in,
/// read a negative (hand-edited) value as 0 coming out.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn from_i64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) fn read_stored<R: StoredRow + ?Sized>(row: &R) -> Result<Stored, R::Error> {
    let tags = row.text(8)?;
    let context = row.text(11)?;
    Ok(Stored {
        seq: row.int(0)?,
        record: Record {
            id: row.text(1)?,
            time_ns: from_i64(row.int(2)?),
            rule: row.text(3)?,
            priority: row.text(4)?,
            severity: row.small(5)?.clamp(0, 7) as u8,
            source: row.text(6)?,
            hostname: row.text(7)?,
            tags: tags
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            output: row.text(9)?,
            json: row.text(10)?,
            // Written by this crate; a row edited by hand loses its context, not the alert.
            context: serde_json::from_str::<Context>(&context).unwrap_or_default(),
            refers_to: row.opt_text(12)?,
        },
        status: Status::parse(&row.text(13)?).unwrap_or_default(),
        status_by: row.text(14)?,
        status_ns: from_i64(row.int(15)?),
    })
}
