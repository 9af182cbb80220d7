//! The release of Services' claims (ClusterIPs and NodePorts, `resources::allocation`),
//! as a [`Reconciler`] keyed by claim: a deleted Service's claims are released as the
//! deletion happens, however it was deleted (`skiff delete`, its namespace going); at
//! start and every resync, each claim is looked at again and a stale one (its holder gone
//! or no longer using the value, past the grace period) is released.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Service;
use tracing::info;

use crate::controllers::runtime::{Action, Reconciler};
use crate::core::{Clock, Error};
use crate::resources::allocation::{self, claim_keys, IP_CLAIM, PORT_CLAIM};
use crate::store::{Event, EventType, Key, Store};

pub struct ClaimReleaser {
    store: Arc<dyn Store>,
    /// Judges whether a claim is old enough to be stale.
    clock: Arc<dyn Clock>,
    /// Claims of Services seen deleted, with the deleted holder's uid: released at once,
    /// without waiting for the grace period a claim of a Service not yet written needs.
    deleted: Mutex<HashMap<Key, String>>,
}

impl ClaimReleaser {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        ClaimReleaser {
            store,
            clock,
            deleted: Mutex::new(HashMap::new()),
        }
    }

    fn deleted(&self) -> std::sync::MutexGuard<'_, HashMap<Key, String>> {
        self.deleted.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Reconciler for ClaimReleaser {
    const NAME: &'static str = "service-claim-release";

    fn kinds(&self) -> Vec<&'static str> {
        vec![IP_CLAIM, PORT_CLAIM]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["Service"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        if event.kind != EventType::Deleted {
            return Vec::new();
        }
        let Ok(service) = serde_json::from_slice::<Service>(&event.object.json) else {
            return Vec::new();
        };
        let keys = claim_keys(&service);
        let mut deleted = self.deleted();
        for key in &keys {
            deleted.insert(key.clone(), event.object.uid.clone());
        }
        keys
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let store = self.store.as_ref();
        let holder = self.deleted().get(key).cloned();
        if let Some(uid) = holder {
            allocation::claims::release(store, key, &uid).await?;
            self.deleted().remove(key);
            return Ok(Action::AwaitChange);
        }
        let Some(stored) = store.get(key).await? else {
            return Ok(Action::AwaitChange);
        };
        if allocation::repair_claim(store, self.clock.as_ref(), &stored).await? {
            info!(claim = %key, "stale service claim released");
        }
        Ok(Action::AwaitChange)
    }
}
