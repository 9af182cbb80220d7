//! Kubernetes Events (core/v1 `Event`) about pods and nodes, for `describe`.
//!
//! Repeats are folded the way Kubernetes' event recorder does: the same involved object,
//! reason and message update one Event (count + 1, lastTimestamp) instead of adding
//! another. The Event's name is derived from those, so finding the existing one is a
//! single read, with no index and no in-memory cache to lose on restart.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use sha2::{Digest, Sha256};

use super::clock::Clock;
use super::ids::new_uid;
use super::objects::modify_or_create;
use super::Error;
use crate::store::{Key, Store};

/// Who reports, with Kubernetes' names.
pub const SCHEDULER: &str = "default-scheduler";
pub const NODE_CONTROLLER: &str = "node-controller";
pub const REPLICASET_CONTROLLER: &str = "replicaset-controller";
pub const DEPLOYMENT_CONTROLLER: &str = "deployment-controller";

/// Where events go and what time they carry: any part with a store and a clock.
pub trait EventSink {
    fn event_store(&self) -> &dyn Store;
    fn event_clock(&self) -> &dyn Clock;
}

impl<T: EventSink + ?Sized> EventSink for std::sync::Arc<T> {
    fn event_store(&self) -> &dyn Store {
        self.as_ref().event_store()
    }
    fn event_clock(&self) -> &dyn Clock {
        self.as_ref().event_clock()
    }
}

/// A reference to an object for `involvedObject`.
pub fn reference(kind: &str, namespace: &str, name: &str, uid: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some(
            match kind {
                "Deployment" | "ReplicaSet" => "apps/v1",
                _ => "v1",
            }
            .into(),
        ),
        kind: Some(kind.into()),
        namespace: Some(namespace.to_string()).filter(|n| !n.is_empty()),
        name: Some(name.into()),
        uid: Some(uid.into()).filter(|u: &String| !u.is_empty()),
        ..Default::default()
    }
}

/// [`reference`] to a stored object by its metadata.
pub fn reference_to(kind: &str, meta: &ObjectMeta) -> ObjectReference {
    reference(
        kind,
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
        meta.uid.as_deref().unwrap_or_default(),
    )
}

/// Records (or counts again) an event about `involved`. `type_` is Normal or Warning.
pub async fn record(
    ctx: &(impl EventSink + ?Sized),
    involved: ObjectReference,
    type_: &str,
    reason: &str,
    message: &str,
    component: &str,
) -> Result<(), Error> {
    let object_name = involved.name.clone().unwrap_or_default();
    // Cluster-scoped objects' events live in "default", as in Kubernetes.
    let namespace = involved
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let digest = Sha256::digest(
        [
            involved.kind.as_deref().unwrap_or_default(),
            involved.uid.as_deref().unwrap_or_default(),
            reason,
            message,
        ]
        .join("\0"),
    );
    let name = format!("{object_name}.{}", &hex::encode(digest)[..16]);
    let now = ctx.event_clock().now();
    let initial = || Event {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            uid: Some(new_uid()),
            creation_timestamp: Some(Time(now)),
            ..Default::default()
        },
        involved_object: involved.clone(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some(type_.into()),
        first_timestamp: Some(Time(now)),
        count: Some(0),
        source: Some(EventSource {
            component: Some(component.into()),
            host: None,
        }),
        reporting_component: Some(component.into()),
        reporting_instance: Some(component.into()),
        ..Default::default()
    };
    let key = Key::new("Event", namespace.clone(), name.clone());
    modify_or_create::<Event, _, _>(ctx.event_store(), &key, initial, |event| {
        event.count = Some(event.count.unwrap_or(0) + 1);
        event.last_timestamp = Some(Time(now));
        Ok(true)
    })
    .await?;
    Ok(())
}

/// [`record`], logging instead of failing: an event is for people reading `describe`,
/// and a failure to write one must not fail the action it reports.
pub async fn record_or_warn(
    ctx: &(impl EventSink + ?Sized),
    involved: ObjectReference,
    type_: &str,
    reason: &str,
    message: &str,
    component: &str,
) {
    if let Err(err) = record(ctx, involved, type_, reason, message, component).await {
        tracing::warn!(reason, error = %err, "event not recorded");
    }
}
