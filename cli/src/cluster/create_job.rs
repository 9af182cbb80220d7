//! `create job NAME --from=cronjob/CJ`: a Job from a CronJob's template, run now, as
//! kubectl makes it (the template's labels and annotations, `cronjob.kubernetes.io/
//! instantiate: manual`, the CronJob as its controller).

use anyhow::bail;
use serde_json::{json, Value};

use super::create::Built;
use super::Api;
use crate::args::CreateOpts;

pub async fn from_cron_job(
    api: &mut Api,
    name: String,
    from: &str,
    opts: CreateOpts,
) -> anyhow::Result<Built> {
    let cron_job = cron_job_name(from)?;
    let cj = super::get(api, "CronJob", &opts.namespace, cron_job).await?;
    let object = job_from(&name, &opts.namespace, &cj);
    Ok(Built { name, opts, object })
}

/// `cronjob/NAME` (or `cj/`, `cronjobs/`, `cronjob.batch/`): NAME.
fn cron_job_name(from: &str) -> anyhow::Result<&str> {
    match from.split_once('/') {
        Some(("cronjob" | "cronjobs" | "cj" | "cronjob.batch" | "cronjobs.batch", name))
            if !name.is_empty() =>
        {
            Ok(name)
        }
        _ => bail!("from must be an existing cronjob: --from=cronjob/NAME, not {from:?}"),
    }
}

fn job_from(name: &str, namespace: &str, cj: &Value) -> Value {
    let template = &cj["spec"]["jobTemplate"];
    let mut annotations = template["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    annotations.insert("cronjob.kubernetes.io/instantiate".into(), json!("manual"));
    let mut metadata = json!({
        "name": name,
        "namespace": namespace,
        "annotations": annotations,
        "ownerReferences": [{
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": cj["metadata"]["name"],
            "uid": cj["metadata"]["uid"],
            "controller": true,
            "blockOwnerDeletion": true,
        }],
    });
    if let Some(labels) = template["metadata"]["labels"].as_object() {
        metadata["labels"] = json!(labels);
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": template["spec"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_job_copies_the_template_and_names_its_cron_job() {
        let cj = json!({
            "metadata": {"name": "hello", "uid": "u-1"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {
                "metadata": {"labels": {"app": "hello"}},
                "spec": {"template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox"}]}}},
            }},
        });
        let job = job_from("manual-1", "default", &cj);
        assert_eq!(job["kind"], "Job");
        assert_eq!(job["metadata"]["labels"]["app"], "hello");
        assert_eq!(
            job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
            "manual"
        );
        assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], "u-1");
        assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
        assert_eq!(cron_job_name("cj/hello").unwrap(), "hello");
        assert!(cron_job_name("deployment/hello").is_err());
    }
}
