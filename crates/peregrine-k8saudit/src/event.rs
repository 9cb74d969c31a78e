//! Audit payloads → events, as the k8saudit plugin accepts them (an `EventList`, one `Event`,
//! or a JSON array of either, from a webhook body or one line of a file).

use std::sync::Arc;

use crate::json::{Json, JsonRef};

/// One audit event: its JSON object and its time. The plugin stores the event re-serialised
/// as compact JSON; that text is made only when a field asks for it (`json.value[]`), and its
/// size (what `maxEventSize` limits) is computed only for payloads bigger than the limit.
/// The events of one payload share its parsed document.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    doc: Arc<Json>,
    /// The event object's node in `doc`.
    at: u32,
    /// `stageTimestamp` in ns since the epoch.
    pub time_ns: u64,
}

impl AuditEvent {
    /// An event that is a whole document (tests and callers that parse objects themselves).
    pub fn new(doc: Json, time_ns: u64) -> AuditEvent {
        AuditEvent {
            doc: Arc::new(doc),
            at: 0,
            time_ns,
        }
    }

    /// The event's JSON object.
    pub fn json(&self) -> JsonRef<'_> {
        self.doc.at(self.at)
    }
}

/// Why a payload (or part of it) was rejected. The texts are the plugin's where Falco's tests
/// check them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("invalid JSON: {0}")]
    Json(String),
    /// Falco's `fal_01_003` test looks for this text on stderr.
    #[error("data not recognized as a k8s audit event")]
    NotAudit,
    #[error("audit event has no valid stageTimestamp")]
    NoTimestamp,
    #[error("audit event of {size} bytes exceeds maxEventSize ({max})")]
    TooLarge { size: usize, max: usize },
}

/// What parsing one payload gave: the events in payload order, then the problems. Events
/// parsed before a bad element of an array are kept, as the plugin keeps them.
#[derive(Debug, Default)]
pub struct Parsed {
    pub events: Vec<AuditEvent>,
    pub errors: Vec<PayloadError>,
}

/// Parses one payload; `max_event_size` bounds each event's compact size.
pub fn parse_payload(bytes: &[u8], max_event_size: usize, out: &mut Parsed) {
    // Compact JSON is never longer than the JSON it was parsed from (no whitespace added,
    // escapes only where the input had to have them), so a payload within the limit holds
    // no event over it.
    let max = if bytes.len() <= max_event_size {
        usize::MAX
    } else {
        max_event_size
    };
    match Json::parse(bytes) {
        Ok(doc) => {
            let doc = Arc::new(doc);
            if let Err(e) = walk(&doc, doc.root(), max, out) {
                out.errors.push(e);
            }
        }
        Err(e) => out.errors.push(PayloadError::Json(e.to_string())),
    }
}

/// Arrays recurse; an `EventList`'s items and an `Event` become events; anything else stops
/// the payload.
fn walk(doc: &Arc<Json>, v: JsonRef<'_>, max: usize, out: &mut Parsed) -> Result<(), PayloadError> {
    if let Some(items) = v.as_array() {
        for item in items {
            walk(doc, item, max, out)?;
        }
        return Ok(());
    }
    if v.members().is_none() {
        return Err(PayloadError::NotAudit);
    }
    match v.get("kind").and_then(JsonRef::as_str) {
        Some("EventList") => {
            if v.get("items").and_then(JsonRef::as_array).is_none() {
                return Err(PayloadError::NotAudit);
            }
            // Every `items` member, a repeated one included, as the plugin walks them.
            for (k, items) in v.members().into_iter().flatten() {
                if k == "items" {
                    for item in items.as_array().into_iter().flatten() {
                        event(doc, item, max, out);
                    }
                }
            }
            Ok(())
        }
        Some("Event") => {
            event(doc, v, max, out);
            Ok(())
        }
        _ => Err(PayloadError::NotAudit),
    }
}

fn event(doc: &Arc<Json>, v: JsonRef<'_>, max: usize, out: &mut Parsed) {
    let Some(time_ns) = v
        .get("stageTimestamp")
        .and_then(JsonRef::as_str)
        .and_then(parse_rfc3339)
    else {
        out.errors.push(PayloadError::NoTimestamp);
        return;
    };
    if max != usize::MAX {
        let mut raw = String::new();
        v.write_compact(&mut raw);
        if raw.len() > max {
            out.errors.push(PayloadError::TooLarge {
                size: raw.len(),
                max,
            });
            return;
        }
    }
    out.events.push(AuditEvent {
        doc: doc.clone(),
        at: v.index(),
        time_ns,
    });
}

/// RFC 3339 (`2018-10-25T13:58:49.730588Z`, `…+02:00`) → ns since the epoch; `None` for
/// anything else or a time before 1970.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = b.get(r)?;
        t.iter()
            .all(u8::is_ascii_digit)
            .then(|| t.iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0')))
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let o = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(u64::try_from(nanos).ok()?)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2018-10-25T13:58:49.730588Z"),
            Some(1_540_475_929_730_588_000)
        );
        assert_eq!(
            parse_rfc3339("2018-10-25T15:58:49.5+02:00"),
            Some(1_540_475_929_500_000_000)
        );
        for bad in [
            "",
            "2018-10-25",
            "2018-13-25T13:58:49Z",
            "2018-10-25T13:58:49",
            "x018-10-25T13:58:49Z",
            "2018-10-25T13:58:49.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    fn parse(s: &str) -> Parsed {
        let mut p = Parsed::default();
        parse_payload(s.as_bytes(), 1 << 20, &mut p);
        p
    }

    const EV: &str = r#"{"kind":"Event","auditID":"a","stageTimestamp":"2018-10-25T13:58:49Z"}"#;

    #[test]
    fn shapes() {
        assert_eq!(parse(EV).events.len(), 1);
        let list = format!(r#"{{"kind":"EventList","items":[{EV},{EV}]}}"#);
        assert_eq!(parse(&list).events.len(), 2);
        let arr = format!("[{list},[{EV}]]");
        assert_eq!(parse(&arr).events.len(), 3);
        // Items of a list are taken as events whatever their kind.
        let p = parse(r#"{"kind":0}"#);
        assert_eq!(p.errors, vec![PayloadError::NotAudit]);
        assert_eq!(
            p.errors[0].to_string(),
            "data not recognized as a k8s audit event"
        );
        // Elements before a bad one are kept.
        let p = parse(&format!(r#"[{EV},{{"kind":"Pod"}},{EV}]"#));
        assert_eq!((p.events.len(), p.errors.len()), (1, 1));
        let p = parse(r#"{"kind":"Event","auditID":"a"}"#);
        assert_eq!(p.errors, vec![PayloadError::NoTimestamp]);
        assert!(matches!(parse("{nope").errors[..], [PayloadError::Json(_)]));
    }

    #[test]
    fn max_event_size() {
        let mut p = Parsed::default();
        parse_payload(EV.as_bytes(), 10, &mut p);
        assert!(matches!(
            p.errors[..],
            [PayloadError::TooLarge { max: 10, .. }]
        ));
    }
}
