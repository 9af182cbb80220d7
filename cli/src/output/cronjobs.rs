//! kubectl's columns for CronJobs: NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE
//! AGE (and with `-o wide` the job template's CONTAINERS IMAGES SELECTOR).

use serde_json::Value;

use super::tables::{age_at, or_none, s};

pub const HEADER: &[&str] = &[
    "NAME",
    "SCHEDULE",
    "TIMEZONE",
    "SUSPEND",
    "ACTIVE",
    "LAST SCHEDULE",
    "AGE",
];
/// `-o wide` adds the job template's columns.
pub fn wide_header() -> Vec<&'static str> {
    [HEADER, &["CONTAINERS", "IMAGES", "SELECTOR"]].concat()
}

/// The narrow columns; the caller adds the job template's for `-o wide`.
pub fn row(o: &Value) -> Vec<String> {
    let active = o
        .pointer("/status/active")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    vec![
        s(o, "/metadata/name"),
        s(o, "/spec/schedule"),
        or_none(s(o, "/spec/timeZone")),
        match o.pointer("/spec/suspend").and_then(Value::as_bool) {
            Some(true) => "True".into(),
            Some(false) => "False".into(),
            None => "<unset>".into(),
        },
        active.to_string(),
        match o.pointer("/status/lastScheduleTime") {
            Some(Value::String(_)) => age_at(o, "/status/lastScheduleTime"),
            _ => "<none>".into(),
        },
        age_at(o, "/metadata/creationTimestamp"),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn columns_read_as_kubectl_prints_them() {
        let never_run = json!({
            "metadata": {"name": "hello", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"schedule": "*/5 * * * *", "suspend": false},
        });
        let row = row(&never_run);
        assert_eq!(
            row[..6],
            ["hello", "*/5 * * * *", "<none>", "False", "0", "<none>"]
        );
        let running = json!({
            "metadata": {"name": "hello", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"schedule": "@hourly", "timeZone": "Europe/Berlin", "suspend": true},
            "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": "2020-01-01T00:00:00Z"},
        });
        let row = super::row(&running);
        assert_eq!(row[..5], ["hello", "@hourly", "Europe/Berlin", "True", "1"]);
        assert!(row[5].ends_with('d') || row[5].ends_with('y'), "{}", row[5]);
    }

    #[test]
    fn wide_rows_show_the_job_templates_containers() {
        let cj = json!({
            "metadata": {"name": "hello", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"schedule": "@daily", "suspend": false, "jobTemplate": {"spec": {"template": {
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}},
        });
        let rows = crate::output::tables::rows("CronJob", &[cj], true, false);
        assert_eq!(rows[0][7..], ["CONTAINERS", "IMAGES", "SELECTOR"]);
        assert_eq!(rows[1][7..], ["c", "busybox", "<none>"]);
    }
}
