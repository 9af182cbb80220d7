//! Jobs (STATUS COMPLETIONS DURATION) and CronJobs (SCHEDULE TIMEZONE SUSPEND ACTIVE
//! LAST SCHEDULE), with `-o wide` the template's CONTAINERS IMAGES SELECTOR.

use jiff::Timestamp;
use serde_json::Value;

use super::age::{age, human_duration, since, time};
use super::fields::{containers, format_label_selector, is_set, items, len, text};
use super::{docs, Column};

const CONTAINERS: &str = "Names of each container in the template.";
const IMAGES: &str = "Images referenced by each container in the template.";

pub const JOB: &[Column] = &[
    Column::name(),
    Column::text("Status", "Status of the job."),
    Column::text("Completions", docs::JOB_SUCCEEDED),
    Column::text("Duration", "Time required to complete the job."),
    Column::age(),
    Column::text("Containers", CONTAINERS).wide(),
    Column::text("Images", IMAGES).wide(),
    Column::text("Selector", docs::JOB_SELECTOR).wide(),
];

pub const CRON_JOB: &[Column] = &[
    Column::name(),
    Column::text("Schedule", docs::CJ_SCHEDULE),
    Column::text("Timezone", docs::CJ_TIME_ZONE),
    Column::new("Suspend", "boolean", docs::CJ_SUSPEND),
    Column::int("Active", docs::CJ_ACTIVE),
    Column::text("Last Schedule", docs::CJ_LAST_SCHEDULE),
    Column::age(),
    Column::text("Containers", CONTAINERS).wide(),
    Column::text("Images", IMAGES).wide(),
    Column::text("Selector", docs::JOB_SELECTOR).wide(),
];

/// Whether the job's first condition of `type_` is True.
fn has_condition(o: &Value, type_: &str) -> bool {
    items(o, "/status/conditions")
        .find(|c| c["type"] == type_)
        .is_some_and(|c| c["status"] == "True")
}

/// Complete, Failed, Terminating, Suspended, FailureTarget or Running, in kubectl's order.
fn job_status(o: &Value) -> &'static str {
    if has_condition(o, "Complete") {
        "Complete"
    } else if has_condition(o, "Failed") {
        "Failed"
    } else if is_set(o, "/metadata/deletionTimestamp") {
        "Terminating"
    } else if has_condition(o, "Suspended") {
        "Suspended"
    } else if has_condition(o, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

/// `succeeded/completions`; without completions `succeeded/1`, or `succeeded/1 of P`.
fn completions(o: &Value) -> String {
    let succeeded = super::fields::int(o, "/status/succeeded");
    match o.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(n) => format!("{succeeded}/{n}"),
        None => match o.pointer("/spec/parallelism").and_then(Value::as_i64) {
            Some(p) if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

/// From startTime to completionTime, or to now while it runs; empty before it starts.
fn duration(o: &Value, now: Timestamp) -> String {
    match (
        time(o, "/status/startTime"),
        time(o, "/status/completionTime"),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.duration_since(start)),
        (Some(start), Some(end)) => human_duration(end.duration_since(start)),
    }
}

pub fn job(o: &Value, now: Timestamp) -> Vec<Value> {
    let [names, images] = containers(o, "/spec/template/spec");
    vec![
        text(o, "/metadata/name").into(),
        job_status(o).into(),
        completions(o).into(),
        duration(o, now).into(),
        age(o, now),
        names,
        images,
        format_label_selector(&o["spec"]["selector"]).into(),
    ]
}

pub fn cron_job(o: &Value, now: Timestamp) -> Vec<Value> {
    let [names, images] = containers(o, "/spec/jobTemplate/spec/template/spec");
    let last_schedule = match is_set(o, "/status/lastScheduleTime") {
        true => since(o, "/status/lastScheduleTime", now),
        false => "<none>".into(),
    };
    let time_zone = match o.pointer("/spec/timeZone") {
        Some(Value::String(zone)) => zone.clone(),
        _ => "<none>".into(),
    };
    let suspend = match o.pointer("/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    vec![
        text(o, "/metadata/name").into(),
        text(o, "/spec/schedule").into(),
        time_zone.into(),
        suspend.into(),
        len(o, "/status/active").into(),
        last_schedule.into(),
        age(o, now),
        names,
        images,
        format_label_selector(&o["spec"]["jobTemplate"]["spec"]["selector"]).into(),
    ]
}
