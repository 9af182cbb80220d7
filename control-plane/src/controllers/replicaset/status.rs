//! The ReplicaSet's status, from the pods it owns: what `get rs` shows and what the
//! Deployment controller counts with.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use skiff_proto::model::map_selects;

use super::super::runtime::Action;
use crate::core::objects::{self, availability, is_active, labels, Availability};
use crate::core::Error;
use crate::store::{Key, Store};

/// The status the pods give, and when a ready pod will become available (requeue then).
pub fn compute(rs: &ReplicaSet, owned: &[Pod], now: Timestamp) -> (ReplicaSetStatus, Action) {
    let spec = rs.spec.clone().unwrap_or_default();
    let min_ready =
        std::time::Duration::from_secs(spec.min_ready_seconds.unwrap_or(0).max(0) as u64);
    let template_labels = spec
        .template
        .and_then(|t| t.metadata)
        .and_then(|m| m.labels)
        .unwrap_or_default();
    let mut status = ReplicaSetStatus {
        observed_generation: rs.metadata.generation,
        conditions: rs.status.as_ref().and_then(|s| s.conditions.clone()),
        ..Default::default()
    };
    let (mut ready, mut available, mut labelled) = (0, 0, 0);
    let mut action = Action::AwaitChange;
    for pod in owned.iter().filter(|p| is_active(p)) {
        status.replicas += 1;
        if map_selects(&template_labels, &labels(&pod.metadata)) {
            labelled += 1;
        }
        match availability(pod, min_ready, now) {
            Availability::NotReady => {}
            Availability::Available => {
                ready += 1;
                available += 1;
            }
            Availability::ReadyFor(left) => {
                ready += 1;
                let soon = left + std::time::Duration::from_millis(100);
                action = match action {
                    Action::Requeue(d) => Action::Requeue(d.min(soon)),
                    Action::AwaitChange => Action::Requeue(soon),
                };
            }
        }
    }
    status.fully_labeled_replicas = Some(labelled);
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    (status, action)
}

/// Writes the status when it changed.
pub async fn write(
    store: &dyn Store,
    rs: &ReplicaSet,
    owned: &[Pod],
    now: Timestamp,
) -> Result<Action, Error> {
    let (status, action) = compute(rs, owned, now);
    if rs.status.as_ref() == Some(&status) {
        return Ok(action);
    }
    let key = Key::new(
        "ReplicaSet",
        rs.metadata.namespace.clone().unwrap_or_default(),
        rs.metadata.name.clone().unwrap_or_default(),
    );
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    objects::modify_if::<ReplicaSet, _>(store, &key, &uid, |current| {
        // The status describes the generation it was computed from.
        let mut status = status.clone();
        status.observed_generation = rs.metadata.generation;
        if current.status.as_ref() == Some(&status) {
            return false;
        }
        current.status = Some(status);
        true
    })
    .await?;
    Ok(action)
}
