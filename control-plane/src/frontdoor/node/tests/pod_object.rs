//! GetPodObject below the gRPC layer: the node authorizer's answers.

use serde_json::{json, Value};
use tonic::{Code, Status};

use super::{bound_pod, Fixture};
use crate::core::Error;
use crate::frontdoor::node::pod_object::{get_pod_object, references};
use crate::store::Key;

impl Fixture {
    async fn put(&self, kind: &str, namespace: &str, name: &str, body: Value) {
        let mut object = json!({
            "apiVersion": "v1", "kind": kind,
            "metadata": {"name": name},
        });
        if !namespace.is_empty() {
            object["metadata"]["namespace"] = namespace.into();
        }
        if let (Some(object), Some(body)) = (object.as_object_mut(), body.as_object()) {
            object.extend(body.clone());
        }
        self.store()
            .create(
                Key::new(kind, namespace, name),
                format!("uid-{name}"),
                serde_json::to_vec(&object).unwrap(),
            )
            .await
            .unwrap();
    }

    async fn read(&self, node: &str, kind: &str, ns: &str, name: &str) -> Result<Value, Error> {
        let object = get_pod_object(&self.ctx, node, kind, ns, name).await?;
        assert_eq!((object.kind.as_str(), object.name.as_str()), (kind, name));
        Ok(serde_json::from_slice(&object.json).unwrap())
    }
}

fn code(result: Result<Value, Error>) -> Code {
    result
        .map(|_| ())
        .err()
        .map_or(Code::Ok, |e| Status::from(e).code())
}

/// A pod on `node` using the config map `settings` as a volume and the secret `db`
/// through an env entry of its init container.
fn consumer(name: &str, node: &str) -> Value {
    let mut pod = bound_pod(name, node);
    pod["spec"]["volumes"] = json!([{"name": "cfg", "configMap": {"name": "settings"}}]);
    pod["spec"]["initContainers"] = json!([{
        "name": "init", "image": "busybox",
        "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}],
    }]);
    pod
}

#[tokio::test]
async fn a_node_reads_what_its_pods_reference() {
    let fx = Fixture::new();
    fx.put(
        "ConfigMap",
        "default",
        "settings",
        json!({"data": {"a": "1"}}),
    )
    .await;
    fx.put("Secret", "default", "db", json!({"data": {"pw": "aGk="}}))
        .await;
    fx.create_pod(consumer("app", "n1")).await;

    let cm = fx
        .read("n1", "ConfigMap", "default", "settings")
        .await
        .unwrap();
    assert_eq!(cm["data"]["a"], "1");
    assert_eq!(cm["metadata"]["uid"], "uid-settings");
    assert!(cm["metadata"]["resourceVersion"].is_string());
    let secret = fx.read("n1", "Secret", "default", "db").await.unwrap();
    assert_eq!(secret["data"]["pw"], "aGk=");

    // Referenced but not there (yet): NOT_FOUND, which the agent waits on.
    let mut pod = bound_pod("waiting", "n1");
    pod["spec"]["containers"][0]["envFrom"] = json!([{"configMapRef": {"name": "later"}}]);
    fx.create_pod(pod).await;
    let missing = fx.read("n1", "ConfigMap", "default", "later").await;
    assert_eq!(code(missing), Code::NotFound);
}

#[tokio::test]
async fn other_nodes_objects_and_unreferenced_ones_are_refused_before_existence() {
    let fx = Fixture::new();
    fx.put("Secret", "default", "db", json!({"data": {"pw": "aGk="}}))
        .await;
    fx.put("Secret", "default", "unused", json!({})).await;
    fx.put("Secret", "other", "db", json!({})).await;
    fx.create_pod(consumer("app", "n2")).await;

    // n2's pod uses it; n1 has none that does.
    let err = fx.read("n1", "Secret", "default", "db").await.unwrap_err();
    assert_eq!(Status::from(err.clone()).code(), Code::PermissionDenied);
    let text = err.to_string();
    assert!(
        text.contains("\"n1\"") && text.contains("Secret \"db\""),
        "{text}"
    );
    assert!(fx.read("n2", "Secret", "default", "db").await.is_ok());

    // Existing or not, an unreferenced name says the same: no probing.
    let unused = fx.read("n2", "Secret", "default", "unused").await;
    assert_eq!(code(unused), Code::PermissionDenied);
    let absent = fx.read("n2", "Secret", "default", "absent").await;
    assert_eq!(code(absent), Code::PermissionDenied);
    // The same name in another namespace is another object.
    let elsewhere = fx.read("n2", "Secret", "other", "db").await;
    assert_eq!(code(elsewhere), Code::PermissionDenied);
    // A pod not yet bound gives its future node nothing.
    let mut pending = consumer("pending", "n1");
    pending["spec"].as_object_mut().unwrap().remove("nodeName");
    fx.create_pod(pending).await;
    assert_eq!(
        code(fx.read("n1", "Secret", "default", "db").await),
        Code::PermissionDenied
    );
    // Once its pod is gone, n2 loses access.
    fx.store()
        .delete(&crate::core::objects::pod_key("default", "app"), None)
        .await
        .unwrap();
    assert_eq!(
        code(fx.read("n2", "Secret", "default", "db").await),
        Code::PermissionDenied
    );

    // A mirror pod is the node's own writing: it grants nothing.
    let mut mirror = consumer("static-n2", "n2");
    mirror["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "uid-static"});
    fx.create_pod(mirror).await;
    assert_eq!(
        code(fx.read("n2", "Secret", "default", "db").await),
        Code::PermissionDenied
    );

    // Other kinds and malformed requests.
    let pod = fx.read("n2", "Pod", "default", "app").await;
    assert_eq!(code(pod), Code::InvalidArgument);
    let no_ns = fx.read("n2", "Secret", "", "db").await;
    assert_eq!(code(no_ns), Code::InvalidArgument);
}

#[tokio::test]
async fn claims_and_their_bound_volumes_follow_the_pods_using_them() {
    let fx = Fixture::new();
    fx.put(
        "PersistentVolumeClaim",
        "default",
        "data",
        json!({"spec": {"volumeName": "pv-data"}}),
    )
    .await;
    fx.put("PersistentVolume", "", "pv-data", json!({"spec": {}}))
        .await;
    fx.put("PersistentVolume", "", "pv-other", json!({"spec": {}}))
        .await;
    let mut pod = bound_pod("db", "n1");
    pod["spec"]["volumes"] = json!([{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]);
    fx.create_pod(pod).await;

    let claim = fx
        .read("n1", "PersistentVolumeClaim", "default", "data")
        .await;
    assert_eq!(claim.unwrap()["spec"]["volumeName"], "pv-data");
    assert!(fx
        .read("n1", "PersistentVolume", "", "pv-data")
        .await
        .is_ok());
    let other = fx.read("n1", "PersistentVolume", "", "pv-other").await;
    assert_eq!(code(other), Code::PermissionDenied);
    let from_n2 = fx.read("n2", "PersistentVolume", "", "pv-data").await;
    assert_eq!(code(from_n2), Code::PermissionDenied);
    let namespaced = fx
        .read("n1", "PersistentVolume", "default", "pv-data")
        .await;
    assert_eq!(code(namespaced), Code::InvalidArgument);
}

#[test]
fn every_place_a_pod_names_a_config_object_counts() {
    let pod = json!({
        "metadata": {"name": "p"},
        "spec": {
            "volumes": [
                {"name": "a", "configMap": {"name": "cm-vol"}},
                {"name": "b", "secret": {"secretName": "s-vol"}},
                {"name": "c", "projected": {"sources": [
                    {"configMap": {"name": "cm-proj"}},
                    {"secret": {"name": "s-proj"}},
                    {"downwardAPI": {"items": []}},
                ]}},
                {"name": "d", "persistentVolumeClaim": {"claimName": "claim"}},
                {"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
                {"name": "f", "emptyDir": {}},
            ],
            "containers": [{"name": "c", "envFrom": [
                {"configMapRef": {"name": "cm-from"}}, {"secretRef": {"name": "s-from"}},
            ]}],
            "initContainers": [{"name": "i", "env": [
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm-env", "key": "k"}}},
                {"name": "B", "value": "plain"},
            ]}],
            "ephemeralContainers": [{"name": "e", "env": [
                {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s-env", "key": "k"}}},
            ]}],
            "imagePullSecrets": [{"name": "s-pull"}],
        },
    });
    let mut refs = references(&pod);
    refs.sort();
    let expected: Vec<(&str, String)> = [
        ("ConfigMap", "cm-env"),
        ("ConfigMap", "cm-from"),
        ("ConfigMap", "cm-proj"),
        ("ConfigMap", "cm-vol"),
        ("PersistentVolumeClaim", "claim"),
        ("PersistentVolumeClaim", "p-e"),
        ("Secret", "s-env"),
        ("Secret", "s-from"),
        ("Secret", "s-proj"),
        ("Secret", "s-pull"),
        ("Secret", "s-vol"),
    ]
    .into_iter()
    .map(|(k, n)| (k, n.to_string()))
    .collect();
    assert_eq!(refs, expected);
}
