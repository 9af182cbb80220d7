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

/// Repeats within this long fold into one Event, as client-go's event correlator does;
/// a repeat after a quiet spell starts the count again.
pub const FOLD_WINDOW: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// One occurrence (or `count` of them) of something worth an Event.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub involved: ObjectReference,
    /// Normal or Warning.
    pub type_: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
    /// `source.component` and `reportingComponent`.
    pub component: &'a str,
    /// `source.host` and `reportingInstance` (a node's name for the kubelet's events).
    pub host: Option<&'a str>,
    /// Occurrences this report stands for (at least 1).
    pub count: i32,
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
    let report = Report {
        involved,
        type_,
        reason,
        message,
        component,
        host: None,
        count: 1,
    };
    record_report(ctx, &report).await
}

/// [`record`] with everything a reporter may say: the same involved object (and field
/// path), type, reason and message seen within [`FOLD_WINDOW`] bumps `count` and
/// `lastTimestamp` of the stored Event.
pub async fn record_report(ctx: &(impl EventSink + ?Sized), r: &Report<'_>) -> Result<(), Error> {
    let involved = &r.involved;
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
            involved.field_path.as_deref().unwrap_or_default(),
            r.type_,
            r.reason,
            r.message,
        ]
        .join("\0"),
    );
    let name = format!("{object_name}.{}", &hex::encode(digest)[..16]);
    let now = ctx.event_clock().now();
    let count = r.count.max(1);
    let instance = r.host.unwrap_or(r.component);
    let initial = || Event {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            uid: Some(new_uid()),
            creation_timestamp: Some(Time(now)),
            ..Default::default()
        },
        involved_object: involved.clone(),
        reason: Some(r.reason.into()),
        message: Some(r.message.into()),
        type_: Some(r.type_.into()),
        first_timestamp: Some(Time(now)),
        count: Some(0),
        source: Some(EventSource {
            component: Some(r.component.into()),
            host: r.host.map(Into::into),
        }),
        reporting_component: Some(r.component.into()),
        reporting_instance: Some(instance.into()),
        ..Default::default()
    };
    let key = Key::new("Event", namespace.clone(), name.clone());
    modify_or_create::<Event, _, _>(ctx.event_store(), &key, initial, |event| {
        let last = event
            .last_timestamp
            .as_ref()
            .or(event.first_timestamp.as_ref());
        let quiet = last.is_some_and(|t| now.duration_since(t.0).unsigned_abs() > FOLD_WINDOW);
        if quiet {
            event.count = Some(0);
            event.first_timestamp = Some(Time(now));
        }
        event.count = Some(event.count.unwrap_or(0) + count);
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
