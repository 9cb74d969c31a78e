//! RFC 3339 times in UTC, as silences are written in the API and the state file and as
//! summaries report their first and last alert. Only what those need: parsing accepts `Z`
//! or a numeric offset and an optional fraction; formatting always writes `Z`.

use peregrine_event::time::{civil_from_days, days_from_civil};

const NS: u64 = 1_000_000_000;

/// `2026-12-07T17:30:00.123456789Z` for nanoseconds since the epoch (fraction omitted when
/// zero).
pub fn format_rfc3339(ns: u64) -> String {
    let secs = ns / NS;
    let frac = ns % NS;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
    let (y, m, d) = civil_from_days(days);
    let rem = secs % 86_400;
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if frac == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{frac:09}Z")
    }
}

/// Nanoseconds since the epoch of an RFC 3339 time (`2026-12-07T17:30:00Z`,
/// `2026-12-07T18:30:00.5+01:00`); `None` for anything else or a time before 1970.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || !text.is_ascii() {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ns: i64 = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = text.get(start..i)?;
        if digits.is_empty() {
            return None;
        }
        let mut padded: String = digits.chars().take(9).collect();
        while padded.len() < 9 {
            padded.push('0');
        }
        frac_ns = padded.parse().ok()?;
    }
    let offset_s: i64 = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    let secs = u64::try_from(secs).ok()?;
    secs.checked_mul(NS)?
        .checked_add(u64::try_from(frac_ns).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_offsets() {
        let t = parse_rfc3339("2026-12-07T17:30:00Z").expect("valid");
        assert_eq!(format_rfc3339(t), "2026-12-07T17:30:00Z");
        assert_eq!(parse_rfc3339("2026-12-07T18:30:00+01:00"), Some(t));
        assert_eq!(
            parse_rfc3339("2026-12-07T17:30:00.5Z"),
            Some(t + 500_000_000)
        );
        assert_eq!(format_rfc3339(t + 7), "2026-12-07T17:30:00.000000007Z");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "2026-12-07",
            "2026-12-07T17:30:00",
            "2026-13-07T17:30:00Z",
            "2026-12-07T24:00:00Z",
            "2026-12-07T17:30:00.Z",
            "2026-12-07T17:30:00+1:00",
            "1969-12-31T23:59:59Z",
            "2026-12-07T17:30:00Zjunk",
            "２026-12-07T17:30:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
