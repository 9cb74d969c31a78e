//! Silences: time-bounded suppressions of the alerts that match all of a silence's
//! matchers. They come from the configuration (`silences`, including weekly maintenance
//! windows) and from the HTTP API (create, list, expire), and the API's are persisted in a
//! state file so that they survive a restart.
//!
//! Key decisions:
//! - **One store behind one lock**, shared by the alert path (a check per alert) and the web
//!   server (API calls). Checks are a few string comparisons per silence; an API call holds
//!   the lock only to change the list, the state file is written after it is released.
//! - **Expiring is not deleting**: `DELETE` ends a silence now; it stays listed (with its
//!   count) as `expired`, as in Alertmanager, until [`RETENTION`] has passed.
//! - **The state file is written atomically** (a temporary file in the same directory,
//!   synced, then renamed over the old one), so a crash leaves the old list or the new one.
//!   Only the API's silences are in it: the configuration's are read from the configuration.
//!   Counts are not persisted: like every other counter, they start at zero with the agent.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use peregrine_outputs::Alert;
use serde_json::{json, Map, Value};

use crate::matcher::Matcher;
use crate::timefmt::{format_rfc3339, parse_rfc3339};
use crate::TriageError;

/// How long an expired silence stays listed.
pub const RETENTION_NS: u64 = 24 * 3600 * 1_000_000_000;
/// The most silences the API keeps (active, pending and retained expired ones together).
pub const MAX_SILENCES: usize = 1_000;
/// The most matchers in one silence.
pub const MAX_MATCHERS: usize = 32;
/// Longest comment or `created_by`.
pub const MAX_TEXT: usize = 1024;
/// The state file's name under `state_dir`.
pub const STATE_FILE: &str = "silences.json";

const NS: u64 = 1_000_000_000;
const WEEK_MIN: u32 = 7 * 1440;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Where a silence came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Config,
    Api,
}

/// A weekly maintenance window in UTC: on each of `days`, from `start` for `length` minutes
/// (a window may run past midnight: `22:00`–`02:00`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weekly {
    /// 0 = Monday … 6 = Sunday.
    pub days: Vec<u8>,
    /// Minutes after midnight.
    pub start: u32,
    /// Minutes; 1 to 1440.
    pub length: u32,
}

impl Weekly {
    /// Whether `now_ns` falls in one of the windows.
    pub fn contains(&self, now_ns: u64) -> bool {
        let mins = now_ns / NS / 60;
        // 1970-01-01 was a Thursday (3 when Monday is 0).
        let minute_of_week = ((mins + 3 * 1440) % u64::from(WEEK_MIN)) as u32;
        self.days.iter().any(|&d| {
            let start = u32::from(d) * 1440 + self.start;
            (minute_of_week + WEEK_MIN - start) % WEEK_MIN < self.length
        })
    }

    fn to_json(&self) -> Value {
        let hm = |m: u32| format!("{:02}:{:02}", m / 60 % 24, m % 60);
        json!({
            "days": self.days.iter().map(|&d| DAYS[usize::from(d)]).collect::<Vec<_>>(),
            "start": hm(self.start),
            "end": hm(self.start + self.length),
        })
    }

    fn from_json(v: &Value, key: &str) -> Result<Weekly, TriageError> {
        let obj = v
            .as_object()
            .ok_or_else(|| invalid(key, "expected a mapping with days, start and end"))?;
        check_keys(obj, key, &["days", "start", "end"])?;
        let days_key = format!("{key}.days");
        let days = match obj.get("days") {
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|d| {
                    let s = d.as_str().unwrap_or_default().to_ascii_lowercase();
                    DAYS.iter()
                        .position(|x| s.starts_with(x) && s.len() >= 3)
                        .map(|i| i as u8)
                        .ok_or_else(|| invalid(&days_key, format!("unknown day {d} (mon … sun)")))
                })
                .collect::<Result<Vec<u8>, _>>()?,
            _ => return Err(invalid(&days_key, "expected a non-empty list of days")),
        };
        let time = |name: &str| -> Result<u32, TriageError> {
            let k = format!("{key}.{name}");
            let s = obj
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(&k, "expected a time HH:MM (UTC)"))?;
            parse_hm(s)
                .ok_or_else(|| invalid(&k, format!("expected a time HH:MM (UTC), got '{s}'")))
        };
        let (start, end) = (time("start")?, time("end")?);
        let length = if end > start {
            end - start
        } else {
            end + 1440 - start
        };
        Ok(Weekly {
            days,
            start,
            length,
        })
    }
}

fn parse_hm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && (h < 24 || m == 0)).then_some(h * 60 + m)
}

/// One silence.
#[derive(Clone, Debug, PartialEq)]
pub struct Silence {
    pub id: String,
    /// All must match.
    pub matchers: Vec<Matcher>,
    pub starts_at_ns: Option<u64>,
    pub ends_at_ns: Option<u64>,
    pub weekly: Option<Weekly>,
    pub comment: String,
    pub created_by: String,
    pub origin: Origin,
}

/// Where a silence stands at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Suppressing now.
    Active,
    /// Not started yet, or a weekly window that is not open now.
    Pending,
    Expired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Pending => "pending",
            State::Expired => "expired",
        }
    }
}

fn invalid(key: &str, reason: impl Into<String>) -> TriageError {
    TriageError::Invalid {
        key: key.to_string(),
        reason: reason.into(),
    }
}

fn check_keys(obj: &Map<String, Value>, key: &str, known: &[&str]) -> Result<(), TriageError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(invalid(
            &format!("{key}.{}", crate::printable(k)),
            format!("unknown key (expected one of: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// An id is printed in metrics labels, logs and URLs: letters, digits, `.`, `_`, `-`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Silence {
    pub fn state(&self, now_ns: u64) -> State {
        if self.ends_at_ns.is_some_and(|e| now_ns >= e) {
            State::Expired
        } else if self.starts_at_ns.is_some_and(|s| now_ns < s)
            || self.weekly.as_ref().is_some_and(|w| !w.contains(now_ns))
        {
            State::Pending
        } else {
            State::Active
        }
    }

    pub fn matches(&self, alert: &Alert) -> bool {
        self.matchers.iter().all(|m| m.matches(alert))
    }

    /// Reads a silence from JSON (a `silences` entry once the configuration is a tree, an
    /// API body, a state-file entry); errors name the key under `key`. `id` is the one to use
    /// when the object has no `id` (or `name`).
    pub fn from_json(
        v: &Value,
        key: &str,
        origin: Origin,
        id: Option<String>,
        now_ns: u64,
    ) -> Result<Silence, TriageError> {
        let obj = v
            .as_object()
            .ok_or_else(|| invalid(key, "expected a mapping"))?;
        check_keys(
            obj,
            key,
            &[
                "id",
                "name",
                "matchers",
                "starts_at",
                "ends_at",
                "duration_seconds",
                "weekly",
                "comment",
                "created_by",
                // Written by `to_json` for readers; ignored on input.
                "state",
                "suppressed",
                "origin",
            ],
        )?;
        let text = |name: &str| -> Result<Option<String>, TriageError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.len() <= MAX_TEXT => Ok(Some(s.clone())),
                Some(Value::String(_)) => Err(invalid(
                    &format!("{key}.{name}"),
                    format!("longer than {MAX_TEXT} bytes"),
                )),
                Some(other) => Err(invalid(
                    &format!("{key}.{name}"),
                    format!("expected a string, got {}", kind(other)),
                )),
            }
        };
        let id = match text("id")?.or(text("name")?) {
            Some(id) if valid_id(&id) => id,
            Some(id) => {
                return Err(invalid(
                    &format!("{key}.id"),
                    format!(
                        "'{}' is not an id (1 to 64 letters, digits, '.', '_', '-')",
                        crate::printable(&id)
                    ),
                ))
            }
            None => id.ok_or_else(|| invalid(&format!("{key}.id"), "missing"))?,
        };
        let mkey = format!("{key}.matchers");
        let matchers = match obj.get("matchers") {
            Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_MATCHERS => items
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let k = format!("{mkey}[{i}]");
                    let s = m
                        .as_str()
                        .ok_or_else(|| invalid(&k, "expected a string KEY=VALUE"))?;
                    Matcher::parse(s).map_err(|r| invalid(&k, r))
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(Value::Array(items)) if !items.is_empty() => {
                return Err(invalid(&mkey, format!("more than {MAX_MATCHERS} matchers")))
            }
            _ => {
                return Err(invalid(
                    &mkey,
                    "expected a non-empty list of matchers (KEY=VALUE): a silence of everything \
                     is refused",
                ))
            }
        };
        let time = |name: &str| -> Result<Option<u64>, TriageError> {
            match text(name)? {
                None => Ok(None),
                Some(s) => parse_rfc3339(&s).map(Some).ok_or_else(|| {
                    invalid(
                        &format!("{key}.{name}"),
                        format!(
                            "expected an RFC 3339 time (2026-12-07T22:00:00Z), got '{}'",
                            crate::printable(&s)
                        ),
                    )
                }),
            }
        };
        let starts_at_ns = time("starts_at")?;
        let mut ends_at_ns = time("ends_at")?;
        if let Some(d) = obj.get("duration_seconds") {
            let dkey = format!("{key}.duration_seconds");
            let secs = d
                .as_u64()
                .filter(|s| *s > 0)
                .ok_or_else(|| invalid(&dkey, "expected a positive integer"))?;
            if ends_at_ns.is_some() {
                return Err(invalid(&dkey, "ends_at is set too: set one of them"));
            }
            let from = starts_at_ns.unwrap_or(now_ns);
            ends_at_ns = Some(from.saturating_add(secs.saturating_mul(NS)));
        }
        if let (Some(s), Some(e)) = (starts_at_ns, ends_at_ns) {
            if e <= s {
                return Err(invalid(&format!("{key}.ends_at"), "not after starts_at"));
            }
        }
        let weekly = obj
            .get("weekly")
            .map(|w| Weekly::from_json(w, &format!("{key}.weekly")))
            .transpose()?;
        Ok(Silence {
            id,
            matchers,
            starts_at_ns,
            ends_at_ns,
            weekly,
            comment: text("comment")?.unwrap_or_default(),
            created_by: text("created_by")?.unwrap_or_default(),
            origin,
        })
    }

    /// The silence as the API lists it and the state file stores it.
    pub fn to_json(&self, now_ns: u64, suppressed: u64) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(self.id));
        o.insert(
            "matchers".into(),
            json!(self.matchers.iter().map(Matcher::text).collect::<Vec<_>>()),
        );
        if let Some(s) = self.starts_at_ns {
            o.insert("starts_at".into(), json!(format_rfc3339(s)));
        }
        if let Some(e) = self.ends_at_ns {
            o.insert("ends_at".into(), json!(format_rfc3339(e)));
        }
        if let Some(w) = &self.weekly {
            o.insert("weekly".into(), w.to_json());
        }
        o.insert("comment".into(), json!(self.comment));
        o.insert("created_by".into(), json!(self.created_by));
        o.insert(
            "origin".into(),
            json!(match self.origin {
                Origin::Config => "config",
                Origin::Api => "api",
            }),
        );
        o.insert("state".into(), json!(self.state(now_ns).as_str()));
        o.insert("suppressed".into(), json!(suppressed));
        Value::Object(o)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

struct Entry {
    silence: Silence,
    suppressed: u64,
}

struct Inner {
    entries: Vec<Entry>,
    seq: u64,
}

/// Why an API call failed; the web server maps each to a status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not a valid silence.
    #[error("{0}")]
    Invalid(TriageError),
    /// 404.
    #[error("no silence with id '{0}'")]
    NotFound(String),
    /// 409: an id in use, or a configuration silence the API may not change.
    #[error("{0}")]
    Conflict(String),
    /// 507: [`MAX_SILENCES`] reached.
    #[error("{MAX_SILENCES} silences exist already; expire some first")]
    Full,
    /// 500: the state file could not be written (the change is kept in memory).
    #[error("{0}")]
    Persist(TriageError),
}

/// The silences of one agent, shared by the alert path and the API.
pub struct Silences {
    inner: Mutex<Inner>,
    /// The state file (`state_dir/silences.json`); `None`: the API's silences live in memory.
    file: Option<PathBuf>,
    /// Serialises writers of the state file (outside the list's lock).
    write: Mutex<()>,
}

/// One silence's count, for the metrics page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SilenceCount {
    pub id: String,
    pub state: State,
    pub suppressed: u64,
}

impl Silences {
    /// The configuration's silences plus, when `file` is given and exists, the API's from an
    /// earlier run.
    pub fn new(config: Vec<Silence>, file: Option<PathBuf>) -> Result<Silences, TriageError> {
        let mut entries: Vec<Entry> = config
            .into_iter()
            .map(|silence| Entry {
                silence,
                suppressed: 0,
            })
            .collect();
        if let Some(path) = &file {
            for s in load_state(path)? {
                if entries.iter().any(|e| e.silence.id == s.id) {
                    log::warn!(
                        "silences: {}: id '{}' is also a configuration silence; the stored one is ignored",
                        path.display(),
                        s.id
                    );
                    continue;
                }
                entries.push(Entry {
                    silence: s,
                    suppressed: 0,
                });
            }
        }
        Ok(Silences {
            inner: Mutex::new(Inner { entries, seq: 0 }),
            file,
            write: Mutex::new(()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic mid-update leaves a list that is still valid: keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The id of the first active silence matching `alert`, whose count is incremented.
    pub fn check(&self, alert: &Alert, now_ns: u64) -> Option<String> {
        let mut inner = self.lock();
        let e = inner
            .entries
            .iter_mut()
            .find(|e| e.silence.state(now_ns) == State::Active && e.silence.matches(alert))?;
        e.suppressed += 1;
        Some(e.silence.id.clone())
    }

    /// Every silence as JSON, in creation order.
    pub fn list(&self, now_ns: u64) -> Value {
        let inner = self.lock();
        Value::Array(
            inner
                .entries
                .iter()
                .map(|e| e.silence.to_json(now_ns, e.suppressed))
                .collect(),
        )
    }

    /// One silence as JSON.
    pub fn get(&self, id: &str, now_ns: u64) -> Option<Value> {
        let inner = self.lock();
        inner
            .entries
            .iter()
            .find(|e| e.silence.id == id)
            .map(|e| e.silence.to_json(now_ns, e.suppressed))
    }

    pub fn counts(&self, now_ns: u64) -> Vec<SilenceCount> {
        self.lock()
            .entries
            .iter()
            .map(|e| SilenceCount {
                id: e.silence.id.clone(),
                state: e.silence.state(now_ns),
                suppressed: e.suppressed,
            })
            .collect()
    }

    /// `POST`: a new silence from a JSON body. An API silence must end (`ends_at` or
    /// `duration_seconds`); the id is generated unless the body gives one.
    pub fn create(&self, body: &[u8], now_ns: u64) -> Result<Value, ApiError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::Invalid(invalid("body", format!("not valid JSON: {e}"))))?;
        let silence = {
            let mut inner = self.lock();
            inner.seq += 1;
            let generated = format!("s-{:x}-{}", now_ns / 1_000_000, inner.seq);
            let s = Silence::from_json(&v, "silence", Origin::Api, Some(generated), now_ns)
                .map_err(ApiError::Invalid)?;
            if s.ends_at_ns.is_none() {
                return Err(ApiError::Invalid(invalid(
                    "silence.ends_at",
                    "missing: a silence made over the API must end (ends_at or duration_seconds)",
                )));
            }
            if s.state(now_ns) == State::Expired {
                return Err(ApiError::Invalid(invalid(
                    "silence.ends_at",
                    "in the past: the silence would never apply",
                )));
            }
            prune(&mut inner.entries, now_ns);
            if inner.entries.iter().any(|e| e.silence.id == s.id) {
                return Err(ApiError::Conflict(format!(
                    "a silence with id '{}' exists",
                    s.id
                )));
            }
            if inner.entries.len() >= MAX_SILENCES {
                return Err(ApiError::Full);
            }
            inner.entries.push(Entry {
                silence: s.clone(),
                suppressed: 0,
            });
            s
        };
        log::info!(
            "silences: created '{}' ({}), until {}",
            silence.id,
            crate::printable(
                &silence
                    .matchers
                    .iter()
                    .map(Matcher::text)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            silence.ends_at_ns.map(format_rfc3339).unwrap_or_default()
        );
        self.persist(now_ns).map_err(ApiError::Persist)?;
        Ok(silence.to_json(now_ns, 0))
    }

    /// `DELETE`: ends an API silence now (it stays listed as expired).
    pub fn expire(&self, id: &str, now_ns: u64) -> Result<Value, ApiError> {
        let json = {
            let mut inner = self.lock();
            let e = inner
                .entries
                .iter_mut()
                .find(|e| e.silence.id == id)
                .ok_or_else(|| ApiError::NotFound(id.to_string()))?;
            if e.silence.origin == Origin::Config {
                return Err(ApiError::Conflict(format!(
                    "silence '{id}' comes from the configuration: change the configuration to remove it"
                )));
            }
            if e.silence.state(now_ns) != State::Expired {
                e.silence.ends_at_ns = Some(now_ns);
                if e.silence.starts_at_ns.is_some_and(|s| s >= now_ns) {
                    // Never started: keep starts < ends so the state file reads back.
                    e.silence.starts_at_ns = Some(now_ns.saturating_sub(1));
                }
            }
            e.silence.to_json(now_ns, e.suppressed)
        };
        log::info!("silences: expired '{id}'");
        self.persist(now_ns).map_err(ApiError::Persist)?;
        Ok(json)
    }

    /// Writes the API's silences to the state file, atomically.
    fn persist(&self, now_ns: u64) -> Result<(), TriageError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let _writer = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let doc = {
            let inner = self.lock();
            let list: Vec<Value> = inner
                .entries
                .iter()
                .filter(|e| e.silence.origin == Origin::Api)
                .map(|e| {
                    let mut v = e.silence.to_json(now_ns, e.suppressed);
                    if let Value::Object(o) = &mut v {
                        for k in ["state", "suppressed", "origin"] {
                            o.remove(k);
                        }
                    }
                    v
                })
                .collect();
            json!({"version": 1, "silences": list})
        };
        let mut text = serde_json::to_vec_pretty(&doc).map_err(|e| TriageError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        text.push(b'\n');
        write_atomically(path, &text)
    }
}

/// Drops expired API silences older than the retention.
fn prune(entries: &mut Vec<Entry>, now_ns: u64) {
    entries.retain(|e| {
        e.silence.origin == Origin::Config
            || e.silence
                .ends_at_ns
                .is_none_or(|end| end.saturating_add(RETENTION_NS) > now_ns)
    });
}

/// Writes `data` to a temporary file beside `path`, syncs it, renames it over `path` and
/// syncs the directory, creating the directory first if needed.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<(), TriageError> {
    let err = |reason: String| TriageError::State {
        path: path.to_path_buf(),
        reason,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map_or_else(|| "state".into(), |n| n.to_string_lossy())
    ));
    let mut f =
        std::fs::File::create(&tmp).map_err(|e| err(format!("creating {}: {e}", tmp.display())))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| err(format!("writing {}: {e}", tmp.display())))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| err(format!("renaming {}: {e}", tmp.display())))?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Makes the rename itself durable; a file system that cannot sync a directory has
        // still renamed atomically.
        let _ = d.sync_all();
    }
    Ok(())
}

/// The API's silences stored by an earlier run; none when the file does not exist.
fn load_state(path: &Path) -> Result<Vec<Silence>, TriageError> {
    let err = |reason: String| TriageError::State {
        path: path.to_path_buf(),
        reason,
    };
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(e.to_string())),
    };
    let v: Value =
        serde_json::from_slice(&text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let list = v
        .get("silences")
        .and_then(Value::as_array)
        .ok_or_else(|| err("no 'silences' list".into()))?;
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            // `now` 0: a stored silence always has its absolute times.
            Silence::from_json(s, &format!("silences[{i}]"), Origin::Api, None, 0)
                .map_err(|e| err(e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_filter::format::OutputValue;
    use peregrine_filter::priority::Priority;

    /// 2026-12-07 (a Monday) 12:00 UTC.
    const MON_NOON: u64 = 1_796_644_800 * NS;
    const H: u64 = 3600 * NS;

    fn alert(ns: &str) -> Alert {
        let mut a = Alert::new(1, "Write below etc", Priority::Error, "o");
        a.output_fields = vec![("k8s.ns.name".into(), OutputValue::Str(ns.into()))];
        a
    }

    #[test]
    fn monday_noon_is_what_the_tests_think() {
        assert_eq!(format_rfc3339(MON_NOON), "2026-12-07T12:00:00Z");
    }

    #[test]
    fn weekly_windows_wrap_midnight_and_the_week() {
        let w = Weekly::from_json(
            &json!({"days": ["sun", "Monday"], "start": "22:00", "end": "02:00"}),
            "w",
        )
        .expect("valid");
        assert_eq!((w.start, w.length), (22 * 60, 240));
        let mon_midnight = MON_NOON - 12 * H;
        assert!(w.contains(mon_midnight + H), "Sunday 22:00 → Monday 02:00");
        assert!(!w.contains(mon_midnight + 2 * H));
        assert!(w.contains(mon_midnight + 23 * H), "Monday 22:00");
        assert!(w.contains(mon_midnight + 25 * H), "into Tuesday 01:00");
        assert!(!w.contains(mon_midnight + 26 * H));
        assert!(!w.contains(MON_NOON));
        let all_day = Weekly::from_json(
            &json!({"days": ["sat"], "start": "00:00", "end": "24:00"}),
            "w",
        )
        .expect("valid");
        assert_eq!(all_day.length, 1440);
        for bad in [
            json!({"days": [], "start": "1:00", "end": "2:00"}),
            json!({"days": ["xyz"], "start": "1:00", "end": "2:00"}),
            json!({"days": ["mon"], "start": "25:00", "end": "2:00"}),
            json!({"days": ["mon"], "start": "1:00"}),
            json!({"days": ["mon"], "start": "1:00", "end": "2:00", "tz": "CET"}),
        ] {
            assert!(Weekly::from_json(&bad, "w").is_err(), "{bad}");
        }
    }

    #[test]
    fn state_follows_time() {
        let s = Silence::from_json(
            &json!({"matchers": ["k8s.ns.name=staging"], "starts_at": "2026-12-07T12:00:00Z",
                    "duration_seconds": 3600}),
            "s",
            Origin::Api,
            Some("x".into()),
            0,
        )
        .expect("valid");
        assert_eq!(s.state(MON_NOON - 1), State::Pending);
        assert_eq!(s.state(MON_NOON), State::Active);
        assert_eq!(s.state(MON_NOON + H), State::Expired);
        assert!(s.matches(&alert("staging")) && !s.matches(&alert("prod")));
    }

    #[test]
    fn bad_silences_name_the_key() {
        for (v, key) in [
            (json!({"matchers": []}), "s.matchers"),
            (json!({"matchers": ["x"]}), "s.matchers[0]"),
            (
                json!({"matchers": ["a=b"], "ends_at": "tomorrow"}),
                "s.ends_at",
            ),
            (json!({"matchers": ["a=b"], "color": "red"}), "s.color"),
            (json!({"matchers": ["a=b"], "id": "a b"}), "s.id"),
            (
                json!({"matchers": ["a=b"], "starts_at": "2026-12-07T12:00:00Z", "ends_at": "2026-12-07T11:00:00Z"}),
                "s.ends_at",
            ),
            (
                json!({"matchers": ["a=b"], "duration_seconds": -5}),
                "s.duration_seconds",
            ),
            (json!({"matchers": ["a=b"], "comment": 5}), "s.comment"),
        ] {
            match Silence::from_json(&v, "s", Origin::Api, Some("g".into()), 0) {
                Err(TriageError::Invalid { key: k, .. }) => assert_eq!(k, key, "{v}"),
                other => panic!("{v}: {other:?}"),
            }
        }
    }

    #[test]
    fn api_create_check_expire_and_persist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("state").join(STATE_FILE);
        let s = Silences::new(Vec::new(), Some(file.clone())).expect("new");
        assert!(s.check(&alert("staging"), MON_NOON).is_none());
        let created = s
            .create(
                br#"{"matchers": ["k8s.ns.name=staging"], "duration_seconds": 60, "comment": "deploy"}"#,
                MON_NOON,
            )
            .expect("create");
        let id = created["id"].as_str().expect("id").to_string();
        assert_eq!(created["state"], "active");
        assert_eq!(
            s.check(&alert("staging"), MON_NOON + 1).as_deref(),
            Some(id.as_str())
        );
        assert!(s.check(&alert("prod"), MON_NOON + 1).is_none());
        assert_eq!(s.counts(MON_NOON)[0].suppressed, 1);
        // No end: refused. Duplicate id: conflict. Bad JSON: invalid.
        assert!(matches!(
            s.create(br#"{"matchers": ["a=b"]}"#, MON_NOON),
            Err(ApiError::Invalid(_))
        ));
        assert!(matches!(
            s.create(b"{", MON_NOON),
            Err(ApiError::Invalid(_))
        ));
        let dup = format!(r#"{{"id": "{id}", "matchers": ["a=b"], "duration_seconds": 5}}"#);
        assert!(matches!(
            s.create(dup.as_bytes(), MON_NOON),
            Err(ApiError::Conflict(_))
        ));
        // A restart reads it back.
        let again = Silences::new(Vec::new(), Some(file.clone())).expect("reload");
        assert_eq!(
            again.check(&alert("staging"), MON_NOON + 2).as_deref(),
            Some(id.as_str())
        );
        // Expire: listed as expired, no longer suppresses, and that too survives a restart.
        let e = s.expire(&id, MON_NOON + 10).expect("expire");
        assert_eq!(e["state"], "expired");
        assert_eq!(e["suppressed"], 1);
        assert!(s.check(&alert("staging"), MON_NOON + 11).is_none());
        assert!(matches!(
            s.expire("nope", MON_NOON),
            Err(ApiError::NotFound(_))
        ));
        let again = Silences::new(Vec::new(), Some(file)).expect("reload");
        assert!(again.check(&alert("staging"), MON_NOON + 12).is_none());
        assert_eq!(again.list(MON_NOON + 12)[0]["state"], "expired");
    }

    #[test]
    fn configuration_silences_are_not_the_apis() {
        let cfg = Silence::from_json(
            &json!({"name": "maint", "matchers": ["rule=Write below *"],
                    "weekly": {"days": ["mon"], "start": "11:00", "end": "13:00"}}),
            "silences[0]",
            Origin::Config,
            None,
            0,
        )
        .expect("valid");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(STATE_FILE);
        let s = Silences::new(vec![cfg], Some(file.clone())).expect("new");
        assert_eq!(s.check(&alert("x"), MON_NOON).as_deref(), Some("maint"));
        assert!(s.check(&alert("x"), MON_NOON + 2 * H).is_none());
        assert!(matches!(
            s.expire("maint", MON_NOON),
            Err(ApiError::Conflict(_))
        ));
        s.create(br#"{"matchers": ["a=b"], "duration_seconds": 5}"#, MON_NOON)
            .expect("create");
        let stored: Value =
            serde_json::from_slice(&std::fs::read(&file).expect("state file")).expect("json");
        assert_eq!(stored["silences"].as_array().map(Vec::len), Some(1));
        // A corrupt state file is an error naming the file, not an empty list.
        std::fs::write(&file, "{").expect("write");
        let e = Silences::new(Vec::new(), Some(file.clone()))
            .err()
            .expect("error");
        assert!(e.to_string().contains(&file.display().to_string()));
    }
}
