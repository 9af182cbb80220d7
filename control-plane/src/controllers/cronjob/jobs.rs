//! The CronJob's Jobs: made from its `jobTemplate` for one scheduled time, their finished
//! state, and the history limits.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use skiff_proto::model::generate_job_selector;

use crate::controllers::ControllerContext;
use crate::core::objects::{self, controller_ref};
use crate::core::Error;
use crate::store::{Key, Store, StoreError};

/// The annotation a Job made for a scheduled time carries (RFC 3339, in the CronJob's
/// time zone).
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// `<cronjob>-<scheduled time in minutes since the epoch>`: one name per scheduled time,
/// so a second attempt at the same time finds the first.
pub fn job_name(cron_job: &str, scheduled: Timestamp) -> String {
    format!("{cron_job}-{}", scheduled.as_second().div_euclid(60))
}

/// How a Job ended, if it has: Complete or Failed, and when.
pub fn finished(job: &Job) -> Option<(&str, Option<Timestamp>)> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| {
            (
                c.type_.as_str(),
                c.last_transition_time.as_ref().map(|t| t.0),
            )
        })
}

/// What creating the Job for a scheduled time came to.
pub enum Created {
    New(Box<Job>),
    /// A Job of that name was there already (this time was started before).
    Existing(Box<Job>),
}

/// Creates the Job for `scheduled` from the CronJob's template, controlled by it.
pub async fn create(
    store: &dyn Store,
    cron_job: &CronJob,
    scheduled: Timestamp,
    zone: &TimeZone,
    now: Timestamp,
) -> Result<Created, Error> {
    let name = job_name(
        cron_job.metadata.name.as_deref().unwrap_or_default(),
        scheduled,
    );
    let namespace = cron_job.metadata.namespace.clone().unwrap_or_default();
    let template = cron_job
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let template_meta = template.metadata.unwrap_or_default();
    let mut annotations = template_meta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), rfc3339(scheduled, zone));
    let uid = crate::core::ids::new_uid();
    let mut job = Job {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            uid: Some(uid.clone()),
            labels: template_meta.labels,
            annotations: Some(annotations),
            creation_timestamp: Some(Time(now)),
            generation: Some(1),
            owner_references: Some(vec![controller_ref("CronJob", &cron_job.metadata)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    };
    generate_job_selector(&mut job);
    let key = Key::new("Job", &namespace, &name);
    match store.create(key.clone(), uid, objects::encode(&job)).await {
        Ok(stored) => Ok(Created::New(Box::new(objects::decode(&stored)?))),
        Err(StoreError::AlreadyExists(_)) => match store.get(&key).await? {
            Some(stored) => Ok(Created::Existing(Box::new(objects::decode(&stored)?))),
            None => Err(Error::Conflict(format!("job {key} vanished while created"))),
        },
        Err(e) => Err(e.into()),
    }
}

/// Deletes the Job (its pods follow through the garbage collector, as with background
/// propagation); whether this call deleted or marked it.
pub async fn delete(ctx: &ControllerContext, job: &Job) -> Result<bool, Error> {
    let key = Key::new(
        "Job",
        job.metadata.namespace.clone().unwrap_or_default(),
        job.metadata.name.clone().unwrap_or_default(),
    );
    crate::controllers::deleted(ctx, &key, job.metadata.uid.as_deref().unwrap_or_default()).await
}

/// The finished Jobs beyond the history limits, oldest first: successful ones past
/// `successful`, failed ones past `failed`.
pub fn beyond_history<'a>(jobs: &[&'a Job], successful: i32, failed: i32) -> Vec<&'a Job> {
    let mut doomed = Vec::new();
    for (kind, limit) in [("Complete", successful), ("Failed", failed)] {
        let mut done: Vec<&Job> = jobs
            .iter()
            .copied()
            .filter(|j| finished(j).is_some_and(|(k, _)| k == kind))
            .collect();
        done.sort_by_key(|j| (started(j), j.metadata.name.clone()));
        let excess = done.len().saturating_sub(limit.max(0) as usize);
        doomed.extend(done.into_iter().take(excess));
    }
    doomed
}

fn started(job: &Job) -> Timestamp {
    job.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map_or_else(|| objects::created(&job.metadata), |t| t.0)
}

/// RFC 3339 as Go writes it: `Z` in UTC, else the zone's offset.
fn rfc3339(at: Timestamp, zone: &TimeZone) -> String {
    if zone == &TimeZone::UTC {
        return at.to_string();
    }
    at.to_zoned(zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}
