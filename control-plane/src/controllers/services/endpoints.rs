//! The Endpoints controller: keeps one Endpoints object per Service with a selector, equal
//! to what `subsets.rs` computes from the Service and its namespace's pods.
//!
//! Driven by watches, never polling: it lists Services and Pods once, watches both from
//! the lists' revisions, and reconciles the Services an event can concern (a Service
//! event: that Service; a pod event: the Services of its namespace whose selector matches
//! the pod's labels before or after). Contract (docs/architecture.md, Control plane layers):
//! - `reconcile(service)` is idempotent: it computes the wanted subsets from the cached
//!   objects, compares with the stored Endpoints and writes only a difference, with a
//!   compare-and-swap on what it read;
//! - a failed reconcile is retried with backoff (1 s doubling to 60 s); a broken watch
//!   (compaction, store trouble) relists and starts over;
//! - one span per reconcile.
//!
//! Services without a selector are left alone: their Endpoints are the user's. The
//! Endpoints of a deleted Service go with it when this controller made them (annotation
//! [`MANAGED_BY`]). Pods left out because a named targetPort is missing are reported as a
//! Warning event on the Service (once per change of the reason, not per reconcile).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use skiff_proto::model::map_selects;
use tracing::{debug, info, info_span, warn, Instrument};

use super::subsets::{compute, Computed};
use crate::controllers::nodes::NodeContext;
use crate::core::events;
use crate::store::{EventType, Key, Store, StoreError, Stored};

/// Marks Endpoints this controller owns.
pub const MANAGED_BY: &str = "skiff.dev/managed-by";
const CONTROLLER: &str = "endpoint-controller";
const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

type ObjectKey = (String, String);

pub struct EndpointsController {
    ctx: Arc<NodeContext>,
    services: HashMap<ObjectKey, Service>,
    pods: HashMap<ObjectKey, Pod>,
    /// The last reasons reported per Service, so an event is written once per change.
    reported: HashMap<ObjectKey, Vec<String>>,
    /// Services to retry, with their attempt count.
    failed: BTreeMap<ObjectKey, u32>,
}

impl EndpointsController {
    pub fn new(ctx: Arc<NodeContext>) -> Self {
        EndpointsController {
            ctx,
            services: HashMap::new(),
            pods: HashMap::new(),
            reported: HashMap::new(),
            failed: BTreeMap::new(),
        }
    }

    fn store(&self) -> &dyn Store {
        self.ctx.cp.store.as_ref()
    }

    /// Runs until aborted, relisting after a broken watch.
    pub async fn run(mut self) {
        let mut delay = BACKOFF_INITIAL;
        loop {
            match self.run_once().await {
                Ok(()) => delay = BACKOFF_INITIAL,
                Err(err) => {
                    warn!(error = %err, "endpoints controller: watch broken; relisting");
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(BACKOFF_MAX);
        }
    }

    async fn run_once(&mut self) -> Result<(), StoreError> {
        let store = self.ctx.cp.store.clone();
        let (services, services_at) = store.list("Service", None).await?;
        let (pods, pods_at) = store.list("Pod", None).await?;
        self.services = services.iter().filter_map(decode::<Service>).collect();
        self.pods = pods.iter().filter_map(decode::<Pod>).collect();
        let mut dirty: BTreeSet<ObjectKey> = self.services.keys().cloned().collect();
        // Endpoints left behind by a Service deleted while the controller was down.
        let (endpoints, _) = store.list("Endpoints", None).await?;
        for stored in &endpoints {
            let key = (stored.key.namespace.clone(), stored.key.name.clone());
            if !self.services.contains_key(&key) && is_managed(stored) {
                dirty.insert(key);
            }
        }
        let mut service_events = store.watch(Some("Service"), services_at).await?;
        let mut pod_events = store.watch(Some("Pod"), pods_at).await?;
        loop {
            for key in std::mem::take(&mut dirty) {
                self.reconcile_and_track(&key).await;
            }
            let retry_in = self
                .failed
                .values()
                .map(|attempts| backoff(*attempts))
                .min();
            tokio::select! {
                event = service_events.next() => {
                    let event = event.ok_or_else(ended)??;
                    dirty.insert(self.on_service(event.kind, &event.object));
                }
                event = pod_events.next() => {
                    let event = event.ok_or_else(ended)??;
                    dirty.extend(self.on_pod(event.kind, &event.object));
                }
                _ = tokio::time::sleep(retry_in.unwrap_or(BACKOFF_MAX)), if retry_in.is_some() => {
                    dirty.extend(self.failed.keys().cloned());
                }
            }
        }
    }

    fn on_service(&mut self, kind: EventType, stored: &Stored) -> ObjectKey {
        let key = (stored.key.namespace.clone(), stored.key.name.clone());
        match (kind, decode::<Service>(stored)) {
            (EventType::Deleted, _) | (_, None) => {
                self.services.remove(&key);
            }
            (_, Some((_, service))) => {
                self.services.insert(key.clone(), service);
            }
        }
        key
    }

    /// The Services a pod change can concern: those whose selector matches the pod's labels
    /// before or after.
    fn on_pod(&mut self, kind: EventType, stored: &Stored) -> Vec<ObjectKey> {
        let key = (stored.key.namespace.clone(), stored.key.name.clone());
        let before = self.pods.remove(&key);
        let after = match kind {
            EventType::Deleted => None,
            _ => decode::<Pod>(stored).map(|(_, pod)| pod),
        };
        let concerned = self
            .services
            .iter()
            .filter(|((namespace, _), service)| {
                *namespace == key.0
                    && [before.as_ref(), after.as_ref()]
                        .into_iter()
                        .flatten()
                        .any(|pod| selects(service, pod))
            })
            .map(|(k, _)| k.clone())
            .collect();
        if let Some(pod) = after {
            self.pods.insert(key, pod);
        }
        concerned
    }

    async fn reconcile_and_track(&mut self, key: &ObjectKey) {
        let span = info_span!("reconcile", controller = CONTROLLER, service = %format!("{}/{}", key.0, key.1));
        match self.reconcile(key).instrument(span.clone()).await {
            Ok(()) => {
                self.failed.remove(key);
            }
            Err(err) => {
                let attempts = self.failed.entry(key.clone()).or_insert(0);
                *attempts += 1;
                warn!(parent: &span, error = %err, attempts = *attempts, "endpoints not written; will retry");
            }
        }
    }

    /// Makes the stored Endpoints of `key` match its Service and pods.
    async fn reconcile(&mut self, key: &ObjectKey) -> Result<(), StoreError> {
        let store_key = Key::new("Endpoints", key.0.clone(), key.1.clone());
        let stored = self.store().get(&store_key).await?;
        let Some(service) = self.services.get(key).cloned() else {
            self.reported.remove(key);
            if let Some(stored) = stored.filter(is_managed) {
                match self.store().delete(&store_key, Some(stored.revision)).await {
                    Ok(_) | Err(StoreError::NotFound(_)) => info!("endpoints deleted"),
                    Err(e) => return Err(e),
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
        let pods: Vec<Pod> = self
            .pods
            .iter()
            .filter(|((namespace, _), _)| *namespace == key.0)
            .map(|(_, pod)| pod.clone())
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
                        })
                    }
                    Err(e) => return Err(e),
                }
            }
            Some(stored) => {
                let Some((_, current)) = decode::<Endpoints>(&stored) else {
                    return Err(StoreError::Backend(format!(
                        "{} does not decode",
                        stored.key
                    )));
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
    async fn report(&mut self, key: &ObjectKey, service: &Service, computed: &Computed) {
        let previous = self.reported.get(key).cloned().unwrap_or_default();
        if previous == computed.left_out {
            return;
        }
        self.reported.insert(key.clone(), computed.left_out.clone());
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

fn ended() -> StoreError {
    StoreError::Backend("the watch ended".into())
}

fn backoff(attempts: u32) -> Duration {
    BACKOFF_INITIAL
        .saturating_mul(1 << attempts.saturating_sub(1).min(6))
        .min(BACKOFF_MAX)
}

fn decode<T>(stored: &Stored) -> Option<(ObjectKey, T)>
where
    T: serde::de::DeserializeOwned + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let mut object: T = serde_json::from_slice(&stored.json).ok()?;
    object.metadata_mut().uid = Some(stored.uid.clone());
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

fn selects(service: &Service, pod: &Pod) -> bool {
    let Some(selector) = service
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
    else {
        return false;
    };
    map_selects(
        selector,
        pod.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()),
    )
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
