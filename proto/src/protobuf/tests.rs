use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::kinds::KINDS;
use crate::model::{decode_documents, default_object};

/// The manifests of the model's tests and the examples, defaulted as the server stores
/// them (probes, quantities, IntOrString surges, ...), plus objects of the other kinds.
fn corpus() -> Vec<Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/model/testdata");
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples");
    let mut out = vec![];
    for dir in [dir, examples] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for mut object in decode_documents(&path.display().to_string(), &text).unwrap() {
                out.push(serde_json::from_str(&object.to_json()).unwrap());
                default_object(&mut object);
                out.push(serde_json::from_str(&object.to_json()).unwrap());
            }
        }
    }
    out.extend(others());
    out
}

fn others() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default", "uid": "0b6f", "resourceVersion": "12", "creationTimestamp": "2026-01-02T03:04:05Z", "labels": {"a": "b"}}, "data": {"a": "b", "empty": ""}, "binaryData": {"bin": "AAEC/w=="}, "immutable": false}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "managedFields": [{"manager": "helm", "operation": "Update", "apiVersion": "v1", "time": "2026-01-02T03:04:05Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:release": {}}}}]}, "type": "helm.sh/release.v1", "data": {"release": "SDRzSUFBQUFBQUFD"}}),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}, "spec": {"schedule": "*/1 * * * *", "successfulJobsHistoryLimit": 0, "suspend": false, "jobTemplate": {"spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}}}}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"}, "spec": {"replicas": 0, "serviceName": "s", "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"automountServiceAccountToken": false, "securityContext": {"runAsUser": 0}, "containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}, "readinessProbe": {"httpGet": {"path": "/", "port": "http"}}, "livenessProbe": {"tcpSocket": {"port": 8080}}}]}}, "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}),
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "spec": {"podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"]}, "status": {"capacity": {"cpu": "2", "pods": "110"}, "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-02T03:04:05Z"}], "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}], "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "6", "osImage": "d", "containerRuntimeVersion": "c", "kubeletVersion": "v1.33.0", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}}}),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "n", "namespace": "kube-node-lease"}, "spec": {"holderIdentity": "n", "leaseDurationSeconds": 40, "renewTime": "2026-01-02T03:04:05.123456Z"}}),
        json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "message": "pods \"x\" not found", "reason": "NotFound", "details": {"name": "x", "kind": "pods"}, "code": 404}),
        json!({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground", "gracePeriodSeconds": 0, "preconditions": {"uid": "u"}}),
        json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "7", "continue": "x", "remainingItemCount": 3}, "items": [{"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}]}),
        json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "d"}, "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=web"}}),
        json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}]}),
    ]
}

#[test]
fn every_kind_served_has_a_message() {
    for info in KINDS {
        assert!(has_form(&info.api_version(), info.kind), "{}", info.kind);
        // Create-only kinds (the access reviews) have no List, as in Kubernetes.
        assert!(
            !info.has_verb("list") || has_form(&info.api_version(), &format!("{}List", info.kind)),
            "{}List",
            info.kind
        );
    }
    assert!(has_form("apps/v1", "Status"));
    assert!(
        !has_form("meta.k8s.io/v1", "Table"),
        "Tables are JSON only in Kubernetes"
    );
    assert!(!has_form("example.com/v1", "Widget"));
}

#[test]
fn json_to_protobuf_to_json_is_identity_for_the_corpus() {
    let corpus = corpus();
    assert!(corpus.len() > 20);
    for object in corpus {
        let bytes = encode(&object).unwrap_or_else(|e| panic!("{e}: {object}"));
        assert!(bytes.starts_with(MAGIC));
        let back = decode(&bytes).unwrap();
        let mut want = object.clone();
        // Items of a typed list carry no kind in protobuf (nor in kube-apiserver's JSON).
        if !matches!(want["kind"].as_str(), Some("List")) {
            if let Some(items) = want.get_mut("items").and_then(Value::as_array_mut) {
                for item in items {
                    item.as_object_mut().unwrap().remove("kind");
                    item.as_object_mut().unwrap().remove("apiVersion");
                }
            }
        }
        assert_eq!(back, want);
    }
}

#[test]
fn go_clients_zero_values_are_dropped_as_go_json_drops_them_but_pointers_kept() {
    // What client-go writes for a ConfigMap: every non-pointer field of ObjectMeta, the
    // zero time as an empty message (checked on its own below), no `immutable` (a nil
    // pointer).
    let desc = schema::message("k8s.io.api.core.v1.ConfigMap").unwrap();
    let meta = json!({"name": "c", "generateName": "", "namespace": "", "selfLink": "", "uid": "", "resourceVersion": "", "generation": 0});
    let msg =
        from_json::message(&desc, &json!({"metadata": meta, "data": {"a": "b"}}), "").unwrap();
    let json = to_json::message(&msg).unwrap();
    assert_eq!(json, json!({"metadata": {"name": "c"}, "data": {"a": "b"}}));
    let time = schema::message("k8s.io.apimachinery.pkg.apis.meta.v1.Time").unwrap();
    let mut empty = prost_reflect::DynamicMessage::new(time.clone());
    assert_eq!(to_json::message(&empty).unwrap(), Value::Null);
    empty.set_field_by_name("seconds", prost_reflect::Value::I64(1));
    assert_eq!(
        to_json::message(&empty).unwrap(),
        json!("1970-01-01T00:00:01Z")
    );
    // A pointer set to zero stays: replicas 0, automountServiceAccountToken false.
    let desc = schema::message("k8s.io.api.apps.v1.DeploymentSpec").unwrap();
    let spec = json!({"replicas": 0, "minReadySeconds": 0, "paused": false, "template": {"spec": {"automountServiceAccountToken": false, "hostNetwork": false}}});
    let msg = from_json::message(&desc, &spec, "").unwrap();
    assert_eq!(
        to_json::message(&msg).unwrap(),
        json!({"replicas": 0, "template": {"spec": {"automountServiceAccountToken": false}}})
    );
}

#[test]
fn watch_frames_are_length_prefixed_events_with_enveloped_objects() {
    let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let frame = watch_frame("ADDED", &object).unwrap();
    let length = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    assert_eq!(length, frame.len() - 4);
    let (kind, back) = decode_watch_event(&frame[4..]).unwrap();
    assert_eq!((kind.as_str(), back), ("ADDED", object));
}

#[test]
fn refusals_name_the_field_and_the_kind() {
    let e = encode(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": 1}})).unwrap_err();
    assert_eq!(e.to_string(), "data.a: expected a string");
    let e = encode(&json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "imagePullPolcy": "x"}]}})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "spec.containers[0].imagePullPolcy: unknown field"
    );
    let e = encode(&json!({"apiVersion": "example.com/v1", "kind": "Widget"})).unwrap_err();
    assert!(matches!(e, ProtobufError::NoMessage { .. }), "{e}");
    assert!(matches!(decode(b"{}").unwrap_err(), ProtobufError::NoMagic));
}

#[test]
fn durations_are_gos() {
    for (ns, text) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (1_500_000, "1.5ms"),
        (1_000_000_000, "1s"),
        (90_000_000_000, "1m30s"),
        (3_723_500_000_000, "1h2m3.5s"),
        (-60_000_000_000, "-1m0s"),
    ] {
        assert_eq!(format_duration(ns), text);
        assert_eq!(parse_duration(text), Some(ns), "{text}");
    }
    assert_eq!(parse_duration("1x"), None);
}

proptest! {
    /// Whatever the bytes after the magic, decoding answers an object or an error.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), magic in any::<bool>()) {
        let mut body = if magic { MAGIC.to_vec() } else { vec![] };
        body.extend(bytes);
        if let Ok(value) = decode(&body) {
            prop_assert!(value.is_object());
        }
        let _ = decode_watch_event(&body);
    }

    /// Mutating an encoded object's bytes never panics either.
    #[test]
    fn corrupted_objects_never_panic(index in 0usize..4096, byte in any::<u8>()) {
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "b"}}, "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]}}}});
        let mut bytes = encode(&object).unwrap();
        let i = index % bytes.len();
        bytes[i] = byte;
        let _ = decode(&bytes);
    }
}
