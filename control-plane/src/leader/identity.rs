//! Each server's own Lease, as kube-apiserver's identity leases
//! (`kube-system/kube-apiserver-<id>`): `kube-system/skiff-apiserver-<id>`, labelled
//! [`IDENTITY_LABEL`]`=`[`IDENTITY_VALUE`], holding the address the server serves on in
//! [`ADDRESS_ANNOTATION`]. Every server renews its own; the leader lists the live ones
//! into the `kubernetes` Endpoints (kube's "lease" endpoint reconciler), so agents and
//! pods find every server. A clean stop deletes the lease, so the address goes at once;
//! a killed server's lease expires.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use tracing::warn;

use super::election::seconds;
use super::LEASE_NAMESPACE;
use crate::core::objects::modify_or_create;
use crate::core::{Clock, Error};
use crate::store::{self, Key, Store, StoreError};

/// The label every identity lease carries, and its value.
pub const IDENTITY_LABEL: &str = "skiff.io/identity";
pub const IDENTITY_VALUE: &str = "skiff-control-plane";
/// The annotation with the server's advertised `IP:PORT`.
pub const ADDRESS_ANNOTATION: &str = "skiff.io/advertise-address";
/// Name prefix of the identity leases.
pub const NAME_PREFIX: &str = "skiff-apiserver-";

/// A server whose identity lease is live.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LiveServer {
    pub address: SocketAddr,
    pub id: String,
    /// When the lease runs out unless renewed.
    pub expires: Timestamp,
}

/// Keeps this server's identity lease.
pub struct IdentityKeeper {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    id: String,
    address: SocketAddr,
    duration: Duration,
}

impl IdentityKeeper {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        id: impl Into<String>,
        address: SocketAddr,
        duration: Duration,
    ) -> Self {
        IdentityKeeper {
            store,
            clock,
            id: id.into(),
            address,
            duration,
        }
    }

    fn key(&self) -> Key {
        Key::new(
            "Lease",
            LEASE_NAMESPACE,
            format!("{NAME_PREFIX}{}", self.id),
        )
    }

    /// Writes the lease with a fresh renewTime (and this server's address).
    pub async fn renew(&self) -> Result<(), Error> {
        let now = self.clock.now();
        let address = self.address.to_string();
        let initial = || Lease {
            metadata: ObjectMeta {
                name: Some(self.key().name),
                namespace: Some(LEASE_NAMESPACE.into()),
                uid: Some(crate::core::ids::new_uid()),
                creation_timestamp: Some(Time(self.clock.now_seconds())),
                labels: Some([(IDENTITY_LABEL.into(), IDENTITY_VALUE.into())].into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.id.clone()),
                acquire_time: Some(MicroTime(now)),
                ..Default::default()
            }),
        };
        modify_or_create::<Lease, _, _>(self.store.as_ref(), &self.key(), initial, |lease| {
            lease
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(ADDRESS_ANNOTATION.into(), address.clone());
            lease
                .metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert(IDENTITY_LABEL.into(), IDENTITY_VALUE.into());
            let spec = lease.spec.get_or_insert_with(Default::default);
            spec.holder_identity = Some(self.id.clone());
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(seconds(self.duration));
            Ok(true)
        })
        .await?;
        Ok(())
    }

    /// Renews every third of the lease's duration, until aborted.
    pub async fn keep_renewing(self: Arc<Self>) {
        loop {
            if let Err(e) = self.renew().await {
                warn!(error = %e, id = %self.id, "renewing this server's identity lease");
            }
            tokio::time::sleep(self.duration / 3).await;
        }
    }

    /// Deletes the lease (a clean stop): the server leaves the `kubernetes` Endpoints.
    pub async fn remove(&self) -> Result<(), Error> {
        match self.store.delete(&self.key(), None).await {
            Ok(_) | Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The servers whose identity leases are live at `now` (renewed within their duration),
/// sorted by address.
pub async fn live_servers(store: &dyn Store, now: Timestamp) -> Result<Vec<LiveServer>, Error> {
    let (leases, _) = store.list("Lease", Some(LEASE_NAMESPACE)).await?;
    let mut live: Vec<LiveServer> = leases
        .iter()
        .filter(|stored| stored.key.name.starts_with(NAME_PREFIX))
        .filter_map(|stored| store::decode::<Lease>(stored).ok())
        .filter_map(|lease| live_server(&lease, now))
        .collect();
    live.sort();
    Ok(live)
}

/// The server a lease names, if it is an identity lease that is live at `now`.
fn live_server(lease: &Lease, now: Timestamp) -> Option<LiveServer> {
    let meta = &lease.metadata;
    let labelled = meta.labels.as_ref()?.get(IDENTITY_LABEL)? == IDENTITY_VALUE;
    let address = meta
        .annotations
        .as_ref()?
        .get(ADDRESS_ANNOTATION)?
        .parse()
        .ok()?;
    let spec = lease.spec.as_ref()?;
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    let duration = Duration::from_secs(u64::try_from(spec.lease_duration_seconds?).ok()?);
    let expires = renewed.saturating_add(duration).ok()?;
    (labelled && now < expires).then(|| LiveServer {
        address,
        id: spec.holder_identity.clone().unwrap_or_default(),
        expires,
    })
}
