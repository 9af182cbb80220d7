//! Evict: Kubernetes' `pods/eviction`, what `drain` asks for each pod of a node. The pod
//! read is deleted (with no PodDisruptionBudgets there is nothing else to ask); a grace
//! period given by the caller is first written to the pod as
//! `metadata.deletionGracePeriodSeconds` and `deletionTimestamp`, as the API server
//! marks a pod it deletes gracefully, so the last state (the watch's DELETED event)
//! carries it to the node's agent, which gives the containers that long to stop
//! (`agent/src/join/source.rs`). The deletion itself is the one finalizer-aware delete
//! (`finalizers.rs`): a pod with finalizers is only marked, as any object. A mirror pod
//! is refused: its node's static pod would only bring it back.

use serde_json::Value;
use tracing::info;

use super::finalizers::Deleted;
use super::objects;
use super::served::Object as WireObject;
use crate::core::annotations::MIRROR_ANNOTATION;
use crate::core::{Clock, Error};
use crate::store::{read_decide_write, Key, Step, Store, Stored};

/// Evicts the pod; returns its last state.
pub async fn evict(
    store: &dyn Store,
    clock: &dyn Clock,
    namespace: &str,
    name: &str,
    grace_period_seconds: Option<i64>,
) -> Result<WireObject, Error> {
    if name.is_empty() {
        return Err(Error::Invalid("a pod name is required to evict".into()));
    }
    if let Some(grace) = grace_period_seconds.filter(|g| *g < 0) {
        return Err(Error::Invalid(format!(
            "gracePeriodSeconds: Invalid value: {grace}: must be greater than or equal to 0"
        )));
    }
    let key = Key::new("Pod", namespace, name);
    let (uid, held) = match store.get(&key).await? {
        Some(stored) => {
            let (stored, value) = evictable(&key, Some(&stored), None)?;
            (
                stored.uid.clone(),
                !super::finalizers::of(&value).is_empty(),
            )
        }
        None => return Err(objects::not_found(&key)),
    };
    // A pod held by finalizers is only marked (`finalizers.rs`), with no grace to run.
    if let Some(grace) = grace_period_seconds.filter(|_| !held) {
        let contended =
            || Error::Conflict(format!("{key} kept changing while it was evicted; retry"));
        let now = clock.now_seconds().to_string();
        read_decide_write(
            store,
            &key,
            |current| {
                let (_, mut value) = evictable(&key, current, Some(&uid))?;
                let meta = objects::metadata_mut(&mut value);
                if meta.get("deletionGracePeriodSeconds") == Some(&Value::from(grace)) {
                    return Ok(Step::Keep(()));
                }
                meta.insert("deletionGracePeriodSeconds".into(), Value::from(grace));
                meta.entry("deletionTimestamp")
                    .or_insert_with(|| Value::String(now.clone()));
                Ok(Step::Update {
                    bytes: objects::to_bytes(&value),
                    then: (),
                })
            },
            contended,
        )
        .await?;
    }
    let Some(deleted) = super::finalizers::delete_if(store, clock, &key, &uid).await? else {
        return Err(objects::not_found(&key));
    };
    info!(pod = %key, grace = ?grace_period_seconds, marked = !matches!(deleted, Deleted::Gone(_)), "pod evicted");
    Ok(deleted.object())
}

/// The pod as read, if it may be evicted: it exists (and, when `uid` is given, is still
/// the pod first read) and is no mirror.
fn evictable<'a>(
    key: &Key,
    current: Option<&'a Stored>,
    uid: Option<&str>,
) -> Result<(&'a Stored, Value), Error> {
    let stored = current
        .filter(|s| uid.is_none_or(|uid| s.uid == uid))
        .ok_or_else(|| objects::not_found(key))?;
    let value = objects::parse(stored)?;
    let mirror = value
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION));
    if mirror {
        return Err(Error::FailedPrecondition(format!(
            "pod {:?} in namespace {:?} is the mirror of a static pod: it cannot be evicted",
            key.name, key.namespace
        )));
    }
    Ok((stored, value))
}
