//! [`AlertStore`] on PostgreSQL: the fleet server's store, many hosts' alerts in one database.
//!
//! Layout: the same `alerts` columns as the SQLite store, plus `tags` as a text array (GIN
//! index, `@>`) and `word_hashes`, the 64-bit hashes of the words of the output, rule and tags
//! (GIN index) for free text. `seq` comes from the table's sequence: insertion order, what
//! cursors count in. Each filter column has a `(column, seq)` B-tree, so "rule = ? newest
//! first" walks one index backwards and stops at the limit. The container, namespace and
//! source indexes are partial: they leave out the rows that carry no value (a host alert has no
//! container) and `syscall`, the source nearly every alert has (a search for it walks `seq`
//! and finds its page at once); each such index cost the insert about 3 µs per alert. A time window is a `seq` range, as in SQLite:
//! `seq_blocks` keeps the least and greatest event time of each block of 1,024 `seq`s
//! (updated in the insert's statement, so concurrent servers keep it exact), and the index
//! seeks into the range. (`(column, time)` indexes instead made a filter without a window sort
//! all of the column's matches: 130 ms for one container's 3,000 alerts.) `rule_hits` is
//! updated in the insert's statement too.
//!
//! A batch is one statement: the columns go as arrays (binary), `unnest` turns them into
//! rows, `ON CONFLICT (id) DO NOTHING` skips ids already stored, and the rule hits of the rows
//! actually inserted are added in the same statement. Two connections, as in SQLite: the
//! writer and a reader, each behind its own lock. No TLS: the server connects over a unix
//! socket or loopback (PostgreSQL beside it).
//!
//! Free text matches SQLite's: the words are made here, not by PostgreSQL's parser (which
//! would keep `/etc/shadow` as one path token): the text split at anything but letters and
//! digits, lower-cased, each word hashed to 64 bits (the first 8 bytes of its MD5, which
//! PostgreSQL's `md5()` computes the same, so a migration can hash old rows in SQL), and a
//! search's words the same way, all required (`@>`). No stemming, no stop words, no positions.
//! Integer keys made the GIN index half as costly to insert into as a `tsvector`'s (lexeme
//! comparisons were 40% of PostgreSQL's insert CPU). The price: two words with one hash match
//! each other; with 2^64 hashes, the odds for a store of ten million distinct words are about
//! one in 10^5 that any such pair exists at all, and such a pair still needs a search for one
//! word to meet an alert holding the other. The large text columns are compressed with LZ4,
//! several times cheaper than PostgreSQL's default pglz.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row};

use crate::record::{
    from_i64, read_stored, to_i64, Page, Query, Record, RuleHits, Status, Stored, StoredRow,
    TimeCounts,
};
use crate::{AlertStore, StoreError, MAX_LIMIT};

/// Rows deleted per statement by retention (as in SQLite: short locks, fast convergence).
const RETAIN_CHUNK: i64 = 5_000;

/// Serialises schema migration between servers opening the same database at once (an
/// arbitrary constant: "peregrine store" in ASCII, truncated).
const MIGRATE_LOCK: i64 = 0x7065_7265_6772_696e;

/// Schema versions, applied in order in one transaction each; `peregrine_schema` records the
/// last one applied. A new version is appended, never edited.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE alerts (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    time_ns BIGINT NOT NULL,
    rule TEXT NOT NULL,
    priority TEXT NOT NULL,
    severity SMALLINT NOT NULL,
    source TEXT NOT NULL,
    hostname TEXT NOT NULL,
    tags TEXT[] NOT NULL,
    output TEXT COMPRESSION lz4 NOT NULL,
    json TEXT COMPRESSION lz4 NOT NULL,
    context TEXT COMPRESSION lz4 NOT NULL,
    container_id TEXT NOT NULL,
    container_name TEXT NOT NULL,
    namespace TEXT NOT NULL,
    refers_to TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    status_by TEXT NOT NULL DEFAULT '',
    status_ns BIGINT NOT NULL DEFAULT 0,
    words TSVECTOR NOT NULL
);
CREATE INDEX alerts_rule ON alerts (rule, seq);
CREATE INDEX alerts_source ON alerts (source, seq);
CREATE INDEX alerts_host ON alerts (hostname, seq);
CREATE INDEX alerts_container ON alerts (container_id, seq);
CREATE INDEX alerts_container_name ON alerts (container_name, seq);
CREATE INDEX alerts_namespace ON alerts (namespace, seq);
CREATE INDEX alerts_status ON alerts (status, seq) WHERE status <> 'open';
CREATE INDEX alerts_refers ON alerts (refers_to) WHERE refers_to IS NOT NULL;
CREATE INDEX alerts_tags ON alerts USING GIN (tags);
CREATE INDEX alerts_words ON alerts USING GIN (words);
CREATE TABLE rule_hits (
    rule TEXT PRIMARY KEY,
    hits BIGINT NOT NULL,
    last_ns BIGINT NOT NULL
);
CREATE TABLE seq_blocks (
    block BIGINT PRIMARY KEY,
    min_ns BIGINT NOT NULL,
    max_ns BIGINT NOT NULL
);
",
    "
ALTER TABLE alerts ADD COLUMN word_hashes BIGINT[];
UPDATE alerts SET word_hashes = ARRAY(SELECT DISTINCT ('x' || left(md5(w), 16))::bit(64)::bigint
    FROM unnest(tsvector_to_array(words)) w);
ALTER TABLE alerts ALTER COLUMN word_hashes SET NOT NULL;
ALTER TABLE alerts DROP COLUMN words;
CREATE INDEX alerts_words ON alerts USING GIN (word_hashes);
DROP INDEX alerts_source, alerts_container, alerts_container_name, alerts_namespace;
CREATE INDEX alerts_source ON alerts (source, seq) WHERE source <> 'syscall';
CREATE INDEX alerts_container ON alerts (container_id, seq) WHERE container_id <> '';
CREATE INDEX alerts_container_name ON alerts (container_name, seq) WHERE container_name <> '';
CREATE INDEX alerts_namespace ON alerts (namespace, seq) WHERE namespace <> '';
",
];

/// Alerts per entry of `seq_blocks` (`block = seq >> 10`), as in SQLite.
const BLOCK_BITS: u32 = 10;

const COLUMNS: &str = "seq, id, time_ns, rule, priority, severity, source, hostname, \
                       array_to_string(tags, ' '), output, json, context, refers_to, status, \
                       status_by, status_ns";

/// Longest word kept (as the `tsvector` of schema 1 did, so a migrated store answers alike).
const MAX_LEXEME: usize = 2_000;
/// Text of an alert made into words, at most.
const MAX_WORDS_TEXT: usize = 65_536;

/// A word's key in `word_hashes`: the first 8 bytes of its MD5, big-endian, as PostgreSQL's
/// `('x' || left(md5(w), 16))::bit(64)::bigint` computes it.
fn word_hash(word: &str) -> i64 {
    use md5::Digest;
    let d = md5::Md5::digest(word.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    i64::from_be_bytes(first)
}

/// The hashes of the words of `texts`, sorted and without repeats (what GIN keeps anyway).
/// `seen` keeps the hashes already made: alerts of one rule repeat most of their words, and
/// a map lookup costs a tenth of an MD5.
fn word_hashes<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    seen: &mut HashMap<String, i64>,
) -> Vec<i64> {
    let mut words = String::new();
    for t in texts {
        lexemes(t, &mut words);
    }
    let mut out: Vec<i64> = words
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| match seen.get(w) {
            Some(&h) => h,
            None => {
                let h = word_hash(w);
                seen.insert(w.to_string(), h);
                h
            }
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The words of `text` as lexemes, space-separated: split where SQLite's tokenizer splits
/// (anything but letters and digits), lower-cased.
fn lexemes(text: &str, out: &mut String) {
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() <= MAX_LEXEME)
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(w.chars().flat_map(char::to_lowercase));
    }
}

/// The word hashes a search's free text requires, or `None` when it has no word (as in
/// SQLite, such a text filters nothing). Being hashes, they are never syntax.
fn text_query(text: &str) -> Option<Vec<i64>> {
    let q = word_hashes([text], &mut HashMap::new());
    (!q.is_empty()).then_some(q)
}

/// The PostgreSQL store. Cheap to share (`Arc`): each connection is behind its own lock.
pub struct PgStore {
    writer: Mutex<Client>,
    reader: Mutex<Client>,
}

/// `url` without its password (in the user part or a `password=` parameter), for messages.
fn redacted(url: &str) -> String {
    let (base, params) = match url.split_once('?') {
        Some((b, p)) => (b, Some(p)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((auth, host)) => match auth.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => base.to_string(),
            },
            None => base.to_string(),
        },
        None => base.to_string(),
    };
    if let Some(p) = params {
        let p: Vec<String> = p
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k == "password" => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&p.join("&"));
    }
    out
}

/// PostgreSQL text cannot hold NUL: one in an alert (attacker-controlled text) would fail its
/// whole batch, so it is stored as U+FFFD.
fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        // Borrowed: a batch's text goes to the driver without a copy of its own.
        Cow::Borrowed(s)
    }
}

impl StoredRow for Row {
    type Error = postgres::Error;
    fn text(&self, i: usize) -> Result<String, postgres::Error> {
        self.try_get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, postgres::Error> {
        self.try_get(i)
    }
    fn int(&self, i: usize) -> Result<i64, postgres::Error> {
        self.try_get(i)
    }
    fn small(&self, i: usize) -> Result<i64, postgres::Error> {
        self.try_get::<_, i16>(i).map(i64::from)
    }
}

fn stored(row: &Row) -> Result<Stored, StoreError> {
    Ok(read_stored(row)?)
}

fn rows(rows: Vec<Row>) -> Result<Vec<Stored>, StoreError> {
    rows.iter().map(stored).collect()
}

impl PgStore {
    /// Connects to `url` (libpq's URL form) and brings the schema to the current version.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let connect = || {
            Client::connect(url, NoTls).map_err(|source| StoreError::PgConnect {
                url: redacted(url),
                source,
            })
        };
        let mut writer = connect()?;
        migrate(&mut writer)?;
        let reader = connect()?;
        Ok(PgStore {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Client> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Client> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Estimated bytes of the live alerts: the count times the mean size of the newest
    /// thousand rows (PostgreSQL keeps deleted rows' space in its files for reuse, so the
    /// files' size does not fall when rows go).
    fn live_bytes(&self) -> Result<(u64, u64), StoreError> {
        let row = self.writer().query_one(
            "SELECT (SELECT count(*) FROM alerts), \
             (SELECT coalesce(avg(pg_column_size(a.*)), 0)::float8 \
              FROM (SELECT * FROM alerts ORDER BY seq DESC LIMIT 1000) a)",
            &[],
        )?;
        let count = from_i64(row.try_get(0)?);
        let mean: f64 = row.try_get(1)?;
        Ok((count, (count as f64 * mean) as u64))
    }
}

/// Applies the migrations this database has not had, under an advisory lock.
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    migrate_to(client, MIGRATIONS.len())
}

/// [`migrate`] up to schema version `upto` (a test makes an old store with it).
fn migrate_to(client: &mut Client, upto: usize) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS peregrine_schema (version INTEGER NOT NULL)")?;
    let have: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM peregrine_schema",
            &[],
        )?
        .try_get(0)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().take(upto) {
        let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
        if version > have {
            tx.batch_execute(sql)?;
            tx.execute(
                "INSERT INTO peregrine_schema (version) VALUES ($1)",
                &[&version],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The `seq` range holding every alert with `since <= time_ns < until` (from `seq_blocks`),
/// or `None` when no alert can be in the window.
fn seq_range(
    client: &mut Client,
    since: Option<u64>,
    until: Option<u64>,
) -> Result<Option<(i64, i64)>, StoreError> {
    let row = client.query_one(
        "SELECT (SELECT min(block) FROM seq_blocks WHERE max_ns >= $1), \
                (SELECT max(block) FROM seq_blocks WHERE min_ns < $2)",
        &[
            &since.map_or(i64::MIN, to_i64),
            &until.map_or(i64::MAX, to_i64),
        ],
    )?;
    let (lo, hi): (Option<i64>, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
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

impl AlertStore for PgStore {
    fn insert(&self, batch: &[Record]) -> Result<usize, StoreError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let mut cols: [Vec<Cow<str>>; 12] = Default::default();
        // Every row's word hashes in one array; row i's are `hashes[lo[i]..=hi[i]]` (1-based,
        // as SQL slices: the driver sends one-dimensional arrays only).
        let mut hashes: Vec<i64> = Vec::new();
        let mut seen = HashMap::new();
        let (mut lo, mut hi) = (
            Vec::with_capacity(batch.len()),
            Vec::with_capacity(batch.len()),
        );
        let mut times = Vec::with_capacity(batch.len());
        let mut sev = Vec::with_capacity(batch.len());
        let mut refers: Vec<Option<Cow<str>>> = Vec::with_capacity(batch.len());
        for r in batch {
            let c = r.context.container.as_ref();
            let context = serde_json::to_string(&r.context)?;
            let tags: Vec<Cow<str>> = r.tags.iter().map(|t| text(t)).collect();
            let mut cut = r.output.len().min(MAX_WORDS_TEXT);
            while !r.output.is_char_boundary(cut) {
                cut -= 1;
            }
            let words = word_hashes(
                [&r.output[..cut], r.rule.as_str()]
                    .into_iter()
                    .chain(r.tags.iter().map(String::as_str)),
                &mut seen,
            );
            let first = i32::try_from(hashes.len() + 1).unwrap_or(i32::MAX);
            hashes.extend(words);
            lo.push(first);
            hi.push(i32::try_from(hashes.len()).unwrap_or(i32::MAX));
            let values = [
                text(&r.id),
                text(&r.rule),
                text(&r.priority),
                text(&r.source),
                text(&r.hostname),
                // Tags never hold spaces (Falco's are identifiers); joined, then split in SQL.
                Cow::Owned(tags.join(" ")),
                text(&r.output),
                text(&r.json),
                Cow::Owned(text(&context).into_owned()),
                text(c.map_or("", |c| c.id.as_str())),
                text(c.map_or("", |c| c.name.as_str())),
                text(
                    c.and_then(|c| c.pod.as_ref())
                        .map_or("", |p| p.namespace.as_str()),
                ),
            ];
            for (col, v) in cols.iter_mut().zip(values) {
                col.push(v);
            }
            times.push(to_i64(r.time_ns));
            sev.push(i16::from(r.severity));
            refers.push(r.refers_to.as_deref().map(text));
        }
        let [id, rule, prio, source, host, tags, output, json, ctx, cid, cname, ns] = &cols;
        let sql = "WITH ins AS (
                INSERT INTO alerts (id, time_ns, rule, priority, severity, source, hostname,
                    tags, output, json, context, container_id, container_name, namespace,
                    refers_to, word_hashes)
                SELECT b.id, b.t, b.rule, b.prio, b.sev, b.source, b.host,
                    string_to_array(b.tags, ' '), b.output, b.json, b.ctx, b.cid, b.cname,
                    b.ns, b.refers, ($18::int8[])[b.lo:b.hi]
                FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int2[],
                    $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                    $12::text[], $13::text[], $14::text[], $15::text[], $16::int4[],
                    $17::int4[])
                    WITH ORDINALITY AS b(id, t, rule, prio, sev, source, host, tags, output,
                        json, ctx, cid, cname, ns, refers, lo, hi, ord)
                ORDER BY b.ord
                ON CONFLICT (id) DO NOTHING
                RETURNING seq, rule, time_ns
            ), blocks AS (
                INSERT INTO seq_blocks (block, min_ns, max_ns)
                SELECT seq >> 10, min(time_ns), max(time_ns) FROM ins GROUP BY seq >> 10
                ON CONFLICT (block) DO UPDATE SET min_ns = least(seq_blocks.min_ns,
                    excluded.min_ns), max_ns = greatest(seq_blocks.max_ns, excluded.max_ns)
            ), hits AS (
                INSERT INTO rule_hits (rule, hits, last_ns)
                SELECT rule, count(*), max(time_ns) FROM ins GROUP BY rule
                ON CONFLICT (rule) DO UPDATE SET hits = rule_hits.hits + excluded.hits,
                    last_ns = greatest(rule_hits.last_ns, excluded.last_ns)
            )
            SELECT count(*) FROM ins";
        let params: [&(dyn ToSql + Sync); 18] = [
            id, &times, rule, prio, &sev, source, host, tags, output, json, ctx, cid, cname, ns,
            &refers, &lo, &hi, &hashes,
        ];
        let mut client = self.writer();
        let st = client.prepare(sql)?;
        let n: i64 = client.query_one(&st, &params)?.try_get(0)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn get(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        let row = self.reader().query_opt(
            &format!("SELECT {COLUMNS} FROM alerts WHERE id = $1"),
            &[&id],
        )?;
        row.as_ref().map(stored).transpose()
    }

    fn search(&self, q: &Query) -> Result<Page, StoreError> {
        let mut client = self.reader();
        let range = if q.since_ns.is_some() || q.until_ns.is_some() {
            match seq_range(&mut client, q.since_ns, q.until_ns)? {
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
        let mut w: Vec<String> = Vec::new();
        let mut p: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        let mut arg = |w: &mut Vec<String>, cond: &str, v: Box<dyn ToSql + Sync>| {
            p.push(v);
            w.push(cond.replace('?', &format!("${}", p.len())));
        };
        if let Some(h) = q.text.as_deref().and_then(text_query) {
            arg(&mut w, "word_hashes @> ?::int8[]", Box::new(h));
        }
        if let Some(t) = &q.tag {
            arg(&mut w, "tags @> ARRAY[?]::text[]", Box::new(t.clone()));
        }
        if let Some(t) = q.since_ns {
            arg(&mut w, "time_ns >= ?", Box::new(to_i64(t)));
        }
        if let Some(t) = q.until_ns {
            arg(&mut w, "time_ns < ?", Box::new(to_i64(t)));
        }
        for (col, v) in [
            ("rule", &q.rule),
            ("source", &q.source),
            ("hostname", &q.hostname),
            ("namespace", &q.namespace),
        ] {
            if let Some(v) = v {
                arg(&mut w, &format!("{col} = ?"), Box::new(v.clone()));
            }
        }
        if let Some(s) = q.min_severity {
            arg(&mut w, "severity <= ?", Box::new(i16::from(s)));
        }
        if let Some(c) = &q.container {
            let hex = c.bytes().all(|b| b.is_ascii_hexdigit());
            if hex && c.len() == 64 {
                arg(&mut w, "container_id = ?", Box::new(c.clone()));
            } else if hex && c.len() == 12 {
                // The short id Falco prints: a prefix of the full one (a range, so the
                // index serves it whatever the collation).
                arg(&mut w, "container_id >= ?", Box::new(c.clone()));
                arg(
                    &mut w,
                    "container_id < ?",
                    Box::new(format!("{c}\u{10FFFF}")),
                );
            } else {
                arg(&mut w, "container_name = ?", Box::new(c.clone()));
            }
        }
        if let Some(s) = q.status {
            arg(&mut w, "status = ?", Box::new(s.as_str().to_string()));
        }
        if let Some(c) = q.before_seq {
            arg(&mut w, "seq < ?", Box::new(c));
        }
        if let Some((lo, hi)) = range {
            arg(&mut w, "seq >= ?", Box::new(lo));
            arg(&mut w, "seq <= ?", Box::new(hi));
        }
        let limit = q.limit.clamp(1, MAX_LIMIT);
        let sql = format!(
            "SELECT {COLUMNS} FROM alerts{}{} ORDER BY seq DESC LIMIT {}",
            if w.is_empty() { "" } else { " WHERE " },
            w.join(" AND "),
            limit + 1
        );
        let params: Vec<&(dyn ToSql + Sync)> = p.iter().map(|b| b.as_ref()).collect();
        let alerts = rows(client.query(&sql, &params)?)?;
        Ok(Page::cut(alerts, limit))
    }

    fn set_status(
        &self,
        id: &str,
        status: Status,
        by: &str,
        now_ns: u64,
    ) -> Result<Option<Stored>, StoreError> {
        let row = self.writer().query_opt(
            &format!(
                "UPDATE alerts SET status = $1, status_by = $2, status_ns = $3 WHERE id = $4 \
                 RETURNING {COLUMNS}"
            ),
            &[&status.as_str(), &text(by), &to_i64(now_ns), &id],
        )?;
        row.as_ref().map(stored).transpose()
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
        let mut client = self.reader();
        let Some((lo, hi)) = seq_range(&mut client, Some(since), Some(until.saturating_add(1)))?
        else {
            return Ok(Vec::new());
        };
        let found = client.query(
            &format!(
                "SELECT {COLUMNS} FROM alerts WHERE container_id = $1 AND seq >= $2 \
                 AND seq <= $3 AND time_ns >= $4 AND time_ns <= $5 AND seq <> $6 \
                 ORDER BY time_ns LIMIT $7"
            ),
            &[
                &c.id,
                &lo,
                &hi,
                &to_i64(since),
                &to_i64(until),
                &alert.seq,
                &to_i64(limit as u64),
            ],
        )?;
        rows(found)
    }

    fn responses(&self, id: &str) -> Result<Vec<Stored>, StoreError> {
        let found = self.reader().query(
            &format!("SELECT {COLUMNS} FROM alerts WHERE refers_to = $1 ORDER BY seq LIMIT 100"),
            &[&id],
        )?;
        rows(found)
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
            let cutoff = to_i64(now_ns.saturating_sub(age_ns));
            // The old alerts are all below the last block holding an old one.
            let below: Option<i64> = self
                .writer()
                .query_one(
                    "SELECT max(block) FROM seq_blocks WHERE min_ns < $1",
                    &[&cutoff],
                )?
                .try_get(0)?;
            let below = below.map_or(0, |b| {
                b.saturating_add(1)
                    .checked_shl(BLOCK_BITS)
                    .unwrap_or(i64::MAX)
            });
            loop {
                let n = self.writer().execute(
                    "DELETE FROM alerts WHERE seq IN \
                     (SELECT seq FROM alerts WHERE seq < $1 AND time_ns < $2 LIMIT $3)",
                    &[&below, &cutoff, &RETAIN_CHUNK],
                )?;
                deleted += n;
                if to_i64(n) < RETAIN_CHUNK {
                    break;
                }
            }
        }
        if let Some(max) = max_bytes {
            // The oldest go until the live rows' estimated size fits.
            let (count, bytes) = self.live_bytes()?;
            if bytes > max && count > 0 {
                let keep = u128::from(count) * u128::from(max) / u128::from(bytes);
                let mut over = to_i64(count - u64::try_from(keep).unwrap_or(count));
                while over > 0 {
                    let n = self.writer().execute(
                        "DELETE FROM alerts WHERE seq IN \
                         (SELECT seq FROM alerts ORDER BY seq LIMIT $1)",
                        &[&over.min(RETAIN_CHUNK)],
                    )?;
                    deleted += n;
                    if n == 0 {
                        break;
                    }
                    over -= to_i64(n);
                }
            }
        }
        if deleted > 0 {
            // Blocks wholly deleted; the rest stay (wider than their alerts now, which only
            // widens a search's range).
            self.writer().execute(
                "DELETE FROM seq_blocks WHERE block < \
                 coalesce((SELECT min(seq) FROM alerts) >> 10, 1::bigint << 62)",
                &[],
            )?;
        }
        Ok(deleted)
    }

    fn rule_hits(&self) -> Result<Vec<RuleHits>, StoreError> {
        self.reader()
            .query("SELECT rule, hits, last_ns FROM rule_hits", &[])?
            .iter()
            .map(|r| {
                Ok(RuleHits {
                    rule: r.try_get(0)?,
                    hits: from_i64(r.try_get(1)?),
                    last_ns: from_i64(r.try_get(2)?),
                })
            })
            .collect()
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
        let mut out = TimeCounts {
            buckets: vec![[0; 8]; buckets],
            top_rules: Vec::new(),
        };
        let mut client = self.reader();
        let Some((lo, hi)) = seq_range(&mut client, Some(since_ns), Some(until_ns))? else {
            return Ok(out);
        };
        for r in client.query(
            "SELECT (time_ns - $1) / $3, severity, count(*) FROM alerts \
             WHERE seq >= $4 AND seq <= $5 AND time_ns >= $1 AND time_ns < $2 \
             AND source <> 'response' GROUP BY 1, 2",
            &[&since, &until, &width, &lo, &hi],
        )? {
            let (b, sev, n): (i64, i16, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let slot = usize::try_from(b).ok().and_then(|b| out.buckets.get_mut(b));
            if let (Some(slot), Ok(sev)) = (slot, usize::try_from(sev.clamp(0, 7))) {
                slot[sev] += from_i64(n);
            }
        }
        if top > 0 {
            out.top_rules = client
                .query(
                    "SELECT rule, count(*) AS n FROM alerts \
                     WHERE seq >= $4 AND seq <= $5 AND time_ns >= $1 AND time_ns < $2 \
                     AND source <> 'response' GROUP BY rule ORDER BY n DESC, rule LIMIT $3",
                    &[&since, &until, &to_i64(top as u64), &lo, &hi],
                )?
                .iter()
                .map(|r| Ok((r.try_get::<_, String>(0)?, from_i64(r.try_get(1)?))))
                .collect::<Result<_, StoreError>>()?;
        }
        Ok(out)
    }

    /// The tables' files with their indexes and TOAST (what the fleet's disk holds).
    fn size_bytes(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .reader()
            .query_one(
                "SELECT pg_total_relation_size('alerts') + pg_total_relation_size('rule_hits')",
                &[],
            )?
            .try_get(0)?;
        Ok(from_i64(n))
    }

    fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .reader()
            .query_one("SELECT count(*) FROM alerts", &[])?
            .try_get(0)?;
        Ok(from_i64(n))
    }

    fn host_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.reader()
            .query(
                "SELECT hostname, count(*) FROM alerts GROUP BY hostname",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, from_i64(r.try_get(1)?))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_show_the_password() {
        assert_eq!(
            redacted("postgres://alice:s3cret@db:5432/alerts"),
            "postgres://alice:***@db:5432/alerts"
        );
        assert_eq!(
            redacted("postgresql://alice@db/alerts"),
            "postgresql://alice@db/alerts"
        );
        assert_eq!(redacted("postgres://db/alerts"), "postgres://db/alerts");
        // A password holding '@' still goes.
        assert_eq!(
            redacted("postgres://bob:p@ss@db/x"),
            "postgres://bob:***@db/x"
        );
        assert_eq!(
            redacted("postgres://db/x?user=u&password=pw&sslmode=disable"),
            "postgres://db/x?user=u&password=***&sslmode=disable"
        );
    }

    #[test]
    fn words_split_as_sqlite_splits_them() {
        let mut w = String::new();
        lexemes("cat /etc/Shadow17 by Zoë;rm -rf", &mut w);
        assert_eq!(w, "cat etc shadow17 by zoë rm rf");
        let mut q = ["a", "or", "near", "x"].map(word_hash).to_vec();
        q.sort_unstable();
        assert_eq!(text_query("\"a\" OR NEAR( * -x a"), Some(q));
        assert_eq!(text_query("*** ---"), None);
        // MD5("cat") = d077f244def8a70e5ea758bd8352fcd8: its first 8 bytes, big-endian.
        assert_eq!(word_hash("cat"), 0xd077_f244_def8_a70e_u64 as i64);
    }

    #[test]
    fn nul_is_replaced_not_refused() {
        assert_eq!(text("a\0b"), "a\u{FFFD}b");
        assert_eq!(text("plain"), "plain");
    }

    /// A store of schema 1 (words as a `tsvector`) migrates: its alerts are found by free
    /// text as new ones are.
    #[test]
    fn a_schema_1_store_migrates_its_words() {
        if !peregrine_testkit::e2e("a_schema_1_store_migrates_its_words") {
            return;
        }
        let pg = peregrine_testkit::services::postgres().expect("postgres starts");
        let url = format!(
            "postgres://{}@127.0.0.1:{}/postgres",
            peregrine_testkit::services::POSTGRES_USER,
            pg.port()
        );
        let mut c = Client::connect(&url, NoTls).expect("connect");
        migrate_to(&mut c, 1).expect("schema 1");
        let mut words = String::new();
        lexemes("Shell spawned by Zoë: /etc/Shadow", &mut words);
        c.execute(
            "INSERT INTO alerts (id, time_ns, rule, priority, severity, source, hostname, tags, \
             output, json, context, container_id, container_name, namespace, words) VALUES \
             ('old', 1, 'r', 'Warning', 4, 'syscall', 'h', '{}', 'o', '{}', '{}', '', '', '', \
             array_to_tsvector(string_to_array($1, ' ')))",
            &[&words],
        )
        .expect("a schema 1 row");
        drop(c);
        let store = PgStore::connect(&url).expect("migrates");
        store
            .insert(&[Record {
                id: "new".into(),
                output: "ZOË read /etc/shadow".into(),
                ..Record::default()
            }])
            .expect("insert");
        let found = |text: &str| -> Vec<String> {
            let mut ids: Vec<String> = store
                .search(&Query {
                    text: Some(text.into()),
                    limit: 10,
                    ..Query::default()
                })
                .expect("search")
                .alerts
                .into_iter()
                .map(|a| a.record.id)
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(found("shadow zoë"), ["new", "old"]);
        assert_eq!(found("Spawned SHADOW"), ["old"]);
        assert_eq!(found("read"), ["new"]);
        assert!(found("shadow nothing").is_empty());
    }
}
