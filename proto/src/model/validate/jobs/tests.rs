//! Job validation: completion modes, podFailurePolicy, the generated selector and the
//! update rules, each with the API server's field path and words.

use serde_json::{json, Value};

use super::validate_job_update;
use crate::model::Object;
use crate::model::{decode_documents, default_object, generate_job_selector, validate_object};

/// A Job manifest with `spec` lines (indented by 2) before its template.
fn job(name: &str, spec: &str, policy: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n{spec}  template:\n    spec:\n      restartPolicy: {policy}\n      containers: [{{name: main, image: busybox}}]\n"
    )
}

/// Decoded, defaulted and (as at creation) given a uid and the generated selector.
fn created(yaml: &str) -> Object {
    let mut object = decode_documents("test.yaml", yaml).unwrap().remove(0);
    default_object(&mut object);
    if let Object::Job(job) = &mut object {
        job.metadata.uid = Some("uid-1".into());
        generate_job_selector(job);
    }
    object
}

fn errors(object: &Object) -> Vec<String> {
    match validate_object(object) {
        Ok(()) => Vec::new(),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

fn assert_refused(yaml: &str, expected: &str) {
    let errors = errors(&created(yaml));
    assert!(
        errors
            .iter()
            .any(|e| e == expected || e.starts_with(expected)),
        "expected {expected:?} in {errors:#?}"
    );
}

#[test]
fn a_generated_selector_passes_and_a_users_needs_manual_selector() {
    assert_eq!(
        errors(&created(&job("j", "", "Never"))),
        Vec::<String>::new()
    );
    let mine = "  selector: {matchLabels: {app: x}}\n";
    let labelled = job("j", mine, "Never").replace(
        "  template:\n",
        "  template:\n    metadata: {labels: {app: x}}\n",
    );
    assert_refused(
        &labelled,
        r#"spec.selector: Invalid value: {"matchLabels":{"app":"x","batch.kubernetes.io/controller-uid":"uid-1"}}: `selector` not auto-generated"#,
    );
    let manual = labelled.replace(
        "spec:\n  selector",
        "spec:\n  manualSelector: true\n  selector",
    );
    let object = created(&manual);
    assert_eq!(errors(&object), Vec::<String>::new());
    let Object::Job(kept) = object else { panic!() };
    let spec = kept.spec.unwrap();
    assert_eq!(json!(spec.selector), json!({"matchLabels": {"app": "x"}}));
    assert_eq!(
        json!(spec.template.metadata.unwrap().labels),
        json!({"app": "x"}),
        "no generated labels on a manual selector's template"
    );
}

#[test]
fn a_selector_that_misses_the_template_is_refused() {
    let manual = job(
        "j",
        "  manualSelector: true\n  selector: {matchLabels: {app: x}}\n",
        "Never",
    )
    .replace(
        "  template:\n",
        "  template:\n    metadata: {labels: {app: y}}\n",
    );
    assert_refused(
        &manual,
        r#"spec.template.metadata.labels: Invalid value: {"app":"y"}: `selector` does not match template `labels`"#,
    );
    assert_refused(
        &job("j", "  manualSelector: true\n", "Never"),
        "spec.selector: Required value",
    );
}

#[test]
fn completion_modes_are_checked() {
    assert_refused(
        &job("j", "  completionMode: Sometimes\n", "Never"),
        r#"spec.completionMode: Unsupported value: "Sometimes": supported values: "NonIndexed", "Indexed""#,
    );
    assert_refused(
        &job(
            "j",
            "  completionMode: Indexed\n  parallelism: 2\n",
            "Never",
        ),
        "spec.completions: Required value: when completion mode is Indexed",
    );
    let long = "a".repeat(62);
    assert_refused(
        &job(&long, "  completionMode: Indexed\n  completions: 10\n", "Never"),
        &format!(
            "metadata.name: Invalid value: \"{long}\": will not able to create pod with invalid DNS label: {long}-9"
        ),
    );
    assert_refused(
        &job("j", "  backoffLimitPerIndex: 1\n", "Never"),
        "spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode",
    );
    let indexed = job(
        "j",
        "  completionMode: Indexed\n  completions: 3\n",
        "Never",
    );
    assert_eq!(errors(&created(&indexed)), Vec::<String>::new());
}

fn policy(rules: &str, restart: &str) -> String {
    job(
        "j",
        &format!("  podFailurePolicy:\n    rules:\n{rules}"),
        restart,
    )
}

#[test]
fn pod_failure_policies_are_checked() {
    let fail_job = "    - action: FailJob\n      onExitCodes: {containerName: main, operator: In, values: [42]}\n";
    assert_eq!(
        errors(&created(&policy(fail_job, "Never"))),
        Vec::<String>::new()
    );
    assert_refused(
        &policy(fail_job, "OnFailure"),
        r#"spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified"#,
    );
    let rules = "    - action: Explode\n      onExitCodes: {operator: In, values: [0, 3, 2, 3]}\n    - action: Ignore\n      onExitCodes: {containerName: side, operator: Around, values: [1]}\n    - action: Count\n    - action: FailIndex\n      onPodConditions: [{type: DisruptionTarget}]\n";
    let errors = errors(&created(&policy(rules, "Never")));
    let r = "spec.podFailurePolicy.rules";
    for expected in [
        format!(
            r#"{r}[0].action: Unsupported value: "Explode": supported values: "Count", "FailIndex", "FailJob", "Ignore""#
        ),
        format!(
            "{r}[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator"
        ),
        format!("{r}[0].onExitCodes.values[3]: Duplicate value: 3"),
        format!("{r}[0].onExitCodes.values: Invalid value: [0,3,2,3]: must be ordered"),
        format!(
            r#"{r}[1].onExitCodes.operator: Unsupported value: "Around": supported values: "In", "NotIn""#
        ),
        format!(
            r#"{r}[1].onExitCodes.containerName: Invalid value: "side": must be one of the container or initContainer names in the pod template"#
        ),
        format!(
            "{r}[2]: Invalid value: specifying one of OnExitCodes and OnPodConditions is required"
        ),
        format!(
            r#"{r}[3].action: Invalid value: "FailIndex": requires the backoffLimitPerIndex to be set"#
        ),
    ] {
        assert!(
            errors.contains(&expected),
            "{expected:?} not in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), 8, "{errors:#?}");
}

#[test]
fn on_pod_conditions_default_to_true() {
    let rules = "    - action: Ignore\n      onPodConditions: [{type: DisruptionTarget}]\n";
    let Object::Job(job) = created(&policy(rules, "Never")) else {
        panic!()
    };
    let spec = job.spec.unwrap();
    let rule = &spec.pod_failure_policy.unwrap().rules[0];
    assert_eq!(rule.on_pod_conditions.as_ref().unwrap()[0].status, "True");
    assert_eq!(spec.pod_replacement_policy.as_deref(), Some("Failed"));
}

/// The stored form of a created Job (`status` spliced in), as the update rules see it.
fn stored(yaml: &str, status: Value) -> Value {
    let mut value = created(yaml).to_json_value();
    value["status"] = status;
    value
}

fn update_errors(old: &Value, change: impl Fn(&mut Value)) -> Vec<String> {
    let mut new = old.clone();
    change(&mut new);
    validate_job_update("Job", old, &new)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_jobs_spec_is_fixed_but_for_what_kubernetes_lets_change() {
    let started = stored(
        &job("j", "", "Never"),
        json!({"startTime": "2026-01-01T00:00:00Z"}),
    );
    assert!(update_errors(&started, |j| j["spec"]["parallelism"] = json!(3)).is_empty());
    assert!(update_errors(&started, |j| j["spec"]["suspend"] = json!(true)).is_empty());
    let errors = update_errors(&started, |j| {
        j["spec"]["selector"] = json!({"matchLabels": {"a": "b"}});
        j["spec"]["completions"] = json!(5);
        j["spec"]["template"]["spec"]["nodeSelector"] = json!({"disk": "ssd"});
    });
    let paths: Vec<&str> = errors
        .iter()
        .map(|e| e.split(':').next().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["spec.selector", "spec.template", "spec.completions"],
        "{errors:#?}"
    );
    assert!(errors[0].ends_with("field is immutable"), "{errors:#?}");

    // Suspended and never started: scheduling directives may change, nothing else.
    let waiting = stored(&job("j", "  suspend: true\n", "Never"), json!({}));
    let schedule = |j: &mut Value| {
        let spec = &mut j["spec"]["template"]["spec"];
        spec["nodeSelector"] = json!({"disk": "ssd"});
        spec["tolerations"] = json!([{"key": "k", "operator": "Exists"}]);
        j["spec"]["template"]["metadata"]["annotations"] = json!({"a": "b"});
    };
    assert!(update_errors(&waiting, schedule).is_empty());
    let errors = update_errors(&waiting, |j| {
        j["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx")
    });
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("spec.template: Invalid value: "),
        "{errors:?}"
    );
}

#[test]
fn an_indexed_jobs_completions_change_only_with_its_parallelism() {
    let indexed = "  completionMode: Indexed\n  completions: 3\n  parallelism: 3\n";
    let old = stored(&job("j", indexed, "Never"), json!({}));
    let both = |j: &mut Value| {
        j["spec"]["completions"] = json!(5);
        j["spec"]["parallelism"] = json!(5);
    };
    assert!(update_errors(&old, both).is_empty());
    assert_eq!(
        update_errors(&old, |j| j["spec"]["completions"] = json!(5)),
        ["spec.completions: Invalid value: 5: can only be modified in tandem with spec.parallelism"]
    );
    assert_eq!(
        update_errors(&old, |j| j["spec"]["completionMode"] = json!("NonIndexed")),
        [r#"spec.completionMode: Invalid value: "NonIndexed": field is immutable"#]
    );
}
