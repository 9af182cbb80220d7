//! Pod CIDRs: one /24 of the cluster CIDR per node, recorded in the Node
//! object's `spec.podCIDR` and `spec.podCIDRs`.
//!
//! There is no allocation table to keep in sync: the Node objects are the table. A node
//! that registers again keeps the CIDR its stored object names, so an agent's pod
//! addresses stay valid across agent and control-plane restarts; a new node gets the
//! lowest /24 no stored node holds. Two registrations must not both see the same /24 as
//! free, so the read of the stored nodes and the write of the new Node happen under one
//! lock ([`PodCidrAllocator::lock`] hands out a guard the caller keeps until it has
//! written); the write itself is a compare-and-swap, so a concurrent label edit through
//! the API cannot be lost either.
//!
//! A deleted node's /24 becomes free again, as in Kubernetes' range allocator.
//!
//! With several servers on one store the lock orders only this server's registrations;
//! `cidr_claims.rs` claims the chosen /24 in the store before the Node is written, so two
//! servers never hand out the same one.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use tokio::sync::{Mutex, MutexGuard};

use super::cidr_claims::{self, Claimed};
use crate::core::Error;
use crate::store::Store;

/// The size of every node's pod CIDR.
pub const NODE_PREFIX: u8 = 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("cluster CIDR {cluster} is smaller than one /{prefix} node CIDR: use a larger --cluster-cidr")]
    TooSmall { cluster: Ipv4Net, prefix: u8 },
    #[error("no free /{prefix} left in cluster CIDR {cluster}: all {total} are assigned to nodes; delete a node that is gone or use a larger --cluster-cidr")]
    Exhausted {
        cluster: Ipv4Net,
        prefix: u8,
        total: u64,
    },
}

/// An exhausted cluster CIDR is a pool run dry; a too small one a setting the cluster
/// cannot work with.
impl From<CidrError> for Error {
    fn from(e: CidrError) -> Self {
        match e {
            CidrError::Exhausted { .. } => Error::Exhausted(e.to_string()),
            CidrError::TooSmall { .. } => Error::FailedPrecondition(e.to_string()),
        }
    }
}

/// Hands out pod CIDRs; see the module docs. One per process (it owns the lock).
#[derive(Debug)]
pub struct PodCidrAllocator {
    cluster: Ipv4Net,
    lock: Mutex<()>,
}

/// Holds the allocation lock: no other registration allocates until it is dropped, which
/// must be after the Node carrying the CIDR is written.
pub struct AllocationGuard<'a> {
    allocator: &'a PodCidrAllocator,
    _guard: MutexGuard<'a, ()>,
}

impl PodCidrAllocator {
    pub fn new(cluster: Ipv4Net) -> Self {
        PodCidrAllocator {
            cluster: cluster.trunc(),
            lock: Mutex::new(()),
        }
    }

    pub fn cluster(&self) -> Ipv4Net {
        self.cluster
    }

    pub async fn lock(&self) -> AllocationGuard<'_> {
        AllocationGuard {
            allocator: self,
            _guard: self.lock.lock().await,
        }
    }
}

impl AllocationGuard<'_> {
    /// The CIDR for `node`, from what the stored Node objects hold and the claims of
    /// registrations in flight, claimed in the store for `node`.
    pub async fn cidr_for(
        &self,
        store: &dyn Store,
        node: &str,
        now: jiff::Timestamp,
    ) -> Result<Ipv4Net, Error> {
        let mut lost = Vec::new();
        for _ in 0..8 {
            let stored = stored_cidrs(store).await?;
            let mut assigned = stored.clone();
            assigned.extend(cidr_claims::in_flight(store, &stored, now).await?);
            // Taken by a server whose Node write this read has not seen yet.
            assigned.extend(lost.iter().cloned());
            let cidr = choose(self.allocator.cluster, node, &assigned)?;
            match cidr_claims::claim(store, cidr, node, &stored, now).await? {
                Claimed::Mine => return Ok(cidr),
                Claimed::Theirs(holder) => lost.push((format!("{holder}\u{0}claim"), cidr)),
            }
        }
        Err(Error::Unavailable(
            "could not claim a pod CIDR: other servers kept taking them; retry".into(),
        ))
    }
}

/// Every stored node's pod CIDR, by node name. Read from the raw JSON: a node object
/// that fails to decode for another reason still holds its range.
pub async fn stored_cidrs(store: &dyn Store) -> Result<BTreeMap<String, Ipv4Net>, Error> {
    let (nodes, _) = store.list("Node", None).await?;
    let mut assigned = BTreeMap::new();
    for stored in nodes {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&stored.json) else {
            continue;
        };
        let spec = &value["spec"];
        let cidr = spec["podCIDR"]
            .as_str()
            .or_else(|| spec["podCIDRs"][0].as_str())
            .and_then(|s| s.parse::<Ipv4Net>().ok());
        if let Some(cidr) = cidr {
            assigned.insert(stored.key.name, cidr);
        }
    }
    Ok(assigned)
}

/// The allocation rule, pure: `node` keeps its assigned CIDR if it is a /24 of `cluster`
/// that no node before it (by name) also holds; otherwise it gets the lowest /24 of
/// `cluster` that nobody holds.
pub fn choose(
    cluster: Ipv4Net,
    node: &str,
    assigned: &BTreeMap<String, Ipv4Net>,
) -> Result<Ipv4Net, CidrError> {
    let cluster = cluster.trunc();
    let Ok(mut candidates) = cluster.subnets(NODE_PREFIX) else {
        return Err(CidrError::TooSmall {
            cluster,
            prefix: NODE_PREFIX,
        });
    };
    if let Some(own) = assigned.get(node) {
        let valid = own.prefix_len() == NODE_PREFIX && cluster.contains(own);
        let first_holder = assigned
            .iter()
            .find(|(_, cidr)| *cidr == own)
            .map(|(name, _)| name.as_str());
        if valid && first_holder == Some(node) {
            return Ok(*own);
        }
    }
    let taken: std::collections::HashSet<Ipv4Net> = assigned
        .iter()
        .filter(|(name, _)| name.as_str() != node)
        .map(|(_, cidr)| cidr.trunc())
        .collect();
    candidates
        .find(|candidate| {
            !taken
                .iter()
                .any(|t| t.contains(candidate) || candidate.contains(t))
        })
        .ok_or(CidrError::Exhausted {
            cluster,
            prefix: NODE_PREFIX,
            total: 1u64 << (NODE_PREFIX - cluster.prefix_len()),
        })
}
