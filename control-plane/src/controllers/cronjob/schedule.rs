//! Which scheduled time is due, as Kubernetes' CronJob controller (v2) decides it: only
//! the most recent time missed since the last run (or the CronJob's creation) starts,
//! never a backlog; with `startingDeadlineSeconds`, only one inside the deadline.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use skiff_proto::cron::Schedule;

/// More missed times than this are reported as `TooManyMissedTimes`.
pub const TOO_MANY_MISSED: usize = 100;

/// The scheduled time to start now, and whether more than [`TOO_MANY_MISSED`] went by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub time: Timestamp,
    pub too_many: bool,
}

/// The most recent scheduled time in `(since, now]`, if any.
pub fn most_recent(
    schedule: &Schedule,
    zone: &TimeZone,
    since: Timestamp,
    now: Timestamp,
) -> Option<Due> {
    let runs = schedule.runs_between(since, now, zone, TOO_MANY_MISSED + 1);
    let last = *runs.last()?;
    if runs.len() <= TOO_MANY_MISSED {
        return Some(Due {
            time: last,
            too_many: false,
        });
    }
    // Many missed: look back from `now` in growing windows instead of walking them all.
    let mut window = Duration::from_secs(3600);
    loop {
        let start = now.checked_sub(window).map_or(since, |s| s.max(since));
        if let Some(time) = schedule.runs_between(start, now, zone, usize::MAX).last() {
            return Some(Due {
                time: *time,
                too_many: true,
            });
        }
        window *= 2;
    }
}

/// `at` minus `seconds` (a deadline's cutoff).
pub fn before(at: Timestamp, seconds: i64) -> Timestamp {
    at.checked_sub(Duration::from_secs(seconds.max(0) as u64))
        .unwrap_or(Timestamp::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn only_the_most_recent_missed_time_is_due() {
        let every_minute = Schedule::parse("* * * * *").unwrap();
        let due = most_recent(
            &every_minute,
            &TimeZone::UTC,
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T05:00:30Z"),
        );
        assert_eq!(
            due,
            Some(Due {
                time: at("2026-01-01T05:00:00Z"),
                too_many: true
            })
        );
        let due = most_recent(
            &every_minute,
            &TimeZone::UTC,
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:02:30Z"),
        );
        assert_eq!(
            due.map(|d| (d.time, d.too_many)),
            Some((at("2026-01-01T00:02:00Z"), false))
        );
        assert_eq!(
            most_recent(
                &every_minute,
                &TimeZone::UTC,
                at("2026-01-01T00:00:00Z"),
                at("2026-01-01T00:00:59Z")
            ),
            None
        );
    }

    #[test]
    fn a_sparse_schedule_missed_for_years_finds_its_last_time() {
        let yearly = Schedule::parse("@yearly").unwrap();
        let due = most_recent(
            &yearly,
            &TimeZone::UTC,
            at("2020-06-01T00:00:00Z"),
            at("2026-06-01T00:00:00Z"),
        );
        assert_eq!(due.map(|d| d.time), Some(at("2026-01-01T00:00:00Z")));
    }
}
