//! How an applied manifest changes a stored object: kubectl's three-way merge, done on
//! the server.
//!
//! The stored object holds more than the user wrote: server-set metadata, status, fields
//! controllers fill in (a pod's `spec.nodeName` from the scheduler, a Service port's
//! allocated `nodePort`), labels added with `skiff label`. Replacing the object with the
//! manifest would wipe those, and re-applying an unchanged manifest would then look like a
//! change. So, as kubectl does with its `last-applied-configuration` annotation:
//! - a field the previous manifest had and the new one lacks is removed;
//! - every field of the new manifest is set;
//! - everything else stays as stored.
//!
//! Defaults are applied to the result afterwards (`apply.rs`), so they fill only what is
//! still unset.
//!
//! Lists of objects are merged element by element when their elements carry a merge key
//! (strategic merge's keys: `containerPort`, `port`, `mountPath`, `name`), so a field a
//! controller set inside a list element survives too; other lists are replaced whole.

use serde_json::{Map, Value};

pub use crate::core::annotations::LAST_APPLIED;

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

/// The first path at which `a` and `b` differ (`spec.containers[0].ports`), for messages
/// that say what changed; `None` when they are equal.
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    let join = |key: &str| match path {
        "" => key.to_string(),
        _ => format!("{path}.{key}"),
    };
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .find_map(|key| match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => first_difference(x, y, &join(key)),
                    (None, None) => None,
                    _ => Some(join(key)),
                })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &format!("{path}[{i}]"))),
        (a, b) if a == b => None,
        _ => Some(path.to_string()),
    }
}

/// The pod spec fields Kubernetes lets an update change, as its error message lists them.
const POD_MUTABLE: &str = "`spec.containers[*].image`, `spec.initContainers[*].image`, \
     `spec.activeDeadlineSeconds`, `spec.terminationGracePeriodSeconds`";

/// Refuses a pod spec change Kubernetes would refuse: everything but the images (and the
/// deadlines) is fixed once a pod exists, because the node runs exactly that spec.
pub fn check_pod_update(name: &str, old_spec: &Value, new_spec: &Value) -> Result<(), String> {
    let masked = |spec: &Value| {
        let mut spec = spec.clone();
        for list in ["containers", "initContainers"] {
            for container in spec
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(container) = container.as_object_mut() {
                    container.remove("image");
                }
            }
        }
        if let Some(spec) = spec.as_object_mut() {
            spec.remove("activeDeadlineSeconds");
            spec.remove("terminationGracePeriodSeconds");
        }
        spec
    };
    match first_difference(&masked(old_spec), &masked(new_spec), "spec") {
        None => Ok(()),
        Some(changed) => Err(format!(
            "Pod {name:?} is invalid: spec: Forbidden: pod updates may not change fields other \
             than {POD_MUTABLE} (changed: {changed}); delete the pod and apply it again, or \
             run it from a Deployment"
        )),
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

    #[test]
    fn differences_are_located() {
        let a = json!({"containers": [{"name": "c", "ports": [1]}]});
        let b = json!({"containers": [{"name": "c", "ports": [2]}]});
        assert_eq!(
            first_difference(&a, &b, "spec").as_deref(),
            Some("spec.containers[0].ports[0]")
        );
        assert_eq!(first_difference(&a, &a, "spec"), None);
    }

    #[test]
    fn pod_updates_may_change_images_only() {
        let old = json!({"containers": [{"name": "c", "image": "nginx:1"}]});
        let image = json!({"containers": [{"name": "c", "image": "nginx:2"}]});
        assert!(check_pod_update("p", &old, &image).is_ok());
        let env = json!({"containers": [{"name": "c", "image": "nginx:1", "env": []}]});
        let err = check_pod_update("p", &old, &env).unwrap_err();
        assert!(
            err.contains("Forbidden: pod updates may not change fields other than"),
            "{err}"
        );
        assert!(err.contains("spec.containers[0].env"), "{err}");
    }
}
