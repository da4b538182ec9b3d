//! The time zone that decides which calendar day an event belongs to.

use chrono::{DateTime, Datelike, FixedOffset, Local, NaiveDate, TimeZone, Utc};

/// Each event is bucketed by its own timestamp, converted to this zone.
///
/// `Local` follows the machine's zone (with its daylight-saving rules) and is what a
/// person expects; tests pass a fixed offset so results do not depend on the machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DayZone {
    /// The machine's local time zone.
    #[default]
    Local,
    /// UTC.
    Utc,
    /// A fixed offset from UTC (no daylight saving).
    Fixed(FixedOffset),
}

impl DayZone {
    /// A fixed offset in hours east of UTC, e.g. `DayZone::hours(-5)`; `None` when out
    /// of range (±23 h).
    pub fn hours(hours: i32) -> Option<DayZone> {
        FixedOffset::east_opt(hours * 3600).map(DayZone::Fixed)
    }

    /// The local calendar day of a Unix-millisecond timestamp, as days since 0001-01-01.
    pub(crate) fn day_of(&self, timestamp_ms: i64) -> i32 {
        let Some(utc) = DateTime::<Utc>::from_timestamp_millis(timestamp_ms) else {
            return 0;
        };
        let naive = utc.naive_utc();
        let date = match self {
            DayZone::Local => Local.from_utc_datetime(&naive).date_naive(),
            DayZone::Utc => naive.date(),
            DayZone::Fixed(offset) => offset.from_utc_datetime(&naive).date_naive(),
        };
        date.num_days_from_ce()
    }
}

pub(crate) fn date_of_day(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_by_the_given_offset() {
        // 2025-03-01T03:30:00Z is still Feb 28 in New York (UTC-5).
        let ms = DateTime::parse_from_rfc3339("2025-03-01T03:30:00Z")
            .expect("valid")
            .timestamp_millis();
        let new_york = DayZone::hours(-5).expect("valid offset");
        assert_eq!(date_of_day(new_york.day_of(ms)).to_string(), "2025-02-28");
        assert_eq!(
            date_of_day(DayZone::Utc.day_of(ms)).to_string(),
            "2025-03-01"
        );
    }
}
