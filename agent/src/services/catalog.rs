//! What pods' service environment variables need of the node's Services (the kubelet's
//! service lister): each Service's cluster IP and ports, kept once per node beside the
//! proxy's copy and fed by the same syncer (`sync.rs`).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Service;

use super::env_vars::{self, Link, LinkPort};
use super::watch::ObjectKey;

/// The kubelet's words when a container would start before the first list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("services have not yet been read at least once, cannot construct envvars")]
pub struct NotListed;

#[derive(Default)]
struct Inner {
    /// A joined node waits for the first list; a standalone one has no Services.
    watched: bool,
    listed: bool,
    links: BTreeMap<ObjectKey, Link>,
}

/// A cheap handle; every clone sees the same Services.
#[derive(Clone, Default)]
pub struct ServiceCatalog(Arc<RwLock<Inner>>);

impl std::fmt::Debug for ServiceCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCatalog").finish_non_exhaustive()
    }
}

impl ServiceCatalog {
    /// A joined node's: empty, and not listed until the watch's first list arrives.
    pub fn watched() -> Self {
        let catalog = Self::default();
        catalog.write().watched = true;
        catalog
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The complete set, after a list.
    pub fn replace<'a>(&self, all: impl IntoIterator<Item = (&'a ObjectKey, &'a Service)>) {
        let links = all
            .into_iter()
            .filter_map(|(k, s)| Some((k.clone(), link(s)?)))
            .collect();
        let mut inner = self.write();
        inner.links = links;
        inner.listed = true;
    }

    pub fn upsert(&self, key: &ObjectKey, service: &Service) {
        let mut inner = self.write();
        match link(service) {
            Some(l) => inner.links.insert(key.clone(), l),
            None => inner.links.remove(key),
        };
    }

    pub fn remove(&self, key: &ObjectKey) {
        self.write().links.remove(key);
    }

    /// Kubelet's `getServiceEnvVarMap`: the `kubernetes` Service of `default` always,
    /// and with `enableServiceLinks` every Service of `namespace` (which wins a name
    /// clash with `kubernetes`), as variables sorted by name.
    pub fn env_for(
        &self,
        namespace: &str,
        enable_service_links: bool,
    ) -> Result<Vec<(String, String)>, NotListed> {
        let inner = self.0.read().unwrap_or_else(|e| e.into_inner());
        if inner.watched && !inner.listed {
            return Err(NotListed);
        }
        let mut chosen: BTreeMap<&str, &Link> = BTreeMap::new();
        if let Some(master) = inner.links.get(&("default".into(), "kubernetes".into())) {
            chosen.insert("kubernetes", master);
        }
        if enable_service_links {
            let start = (namespace.to_string(), String::new());
            for ((ns, name), l) in inner.links.range(start..) {
                if ns != namespace {
                    break;
                }
                chosen.insert(name, l);
            }
        }
        let mut vars: Vec<(String, String)> = chosen
            .into_iter()
            .flat_map(|(name, l)| env_vars::from_service(name, l))
            .collect();
        vars.sort();
        Ok(vars)
    }
}

/// A Service with a cluster IP (not None, not headless) and ports; others make no
/// variables.
fn link(service: &Service) -> Option<Link> {
    let spec = service.spec.as_ref()?;
    let ip = spec
        .cluster_ip
        .as_deref()
        .filter(|ip| !ip.is_empty() && *ip != "None")?;
    let ports: Vec<LinkPort> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| LinkPort {
            name: p.name.clone().unwrap_or_default(),
            port: p.port,
            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
        })
        .collect();
    (!ports.is_empty()).then(|| Link {
        cluster_ip: ip.to_string(),
        ports,
    })
}
