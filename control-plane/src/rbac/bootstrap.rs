//! The default policy (`policy.rs`) made true at every start, as kube-apiserver's RBAC
//! post-start hook does it: a missing default is created; one annotated
//! `rbac.authorization.kubernetes.io/autoupdate: "true"` gets back the rules, selectors,
//! subjects, labels and annotations it lacks (what was added to it is kept); one
//! annotated otherwise is left as its owner made it.

use serde_json::Value;
use tracing::info;

use super::policy::{self, AUTOUPDATE};
use crate::core::{Clock, Error};
use crate::resources::objects::to_bytes;
use crate::store::{Key, Store, StoreError};

/// Creates or reconciles every default ClusterRole and ClusterRoleBinding.
pub async fn bootstrap(store: &dyn Store, clock: &dyn Clock) -> Result<(), Error> {
    for wanted in policy::cluster_roles()
        .into_iter()
        .chain(policy::cluster_role_bindings())
    {
        ensure(store, clock, wanted).await?;
    }
    Ok(())
}

async fn ensure(store: &dyn Store, clock: &dyn Clock, mut wanted: Value) -> Result<(), Error> {
    let kind = wanted["kind"].as_str().unwrap_or_default().to_string();
    let name = wanted["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let key = Key::new(kind.as_str(), "", name.as_str());
    let Some(stored) = store.get(&key).await? else {
        let uid = crate::core::ids::new_uid();
        wanted["metadata"]["uid"] = Value::from(uid.clone());
        wanted["metadata"]["creationTimestamp"] = Value::from(clock.now_seconds().to_string());
        return match store.create(key, uid, to_bytes(&wanted)).await {
            Ok(_) => {
                info!(kind, name, "default rbac object created");
                Ok(())
            }
            Err(StoreError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e.into()),
        };
    };
    let mut current: Value = serde_json::from_slice(&stored.json)
        .map_err(|e| Error::Internal(format!("stored {key} does not decode: {e}")))?;
    if current
        .pointer(&format!(
            "/metadata/annotations/{}",
            AUTOUPDATE.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        != Some("true")
    {
        return Ok(());
    }
    let before = current.clone();
    for map in ["labels", "annotations"] {
        if let Some(entries) = wanted["metadata"][map].as_object() {
            let target = &mut current["metadata"][map];
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            for (k, v) in entries {
                target
                    .as_object_mut()
                    .map(|t| t.entry(k.clone()).or_insert_with(|| v.clone()));
            }
        }
    }
    if wanted.get("aggregationRule").is_some() {
        add_missing(
            &mut current,
            &wanted,
            "/aggregationRule/clusterRoleSelectors",
        );
    } else if kind == "ClusterRole" {
        add_missing(&mut current, &wanted, "/rules");
    } else {
        add_missing(&mut current, &wanted, "/subjects");
    }
    if current != before {
        store
            .update(key, to_bytes(&current), Some(stored.revision))
            .await?;
        info!(kind, name, "default rbac object reconciled");
    }
    Ok(())
}

/// Appends to the array at `pointer` in `current` the items of `wanted`'s it lacks.
fn add_missing(current: &mut Value, wanted: &Value, pointer: &str) {
    let Some(items) = wanted.pointer(pointer).and_then(Value::as_array) else {
        return;
    };
    let mut at = &mut *current;
    for part in pointer.trim_start_matches('/').split('/') {
        if at.get(part).is_none_or(|v| v.is_null()) {
            at[part] = Value::Object(Default::default());
        }
        at = &mut at[part];
    }
    if !at.is_array() {
        *at = Value::Array(Vec::new());
    }
    if let Some(list) = at.as_array_mut() {
        for item in items {
            if !list.contains(item) {
                list.push(item.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use skiff_proto::model::{decode_documents, default_object, validate_object};

    use super::*;

    #[test]
    fn every_default_is_a_valid_object() {
        for value in policy::cluster_roles()
            .into_iter()
            .chain(policy::cluster_role_bindings())
        {
            let mut object = decode_documents("policy", &value.to_string())
                .unwrap_or_else(|e| panic!("{value}: {e}"))
                .remove(0);
            default_object(&mut object);
            validate_object(&object).unwrap_or_else(|e| panic!("{value}: {e}"));
        }
    }

    #[test]
    fn missing_items_are_added_and_extra_ones_kept() {
        let mut current = json!({"rules": [{"verbs": ["get"]}, {"verbs": ["mine"]}]});
        let wanted = json!({"rules": [{"verbs": ["get"]}, {"verbs": ["list"]}]});
        add_missing(&mut current, &wanted, "/rules");
        assert_eq!(
            current["rules"],
            json!([{"verbs": ["get"]}, {"verbs": ["mine"]}, {"verbs": ["list"]}])
        );
        let mut bare = json!({"metadata": {}});
        let selectors =
            json!({"aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}});
        add_missing(
            &mut bare,
            &selectors,
            "/aggregationRule/clusterRoleSelectors",
        );
        assert_eq!(bare["aggregationRule"], selectors["aggregationRule"]);
    }
}
