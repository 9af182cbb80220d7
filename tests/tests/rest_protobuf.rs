//! Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`) on the REST API,
//! through clients no one here wrote, on a control plane without agents:
//! - kubectl v1.33's `create configmap|secret generic|deployment` send protobuf (client-go
//!   does for built-in kinds) and store the same objects as the JSON a
//!   `--dry-run=client -o json | kubectl create -f -` sends;
//! - messages from k8s-pb (generated from Kubernetes' .proto files, encoded by prost):
//!   create, get, list and delete in the `k8s\0` envelope, and a watch in
//!   length-prefixed `WatchEvent` frames; a malformed body is a 400 `Status`.

use k8s_pb::api::core::v1::{ConfigMap, ConfigMapList};
use k8s_pb::apimachinery::pkg::apis::meta::v1::{DeleteOptions, ObjectMeta, WatchEvent};
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::Value;
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::rest::admin_tls;
use skiff_e2e::TestControlPlane;

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// `kubectl get -o json` of an object, without what differs between two creations.
fn stored(k: &Kubectl, kind: &str, name: &str, namespace: &str) -> Value {
    let text = k
        .ok(&["get", kind, name, "-n", namespace, "-o", "json"])
        .unwrap();
    let mut object: Value = serde_json::from_str(&text).unwrap();
    let meta = object["metadata"].as_object_mut().unwrap();
    for volatile in [
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
        "generation",
    ] {
        meta.remove(volatile);
    }
    object.as_object_mut().unwrap().remove("status");
    object
}

#[test]
fn kubectl_create_sends_protobuf_and_stores_what_a_json_create_stores() {
    let cp = TestControlPlane::start().expect("control plane");
    let k = Kubectl::for_cluster(&cp).unwrap();
    k.ok(&["create", "namespace", "json-twin"]).unwrap();
    let creates: [&[&str]; 3] = [
        &[
            "create",
            "configmap",
            "c",
            "--from-literal=a=b",
            "--from-literal=empty=",
        ],
        &[
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=password=hunter2",
        ],
        &[
            "create",
            "deployment",
            "web",
            "--image=skiff-test/busybox:1",
            "--replicas=2",
            "--port=80",
        ],
    ];
    for (args, (kind, name)) in
        creates
            .iter()
            .zip([("configmap", "c"), ("secret", "s"), ("deployment", "web")])
    {
        let mut verbose = args.to_vec();
        verbose.push("-v=8");
        let out = k.run(&verbose).unwrap();
        assert!(out.success(), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains(&format!("Content-Type: {PROTOBUF}")),
            "kubectl did not send protobuf for {args:?}: {}",
            out.stderr
        );
        // The same object as JSON, in another namespace.
        let mut dry = args.to_vec();
        dry.extend(["--dry-run=client", "-o", "json"]);
        let json = k.ok(&dry).unwrap();
        let created = k
            .run_with_stdin(&["create", "-n", "json-twin", "-f", "-"], Some(&json))
            .unwrap();
        assert!(created.success(), "{created:?}");
        let from_protobuf = stored(&k, kind, name, "default");
        assert_eq!(from_protobuf, stored(&k, kind, name, "json-twin"));
        assert_eq!(from_protobuf["metadata"]["name"], *name);
    }
    let yaml = k.ok(&["get", "configmap", "c", "-o", "yaml"]).unwrap();
    assert!(
        yaml.contains("a: b") && yaml.contains("empty: \"\""),
        "{yaml}"
    );
    let password = k
        .ok(&["get", "secret", "s", "-o", "jsonpath={.data.password}"])
        .unwrap();
    assert_eq!(password, "aHVudGVyMg==");
    let replicas = k
        .ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].ports[0].containerPort}",
        ])
        .unwrap();
    assert_eq!(replicas, "2 80");
}

/// An object in the envelope, as client-go writes it.
fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

/// The kind and message bytes of an enveloped body.
fn open(bytes: &[u8]) -> (String, Vec<u8>) {
    assert!(bytes.starts_with(MAGIC), "no envelope: {bytes:?}");
    let unknown = Unknown::decode(&bytes[MAGIC.len()..]).unwrap();
    let kind = unknown.type_meta.and_then(|t| t.kind).unwrap_or_default();
    (kind, unknown.raw.unwrap_or_default())
}

struct Client {
    http: reqwest::blocking::Client,
    base: String,
}

impl Client {
    fn new(cp: &TestControlPlane) -> Client {
        let (identity, ca) = admin_tls(cp).unwrap();
        let http = reqwest::blocking::Client::builder()
            .tls_certs_only([ca])
            .identity(identity)
            .build()
            .unwrap();
        Client {
            http,
            base: cp.url.clone(),
        }
    }

    /// A request with a protobuf body (if any), accepting protobuf first as client-go
    /// does: the status, the content type and the body.
    fn send(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> (u16, String, Vec<u8>) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("accept", format!("{PROTOBUF}, application/json"));
        if let Some(body) = body {
            request = request.header("content-type", PROTOBUF).body(body);
        }
        let response = request.send().unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (
            response.status().as_u16(),
            content_type,
            response.bytes().unwrap().to_vec(),
        )
    }
}

#[test]
fn k8s_pb_messages_round_trip_and_a_watch_comes_in_protobuf_frames() {
    let cp = TestControlPlane::start().expect("control plane");
    let client = Client::new(&cp);
    let wanted = ConfigMap {
        metadata: Some(ObjectMeta {
            name: Some("from-k8s-pb".into()),
            labels: [("made-by".to_string(), "prost".to_string())].into(),
            ..Default::default()
        }),
        data: [("greeting".to_string(), "hello".to_string())].into(),
        binary_data: [("bytes".to_string(), vec![0, 1, 2, 255])].into(),
        immutable: Some(false),
    };
    let body = envelope("v1", "ConfigMap", wanted.encode_to_vec());
    let path = "/api/v1/namespaces/default/configmaps";
    let (code, content_type, bytes) = client.send("POST", path, Some(body));
    assert_eq!(
        (code, content_type.as_str()),
        (201, PROTOBUF),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    let (kind, raw) = open(&bytes);
    assert_eq!(kind, "ConfigMap");
    let created = ConfigMap::decode(raw.as_slice()).unwrap();
    let meta = created.metadata.clone().unwrap();
    assert_eq!(meta.name.as_deref(), Some("from-k8s-pb"));
    assert_eq!(meta.namespace.as_deref(), Some("default"));
    assert!(!meta.uid.unwrap_or_default().is_empty());
    assert!(
        meta.creation_timestamp
            .and_then(|t| t.seconds)
            .unwrap_or_default()
            > 0
    );
    assert_eq!(created.data, wanted.data);
    assert_eq!(created.binary_data, wanted.binary_data);
    assert_eq!(created.immutable, Some(false));

    // The same object read back in protobuf, and in JSON for a JSON client.
    let (code, _, bytes) = client.send("GET", &format!("{path}/from-k8s-pb"), None);
    assert_eq!(code, 200);
    assert_eq!(
        ConfigMap::decode(open(&bytes).1.as_slice()).unwrap(),
        created
    );
    let json: Value = client
        .http
        .get(format!("{}{path}/from-k8s-pb", client.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(json["binaryData"]["bytes"], "AAEC/w==");

    let (code, _, bytes) = client.send("GET", path, None);
    assert_eq!(code, 200);
    let (kind, raw) = open(&bytes);
    assert_eq!(kind, "ConfigMapList");
    let list = ConfigMapList::decode(raw.as_slice()).unwrap();
    assert!(list.items.contains(&created), "{list:?}");

    // A watch from the start: the object as an ADDED frame, then the end of the stream.
    let (code, content_type, bytes) = client.send(
        "GET",
        &format!("{path}?watch=true&resourceVersion=0&timeoutSeconds=2"),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(content_type, format!("{PROTOBUF};stream=watch"));
    let mut rest = bytes.as_slice();
    let mut events = vec![];
    while !rest.is_empty() {
        let length = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let event = WatchEvent::decode(&rest[4..4 + length]).unwrap();
        let raw = event.object.and_then(|o| o.raw).unwrap_or_default();
        let (kind, object) = open(&raw);
        let object = ConfigMap::decode(object.as_slice()).unwrap();
        events.push((event.r#type.unwrap_or_default(), kind, object));
        rest = &rest[4 + length..];
    }
    assert!(
        events
            .iter()
            .any(|(t, k, o)| t == "ADDED" && k == "ConfigMap" && *o == created),
        "{events:?}"
    );

    // Delete with protobuf DeleteOptions, then a body that is not protobuf: 400 Status.
    let options = DeleteOptions {
        propagation_policy: Some("Background".into()),
        ..Default::default()
    };
    let body = envelope("v1", "DeleteOptions", options.encode_to_vec());
    let (code, _, bytes) = client.send("DELETE", &format!("{path}/from-k8s-pb"), Some(body));
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&bytes));
    let (code, _, bytes) = client.send("GET", &format!("{path}/from-k8s-pb"), None);
    assert_eq!(code, 404, "{}", String::from_utf8_lossy(&bytes));
    let (code, _, bytes) = client.send("POST", path, Some(b"k8s\0not a message".to_vec()));
    assert_eq!(code, 400);
    let status: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status["kind"], "Status");
    assert!(
        status["message"].as_str().unwrap().contains("protobuf"),
        "{status}"
    );
}
