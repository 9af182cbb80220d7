//! kubectl's columns for Jobs: NAME STATUS COMPLETIONS DURATION AGE (and with `-o wide`
//! CONTAINERS IMAGES SELECTOR), as its printer computes them from the status.

use jiff::Timestamp;
use serde_json::Value;

use super::age;
use super::tables::{age_at, s};

pub const HEADER: &[&str] = &["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"];
pub const WIDE_HEADER: &[&str] = &[
    "NAME",
    "STATUS",
    "COMPLETIONS",
    "DURATION",
    "AGE",
    "CONTAINERS",
    "IMAGES",
    "SELECTOR",
];

/// The narrow columns; the caller adds the template's for `-o wide`.
pub fn row(o: &Value) -> Vec<String> {
    vec![
        s(o, "/metadata/name"),
        status(o),
        completions(o),
        duration(o),
        age_at(o, "/metadata/creationTimestamp"),
    ]
}

fn has_condition(o: &Value, type_: &str) -> bool {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == type_ && c["status"] == "True")
}

/// Complete, Failed, Terminating, Suspended or Running, in kubectl's order.
fn status(o: &Value) -> String {
    let status = if has_condition(o, "Complete") {
        "Complete"
    } else if has_condition(o, "Failed") {
        "Failed"
    } else if o
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        "Terminating"
    } else if has_condition(o, "Suspended") {
        "Suspended"
    } else {
        "Running"
    };
    status.into()
}

/// `succeeded/completions`; without completions, `succeeded/1` or `succeeded/1 of P`.
fn completions(o: &Value) -> String {
    let succeeded = o
        .pointer("/status/succeeded")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    match o.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(n) => format!("{succeeded}/{n}"),
        None => match o.pointer("/spec/parallelism").and_then(Value::as_i64) {
            Some(p) if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

/// From startTime to completionTime, or to now while it runs; empty before it starts.
fn duration(o: &Value) -> String {
    let time = |p: &str| s(o, p).parse::<Timestamp>().ok();
    match (time("/status/startTime"), time("/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => age::human(Timestamp::now().duration_since(start)),
        (Some(start), Some(end)) => age::human(end.duration_since(start)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn columns_follow_the_status() {
        let now = Timestamp::now();
        let job = json!({
            "metadata": {"name": "pi", "creationTimestamp": now.to_string()},
            "spec": {"completions": 1, "parallelism": 1},
            "status": {
                "succeeded": 1,
                "startTime": "2026-01-01T00:00:00Z",
                "completionTime": "2026-01-01T00:00:07Z",
                "conditions": [{"type": "Complete", "status": "True"}],
            },
        });
        assert_eq!(row(&job), ["pi", "Complete", "1/1", "7s", "0s"]);
        let failed = json!({
            "spec": {"parallelism": 3},
            "status": {"conditions": [{"type": "Failed", "status": "True"}]},
        });
        assert_eq!(status(&failed), "Failed");
        assert_eq!(completions(&failed), "0/1 of 3");
        assert_eq!(duration(&failed), "");
        let suspended = json!({"status": {"conditions": [
            {"type": "Suspended", "status": "True"},
        ]}});
        assert_eq!(status(&suspended), "Suspended");
        assert_eq!(status(&json!({"status": {}})), "Running");
    }
}
