//! The control plane's Kubernetes REST API through the kube crate: objects as JSON
//! values of any kind in the one table of kinds (`skiff_proto::kinds`), addressed as
//! `Api<DynamicObject>`, and the read-modify-write every client-side verb shares.

use std::path::Path;

use anyhow::Context;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams, PropagationPolicy,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;
use skiff_proto::auth::AdminConfig;

use super::ApiError;
use crate::args::Scope;
use crate::kinds::Kind;

/// How many times a read-modify-write is tried again after a 409 Conflict (another
/// writer changed the object between our read and our write), as kubectl's retries.
const CONFLICT_RETRIES: usize = 5;

/// An admin connection to the control plane.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    server: String,
}

impl Cluster {
    /// admin.conf from `path` with its server replaced by `server` when given. No request
    /// is made: the first one finds out whether the server answers.
    pub async fn connect(
        config: AdminConfig,
        path: &Path,
        server: Option<&str>,
    ) -> anyhow::Result<Cluster> {
        let mut config = config;
        if let Some(server) = server {
            config.server = server.to_string();
        }
        let read = || format!("{} as a kubeconfig", path.display());
        let file = Kubeconfig::from_yaml(&config.to_yaml()).with_context(read)?;
        let kube_config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .with_context(read)?;
        let client = kube::Client::try_from(kube_config).with_context(|| {
            format!(
                "cannot make a client for {} (credentials from {})",
                config.server,
                path.display()
            )
        })?;
        Ok(Cluster {
            client,
            server: config.server,
        })
    }

    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// Wraps a kube error as the user should read it.
    pub fn error(&self, error: kube::Error) -> ApiError {
        ApiError::from_kube(&self.server, error)
    }

    /// The kind's objects in `namespace` (`None`: every namespace, or a cluster-scoped kind).
    pub fn api(&self, kind: &Kind, namespace: Option<&str>) -> Api<DynamicObject> {
        let resource = resource(kind);
        match namespace.filter(|_| kind.namespaced) {
            Some(ns) => Api::namespaced_with(self.client(), ns, &resource),
            None => Api::all_with(self.client(), &resource),
        }
    }

    pub async fn get(&self, kind: &Kind, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let object = self
            .api(kind, Some(namespace))
            .get(name)
            .await
            .map_err(|e| self.error(e))?;
        Ok(to_value(kind, object))
    }

    /// The object, or `None` when it does not exist.
    pub async fn get_opt(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, ApiError> {
        match self.get(kind, namespace, name).await {
            Ok(object) => Ok(Some(object)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists the kind in `scope` (every namespace with `-A`), with a label selector.
    pub async fn list(
        &self,
        kind: &Kind,
        scope: &Scope,
        selector: Option<&str>,
    ) -> Result<Vec<Value>, ApiError> {
        let namespace = (!scope.all_namespaces).then_some(scope.namespace.as_str());
        let mut params = ListParams::default();
        if let Some(selector) = selector.filter(|s| !s.is_empty()) {
            params = params.labels(selector);
        }
        let list = self
            .api(kind, namespace)
            .list(&params)
            .await
            .map_err(|e| self.error(e))?;
        Ok(list.items.into_iter().map(|o| to_value(kind, o)).collect())
    }

    pub async fn create(
        &self,
        kind: &Kind,
        namespace: &str,
        object: &Value,
    ) -> Result<Value, ApiError> {
        let body = to_dynamic(object)?;
        let created = self
            .api(kind, Some(namespace))
            .create(&PostParams::default(), &body)
            .await
            .map_err(|e| self.error(e))?;
        Ok(to_value(kind, created))
    }

    /// PUT: the object replaces the stored one if its resourceVersion is still current.
    pub async fn replace(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        object: &Value,
    ) -> Result<Value, ApiError> {
        let body = to_dynamic(object)?;
        let replaced = self
            .api(kind, Some(namespace))
            .replace(name, &PostParams::default(), &body)
            .await
            .map_err(|e| self.error(e))?;
        Ok(to_value(kind, replaced))
    }

    /// DELETE with a propagation policy (`Background`, `Orphan`, `Foreground`) and a
    /// grace period, both as the server's defaults when `None`.
    pub async fn delete(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        propagation: Option<&str>,
        grace_period: Option<u32>,
    ) -> Result<(), ApiError> {
        let params = DeleteParams {
            propagation_policy: propagation.map(|p| match p {
                "Orphan" => PropagationPolicy::Orphan,
                "Foreground" => PropagationPolicy::Foreground,
                _ => PropagationPolicy::Background,
            }),
            grace_period_seconds: grace_period,
            ..DeleteParams::default()
        };
        self.api(kind, Some(namespace))
            .delete(name, &params)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Reads the object, lets `change` edit its JSON (returning whether it changed
    /// anything) and writes it back on the resourceVersion read, again from a fresh read
    /// when another writer got in between. `Ok(None)`: nothing to change.
    pub async fn edit<F>(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        mut change: F,
    ) -> anyhow::Result<Option<Value>>
    where
        F: FnMut(&mut Value) -> anyhow::Result<bool>,
    {
        for _ in 0..CONFLICT_RETRIES {
            let mut object = self.get(kind, namespace, name).await?;
            if !change(&mut object)? {
                return Ok(None);
            }
            match self.replace(kind, namespace, name, &object).await {
                Ok(written) => return Ok(Some(written)),
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!(
            "{} {name:?} kept changing while it was being edited; try again",
            kind.qualified_plural()
        )
    }
}

/// The kind as the kube crate addresses it.
pub fn resource(kind: &Kind) -> ApiResource {
    let api_version = match kind.group {
        "" => kind.version.to_string(),
        group => format!("{group}/{}", kind.version),
    };
    ApiResource {
        group: kind.group.into(),
        version: kind.version.into(),
        api_version,
        kind: kind.kind.into(),
        plural: kind.plural.into(),
    }
}

/// An object's JSON, with the `apiVersion` and `kind` a list's items leave out.
fn to_value(kind: &Kind, object: DynamicObject) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        let resource = resource(kind);
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(resource.api_version));
        map.entry("kind")
            .or_insert_with(|| Value::String(resource.kind));
    }
    value
}

fn to_dynamic(object: &Value) -> Result<DynamicObject, ApiError> {
    serde_json::from_value(object.clone()).map_err(|e| ApiError::Client {
        server: String::new(),
        error: kube::Error::SerdeError(e),
    })
}
