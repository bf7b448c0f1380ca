//! Timestamps, dates and durations as the Selling API writes them. No clock reads here: the
//! current instant always comes in as a value.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, TimeZone, Utc};
use serde_json::Value;

/// An instant with millisecond precision, the precision `LastModifiedDate` is stored and compared at.
pub type Instant = DateTime<Utc>;

/// Accepts any RFC 3339 string (0–9 fractional digits, `Z` or an offset) or a JSON number of
/// epoch seconds, as botocore, the Rust SDK and other Smithy clients send them. The result is
/// truncated to milliseconds, so `.789000Z` and `.789Z` are the same instant.
pub fn parse_timestamp(value: &Value) -> Option<Instant> {
    let instant = match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc),
        Value::Number(n) => {
            let seconds = n.as_f64()?;
            if !seconds.is_finite() || seconds.abs() > 253_402_300_799.0 {
                return None;
            }
            Utc.timestamp_millis_opt((seconds * 1000.0).round() as i64).single()?
        }
        _ => return None,
    };
    Some(truncate_to_millis(instant))
}

pub fn truncate_to_millis(instant: Instant) -> Instant {
    Utc.timestamp_millis_opt(instant.timestamp_millis()).single().unwrap_or(instant)
}

pub fn from_millis(ms: i64) -> Instant {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ`: always UTC, always three fractional digits.
pub fn format_timestamp(instant: Instant) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The model's `Date` shape only checks the pattern, which accepts `2025-02-31`; this checks the calendar.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().filter(|d| d.format("%Y-%m-%d").to_string() == s)
}

/// Durations as operators type them: `4d`, `36h`, `90m`, `30s`, or a sum such as `1d12h`.
pub fn parse_duration(s: &str) -> Result<TimeDelta, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = TimeDelta::zero();
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| format!("invalid duration {s:?}: expected e.g. 4d, 36h, 90m, 30s"))?;
        digits.clear();
        let part = match c {
            'd' => TimeDelta::try_days(n),
            'h' => TimeDelta::try_hours(n),
            'm' => TimeDelta::try_minutes(n),
            's' => TimeDelta::try_seconds(n),
            _ => None,
        }
        .ok_or_else(|| format!("invalid duration {s:?}: expected e.g. 4d, 36h, 90m, 30s"))?;
        total = total.checked_add(&part).ok_or_else(|| format!("duration {s:?} is too long"))?;
    }
    if !digits.is_empty() {
        return Err(format!("invalid duration {s:?}: a unit (d, h, m, s) must follow {digits}"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_compare_as_instants_at_millisecond_precision() {
        let a = parse_timestamp(&json!("2024-11-30T12:34:56.789000Z")).unwrap();
        let b = parse_timestamp(&json!("2024-11-30T12:34:56.789Z")).unwrap();
        let c = parse_timestamp(&json!("2024-11-30T13:34:56.789123+01:00")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(format_timestamp(a), "2024-11-30T12:34:56.789Z");
        assert_eq!(parse_timestamp(&json!(1700000000)).unwrap().timestamp(), 1_700_000_000);
        assert!(parse_timestamp(&json!("yesterday")).is_none());
        assert!(parse_timestamp(&json!(true)).is_none());
    }

    #[test]
    fn dates_check_the_calendar() {
        assert!(parse_date("2025-02-28").is_some());
        assert!(parse_date("2025-02-31").is_none());
        assert!(parse_date("2025-2-3").is_none());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("4d").unwrap(), TimeDelta::days(4));
        assert_eq!(parse_duration("36h").unwrap(), TimeDelta::hours(36));
        assert_eq!(parse_duration("1d12h30m").unwrap(), TimeDelta::minutes(36 * 60 + 30));
        assert!(parse_duration("4").is_err());
        assert!(parse_duration("4w").is_err());
        assert!(parse_duration("").is_err());
    }
}
