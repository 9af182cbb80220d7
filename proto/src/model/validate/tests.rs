//! Tests for pod, container, workload and service validation, written as manifests so
//! they read like what users send.

use super::*;
use crate::model::decode_documents;

/// Decodes one YAML manifest (which must be strict-clean) for validation.
fn object(yaml: &str) -> Object {
    decode_documents("test.yaml", yaml).unwrap().remove(0)
}

/// A pod manifest with `spec` (indented by 2) spliced in.
fn pod(spec: &str) -> Object {
    object(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n{spec}"
    ))
}

/// All error lines for an object, or an empty list.
fn errors(object: &Object) -> Vec<String> {
    match validate_object(object) {
        Ok(()) => Vec::new(),
        Err(error) => error.errors.iter().map(ToString::to_string).collect(),
    }
}

fn assert_error(object: &Object, expected: &str) {
    let errors = errors(object);
    assert!(
        errors.iter().any(|e| e.starts_with(expected)),
        "expected {expected:?} in {errors:#?}"
    );
}

#[test]
fn the_users_manifests_are_valid() {
    for (name, text) in [
        ("nginx-pod", include_str!("../testdata/nginx-pod.yaml")),
        (
            "replicaset",
            include_str!("../testdata/replicaset-nginx.yaml"),
        ),
        (
            "deployment",
            include_str!("../testdata/deployment-nginx.yaml"),
        ),
        (
            "hostname-deployment",
            include_str!("../testdata/hostname-deployment.yaml"),
        ),
        (
            "clusterip",
            include_str!("../testdata/hostname-svc-clusterip.yaml"),
        ),
        (
            "nodeport",
            include_str!("../testdata/hostname-svc-nodeport.yaml"),
        ),
        (
            "externalname",
            include_str!("../testdata/externalname-svc.yaml"),
        ),
        ("game-volume", include_str!("../testdata/game-volume.yaml")),
        (
            "node-selector",
            include_str!("../testdata/node-selector.yaml"),
        ),
    ] {
        assert_eq!(errors(&object(text)), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn pod_names_and_namespaces() {
    let bad = object("apiVersion: v1\nkind: Pod\nmetadata:\n  name: My_Pod\n  namespace: Team.A\nspec:\n  containers:\n  - {name: a, image: i}\n");
    assert_error(
        &bad,
        r#"metadata.name: Invalid value: "My_Pod": a lowercase RFC 1123 subdomain must consist of"#,
    );
    assert_error(
        &bad,
        r#"metadata.namespace: Invalid value: "Team.A": a lowercase RFC 1123 label"#,
    );
    let unnamed = object(
        "apiVersion: v1\nkind: Pod\nmetadata: {}\nspec:\n  containers:\n  - {name: a, image: i}\n",
    );
    assert_eq!(
        errors(&unnamed),
        ["metadata.name: Required value: name or generateName is required"]
    );
    let generated = object("apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-}\nspec:\n  containers:\n  - {name: a, image: i}\n");
    assert!(errors(&generated).is_empty());
}

#[test]
fn validation_error_displays_all_errors() {
    let Object::Pod(bad) = pod("  containers:\n  - name: Bad_Name\n") else {
        unreachable!()
    };
    let error = validate_pod(&bad).unwrap_err();
    assert_eq!(error.errors.len(), 2);
    let text = error.to_string();
    assert!(
        text.starts_with(r#"[spec.containers[0].name: Invalid value: "Bad_Name": "#),
        "{text}"
    );
    assert!(
        text.ends_with(", spec.containers[0].image: Required value]"),
        "{text}"
    );
}

#[test]
fn labels_and_annotations_are_checked() {
    let bad = object("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {\"-app\": web, tier: \"front end\"}\n  annotations: {\"a/b/c\": x}\nspec:\n  containers:\n  - {name: a, image: i}\n");
    assert_error(
        &bad,
        r#"metadata.labels: Invalid value: "-app": name part must consist"#,
    );
    assert_error(
        &bad,
        r#"metadata.labels: Invalid value: "front end": a valid label must"#,
    );
    assert_error(
        &bad,
        r#"metadata.annotations: Invalid value: "a/b/c": a qualified name"#,
    );
}

#[test]
fn containers_are_required_and_named_uniquely() {
    assert_eq!(
        errors(&pod("  containers: []\n")),
        ["spec.containers: Required value"]
    );
    let dup = pod("  initContainers:\n  - {name: app, image: busybox}\n  containers:\n  - {name: app, image: nginx}\n  - {name: side, image: nginx}\n  - {name: side, image: nginx}\n");
    assert_error(&dup, r#"spec.containers[0].name: Duplicate value: "app""#);
    assert_error(&dup, r#"spec.containers[2].name: Duplicate value: "side""#);
    assert_error(
        &pod("  containers:\n  - {name: app, image: \" \"}\n"),
        "spec.containers[0].image: Required value",
    );
    assert_error(
        &pod("  containers:\n  - {image: nginx}\n"),
        "spec.containers[0].name: Required value",
    );
}

#[test]
fn ports_are_checked() {
    let bad = pod("  containers:\n  - name: app\n    image: nginx\n    ports:\n    - {containerPort: 0}\n    - {containerPort: 80, name: http, protocol: ICMP}\n    - {containerPort: 81, name: http, hostPort: 70000}\n    - {containerPort: 82, name: Web--}\n");
    assert_error(&bad, "spec.containers[0].ports[0].containerPort: Invalid value: 0: must be between 1 and 65535, inclusive");
    assert_error(
        &bad,
        r#"spec.containers[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP""#,
    );
    assert_error(
        &bad,
        r#"spec.containers[0].ports[2].name: Duplicate value: "http""#,
    );
    assert_error(
        &bad,
        "spec.containers[0].ports[2].hostPort: Invalid value: 70000",
    );
    assert_error(
        &bad,
        r#"spec.containers[0].ports[3].name: Invalid value: "Web--": must not contain consecutive hyphens"#,
    );
    // The same port name in two containers is fine: uniqueness is per container.
    let ok = pod("  containers:\n  - {name: a, image: i, ports: [{containerPort: 80, name: http}]}\n  - {name: b, image: i, ports: [{containerPort: 81, name: http}]}\n");
    assert!(errors(&ok).is_empty(), "{:?}", errors(&ok));
}

#[test]
fn policies_are_checked() {
    let bad = pod("  restartPolicy: Sometimes\n  dnsPolicy: Google\n  containers:\n  - {name: a, image: i, imagePullPolicy: Maybe}\n");
    assert_error(
        &bad,
        r#"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
    );
    assert_error(
        &bad,
        r#"spec.containers[0].imagePullPolicy: Unsupported value: "Maybe": supported values: "Always", "IfNotPresent", "Never""#,
    );
    assert_error(&bad, r#"spec.dnsPolicy: Unsupported value: "Google""#);
}

#[test]
fn container_restart_policy_only_makes_init_sidecars() {
    let app = pod("  containers:\n  - {name: a, image: i, restartPolicy: Always}\n");
    assert_eq!(
        errors(&app),
        ["spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"]
    );
    let init = pod("  initContainers:\n  - {name: s, image: i, restartPolicy: Never}\n  containers:\n  - {name: a, image: i}\n");
    assert_error(
        &init,
        r#"spec.initContainers[0].restartPolicy: Unsupported value: "Never": supported values: "Always""#,
    );
    let sidecar = pod("  initContainers:\n  - name: s\n    image: i\n    restartPolicy: Always\n    readinessProbe: {exec: {command: [\"true\"]}}\n  containers:\n  - {name: a, image: i}\n");
    assert!(errors(&sidecar).is_empty(), "{:?}", errors(&sidecar));
    let plain_init = pod("  initContainers:\n  - name: s\n    image: i\n    livenessProbe: {exec: {command: [\"true\"]}}\n  containers:\n  - {name: a, image: i}\n");
    assert_error(
        &plain_init,
        "spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers",
    );
}

#[test]
fn volumes_and_mounts() {
    let bad = pod("  volumes:\n  - {name: data, emptyDir: {}}\n  - {name: data, emptyDir: {}}\n  - {name: both, emptyDir: {}, hostPath: {path: /tmp}}\n  containers:\n  - name: a\n    image: i\n    volumeMounts:\n    - {name: data, mountPath: /data}\n    - {name: missing, mountPath: /data}\n");
    assert_error(&bad, r#"spec.volumes[1].name: Duplicate value: "data""#);
    assert_error(
        &bad,
        "spec.volumes[2]: Forbidden: may not specify more than 1 volume type",
    );
    assert_error(
        &bad,
        r#"spec.containers[0].volumeMounts[1].name: Not found: "missing""#,
    );
    assert_error(
        &bad,
        r#"spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique"#,
    );
}

#[test]
fn probes_need_one_handler_and_sane_numbers() {
    let spec = "  containers:\n  - name: a\n    image: i\n    ports: [{containerPort: 80, name: http}]\n    livenessProbe: {successThreshold: 2, periodSeconds: 0, httpGet: {port: http}}\n    readinessProbe: {successThreshold: 2, tcpSocket: {port: 80}, exec: {command: [x]}}\n    startupProbe: {failureThreshold: 0}\n";
    let bad = pod(spec);
    assert_error(
        &bad,
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
    );
    assert_error(&bad, "spec.containers[0].livenessProbe.periodSeconds: Invalid value: 0: must be greater than or equal to 1");
    assert_error(
        &bad,
        "spec.containers[0].readinessProbe: Forbidden: may not specify more than 1 handler type",
    );
    assert_error(
        &bad,
        "spec.containers[0].startupProbe: Required value: must specify a handler type",
    );
    assert_error(
        &bad,
        "spec.containers[0].startupProbe.failureThreshold: Invalid value: 0",
    );
    // readiness may need several successes.
    assert!(!errors(&bad)
        .iter()
        .any(|e| e.contains("readinessProbe.successThreshold")));
    let bad_port =
        pod("  containers:\n  - {name: a, image: i, livenessProbe: {tcpSocket: {port: 0}}}\n");
    assert_error(
        &bad_port,
        "spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: 0",
    );
}

#[test]
fn resource_requests_may_not_exceed_limits() {
    let bad = pod("  containers:\n  - name: a\n    image: i\n    resources:\n      limits: {cpu: 500m, memory: 128Mi}\n      requests: {cpu: \"1\", memory: 64Mi}\n");
    assert_eq!(
        errors(&bad),
        [
            r#"spec.containers[0].resources.requests[cpu]: Invalid value: "1": must be less than or equal to cpu limit of 500m"#
        ]
    );
    let ok = pod("  containers:\n  - name: a\n    image: i\n    resources:\n      limits: {cpu: 1, memory: 1Gi}\n      requests: {cpu: 1000m, memory: 1e9}\n");
    assert!(errors(&ok).is_empty(), "{:?}", errors(&ok));
    let malformed = pod("  containers:\n  - name: a\n    image: i\n    resources:\n      limits: {memory: 12XB, cpu: \"-1\"}\n");
    assert_error(
        &malformed,
        r#"spec.containers[0].resources.limits[memory]: Invalid value: "12XB": quantities must match"#,
    );
    assert_error(
        &malformed,
        r#"spec.containers[0].resources.limits[cpu]: Invalid value: "-1": must be greater than or equal to 0"#,
    );
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: LABEL}}\n    spec:\n      containers: [{name: c, image: i}]\n";

#[test]
fn workload_selectors_must_match_template_labels() {
    assert!(errors(&object(DEPLOYMENT.replace("LABEL", "web").as_str())).is_empty());
    let mismatch = object(DEPLOYMENT.replace("LABEL", "db").as_str());
    assert_eq!(
        errors(&mismatch),
        [
            r#"spec.template.metadata.labels: Invalid value: {"app":"db"}: `selector` does not match template `labels`"#
        ]
    );
    let rs = DEPLOYMENT
        .replace("kind: Deployment", "kind: ReplicaSet")
        .replace("LABEL", "db");
    assert_error(&object(&rs), "spec.template.metadata.labels: Invalid value");
    let empty = DEPLOYMENT
        .replace("selector: {matchLabels: {app: web}}", "selector: {}")
        .replace("LABEL", "web");
    assert_error(
        &object(&empty),
        "spec.selector: Invalid value: {}: empty selector is invalid for deployment",
    );
    let expressions = DEPLOYMENT
        .replace(
            "{matchLabels: {app: web}}",
            "{matchExpressions: [{key: app, operator: In, values: [web, api]}]}",
        )
        .replace("LABEL", "api");
    assert!(errors(&object(&expressions)).is_empty());
}

#[test]
fn workload_templates_are_validated_like_pods() {
    let bad = DEPLOYMENT.replace("LABEL", "web").replace(
        "name: c, image: i",
        "name: C, image: i, restartPolicy: Always",
    );
    assert_error(
        &object(&bad),
        r#"spec.template.spec.containers[0].name: Invalid value: "C""#,
    );
    assert_error(
        &object(&bad),
        "spec.template.spec.containers[0].restartPolicy: Forbidden",
    );
    let never = DEPLOYMENT
        .replace("LABEL", "web")
        .replace("    spec:\n", "    spec:\n      restartPolicy: Never\n");
    assert_error(
        &object(&never),
        r#"spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#,
    );
    let surge = DEPLOYMENT.replace("LABEL", "web").replace("spec:\n  selector", "spec:\n  strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0%}}\n  replicas: -1\n  selector");
    assert_error(&object(&surge), "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0");
    assert_error(
        &object(&surge),
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    );
}

#[test]
fn jobs_need_a_non_always_restart_policy() {
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      POLICY\n      containers: [{name: c, image: i}]\n";
    assert!(errors(&object(&job.replace("POLICY", "restartPolicy: Never"))).is_empty());
    assert_error(
        &object(&job.replace("POLICY", "restartPolicy: Always")),
        r#"spec.template.spec.restartPolicy: Unsupported value: "Always""#,
    );
    assert_error(
        &object(&job.replace("POLICY", "")),
        "spec.template.spec.restartPolicy: Required value",
    );
}

#[test]
fn services_are_checked() {
    let svc = |spec: &str| {
        object(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n{spec}"
        ))
    };
    assert_error(
        &svc("  type: Magic\n  ports: [{port: 80}]\n"),
        r#"spec.type: Unsupported value: "Magic""#,
    );
    assert_error(
        &svc("  selector: {app: web}\n"),
        "spec.ports: Required value",
    );
    assert_error(
        &svc("  ports: [{port: 80}, {port: 81}]\n"),
        "spec.ports[0].name: Required value",
    );
    assert_error(
        &svc("  ports: [{port: 80, nodePort: 30080}]\n"),
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
    );
    assert_error(
        &svc("  ports: [{port: 80, targetPort: http--x}]\n"),
        "spec.ports[0].targetPort: Invalid value",
    );
    assert_error(
        &svc("  type: ExternalName\n"),
        "spec.externalName: Required value",
    );
    let numeric = object(
        "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\nspec:\n  ports: [{port: 80}]\n",
    );
    assert_error(
        &numeric,
        r#"metadata.name: Invalid value: "1web": a DNS-1035 label"#,
    );
}

#[test]
fn other_kinds_get_metadata_and_key_checks() {
    let ns = object("apiVersion: v1\nkind: Namespace\nmetadata: {name: team.a, namespace: x}\n");
    assert_error(
        &ns,
        r#"metadata.name: Invalid value: "team.a": a lowercase RFC 1123 label"#,
    );
    assert_error(
        &ns,
        "metadata.namespace: Forbidden: not allowed on this type",
    );
    let cm = object("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: game-config}\ndata: {game.properties: x, \"bad/key\": y}\n");
    assert_eq!(errors(&cm).len(), 1);
    assert_error(
        &cm,
        r#"data[bad/key]: Invalid value: "bad/key": a valid config key"#,
    );
    let node = object(
        "apiVersion: v1\nkind: Node\nmetadata: {name: node-1.example, labels: {disktype: ssd}}\n",
    );
    assert!(errors(&node).is_empty());
}

#[test]
fn stateful_set_claim_templates_provide_volumes() {
    let sts = |mount: &str| {
        object(&format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: web\nspec:\n  serviceName: web\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: nginx\n        image: nginx\n        volumeMounts:\n        - {{name: {mount}, mountPath: /usr/share/nginx/html}}\n  volumeClaimTemplates:\n  - metadata:\n      name: www\n    spec:\n      accessModes: [ReadWriteOnce]\n      resources:\n        requests:\n          storage: 1Gi\n"
        ))
    };
    assert_eq!(errors(&sts("www")), Vec::<String>::new());
    assert_error(
        &sts("data"),
        "spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"data\"",
    );
}

#[test]
fn daemon_set_update_strategies_are_checked() {
    let ds = |strategy: &str| {
        object(&format!("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: d}}\nspec:\n  updateStrategy: {strategy}\n  selector: {{matchLabels: {{app: a}}}}\n  template:\n    metadata: {{labels: {{app: a}}}}\n    spec:\n      containers: [{{name: c, image: i}}]\n"))
    };
    assert!(errors(&ds("{type: OnDelete}")).is_empty());
    assert!(errors(&ds("{rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}")).is_empty());
    assert_error(
        &ds("{rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}"),
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0",
    );
    assert_error(
        &ds("{rollingUpdate: {maxUnavailable: ten}}"),
        r#"spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: "ten""#,
    );
    assert_error(
        &ds("{type: Recreate}"),
        r#"spec.updateStrategy.type: Unsupported value: "Recreate""#,
    );
}
