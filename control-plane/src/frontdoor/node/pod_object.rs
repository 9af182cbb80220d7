//! GetPodObject: an agent reads one ConfigMap, Secret, PersistentVolumeClaim or
//! PersistentVolume for its pods, as Kubernetes' node authorizer allows it: only while a
//! pod bound to the calling node (`spec.nodeName`) references the object, so a node that
//! is taken over cannot read the rest of the cluster's secrets.
//!
//! The reference check comes before the existence check: a node learns whether an object
//! exists only for names its own pods already name, so it cannot probe for others.
//! Pods are read as JSON values, so kinds the model does not decode yet still work.

use serde_json::Value;
use skiff_proto::v1::Object;

use super::invalid;
use super::watch_pods::envelope;
use crate::controllers::nodes::NodeContext;
use crate::core::annotations::MIRROR_ANNOTATION;
use crate::core::Error;
use crate::resources::objects::parse;
use crate::store::{Key, Store, Stored};

/// The kinds an agent may ask for.
pub const POD_OBJECT_KINDS: &[&str] = &[
    "ConfigMap",
    "Secret",
    "PersistentVolumeClaim",
    "PersistentVolume",
];

/// The object `kind` `namespace`/`name` for `node`'s pods, or why not.
pub async fn get_pod_object(
    ctx: &NodeContext,
    node: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Object, Error> {
    let store = ctx.cp.store.as_ref();
    let key = requested_key(kind, namespace, name)?;
    if !node_may_read(store, node, &key).await? {
        return Err(Error::PermissionDenied(format!(
            "{} is forbidden: no relationship found between node {node:?} and this object \
             (no pod bound to the node references it)",
            describe(&key)
        )));
    }
    let stored = store
        .get(&key)
        .await?
        .ok_or_else(|| Error::NotFound(format!("{} not found", describe(&key))))?;
    Ok(envelope(&stored))
}

fn requested_key(kind: &str, namespace: &str, name: &str) -> Result<Key, Error> {
    if !POD_OBJECT_KINDS.contains(&kind) {
        return Err(invalid(format!(
            "kind {kind:?}: a node may read only {}",
            POD_OBJECT_KINDS.join(", ")
        )));
    }
    if name.is_empty() {
        return Err(invalid("name is empty".into()));
    }
    let cluster_scoped = kind == "PersistentVolume";
    if cluster_scoped != namespace.is_empty() {
        let want = if cluster_scoped { "none" } else { "one" };
        return Err(invalid(format!(
            "{kind} {name:?}: namespace {namespace:?} (a {kind} takes {want})"
        )));
    }
    Ok(Key::new(kind, namespace, name))
}

/// `Secret "db" in namespace "shop"`, `PersistentVolume "pv-1"`.
fn describe(key: &Key) -> String {
    if key.namespace.is_empty() {
        format!("{} {:?}", key.kind, key.name)
    } else {
        format!(
            "{} {:?} in namespace {:?}",
            key.kind, key.name, key.namespace
        )
    }
}

/// Whether a pod bound to `node` references `key` (for a PersistentVolume: through a
/// claim such a pod uses that is bound to it).
async fn node_may_read(store: &dyn Store, node: &str, key: &Key) -> Result<bool, Error> {
    if key.kind != "PersistentVolume" {
        let (pods, _) = store.list("Pod", Some(&key.namespace)).await?;
        for pod in node_pods(&pods, node, Some(&key.name))? {
            let refs = references(&pod);
            if refs
                .iter()
                .any(|(kind, name)| *kind == key.kind && *name == key.name)
            {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    let (pods, _) = store.list("Pod", None).await?;
    for pod in node_pods(&pods, node, None)? {
        let namespace = pod["metadata"]["namespace"].as_str().unwrap_or("default");
        let claims = references(&pod)
            .into_iter()
            .filter(|(kind, _)| *kind == "PersistentVolumeClaim");
        for (_, claim) in claims {
            let claim_key = Key::new("PersistentVolumeClaim", namespace, claim);
            let Some(stored) = store.get(&claim_key).await? else {
                continue;
            };
            if parse(&stored)?["spec"]["volumeName"].as_str() == Some(key.name.as_str()) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The stored pods bound to `node`, parsed; with `naming`, only those whose JSON holds
/// that name at all (object names need no escaping, so the others cannot reference it).
/// Mirror pods grant nothing: the node wrote them itself (SyncMirrorPods), so they could
/// name any object; the API server likewise refuses mirror pods that use secrets.
fn node_pods(pods: &[Stored], node: &str, naming: Option<&str>) -> Result<Vec<Value>, Error> {
    let mut bound = Vec::new();
    for stored in pods {
        let quoted = naming.map(|name| format!("\"{name}\""));
        if quoted.is_some_and(|q| !contains(&stored.json, q.as_bytes())) {
            continue;
        }
        let pod = parse(stored)?;
        let mirror = pod["metadata"]["annotations"][MIRROR_ANNOTATION].is_string();
        if pod["spec"]["nodeName"].as_str() == Some(node) && !mirror {
            bound.push(pod);
        }
    }
    Ok(bound)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every (kind, name) a pod references in its own namespace: volumes (configMap, secret,
/// persistentVolumeClaim, projected sources, a generic ephemeral volume's claim), env
/// and envFrom of every container (init and ephemeral too), imagePullSecrets.
pub fn references(pod: &Value) -> Vec<(&'static str, String)> {
    let spec = &pod["spec"];
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let mut refs = Vec::new();
    for volume in items(&spec["volumes"]) {
        volume_references(volume, pod_name, &mut refs);
    }
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for container in items(&spec[list]) {
            container_references(container, &mut refs);
        }
    }
    for secret in items(&spec["imagePullSecrets"]) {
        push(&mut refs, "Secret", &secret["name"]);
    }
    refs
}

fn volume_references(volume: &Value, pod_name: &str, refs: &mut Vec<(&'static str, String)>) {
    push(refs, "ConfigMap", &volume["configMap"]["name"]);
    push(refs, "Secret", &volume["secret"]["secretName"]);
    push(
        refs,
        "PersistentVolumeClaim",
        &volume["persistentVolumeClaim"]["claimName"],
    );
    for source in items(&volume["projected"]["sources"]) {
        push(refs, "ConfigMap", &source["configMap"]["name"]);
        push(refs, "Secret", &source["secret"]["name"]);
    }
    // A generic ephemeral volume's claim is named `<pod>-<volume>` (Kubernetes' rule).
    if volume["ephemeral"].is_object() {
        if let Some(volume_name) = volume["name"].as_str() {
            refs.push(("PersistentVolumeClaim", format!("{pod_name}-{volume_name}")));
        }
    }
}

fn container_references(container: &Value, refs: &mut Vec<(&'static str, String)>) {
    for env in items(&container["env"]) {
        push(
            refs,
            "ConfigMap",
            &env["valueFrom"]["configMapKeyRef"]["name"],
        );
        push(refs, "Secret", &env["valueFrom"]["secretKeyRef"]["name"]);
    }
    for source in items(&container["envFrom"]) {
        push(refs, "ConfigMap", &source["configMapRef"]["name"]);
        push(refs, "Secret", &source["secretRef"]["name"]);
    }
}

fn items(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

fn push(refs: &mut Vec<(&'static str, String)>, kind: &'static str, name: &Value) {
    if let Some(name) = name.as_str().filter(|n| !n.is_empty()) {
        refs.push((kind, name.to_string()));
    }
}
