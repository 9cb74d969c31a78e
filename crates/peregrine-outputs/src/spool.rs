//! The on-disk spool of a network output: alerts wait here, in order, until their
//! destination accepts them, across restarts and `kill -9`.
//!
//! Key decisions:
//! - **redb, one file per output** (`<dir>/<output>.redb`): copy-on-write B-trees with
//!   checksummed commits, so a process killed at any instant reopens to the last commit, and a
//!   second agent on the same file is refused by redb's lock instead of interleaving.
//! - **One transaction per batch, not per alert.** An append commits every alert the worker
//!   took off its queue at once, fsync'ed (`Durability::Immediate`), so a commit's cost is
//!   shared by the whole burst. Removing delivered alerts is fsync'ed at most every
//!   [`DURABLE_EVERY`] (redb keeps a commit without fsync in memory only): a `kill -9` can
//!   bring back what was delivered in that last stretch — duplicates, which the id lets a
//!   receiver drop — and never loses an alert.
//! - **Bounded in bytes**: an append past `max_bytes` drops the oldest records (the caller
//!   counts and logs them); the newest alert is the one a person wants most.
//! - Each record carries a stable id (a random UUID made when the alert enters the spool)
//!   that every delivery attempt sends, so at-least-once delivery is deduplicable downstream.

use peregrine_filter::priority::Priority;
use redb::{Database, Durability, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};

/// Where spools live unless configured (`<output>_output.spool.dir`).
pub const DEFAULT_DIR: &str = "/var/lib/peregrine/spool";
/// Default bound of one output's spool.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// The longest stretch of removals that a crash can undo (see the module's comment).
pub const DURABLE_EVERY: std::time::Duration = std::time::Duration::from_millis(200);
/// What a record costs beyond its line: key, header and B-tree overhead, roughly.
const RECORD_OVERHEAD: u64 = 64;
/// Record header: priority (1), enqueue wall time in ns (8), id (16).
const HEADER: usize = 1 + 8 + 16;

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("alerts");

/// The `spool` block of a network output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolConfig {
    pub enabled: bool,
    pub dir: PathBuf,
    pub max_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            enabled: true,
            dir: PathBuf::from(DEFAULT_DIR),
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// Why the spool could not be opened or updated.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: cannot create the directory: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spool {path}: {source}")]
    Db {
        path: PathBuf,
        // Boxed: redb's error is large and this one travels on every Result.
        source: Box<redb::Error>,
    },
}

/// One spooled alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub id: uuid::Uuid,
    pub priority: Priority,
    /// When the alert was enqueued, ns since the Unix epoch (wall clock: it survives restarts).
    pub enqueued_ns: u64,
    /// The formatted alert, as the output sends it.
    pub line: String,
}

impl Record {
    pub fn new(priority: Priority, enqueued_ns: u64, line: String) -> Record {
        Record {
            id: uuid::Uuid::new_v4(),
            priority,
            enqueued_ns,
            line,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER + self.line.len());
        v.push(crate::alert::syslog_severity(self.priority));
        v.extend_from_slice(&self.enqueued_ns.to_le_bytes());
        v.extend_from_slice(self.id.as_bytes());
        v.extend_from_slice(self.line.as_bytes());
        v
    }

    /// `None` for a record this version cannot read (it is then discarded and counted).
    fn decode(b: &[u8]) -> Option<Record> {
        let (head, line) = b.split_at_checked(HEADER)?;
        let priority = *Priority::ALL.get(usize::from(head[0]))?;
        let enqueued_ns = u64::from_le_bytes(head[1..9].try_into().ok()?);
        let id = uuid::Uuid::from_slice(&head[9..HEADER]).ok()?;
        let line = std::str::from_utf8(line).ok()?.to_string();
        Some(Record {
            id,
            priority,
            enqueued_ns,
            line,
        })
    }

    fn cost(&self) -> u64 {
        (HEADER + self.line.len()) as u64 + RECORD_OVERHEAD
    }
}

/// What an append did beyond storing the batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// Oldest records dropped to stay within `max_bytes`.
    pub dropped: u64,
}

/// A spool file, used by one worker thread.
pub struct Spool {
    db: Database,
    path: PathBuf,
    max_bytes: u64,
    next_key: u64,
    len: u64,
    bytes: u64,
    /// Records found unreadable (dropped).
    corrupt: u64,
    /// When the last fsync'ed commit was.
    last_durable: std::time::Instant,
    /// Some removals are not fsync'ed yet.
    unsynced: bool,
}

impl Spool {
    /// Opens (or creates) `<dir>/<name>.redb`, creating `dir`; what an earlier run left is
    /// kept and delivered first.
    pub fn open(dir: &Path, name: &str, max_bytes: u64) -> Result<Spool, SpoolError> {
        std::fs::create_dir_all(dir).map_err(|source| SpoolError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(format!("{name}.redb"));
        let db = Database::create(&path).map_err(|e| SpoolError::Db {
            path: path.clone(),
            source: Box::new(e.into()),
        })?;
        let mut spool = Spool {
            db,
            path,
            max_bytes: max_bytes.max(1),
            next_key: 0,
            len: 0,
            bytes: 0,
            corrupt: 0,
            last_durable: std::time::Instant::now(),
            unsynced: false,
        };
        spool.scan()?;
        Ok(spool)
    }

    fn err(&self, e: impl Into<redb::Error>) -> SpoolError {
        SpoolError::Db {
            path: self.path.clone(),
            source: Box::new(e.into()),
        }
    }

    /// Counts what is stored and finds the next key (and creates the table on first use).
    fn scan(&mut self) -> Result<(), SpoolError> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let table = tx.open_table(TABLE).map_err(|e| self.err(e))?;
            let mut len = 0;
            let mut bytes = 0;
            for item in table.iter().map_err(|e| self.err(e))? {
                let (_, v) = item.map_err(|e| self.err(e))?;
                len += 1;
                bytes += v.value().len() as u64 + RECORD_OVERHEAD;
            }
            self.len = len;
            self.bytes = bytes;
            self.next_key = match table.last().map_err(|e| self.err(e))? {
                Some((k, _)) => k.value() + 1,
                None => 0,
            };
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Stores `records` after everything already spooled, in one durable commit; drops the
    /// oldest records when the spool would exceed its bound.
    pub fn append(&mut self, records: &[Record]) -> Result<Appended, SpoolError> {
        let mut tx = self.db.begin_write().map_err(|e| self.err(e))?;
        tx.set_durability(Durability::Immediate);
        let (mut len, mut bytes, mut key) = (self.len, self.bytes, self.next_key);
        let mut dropped = 0;
        {
            let mut table = tx.open_table(TABLE).map_err(|e| self.err(e))?;
            for r in records {
                table
                    .insert(key, r.encode().as_slice())
                    .map_err(|e| self.err(e))?;
                key += 1;
                len += 1;
                bytes += r.cost();
            }
            while bytes > self.max_bytes {
                let Some((_, v)) = table.pop_first().map_err(|e| self.err(e))? else {
                    break;
                };
                bytes = bytes.saturating_sub(v.value().len() as u64 + RECORD_OVERHEAD);
                len -= 1;
                dropped += 1;
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        self.last_durable = std::time::Instant::now();
        self.unsynced = false;
        (self.len, self.bytes, self.next_key) = (len, bytes, key);
        Ok(Appended { dropped })
    }

    /// Up to `n` of the oldest records with their keys; unreadable ones are removed and
    /// counted in [`Spool::corrupt`].
    pub fn peek(&mut self, n: usize) -> Result<Vec<(u64, Record)>, SpoolError> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        {
            let tx = self.db.begin_read().map_err(|e| self.err(e))?;
            let table = tx.open_table(TABLE).map_err(|e| self.err(e))?;
            for item in table.iter().map_err(|e| self.err(e))?.take(n) {
                let (k, v) = item.map_err(|e| self.err(e))?;
                match Record::decode(v.value()) {
                    Some(r) => out.push((k.value(), r)),
                    None => bad.push(k.value()),
                }
            }
        }
        if !bad.is_empty() {
            self.corrupt += bad.len() as u64;
            self.remove(&bad)?;
        }
        Ok(out)
    }

    /// Removes delivered (or given-up) records; fsync'ed only every [`DURABLE_EVERY`].
    pub fn remove(&mut self, keys: &[u64]) -> Result<(), SpoolError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().map_err(|e| self.err(e))?;
        let durable = self.last_durable.elapsed() >= DURABLE_EVERY;
        tx.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        });
        let (mut len, mut bytes) = (self.len, self.bytes);
        {
            let mut table = tx.open_table(TABLE).map_err(|e| self.err(e))?;
            for k in keys {
                if let Some(v) = table.remove(*k).map_err(|e| self.err(e))? {
                    len -= 1;
                    bytes = bytes.saturating_sub(v.value().len() as u64 + RECORD_OVERHEAD);
                }
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        if durable {
            self.last_durable = std::time::Instant::now();
        }
        self.unsynced = !durable;
        (self.len, self.bytes) = (len, bytes);
        Ok(())
    }

    /// Makes pending removals durable (an empty fsync'ed commit); called when the output
    /// goes idle, so a quiet spool never keeps delivered alerts that a crash would resend.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if !self.unsynced {
            return Ok(());
        }
        let mut tx = self.db.begin_write().map_err(|e| self.err(e))?;
        tx.set_durability(Durability::Immediate);
        tx.commit().map_err(|e| self.err(e))?;
        self.last_durable = std::time::Instant::now();
        self.unsynced = false;
        Ok(())
    }

    /// Records waiting.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the waiting records account for (payload plus a fixed overhead each).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Unreadable records found and discarded so far.
    pub fn corrupt(&self) -> u64 {
        self.corrupt
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pg-spool-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn rec(i: usize) -> Record {
        Record::new(Priority::Warning, i as u64, format!("alert {i}"))
    }

    #[test]
    fn records_survive_reopen_in_order_and_removal_sticks() {
        let d = dir("reopen");
        let mut s = Spool::open(&d, "http", DEFAULT_MAX_BYTES).expect("open");
        let recs: Vec<Record> = (0..10).map(rec).collect();
        s.append(&recs[..4]).expect("append");
        s.append(&recs[4..]).expect("append");
        let head = s.peek(3).expect("peek");
        assert_eq!(
            head.iter().map(|(_, r)| r).collect::<Vec<_>>(),
            [&recs[0], &recs[1], &recs[2]]
        );
        s.remove(&head.iter().map(|(k, _)| *k).collect::<Vec<_>>())
            .expect("remove");
        drop(s);
        let mut s = Spool::open(&d, "http", DEFAULT_MAX_BYTES).expect("reopen");
        assert_eq!(s.len(), 7);
        let all: Vec<Record> = s
            .peek(100)
            .expect("peek")
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        assert_eq!(all, recs[3..]);
        // New keys follow the old ones: order holds across runs.
        s.append(&[rec(10)]).expect("append");
        let last = s.peek(100).expect("peek").pop().expect("a record").1;
        assert_eq!(last.line, "alert 10");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_full_spool_drops_the_oldest() {
        let d = dir("full");
        let one = rec(0).cost();
        let mut s = Spool::open(&d, "http", one * 5).expect("open");
        let recs: Vec<Record> = (0..8).map(rec).collect();
        assert_eq!(s.append(&recs[..3]).expect("append").dropped, 0);
        assert_eq!(s.append(&recs[3..]).expect("append").dropped, 3);
        assert_eq!(s.len(), 5);
        assert!(s.bytes() <= one * 5);
        let kept: Vec<String> = s
            .peek(10)
            .expect("peek")
            .into_iter()
            .map(|(_, r)| r.line)
            .collect();
        assert_eq!(
            kept,
            ["alert 3", "alert 4", "alert 5", "alert 6", "alert 7"]
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_second_opener_is_refused() {
        let d = dir("lock");
        let _s = Spool::open(&d, "http", DEFAULT_MAX_BYTES).expect("open");
        assert!(Spool::open(&d, "http", DEFAULT_MAX_BYTES).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn records_round_trip_and_garbage_is_refused() {
        let r = Record::new(Priority::Emergency, 42, "x\u{e9}".into());
        assert_eq!(Record::decode(&r.encode()), Some(r.clone()));
        let mut b = r.encode();
        b[0] = 9;
        assert_eq!(Record::decode(&b), None);
        assert_eq!(Record::decode(&b[..HEADER - 1]), None);
        let mut b = r.encode();
        b.push(0xff);
        assert_eq!(Record::decode(&b), None);
    }
}
