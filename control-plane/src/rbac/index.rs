//! The RBAC objects in memory, so that authorizing a request reads no store: listed at
//! start, then kept by a watch (a lost or compacted watch lists them again). The watch
//! is of every kind, so the index knows which store revision it is current with and
//! [`Index::caught_up`] lets a writer wait until its own change is in.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::core::objects::decode_all;
use crate::core::Error;
use crate::store::{decode, Event, EventType, Store};

const RETRY_INITIAL: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// The kinds the index holds.
pub const RBAC_KINDS: [&str; 4] = ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"];

/// The RBAC objects, by (namespace, name).
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub roles: BTreeMap<(String, String), Role>,
    pub cluster_roles: BTreeMap<String, ClusterRole>,
    pub role_bindings: BTreeMap<(String, String), RoleBinding>,
    pub cluster_role_bindings: BTreeMap<String, ClusterRoleBinding>,
}

impl Snapshot {
    /// Applies one write; an object that does not decode is dropped (and so grants nothing).
    fn apply(&mut self, event: &Event) {
        let key = &event.object.key;
        let at = (key.namespace.clone(), key.name.clone());
        let gone = event.kind == EventType::Deleted;
        macro_rules! put {
            ($map:expr, $k:expr) => {
                match (gone, decode(&event.object)) {
                    (false, Ok(object)) => {
                        $map.insert($k, object);
                    }
                    (true, _) => {
                        $map.remove(&$k);
                    }
                    (false, Err(e)) => {
                        warn!(key = %key, error = %e, "rbac object does not decode; it grants nothing");
                        $map.remove(&$k);
                    }
                }
            };
        }
        match key.kind.as_str() {
            "Role" => put!(self.roles, at),
            "ClusterRole" => put!(self.cluster_roles, key.name.clone()),
            "RoleBinding" => put!(self.role_bindings, at),
            "ClusterRoleBinding" => put!(self.cluster_role_bindings, key.name.clone()),
            _ => {}
        }
    }

    /// Everything in the store now, and the revision that is consistent with.
    pub async fn load(store: &dyn Store) -> Result<(Snapshot, i64), Error> {
        let mut snapshot = Snapshot::default();
        let mut from = i64::MAX;
        let (roles, rev) = store.list("Role", None).await?;
        from = from.min(rev);
        snapshot.roles = decode_all::<Role>(&roles)
            .into_iter()
            .map(|r| ((ns(&r.metadata), name(&r.metadata)), r))
            .collect();
        let (cluster_roles, rev) = store.list("ClusterRole", None).await?;
        from = from.min(rev);
        snapshot.cluster_roles = decode_all::<ClusterRole>(&cluster_roles)
            .into_iter()
            .map(|r| (name(&r.metadata), r))
            .collect();
        let (bindings, rev) = store.list("RoleBinding", None).await?;
        from = from.min(rev);
        snapshot.role_bindings = decode_all::<RoleBinding>(&bindings)
            .into_iter()
            .map(|b| ((ns(&b.metadata), name(&b.metadata)), b))
            .collect();
        let (cluster_bindings, rev) = store.list("ClusterRoleBinding", None).await?;
        from = from.min(rev);
        snapshot.cluster_role_bindings = decode_all::<ClusterRoleBinding>(&cluster_bindings)
            .into_iter()
            .map(|b| (name(&b.metadata), b))
            .collect();
        Ok((snapshot, from))
    }
}

fn ns(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.namespace.clone().unwrap_or_default()
}

fn name(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

/// The shared, watched snapshot.
pub struct Index {
    snapshot: RwLock<Arc<Snapshot>>,
    /// The last revision applied.
    revision: watch::Sender<i64>,
}

impl Index {
    /// Loads the RBAC objects and keeps them current from then on (until the process
    /// ends: the task holds the index).
    pub async fn start(store: Arc<dyn Store>) -> Result<Arc<Index>, Error> {
        let (snapshot, from) = Snapshot::load(store.as_ref()).await?;
        let index = Arc::new(Index {
            snapshot: RwLock::new(Arc::new(snapshot)),
            revision: watch::Sender::new(from),
        });
        tokio::spawn(index.clone().follow(store, from));
        Ok(index)
    }

    /// An index over fixed objects, never updated (unit tests).
    pub fn fixed(snapshot: Snapshot) -> Index {
        Index {
            snapshot: RwLock::new(Arc::new(snapshot)),
            revision: watch::Sender::new(0),
        }
    }

    /// The objects as of now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn follow(self: Arc<Self>, store: Arc<dyn Store>, mut from: i64) {
        let mut retry = RETRY_INITIAL;
        loop {
            match store.watch(None, from).await {
                Ok(mut events) => {
                    while let Some(Ok(event)) = events.next().await {
                        from = event.revision();
                        retry = RETRY_INITIAL;
                        if RBAC_KINDS.contains(&event.object.key.kind.as_str()) {
                            self.update(|s| s.apply(&event));
                            debug!(key = %event.object.key, revision = from, "rbac index updated");
                        }
                        self.revision.send_replace(from);
                    }
                    warn!(revision = from, "rbac watch ended; listing again");
                }
                Err(e) => warn!(error = %e, revision = from, "rbac watch refused; listing again"),
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(RETRY_MAX);
            match Snapshot::load(store.as_ref()).await {
                Ok((snapshot, revision)) => {
                    self.update(|s| *s = snapshot);
                    from = revision;
                    self.revision.send_replace(revision);
                }
                Err(e) => warn!(error = %e, "listing rbac objects failed; keeping the last ones"),
            }
        }
    }

    fn update(&self, change: impl FnOnce(&mut Snapshot)) {
        let mut guard = self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(Arc::make_mut(&mut guard));
    }

    /// Waits (at most `limit`) until the index is current with the store's revision of
    /// now, so that a request right after a policy change is judged by it.
    pub async fn caught_up(&self, store: &dyn Store, limit: Duration) {
        let Ok(current) = store.current_revision().await else {
            return;
        };
        let mut rx = self.revision.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|seen| *seen >= current)).await;
    }
}
