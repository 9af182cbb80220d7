//! Jobs through apply: the selector the API server generates (and refuses to let a user
//! pick without `manualSelector`), and a spec that is fixed once created.

use super::*;

fn job(spec: &str, labels: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: work}}\nspec:\n{spec}  template:\n    metadata: {{labels: {labels}}}\n    spec:\n      restartPolicy: Never\n      containers: [{{name: main, image: busybox}}]\n"
    )
}

async fn stored_job(store: &dyn Store) -> Value {
    let stored = store
        .get(&crate::store::Key::new("Job", "default", "work"))
        .await
        .unwrap()
        .expect("the job exists");
    serde_json::from_slice(&stored.json).unwrap()
}

#[tokio::test]
async fn a_new_job_gets_a_selector_on_its_uid_and_labels_for_it() {
    let store = store().await;
    assert_eq!(
        apply_ok(store.as_ref(), &job("", "{app: x}")).await,
        [Action::Created]
    );
    let job = stored_job(store.as_ref()).await;
    let uid = job["metadata"]["uid"].as_str().unwrap();
    assert_eq!(
        job["spec"]["selector"],
        serde_json::json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    );
    let labels = &job["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["controller-uid"], uid);
    assert_eq!(labels["batch.kubernetes.io/job-name"], "work");
    assert_eq!(labels["app"], "x");
    assert_eq!(job["metadata"]["labels"]["app"], "x");
    assert_eq!(job["spec"]["manualSelector"], false);
    // The same manifest again changes nothing.
    assert_eq!(
        apply_ok(store.as_ref(), &job_manifest()).await,
        [Action::Unchanged]
    );
}

fn job_manifest() -> String {
    job("", "{app: x}")
}

#[tokio::test]
async fn a_selector_not_matching_the_template_is_refused_with_its_field() {
    let store = store().await;
    let manual = "  manualSelector: true\n  selector: {matchLabels: {app: x}}\n";
    let err = apply_err(store.as_ref(), &job(manual, "{app: y}")).await;
    assert_eq!(
        err.to_string(),
        r#"test.yaml: Job "work" is invalid: spec.template.metadata.labels: Invalid value: {"app":"y"}: `selector` does not match template `labels`"#
    );
    let err = apply_err(
        store.as_ref(),
        &job("  selector: {matchLabels: {app: x}}\n", "{app: x}"),
    )
    .await
    .to_string();
    assert!(
        err.contains("spec.selector: Invalid value: ")
            && err.contains("`selector` not auto-generated"),
        "{err}"
    );
    assert!(store.list("Job", None).await.unwrap().0.is_empty());

    // With manualSelector the user's selector is kept as is, and no uid labels added.
    apply_ok(store.as_ref(), &job(manual, "{app: x}")).await;
    let job = stored_job(store.as_ref()).await;
    assert_eq!(
        job["spec"]["selector"],
        serde_json::json!({"matchLabels": {"app": "x"}})
    );
    assert_eq!(
        job["spec"]["template"]["metadata"]["labels"],
        serde_json::json!({"app": "x"})
    );
}

#[tokio::test]
async fn a_created_jobs_template_and_completions_are_immutable() {
    let store = store().await;
    apply_ok(store.as_ref(), &job_manifest()).await;
    let err = apply_err(
        store.as_ref(),
        &job_manifest().replace("image: busybox", "image: nginx"),
    )
    .await
    .to_string();
    assert!(
        err.starts_with(r#"Job "work" is invalid: spec.template: Invalid value: "#)
            && err.contains("field is immutable"),
        "{err}"
    );
    let err = apply_err(store.as_ref(), &job("  completions: 4\n", "{app: x}"))
        .await
        .to_string();
    assert!(
        err.contains("spec.completions: Invalid value: 4: field is immutable"),
        "{err}"
    );
    // Parallelism may change.
    assert_eq!(
        apply_ok(store.as_ref(), &job("  parallelism: 3\n", "{app: x}")).await,
        [Action::Configured]
    );
}
