//! What every namespace holds for its pods' API access, as kube-controller-manager's
//! serviceaccounts controller and root-ca-cert-publisher keep it: the `default`
//! ServiceAccount and the `kube-root-ca.crt` ConfigMap (`ca.crt`: the cluster CA), made
//! when the namespace appears and put back when deleted (the ConfigMap also when
//! changed), never in a namespace being deleted. Keyed by namespace; triggered by the
//! namespace's events and by any event of those two objects. Pods that come first get
//! `default` from the admission (`resources/service_accounts/admission.rs`).

pub(crate) mod ensure;
pub mod kubernetes_service;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tracing::info;

use super::runtime::{Action, Controller, Reconciler, RuntimeConfig};
use super::ControllerContext;
use crate::core::{ControlPlane, Error};
use crate::resources::objects::parse;
use crate::resources::service_accounts::{
    ensure_default_account, DEFAULT_ACCOUNT, ROOT_CA_CONFIGMAP,
};
use crate::store::{Event, Key};
use ensure::{ensure, Ensured};

/// The ConfigMap's description, kube's words.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

pub struct ServiceAccountsController {
    ctx: Arc<ControllerContext>,
    ca_pem: String,
}

impl ServiceAccountsController {
    pub fn new(ctx: Arc<ControllerContext>, ca_pem: String) -> Self {
        ServiceAccountsController { ctx, ca_pem }
    }
}

/// Starts the controller over `cp`'s store with its CA.
pub fn spawn(cp: &ControlPlane) -> JoinHandle<()> {
    let ctx = ControllerContext::new(cp.store.clone());
    run(
        cp,
        ServiceAccountsController::new(ctx, cp.pki.ca_pem().to_string()),
    )
}

/// Runs `reconciler` over `cp`'s store with the default pacing.
fn run<R: Reconciler>(cp: &ControlPlane, reconciler: R) -> JoinHandle<()> {
    let controller = Controller::new(
        Arc::new(reconciler),
        cp.store.clone(),
        RuntimeConfig::default(),
    );
    tokio::spawn(controller.run())
}

impl Reconciler for ServiceAccountsController {
    const NAME: &'static str = "service-accounts";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["Namespace"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["Namespace", "ServiceAccount", "ConfigMap"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        let key = &event.object.key;
        let ours = match key.kind.as_str() {
            "Namespace" => return vec![key.clone()],
            "ServiceAccount" => key.name == DEFAULT_ACCOUNT,
            "ConfigMap" => key.name == ROOT_CA_CONFIGMAP,
            _ => false,
        };
        if ours {
            vec![Key::new("Namespace", "", &key.namespace)]
        } else {
            Vec::new()
        }
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let store = self.ctx.store.as_ref();
        let Some(stored) = store.get(key).await? else {
            return Ok(Action::AwaitChange);
        };
        let namespace = parse(&stored)?;
        let terminating = namespace["metadata"]["deletionTimestamp"].is_string()
            || namespace["status"]["phase"] == "Terminating";
        if terminating {
            return Ok(Action::AwaitChange);
        }
        let now = self.ctx.clock.now_seconds();
        ensure_default_account(store, now, &key.name).await?;
        let config_map = Key::new("ConfigMap", &key.name, ROOT_CA_CONFIGMAP);
        let created = now.to_string();
        let done = ensure(store, &config_map, |current| {
            root_ca(current, &key.name, &self.ca_pem, &created)
        })
        .await?;
        if done != Ensured::Unchanged {
            info!(namespace = %key.name, action = ?done, "root CA config map written");
        }
        Ok(Action::AwaitChange)
    }
}

/// The `kube-root-ca.crt` ConfigMap of `namespace` (new, or `current` corrected), or
/// `None` when `current` is right: its data exactly `ca.crt`, and a description.
fn root_ca(current: Option<&Value>, namespace: &str, ca_pem: &str, now: &str) -> Option<Value> {
    let data = json!({"ca.crt": ca_pem});
    let Some(current) = current else {
        return Some(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": ROOT_CA_CONFIGMAP,
                "namespace": namespace,
                "creationTimestamp": now,
                "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION},
            },
            "data": data,
        }));
    };
    let described = current["metadata"]["annotations"][DESCRIPTION_ANNOTATION]
        .as_str()
        .is_some_and(|d| !d.is_empty());
    if current["data"] == data && described {
        return None;
    }
    let mut fixed = current.clone();
    fixed["data"] = data;
    if let Some(object) = fixed.as_object_mut() {
        object.remove("binaryData");
    }
    if !described {
        let annotations = &mut fixed["metadata"]["annotations"];
        if !annotations.is_object() {
            *annotations = json!({});
        }
        annotations[DESCRIPTION_ANNOTATION] = Value::from(DESCRIPTION);
    }
    Some(fixed)
}
