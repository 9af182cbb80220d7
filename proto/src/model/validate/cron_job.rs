//! A CronJob's timing: its schedule (parsed by `crate::cron`, the controller's parser),
//! time zone, starting deadline and history limits; and its job template's selector,
//! which the controller always generates.

use k8s_openapi::api::batch::v1::CronJobSpec;

use super::FieldError;
use crate::cron::{time_zone, Schedule};

pub(super) fn validate_timing(spec: &CronJobSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if spec.schedule.trim().is_empty() {
        errors.push(FieldError::required("spec.schedule", ""));
    } else if let Err(e) = Schedule::parse(&spec.schedule) {
        errors.push(FieldError::invalid(
            "spec.schedule",
            spec.schedule.as_str(),
            e,
        ));
    }
    if let Err(message) = time_zone(spec.time_zone.as_deref()) {
        let zone = spec.time_zone.clone().unwrap_or_default();
        errors.push(FieldError::invalid("spec.timeZone", zone, message));
    }
    if let Some(secs) = spec.starting_deadline_seconds.filter(|s| *s < 0) {
        errors.push(FieldError::invalid(
            "spec.startingDeadlineSeconds",
            secs,
            "must be greater than or equal to 0",
        ));
    }
    for (path, limit) in [
        (
            "spec.successfulJobsHistoryLimit",
            spec.successful_jobs_history_limit,
        ),
        (
            "spec.failedJobsHistoryLimit",
            spec.failed_jobs_history_limit,
        ),
    ] {
        if let Some(limit) = limit.filter(|l| *l < 0) {
            errors.push(FieldError::invalid(
                path,
                limit,
                "must be greater than or equal to 0",
            ));
        }
    }
    errors
}

/// As kube-apiserver's job template check: each Job gets a selector on its own uid, so
/// one in the template could never be honoured.
pub(super) fn validate_template_selector(spec: &CronJobSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(job) = spec.job_template.spec.as_ref() else {
        return errors;
    };
    if let Some(selector) = &job.selector {
        errors.push(FieldError::invalid(
            "spec.jobTemplate.spec.selector",
            serde_json::to_value(selector).unwrap_or_default(),
            "`selector` will be auto-generated",
        ));
    }
    if job.manual_selector == Some(true) {
        errors.push(FieldError::unsupported(
            "spec.jobTemplate.spec.manualSelector",
            "true",
            &["nil", "false"],
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use crate::model::{decode_documents, validate_object};

    const CRON_JOB: &str = "apiVersion: batch/v1
kind: CronJob
metadata: {name: hello}
spec:
  schedule: SCHEDULE
  EXTRA
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox}]
";

    fn errors(schedule: &str, extra: &str) -> Vec<String> {
        let yaml = CRON_JOB
            .replace("SCHEDULE", schedule)
            .replace("EXTRA", extra);
        let object = decode_documents("cj.yaml", &yaml).unwrap().remove(0);
        match validate_object(&object) {
            Ok(()) => Vec::new(),
            Err(error) => error.errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn the_notes_schedule_is_refused_with_its_field_path() {
        assert_eq!(
            errors(r#""1/* * * * *""#, ""),
            [
                r#"spec.schedule: Invalid value: "1/* * * * *": minute field "1/*": the step "*" is not a number"#
            ]
        );
    }

    #[test]
    fn good_schedules_and_zones_pass() {
        for schedule in [r#""*/5 * * * *""#, "'@hourly'", r#""0 9 * * MON-FRI""#] {
            assert_eq!(errors(schedule, ""), Vec::<String>::new(), "{schedule}");
        }
        assert!(errors(r#""0 9 * * *""#, "timeZone: Europe/Berlin").is_empty());
    }

    #[test]
    fn timing_fields_are_checked() {
        assert_eq!(
            errors(r#""* * * * *""#, "timeZone: Mars/Base"),
            [r#"spec.timeZone: Invalid value: "Mars/Base": unknown time zone Mars/Base"#]
        );
        assert_eq!(
            errors(r#""TZ=UTC * * * * *""#, ""),
            [
                r#"spec.schedule: Invalid value: "TZ=UTC * * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"#
            ]
        );
        assert_eq!(
            errors(r#""* * * * *""#, "startingDeadlineSeconds: -1"),
            ["spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0"]
        );
        assert_eq!(
            errors(r#""* * * * *""#, "failedJobsHistoryLimit: -2"),
            ["spec.failedJobsHistoryLimit: Invalid value: -2: must be greater than or equal to 0"]
        );
        assert_eq!(errors(r#""""#, ""), ["spec.schedule: Required value"]);
    }

    #[test]
    fn a_job_template_selector_is_refused_as_it_would_be_replaced() {
        let yaml = CRON_JOB
            .replace("SCHEDULE", r#""* * * * *""#)
            .replace("EXTRA", "")
            .replace(
                "    spec:\n      template:",
                "    spec:\n      manualSelector: true\n      selector: {matchLabels: {a: b}}\n      template:",
            );
        let object = decode_documents("cj.yaml", &yaml).unwrap().remove(0);
        let error = validate_object(&object).unwrap_err();
        let messages: Vec<String> = error.errors.iter().map(ToString::to_string).collect();
        assert!(
            messages.contains(
                &r#"spec.jobTemplate.spec.selector: Invalid value: {"matchLabels":{"a":"b"}}: `selector` will be auto-generated"#
                    .to_string()
            ),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("spec.jobTemplate.spec.manualSelector: Unsupported value")),
            "{messages:?}"
        );
    }
}
