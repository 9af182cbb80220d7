//! Which pods a ReplicaSet (or a DaemonSet) owns: its own that match, orphans it adopts,
//! and its own that no longer match, which it releases (as Kubernetes'
//! PodControllerRefManager).

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use skiff_proto::model::selector_matches;
use tracing::info;

use crate::core::objects::{self, controller_of, is_active, is_being_deleted, labels};
use crate::core::Error;
use crate::store::{Key, Store};

/// The pods the `kind` object `owner` owns after adopting and releasing by `selector`.
pub async fn claim_pods(
    store: &dyn Store,
    kind: &str,
    owner: &ObjectMeta,
    selector: &LabelSelector,
    pods: Vec<Pod>,
) -> Result<Vec<Pod>, Error> {
    let uid = owner.uid.clone().unwrap_or_default();
    if skiff_proto::model::selector_is_empty(selector) {
        return Ok(Vec::new());
    }
    let mut owned = Vec::new();
    for pod in pods {
        let matches = selector_matches(selector, &labels(&pod.metadata));
        let key = Key::new(
            "Pod",
            pod.metadata.namespace.clone().unwrap_or_default(),
            pod.metadata.name.clone().unwrap_or_default(),
        );
        let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
        match controller_of(&pod.metadata) {
            Some(owner) if owner.uid == uid => {
                if matches {
                    owned.push(pod);
                } else {
                    let released = objects::modify_if::<Pod, _>(store, &key, &pod_uid, |p| {
                        objects::remove_owner(&mut p.metadata, &uid)
                    })
                    .await?;
                    if released.is_some() {
                        info!(pod = %key, "released: its labels no longer match the selector");
                    }
                }
            }
            Some(_) => {}
            None if matches && is_active(&pod) && !is_being_deleted(owner) => {
                let adopted = objects::modify_if::<Pod, _>(store, &key, &pod_uid, |p| {
                    if controller_of(&p.metadata).is_some()
                        || !selector_matches(selector, &labels(&p.metadata))
                    {
                        return false;
                    }
                    p.metadata
                        .owner_references
                        .get_or_insert_with(Vec::new)
                        .push(objects::controller_ref(kind, owner));
                    true
                })
                .await?;
                if let Some(pod) =
                    adopted.filter(|p| controller_of(&p.metadata).is_some_and(|o| o.uid == uid))
                {
                    info!(pod = %key, "adopted");
                    owned.push(pod);
                }
            }
            None => {}
        }
    }
    Ok(owned)
}
