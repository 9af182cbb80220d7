//! The pod manager: diffs the desired pods with the workers it runs.
//!
//! Contract: level-triggered on the whole desired set. Every desired pod has exactly one
//! worker; a worker whose pod is gone is told to terminate and forgotten only once its
//! teardown finished, so a pod that comes back waits for its old self to be gone. At start
//! it adopts the containers a previous agent left and removes what no pod claims.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tracing::{info, warn};

use super::pod_runtime::{by_pod, FoundContainer, PodRuntime, RuntimeEvent};
use super::worker::{Command, Worker};
use super::{StatusStore, WorkerConfig};
use crate::sources::DesiredPods;

struct Handle {
    cmds: mpsc::Sender<Command>,
    terminating: bool,
}

pub struct PodManager<R: PodRuntime> {
    rt: Arc<R>,
    cfg: Arc<WorkerConfig>,
    store: StatusStore,
    events: broadcast::Sender<RuntimeEvent>,
    workers: HashMap<String, Handle>,
    done_tx: mpsc::UnboundedSender<String>,
    done_rx: mpsc::UnboundedReceiver<String>,
}

impl<R: PodRuntime> PodManager<R> {
    pub fn new(rt: Arc<R>, cfg: WorkerConfig, store: StatusStore) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Self {
            rt,
            cfg: Arc::new(cfg),
            store,
            events: broadcast::channel(1024).0,
            workers: HashMap::new(),
            done_tx,
            done_rx,
        }
    }

    /// Where runtime events go; every worker hears every event and picks its own.
    pub fn events(&self) -> broadcast::Sender<RuntimeEvent> {
        self.events.clone()
    }

    pub async fn run(mut self, mut desired: watch::Receiver<DesiredPods>) {
        let mut adoptable = self.discover().await;
        let mut first = true;
        loop {
            if first {
                first = false;
                let want = desired.borrow_and_update().clone();
                self.store.set_errors(want.errors.clone());
                self.reconcile(&want, &mut adoptable);
                self.collect_orphans(&want, std::mem::take(&mut adoptable))
                    .await;
            } else {
                // Borrowed only while reconciling (no await): no second copy of the set
                // waits with the loop.
                let want = desired.borrow_and_update();
                self.store.set_errors(want.errors.clone());
                self.reconcile(&want, &mut adoptable);
            }
            tokio::select! {
                changed = desired.changed() => if changed.is_err() {
                    // The source is gone: keep what runs, as after a restart.
                    std::future::pending::<()>().await;
                },
                Some(uid) = self.done_rx.recv() => {
                    self.workers.remove(&uid);
                }
            }
        }
    }

    fn reconcile(
        &mut self,
        want: &DesiredPods,
        adoptable: &mut HashMap<String, Vec<FoundContainer>>,
    ) {
        for (uid, pod) in &want.pods {
            if self.workers.contains_key(uid) {
                continue;
            }
            info!(pod = %super::pod_key(pod), %uid, "pod added");
            let found = adoptable.remove(uid).unwrap_or_default();
            let worker = Worker::new(
                (**pod).clone(),
                self.rt.clone(),
                self.cfg.clone(),
                self.store.clone(),
                found,
            );
            self.spawn(uid.clone(), worker);
        }
        for (uid, handle) in &mut self.workers {
            if !want.pods.contains_key(uid) && !handle.terminating {
                info!(%uid, "pod removed from desired state");
                handle.terminating = true;
                let grace = want.deletion_grace.get(uid).copied();
                let _ = handle.cmds.try_send(Command::Terminate(grace));
            }
        }
    }

    fn spawn(&mut self, uid: String, worker: Worker<R>) {
        let (cmds, cmd_rx) = mpsc::channel(4);
        let events = self.events.subscribe();
        let done = self.done_tx.clone();
        let id = uid.clone();
        tokio::spawn(async move {
            worker.run(cmd_rx, events).await;
            let _ = done.send(id);
        });
        self.workers.insert(
            uid,
            Handle {
                cmds,
                terminating: false,
            },
        );
    }

    /// Lists what a previous agent left, retrying until containerd answers.
    async fn discover(&self) -> HashMap<String, Vec<FoundContainer>> {
        let mut delay = Duration::from_millis(200);
        loop {
            match self.rt.list_containers().await {
                Ok(found) => {
                    if !found.is_empty() {
                        info!(
                            containers = found.len(),
                            "found containers from an earlier run"
                        );
                    }
                    return by_pod(found);
                }
                Err(error) => {
                    warn!(%error, retry_in = ?delay, "cannot list containers");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Containers and sandboxes no desired pod claims: torn down by a worker of their own.
    async fn collect_orphans(
        &mut self,
        want: &DesiredPods,
        orphans: HashMap<String, Vec<FoundContainer>>,
    ) {
        let mut seen: HashSet<String> = HashSet::new();
        for (uid, found) in orphans {
            let Some(first) = found.first() else { continue };
            info!(pod = %format!("{}/{}", first.pod_namespace, first.pod_name), %uid, containers = found.len(), "removing orphaned pod");
            let mut pod = k8s_openapi::api::core::v1::Pod::default();
            pod.metadata.uid = Some(uid.clone());
            pod.metadata.name = Some(first.pod_name.clone());
            pod.metadata.namespace = Some(first.pod_namespace.clone());
            let spec = pod.spec.get_or_insert_with(Default::default);
            // Its manifest is gone but its grace period went with it: use the default.
            spec.termination_grace_period_seconds = Some(30);
            let mut names: Vec<String> = found.iter().map(|c| c.container_name.clone()).collect();
            names.sort();
            names.dedup();
            spec.containers = names
                .into_iter()
                .map(|name| k8s_openapi::api::core::v1::Container {
                    name,
                    ..Default::default()
                })
                .collect();
            let worker = Worker::new(
                pod,
                self.rt.clone(),
                self.cfg.clone(),
                self.store.clone(),
                found,
            )
            .orphan();
            seen.insert(uid.clone());
            self.spawn(uid.clone(), worker);
            if let Some(h) = self.workers.get_mut(&uid) {
                h.terminating = true;
            }
        }
        let live: HashSet<String> = self
            .workers
            .keys()
            .chain(want.pods.keys())
            .cloned()
            .collect();
        self.cfg.volumes.remove_unclaimed(&live);
        if let Err(error) = self.rt.collect_garbage(&live).await {
            warn!(%error, "cannot collect network leftovers");
        }
        match self.rt.list_sandboxes().await {
            Ok(uids) => {
                for uid in uids {
                    if !want.pods.contains_key(&uid)
                        && !seen.contains(&uid)
                        && !self.workers.contains_key(&uid)
                    {
                        info!(%uid, "removing orphaned sandbox");
                        if let Err(error) = self.rt.remove_sandbox(&uid).await {
                            warn!(%uid, %error, "cannot remove orphaned sandbox");
                        }
                    }
                }
            }
            Err(error) => warn!(%error, "cannot list sandboxes"),
        }
    }
}
