//! The Deployment controller: one ReplicaSet per pod template, rolled from the old ones
//! to the new one by the strategy.
//!
//! One reconcile, from a fresh read of the Deployment, the ReplicaSets and the pods of
//! its namespace:
//! 1. claim ReplicaSets (`replicasets.rs`); the *new* one is the one whose template is
//!    the Deployment's (ignoring `pod-template-hash`), the others are *old*;
//! 2. paused: only keep the size (no new ReplicaSet) and the status;
//! 3. RollingUpdate (`rolling.rs` does the arithmetic): create or scale up the new one
//!    within `replicas + maxSurge`, scale old ones down while `replicas - maxUnavailable`
//!    stay available; Recreate: old ones to 0, wait until their pods are gone, then the
//!    new one at full size;
//! 4. revisions (`history.rs`): the new ReplicaSet is `max(old revisions) + 1` (after an
//!    undo too), the Deployment carries it; change-cause is copied; once complete, old
//!    empty ReplicaSets beyond `revisionHistoryLimit` are deleted;
//! 5. status and conditions (`status.rs`), requeued for `minReadySeconds` and
//!    `progressDeadlineSeconds`.

mod replicasets;
pub mod rolling;
mod status;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::runtime::{owner_key, Action, Reconciler};
use super::ControllerContext;
use crate::core::events;
use crate::core::objects::revisions as history;
use crate::core::objects::{
    self, availability, controller_of, decode, decode_all, is_active, Availability,
};
use crate::core::Error;
use crate::store::{Event, Key, Store};
use replicasets::{replicas_of, NewReplicaSet};
use rolling::{Fenceposts, RsCount};

pub use status::condition;

pub struct DeploymentController {
    ctx: Arc<ControllerContext>,
}

impl DeploymentController {
    pub fn new(ctx: Arc<ControllerContext>) -> Self {
        DeploymentController { ctx }
    }

    fn store(&self) -> &dyn Store {
        self.ctx.store.as_ref()
    }
}

impl Reconciler for DeploymentController {
    const NAME: &'static str = "deployment";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["Deployment"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["Deployment", "ReplicaSet", "Pod"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        let key = &event.object.key;
        match key.kind.as_str() {
            "Deployment" => vec![key.clone()],
            "ReplicaSet" => match owner_key(event, "Deployment") {
                Some(owner) => vec![owner],
                // An orphan may be adopted by any Deployment of its namespace.
                None => {
                    super::runtime::all_in_namespace(self.store(), "Deployment", &key.namespace)
                        .await
                }
            },
            // A pod counts for the Deployment that owns its ReplicaSet.
            _ => {
                let Some(rs) = owner_key(event, "ReplicaSet") else {
                    return Vec::new();
                };
                let Ok(Some(stored)) = self.store().get(&rs).await else {
                    return Vec::new();
                };
                let Ok(rs) = decode::<ReplicaSet>(&stored) else {
                    return Vec::new();
                };
                controller_of(&rs.metadata)
                    .filter(|o| o.kind == "Deployment")
                    .map(|o| vec![Key::new("Deployment", &key.namespace, &o.name)])
                    .unwrap_or_default()
            }
        }
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let Some(stored) = self.store().get(key).await? else {
            return Ok(Action::AwaitChange);
        };
        let deployment: Deployment = decode(&stored)?;
        if objects::is_being_deleted(&deployment.metadata) {
            return Ok(Action::AwaitChange);
        }
        let (sets, _) = self
            .store()
            .list("ReplicaSet", Some(&key.namespace))
            .await?;
        let owned = replicasets::claim(self.store(), &deployment, decode_all(&sets)).await?;
        let (pods, _) = self.store().list("Pod", Some(&key.namespace)).await?;
        let pods: Vec<Pod> = decode_all(&pods);
        Sync::new(self, deployment, owned, &pods).run().await
    }
}

/// One reconcile's working state.
struct Sync<'a> {
    controller: &'a DeploymentController,
    deployment: Deployment,
    owned: Vec<ReplicaSet>,
    /// Pods per ReplicaSet uid.
    pods: HashMap<String, PodCounts>,
    /// When a ready pod becomes available.
    available_in: Option<Duration>,
}

impl<'a> Sync<'a> {
    fn new(
        controller: &'a DeploymentController,
        deployment: Deployment,
        owned: Vec<ReplicaSet>,
        pods: &[Pod],
    ) -> Self {
        let now = controller.ctx.clock.now();
        let min_ready = Duration::from_secs(
            deployment
                .spec
                .as_ref()
                .and_then(|s| s.min_ready_seconds)
                .unwrap_or(0)
                .max(0) as u64,
        );
        let mut counts: HashMap<String, PodCounts> = HashMap::new();
        let mut available_in: Option<Duration> = None;
        for pod in pods.iter().filter(|p| is_active(p)) {
            let Some(owner) = controller_of(&pod.metadata).filter(|o| o.kind == "ReplicaSet")
            else {
                continue;
            };
            let entry = counts.entry(owner.uid.clone()).or_default();
            entry.pods += 1;
            match availability(pod, min_ready, now) {
                Availability::Available => {
                    entry.ready += 1;
                    entry.available += 1;
                }
                Availability::ReadyFor(left) => {
                    entry.ready += 1;
                    available_in = Some(available_in.map_or(left, |d| d.min(left)));
                }
                Availability::NotReady => {}
            }
        }
        Sync {
            controller,
            deployment,
            owned,
            pods: counts,
            available_in,
        }
    }

    fn store(&self) -> &dyn Store {
        self.controller.store()
    }

    /// Sets a ReplicaSet's replicas, with kubectl's `ScalingReplicaSet` event when it
    /// changed.
    async fn scale(&self, rs: &ReplicaSet, replicas: i32, surge: i32) -> Result<(), Error> {
        let before = replicas_of(rs);
        if replicasets::scale(self.store(), rs, replicas, self.desired(), surge).await? {
            self.scaled_event(rs, before, replicas).await;
        }
        Ok(())
    }

    /// `Scaled up replica set X to N` / `Scaled down replica set X to N from M`.
    async fn scaled_event(&self, rs: &ReplicaSet, before: i32, after: i32) {
        let name = rs.metadata.name.as_deref().unwrap_or_default();
        let message = if after >= before {
            format!("Scaled up replica set {name} to {after}")
        } else {
            format!("Scaled down replica set {name} to {after} from {before}")
        };
        let involved = events::reference_to("Deployment", &self.deployment.metadata);
        events::record_or_warn(
            self.controller.ctx.as_ref(),
            involved,
            "Normal",
            "ScalingReplicaSet",
            &message,
            events::DEPLOYMENT_CONTROLLER,
        )
        .await;
    }

    fn pods_of(&self, rs: &ReplicaSet) -> PodCounts {
        rs.metadata
            .uid
            .as_ref()
            .and_then(|uid| self.pods.get(uid))
            .copied()
            .unwrap_or_default()
    }

    fn count(&self, rs: &ReplicaSet) -> RsCount {
        let pods = self.pods_of(rs);
        RsCount {
            replicas: replicas_of(rs),
            pods: pods.pods,
            available: pods.available,
        }
    }

    fn desired(&self) -> i32 {
        self.deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1)
    }

    fn is_recreate(&self) -> bool {
        self.deployment
            .spec
            .as_ref()
            .and_then(|s| s.strategy.as_ref())
            .and_then(|s| s.type_.as_deref())
            == Some("Recreate")
    }

    fn fenceposts(&self) -> Result<Fenceposts, Error> {
        if self.is_recreate() {
            return Ok(Fenceposts {
                surge: 0,
                unavailable: 0,
            });
        }
        let rolling = self
            .deployment
            .spec
            .as_ref()
            .and_then(|s| s.strategy.as_ref())
            .and_then(|s| s.rolling_update.clone())
            .unwrap_or_default();
        let quarter = IntOrString::String("25%".into());
        rolling::resolve(
            rolling.max_surge.as_ref().unwrap_or(&quarter),
            rolling.max_unavailable.as_ref().unwrap_or(&quarter),
            self.desired(),
        )
        .map_err(Error::Invalid)
    }

    async fn run(self) -> Result<Action, Error> {
        let fence = self.fenceposts()?;
        let desired = self.desired();
        let paused = self.deployment.spec.as_ref().and_then(|s| s.paused) == Some(true);
        let mut created = false;
        let mut new = replicasets::find_new(&self.deployment, &self.owned).cloned();
        let mut olds: Vec<ReplicaSet> = self
            .owned
            .iter()
            .filter(|rs| {
                new.as_ref()
                    .is_none_or(|n| n.metadata.uid != rs.metadata.uid)
            })
            .cloned()
            .collect();
        olds.sort_by_key(|rs| (objects::created(&rs.metadata), rs.metadata.name.clone()));
        let revision = history::max_revision(&olds) + 1;

        if let Some(rs) = &new {
            if !paused {
                new = Some(
                    replicasets::sync_new(self.store(), &self.deployment, rs, revision).await?,
                );
            }
        }
        if paused {
            self.scale_while_paused(new.as_ref(), &olds, fence).await?;
        } else if self.is_recreate() {
            let old_pods: i32 = olds.iter().map(|rs| self.count(rs).pods).sum();
            for rs in &olds {
                self.scale(rs, 0, 0).await?;
            }
            if old_pods == 0 {
                match &new {
                    Some(rs) => {
                        self.scale(rs, desired, 0).await?;
                    }
                    None => match replicasets::create_new(
                        self.store(),
                        &self.deployment,
                        desired,
                        revision,
                        0,
                        self.controller.ctx.clock.now_seconds(),
                    )
                    .await?
                    {
                        NewReplicaSet::Created(rs) => {
                            self.scaled_event(&rs, 0, replicas_of(&rs)).await;
                            new = Some(*rs);
                            created = true;
                        }
                        NewReplicaSet::Collision => return self.collided().await,
                    },
                }
            }
        } else {
            let old_counts: Vec<RsCount> = olds.iter().map(|rs| self.count(rs)).collect();
            let new_count = new.as_ref().map(|rs| self.count(rs)).unwrap_or_default();
            let new_replicas = rolling::new_rs_replicas(desired, fence, new_count, &old_counts);
            match &new {
                Some(rs) => {
                    self.scale(rs, new_replicas, fence.surge).await?;
                }
                None => match replicasets::create_new(
                    self.store(),
                    &self.deployment,
                    new_replicas,
                    revision,
                    fence.surge,
                    self.controller.ctx.clock.now_seconds(),
                )
                .await?
                {
                    NewReplicaSet::Created(rs) => {
                        self.scaled_event(&rs, 0, replicas_of(&rs)).await;
                        new = Some(*rs);
                        created = true;
                    }
                    NewReplicaSet::Collision => return self.collided().await,
                },
            }
            let new_count = RsCount {
                replicas: new_replicas,
                ..new_count
            };
            let old_replicas = rolling::old_rs_replicas(desired, fence, new_count, &old_counts);
            for (rs, replicas) in olds.iter().zip(old_replicas) {
                self.scale(rs, replicas, fence.surge).await?;
            }
        }
        self.finish(new.as_ref(), &olds, created, fence).await
    }

    /// Paused: no new ReplicaSet; a scale of the Deployment goes to its only active one.
    async fn scale_while_paused(
        &self,
        new: Option<&ReplicaSet>,
        olds: &[ReplicaSet],
        fence: Fenceposts,
    ) -> Result<(), Error> {
        let desired = self.desired();
        let active: Vec<&ReplicaSet> = new
            .into_iter()
            .chain(olds.iter())
            .filter(|rs| replicas_of(rs) > 0)
            .collect();
        let target = match (new, active.as_slice()) {
            (Some(new), []) => Some(new),
            (_, [only]) => Some(*only),
            _ => None,
        };
        if let Some(rs) = target {
            self.scale(rs, desired, fence.surge).await?;
        }
        Ok(())
    }

    /// The name for this template is taken by another: count the collision so the next
    /// hash differs.
    async fn collided(&self) -> Result<Action, Error> {
        let key = deployment_key(&self.deployment);
        let uid = self.deployment.metadata.uid.clone().unwrap_or_default();
        objects::modify_if::<Deployment, _>(self.store(), &key, &uid, |d| {
            let status = d.status.get_or_insert_with(Default::default);
            status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
            true
        })
        .await?;
        tracing::warn!(deployment = %key, "replica set name collision; trying the next hash");
        Ok(Action::Requeue(Duration::ZERO))
    }

    /// Revision annotation, cleanup, status.
    async fn finish(
        &self,
        new: Option<&ReplicaSet>,
        olds: &[ReplicaSet],
        created: bool,
        fence: Fenceposts,
    ) -> Result<Action, Error> {
        let desired = self.desired();
        // Re-read what this reconcile changed, so the status counts the new replicas.
        let (sets, _) = self
            .store()
            .list("ReplicaSet", Some(&deployment_namespace(&self.deployment)))
            .await?;
        let sets: Vec<ReplicaSet> = decode_all(&sets);
        let spec_of = |rs: &ReplicaSet| {
            sets.iter()
                .find(|s| s.metadata.uid == rs.metadata.uid)
                .and_then(|s| s.spec.as_ref())
                .and_then(|s| s.replicas)
                .unwrap_or(0)
        };
        let mut counts = status::Counts::default();
        for rs in new.into_iter().chain(olds.iter()) {
            let count = self.count(rs);
            counts.spec_total += spec_of(rs);
            counts.pods += count.pods;
            counts.available += count.available;
            counts.ready += self.pods_of(rs).ready;
        }
        if let Some(rs) = new {
            counts.updated = self.count(rs).pods;
        }
        let now = self.controller.ctx.clock.now();
        let new_name = new.and_then(|rs| rs.metadata.name.as_deref());
        let (status, deadline) = status::compute(
            &self.deployment,
            &counts,
            new_name,
            created,
            fence.unavailable,
            now,
        );
        let paused = self.deployment.spec.as_ref().and_then(|s| s.paused) == Some(true);
        if status::is_complete(desired, &counts) && !paused {
            let limit = self
                .deployment
                .spec
                .as_ref()
                .and_then(|s| s.revision_history_limit)
                .unwrap_or(10);
            let olds: Vec<&ReplicaSet> = olds.iter().collect();
            replicasets::cleanup(
                self.controller.ctx.as_ref(),
                &olds,
                |rs| self.count(rs).pods,
                limit,
            )
            .await?;
        }
        let revision = new.map(|rs| history::revision(&rs.metadata).to_string());
        let key = deployment_key(&self.deployment);
        let uid = self.deployment.metadata.uid.clone().unwrap_or_default();
        let generation = self.deployment.metadata.generation;
        objects::modify_if::<Deployment, _>(self.store(), &key, &uid, |d| {
            let mut changed = false;
            if let Some(revision) = &revision {
                changed |=
                    history::set_annotation(&mut d.metadata, history::REVISION, revision.clone());
            }
            let mut status = status.clone();
            status.observed_generation = generation;
            status.collision_count = d.status.as_ref().and_then(|s| s.collision_count);
            if d.status.as_ref() != Some(&status) {
                d.status = Some(status);
                changed = true;
            }
            changed
        })
        .await?;
        let wake = [
            deadline,
            self.available_in.map(|d| d + Duration::from_millis(100)),
        ]
        .into_iter()
        .flatten()
        .min();
        Ok(wake.map_or(Action::AwaitChange, Action::Requeue))
    }
}

fn deployment_namespace(d: &Deployment) -> String {
    d.metadata.namespace.clone().unwrap_or_default()
}

fn deployment_key(d: &Deployment) -> Key {
    Key::new(
        "Deployment",
        deployment_namespace(d),
        d.metadata.name.clone().unwrap_or_default(),
    )
}

/// A ReplicaSet's active pods, as the rollout counts them.
#[derive(Debug, Clone, Copy, Default)]
struct PodCounts {
    pods: i32,
    ready: i32,
    available: i32,
}
