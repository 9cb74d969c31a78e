//! Event timestamps: civil dates in UTC.
//!
//! Falco prints event times (`evt.time`, `evt.datetime`), log lines and container start times
//! as calendar dates; Peregrine converts between days since 1970-01-01 and a (year, month,
//! day) in both directions here, once, with Howard Hinnant's algorithms ("chrono-Compatible
//! Low-Level Date Algorithms", `days_from_civil` / `civil_from_days`): a few integer
//! operations over 400-year eras of the proleptic Gregorian calendar, no tables, no time-zone
//! database (every time Peregrine prints is UTC).

/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_SHIFT: i64 = 719_468;
/// Days in a 400-year era.
const ERA_DAYS: i64 = 146_097;

/// The UTC date of day `days` since 1970-01-01 (negative before it): (year, month 1–12,
/// day 1–31).
#[inline]
pub const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + EPOCH_SHIFT;
    let era = z.div_euclid(ERA_DAYS);
    let doe = z.rem_euclid(ERA_DAYS);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let y = yoe + era * 400 + (m <= 2) as i64;
    (y, m, d)
}

/// Days since 1970-01-01 (negative before it) of the date `y`-`m`-`d`, the inverse of
/// [`civil_from_days`]. Meant for months 1–12 and days 1–31; other values (a parser's
/// unchecked fields) give a day by the same arithmetic rather than a panic.
#[inline]
pub const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * ERA_DAYS + doe - EPOCH_SHIFT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        for (days, date) in [
            (0, (1970, 1, 1)),
            (-1, (1969, 12, 31)),
            (59, (1970, 3, 1)),
            (10_957, (2000, 1, 1)),
            (11_016, (2000, 2, 29)),
            (19_782, (2024, 2, 29)),
            (20_785, (2026, 11, 28)),
            (-719_468, (0, 3, 1)),
            (2_932_896, (9999, 12, 31)),
        ] {
            assert_eq!(civil_from_days(days), date, "{days}");
            let (y, m, d) = date;
            assert_eq!(
                days_from_civil(y, i64::from(m), i64::from(d)),
                days,
                "{date:?}"
            );
        }
    }

    #[test]
    fn round_trips_and_steps_one_day() {
        let mut prev = civil_from_days(-800_000 - 1);
        for days in -800_000..800_000 {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
            // The next day is the next date: day + 1, else the 1st of the next month or year.
            let next = (y, m, d) == (prev.0, prev.1, prev.2 + 1)
                || (d == 1 && ((y, m) == (prev.0, prev.1 + 1) || (y, m) == (prev.0 + 1, 1)));
            assert!(next, "{prev:?} then {:?}", (y, m, d));
            prev = (y, m, d);
        }
    }
}
