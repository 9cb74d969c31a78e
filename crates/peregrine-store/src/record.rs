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
