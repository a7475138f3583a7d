//! When a recurring order runs: daily, weekly on given days, or monthly on a day of the
//! month, at a time of day in the exchange's time zone (`America/New_York`), only on
//! days the market is open — a daily or weekly run that falls on a weekend or holiday
//! is skipped, a monthly one moves to the next trading day. A run set after an early
//! close (13:00) runs at the session's last minute.

use bourse_stock::calendar;
use jiff::civil::{Date, Time, Weekday};
use jiff::{Timestamp, ToSpan};

/// How often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frequency {
    /// Every trading day.
    Daily,
    /// On these weekdays (Monday to Friday), when they are trading days.
    Weekly(Vec<Weekday>),
    /// On this day of the month (1 to 28), or the next trading day after it.
    Monthly(i8),
}

/// A recurring order's schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// How often.
    pub frequency: Frequency,
    /// The time of day, exchange time, within the regular session.
    pub at: Time,
}

/// A weekday's name in the API (`mon` … `fri`).
pub fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Monday => "mon",
        Weekday::Tuesday => "tue",
        Weekday::Wednesday => "wed",
        Weekday::Thursday => "thu",
        Weekday::Friday => "fri",
        Weekday::Saturday => "sat",
        Weekday::Sunday => "sun",
    }
}

/// The trading weekday named `s`.
pub fn weekday(s: &str) -> Option<Weekday> {
    Some(match s {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        _ => return None,
    })
}

/// `HH:MM` within the regular session (09:30 to 15:59).
pub fn time_of_day(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let t = Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()?;
    (Time::constant(9, 30, 0, 0) <= t && t < Time::constant(16, 0, 0, 0)).then_some(t)
}

impl Schedule {
    /// Whether the schedule names `date` (before trading days are considered).
    fn names(&self, date: Date) -> bool {
        match &self.frequency {
            Frequency::Daily => true,
            Frequency::Weekly(days) => days.contains(&date.weekday()),
            Frequency::Monthly(d) => date.day() == *d,
        }
    }

    /// The run on trading day `date`: the time of day, or the session's last minute
    /// when it closes earlier.
    fn run_on(&self, date: Date) -> Option<Timestamp> {
        let s = calendar::session(date)?;
        let at = date
            .to_datetime(self.at)
            .to_zoned_datetime(calendar::tz())
            .ok()?;
        let last = s.close.checked_sub(1.minute()).ok()?;
        Some(if at > last { last } else { at }.timestamp())
    }

    /// The first run strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let mut day = after.to_zoned_datetime(calendar::tz()).date();
        // A monthly day that falls on a closed day carries to the next trading day.
        let mut carried = false;
        for _ in 0..400 {
            let named = self.names(day);
            let open = calendar::session(day).is_some();
            let due = match self.frequency {
                Frequency::Monthly(_) => (named || carried) && open,
                _ => named && open,
            };
            if matches!(self.frequency, Frequency::Monthly(_)) {
                carried = (named || carried) && !open;
            }
            if due
                && let Some(t) = self.run_on(day)
                && t > after
            {
                return Some(t);
            }
            day = day.checked_add(1.day()).ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        // Exchange time, e.g. "2026-12-01T10:00".
        let dt: jiff::civil::DateTime = s.parse().unwrap();
        dt.to_zoned_datetime(calendar::tz()).unwrap().timestamp()
    }

    fn daily(t: &str) -> Schedule {
        Schedule {
            frequency: Frequency::Daily,
            at: time_of_day(t).unwrap(),
        }
    }

    #[test]
    fn daily_runs_skip_weekends_and_holidays() {
        let s = daily("10:00");
        // Tuesday 1 December 2026, before and after the time.
        assert_eq!(
            s.next_after(at("2026-12-01T09:00")),
            Some(at("2026-12-01T10:00"))
        );
        assert_eq!(
            s.next_after(at("2026-12-01T10:00")),
            Some(at("2026-12-02T10:00"))
        );
        // Friday evening → Monday.
        assert_eq!(
            s.next_after(at("2026-12-04T17:00")),
            Some(at("2026-12-07T10:00"))
        );
        // Christmas 2026 is a Friday: Thursday 24th → Monday 28th.
        assert_eq!(
            s.next_after(at("2026-12-24T11:00")),
            Some(at("2026-12-28T10:00"))
        );
    }

    #[test]
    fn weekly_runs_on_the_days_named_and_monthly_ones_carry_to_the_next_session() {
        let s = Schedule {
            frequency: Frequency::Weekly(vec![Weekday::Monday, Weekday::Thursday]),
            at: time_of_day("15:30").unwrap(),
        };
        assert_eq!(
            s.next_after(at("2026-12-01T12:00")),
            Some(at("2026-12-03T15:30"))
        );
        assert_eq!(
            s.next_after(at("2026-12-03T15:30")),
            Some(at("2026-12-07T15:30"))
        );
        // Thanksgiving (Thursday 26 November 2026) is skipped, and the Friday after
        // closes at 13:00 (not a Monday or Thursday anyway).
        assert_eq!(
            s.next_after(at("2026-11-24T12:00")),
            Some(at("2026-11-30T15:30"))
        );
        // Monthly on the 25th: 25 December 2026 is closed → Monday the 28th.
        let m = Schedule {
            frequency: Frequency::Monthly(25),
            at: time_of_day("09:45").unwrap(),
        };
        assert_eq!(
            m.next_after(at("2026-12-01T00:00")),
            Some(at("2026-12-28T09:45"))
        );
        assert_eq!(
            m.next_after(at("2026-12-28T09:45")),
            Some(at("2027-01-25T09:45"))
        );
    }

    #[test]
    fn a_run_after_an_early_close_is_the_sessions_last_minute_and_times_are_in_session() {
        let s = daily("15:00");
        // 24 December 2026 closes at 13:00.
        assert_eq!(
            s.next_after(at("2026-12-24T09:00")),
            Some(at("2026-12-24T12:59"))
        );
        assert!(time_of_day("09:29").is_none() && time_of_day("16:00").is_none());
        assert!(time_of_day("9:30").is_none() && time_of_day("noon").is_none());
        assert_eq!(time_of_day("15:59"), Some(Time::constant(15, 59, 0, 0)));
    }
}
