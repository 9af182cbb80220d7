//! Events expire: an Event not written for `--event-ttl` (1h by default, as
//! kube-apiserver's) is deleted. kube-apiserver puts a TTL on each write to etcd; here the
//! controller reconciles each Event and requeues it for the moment it is due, so a
//! repeat that bumps `lastTimestamp` pushes the expiry back.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event as KubeEvent;
use tracing::debug;

use super::runtime::{Action, Reconciler};
use super::ControllerContext;
use crate::core::clock::elapsed;
use crate::core::objects::decode;
use crate::core::Error;
use crate::resources::finalizers;
use crate::store::{Event, Key};

/// kube-apiserver's default `--event-ttl`.
pub const DEFAULT_EVENT_TTL: Duration = Duration::from_secs(60 * 60);

pub struct EventTtlController {
    ctx: Arc<ControllerContext>,
    ttl: Duration,
}

impl EventTtlController {
    pub fn new(ctx: Arc<ControllerContext>, ttl: Duration) -> Self {
        EventTtlController { ctx, ttl }
    }
}

/// The Event's last write as it records it: lastTimestamp, else firstTimestamp, else
/// its creation.
fn last_written(event: &KubeEvent) -> Option<Timestamp> {
    [
        event.last_timestamp.as_ref(),
        event.first_timestamp.as_ref(),
        event.metadata.creation_timestamp.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|t| t.0)
    .max()
}

impl Reconciler for EventTtlController {
    const NAME: &'static str = "event-ttl";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["Event"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["Event"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        vec![event.object.key.clone()]
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let store = self.ctx.store.as_ref();
        let Some(stored) = store.get(key).await? else {
            return Ok(Action::AwaitChange);
        };
        let event: KubeEvent = decode(&stored)?;
        let age = last_written(&event)
            .map(|t| elapsed(self.ctx.clock.now(), t))
            .unwrap_or(self.ttl);
        if age < self.ttl {
            return Ok(Action::Requeue(self.ttl - age));
        }
        // Only the version read: one written meanwhile is newer and lives on.
        let clock = self.ctx.clock.as_ref();
        let deleted = finalizers::delete_read(store, clock, &stored).await?;
        if deleted.is_some_and(|d| d.acted()) {
            debug!(event = %key, "event expired");
        }
        Ok(Action::AwaitChange)
    }
}
