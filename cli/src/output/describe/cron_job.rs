//! kubectl's `describe cronjob`: the schedule and its policies, the job template, the last
//! run and the active Jobs, then the events.

use std::fmt::Write;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

use super::events_section;
use super::workloads::{annotations, lines, pod_template, selector_text};
use crate::output::tables::s;

/// kubectl's layout for a CronJob (labels aligned at column 31).
pub fn describe_cron_job(cj: &Value, events: &[Value]) -> String {
    let mut out = String::new();
    let field = |out: &mut String, label: &str, value: String| {
        let _ = writeln!(out, "{:<31}{value}", format!("{label}:"));
    };
    let unset = |ptr: &str| match cj.pointer(ptr) {
        Some(Value::Null) | None => "<unset>".to_string(),
        Some(Value::String(v)) => v.clone(),
        Some(v) => v.to_string(),
    };
    field(&mut out, "Name", s(cj, "/metadata/name"));
    field(&mut out, "Namespace", s(cj, "/metadata/namespace"));
    let labels: Option<std::collections::BTreeMap<String, String>> =
        serde_json::from_value(cj["metadata"]["labels"].clone()).ok();
    field(&mut out, "Labels", lines(labels.as_ref(), "=", 31));
    field(&mut out, "Annotations", annotations(cj, 31));
    field(&mut out, "Schedule", s(cj, "/spec/schedule"));
    if cj.pointer("/spec/timeZone").is_some_and(|z| !z.is_null()) {
        field(&mut out, "Time Zone", s(cj, "/spec/timeZone"));
    }
    field(
        &mut out,
        "Concurrency Policy",
        s(cj, "/spec/concurrencyPolicy"),
    );
    let suspend = match cj.pointer("/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    field(&mut out, "Suspend", suspend.into());
    field(
        &mut out,
        "Successful Job History Limit",
        unset("/spec/successfulJobsHistoryLimit"),
    );
    field(
        &mut out,
        "Failed Job History Limit",
        unset("/spec/failedJobsHistoryLimit"),
    );
    field(
        &mut out,
        "Starting Deadline Seconds",
        match cj.pointer("/spec/startingDeadlineSeconds") {
            Some(Value::Number(n)) => format!("{n}s"),
            _ => "<unset>".into(),
        },
    );
    let job_spec = &cj["spec"]["jobTemplate"]["spec"];
    let selector = selector_text(&job_spec["selector"]);
    field(
        &mut out,
        "Selector",
        if selector.is_empty() {
            "<unset>".into()
        } else {
            selector
        },
    );
    for (label, key) in [
        ("Parallelism", "parallelism"),
        ("Completions", "completions"),
    ] {
        let value = match &job_spec[key] {
            Value::Null => "<unset>".to_string(),
            v => v.to_string(),
        };
        field(&mut out, label, value);
    }
    let template: PodTemplateSpec =
        serde_json::from_value(job_spec["template"].clone()).unwrap_or_default();
    out.push_str(&pod_template(&template));
    let last = match cj
        .pointer("/status/lastScheduleTime")
        .and_then(Value::as_str)
    {
        Some(t) => rfc1123(t),
        None => "<unset>".into(),
    };
    let _ = writeln!(out, "Last Schedule Time:  {last}");
    let active: Vec<String> = cj["status"]["active"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| s(r, "/name"))
        .collect();
    let active = if active.is_empty() {
        "<none>".to_string()
    } else {
        active.join(", ")
    };
    let _ = writeln!(out, "Active Jobs:         {active}");
    out.push_str(&events_section(events, "CronJob", &s(cj, "/metadata/name")));
    out
}

/// `Mon, 07 Dec 2026 02:10:00 +0000`, as kubectl prints times in `describe`.
fn rfc1123(text: &str) -> String {
    match text.parse::<jiff::Timestamp>() {
        Ok(t) => t.strftime("%a, %d %b %Y %H:%M:%S %z").to_string(),
        Err(_) => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_cron_job_description_shows_its_schedule_runs_and_events() {
        let cj = json!({
            "metadata": {"name": "hello", "namespace": "default"},
            "spec": {
                "schedule": "*/5 * * * *", "concurrencyPolicy": "Forbid", "suspend": false,
                "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                "jobTemplate": {"spec": {"template": {"spec": {
                    "containers": [{"name": "c", "image": "busybox"}]}}}},
            },
            "status": {"lastScheduleTime": "2026-12-07T02:10:00Z", "active": [{"name": "hello-29420010"}]},
        });
        let event = json!({
            "involvedObject": {"kind": "CronJob", "name": "hello"},
            "type": "Normal", "reason": "SuccessfulCreate", "message": "Created job hello-29420010",
            "source": {"component": "cronjob-controller"}, "count": 1,
            "lastTimestamp": "2026-12-07T02:10:00Z",
        });
        let text = describe_cron_job(&cj, &[event]);
        for line in [
            "Name:                          hello\n",
            "Schedule:                      */5 * * * *\n",
            "Concurrency Policy:            Forbid\n",
            "Suspend:                       False\n",
            "Successful Job History Limit:  3\n",
            "Failed Job History Limit:      1\n",
            "Starting Deadline Seconds:     <unset>\n",
            "Last Schedule Time:  Mon, 07 Dec 2026 02:10:00 +0000\n",
            "Active Jobs:         hello-29420010\n",
            "Created job hello-29420010",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
    }
}
