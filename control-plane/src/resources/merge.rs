//! What the update pipeline checks of a changed object: where two versions differ, and
//! which pod spec changes Kubernetes refuses. The three-way merge of client-side apply
//! lives in `skiff_proto::last_applied`, shared with the CLI.

use serde_json::Value;

pub use skiff_proto::last_applied::{three_way, LAST_APPLIED};

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
