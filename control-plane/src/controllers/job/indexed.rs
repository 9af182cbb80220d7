//! `completionMode: Indexed`: one pod per completion index, and the index sets in the
//! compressed form Kubernetes writes to `status.completedIndexes` ("0-2,4").

use std::collections::BTreeSet;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodTemplateSpec};

use super::per_index::FAILURE_COUNT;

/// The annotation (and label) that gives a pod its index.
pub const INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// The variable every container of an indexed pod gets, from the annotation.
const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// Kubernetes' longest generateName prefix (a name is at most 63 with 5 random).
const MAX_PREFIX: usize = 58;

pub fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

/// The pod's completion index, if it has a valid one.
pub fn index_of(pod: &Pod) -> Option<i32> {
    let annotations = pod.metadata.annotations.as_ref()?;
    let index: i32 = annotations.get(INDEX_ANNOTATION)?.parse().ok()?;
    (index >= 0).then_some(index)
}

/// The Job's template for the pod of `index`: annotated and labelled with it, its
/// hostname `<job>-<index>`, and `JOB_COMPLETION_INDEX` in every container (init ones
/// too) that does not set it itself. With backoffLimitPerIndex, `failures` (the index's
/// so far) goes in the annotation Kubernetes keeps it in.
pub fn template_for(job: &Job, index: i32, failures: Option<i32>) -> PodTemplateSpec {
    let mut template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let meta = template.metadata.get_or_insert_with(Default::default);
    for map in [&mut meta.annotations, &mut meta.labels] {
        map.get_or_insert_with(Default::default)
            .insert(INDEX_ANNOTATION.into(), index.to_string());
    }
    if let Some(failures) = failures {
        meta.annotations
            .get_or_insert_with(Default::default)
            .insert(FAILURE_COUNT.into(), failures.to_string());
    }
    let spec = template.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(format!("{name}-{index}"));
    let containers = spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten());
    for container in containers {
        let env = container.env.get_or_insert_with(Vec::new);
        if env.iter().any(|e| e.name == INDEX_ENV) {
            continue;
        }
        env.push(EnvVar {
            name: INDEX_ENV.into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: Some("v1".into()),
                    field_path: format!("metadata.annotations['{INDEX_ANNOTATION}']"),
                }),
                ..Default::default()
            }),
        });
    }
    template
}

/// `<job>-<index>-`, the job name cut short so the whole name fits.
pub fn name_prefix(job: &Job, index: i32) -> String {
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let suffix = format!("-{index}-");
    let keep = MAX_PREFIX.saturating_sub(suffix.len()).min(name.len());
    format!("{}{suffix}", &name[..keep])
}

/// "1,3-5" → {1, 3, 4, 5}; what does not parse is skipped.
pub fn parse(text: &str) -> BTreeSet<i32> {
    let mut set = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let range = match part.split_once('-') {
            Some((from, to)) => from.parse().ok().zip(to.parse().ok()),
            None => part.parse::<i32>().ok().map(|i| (i, i)),
        };
        if let Some((from, to)) = range {
            set.extend(from..=to);
        }
    }
    set
}

/// {0, 1, 2, 4, 6, 7} → "0-2,4,6,7": runs of three or more as ranges, as Kubernetes
/// writes them.
pub fn format(set: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(i32, i32)> = None;
    for &i in set {
        run = match run {
            Some((from, to)) if i == to + 1 => Some((from, i)),
            Some(done) => {
                parts.push(range(done));
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    parts.extend(run.map(range));
    parts.join(",")
}

fn range((from, to): (i32, i32)) -> String {
    match to - from {
        0 => from.to_string(),
        1 => format!("{from},{to}"),
        _ => format!("{from}-{to}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_sets_round_trip_in_the_compressed_form() {
        for (text, set) in [
            ("", vec![]),
            ("0", vec![0]),
            ("0-2,4", vec![0, 1, 2, 4]),
            ("1,2,5-7,9", vec![1, 2, 5, 6, 7, 9]),
        ] {
            let set: BTreeSet<i32> = set.into_iter().collect();
            assert_eq!(parse(text), set, "{text}");
            assert_eq!(format(&set), text);
        }
    }

    #[test]
    fn long_job_names_are_cut_to_fit_the_index() {
        let mut job = Job::default();
        job.metadata.name = Some("a".repeat(70));
        let prefix = name_prefix(&job, 12);
        assert_eq!(prefix.len(), MAX_PREFIX);
        assert!(prefix.ends_with("a-12-"));
    }
}
