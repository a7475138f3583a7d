//! The exchange's calendar: its time zone, its trading days and their hours.
//!
//! Regular sessions run 09:30–16:00 in the exchange's time zone (`America/New_York`,
//! with its daylight saving), Monday to Friday, except the exchange holidays, which are
//! computed from their rules (New Year's Day, Martin Luther King Jr. Day, Washington's
//! Birthday, Good Friday, Memorial Day, Juneteenth from 2022, Independence Day, Labor
//! Day, Thanksgiving, Christmas; a holiday on a Saturday is observed the Friday before,
//! except New Year's Day; one on a Sunday the Monday after). The day after
//! Thanksgiving, Christmas Eve and the 3rd of July close early, at 13:00.
//!
//! The calendar is what the exchange publishes (`/v2/clock`, `/v2/calendar`), what
//! daily bars are cut by (midnight in the exchange's zone), and what schedules skip.

use std::sync::OnceLock;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, ZonedDateTime};

/// The exchange's time zone.
pub const EXCHANGE_TZ: &str = "America/New_York";

/// The exchange's time zone, loaded once (from the tz database built into the binary).
pub fn tz() -> TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| TimeZone::get(EXCHANGE_TZ).unwrap_or(TimeZone::UTC))
        .clone()
}

/// One trading day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The day, in the exchange's zone.
    pub date: Date,
    /// The opening auction's time.
    pub open: ZonedDateTime,
    /// The close (13:00 on early-close days).
    pub close: ZonedDateTime,
}

/// The trading session of `date`, or `None` on weekends and holidays.
pub fn session(date: Date) -> Option<Session> {
    if matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) || is_holiday(date) {
        return None;
    }
    let close_hour = if is_early_close(date) { 13 } else { 16 };
    let at = |h, m| date.at(h, m, 0, 0).to_zoned_datetime(tz()).ok();
    Some(Session {
        date,
        open: at(9, 30)?,
        close: at(close_hour, 0)?,
    })
}

/// Every session from `start` to `end`, both included.
pub fn sessions(start: Date, end: Date) -> Vec<Session> {
    let mut out = Vec::new();
    let mut d = start;
    while d <= end {
        out.extend(session(d));
        match d.checked_add(1.day()) {
            Ok(next) => d = next,
            Err(_) => break,
        }
    }
    out
}

/// Whether the exchange is closed all day on `date` for a holiday.
pub fn is_holiday(date: Date) -> bool {
    let y = date.year();
    let fixed = |m, d| Date::new(y, m, d).ok().map(observed);
    let nth = |m, n, wd| {
        Date::new(y, m, 1)
            .ok()
            .and_then(|first| first.nth_weekday_of_month(n, wd).ok())
    };
    let mut days = vec![
        // New Year's Day is not observed on the Friday before (the 31st of December).
        Date::new(y, 1, 1)
            .ok()
            .filter(|d| d.weekday() != Weekday::Saturday)
            .map(observed),
        nth(1, 3, Weekday::Monday),
        nth(2, 3, Weekday::Monday),
        easter(y).and_then(|e| e.checked_sub(2.days()).ok()),
        nth(5, -1, Weekday::Monday),
        fixed(7, 4),
        nth(9, 1, Weekday::Monday),
        nth(11, 4, Weekday::Thursday),
        fixed(12, 25),
    ];
    if y >= 2022 {
        days.push(fixed(6, 19));
    }
    // Next year's New Year's Day on a Sunday is observed on Monday the 2nd: nothing to
    // add here; on a Saturday it is not observed at all.
    days.into_iter().flatten().any(|d| d == date)
}

/// Whether `date` is a trading day that closes at 13:00.
pub fn is_early_close(date: Date) -> bool {
    let (y, m, d) = (date.year(), date.month(), date.day());
    let weekday = !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday);
    let after_thanksgiving = Date::new(y, 11, 1)
        .ok()
        .and_then(|f| f.nth_weekday_of_month(4, Weekday::Thursday).ok())
        .and_then(|t| t.checked_add(1.day()).ok())
        == Some(date);
    let eve = (m == 12 && d == 24) || (m == 7 && d == 3);
    weekday && !is_holiday(date) && (after_thanksgiving || eve)
}

/// A fixed-date holiday as observed: Saturday → Friday, Sunday → Monday.
fn observed(d: Date) -> Date {
    match d.weekday() {
        Weekday::Saturday => d.checked_sub(1.day()).unwrap_or(d),
        Weekday::Sunday => d.checked_add(1.day()).unwrap_or(d),
        _ => d,
    }
}

/// Easter Sunday (Gregorian; the anonymous algorithm).
fn easter(y: i16) -> Option<Date> {
    let y32 = i32::from(y);
    let a = y32 % 19;
    let b = y32 / 100;
    let c = y32 % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::new(y, month as i8, day as i8).ok()
}

/// Where the market stands at a moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    /// The moment, in the exchange's zone.
    pub now: ZonedDateTime,
    /// Whether a regular session is under way.
    pub is_open: bool,
    /// The next session's open (after `now`).
    pub next_open: ZonedDateTime,
    /// The close of the session under way, or of the next one.
    pub next_close: ZonedDateTime,
}

/// The clock at `now`.
pub fn clock(now: Timestamp) -> Option<Clock> {
    let now = now.to_zoned_datetime(tz());
    let mut day = now.date();
    let mut open_now = false;
    let mut next_open = None;
    let mut next_close = None;
    // The longest run of closed days is a few days; look a fortnight ahead.
    for _ in 0..15 {
        if let Some(s) = session(day) {
            if next_close.is_none() && s.close > now {
                open_now = s.open <= now;
                next_close = Some(s.close.clone());
            }
            if next_open.is_none() && s.open > now {
                next_open = Some(s.open);
            }
        }
        if next_open.is_some() && next_close.is_some() {
            break;
        }
        day = day.checked_add(1.day()).ok()?;
    }
    Some(Clock {
        now,
        is_open: open_now,
        next_open: next_open?,
        next_close: next_close?,
    })
}

/// The start of the exchange-zone day holding `time_ns` (nanoseconds since the Unix
/// epoch), in the same unit: where a daily bar begins.
pub fn day_start_ns(time_ns: i64) -> i64 {
    let Ok(t) = Timestamp::from_nanosecond(i128::from(time_ns)) else {
        return time_ns;
    };
    t.to_zoned_datetime(tz())
        .start_of_day()
        .map_or(time_ns, |d| d.timestamp().as_nanosecond() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn holidays_follow_the_exchange_rules() {
        // The published NYSE holidays of 2025 and 2026, checked against the rules.
        for d in [
            "2025-01-01",
            "2025-01-20",
            "2025-02-17",
            "2025-04-18",
            "2025-05-26",
            "2025-06-19",
            "2025-07-04",
            "2025-09-01",
            "2025-11-27",
            "2025-12-25",
            "2026-01-01",
            "2026-01-19",
            "2026-02-16",
            "2026-04-03",
            "2026-05-25",
            "2026-06-19",
            "2026-07-03",
            "2026-09-07",
            "2026-11-26",
            "2026-12-25",
        ] {
            assert!(is_holiday(date(d)), "{d} is a holiday");
            assert_eq!(session(date(d)), None, "{d}");
        }
        // 2022-01-01 was a Saturday: not observed on Friday 2021-12-31.
        assert!(!is_holiday(date("2021-12-31")));
        assert!(session(date("2021-12-31")).is_some());
        // 2023-01-01 was a Sunday: observed on Monday the 2nd.
        assert!(is_holiday(date("2023-01-02")));
        // Juneteenth only from 2022.
        assert!(!is_holiday(date("2021-06-18")));
        assert!(session(date("2026-12-01")).is_some(), "an ordinary Tuesday");
        assert_eq!(session(date("2026-12-05")), None, "a Saturday");
    }

    #[test]
    fn early_closes_and_daylight_saving() {
        let s = session(date("2026-11-27")).unwrap();
        assert_eq!(s.close.hour(), 13, "the day after Thanksgiving");
        let s = session(date("2025-12-24")).unwrap();
        assert_eq!(s.close.hour(), 13, "Christmas Eve");
        // 2026-07-03 is the observed Independence Day: a holiday, not an early close.
        assert!(!is_early_close(date("2026-07-03")));
        // 09:30 New York is 14:30 UTC in winter and 13:30 UTC in summer.
        let winter = session(date("2026-12-01")).unwrap().open.timestamp();
        let summer = session(date("2026-07-01")).unwrap().open.timestamp();
        assert_eq!(winter.to_string(), "2026-12-01T14:30:00Z");
        assert_eq!(summer.to_string(), "2026-07-01T13:30:00Z");
    }

    #[test]
    fn the_clock_knows_open_closed_and_the_next_session() {
        let at = |s: &str| clock(s.parse().unwrap()).unwrap();
        let c = at("2026-12-01T15:00:00Z"); // Tuesday 10:00 New York
        assert!(c.is_open);
        assert_eq!(c.next_close.timestamp().to_string(), "2026-12-01T21:00:00Z");
        assert_eq!(c.next_open.timestamp().to_string(), "2026-12-02T14:30:00Z");
        let c = at("2026-12-04T22:00:00Z"); // Friday after the close
        assert!(!c.is_open);
        assert_eq!(c.next_open.timestamp().to_string(), "2026-12-07T14:30:00Z");
        assert_eq!(c.next_close.timestamp().to_string(), "2026-12-07T21:00:00Z");
        // Christmas Eve (Thursday) closed at 13:00 New York; Friday is Christmas.
        let c = at("2026-12-24T18:30:00Z");
        assert!(!c.is_open);
        assert_eq!(c.next_open.timestamp().to_string(), "2026-12-28T14:30:00Z");
    }

    #[test]
    fn a_day_starts_at_midnight_in_new_york() {
        let t: Timestamp = "2026-12-01T03:00:00Z".parse().unwrap(); // 22:00 the day before
        let start = day_start_ns(t.as_nanosecond() as i64);
        let start = Timestamp::from_nanosecond(i128::from(start)).unwrap();
        assert_eq!(start.to_string(), "2026-11-30T05:00:00Z");
    }
}
