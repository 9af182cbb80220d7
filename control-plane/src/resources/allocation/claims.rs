//! Allocation records: one store object per allocated ClusterIP or NodePort.
//!
//! The store has no multi-key transactions, so "is this port free?" cannot be answered by
//! reading every Service and then writing one: two applies could both see it free. A claim
//! is instead a create of a key named after the value (`ServiceNodePortClaim/30080`): the
//! store's create is atomic, so exactly one writer gets it, across concurrent applies and
//! across restarts (the claims are as durable as the services). Kubernetes keeps a bitmap
//! object under compare-and-swap for the same reason; a key per value keeps each claim a
//! single create and lets a release touch nothing else.
//!
//! The claim names its holder (namespace, name, uid). A claim whose holder is gone (a crash
//! between claiming and writing the Service, or a release that failed) is stale: it is
//! taken over once it is older than [`STALE_AFTER`], which leaves in-flight applies (claim,
//! then create the Service a moment later) alone.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::debug;

use jiff::Timestamp;

use crate::store::{Key, Store, StoreError, Stored};

/// Store kinds of the claims. Cluster-scoped, and not API kinds: `get` never shows them.
pub const IP_CLAIM: &str = "ServiceIPClaim";
pub const PORT_CLAIM: &str = "ServiceNodePortClaim";

/// A claim without a live holder is taken over only after this long.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// Who holds a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    holder: Holder,
    /// Seconds since the epoch.
    claimed_at: i64,
}

/// What trying to claim a value found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Newly claimed by this holder.
    Taken,
    /// Already held by this holder (an update keeping its value).
    Kept,
    /// Held by someone else.
    HeldBy(Holder),
}

pub fn ip_key(ip: std::net::Ipv4Addr) -> Key {
    Key::new(IP_CLAIM, "", ip.to_string())
}

pub fn port_key(port: u16) -> Key {
    Key::new(PORT_CLAIM, "", port.to_string())
}

fn record_of(stored: &Stored) -> Option<Record> {
    serde_json::from_slice(&stored.json).ok()
}

/// What one claim attempt found, before the caller judges a foreign claim.
#[derive(Debug, Clone)]
pub enum Attempt {
    Done(Claim),
    /// Held by another; `stale_candidate` is set when the claim is old enough to be taken
    /// over if its holder turns out not to use it ([`take_over`]).
    Held {
        holder: Holder,
        stale_candidate: Option<Stored>,
    },
    /// The claim vanished between the create and the read: try again.
    Retry,
}

/// Tries to claim `key` for `holder`.
pub async fn try_claim(
    store: &dyn Store,
    key: &Key,
    holder: &Holder,
    now: Timestamp,
) -> Result<Attempt, StoreError> {
    let record = Record {
        holder: holder.clone(),
        claimed_at: now.as_second(),
    };
    let json = serde_json::to_vec(&record).expect("a claim serializes");
    match store.create(key.clone(), holder.uid.clone(), json).await {
        Ok(_) => return Ok(Attempt::Done(Claim::Taken)),
        Err(StoreError::AlreadyExists(_)) => {}
        Err(e) => return Err(e),
    }
    let Some(stored) = store.get(key).await? else {
        return Ok(Attempt::Retry);
    };
    let Some(existing) = record_of(&stored) else {
        // Unreadable: not ours to judge; treat it as held.
        return Ok(Attempt::Done(Claim::HeldBy(Holder {
            namespace: String::new(),
            name: format!("unreadable claim {key}"),
            uid: stored.uid,
        })));
    };
    if existing.holder.uid == holder.uid {
        return Ok(Attempt::Done(Claim::Kept));
    }
    let old_enough = now.as_second() - existing.claimed_at >= STALE_AFTER.as_secs() as i64;
    Ok(Attempt::Held {
        holder: existing.holder,
        stale_candidate: old_enough.then_some(stored),
    })
}

/// Deletes a stale claim (unless it changed since it was read).
pub async fn take_over(store: &dyn Store, stale: &Stored) -> Result<(), StoreError> {
    debug!(claim = %stale.key, "taking over a stale claim");
    match store.delete(&stale.key, Some(stale.revision)).await {
        Ok(_) | Err(StoreError::NotFound(_) | StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Releases `key` if `uid` holds it (a claim someone else took over stays).
pub async fn release(store: &dyn Store, key: &Key, uid: &str) -> Result<(), StoreError> {
    let Some(stored) = store.get(key).await? else {
        return Ok(());
    };
    if record_of(&stored).is_some_and(|r| r.holder.uid != uid) {
        return Ok(());
    }
    match store.delete(key, Some(stored.revision)).await {
        Ok(_) | Err(StoreError::NotFound(_) | StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Every claim of `kind` with its holder (unreadable ones left out).
pub async fn list(store: &dyn Store, kind: &str) -> Result<Vec<(Stored, Holder)>, StoreError> {
    let (claims, _) = store.list(kind, None).await?;
    Ok(claims
        .into_iter()
        .filter_map(|stored| {
            let record = record_of(&stored)?;
            Some((stored, record.holder))
        })
        .collect())
}

/// Who holds a stored claim (`None`: unreadable).
pub fn holder_of(stored: &Stored) -> Option<Holder> {
    record_of(stored).map(|r| r.holder)
}

/// Whether the claim is older than [`STALE_AFTER`].
pub fn is_old(stored: &Stored, now: Timestamp) -> bool {
    record_of(stored)
        .is_some_and(|r| now.as_second() - r.claimed_at >= STALE_AFTER.as_secs() as i64)
}
