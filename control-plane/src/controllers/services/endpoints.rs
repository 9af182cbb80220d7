//! The Endpoints controller: keeps one Endpoints object per Service with a selector, equal
//! to what `subsets.rs` computes from the Service and its namespace's pods. A
//! [`Reconciler`] on the one runtime (`controllers/runtime.rs`), keyed by the Service:
//! - a Service event triggers that Service; a pod event the Services of its namespace
//!   whose selector matches the pod's labels now or before (the labels last seen are
//!   kept; a pod not seen before triggers every Service of its namespace);
//! - `reconcile(service)` reads the Service and its namespace's pods from the store,
//!   computes the wanted subsets, compares with the stored Endpoints and writes only a
//!   difference, with a compare-and-swap on what it read;
//! - at start, after a lost watch and every resync, every Service and every Endpoints
//!   object (one left behind by a Service deleted while the controller was down) is
//!   reconciled; a failure is retried with the runtime's backoff.
//!
//! Services without a selector are left alone: their Endpoints are the user's. The
//! Endpoints of a deleted Service go with it when this controller made them (annotation
//! [`MANAGED_BY`]). Pods left out because a named targetPort is missing are reported as a
//! Warning event on the Service (once per change of the reason, not per reconcile).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use skiff_proto::model::map_selects;
use tracing::{debug, info, warn};

use super::subsets::{compute, Computed};
use crate::controllers::nodes::NodeContext;
use crate::controllers::runtime::{unique, Action, Controller, Reconciler, RuntimeConfig};
use crate::core::{events, Error};
use crate::resources::finalizers;
use crate::store::{Event, EventType, Key, Store, StoreError, Stored};

/// Marks Endpoints this controller owns.
pub const MANAGED_BY: &str = "skiff.dev/managed-by";
const CONTROLLER: &str = "endpoint-controller";

type ObjectKey = (String, String);
type Labels = BTreeMap<String, String>;
/// A pod's labels in one allocation per label, in key order.
type PackedLabels = Box<[(Box<str>, Box<str>)]>;

fn pack(labels: &Labels) -> PackedLabels {
    labels
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect()
}

fn unpack(packed: &PackedLabels) -> Labels {
    packed
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub struct EndpointsController {
    ctx: Arc<NodeContext>,
    /// The labels each pod had at its last event, to find the Services that selected it
    /// before a change. Packed: a map per pod was ~700 bytes of tree nodes, 3.5 MB of
    /// the control plane's live memory with 5,000 pods.
    pod_labels: Mutex<HashMap<ObjectKey, PackedLabels>>,
    /// The last reasons reported per Service, so an event is written once per change.
    reported: Mutex<HashMap<ObjectKey, Vec<String>>>,
}

impl EndpointsController {
    pub fn new(ctx: Arc<NodeContext>) -> Self {
        EndpointsController {
            ctx,
            pod_labels: Mutex::new(HashMap::new()),
            reported: Mutex::new(HashMap::new()),
        }
    }

    fn store(&self) -> &dyn Store {
        self.ctx.cp.store.as_ref()
    }

    /// Runs on the reconcile runtime until aborted.
    pub async fn run(self) {
        let store = self.ctx.cp.store.clone();
        Controller::new(Arc::new(self), store, RuntimeConfig::default())
            .run()
            .await;
    }

    /// The Services of `namespace` that select a pod with `labels` (any of them: `None`).
    async fn selecting(&self, namespace: &str, labels: &[Option<&Labels>]) -> Vec<Key> {
        let Ok((services, _)) = self.store().list("Service", Some(namespace)).await else {
            return Vec::new();
        };
        services
            .iter()
            .filter_map(decode::<Service>)
            .filter(|(_, service)| {
                labels.iter().any(|labels| match labels {
                    Some(labels) => selects(service, labels),
                    None => true,
                })
            })
            .map(|((namespace, name), _)| Key::new("Service", namespace, name))
            .collect()
    }
}

impl Reconciler for EndpointsController {
    const NAME: &'static str = CONTROLLER;

    fn kinds(&self) -> Vec<&'static str> {
        vec!["Service", "Endpoints"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["Service", "Pod"]
    }

    fn primary_key(&self, listed: &Key) -> Key {
        Key::new("Service", listed.namespace.clone(), listed.name.clone())
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        let stored = &event.object;
        if stored.key.kind == "Service" {
            return vec![stored.key.clone()];
        }
        let key = (stored.key.namespace.clone(), stored.key.name.clone());
        let after = match event.kind {
            EventType::Deleted => None,
            _ => decode::<Pod>(stored).map(|(_, pod)| pod.metadata.labels.unwrap_or_default()),
        };
        let before = {
            let mut seen = self.pod_labels.lock().unwrap_or_else(|p| p.into_inner());
            let before = seen.remove(&key).map(|packed| unpack(&packed));
            if let Some(after) = &after {
                seen.insert(key.clone(), pack(after));
            }
            before
        };
        // A pod not seen before may have been selected by any Service of its namespace.
        let candidates = match (&before, &after) {
            (None, _) => vec![None],
            (Some(before), after) => vec![Some(before), after.as_ref()],
        };
        unique(self.selecting(&key.0, &candidates).await)
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let object_key = (key.namespace.clone(), key.name.clone());
        self.sync(&object_key).await?;
        Ok(Action::AwaitChange)
    }
}

impl EndpointsController {
    /// Makes the stored Endpoints of `key` match its Service and pods.
    async fn sync(&self, key: &ObjectKey) -> Result<(), Error> {
        let store_key = Key::new("Endpoints", key.0.clone(), key.1.clone());
        let stored = self.store().get(&store_key).await?;
        let service_key = Key::new("Service", key.0.clone(), key.1.clone());
        let service = self.store().get(&service_key).await?;
        let Some((_, service)) = service.as_ref().and_then(decode::<Service>) else {
            self.reported
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(key);
            if let Some(stored) = stored.filter(is_managed) {
                let clock = self.ctx.clock.as_ref();
                if finalizers::delete_read(self.store(), clock, &stored)
                    .await?
                    .is_some_and(|d| d.acted())
                {
                    info!("endpoints deleted");
                }
            }
            return Ok(());
        };
        let has_selector = service
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|s| !s.is_empty());
        let external =
            service.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName");
        if !has_selector || external {
            return Ok(());
        }
        let (pods, _) = self.store().list("Pod", Some(&key.0)).await?;
        let pods: Vec<Pod> = pods
            .iter()
            .filter_map(decode::<Pod>)
            .map(|(_, pod)| pod)
            .collect();
        let computed = compute(&service, &pods);
        self.report(key, &service, &computed).await;
        let wanted = endpoints_of(&service, computed);
        let bytes = serde_json::to_vec(&wanted).expect("Endpoints serialize");
        match stored {
            None => {
                let uid = crate::core::ids::new_uid();
                let mut value = serde_json::to_value(&wanted).expect("Endpoints serialize");
                value["metadata"]["uid"] = uid.clone().into();
                value["metadata"]["creationTimestamp"] =
                    self.ctx.clock.now_seconds().to_string().into();
                let bytes = serde_json::to_vec(&value).expect("a JSON value serializes");
                match self.store().create(store_key, uid, bytes).await {
                    Ok(_) => info!(
                        subsets = wanted.subsets.as_ref().map_or(0, Vec::len),
                        "endpoints created"
                    ),
                    Err(StoreError::AlreadyExists(k)) => {
                        return Err(StoreError::Conflict {
                            key: k,
                            expected: 0,
                            actual: 0,
                        }
                        .into())
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Some(stored) => {
                let Some((_, current)) = decode::<Endpoints>(&stored) else {
                    return Err(
                        StoreError::Backend(format!("{} does not decode", stored.key)).into(),
                    );
                };
                if current.subsets.as_ref().filter(|s| !s.is_empty()) == wanted.subsets.as_ref()
                    && current.metadata.labels == wanted.metadata.labels
                    && is_managed(&stored)
                {
                    debug!("endpoints unchanged");
                    return Ok(());
                }
                let mut value: serde_json::Value =
                    serde_json::from_slice(&stored.json).unwrap_or_default();
                let new: serde_json::Value = serde_json::from_slice(&bytes).expect("just made");
                set_or_remove(&mut value, "subsets", &new["subsets"]);
                let meta = &mut value["metadata"];
                set_or_remove(meta, "labels", &new["metadata"]["labels"]);
                set_or_remove(meta, "annotations", &new["metadata"]["annotations"]);
                let bytes = serde_json::to_vec(&value).expect("a JSON value serializes");
                self.store()
                    .update(store_key, bytes, Some(stored.revision))
                    .await?;
                info!(
                    subsets = wanted.subsets.as_ref().map_or(0, Vec::len),
                    "endpoints updated"
                );
            }
        }
        Ok(())
    }

    /// A Warning event on the Service when the set of left-out pods changes.
    async fn report(&self, key: &ObjectKey, service: &Service, computed: &Computed) {
        let previous = {
            let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
            let previous = reported.get(key).cloned().unwrap_or_default();
            if previous == computed.left_out {
                return;
            }
            reported.insert(key.clone(), computed.left_out.clone());
            previous
        };
        for reason in computed.left_out.iter().filter(|r| !previous.contains(r)) {
            warn!(reason = %reason, "pod left out of the endpoints");
            let involved = events::reference(
                "Service",
                &key.0,
                &key.1,
                service.metadata.uid.as_deref().unwrap_or_default(),
            );
            let message = format!("{reason}: left out of the endpoints");
            events::record_or_warn(
                &self.ctx,
                involved,
                "Warning",
                "FailedToResolveTargetPort",
                &message,
                CONTROLLER,
            )
            .await;
        }
    }
}

/// Sets `field` of `object` to `value`, or removes it when `value` is null.
fn set_or_remove(object: &mut serde_json::Value, field: &str, value: &serde_json::Value) {
    let Some(object) = object.as_object_mut() else {
        return;
    };
    if value.is_null() {
        object.remove(field);
    } else {
        object.insert(field.to_string(), value.clone());
    }
}

fn decode<T>(stored: &Stored) -> Option<(ObjectKey, T)>
where
    T: serde::de::DeserializeOwned + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let object: T = crate::store::decode(stored).ok()?;
    Some((
        (stored.key.namespace.clone(), stored.key.name.clone()),
        object,
    ))
}

fn is_managed(stored: &Stored) -> bool {
    serde_json::from_slice::<serde_json::Value>(&stored.json)
        .ok()
        .and_then(|v| {
            v.pointer("/metadata/annotations")?
                .get(MANAGED_BY)?
                .as_str()
                .map(str::to_string)
        })
        .as_deref()
        == Some(CONTROLLER)
}

fn selects(service: &Service, labels: &Labels) -> bool {
    let Some(selector) = service
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
    else {
        return false;
    };
    map_selects(selector, labels)
}

/// The wanted Endpoints object: the Service's name, namespace and labels, the subsets.
pub fn endpoints_of(service: &Service, computed: Computed) -> Endpoints {
    Endpoints {
        metadata: ObjectMeta {
            name: service.metadata.name.clone(),
            namespace: service.metadata.namespace.clone(),
            labels: service.metadata.labels.clone(),
            annotations: Some(BTreeMap::from([(
                MANAGED_BY.to_string(),
                CONTROLLER.to_string(),
            )])),
            ..Default::default()
        },
        subsets: Some(computed.subsets).filter(|s| !s.is_empty()),
    }
}
