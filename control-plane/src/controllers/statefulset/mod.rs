//! The StatefulSet controller, as Kubernetes' `stateful_set_control.go`: pods with stable
//! names `<set>-<ordinal>`, each with its own claims (`claims.rs`) and a DNS name under
//! the governing Service (`identity.rs`: hostname and subdomain).
//!
//! One reconcile, from a fresh read of the set and the pods it controls:
//! 1. ordinals `0..replicas` in ascending order: a missing pod is created (its claims
//!    first), a failed or succeeded one deleted to be recreated under the same name with
//!    the same claims. With `podManagementPolicy: OrderedReady` (the default) the pass
//!    stops at the first pod it created or that is not Running and Ready (available for
//!    `minReadySeconds`), so ordinal i starts only once 0..i-1 are up; `Parallel` goes on;
//! 2. pods above `replicas` are deleted from the highest ordinal down; OrderedReady
//!    deletes one at a time and only while every other pod is healthy;
//! 3. `RollingUpdate`: from the highest ordinal down to `partition`, the first pod not at
//!    the update revision is deleted (it comes back at the new revision in step 1), one at
//!    a time, each waited for until Ready; `OnDelete` replaces only what users delete;
//! 4. the status (`status.rs`).
//!
//! Pods deleted in the store are gone at once (no graceful termination in the store),
//! so "wait until it is gone" is the next reconcile's read. Revisions are
//! `<set>-<template hash>` without ControllerRevision objects: a pod recreated at the
//! current revision (below the partition) takes its template from a living pod of that
//! revision (`identity::template_of`), or the update revision's when none is left. Not
//! done: adoption of orphan pods matching the selector, `revisionHistoryLimit`,
//! `maxUnavailable`.

mod claims;
pub mod identity;
mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use tracing::info;

use super::runtime::{self_or_owner, Action, Reconciler};
use super::{owned_pods, ControllerContext};
use crate::core::events;
use crate::core::objects::{
    self, availability, controller_of, decode, decode_all, is_being_deleted, phase,
    pod_is_terminal, Availability,
};
use crate::core::Error;
use crate::store::{Event, Key, Store};
use identity::{ordinal_of, pod_name, revision_of, set_name};

const COMPONENT: &str = "statefulset-controller";

pub struct StatefulSetController {
    ctx: Arc<ControllerContext>,
}

impl StatefulSetController {
    pub fn new(ctx: Arc<ControllerContext>) -> Self {
        StatefulSetController { ctx }
    }

    fn store(&self) -> &dyn Store {
        self.ctx.store.as_ref()
    }
}

impl Reconciler for StatefulSetController {
    const NAME: &'static str = "statefulset";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["StatefulSet"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["StatefulSet", "Pod"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        self_or_owner(event, "StatefulSet")
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let Some(stored) = self.store().get(key).await? else {
            return Ok(Action::AwaitChange);
        };
        let set: StatefulSet = decode(&stored)?;
        if is_being_deleted(&set.metadata) {
            return Ok(Action::AwaitChange);
        }
        let (pods, _) = self.store().list("Pod", Some(&key.namespace)).await?;
        let uid = set.metadata.uid.clone().unwrap_or_default();
        let owned: Vec<Pod> = decode_all::<Pod>(&pods)
            .into_iter()
            .filter(|p| controller_of(&p.metadata).is_some_and(|o| o.uid == uid))
            .collect();
        let update_revision = identity::update_revision(&set);
        let current_revision = set
            .status
            .as_ref()
            .and_then(|s| s.current_revision.clone())
            .unwrap_or_else(|| update_revision.clone());
        let revisions = Revisions {
            current: &current_revision,
            update: &update_revision,
        };
        let action = self.sync(key, &set, &owned, &revisions).await?;
        let now = self.ctx.clock.now();
        let pods: Vec<&Pod> = owned.iter().collect();
        let (status, wait) = status::count(&set, &pods, &current_revision, &update_revision, now);
        status::write(self.store(), &set, status).await?;
        Ok(match wait {
            Some(wait) => sooner(action, wait),
            None => action,
        })
    }
}

struct Revisions<'a> {
    current: &'a str,
    update: &'a str,
}

/// The update strategy's facts the passes need.
struct Strategy {
    ordered: bool,
    on_delete: bool,
    /// Ordinal indexes below it keep the current revision.
    partition: i32,
    min_ready: Duration,
}

impl Strategy {
    fn of(set: &StatefulSet) -> Strategy {
        let spec = set.spec.clone().unwrap_or_default();
        let update = spec.update_strategy.unwrap_or_default();
        Strategy {
            ordered: spec.pod_management_policy.as_deref() != Some("Parallel"),
            on_delete: update.type_.as_deref() == Some("OnDelete"),
            partition: update
                .rolling_update
                .and_then(|r| r.partition)
                .unwrap_or(0)
                .max(0),
            min_ready: Duration::from_secs(spec.min_ready_seconds.unwrap_or(0).max(0) as u64),
        }
    }
}

impl StatefulSetController {
    /// Steps 1 to 3 of the module doc.
    async fn sync(
        &self,
        key: &Key,
        set: &StatefulSet,
        owned: &[Pod],
        revisions: &Revisions<'_>,
    ) -> Result<Action, Error> {
        let spec = set.spec.clone().unwrap_or_default();
        let strategy = Strategy::of(set);
        let replicas = spec.replicas.unwrap_or(1).max(0);
        let start = spec.ordinals.and_then(|o| o.start).unwrap_or(0).max(0);
        let name = set_name(set);
        let mut slots: BTreeMap<i32, &Pod> = BTreeMap::new();
        let mut condemned: Vec<(i32, &Pod)> = Vec::new();
        for pod in owned {
            match ordinal_of(name, pod) {
                Some(ord) if ord >= start && ord < start + replicas => {
                    slots.insert(ord, pod);
                }
                ord => condemned.push((ord.unwrap_or(-1), pod)),
            }
        }
        condemned.sort_by_key(|c| std::cmp::Reverse(c.0));
        let now = self.ctx.clock.now();
        let healthy = |pod: &Pod| {
            !is_being_deleted(&pod.metadata)
                && phase(pod) == "Running"
                && availability(pod, strategy.min_ready, now) == Availability::Available
        };
        let mut wait = Action::AwaitChange;

        // 1. The replicas, lowest ordinal first.
        for ord in start..start + replicas {
            match slots.get(&ord) {
                None => {
                    self.create(
                        key,
                        set,
                        owned,
                        ord,
                        ord - start < strategy.partition,
                        revisions,
                    )
                    .await?;
                    if strategy.ordered {
                        return Ok(Action::AwaitChange);
                    }
                }
                Some(pod) if pod_is_terminal(pod) => {
                    info!(statefulset = %key, pod = pod_name(name, ord), phase = phase(pod), "pod finished: recreating it");
                    self.delete_pod(set, pod).await?;
                    if strategy.ordered {
                        return Ok(Action::AwaitChange);
                    }
                }
                Some(pod) => {
                    claims::align_owners(self.store(), set, ord, None).await?;
                    if strategy.ordered && !healthy(pod) {
                        if let Availability::ReadyFor(left) =
                            availability(pod, strategy.min_ready, now)
                        {
                            wait = sooner(wait, left);
                        }
                        return Ok(wait);
                    }
                }
            }
        }

        // 2. Scale-down, highest ordinal first.
        let first_unhealthy = slots
            .values()
            .copied()
            .chain(condemned.iter().map(|(_, p)| *p))
            .find(|p| !healthy(p))
            .and_then(|p| p.metadata.uid.clone());
        for (ord, pod) in &condemned {
            if is_being_deleted(&pod.metadata) {
                if strategy.ordered {
                    return Ok(Action::AwaitChange);
                }
                continue;
            }
            if strategy.ordered
                && first_unhealthy
                    .as_ref()
                    .is_some_and(|u| Some(u) != pod.metadata.uid.as_ref())
            {
                return Ok(Action::AwaitChange);
            }
            if *ord >= 0 {
                claims::align_owners(self.store(), set, *ord, Some(&pod.metadata)).await?;
            }
            self.delete_pod(set, pod).await?;
            if strategy.ordered {
                return Ok(Action::AwaitChange);
            }
        }

        // 3. Rolling update, highest ordinal first, down to the partition.
        if strategy.on_delete {
            return Ok(wait);
        }
        for index in (strategy.partition..replicas).rev() {
            let Some(pod) = slots.get(&(start + index)) else {
                continue;
            };
            if revision_of(pod) != Some(revisions.update) && !is_being_deleted(&pod.metadata) {
                info!(statefulset = %key, pod = ?pod.metadata.name, revision = revisions.update, "rolling update: replacing pod");
                self.delete_pod(set, pod).await?;
                return Ok(Action::AwaitChange);
            }
            if !healthy(pod) {
                return Ok(wait);
            }
        }
        Ok(wait)
    }

    /// Creates ordinal `ord`'s claims and then its pod, at the current revision when
    /// `below_partition` and the update has not reached it, else at the update revision.
    async fn create(
        &self,
        key: &Key,
        set: &StatefulSet,
        owned: &[Pod],
        ord: i32,
        below_partition: bool,
        revisions: &Revisions<'_>,
    ) -> Result<(), Error> {
        let spec = set.spec.clone().unwrap_or_default();
        let strategy = Strategy::of(set);
        let at_current =
            !strategy.on_delete && below_partition && revisions.current != revisions.update;
        let current_pod = owned
            .iter()
            .find(|p| revision_of(p) == Some(revisions.current))
            .filter(|_| at_current);
        let (template, revision) = match current_pod {
            Some(pod) => (identity::template_of(pod), revisions.current),
            None => (spec.template.clone(), revisions.update),
        };
        let name = set_name(set);
        let pod = pod_name(name, ord);
        self.warn_if_no_service(set).await?;
        let now = self.ctx.clock.now_seconds();
        for claim in claims::ensure(self.store(), set, ord, now).await? {
            let message = format!("create Claim {claim} Pod {pod} in StatefulSet {name} success");
            self.event(set, "Normal", "SuccessfulCreate", &message)
                .await;
        }
        claims::align_owners(self.store(), set, ord, None).await?;
        let template = identity::pod_template(set, &template, ord, revision);
        if owned_pods::create_named(
            self.store(),
            now,
            "StatefulSet",
            &set.metadata,
            &pod,
            template,
        )
        .await?
        {
            info!(statefulset = %key, pod = %pod, revision, "pod created");
            let message = format!("create Pod {pod} in StatefulSet {name} successful");
            self.event(set, "Normal", "SuccessfulCreate", &message)
                .await;
        } else {
            // Someone else's pod has the name: Kubernetes reports the conflict too.
            let message = format!("create Pod {pod} in StatefulSet {name} failed error: the name is taken by a pod this set does not control");
            self.event(set, "Warning", "FailedCreate", &message).await;
        }
        Ok(())
    }

    async fn delete_pod(&self, set: &StatefulSet, pod: &Pod) -> Result<(), Error> {
        let pod_key = objects::pod_key(
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default(),
        );
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        if super::deleted(self.ctx.as_ref(), &pod_key, uid).await? {
            let message = format!(
                "delete Pod {} in StatefulSet {} successful",
                pod_key.name,
                set_name(set)
            );
            self.event(set, "Normal", "SuccessfulDelete", &message)
                .await;
        }
        Ok(())
    }

    /// A set whose governing Service is missing is accepted, as Kubernetes does, but
    /// its pods' DNS names will not resolve: say so where the user looks.
    async fn warn_if_no_service(&self, set: &StatefulSet) -> Result<(), Error> {
        let Some(service) = set
            .spec
            .as_ref()
            .and_then(|s| s.service_name.as_deref())
            .filter(|s| !s.is_empty())
        else {
            return Ok(());
        };
        let namespace = set.metadata.namespace.clone().unwrap_or_default();
        let key = Key::new("Service", &namespace, service);
        if self.store().get(&key).await?.is_none() {
            let message = format!(
                "governing Service {service:?} (spec.serviceName) does not exist in namespace {namespace:?}: the pods' stable DNS names ({}-0.{service}.{namespace}.svc.cluster.local) will not resolve until it is created",
                set_name(set)
            );
            self.event(set, "Warning", "FailedGoverningService", &message)
                .await;
        }
        Ok(())
    }

    async fn event(&self, set: &StatefulSet, type_: &str, reason: &str, message: &str) {
        let involved = events::reference_to("StatefulSet", &set.metadata);
        events::record_or_warn(
            self.ctx.as_ref(),
            involved,
            type_,
            reason,
            message,
            COMPONENT,
        )
        .await;
    }
}

/// `action`, or a requeue after `wait` if that comes sooner.
fn sooner(action: Action, wait: Duration) -> Action {
    let wait = wait + Duration::from_millis(100);
    match action {
        Action::Requeue(d) => Action::Requeue(d.min(wait)),
        Action::AwaitChange => Action::Requeue(wait),
    }
}
