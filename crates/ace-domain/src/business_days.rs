//! REF-3: the contact deadline — 3 business days after a referral was provided, in the
//! partner's time zone, skipping weekends and the partner's holidays.
//!
//! Definition used here: business days are counted from the day *after* the referral's local
//! date; the deadline is the end of the Nth business day (the next local midnight), converted
//! back to an instant. A referral on Friday evening in Berlin is due by the end of Wednesday,
//! Berlin time; with a holiday on Monday, by the end of Thursday.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, LocalResult, NaiveDate, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::time::Instant;

/// A set of non-working dates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolidayCalendar {
    pub name: String,
    pub dates: BTreeSet<NaiveDate>,
}

/// Built-in calendars, computed by rule for the years asked.
pub const BUILT_IN_CALENDARS: [&str; 1] = ["us-federal"];

fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

fn last_weekday(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    (1..=5).rev().find_map(|n| NaiveDate::from_weekday_of_month_opt(year, month, weekday, n))
}

/// A fixed-date holiday that falls on a weekend is observed on the Friday before or the
/// Monday after (5 U.S.C. 6103).
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date - Duration::days(1),
        Weekday::Sun => date + Duration::days(1),
        _ => date,
    }
}

/// US federal holidays (observed dates) of one year.
pub fn us_federal_holidays(year: i32) -> Vec<NaiveDate> {
    let fixed = |m: u32, d: u32| NaiveDate::from_ymd_opt(year, m, d).map(observed);
    [
        fixed(1, 1),
        nth_weekday(year, 1, Weekday::Mon, 3),
        nth_weekday(year, 2, Weekday::Mon, 3),
        last_weekday(year, 5, Weekday::Mon),
        fixed(6, 19),
        fixed(7, 4),
        nth_weekday(year, 9, Weekday::Mon, 1),
        nth_weekday(year, 10, Weekday::Mon, 2),
        fixed(11, 11),
        nth_weekday(year, 11, Weekday::Thu, 4),
        fixed(12, 25),
    ]
    .into_iter()
    .flatten()
    .collect()
}

impl HolidayCalendar {
    /// A built-in calendar for the years `from..=to`, or `None` for an unknown name.
    pub fn built_in(name: &str, from: i32, to: i32) -> Option<HolidayCalendar> {
        match name {
            "us-federal" => {
                Some(HolidayCalendar { name: name.into(), dates: (from..=to).flat_map(us_federal_holidays).collect() })
            }
            _ => None,
        }
    }

    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.dates.contains(&date)
    }
}

pub fn is_business_day(date: NaiveDate, holidays: &HolidayCalendar) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.is_holiday(date)
}

/// The instant of local midnight starting `date` in `tz` (the first instant of the day when a
/// DST change skips midnight).
fn start_of_day(date: NaiveDate, tz: Tz) -> Instant {
    let mut t = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    for _ in 0..48 {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(x) => return x.with_timezone(&chrono::Utc),
            LocalResult::Ambiguous(earliest, _) => return earliest.with_timezone(&chrono::Utc),
            LocalResult::None => t += Duration::minutes(30),
        }
    }
    chrono::Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// The end of the `business_days`-th business day after `provided_at`'s local date.
pub fn contact_deadline(provided_at: Instant, tz: Tz, holidays: &HolidayCalendar, business_days: u32) -> Instant {
    let mut date = provided_at.with_timezone(&tz).date_naive();
    let mut counted = 0;
    // A limit on everything: a calendar cannot hold more than a year of consecutive holidays.
    for _ in 0..(366 + business_days * 7) {
        date = date.succ_opt().expect("dates before year 262143");
        if is_business_day(date, holidays) {
            counted += 1;
            if counted == business_days {
                break;
            }
        }
    }
    start_of_day(date.succ_opt().expect("dates before year 262143"), tz)
}

/// REF-3, for people: how many business days are left before `deadline`, counting today when
/// it is one (the deadline is the start of a local day, so its own day does not count).
/// Zero once the deadline has passed.
pub fn business_days_left(now: Instant, deadline: Instant, tz: Tz, holidays: &HolidayCalendar) -> u32 {
    if now >= deadline {
        return 0;
    }
    let last = deadline.with_timezone(&tz).date_naive();
    let mut date = now.with_timezone(&tz).date_naive();
    let mut left = 0;
    // A limit on everything, as in `contact_deadline`.
    for _ in 0..(366 * 2) {
        if date >= last {
            break;
        }
        if is_business_day(date, holidays) {
            left += 1;
        }
        date = date.succ_opt().expect("dates before year 262143");
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> Instant {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn none() -> HolidayCalendar {
        HolidayCalendar::default()
    }

    /// (provided at, time zone, holidays, expected deadline), 3 business days.
    fn check(provided: Instant, tz: &str, holidays: &HolidayCalendar, expected: Instant) {
        let tz: Tz = tz.parse().unwrap();
        assert_eq!(contact_deadline(provided, tz, holidays, 3), expected, "provided {provided} in {tz}");
    }

    #[test]
    fn ref_3_weekdays_and_weekends() {
        // Monday 10:00 UTC → end of Thursday.
        check(utc(2026, 11, 23, 10, 0), "UTC", &none(), utc(2026, 11, 27, 0, 0));
        // Wednesday → Thu, Fri, Mon → end of Monday.
        check(utc(2026, 11, 25, 10, 0), "UTC", &none(), utc(2026, 12, 1, 0, 0));
        // Saturday → Mon, Tue, Wed.
        check(utc(2026, 11, 28, 10, 0), "UTC", &none(), utc(2026, 12, 3, 0, 0));
    }

    #[test]
    fn ref_3_friday_evening_counts_in_the_partners_time_zone() {
        // Friday 2026-11-27 19:30 in Berlin (18:30 UTC) → Mon, Tue, Wed → Thursday 00:00 Berlin = Wed 23:00 UTC.
        check(utc(2026, 11, 27, 18, 30), "Europe/Berlin", &none(), utc(2026, 12, 2, 23, 0));
        // The same instant is already Saturday in Tokyo: Mon, Tue, Wed as well, Tokyo midnight.
        check(utc(2026, 11, 27, 18, 30), "Asia/Tokyo", &none(), utc(2026, 12, 2, 15, 0));
        // … and still Friday afternoon in Los Angeles.
        check(utc(2026, 11, 27, 18, 30), "America/Los_Angeles", &none(), utc(2026, 12, 3, 8, 0));
        // Friday 23:30 in New York is Saturday 04:30 UTC: the partner's Friday still counts as the referral day.
        check(utc(2026, 11, 28, 4, 30), "America/New_York", &none(), utc(2026, 12, 3, 5, 0));
    }

    #[test]
    fn ref_3_a_holiday_on_monday() {
        let mut holidays = none();
        holidays.dates.insert(date(2026, 11, 30));
        check(utc(2026, 11, 27, 18, 30), "Europe/Berlin", &holidays, utc(2026, 12, 3, 23, 0));
    }

    #[test]
    fn ref_3_across_a_dst_change() {
        // US DST ends on Sunday 2026-11-01. Referral Friday 2026-10-30 12:00 New York (16:00 UTC, EDT)
        // → Mon, Tue, Wed → Thursday 00:00 EST = 05:00 UTC.
        check(utc(2026, 10, 30, 16, 0), "America/New_York", &none(), utc(2026, 11, 5, 5, 0));
        // Europe springs forward on Sunday 2027-03-28: Friday 2027-03-26 → Thursday 00:00 CEST = Wed 22:00 UTC.
        check(utc(2027, 3, 26, 9, 0), "Europe/Berlin", &none(), utc(2027, 3, 31, 22, 0));
    }

    #[test]
    fn ref_3_us_federal_holidays_by_rule() {
        let h = us_federal_holidays(2026);
        for expected in [
            date(2026, 1, 1),
            date(2026, 1, 19),
            date(2026, 2, 16),
            date(2026, 5, 25),
            date(2026, 6, 19),
            date(2026, 7, 3), // July 4th is a Saturday: observed Friday
            date(2026, 9, 7),
            date(2026, 10, 12),
            date(2026, 11, 11),
            date(2026, 11, 26),
            date(2026, 12, 25),
        ] {
            assert!(h.contains(&expected), "{expected} missing from {h:?}");
        }
        assert_eq!(h.len(), 11);
        // Thanksgiving week: referral Wednesday 2026-11-25 in New York → Fri (Thu is a holiday), Mon, Tue.
        let calendar = HolidayCalendar::built_in("us-federal", 2026, 2027).unwrap();
        check(utc(2026, 11, 25, 15, 0), "America/New_York", &calendar, utc(2026, 12, 2, 5, 0));
        assert!(HolidayCalendar::built_in("mars", 2026, 2026).is_none());
    }

    #[test]
    fn ref_3_business_days_left_counts_today_and_skips_weekends_and_holidays() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let holidays = HolidayCalendar::built_in("us-federal", 2026, 2027).unwrap();
        // Referred on Wednesday 25 November 2026: Thanksgiving (26th), the weekend, then
        // Friday 27th, Monday 30th and Tuesday 1st are the three business days.
        let provided = utc(2026, 11, 25, 15, 0);
        let deadline = contact_deadline(provided, tz, &holidays, 3);
        assert_eq!(deadline, utc(2026, 12, 2, 5, 0), "start of Wednesday 2 December, New York time");
        assert_eq!(business_days_left(provided, deadline, tz, &holidays), 4, "Wed (today), Fri, Mon, Tue");
        assert_eq!(business_days_left(utc(2026, 11, 26, 15, 0), deadline, tz, &holidays), 3, "Thanksgiving is not one");
        assert_eq!(business_days_left(utc(2026, 11, 28, 15, 0), deadline, tz, &holidays), 2, "Saturday: Mon and Tue");
        assert_eq!(business_days_left(utc(2026, 12, 1, 20, 0), deadline, tz, &holidays), 1, "the last day");
        assert_eq!(business_days_left(deadline, deadline, tz, &holidays), 0);
        assert_eq!(business_days_left(utc(2026, 12, 9, 0, 0), deadline, tz, &holidays), 0, "passed");
    }
}
