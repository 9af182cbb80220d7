//! The cluster CA's fingerprint, recorded in the store at the first start: a server
//! whose data dir holds another CA refuses to serve from that store, so two clusters
//! never share one (their tokens, certificates and allocations would mix).

use serde_json::json;
use sha2::Digest;
use tracing::info;

use crate::core::Error;
use crate::store::{Key, Store, StoreError};

/// A store-only kind (no API serves it), as the allocation claims.
pub const KIND: &str = "ClusterCA";

fn key() -> Key {
    Key::new(KIND, "", "cluster-ca")
}

/// Records `ca_der`'s sha256 if the store has none; refuses one that differs.
pub async fn check_or_record(store: &dyn Store, ca_der: &[u8]) -> Result<(), Error> {
    let ours = hex::encode(sha2::Sha256::digest(ca_der));
    let json = serde_json::to_vec(&json!({"sha256": ours})).expect("json serializes");
    match store.create(key(), crate::core::ids::new_uid(), json).await {
        Ok(_) => {
            info!(ca_sha256 = %ours, "the cluster CA recorded in the store");
            return Ok(());
        }
        Err(StoreError::AlreadyExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let stored = store
        .get(&key())
        .await?
        .ok_or_else(|| Error::Unavailable("the store's cluster CA record vanished".into()))?;
    let recorded: serde_json::Value = serde_json::from_slice(&stored.json)
        .map_err(|e| Error::Internal(format!("the store's cluster CA record: {e}")))?;
    let recorded = recorded["sha256"].as_str().unwrap_or_default();
    if recorded != ours {
        return Err(Error::FailedPrecondition(format!(
            "this store belongs to another cluster: its CA has sha256 {recorded}, this data dir's {ours}; two clusters must never share a store (join this server with --join and the other's server token, or give it its own store)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn a_store_serves_only_the_cluster_whose_ca_it_recorded() {
        let store = MemoryStore::new();
        check_or_record(&store, b"ca one").await.unwrap();
        check_or_record(&store, b"ca one").await.unwrap();
        let err = check_or_record(&store, b"ca two").await.unwrap_err();
        assert!(err.to_string().contains("another cluster"), "{err}");
    }
}
