//! One attempt at the leader Lease, as client-go's `leaderelection` makes it: acquire a
//! free or expired lease, renew one we hold, release it on a clean stop. Every write is a
//! compare-and-swap on the revision read, so two servers racing for the lease cannot both
//! win.
//!
//! Expiry is judged by this server's own clock from when it first *observed* the lease's
//! current revision, not from the holder's `renewTime`: clocks of two machines may
//! disagree, but a lease nobody renewed for `leaseDurationSeconds` of our time is dead.
//! A waiting server follows the lease through a store watch ([`Elector::follow`]), so it
//! observes each renewal as it commits rather than at its next poll, and tries again the
//! moment the lease runs out ([`Elector::expires_in`]): a dead holder's lease is taken
//! within its duration of the holder's last renewal, hence of its death.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use tracing::info;

use crate::core::{Clock, Error};
use crate::store::{self, Key, Store, StoreError, Stored};

use super::LeaseConfig;

/// The revision of the lease last seen, when (our clock) it was first seen, and for how
/// long it holds from then when another server holds it.
#[derive(Debug, Clone, Copy)]
struct Observed {
    revision: i64,
    at: Timestamp,
    held_for: Option<Duration>,
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

    /// When `revision` was first seen (now, if it is new); `held_for` is how long another
    /// holder's lease lasts (`None`: free, or ours).
    fn observe(&self, revision: i64, now: Timestamp, held_for: Option<Duration>) -> Timestamp {
        let mut observed = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        match observed.as_mut() {
            Some(seen) if seen.revision == revision => {
                seen.held_for = held_for;
                seen.at
            }
            _ => {
                *observed = Some(Observed {
                    revision,
                    at: now,
                    held_for,
                });
                now
            }
        }
    }

    /// How long until another server's lease, as last observed, runs out (zero once it
    /// has); `None` when no other server holds it as far as this one knows.
    pub fn expires_in(&self) -> Option<Duration> {
        let seen = (*self.observed.lock().unwrap_or_else(|p| p.into_inner()))?;
        let held_for = seen.held_for?;
        let expires = seen.at.saturating_add(held_for).unwrap_or(seen.at);
        let left = expires.duration_since(self.clock.now());
        Some(Duration::try_from(left).unwrap_or_default())
    }

    /// Observes every write of the lease as it commits, until the store's watch fails
    /// (the caller runs it again). Run by a server while it waits for the lease.
    pub async fn follow(&self) -> Result<(), Error> {
        let from = self.store.current_revision().await?;
        if let Some(stored) = self.store.get(&self.key()).await? {
            self.observe_stored(&stored);
        }
        let mut events = self.store.watch(Some("Lease"), from).await?;
        while let Some(event) = futures::StreamExt::next(&mut events).await {
            let event = event?;
            if event.object.key == self.key() && event.kind != store::EventType::Deleted {
                self.observe_stored(&event.object);
            }
        }
        Ok(())
    }

    fn observe_stored(&self, stored: &Stored) {
        let Ok(lease) = store::decode::<Lease>(stored) else {
            return;
        };
        let spec = lease.spec.unwrap_or_default();
        // Released (no holder): free now; ours: nothing to wait for.
        let held_for = match spec.holder_identity.as_deref().unwrap_or_default() {
            "" => Some(Duration::ZERO),
            holder if holder == self.config.identity => None,
            _ => Some(self.lease_duration(&spec)),
        };
        self.observe(stored.revision, self.clock.now(), held_for);
    }

    /// The lease's own `leaseDurationSeconds`, else ours.
    fn lease_duration(&self, spec: &LeaseSpec) -> Duration {
        spec.lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.config.lease_duration, Duration::from_secs)
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
        let duration = self.lease_duration(&spec);
        let other = !holder.is_empty() && holder != me;
        let seen_at = self.observe(stored.revision, now, other.then_some(duration));
        let expires = seen_at.saturating_add(duration).unwrap_or(seen_at);
        if other && now < expires {
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
                self.observe(written.revision, now, None);
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
                self.observe(written.revision, now, None);
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
