//! Pods made from an owner's template (ReplicaSet, Job, StatefulSet): named
//! `<owner>-<5 random>` (or a name the owner picks), with the owner as their controller,
//! Pending until scheduled.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodStatus, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::core::objects;
use crate::core::Error;
use crate::resources::service_accounts;
use crate::store::{Key, Store, StoreError};

/// Creates one pod from `template`, controlled by the `kind` object `owner`; its name.
/// A name already taken is retried with another suffix.
pub async fn create(
    store: &dyn Store,
    now: Timestamp,
    kind: &str,
    owner: &ObjectMeta,
    template: PodTemplateSpec,
) -> Result<String, Error> {
    let owner_name = owner.name.clone().unwrap_or_default();
    for _ in 0..5 {
        let name = format!("{owner_name}-{}", crate::core::ids::random_suffix());
        if create_named(store, now, kind, owner, &name, template.clone()).await? {
            return Ok(name);
        }
    }
    Err(Error::Invalid(format!(
        "no free pod name for {kind} {owner_name:?} after 5 tries"
    )))
}

/// Creates the pod `name` from `template`, controlled by the `kind` object `owner`;
/// false when the name is taken.
pub async fn create_named(
    store: &dyn Store,
    now: Timestamp,
    kind: &str,
    owner: &ObjectMeta,
    name: &str,
    template: PodTemplateSpec,
) -> Result<bool, Error> {
    let namespace = owner.namespace.clone().unwrap_or_else(|| "default".into());
    let template_meta = template.metadata.unwrap_or_default();
    let uid = crate::core::ids::new_uid();
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.clone()),
            uid: Some(uid.clone()),
            labels: template_meta.labels,
            annotations: template_meta.annotations,
            creation_timestamp: Some(Time(now)),
            generation: Some(1),
            owner_references: Some(vec![objects::controller_ref(kind, owner)]),
            ..Default::default()
        },
        spec: template.spec,
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        }),
    };
    let key = Key::new("Pod", &namespace, name);
    // Through the ServiceAccount admission, as a controller's pods are in Kubernetes.
    let mut value = serde_json::to_value(&pod)
        .map_err(|e| Error::Internal(format!("encoding pod {name:?}: {e}")))?;
    service_accounts::admit_pod(store, now, &key, &mut value).await?;
    match store
        .create(key, uid, crate::resources::objects::to_bytes(&value))
        .await
    {
        Ok(_) => Ok(true),
        Err(StoreError::AlreadyExists(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// [`create`] with the name `<prefix><5 random>` (an Indexed Job's `<job>-<index>-`).
pub async fn create_prefixed(
    store: &dyn Store,
    now: Timestamp,
    kind: &str,
    owner: &ObjectMeta,
    template: PodTemplateSpec,
    prefix: &str,
) -> Result<String, Error> {
    for _ in 0..5 {
        let name = format!("{prefix}{}", crate::core::ids::random_suffix());
        if create_named(store, now, kind, owner, &name, template.clone()).await? {
            return Ok(name);
        }
    }
    Err(Error::Invalid(format!(
        "no free pod name with prefix {prefix:?} after 5 tries"
    )))
}
