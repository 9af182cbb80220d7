//! The next run of a schedule in a time zone, as Kubernetes' cron library finds it:
//! months and days step in the zone's calendar, hours and minutes in absolute time. So
//! across a daylight-saving change a wall-clock time the clocks skip (02:30 when they jump
//! from 02:00 to 03:00) does not run that day, and one they repeat (01:30 when they fall
//! back) runs twice; `* * * * *` runs every minute of real time throughout.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

use super::Schedule;

/// Searched no further: a schedule that never matches in five years never runs.
const YEARS: i16 = 5;

impl Schedule {
    /// The first run strictly after `after`, in `zone`; None if there is none within
    /// five years.
    pub fn next_after(&self, after: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        let minute = after.as_second().div_euclid(60) * 60 + 60;
        let mut t = Timestamp::from_second(minute).ok()?.to_zoned(zone.clone());
        let year_limit = t.year() + YEARS;
        let mut added = false;
        'wrap: loop {
            if t.year() > year_limit {
                return None;
            }
            while self.months & (1 << t.month()) == 0 {
                if !added {
                    added = true;
                    t = t.first_of_month().ok()?.start_of_day().ok()?;
                }
                t = t.checked_add(1.month()).ok()?;
                if t.month() == 1 {
                    continue 'wrap;
                }
            }
            while !self.matches_day(t.day(), t.weekday().to_sunday_zero_offset()) {
                if !added {
                    added = true;
                    t = t.start_of_day().ok()?;
                }
                t = t.checked_add(1.day()).ok()?.start_of_day().ok()?;
                if t.day() == 1 {
                    continue 'wrap;
                }
            }
            while self.hours & (1 << t.hour()) == 0 {
                if !added {
                    added = true;
                    t = truncate(&t, i64::from(t.minute()) * 60)?;
                }
                t = t.checked_add(1.hour()).ok()?;
                if t.hour() == 0 {
                    continue 'wrap;
                }
            }
            while self.minutes & (1 << t.minute()) == 0 {
                added = true;
                t = t.checked_add(1.minute()).ok()?;
                if t.minute() == 0 {
                    continue 'wrap;
                }
            }
            return Some(t.timestamp());
        }
    }

    /// The runs after `after` up to and including `until`, oldest first, at most `limit`.
    pub fn runs_between(
        &self,
        after: Timestamp,
        until: Timestamp,
        zone: &TimeZone,
        limit: usize,
    ) -> Vec<Timestamp> {
        let mut runs = Vec::new();
        let mut t = after;
        while runs.len() < limit {
            match self.next_after(t, zone) {
                Some(next) if next <= until => {
                    runs.push(next);
                    t = next;
                }
                _ => break,
            }
        }
        runs
    }
}

/// `t` moved back `seconds` of absolute time (to the start of its hour).
fn truncate(t: &Zoned, seconds: i64) -> Option<Zoned> {
    t.checked_sub(seconds.seconds()).ok()
}
