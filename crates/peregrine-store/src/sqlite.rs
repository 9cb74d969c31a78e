//! [`AlertStore`] on one SQLite file (WAL).
//!
//! Layout: `alerts` holds one row per alert — the searchable columns, the Falco JSON and the
//! context as JSON text; its rowid (`seq`) is the insertion order that cursors count in. Each
//! filter column has its own index; SQLite appends the rowid to every index, so "rule = ?
//! ORDER BY seq DESC LIMIT n" walks one index backwards and stops after n rows, however many
//! alerts are stored. Time windows use the same indexes: `seq_blocks` keeps, per block of
//! 1,024 consecutive `seq`s, the least and greatest event time in it, so a window becomes a
//! `seq` range that holds every alert of the window (exact, not a guess: the other filters and
//! the time itself are still checked) and each index seeks into it — no `(column, time)`
//! index for every column, and alerts out of time order (a fleet's late host) are still
//! found. `alerts_fts` is an external-content FTS5 index over output, rule and tags, filled
//! once per batch (a trigger per row made FTS5 flush its pending terms at every statement,
//! half the insert's time). `rule_hits` counts hits per rule in the insert's transaction, so
//! the rules page never counts rows and retention does not lower the figures.
//!
//! The two large columns, the Falco JSON and the context, are stored LZ4-compressed (a BLOB:
//! the text's length as 4 bytes little-endian, then an LZ4 block whose dictionary is the row's
//! `output`, which the JSON repeats and whose fields the context shares) when they are long
//! enough to gain. A row of ~2.1 KB shared its 4 KB page with no other; compressed it shares it
//! with one or two more, so the table writes (WAL, checkpoint) half the pages per alert or
//! fewer. A TEXT value (a file from before, a short text) is read as it is.
//!
//! Two connections: the writer (inserts, status, retention) and a reader for searches; WAL
//! lets the reader run beside a write. `auto_vacuum = INCREMENTAL` lets retention hand freed
//! pages back to the file system, so `max_bytes` bounds the file and not only its contents.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Type, Value as SqlValue, ValueRef};
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension, Row};

use crate::record::{
    from_i64, read_stored, to_i64, Page, Query, Record, RuleHits, Status, Stored, StoredRow,
    TimeCounts,
};
use crate::{AlertStore, StoreError, MAX_LIMIT};

/// Rows deleted per statement by size retention: small enough to keep the writer's lock
/// short, large enough to converge fast.
const RETAIN_CHUNK: i64 = 2_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alerts (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    time_ns INTEGER NOT NULL,
    rule TEXT NOT NULL,
    priority TEXT NOT NULL,
    severity INTEGER NOT NULL,
    source TEXT NOT NULL,
    hostname TEXT NOT NULL,
    tags TEXT NOT NULL,
    output TEXT NOT NULL,
    json TEXT NOT NULL,
    context TEXT NOT NULL,
    container_id TEXT NOT NULL,
    container_name TEXT NOT NULL,
    namespace TEXT NOT NULL,
    refers_to TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    status_by TEXT NOT NULL DEFAULT '',
    status_ns INTEGER NOT NULL DEFAULT 0
);
DROP INDEX IF EXISTS alerts_time;
DROP INDEX IF EXISTS alerts_container_time;
DROP TRIGGER IF EXISTS alerts_ai;
CREATE INDEX IF NOT EXISTS alerts_rule ON alerts(rule);
CREATE INDEX IF NOT EXISTS alerts_source ON alerts(source);
CREATE INDEX IF NOT EXISTS alerts_host ON alerts(hostname);
CREATE INDEX IF NOT EXISTS alerts_container ON alerts(container_id);
CREATE INDEX IF NOT EXISTS alerts_container_name ON alerts(container_name);
CREATE INDEX IF NOT EXISTS alerts_namespace ON alerts(namespace);
CREATE INDEX IF NOT EXISTS alerts_refers ON alerts(refers_to) WHERE refers_to IS NOT NULL;
CREATE TABLE IF NOT EXISTS alert_tags (
    tag TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (tag, seq)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS alerts_fts USING fts5(
    output, rule, tags, content='alerts', content_rowid='seq', detail=none
);
CREATE TRIGGER IF NOT EXISTS alerts_ad AFTER DELETE ON alerts BEGIN
    INSERT INTO alerts_fts(alerts_fts, rowid, output, rule, tags)
        VALUES ('delete', old.seq, old.output, old.rule, old.tags);
    DELETE FROM alert_tags WHERE seq = old.seq;
END;
CREATE TABLE IF NOT EXISTS rule_hits (
    rule TEXT PRIMARY KEY,
    hits INTEGER NOT NULL,
    last_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS seq_blocks (
    block INTEGER PRIMARY KEY,
    min_ns INTEGER NOT NULL,
    max_ns INTEGER NOT NULL
);
";

/// Texts shorter than this are stored as they are (LZ4 would not gain enough to matter).
const PACK_MIN: usize = 128;
/// The most a stored compressed value may claim to expand to: a row is a few KB, so a larger
/// claim is a damaged file, refused rather than allocated.
const UNPACK_MAX: usize = 16 << 20;

/// The `output` column's index in `COLUMNS`: the dictionary of the compressed columns.
const OUTPUT_COLUMN: usize = 9;
/// An output shorter than this is no dictionary (`lz4_flex` panics on one of under 4 bytes,
/// and a short one gains nothing); [`pack`] and [`unpack`] decide alike.
const DICT_MIN: usize = 16;

fn dict(output: &[u8]) -> &[u8] {
    if output.len() < DICT_MIN {
        &[]
    } else {
        output
    }
}

/// `text` as its column value: LZ4-compressed with the dictionary `dict` (the row's output)
/// into `buf` (length prefix, then the block) when long enough, else the text itself.
fn pack<'a>(text: &'a [u8], dict: &[u8], buf: &'a mut Vec<u8>) -> ToSqlOutput<'a> {
    let Ok(len) = u32::try_from(text.len()) else {
        return ToSqlOutput::Borrowed(ValueRef::Text(text));
    };
    if text.len() < PACK_MIN {
        return ToSqlOutput::Borrowed(ValueRef::Text(text));
    }
    buf.clear();
    buf.extend_from_slice(&len.to_le_bytes());
    buf.resize(4 + lz4_flex::block::get_maximum_output_size(text.len()), 0);
    let packed = match dict {
        [] => lz4_flex::block::compress_into(text, &mut buf[4..]),
        d => lz4_flex::block::compress_into_with_dict(text, &mut buf[4..], d),
    };
    match packed {
        Ok(n) => ToSqlOutput::Borrowed(ValueRef::Blob(&buf[..4 + n])),
        // Cannot happen with a buffer of the maximum size; the text is still a valid value.
        Err(_) => ToSqlOutput::Borrowed(ValueRef::Text(text)),
    }
}

/// A column written by [`pack`]: a BLOB is decompressed (with the row's output as the
/// dictionary), a TEXT read as it is.
fn unpack(row: &Row<'_>, i: usize) -> rusqlite::Result<String> {
    let bad = |e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(i, Type::Blob, e)
    };
    match row.get_ref(i)? {
        ValueRef::Blob(b) => {
            let (len, body) = b
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("compressed value without its length".into()))?;
            let len = u32::from_le_bytes(*len) as usize;
            if len > UNPACK_MAX {
                return Err(bad(format!("compressed value claims {len} bytes").into()));
            }
            let output = match row.get_ref(OUTPUT_COLUMN)? {
                ValueRef::Text(t) => t,
                _ => &[],
            };
            let bytes = match dict(output) {
                [] => lz4_flex::block::decompress(body, len),
                d => lz4_flex::block::decompress_with_dict(body, len, d),
            }
            .map_err(|e| bad(e.into()))?;
            String::from_utf8(bytes).map_err(|e| bad(e.into()))
        }
        _ => row.get(i),
    }
}

/// Alerts per entry of `seq_blocks` (a power of two: the block is `seq >> BLOCK_BITS`).
const BLOCK_BITS: u32 = 10;

const COLUMNS: &str = "seq, id, time_ns, rule, priority, severity, source, hostname, tags, \
                       output, json, context, refers_to, status, status_by, status_ns";

/// The SQLite store. Cheap to share (`Arc`): each connection is behind its own lock.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn open_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    }
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Create {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // Alerts hold command lines and labels: a new file is readable by its owner only
        // (SQLite gives its -wal and -shm files the database file's mode).
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|source| StoreError::Create {
                    path: path.to_path_buf(),
                    source,
                })?;
        }
        // Each connection is used under its own lock (`Mutex` below), so SQLite's own
        // per-connection mutexes are not needed.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let writer = Connection::open_with_flags(path, flags).map_err(open_err(path))?;
        // Must precede the first table to take effect on a new file.
        writer
            .execute_batch(
                "PRAGMA auto_vacuum = INCREMENTAL;
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = OFF;",
            )
            .map_err(open_err(path))?;
        writer.execute_batch(SCHEMA).map_err(open_err(path))?;
        // A file from before `seq_blocks` existed: build it once.
        writer
            .execute(
                &format!(
                    "INSERT INTO seq_blocks SELECT seq >> {BLOCK_BITS}, min(time_ns), \
                     max(time_ns) FROM alerts WHERE NOT EXISTS (SELECT 1 FROM seq_blocks) \
                     GROUP BY seq >> {BLOCK_BITS}"
                ),
                [],
            )
            .map_err(open_err(path))?;
        // The indexes take random keys (container, rule, tag): a larger page cache keeps
        // their upper levels in memory, so an insert does not re-read them from the file.
        // Reads through a memory map instead of a copy per page. Fewer, larger checkpoints
        // (a 64 MB WAL): an index page changed by many batches is copied back once, not once
        // per checkpoint (checkpoints were 15% of the insert's CPU at 4,000 pages).
        writer
            .execute_batch(
                "PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;
                 PRAGMA mmap_size = 268435456; PRAGMA wal_autocheckpoint = 16384;",
            )
            .map_err(open_err(path))?;
        let reader = Connection::open_with_flags(path, flags).map_err(open_err(path))?;
        reader
            .execute_batch("PRAGMA cache_size = -32768; PRAGMA mmap_size = 268435456;")
            .map_err(open_err(path))?;
        for c in [&writer, &reader] {
            c.busy_timeout(Duration::from_secs(5))
                .map_err(open_err(path))?;
        }
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl StoredRow for Row<'_> {
    type Error = rusqlite::Error;
    fn text(&self, i: usize) -> rusqlite::Result<String> {
        unpack(self, i)
    }
    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }
    fn int(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }
    fn small(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }
}

fn stored(row: &Row<'_>) -> rusqlite::Result<Stored> {
    read_stored(row)
}

/// FTS5 query text for free words: the text split where the index's tokenizer splits
/// (anything but letters and digits), each token quoted, so the user's text is never FTS
/// syntax and never a phrase (the index keeps no positions: `detail=none`); tokens are ANDed.
pub(crate) fn fts_phrase(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\""))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// A search as SQL: the table that drives it (walked newest first and stopped at the limit),
/// the other filters, their parameters.
struct Plan {
    /// `FROM …` with the stored alert as `a`.
    from: String,
    /// The driver's row number, equal to `a.seq`: what the order and the cursor use.
    seq: &'static str,
    w: Vec<String>,
    p: Vec<SqlValue>,
}

/// The `seq` range holding every alert with `since <= time_ns < until` (from `seq_blocks`),
/// or `None` when no alert can be in the window.
fn seq_range(
    conn: &Connection,
    since: Option<u64>,
    until: Option<u64>,
) -> rusqlite::Result<Option<(i64, i64)>> {
    let lo: Option<i64> = match since {
        Some(t) => conn
            .prepare_cached("SELECT min(block) FROM seq_blocks WHERE max_ns >= ?")?
            .query_row([to_i64(t)], |r| r.get(0))?,
        None => Some(0),
    };
    let hi: Option<i64> = match until {
        Some(t) => conn
            .prepare_cached("SELECT max(block) FROM seq_blocks WHERE min_ns < ?")?
            .query_row([to_i64(t)], |r| r.get(0))?,
        None => Some(i64::MAX >> BLOCK_BITS),
    };
    Ok(match (lo, hi) {
        (Some(lo), Some(hi)) if lo <= hi => Some((
            lo << BLOCK_BITS,
            hi.saturating_add(1)
                .checked_shl(BLOCK_BITS)
                .filter(|&h| h > 0)
                .map_or(i64::MAX, |h| h - 1),
        )),
        _ => None,
    })
}

/// Plans `q` (with `range`, the `seq` range of its time window). The driver is the most selective index that also yields the alerts in `seq`
/// order, so a page reads about `limit` rows however many match: the free-text index when
/// there are words (FTS5 walks its rowids backwards), else the tag table when there is a tag,
/// else the alerts themselves (each column filter then walks its own index, which SQLite
/// keeps in rowid order). Filtering a whole set and sorting it instead cost 0.2–0.5 s per
/// page at a million alerts (README).
fn plan(q: &Query, range: Option<(i64, i64)>) -> Plan {
    let mut w = Vec::new();
    let mut p: Vec<SqlValue> = Vec::new();
    let text = q.text.as_deref().and_then(fts_phrase);
    let (from, seq) = if let Some(f) = &text {
        w.push("alerts_fts MATCH ?".to_string());
        p.push(SqlValue::Text(f.clone()));
        (
            "alerts_fts JOIN alerts a ON a.seq = alerts_fts.rowid",
            "alerts_fts.rowid",
        )
    } else if let Some(t) = &q.tag {
        w.push("t.tag = ?".to_string());
        p.push(SqlValue::Text(t.clone()));
        ("alert_tags t JOIN alerts a ON a.seq = t.seq", "t.seq")
    } else {
        ("alerts a", "a.seq")
    };
    // With several column filters, the index walked is the one whose values are usually the
    // rarest in a host's alerts (a container before a rule, a rule before a namespace, the
    // host last: one host's store holds one). Named, not left to the planner: without
    // statistics it took the namespace over the rule (3x slower at a million), and
    // statistics sampled cheaply misled it the same way.
    let driver = if from == "alerts a" {
        let container = q.container.as_ref().map(|c| {
            let hex = c.bytes().all(|b| b.is_ascii_hexdigit());
            if hex && (c.len() == 64 || c.len() == 12) {
                "alerts_container"
            } else {
                "alerts_container_name"
            }
        });
        container
            .or(q.rule.as_ref().map(|_| "alerts_rule"))
            .or(q.namespace.as_ref().map(|_| "alerts_namespace"))
            .or(q.source.as_ref().map(|_| "alerts_source"))
            .or(q.hostname.as_ref().map(|_| "alerts_host"))
    } else {
        None
    };
    let from = match driver {
        Some(index) => format!("{from} INDEXED BY {index}"),
        None => from.to_string(),
    };
    if let (Some(t), Some(_)) = (&q.tag, &text) {
        w.push("a.seq IN (SELECT seq FROM alert_tags WHERE tag = ?)".to_string());
        p.push(SqlValue::Text(t.clone()));
    }
    if let Some(t) = q.since_ns {
        w.push("a.time_ns >= ?".to_string());
        p.push(SqlValue::Integer(to_i64(t)));
    }
    if let Some(t) = q.until_ns {
        w.push("a.time_ns < ?".to_string());
        p.push(SqlValue::Integer(to_i64(t)));
    }
    let mut eq = |col: &str, v: &Option<String>| {
        if let Some(v) = v {
            w.push(format!("a.{col} = ?"));
            p.push(SqlValue::Text(v.clone()));
        }
    };
    eq("rule", &q.rule);
    eq("source", &q.source);
    eq("hostname", &q.hostname);
    eq("namespace", &q.namespace);
    if let Some(s) = q.min_severity {
        w.push("a.severity <= ?".to_string());
        p.push(SqlValue::Integer(i64::from(s)));
    }
    if let Some(c) = &q.container {
        let hex = c.bytes().all(|b| b.is_ascii_hexdigit());
        if hex && c.len() == 64 {
            w.push("a.container_id = ?".to_string());
            p.push(SqlValue::Text(c.clone()));
        } else if hex && c.len() == 12 {
            // The short id Falco prints: a prefix of the full one.
            w.push("(a.container_id >= ? AND a.container_id < ?)".to_string());
            p.push(SqlValue::Text(c.clone()));
            p.push(SqlValue::Text(format!("{c}\u{10FFFF}")));
        } else {
            w.push("a.container_name = ?".to_string());
            p.push(SqlValue::Text(c.clone()));
        }
    }
    if let Some(s) = q.status {
        w.push("a.status = ?".to_string());
        p.push(SqlValue::Text(s.as_str().to_string()));
    }
    if let Some(c) = q.before_seq {
        w.push(format!("{seq} < ?"));
        p.push(SqlValue::Integer(c));
    }
    if let Some((lo, hi)) = range {
        w.push(format!("{seq} BETWEEN ? AND ?"));
        p.push(SqlValue::Integer(lo));
        p.push(SqlValue::Integer(hi));
    }
    Plan { from, seq, w, p }
}

impl AlertStore for SqliteStore {
    fn insert(&self, batch: &[Record]) -> Result<usize, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let mut n = 0;
        let mut seqs: Option<(i64, i64)> = None;
        let mut blocks: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        let mut hits: HashMap<&str, (i64, i64)> = HashMap::new();
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO alerts (id, time_ns, rule, priority, severity, source, \
                 hostname, tags, output, json, context, container_id, container_name, \
                 namespace, refers_to) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            )?;
            let mut tag = tx.prepare_cached("INSERT OR IGNORE INTO alert_tags VALUES (?, ?)")?;
            // Reused for every row: the context's JSON and the two compressed columns.
            let (mut context, mut json_buf, mut context_buf) = (Vec::new(), Vec::new(), Vec::new());
            for r in batch {
                context.clear();
                serde_json::to_writer(&mut context, &r.context)?;
                let c = r.context.container.as_ref();
                let t = to_i64(r.time_ns);
                let added = ins.execute(params![
                    r.id,
                    t,
                    r.rule,
                    r.priority,
                    i64::from(r.severity),
                    r.source,
                    r.hostname,
                    r.tags.join(" "),
                    r.output,
                    pack(r.json.as_bytes(), dict(r.output.as_bytes()), &mut json_buf),
                    pack(&context, dict(r.output.as_bytes()), &mut context_buf),
                    c.map_or("", |c| c.id.as_str()),
                    c.map_or("", |c| c.name.as_str()),
                    c.and_then(|c| c.pod.as_ref())
                        .map_or("", |p| p.namespace.as_str()),
                    r.refers_to,
                ])?;
                if added == 0 {
                    // The same id again (a retried batch): stored once, counted once.
                    continue;
                }
                n += 1;
                let seq = tx.last_insert_rowid();
                for t in &r.tags {
                    tag.execute(params![t, seq])?;
                }
                seqs = Some(seqs.map_or((seq, seq), |(first, _)| (first, seq)));
                let b = blocks.entry(seq >> BLOCK_BITS).or_insert((t, t));
                *b = (b.0.min(t), b.1.max(t));
                let h = hits.entry(r.rule.as_str()).or_insert((0, t));
                *h = (h.0 + 1, h.1.max(t));
            }
            // Once per batch, not per row: FTS5 flushes its pending terms at each statement
            // that writes to it.
            if let Some((first, last)) = seqs {
                tx.prepare_cached(
                    "INSERT INTO alerts_fts(rowid, output, rule, tags) \
                     SELECT seq, output, rule, tags FROM alerts WHERE seq BETWEEN ? AND ?",
                )?
                .execute([first, last])?;
            }
            let mut hit = tx.prepare_cached(
                "INSERT INTO rule_hits (rule, hits, last_ns) VALUES (?, ?, ?) \
                 ON CONFLICT(rule) DO UPDATE SET hits = hits + excluded.hits, \
                 last_ns = max(last_ns, excluded.last_ns)",
            )?;
            for (rule, (count, last)) in &hits {
                hit.execute(params![rule, count, last])?;
            }
            let mut block = tx.prepare_cached(
                "INSERT INTO seq_blocks (block, min_ns, max_ns) VALUES (?, ?, ?) \
                 ON CONFLICT(block) DO UPDATE SET min_ns = min(min_ns, excluded.min_ns), \
                 max_ns = max(max_ns, excluded.max_ns)",
            )?;
            for (b, (lo, hi)) in &blocks {
                block.execute(params![b, lo, hi])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    fn get(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        let conn = self.reader();
        let mut st = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM alerts WHERE id = ?"))?;
        Ok(st.query_row([id], stored).optional()?)
    }

    fn search(&self, q: &Query) -> Result<Page, StoreError> {
        let conn = self.reader();
        let range = if q.since_ns.is_some() || q.until_ns.is_some() {
            match seq_range(&conn, q.since_ns, q.until_ns)? {
                Some(r) => Some(r),
                None => {
                    return Ok(Page {
                        alerts: Vec::new(),
                        next_cursor: None,
                    })
                }
            }
        } else {
            None
        };
        let Plan { from, seq, w, p } = plan(q, range);
        let limit = q.limit.clamp(1, MAX_LIMIT);
        let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("a.{c}")).collect();
        let sql = format!(
            "SELECT {} FROM {from}{}{} ORDER BY {seq} DESC LIMIT {}",
            columns.join(", "),
            if w.is_empty() { "" } else { " WHERE " },
            w.join(" AND "),
            limit + 1
        );
        let mut st = conn.prepare_cached(&sql)?;
        let alerts = st
            .query_map(params_from_iter(p), stored)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::cut(alerts, limit))
    }

    fn set_status(
        &self,
        id: &str,
        status: Status,
        by: &str,
        now_ns: u64,
    ) -> Result<Option<Stored>, StoreError> {
        let changed = self.writer().execute(
            "UPDATE alerts SET status = ?, status_by = ?, status_ns = ? WHERE id = ?",
            params![status.as_str(), by, to_i64(now_ns), id],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        self.get(id)
    }

    fn related(
        &self,
        alert: &Stored,
        window_ns: u64,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let Some(c) = alert.record.context.container.as_ref() else {
            return Ok(Vec::new());
        };
        let t = alert.record.time_ns;
        let (since, until) = (t.saturating_sub(window_ns), t.saturating_add(window_ns));
        let conn = self.reader();
        let Some((lo, hi)) = seq_range(&conn, Some(since), Some(until.saturating_add(1)))? else {
            return Ok(Vec::new());
        };
        // The container's index, within the window's seq range.
        let mut st = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM alerts WHERE container_id = ? AND seq BETWEEN ? AND ? \
             AND time_ns >= ? AND time_ns <= ? AND seq != ? ORDER BY time_ns LIMIT ?"
        ))?;
        let rows = st
            .query_map(
                params![
                    c.id,
                    lo,
                    hi,
                    to_i64(since),
                    to_i64(until),
                    alert.seq,
                    to_i64(limit as u64)
                ],
                stored,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn responses(&self, id: &str) -> Result<Vec<Stored>, StoreError> {
        let conn = self.reader();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM alerts WHERE refers_to = ? ORDER BY seq LIMIT 100"
        ))?;
        let rows = st
            .query_map([id], stored)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn retain(
        &self,
        now_ns: u64,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0u64;
        if let Some(age) = max_age {
            let age_ns = u64::try_from(age.as_nanos()).unwrap_or(u64::MAX);
            let cutoff = now_ns.saturating_sub(age_ns);
            // The old alerts are all below the last block holding an old one.
            let below: Option<i64> = self.writer().query_row(
                "SELECT max(block) FROM seq_blocks WHERE min_ns < ?",
                [to_i64(cutoff)],
                |r| r.get(0),
            )?;
            let below = below.map_or(0, |b| {
                b.saturating_add(1)
                    .checked_shl(BLOCK_BITS)
                    .unwrap_or(i64::MAX)
            });
            // In chunks: one huge DELETE would hold the writer (and so every insert) for as
            // long as it runs.
            loop {
                let n = self.writer().execute(
                    "DELETE FROM alerts WHERE seq IN \
                     (SELECT seq FROM alerts WHERE seq < ? AND time_ns < ? LIMIT ?)",
                    params![below, to_i64(cutoff), RETAIN_CHUNK],
                )?;
                deleted += n as u64;
                if (n as i64) < RETAIN_CHUNK {
                    break;
                }
            }
        }
        if let Some(max) = max_bytes {
            // Oldest first until the pages in use fit; a limit below the empty schema's size
            // empties the store and stops.
            loop {
                let used = self.used_bytes()?;
                if used <= max {
                    break;
                }
                // The share of rows over the bound (rows are of similar size), a little
                // more, at most a chunk: converges in a few rounds without overshooting.
                let rows = self.count()?;
                let over = rows.saturating_mul(used - max) / used.max(1);
                let chunk = to_i64(over + over / 20 + 1).min(RETAIN_CHUNK);
                let n = self.writer().execute(
                    "DELETE FROM alerts WHERE seq IN \
                     (SELECT seq FROM alerts ORDER BY seq LIMIT ?)",
                    [chunk],
                )?;
                deleted += n as u64;
                if n == 0 {
                    break;
                }
            }
        }
        if deleted > 0 {
            let conn = self.writer();
            // Blocks wholly deleted; the rest stay as they are (wider than their alerts now,
            // which only widens a search's range).
            conn.execute(
                &format!(
                    "DELETE FROM seq_blocks WHERE block < \
                     coalesce((SELECT min(seq) FROM alerts) >> {BLOCK_BITS}, 1 << 62)"
                ),
                [],
            )?;
            // Each step of `incremental_vacuum` frees one page: run it to the end.
            let mut st = conn.prepare("PRAGMA incremental_vacuum")?;
            let mut rows = st.query([])?;
            while rows.next()?.is_some() {}
            drop(rows);
            // The WAL would otherwise keep the deleted pages' bytes until the next checkpoint.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(deleted)
    }

    fn rule_hits(&self) -> Result<Vec<RuleHits>, StoreError> {
        let conn = self.reader();
        let mut st = conn.prepare_cached("SELECT rule, hits, last_ns FROM rule_hits")?;
        let rows = st
            .query_map([], |r| {
                Ok(RuleHits {
                    rule: r.get(0)?,
                    hits: from_i64(r.get(1)?),
                    last_ns: from_i64(r.get(2)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn time_counts(
        &self,
        since_ns: u64,
        bucket_ns: u64,
        buckets: usize,
        top: usize,
    ) -> Result<TimeCounts, StoreError> {
        let bucket_ns = bucket_ns.max(1);
        let until_ns = since_ns.saturating_add(bucket_ns.saturating_mul(buckets as u64));
        let (since, until, width) = (to_i64(since_ns), to_i64(until_ns), to_i64(bucket_ns));
        let conn = self.reader();
        // One read transaction: the chart and the top rules count the same alerts.
        conn.execute_batch("BEGIN")?;
        let counted = (|| {
            let mut out = TimeCounts {
                buckets: vec![[0; 8]; buckets],
                top_rules: Vec::new(),
            };
            // The window as a `seq` range (there is no time index), then time within it.
            let Some((lo, hi)) = seq_range(&conn, Some(since_ns), Some(until_ns))? else {
                return Ok(out);
            };
            let mut st = conn.prepare_cached(
                "SELECT (time_ns - ?1) / ?3, severity, count(*) FROM alerts \
                 WHERE seq >= ?4 AND seq <= ?5 AND time_ns >= ?1 AND time_ns < ?2 \
                 AND source != 'response' GROUP BY 1, 2",
            )?;
            let mut rows = st.query(params![since, until, width, lo, hi])?;
            while let Some(r) = rows.next()? {
                let (b, sev, n): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
                let slot = usize::try_from(b).ok().and_then(|b| out.buckets.get_mut(b));
                if let (Some(slot), Ok(sev)) = (slot, usize::try_from(sev.clamp(0, 7))) {
                    slot[sev] += from_i64(n);
                }
            }
            if top == 0 {
                return Ok(out);
            }
            let mut st = conn.prepare_cached(
                "SELECT rule, count(*) AS n FROM alerts \
                 WHERE seq >= ?4 AND seq <= ?5 AND time_ns >= ?1 AND time_ns < ?2 \
                 AND source != 'response' GROUP BY rule ORDER BY n DESC, rule LIMIT ?3",
            )?;
            out.top_rules = st
                .query_map(params![since, until, to_i64(top as u64), lo, hi], |r| {
                    Ok((r.get::<_, String>(0)?, from_i64(r.get(1)?)))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok::<_, StoreError>(out)
        })();
        conn.execute_batch("COMMIT")?;
        counted
    }

    fn size_bytes(&self) -> Result<u64, StoreError> {
        let main = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        Ok(main + std::fs::metadata(wal).map_or(0, |m| m.len()))
    }

    fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .reader()
            .query_row("SELECT count(*) FROM alerts", [], |r| r.get(0))?;
        Ok(from_i64(n))
    }

    fn host_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.reader();
        // `alerts_host` makes this a walk of the index, not of the rows.
        let mut stmt = conn.prepare("SELECT hostname, count(*) FROM alerts GROUP BY hostname")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        rows.map(|r| r.map(|(h, n)| (h, from_i64(n))).map_err(StoreError::from))
            .collect()
    }
}

impl SqliteStore {
    /// Bytes of the pages holding data (the file less its free pages).
    fn used_bytes(&self) -> Result<u64, StoreError> {
        let conn = self.writer();
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(from_i64((pages - free) * size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one() -> Record {
        Record {
            id: "a-1".into(),
            time_ns: 5,
            rule: "R".into(),
            priority: "Warning".into(),
            severity: 4,
            source: "syscall".into(),
            hostname: "h".into(),
            output: "cat read /etc/shadow (user=root)".into(),
            json: format!(
                "{{\"output\":\"cat read /etc/shadow (user=root)\",\"pad\":\"{}\"}}",
                "x".repeat(300)
            ),
            ..Record::default()
        }
    }

    /// A long JSON is stored compressed and read back as it was; a row written before
    /// compression (TEXT) still reads; a damaged value is an error, not a panic or a huge
    /// allocation.
    #[test]
    fn compressed_columns_round_trip_and_old_rows_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("a.db")).expect("open");
        let r = one();
        assert_eq!(store.insert(std::slice::from_ref(&r)).expect("insert"), 1);
        let kind: String = store
            .writer()
            .query_row("SELECT typeof(json) FROM alerts", [], |x| x.get(0))
            .expect("typeof");
        assert_eq!(kind, "blob");
        assert_eq!(store.get("a-1").expect("get").expect("stored").record, r);
        // Outputs too short to be a dictionary (lz4_flex panicked on one of 1 byte).
        for (i, output) in ["", "x", "abc", "fifteen bytes.."].into_iter().enumerate() {
            let short = Record {
                id: format!("s-{i}"),
                output: output.into(),
                ..one()
            };
            assert_eq!(
                store.insert(std::slice::from_ref(&short)).expect("insert"),
                1
            );
            let back = store.get(&short.id).expect("get").expect("stored").record;
            assert_eq!(back, short);
        }

        store
            .writer()
            .execute("UPDATE alerts SET json = ? WHERE id = 'a-1'", [&r.json])
            .expect("as text");
        assert_eq!(store.get("a-1").expect("get").expect("stored").record, r);

        let mut claim = u32::MAX.to_le_bytes().to_vec();
        claim.extend_from_slice(b"\x10x");
        store
            .writer()
            .execute("UPDATE alerts SET json = ? WHERE id = 'a-1'", [&claim])
            .expect("damaged");
        assert!(store.get("a-1").is_err());
    }
}
