//! The CronJob's status: `active` follows its Jobs (a finished one leaves, one it made
//! and did not record yet joins), `lastSuccessfulTime` the latest completion.

use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::jobs::finished;
use crate::core::objects;
use crate::core::Error;
use crate::store::{Key, Store};

/// What changed in `active`, for the events `describe cronjob` shows.
pub enum Seen {
    /// A Job left `active` because it finished: its name and Complete/Failed.
    Completed(String, String),
    /// A Job in `active` no longer exists.
    Missing(String),
}

/// Brings `status.active` and `lastSuccessfulTime` up to date with the owned Jobs.
pub fn track(status: &mut CronJobStatus, owned: &[Job]) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut active = Vec::new();
    for reference in status.active.take().unwrap_or_default() {
        let name = reference.name.clone().unwrap_or_default();
        match owned.iter().find(|j| j.metadata.uid == reference.uid) {
            None => seen.push(Seen::Missing(name)),
            Some(job) => match finished(job) {
                Some((how, _)) => seen.push(Seen::Completed(name, how.to_string())),
                None => active.push(reference),
            },
        }
    }
    for job in owned {
        let listed = active.iter().any(|r| r.uid == job.metadata.uid);
        if !listed && finished(job).is_none() {
            active.push(reference_to(job));
        }
        if let Some(("Complete", done)) = finished(job) {
            let done = job
                .status
                .as_ref()
                .and_then(|s| s.completion_time.as_ref().map(|t| t.0))
                .or(done);
            let last = status.last_successful_time.as_ref().map(|t| t.0);
            if let Some(done) = done.filter(|d| last.is_none_or(|l| *d > l)) {
                status.last_successful_time = Some(Time(done));
            }
        }
    }
    status.active = Some(active).filter(|a| !a.is_empty());
    seen
}

/// How `status.active` names a Job.
pub fn reference_to(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        ..Default::default()
    }
}

/// Writes the status when it changed.
pub async fn write(
    store: &dyn Store,
    cron_job: &CronJob,
    status: CronJobStatus,
) -> Result<(), Error> {
    if cron_job.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let meta = &cron_job.metadata;
    let key = Key::new(
        "CronJob",
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    );
    let uid = meta.uid.clone().unwrap_or_default();
    objects::write_status::<CronJob, _>(store, &key, &uid, status, |c| &mut c.status).await
}
