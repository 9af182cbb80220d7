//! The Job's status and conditions: what `get jobs` and `describe job` show.

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::counts::Counts;
use crate::core::objects;
use crate::core::Error;
use crate::store::{Key, Store};

/// The condition of `type_` that is True, if any.
pub fn true_condition<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// When the Job finished (Complete or Failed), if it has.
pub fn finished_at(job: &Job) -> Option<Timestamp> {
    ["Complete", "Failed"]
        .iter()
        .find_map(|t| true_condition(job, t))
        .map(|c| {
            c.last_transition_time
                .as_ref()
                .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
        })
}

/// Sets a condition; the transition time moves only when the status changes.
pub fn set_condition(
    status: &mut JobStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let time = Some(Time(now));
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == value => {
            c.reason = Some(reason.into());
            c.message = Some(message.into());
        }
        Some(c) => {
            c.status = value.into();
            c.reason = Some(reason.into());
            c.message = Some(message.into());
            c.last_probe_time = time.clone();
            c.last_transition_time = time;
        }
        None => conditions.push(JobCondition {
            type_: type_.into(),
            status: value.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_probe_time: time.clone(),
            last_transition_time: time,
        }),
    }
}

/// The counts written over the stored status (conditions and times kept).
pub fn counted(status: &mut JobStatus, counts: &Counts, active: i32) {
    status.active = Some(active).filter(|a| *a > 0);
    status.ready = Some(counts.ready.min(active));
    status.succeeded = Some(counts.succeeded).filter(|n| *n > 0);
    status.failed = Some(counts.failed).filter(|n| *n > 0);
    if counts.indexed {
        let completed = super::indexed::format(&counts.completed);
        status.completed_indexes = Some(completed).filter(|c| !c.is_empty());
    }
    if let Some(per_index) = &counts.per_index {
        status.failed_indexes = Some(super::indexed::format(&per_index.failed));
    }
}

/// Writes the status when it changed.
pub async fn write(store: &dyn Store, job: &Job, status: JobStatus) -> Result<(), Error> {
    if job.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let key = Key::new(
        "Job",
        job.metadata.namespace.clone().unwrap_or_default(),
        job.metadata.name.clone().unwrap_or_default(),
    );
    let uid = job.metadata.uid.as_deref().unwrap_or_default();
    objects::write_status(store, &key, uid, status, |j: &mut Job| &mut j.status).await
}
