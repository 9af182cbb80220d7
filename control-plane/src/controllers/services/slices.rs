//! The EndpointSlice controller: mirrors each Service's Endpoints (`endpoints.rs`) into
//! EndpointSlices as Kubernetes' EndpointSlice controller lays them out, so clients that
//! read `discovery.k8s.io/v1` (kubectl, kube-proxy-like tools) see the same backends:
//! one slice per port set (an Endpoints subset), named `<service>-<suffix>`, labelled
//! `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`, owned by
//! the Service, addressType IPv4, each endpoint with its conditions (ready, serving,
//! terminating), nodeName and targetRef. A Service with a selector and no endpoints gets
//! one empty slice, as in Kubernetes. Users may only read slices
//! (`resources/read_only.rs`); this controller writes them to the store itself.
//!
//! A [`Reconciler`] keyed by the Service; a Service's or an Endpoints' event triggers it.
//! A slice left by a Service deleted while the controller was down goes through the
//! garbage collector (its owner reference).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointSubset, Endpoints, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
use serde_json::{json, Value};
use tracing::info;

use crate::controllers::runtime::{Action, Controller, Reconciler, RuntimeConfig};
use crate::core::{Clock, Error};
use crate::resources::{finalizers, generation};
use crate::store::{Event, Key, Store, Stored};

/// The label naming a slice's Service.
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label naming the controller that manages a slice.
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// Kubernetes' EndpointSlice controller's name, which clients look for.
pub const CONTROLLER: &str = "endpointslice-controller.k8s.io";

pub struct EndpointSliceController {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl EndpointSliceController {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        EndpointSliceController { store, clock }
    }

    /// Runs on the reconcile runtime until aborted.
    pub async fn run(self) {
        let store = self.store.clone();
        Controller::new(Arc::new(self), store, RuntimeConfig::default())
            .run()
            .await;
    }
}

impl Reconciler for EndpointSliceController {
    const NAME: &'static str = "endpointslice-controller";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["Service"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["Service", "Endpoints"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        let key = &event.object.key;
        vec![Key::new("Service", key.namespace.clone(), key.name.clone())]
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        self.sync(key).await?;
        Ok(Action::AwaitChange)
    }
}

impl EndpointSliceController {
    async fn sync(&self, key: &Key) -> Result<(), Error> {
        let store = self.store.as_ref();
        let (listed, _) = store.list("EndpointSlice", Some(&key.namespace)).await?;
        let mut existing: Vec<(Stored, Value)> = listed
            .into_iter()
            .filter_map(|s| {
                let value: Value = serde_json::from_slice(&s.json).ok()?;
                let labels = value.pointer("/metadata/labels")?;
                (labels.get(SERVICE_NAME)? == key.name.as_str()
                    && labels.get(MANAGED_BY)? == CONTROLLER)
                    .then_some((s, value))
            })
            .collect();
        let service = match store.get(key).await? {
            Some(stored) => Some((crate::store::decode::<Service>(&stored)?, stored.uid)),
            None => None,
        };
        let wanted = match &service {
            None => Vec::new(),
            Some((service, _)) => {
                let endpoints_key = Key::new("Endpoints", key.namespace.clone(), key.name.clone());
                let endpoints = match store.get(&endpoints_key).await? {
                    Some(stored) => Some(crate::store::decode::<Endpoints>(&stored)?),
                    None => None,
                };
                wanted_slices(service, endpoints.as_ref())
            }
        };
        for content in wanted {
            let (service, uid) = service.as_ref().expect("slices are wanted for a Service");
            let metadata = slice_metadata(key, service, uid);
            let reused = existing
                .iter()
                .position(|(_, v)| v.get("ports") == content.get("ports"))
                .or_else(|| (!existing.is_empty()).then_some(0));
            match reused.map(|i| existing.remove(i)) {
                Some((stored, current)) => self.update(stored, current, metadata, content).await?,
                None => self.create(key, metadata, content).await?,
            }
        }
        for (stored, _) in existing {
            let deleted = finalizers::delete_read(store, self.clock.as_ref(), &stored).await?;
            if deleted.is_some_and(|d| d.acted()) {
                info!(slice = %stored.key, "endpointslice deleted");
            }
        }
        Ok(())
    }

    async fn create(&self, service: &Key, metadata: Value, content: Value) -> Result<(), Error> {
        let uid = crate::core::ids::new_uid();
        let name = format!("{}-{}", service.name, crate::core::ids::random_suffix());
        let mut value = content;
        value["metadata"] = metadata;
        let meta = value["metadata"]
            .as_object_mut()
            .expect("metadata is an object");
        meta.insert("name".into(), Value::from(name.as_str()));
        meta.insert(
            "generateName".into(),
            Value::from(format!("{}-", service.name)),
        );
        meta.insert("uid".into(), Value::from(uid.as_str()));
        meta.insert(
            "creationTimestamp".into(),
            Value::from(self.clock.now_seconds().to_string()),
        );
        generation::initialise("EndpointSlice", &mut value);
        let key = Key::new("EndpointSlice", service.namespace.clone(), name);
        let bytes = serde_json::to_vec(&value).expect("a JSON value serializes");
        self.store.create(key.clone(), uid, bytes).await?;
        info!(slice = %key, "endpointslice created");
        Ok(())
    }

    async fn update(
        &self,
        stored: Stored,
        current: Value,
        metadata: Value,
        content: Value,
    ) -> Result<(), Error> {
        let mut value = current.clone();
        for field in ["addressType", "endpoints", "ports"] {
            value[field] = content[field].clone();
        }
        let meta = value["metadata"]
            .as_object_mut()
            .expect("stored with metadata");
        for field in ["labels", "ownerReferences"] {
            meta.insert(field.into(), metadata[field].clone());
        }
        if value == current {
            return Ok(());
        }
        if generation::bumps("EndpointSlice", &current, &value) {
            let next = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                + 1;
            value["metadata"]["generation"] = Value::from(next);
        }
        let bytes = serde_json::to_vec(&value).expect("a JSON value serializes");
        self.store
            .update(stored.key.clone(), bytes, Some(stored.revision))
            .await?;
        info!(slice = %stored.key, "endpointslice updated");
        Ok(())
    }
}

/// Labels (the Service's own, then the two the controller sets) and the owner reference
/// of the Service's slices.
fn slice_metadata(key: &Key, service: &Service, uid: &str) -> Value {
    let mut labels: BTreeMap<String, String> = service.metadata.labels.clone().unwrap_or_default();
    labels.insert(SERVICE_NAME.into(), key.name.clone());
    labels.insert(MANAGED_BY.into(), CONTROLLER.into());
    json!({
        "namespace": key.namespace,
        "labels": labels,
        "ownerReferences": [{
            "apiVersion": "v1",
            "kind": "Service",
            "name": key.name,
            "uid": uid,
            "controller": true,
            "blockOwnerDeletion": true,
        }],
    })
}

/// The slices' contents (`addressType`, `endpoints`, `ports`): one per subset; one empty
/// slice for a Service with a selector and no endpoints; none for a Service without a
/// selector and without Endpoints.
pub fn wanted_slices(service: &Service, endpoints: Option<&Endpoints>) -> Vec<Value> {
    let subsets: &[EndpointSubset] = endpoints
        .and_then(|e| e.subsets.as_deref())
        .unwrap_or_default();
    let has_selector = service
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|s| !s.is_empty());
    if subsets.is_empty() {
        return if has_selector || endpoints.is_some() {
            vec![
                json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4", "endpoints": [], "ports": null}),
            ]
        } else {
            Vec::new()
        };
    }
    subsets.iter().map(slice_of).collect()
}

fn slice_of(subset: &EndpointSubset) -> Value {
    let ready = subset.addresses.iter().flatten().map(|a| endpoint(a, true));
    let not_ready = subset
        .not_ready_addresses
        .iter()
        .flatten()
        .map(|a| endpoint(a, false));
    let endpoints: Vec<Endpoint> = ready.chain(not_ready).collect();
    let ports: Vec<EndpointPort> = subset
        .ports
        .iter()
        .flatten()
        .map(|p| EndpointPort {
            name: Some(p.name.clone().unwrap_or_default()),
            port: Some(p.port),
            protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
            app_protocol: p.app_protocol.clone(),
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    })
}

/// An Endpoints address as a slice's endpoint. Endpoints leave terminating pods out, so
/// no endpoint mirrored from them is terminating.
fn endpoint(address: &EndpointAddress, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![address.ip.clone()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(ready),
            terminating: Some(false),
        }),
        hostname: address.hostname.clone(),
        node_name: address.node_name.clone(),
        target_ref: address.target_ref.clone(),
        ..Default::default()
    }
}
