//! Periodic compaction: the event log would otherwise hold a copy of every object version
//! ever written. Watchers further behind than `keep` revisions get `Compacted` and relist,
//! which is what Kubernetes clients do after an etcd compaction (410 Gone).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::{Store, StoreError};

/// Every `every`, compacts `store` so that the last `keep` revisions stay watchable
/// (one write = one revision = one event, so that is also the last `keep` events).
/// Errors are logged and retried on the next tick; abort the handle to stop it.
pub fn spawn_compactor(store: Arc<dyn Store>, keep: i64, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = compact_keeping(store.as_ref(), keep).await {
                tracing::warn!(error = %e, keep, "compaction failed");
            }
        }
    })
}

/// One compaction pass: returns the new compaction point, if it moved.
pub async fn compact_keeping(store: &dyn Store, keep: i64) -> Result<Option<i64>, StoreError> {
    let current = store.current_revision().await?;
    let target = current - keep.max(0);
    if target <= store.compacted_revision().await? {
        return Ok(None);
    }
    store.compact(target).await?;
    Ok(Some(target))
}
