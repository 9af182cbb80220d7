//! One attempt at the leader Lease, as client-go's `leaderelection` makes it: acquire a
//! free or expired lease, renew one we hold, release it on a clean stop. Every write is a
//! compare-and-swap on the revision read, so two servers racing for the lease cannot both
//! win.
//!
//! Expiry is judged by this server's own clock from when it first *observed* the lease's
//! current revision, not from the holder's `renewTime`: clocks of two machines may
//! disagree, but a lease nobody renewed for `leaseDurationSeconds` of our time is dead.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use tracing::info;

use crate::core::{Clock, Error};
use crate::store::{self, Key, Store, StoreError, Stored};

use super::LeaseConfig;

/// The revision of the lease last seen and when (our clock) it was first seen.
#[derive(Debug, Clone, Copy)]
struct Observed {
    revision: i64,
    at: Timestamp,
}

/// Tries for the leader lease; see the module docs.
pub struct Elector {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: LeaseConfig,
    observed: Mutex<Option<Observed>>,
}

impl Elector {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: LeaseConfig) -> Self {
        Elector {
            store,
            clock,
            config,
            observed: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    fn key(&self) -> Key {
        Key::new("Lease", &self.config.namespace, &self.config.name)
    }

    /// When `revision` was first seen (now, if it is new).
    fn observe(&self, revision: i64, now: Timestamp) -> Timestamp {
        let mut observed = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        match *observed {
            Some(seen) if seen.revision == revision => seen.at,
            _ => {
                *observed = Some(Observed { revision, at: now });
                now
            }
        }
    }

    /// Acquires the lease if it is free, expired or ours, renewing it: `true` when this
    /// server holds it after the call. A lost race (someone else wrote first) is `false`.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, Error> {
        let now = self.clock.now();
        let me = self.config.identity.as_str();
        let Some(stored) = self.store.get(&self.key()).await? else {
            return self.create(now).await;
        };
        let lease: Lease = store::decode(&stored).map_err(|e| Error::Internal(e.to_string()))?;
        let mut spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let seen_at = self.observe(stored.revision, now);
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.config.lease_duration, Duration::from_secs);
        let expires = seen_at.saturating_add(duration).unwrap_or(seen_at);
        if !holder.is_empty() && holder != me && now < expires {
            return Ok(false);
        }
        if holder != me {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            info!(lease = %self.key(), identity = me, previous = holder, "taking over the leader lease");
        }
        spec.holder_identity = Some(me.to_string());
        spec.renew_time = Some(MicroTime(now));
        spec.lease_duration_seconds = Some(seconds(self.config.lease_duration));
        let updated = Lease {
            spec: Some(spec),
            ..lease
        };
        self.write(&stored, &updated, now).await
    }

    /// Gives the lease up (a clean stop), so another server takes it at once rather than
    /// after it expires. Does nothing when another server holds it.
    pub async fn release(&self) -> Result<(), Error> {
        let Some(stored) = self.store.get(&self.key()).await? else {
            return Ok(());
        };
        let lease: Lease = store::decode(&stored).map_err(|e| Error::Internal(e.to_string()))?;
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        let now = MicroTime(self.clock.now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now.clone());
        spec.acquire_time = Some(now);
        let released = Lease {
            spec: Some(spec),
            ..lease
        };
        self.write(&stored, &released, self.clock.now()).await?;
        info!(lease = %self.key(), identity = %self.config.identity, "leader lease released");
        Ok(())
    }

    /// Compare-and-swap of the lease read as `stored`: `false` when another write won.
    async fn write(&self, stored: &Stored, lease: &Lease, now: Timestamp) -> Result<bool, Error> {
        let json = store::encode(lease);
        match self
            .store
            .update(stored.key.clone(), json, Some(stored.revision))
            .await
        {
            Ok(written) => {
                self.observe(written.revision, now);
                Ok(true)
            }
            Err(StoreError::Conflict { .. } | StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn create(&self, now: Timestamp) -> Result<bool, Error> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                creation_timestamp: Some(Time(self.clock.now_seconds())),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                lease_duration_seconds: Some(seconds(self.config.lease_duration)),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        let uid = crate::core::ids::new_uid();
        match self
            .store
            .create(self.key(), uid, store::encode(&lease))
            .await
        {
            Ok(written) => {
                self.observe(written.revision, now);
                info!(lease = %self.key(), identity = %self.config.identity, "leader lease created");
                Ok(true)
            }
            Err(StoreError::AlreadyExists(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Whole seconds, at least one, as `leaseDurationSeconds` holds them.
pub(super) fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs().max(1)).unwrap_or(i32::MAX)
}
