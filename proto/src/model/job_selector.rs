//! The selector kube-apiserver gives a Job at creation (its strategy's PrepareForCreate):
//! unless `manualSelector: true`, the template is labelled with the Job's uid and name and
//! the selector picks the uid, so no two Jobs ever count each other's pods.
//! Validation (`validate/jobs.rs`) then refuses a selector that is not this one.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;

/// The labels that carry the Job's uid: the legacy one and the prefixed one.
pub const JOB_CONTROLLER_UID_LABELS: [&str; 2] =
    ["controller-uid", "batch.kubernetes.io/controller-uid"];
/// The labels that carry the Job's name (`get pods -l job-name=...`).
pub const JOB_NAME_LABELS: [&str; 2] = ["job-name", "batch.kubernetes.io/job-name"];
/// What the generated selector selects.
pub const JOB_SELECTOR_LABEL: &str = "batch.kubernetes.io/controller-uid";

/// Whether the user took the selector into their own hands.
pub fn manual_selector(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.manual_selector) == Some(true)
}

/// The labels a Job's pods must carry when its selector was generated.
pub fn generated_job_labels(job: &Job) -> BTreeMap<String, String> {
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let uid_labels = JOB_CONTROLLER_UID_LABELS.map(|k| (k.to_string(), uid.clone()));
    let name_labels = JOB_NAME_LABELS.map(|k| (k.to_string(), name.clone()));
    uid_labels.into_iter().chain(name_labels).collect()
}

/// Generates the selector of a new Job (its `metadata.uid` set) as kube-apiserver does:
/// labels the user already set are left alone (validation refuses wrong ones), and the
/// uid is added to a selector the user gave without `manualSelector` (validation then
/// refuses it as not auto-generated). A Job without labels of its own takes the
/// template's, as the API server's defaulting shows them.
pub fn generate_job_selector(job: &mut Job) {
    if !manual_selector(job) {
        let generated = generated_job_labels(job);
        let spec = job.spec.get_or_insert_with(Default::default);
        let labels = spec
            .template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(BTreeMap::new);
        for (key, value) in &generated {
            labels.entry(key.clone()).or_insert_with(|| value.clone());
        }
        let selector = spec.selector.get_or_insert_with(Default::default);
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .entry(JOB_SELECTOR_LABEL.to_string())
            .or_insert_with(|| generated[JOB_SELECTOR_LABEL].clone());
    }
    let template_labels = job
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .filter(|l| !l.is_empty());
    if job.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
        job.metadata.labels = template_labels;
    }
}
