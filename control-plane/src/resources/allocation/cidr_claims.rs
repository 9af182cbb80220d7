//! Pod CIDRs stay unique across several servers: the in-process lock of `cidr.rs` only
//! orders registrations on one server, so a CIDR is also claimed in the store before
//! the Node naming it is written — a create of `PodCIDRClaim/<a.b.c.d-24>` naming the
//! node, which exactly one writer wins (as `claims.rs` does for ClusterIPs and
//! NodePorts), and marked `bound` once the Node is written. A claim stands while its
//! node's stored object holds that CIDR, or, not bound yet, while it is young (a
//! registration between its claim and its Node write); otherwise (the node was deleted,
//! or a registration died half way) it is stale and is taken over.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::claims::STALE_AFTER;
use crate::store::{Key, Store, StoreError, Stored};

/// Store kind of the claims (not an API kind).
pub const CIDR_CLAIM: &str = "PodCIDRClaim";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    node: String,
    /// Seconds since the epoch.
    claimed_at: i64,
    /// The Node naming the CIDR was written.
    #[serde(default)]
    bound: bool,
}

pub fn claim_key(cidr: Ipv4Net) -> Key {
    Key::new(CIDR_CLAIM, "", cidr.to_string().replace('/', "-"))
}

/// What claiming found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The node holds the claim (new or already).
    Mine,
    /// Another node holds it (its name): choose again.
    Theirs(String),
}

/// Claims `cidr` for `node`, taking over a stale claim; `assigned` is every stored
/// node's CIDR, by node.
pub async fn claim(
    store: &dyn Store,
    cidr: Ipv4Net,
    node: &str,
    assigned: &BTreeMap<String, Ipv4Net>,
    now: Timestamp,
) -> Result<Claimed, StoreError> {
    let key = claim_key(cidr);
    let new = Record {
        node: node.to_string(),
        claimed_at: now.as_second(),
        bound: false,
    };
    let json = serde_json::to_vec(&new).expect("a claim serializes");
    for _ in 0..3 {
        match store
            .create(key.clone(), crate::core::ids::new_uid(), json.clone())
            .await
        {
            Ok(_) => return Ok(Claimed::Mine),
            Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
        let Some(stored) = store.get(&key).await? else {
            continue;
        };
        let holder = record(&stored).map(|r| r.node);
        match holder {
            Some(ref name) if name == node => return Ok(Claimed::Mine),
            _ if live(&stored, cidr, assigned, now) => {
                return Ok(Claimed::Theirs(holder.unwrap_or_default()))
            }
            _ => match store.delete(&key, Some(stored.revision)).await {
                Ok(_) | Err(StoreError::NotFound(_) | StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            },
        }
    }
    Ok(Claimed::Theirs(String::new()))
}

/// The live claims' CIDRs by node, for nodes not in `assigned` yet (registrations in
/// flight on other servers): what the choice must also avoid.
pub async fn in_flight(
    store: &dyn Store,
    assigned: &BTreeMap<String, Ipv4Net>,
    now: Timestamp,
) -> Result<BTreeMap<String, Ipv4Net>, StoreError> {
    let (claims, _) = store.list(CIDR_CLAIM, None).await?;
    Ok(claims
        .iter()
        .filter_map(|stored| {
            let node = record(stored)?.node;
            let cidr: Ipv4Net = stored.key.name.replacen('-', "/", 1).parse().ok()?;
            let fresh = !assigned.contains_key(&node) && live(stored, cidr, assigned, now);
            fresh.then_some((node, cidr))
        })
        .collect())
}

/// Marks `node`'s claim of `cidr` bound, once its Node is written: from then on the
/// claim lasts only as long as the Node holds the CIDR.
pub async fn bind(store: &dyn Store, cidr: Ipv4Net, node: &str) -> Result<(), StoreError> {
    let key = claim_key(cidr);
    let Some(stored) = store.get(&key).await? else {
        return Ok(());
    };
    let Some(mut record) = record(&stored).filter(|r| r.node == node && !r.bound) else {
        return Ok(());
    };
    record.bound = true;
    let json = serde_json::to_vec(&record).expect("a claim serializes");
    match store.update(key, json, Some(stored.revision)).await {
        Ok(_) | Err(StoreError::NotFound(_) | StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

fn record(stored: &Stored) -> Option<Record> {
    serde_json::from_slice(&stored.json).ok()
}

/// A claim stands while its node holds the CIDR, or, unbound, while it is young.
fn live(
    stored: &Stored,
    cidr: Ipv4Net,
    assigned: &BTreeMap<String, Ipv4Net>,
    now: Timestamp,
) -> bool {
    let Some(record) = record(stored) else {
        return true; // unreadable: not ours to judge
    };
    let young = now.as_second() - record.claimed_at < STALE_AFTER.as_secs() as i64;
    assigned.get(&record.node) == Some(&cidr) || (!record.bound && young)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::resources::allocation::PodCidrAllocator;
    use crate::store::MemoryStore;

    fn t0() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    async fn write_node(store: &dyn Store, name: &str, cidr: Ipv4Net) {
        let json =
            serde_json::json!({"metadata": {"name": name}, "spec": {"podCIDR": cidr.to_string()}});
        store
            .create(
                Key::new("Node", "", name),
                name.into(),
                serde_json::to_vec(&json).unwrap(),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn two_servers_registering_at_once_hand_out_different_cidrs() {
        let store = MemoryStore::new();
        let cluster: Ipv4Net = "10.42.0.0/16".parse().unwrap();
        // One allocator per server: their locks do not see each other.
        let (first, second) = (
            PodCidrAllocator::new(cluster),
            PodCidrAllocator::new(cluster),
        );
        let (a, b) = (first.lock().await, second.lock().await);
        let one = a.cidr_for(&store, "n1", t0()).await.unwrap();
        // n1's Node is not written yet when the second server chooses for n2.
        let two = b.cidr_for(&store, "n2", t0()).await.unwrap();
        assert_ne!(one, two);
        write_node(&store, "n1", one).await;
        write_node(&store, "n2", two).await;
        // Registering again keeps each node's CIDR.
        assert_eq!(a.cidr_for(&store, "n1", t0()).await.unwrap(), one);
        assert_eq!(b.cidr_for(&store, "n2", t0()).await.unwrap(), two);
    }

    #[tokio::test]
    async fn a_deleted_nodes_cidr_is_free_again_and_a_dead_registration_s_after_a_while() {
        let store = MemoryStore::new();
        let cluster: Ipv4Net = "10.42.0.0/16".parse().unwrap();
        let allocator = PodCidrAllocator::new(cluster);
        let guard = allocator.lock().await;
        let first = guard.cidr_for(&store, "gone", t0()).await.unwrap();
        write_node(&store, "gone", first).await;
        bind(&store, first, "gone").await.unwrap();
        store
            .delete(&Key::new("Node", "", "gone"), None)
            .await
            .unwrap();
        // Its node is gone: the /24 is handed out again at once.
        assert_eq!(guard.cidr_for(&store, "next", t0()).await.unwrap(), first);
        write_node(&store, "next", first).await;
        bind(&store, first, "next").await.unwrap();
        let later = t0().saturating_add(STALE_AFTER).unwrap();
        // A registration that claimed and died (no Node): its claim stands a while...
        let claimed = guard.cidr_for(&store, "dead", later).await.unwrap();
        assert_ne!(claimed, first);
        let soon = later.saturating_add(Duration::from_secs(5)).unwrap();
        assert_ne!(
            guard.cidr_for(&store, "third", soon).await.unwrap(),
            claimed
        );
        // ...then is taken over.
        let stale = later.saturating_add(STALE_AFTER).unwrap();
        assert_eq!(
            guard.cidr_for(&store, "fourth", stale).await.unwrap(),
            claimed
        );
    }
}
