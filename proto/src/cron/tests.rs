use jiff::Timestamp;

use super::*;

fn utc(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn zone(name: &str) -> TimeZone {
    time_zone(Some(name)).unwrap()
}

/// The next `n` runs after `after`, as RFC 3339 instants.
fn runs(schedule: &str, after: &str, zone: &TimeZone, n: usize) -> Vec<String> {
    let schedule = Schedule::parse(schedule).unwrap();
    let mut t = utc(after);
    (0..n)
        .map(|_| {
            t = schedule.next_after(t, zone).expect("a next run");
            t.to_string()
        })
        .collect()
}

fn error(schedule: &str) -> String {
    Schedule::parse(schedule).unwrap_err().to_string()
}

#[test]
fn the_notes_schedule_is_refused_naming_the_bad_step() {
    assert_eq!(
        error("1/* * * * *"),
        r#"minute field "1/*": the step "*" is not a number"#
    );
}

#[test]
fn bad_schedules_say_which_field_and_part() {
    for (schedule, want) in [
        ("", "empty schedule"),
        (
            "* * * *",
            "expected exactly 5 fields (minute hour day-of-month month day-of-week), found 4",
        ),
        ("* * * * * *", "found 6"),
        (
            "60 * * * *",
            r#"minute field "60": 60 is above the maximum 59"#,
        ),
        (
            "* 5-2 * * *",
            r#"hour field "5-2": the range starts at 5, after its end 2"#,
        ),
        (
            "* * 0 * *",
            r#"day-of-month field "0": 0 is below the minimum 1"#,
        ),
        (
            "* * * 13 *",
            r#"month field "13": 13 is above the maximum 12"#,
        ),
        (
            "* * * FOO *",
            r#"month field "FOO": "FOO" is not a number or a name"#,
        ),
        (
            "* * * * 8",
            r#"day-of-week field "8": 8 is above the maximum 7"#,
        ),
        (
            "*/0 * * * *",
            r#"minute field "*/0": the step must be a positive number"#,
        ),
        ("1-2-3 * * * *", "too many hyphens"),
        ("*/2/3 * * * *", "too many slashes"),
        ("1,,2 * * * *", r#"minute field "": a value is missing"#),
        (
            "? * * * *",
            "? is only allowed in the day-of-month and day-of-week fields",
        ),
        ("@every 5m", "unrecognized macro"),
        (
            "0 0 30 2 *",
            "the schedule never runs: no month in it has a day 30",
        ),
        ("0 0 31 4,6,9,11 *", "never runs"),
    ] {
        let got = error(schedule);
        assert!(got.contains(want), "{schedule:?}: {got}");
    }
}

#[test]
fn time_zone_prefixes_are_refused_as_kubernetes_does() {
    for schedule in ["TZ=UTC * * * * *", "CRON_TZ=Europe/Berlin 0 * * * *"] {
        assert_eq!(
            error(schedule),
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
        );
    }
}

#[test]
fn lists_ranges_steps_and_names() {
    let z = TimeZone::UTC;
    assert_eq!(
        runs("*/20 * * * *", "2026-01-01T00:00:00Z", &z, 3),
        [
            "2026-01-01T00:20:00Z",
            "2026-01-01T00:40:00Z",
            "2026-01-01T01:00:00Z"
        ]
    );
    assert_eq!(
        runs("1-10/4,30 * * * *", "2026-01-01T00:00:00Z", &z, 4),
        [
            "2026-01-01T00:01:00Z",
            "2026-01-01T00:05:00Z",
            "2026-01-01T00:09:00Z",
            "2026-01-01T00:30:00Z"
        ]
    );
    // `N/step` runs from N to the end of the field.
    assert_eq!(
        runs("50/5 * * * *", "2026-01-01T00:00:00Z", &z, 3),
        [
            "2026-01-01T00:50:00Z",
            "2026-01-01T00:55:00Z",
            "2026-01-01T01:50:00Z"
        ]
    );
    // 2026-01-01 is a Thursday; names in any case, 7 is Sunday.
    assert_eq!(
        runs("0 9 * jan-Feb sun,7,Mon", "2026-01-01T00:00:00Z", &z, 3),
        [
            "2026-01-04T09:00:00Z",
            "2026-01-05T09:00:00Z",
            "2026-01-11T09:00:00Z"
        ]
    );
    assert_eq!(
        runs("0 0 ? * 7", "2026-01-01T00:00:00Z", &z, 1),
        ["2026-01-04T00:00:00Z"]
    );
    // Feb 29 comes in 2028.
    assert_eq!(
        runs("0 0 29 2 *", "2026-01-01T00:00:00Z", &z, 1),
        ["2028-02-29T00:00:00Z"]
    );
}

#[test]
fn macros_are_their_five_fields() {
    let z = TimeZone::UTC;
    let from = "2026-05-17T10:30:00Z";
    for (macro_, first) in [
        ("@yearly", "2027-01-01T00:00:00Z"),
        ("@annually", "2027-01-01T00:00:00Z"),
        ("@monthly", "2026-06-01T00:00:00Z"),
        ("@weekly", "2026-05-24T00:00:00Z"),
        ("@daily", "2026-05-18T00:00:00Z"),
        ("@midnight", "2026-05-18T00:00:00Z"),
        ("@hourly", "2026-05-17T11:00:00Z"),
    ] {
        assert_eq!(runs(macro_, from, &z, 1), [first], "{macro_}");
    }
}

#[test]
fn both_day_fields_restricted_means_either_one() {
    let z = TimeZone::UTC;
    // The 13th or any Friday: Fri 2, Fri 9, Tue 13, Fri 16 in January 2026.
    assert_eq!(
        runs("0 0 13 * FRI", "2026-01-01T00:00:00Z", &z, 4),
        [
            "2026-01-02T00:00:00Z",
            "2026-01-09T00:00:00Z",
            "2026-01-13T00:00:00Z",
            "2026-01-16T00:00:00Z"
        ]
    );
    // A starred day of month leaves the weekday alone deciding: Fridays on odd days.
    assert_eq!(
        runs("0 0 */2 * FRI", "2026-01-01T00:00:00Z", &z, 2),
        ["2026-01-09T00:00:00Z", "2026-01-23T00:00:00Z"]
    );
}

#[test]
fn runs_follow_the_wall_clock_of_the_time_zone() {
    let berlin = zone("Europe/Berlin");
    // 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer.
    assert_eq!(
        runs("0 9 * * *", "2026-01-10T12:00:00Z", &berlin, 1),
        ["2026-01-11T08:00:00Z"]
    );
    assert_eq!(
        runs("0 9 * * *", "2026-07-10T12:00:00Z", &berlin, 1),
        ["2026-07-11T07:00:00Z"]
    );
}

#[test]
fn a_skipped_wall_clock_time_does_not_run_and_minutes_keep_real_time() {
    // New York springs forward on 2026-03-08: 02:00 EST becomes 03:00 EDT.
    let ny = zone("America/New_York");
    // 02:30 does not exist that day: the next run is the 9th.
    assert_eq!(
        runs("30 2 * * *", "2026-03-07T12:00:00Z", &ny, 2),
        ["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"]
    );
    // Every half hour of real time: 01:30 EST, then 03:00 EDT (30 minutes later).
    assert_eq!(
        runs("*/30 * * * *", "2026-03-08T06:15:00Z", &ny, 3),
        [
            "2026-03-08T06:30:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-08T07:30:00Z"
        ]
    );
}

#[test]
fn a_repeated_wall_clock_time_runs_in_both_passes() {
    // New York falls back on 2026-11-01: 02:00 EDT becomes 01:00 EST.
    let ny = zone("America/New_York");
    assert_eq!(
        runs("30 1 * * *", "2026-10-31T12:00:00Z", &ny, 3),
        [
            "2026-11-01T05:30:00Z",
            "2026-11-01T06:30:00Z",
            "2026-11-02T06:30:00Z"
        ]
    );
    // Daily at 09:00 local keeps 09:00 local across the change.
    assert_eq!(
        runs("0 9 * * *", "2026-10-31T00:00:00Z", &ny, 2),
        ["2026-10-31T13:00:00Z", "2026-11-01T14:00:00Z"]
    );
}

#[test]
fn unknown_and_local_time_zones_are_refused() {
    assert_eq!(
        time_zone(Some("Mars/Base")).unwrap_err(),
        "unknown time zone Mars/Base"
    );
    assert!(time_zone(Some("Local")).is_err());
    assert!(time_zone(Some("")).is_err());
    assert_eq!(time_zone(None).unwrap(), TimeZone::UTC);
    assert!(time_zone(Some("Asia/Kolkata")).is_ok());
}

#[test]
fn runs_between_lists_at_most_limit_runs() {
    let s = Schedule::parse("* * * * *").unwrap();
    let from = utc("2026-01-01T00:00:00Z");
    let until = utc("2026-01-01T05:00:00Z");
    let all = s.runs_between(from, until, &TimeZone::UTC, 1000);
    assert_eq!(all.len(), 300);
    assert_eq!(all.last(), Some(&until));
    assert_eq!(s.runs_between(from, until, &TimeZone::UTC, 7).len(), 7);
}

#[test]
fn the_embedded_zone_database_serves_a_host_without_tzdata() {
    let db = jiff::tz::TimeZoneDatabase::bundled();
    assert!(db.get("America/New_York").is_ok());
    assert!(db.get("Mars/Base").is_err());
}
