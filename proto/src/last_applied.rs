//! Client-side apply's three-way merge, as kubectl does it with its
//! `last-applied-configuration` annotation: how an applied manifest changes a stored
//! object. The `skiff apply` CLI computes the object it sends with it; the control
//! plane's own apply (`control-plane/src/resources/apply.rs`) uses the same copy.
//!
//! The stored object holds more than the user wrote: server-set metadata, status, fields
//! controllers fill in (a pod's `spec.nodeName` from the scheduler, a Service port's
//! allocated `nodePort`), labels added with `skiff label`. Replacing the object with the
//! manifest would wipe those, and re-applying an unchanged manifest would then look like a
//! change. So:
//! - a field the previous manifest had and the new one lacks is removed;
//! - every field of the new manifest is set;
//! - everything else stays as stored.
//!
//! Defaults are applied to the result afterwards, so they fill only what is still unset.
//!
//! Lists of objects are merged element by element when their elements carry a merge key
//! (strategic merge's keys: `containerPort`, `port`, `mountPath`, `name`), so a field a
//! controller set inside a list element survives too; other lists are replaced whole.

use serde_json::{Map, Value};

/// The manifest `apply` last wrote, for the next apply's three-way merge.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What only the server sets in `metadata`.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// A manifest as apply records and merges it: without what only the server sets
/// (status and system metadata) and without the last-applied annotation of a manifest
/// saved with `get -o yaml`.
pub fn without_server_fields(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("status");
    }
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in SERVER_METADATA {
            meta.remove(*field);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove(LAST_APPLIED);
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    value
}

/// Element keys tried, in order, to match list elements across versions.
const MERGE_KEYS: &[&str] = &["containerPort", "port", "mountPath", "name"];

/// Merges `desired` into `stored`; `last` is the previously applied manifest, if any.
pub fn three_way(stored: &mut Value, last: Option<&Value>, desired: &Value) {
    merge(stored, last, desired, last.is_some())
}

/// [`three_way`] at one level; `tracked`: a previous manifest exists (so a keyed list
/// element it never had was added by someone else, as the ServiceAccount admission adds
/// a pod's token volume and mounts, and stays).
fn merge(stored: &mut Value, last: Option<&Value>, desired: &Value, tracked: bool) {
    match (stored, desired) {
        (Value::Object(stored), Value::Object(desired)) => {
            merge_maps(stored, last.and_then(Value::as_object), desired, tracked)
        }
        (Value::Array(stored), Value::Array(desired)) => {
            if let Some(key) = merge_key(desired) {
                let last = last.and_then(Value::as_array);
                *stored = merge_lists(stored, last, desired, key, tracked);
            } else {
                *stored = desired.clone();
            }
        }
        (stored, desired) => *stored = desired.clone(),
    }
}

fn merge_maps(
    stored: &mut Map<String, Value>,
    last: Option<&Map<String, Value>>,
    desired: &Map<String, Value>,
    tracked: bool,
) {
    for removed in last
        .into_iter()
        .flat_map(|last| last.keys())
        .filter(|k| !desired.contains_key(*k))
    {
        stored.remove(removed);
    }
    for (key, value) in desired {
        let last = last.and_then(|last| last.get(key));
        match stored.get_mut(key) {
            Some(current) => merge(current, last, value, tracked),
            None => {
                stored.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The key that identifies every element of `list`, if one does (each element an object
/// with a distinct scalar value for it).
fn merge_key(list: &[Value]) -> Option<&'static str> {
    if list.is_empty() {
        return None;
    }
    MERGE_KEYS.iter().copied().find(|key| {
        let mut seen = Vec::with_capacity(list.len());
        list.iter().all(|item| match item.get(key) {
            Some(v @ (Value::String(_) | Value::Number(_))) if !seen.contains(&v) => {
                seen.push(v);
                true
            }
            _ => false,
        })
    })
}

/// The desired elements in the desired order, each merged into the stored element with
/// the same key; stored elements the manifest no longer lists are dropped, except, when
/// `tracked`, those no previous manifest listed (someone else's), which follow.
fn merge_lists(
    stored: &[Value],
    last: Option<&Vec<Value>>,
    desired: &[Value],
    key: &str,
    tracked: bool,
) -> Vec<Value> {
    let find =
        |list: &[Value], id: &Value| list.iter().find(|item| item.get(key) == Some(id)).cloned();
    let mut merged: Vec<Value> = desired
        .iter()
        .map(|item| {
            let id = &item[key];
            match find(stored, id) {
                Some(mut current) => {
                    let last = last.and_then(|last| find(last, id));
                    merge(&mut current, last.as_ref(), item, tracked);
                    current
                }
                None => item.clone(),
            }
        })
        .collect();
    if tracked {
        let listed = |list: &[Value], id: Option<&Value>| {
            id.is_some_and(|id| list.iter().any(|item| item.get(key) == Some(id)))
        };
        let foreign = stored.iter().filter(|item| {
            let id = item.get(key);
            !listed(desired, id) && !last.is_some_and(|last| listed(last, id))
        });
        merged.extend(foreign.cloned());
    }
    merged
}

/// Apply's hook before an update is validated: a Service changed to a type without node
/// ports (ClusterIP, ExternalName) drops the node ports that were allocated, not written
/// by the user (they would fail validation, and are released after the write).
pub fn drop_allocated_node_ports(kind: &str, user: &Value, merged: &mut Value) {
    if kind != "Service" {
        return;
    }
    let service_type = merged
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if matches!(service_type, "NodePort" | "LoadBalancer") {
        return;
    }
    let written: Vec<&Value> = user
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("nodePort").is_some())
        .map(|p| &p["port"])
        .collect();
    let ports = merged
        .pointer_mut("/spec/ports")
        .and_then(Value::as_array_mut);
    for port in ports.into_iter().flatten() {
        if !written.contains(&&port["port"]) {
            if let Some(port) = port.as_object_mut() {
                port.remove("nodePort");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn removed_fields_go_and_foreign_fields_stay() {
        let mut stored = json!({
            "metadata": {"labels": {"app": "web", "tier": "fe", "added-by-label": "x"}},
            "spec": {"nodeName": "n1", "replicas": 1},
            "status": {"phase": "Running"},
        });
        let last =
            json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}, "spec": {"replicas": 1}});
        let desired = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"replicas": 2}});
        three_way(&mut stored, Some(&last), &desired);
        assert_eq!(
            stored,
            json!({
                "metadata": {"labels": {"app": "web", "added-by-label": "x"}},
                "spec": {"nodeName": "n1", "replicas": 2},
                "status": {"phase": "Running"},
            })
        );
    }

    #[test]
    fn keyed_list_elements_keep_fields_set_by_others() {
        let mut stored =
            json!({"ports": [{"port": 80, "nodePort": 30080}, {"port": 443, "nodePort": 30443}]});
        let desired = json!({"ports": [{"port": 80, "protocol": "TCP"}]});
        three_way(&mut stored, None, &desired);
        assert_eq!(
            stored,
            json!({"ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]})
        );
        // With a previous manifest, elements it never listed are someone else's and stay.
        let mut stored =
            json!({"volumes": [{"name": "cfg"}, {"name": "old"}, {"name": "kube-api-access-x"}]});
        let last = json!({"volumes": [{"name": "cfg"}, {"name": "old"}]});
        three_way(
            &mut stored,
            Some(&last),
            &json!({"volumes": [{"name": "cfg", "a": 1}]}),
        );
        assert_eq!(
            stored,
            json!({"volumes": [{"name": "cfg", "a": 1}, {"name": "kube-api-access-x"}]})
        );
        let mut stored = json!({"args": ["a", "b"]});
        three_way(&mut stored, None, &json!({"args": ["c"]}));
        assert_eq!(stored, json!({"args": ["c"]}));
    }
}
