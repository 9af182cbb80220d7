//! Feeds the proxy and the cluster DNS from the Services and Endpoints watches.
//!
//! Holds the last known set of both kinds. The proxy gets one full, atomic resync once
//! both lists are complete (and again after a relist, a reconnect, or a failed update),
//! then one `update`/`remove` per change; DNS records follow every change at once. A
//! failed proxy write is retried as a full resync after [`RETRY`], so a transient error
//! (a busy `nft`) never leaves rules behind the watch for long.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::catalog::ServiceCatalog;
use super::watch::{Delta, ObjectKey};
use crate::dns::DnsRecords;
use crate::proxy::Proxier;

/// Delay before a failed proxy write is retried as a full resync.
pub const RETRY: Duration = Duration::from_secs(1);

pub struct Syncer {
    proxier: Option<Proxier>,
    dns: Option<DnsRecords>,
    /// What pods' service environment variables read.
    catalog: ServiceCatalog,
    services: BTreeMap<ObjectKey, Service>,
    endpoints: BTreeMap<ObjectKey, Endpoints>,
    services_listed: bool,
    endpoints_listed: bool,
    /// A proxy write failed (or one is owed): resync everything.
    dirty: bool,
}

impl Syncer {
    pub fn new(proxier: Option<Proxier>, dns: Option<DnsRecords>) -> Self {
        Syncer {
            proxier,
            dns,
            catalog: ServiceCatalog::default(),
            services: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            services_listed: false,
            endpoints_listed: false,
            dirty: false,
        }
    }

    /// Keeps `catalog` in step with the watched Services.
    pub fn with_catalog(mut self, catalog: ServiceCatalog) -> Self {
        self.catalog = catalog;
        self
    }

    fn listed(&self) -> bool {
        self.services_listed && self.endpoints_listed
    }

    /// Runs until both watches are gone.
    pub async fn run(
        mut self,
        mut services: mpsc::Receiver<Delta<Service>>,
        mut endpoints: mpsc::Receiver<Delta<Endpoints>>,
    ) {
        loop {
            let retry = self.dirty && self.listed();
            tokio::select! {
                Some(delta) = services.recv() => self.on_services(delta).await,
                Some(delta) = endpoints.recv() => self.on_endpoints(delta).await,
                _ = tokio::time::sleep(RETRY), if retry => self.resync().await,
                else => return,
            }
        }
    }

    pub async fn on_services(&mut self, delta: Delta<Service>) {
        match delta {
            Delta::Resync(all) => {
                self.catalog.replace(&all);
                self.services = all;
                self.services_listed = true;
                self.resync().await;
            }
            Delta::Reconnected => self.resync().await,
            Delta::Upsert(key, service) => {
                if let Some(dns) = &self.dns {
                    dns.upsert_service(&service);
                }
                self.catalog.upsert(&key, &service);
                let endpoints = self.endpoints.get(&key).cloned();
                self.services.insert(key, service.clone());
                self.proxy_update(&service, endpoints.as_ref()).await;
            }
            Delta::Remove((namespace, name)) => {
                if let Some(dns) = &self.dns {
                    dns.remove_service(&namespace, &name);
                }
                let key = (namespace.clone(), name.clone());
                self.catalog.remove(&key);
                self.services.remove(&key);
                if let (Some(proxier), true) = (
                    &mut self.proxier,
                    self.services_listed && self.endpoints_listed,
                ) {
                    if let Err(error) = proxier.remove(&namespace, &name).await {
                        warn!(service = %format!("{namespace}/{name}"), %error, "proxy rules not removed; will resync");
                        self.dirty = true;
                    }
                }
            }
        }
    }

    pub async fn on_endpoints(&mut self, delta: Delta<Endpoints>) {
        match delta {
            Delta::Resync(all) => {
                self.endpoints = all;
                self.endpoints_listed = true;
                self.resync().await;
            }
            Delta::Reconnected => self.resync().await,
            Delta::Upsert(key, endpoints) => {
                if let Some(dns) = &self.dns {
                    dns.upsert_endpoints(&endpoints);
                }
                self.endpoints.insert(key.clone(), endpoints.clone());
                if let Some(service) = self.services.get(&key).cloned() {
                    self.proxy_update(&service, Some(&endpoints)).await;
                }
            }
            Delta::Remove(key) => {
                if let Some(dns) = &self.dns {
                    dns.remove_endpoints(&key.0, &key.1);
                }
                self.endpoints.remove(&key);
                if let Some(service) = self.services.get(&key).cloned() {
                    self.proxy_update(&service, None).await;
                }
            }
        }
    }

    async fn proxy_update(&mut self, service: &Service, endpoints: Option<&Endpoints>) {
        if !self.listed() {
            return;
        }
        let Some(proxier) = &mut self.proxier else {
            return;
        };
        if let Err(error) = proxier.update(service, endpoints).await {
            warn!(service = ?service.metadata.name, %error, "proxy rules not updated; will resync");
            self.dirty = true;
        }
    }

    /// Everything again: DNS tables replaced, proxy rules rewritten atomically.
    pub async fn resync(&mut self) {
        if let Some(dns) = &self.dns {
            dns.resync(self.services.values(), self.endpoints.values());
        }
        if !self.listed() {
            debug!(
                services = self.services_listed,
                endpoints = self.endpoints_listed,
                "waiting for both lists before the proxy resync"
            );
            return;
        }
        let Some(proxier) = &mut self.proxier else {
            return;
        };
        let all: Vec<(Service, Option<Endpoints>)> = self
            .services
            .iter()
            .map(|(key, service)| (service.clone(), self.endpoints.get(key).cloned()))
            .collect();
        match proxier.resync(&all).await {
            Ok(()) => {
                self.dirty = false;
                info!(services = all.len(), "proxy rules resynced");
            }
            Err(error) => {
                warn!(%error, "proxy resync failed; will retry");
                self.dirty = true;
            }
        }
    }
}
