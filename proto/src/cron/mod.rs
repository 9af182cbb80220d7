//! CronJob schedules: the five-field cron syntax Kubernetes accepts (its cron library's
//! standard parser), parsed once here for both apply's validation and the CronJob
//! controller, and the next run time in a time zone.
//!
//! Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC),
//! day of week (0-6 or SUN-SAT, 7 also Sunday); each a comma list of `*`, values,
//! ranges `a-b` and steps (`*/5`, `1-10/2`, `3/15` = from 3 to the end every 15); `?`
//! is `*` in the two day fields. Macros: @yearly @annually @monthly @weekly @daily
//! @midnight @hourly. When both day fields are restricted a day matches either one
//! (cron's OR rule); when one is `*` (or starts with `*`) only the other counts.

mod field;
mod next;
#[cfg(test)]
mod tests;

use field::{parse_field, DAY_OF_MONTH, DAY_OF_WEEK, HOUR, MINUTE, MONTH};

pub use jiff::tz::TimeZone;

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// The day-of-month field started with `*` or `?` (see the OR rule above).
    days_star: bool,
    /// The day-of-week field started with `*` or `?`.
    weekdays_star: bool,
}

/// Why a schedule is refused; the text names the field and the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")]
    TimeZonePrefix,
    #[error("empty schedule")]
    Empty,
    #[error("unrecognized macro {0:?} (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)")]
    UnknownMacro(String),
    #[error("expected exactly 5 fields (minute hour day-of-month month day-of-week), found {0}")]
    FieldCount(usize),
    #[error("{field} field {part:?}: {problem}")]
    Field {
        field: &'static str,
        part: String,
        problem: String,
    },
    #[error("the schedule never runs: no month in it has a day {0}")]
    Never(String),
}

impl std::str::FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Schedule::parse(text)
    }
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        // Kubernetes refuses any "TZ" in the schedule: the zone is spec.timeZone.
        if text.contains("TZ") {
            return Err(ScheduleError::TimeZonePrefix);
        }
        let text = text.trim();
        if text.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let expanded = match text {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(ScheduleError::UnknownMacro(other.to_string()))
            }
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(ScheduleError::FieldCount(fields.len()));
        }
        let minutes = parse_field(fields[0], &MINUTE)?;
        let hours = parse_field(fields[1], &HOUR)?;
        let days = parse_field(fields[2], &DAY_OF_MONTH)?;
        let months = parse_field(fields[3], &MONTH)?;
        let weekdays = parse_field(fields[4], &DAY_OF_WEEK)?;
        let schedule = Schedule {
            minutes: minutes.bits,
            hours: hours.bits,
            days: days.bits,
            months: months.bits,
            // 7 is Sunday too.
            weekdays: (weekdays.bits | (weekdays.bits >> 7)) & 0x7f,
            days_star: days.star,
            weekdays_star: weekdays.star,
        };
        schedule.check_reachable(fields[2])?;
        Ok(schedule)
    }

    /// With the day of week unrestricted, some chosen month must have a chosen day
    /// (`0 0 30 2 *` never runs; Kubernetes would accept it and never start a Job).
    fn check_reachable(&self, day_field: &str) -> Result<(), ScheduleError> {
        if !self.weekdays_star || self.days_star {
            return Ok(());
        }
        const LONGEST: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let reachable = (1..=12)
            .filter(|m| self.months & (1 << m) != 0)
            .any(|m| (1..=LONGEST[m - 1]).any(|d| self.days & (1 << d) != 0));
        if reachable {
            Ok(())
        } else {
            Err(ScheduleError::Never(day_field.to_string()))
        }
    }

    fn matches_day(&self, day: i8, weekday: i8) -> bool {
        let in_days = self.days & (1 << day) != 0;
        let in_weekdays = self.weekdays & (1 << weekday) != 0;
        if self.days_star || self.weekdays_star {
            in_days && in_weekdays
        } else {
            in_days || in_weekdays
        }
    }
}

/// The time zone named by a CronJob's `spec.timeZone` (None: UTC, the control plane's
/// zone in Kubernetes terms, since skiff runs in UTC), or the message apply gives.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, String> {
    match name {
        None => Ok(TimeZone::UTC),
        Some("") => Err("timeZone must be nil or non-empty string".into()),
        Some(name) if name.eq_ignore_ascii_case("local") => Err(
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
                .into(),
        ),
        Some(name) => jiff::tz::db()
            .get(name)
            .map_err(|_| format!("unknown time zone {name}")),
    }
}
