//! Tests for defaulting: pods, templates, workloads, services and static pod uids.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;
use crate::model::{decode_documents, validate_object};

fn defaulted(yaml: &str) -> Object {
    let mut object = decode_documents("test.yaml", yaml).unwrap().remove(0);
    default_object(&mut object);
    object
}

fn defaulted_pod(yaml: &str) -> Pod {
    match defaulted(yaml) {
        Object::Pod(pod) => pod,
        other => panic!("not a pod: {}", other.kind()),
    }
}

#[test]
fn pod_level_defaults() {
    let pod = defaulted_pod(include_str!("../testdata/nginx-pod.yaml"));
    assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
    let spec = pod.spec.unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(spec.termination_grace_period_seconds, Some(30));
    assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
    let container = &spec.containers[0];
    assert_eq!(container.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(
        container.termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );
    assert_eq!(
        container.termination_message_policy.as_deref(),
        Some("File")
    );
    assert_eq!(
        container.ports.as_ref().unwrap()[0].protocol.as_deref(),
        Some("TCP")
    );
}

#[test]
fn set_fields_are_kept() {
    let pod = defaulted_pod(include_str!("../testdata/game-volume.yaml"));
    assert_eq!(
        pod.spec.unwrap().restart_policy.as_deref(),
        Some("OnFailure")
    );
    let pod = defaulted_pod("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: team-a}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - {name: c, image: nginx, imagePullPolicy: Never}\n");
    assert_eq!(pod.metadata.namespace.as_deref(), Some("team-a"));
    let spec = pod.spec.unwrap();
    assert_eq!(spec.termination_grace_period_seconds, Some(0));
    assert_eq!(
        spec.containers[0].image_pull_policy.as_deref(),
        Some("Never")
    );
}

#[test]
fn image_pull_policy_follows_the_tag() {
    for (image, policy) in [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("k8s.gcr.io/busybox", "Always"),
        ("localhost:5000/app", "Always"),
        ("nginx:1.11", "IfNotPresent"),
        ("alicek106/rr-test:echo-hostname", "IfNotPresent"),
        ("localhost:5000/app:v2", "IfNotPresent"),
        ("nginx@sha256:0123abcd", "IfNotPresent"),
        ("nginx:latest@sha256:0123abcd", "IfNotPresent"),
    ] {
        assert_eq!(default_image_pull_policy(image), policy, "{image}");
    }
}

#[test]
fn init_containers_probes_and_resources_are_defaulted() {
    let pod = defaulted_pod("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  initContainers:\n  - {name: init, image: busybox:1.36}\n  containers:\n  - name: c\n    image: nginx\n    livenessProbe: {httpGet: {port: 80}, periodSeconds: 5}\n    readinessProbe: {tcpSocket: {port: 80}}\n    resources: {limits: {cpu: 500m}, requests: {memory: 64Mi}}\n");
    let spec = pod.spec.unwrap();
    let init = &spec.init_containers.as_ref().unwrap()[0];
    assert_eq!(init.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(init.termination_message_policy.as_deref(), Some("File"));
    let container = &spec.containers[0];
    let liveness = container.liveness_probe.as_ref().unwrap();
    assert_eq!(
        (
            liveness.timeout_seconds,
            liveness.period_seconds,
            liveness.success_threshold,
            liveness.failure_threshold
        ),
        (Some(1), Some(5), Some(1), Some(3))
    );
    let http = liveness.http_get.as_ref().unwrap();
    assert_eq!(
        (http.path.as_deref(), http.scheme.as_deref()),
        (Some("/"), Some("HTTP"))
    );
    assert_eq!(
        container.readiness_probe.as_ref().unwrap().period_seconds,
        Some(10)
    );
    let requests = container
        .resources
        .as_ref()
        .unwrap()
        .requests
        .as_ref()
        .unwrap();
    assert_eq!(requests["cpu"].0, "500m");
    assert_eq!(requests["memory"].0, "64Mi");
}

#[test]
fn volumes_are_defaulted() {
    let pod = defaulted_pod("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - {name: scratch}\n  - {name: cfg, configMap: {name: game-config}}\n  containers:\n  - {name: c, image: i}\n");
    let volumes = pod.spec.unwrap().volumes.unwrap();
    assert!(volumes[0].empty_dir.is_some());
    assert_eq!(
        volumes[1].config_map.as_ref().unwrap().default_mode,
        Some(0o644)
    );
    assert!(volumes[1].empty_dir.is_none());
}

#[test]
fn deployment_defaults_and_template() {
    let Object::Deployment(deployment) =
        defaulted(include_str!("../testdata/deployment-nginx.yaml"))
    else {
        panic!("not a deployment")
    };
    assert_eq!(deployment.metadata.namespace.as_deref(), Some("default"));
    let spec = deployment.spec.unwrap();
    assert_eq!(
        (
            spec.replicas,
            spec.revision_history_limit,
            spec.progress_deadline_seconds
        ),
        (Some(3), Some(10), Some(600))
    );
    let strategy = spec.strategy.unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let rolling = strategy.rolling_update.unwrap();
    assert_eq!(rolling.max_surge, Some(IntOrString::String("25%".into())));
    assert_eq!(
        rolling.max_unavailable,
        Some(IntOrString::String("25%".into()))
    );
    let pod_spec = spec.template.spec.unwrap();
    assert_eq!(pod_spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(
        pod_spec.containers[0].image_pull_policy.as_deref(),
        Some("Always")
    );
}

#[test]
fn replica_set_template_is_defaulted() {
    let Object::ReplicaSet(rs) = defaulted(include_str!("../testdata/replicaset-nginx.yaml"))
    else {
        panic!("not a replicaset")
    };
    let spec = rs.spec.unwrap();
    assert_eq!(spec.replicas, Some(3));
    let pod_spec = spec.template.unwrap().spec.unwrap();
    assert_eq!(pod_spec.termination_grace_period_seconds, Some(30));
    assert_eq!(
        pod_spec.containers[0].ports.as_ref().unwrap()[0]
            .protocol
            .as_deref(),
        Some("TCP")
    );
}

#[test]
fn service_defaults() {
    let Object::Service(svc) = defaulted(include_str!("../testdata/hostname-svc-nodeport.yaml"))
    else {
        panic!("not a service")
    };
    let spec = svc.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    assert_eq!(spec.external_traffic_policy.as_deref(), Some("Cluster"));
    let port = &spec.ports.unwrap()[0];
    assert_eq!(
        (port.protocol.as_deref(), port.target_port.clone()),
        (Some("TCP"), Some(IntOrString::Int(80)))
    );
    let Object::Service(svc) = defaulted(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 8080}]\n",
    ) else {
        panic!("not a service")
    };
    let spec = svc.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(
        spec.ports.unwrap()[0].target_port,
        Some(IntOrString::Int(8080))
    );
}

#[test]
fn cluster_scoped_kinds_get_no_namespace() {
    let ns = defaulted("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n");
    assert_eq!(ns.namespace(), "");
    let cm = defaulted("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
    assert_eq!(cm.namespace(), "default");
}

#[test]
fn job_templates_without_restart_policy_fail_validation_as_in_kubernetes() {
    let job = defaulted("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: i}]\n");
    let error = validate_object(&job).unwrap_err().to_string();
    assert!(
        error.contains(r#"spec.template.spec.restartPolicy: Unsupported value: "Always""#),
        "{error}"
    );
    let Object::Job(job) = job else {
        unreachable!()
    };
    let spec = job.spec.unwrap();
    assert_eq!(
        (spec.completions, spec.parallelism, spec.backoff_limit),
        (Some(1), Some(1), Some(6))
    );
}

#[test]
fn defaulted_manifests_stay_valid_and_decodable() {
    for text in [
        include_str!("../testdata/nginx-pod.yaml"),
        include_str!("../testdata/deployment-nginx.yaml"),
        include_str!("../testdata/hostname-svc-clusterip.yaml"),
        include_str!("../testdata/externalname-svc.yaml"),
        include_str!("../testdata/game-volume.yaml"),
    ] {
        let object = defaulted(text);
        validate_object(&object).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Object::from_json(&object.to_json()).unwrap(), object);
    }
}

#[test]
fn static_pod_uids_are_stable_uuids() {
    let uid = static_pod_uid("/etc/skiff/manifests/web.yaml", b"{\"kind\":\"Pod\"}");
    assert_eq!(
        uid,
        static_pod_uid("/etc/skiff/manifests/web.yaml", b"{\"kind\":\"Pod\"}")
    );
    assert_ne!(
        uid,
        static_pod_uid(
            "/etc/skiff/manifests/web.yaml",
            b"{\"kind\":\"Pod\",\"x\":1}"
        )
    );
    assert_ne!(
        uid,
        static_pod_uid("/etc/skiff/manifests/api.yaml", b"{\"kind\":\"Pod\"}")
    );
    let groups: Vec<usize> = uid.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{uid}");
    assert_eq!(&uid[14..15], "8", "a version-8 UUID: {uid}");
    assert!(matches!(&uid[19..20], "8" | "9" | "a" | "b"), "{uid}");
    assert!(
        uid.chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "{uid}"
    );
    assert_eq!(&uid[14..15], "8", "version nibble: {uid}");
}

#[test]
fn empty_resources_are_no_resources() {
    let mut pod: Object = Object::from_json(
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","resources":{}}]}}"#,
    )
    .unwrap();
    default_object(&mut pod);
    let value = pod.to_json_value();
    assert!(
        value["spec"]["containers"][0].get("resources").is_none(),
        "{value}"
    );
}
