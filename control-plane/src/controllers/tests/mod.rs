//! Unit tests of the controllers against the memory store: objects go in through the
//! API's apply (so they are defaulted and validated as in production), reconciles are
//! called directly until nothing changes, and a tiny "kubelet" marks pods running and
//! ready where a test needs it.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::{
    ControllerContext, DeploymentController, GarbageCollector, JobController, Reconciler,
    ReplicaSetController,
};
use crate::core::objects::{controller_of, decode, decode_all};
use crate::core::{ManualClock, SystemClock};
use crate::store::{Key, MemoryStore, Store};

mod cronjobs;
mod daemonsets;
mod deployment;
mod event_ttl;
mod events;
mod finalizers;
mod gc;
mod jobs;
mod jobs_indexed;
mod jobs_policy;
mod load_balancer;
mod namespaces;
mod replicaset;
mod rolling_props;
mod rollout;
mod runtime;
mod statefulsets;

/// Generous: a case that needs it is broken, not slow.
const TIMEOUT: Duration = Duration::from_secs(10);

struct Harness {
    store: Arc<dyn Store>,
    clock: ManualClock,
    rs: ReplicaSetController,
    deployments: DeploymentController,
    gc: GarbageCollector,
    jobs: JobController,
}

impl Harness {
    async fn new() -> Harness {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        crate::resources::bootstrap(store.as_ref(), &SystemClock)
            .await
            .unwrap();
        let clock = ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap());
        let ctx = Arc::new(ControllerContext {
            store: store.clone(),
            clock: Arc::new(clock.clone()),
        });
        Harness {
            store,
            clock,
            rs: ReplicaSetController::new(ctx.clone()),
            deployments: DeploymentController::new(ctx.clone()),
            jobs: JobController::new(ctx.clone()),
            gc: GarbageCollector::new(ctx),
        }
    }

    async fn apply(&self, manifest: &str) {
        crate::resources::apply(self.store.as_ref(), &SystemClock, "test.yaml", manifest, "")
            .await
            .unwrap();
    }

    async fn revision(&self) -> i64 {
        self.store.current_revision().await.unwrap()
    }

    /// Reconciles every Deployment, ReplicaSet and dependent until a round writes nothing.
    async fn settle(&self) {
        for _ in 0..100 {
            let before = self.revision().await;
            self.round().await;
            if self.revision().await == before {
                return;
            }
        }
        panic!("the controllers never settled");
    }

    /// One reconcile of every object.
    async fn round(&self) {
        for key in self.keys("Deployment").await {
            self.deployments.reconcile(&key).await.unwrap();
        }
        for key in self.keys("ReplicaSet").await {
            self.rs.reconcile(&key).await.unwrap();
        }
        for key in self.keys("Job").await {
            self.jobs.reconcile(&key).await.unwrap();
        }
        for kind in ["Deployment", "ReplicaSet", "Pod"] {
            for key in self.keys(kind).await {
                self.gc.reconcile(&key).await.unwrap();
            }
        }
    }

    async fn keys(&self, kind: &str) -> Vec<Key> {
        let (items, _) = self.store.list(kind, None).await.unwrap();
        items.into_iter().map(|s| s.key).collect()
    }

    async fn pods(&self) -> Vec<Pod> {
        let (items, _) = self.store.list("Pod", Some("default")).await.unwrap();
        decode_all(&items)
    }

    async fn replica_sets(&self) -> Vec<ReplicaSet> {
        let (items, _) = self
            .store
            .list("ReplicaSet", Some("default"))
            .await
            .unwrap();
        decode_all(&items)
    }

    async fn get<T>(&self, kind: &str, name: &str) -> Option<T>
    where
        T: serde::de::DeserializeOwned
            + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    {
        let stored = self
            .store
            .get(&Key::new(kind, "default", name))
            .await
            .unwrap()?;
        Some(decode(&stored).unwrap())
    }

    async fn deployment(&self, name: &str) -> Deployment {
        self.get("Deployment", name)
            .await
            .expect("the deployment exists")
    }

    /// The kubelet's part: every pod gets a node and the status `ready` says (a pod
    /// already in that state keeps its transition time).
    async fn kubelet(&self, ready: impl Fn(&Pod) -> bool) {
        let now = self.clock.now_string();
        for stored in self.store.list("Pod", None).await.unwrap().0 {
            let mut value: Value = serde_json::from_slice(&stored.json).unwrap();
            let pod: Pod = decode(&stored).unwrap();
            let is_ready = ready(&pod);
            let was = value["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                .cloned();
            let status = if is_ready { "True" } else { "False" };
            if value["spec"]["nodeName"] == "n1"
                && was.as_ref().is_some_and(|w| w["status"] == status)
            {
                continue;
            }
            value["spec"]["nodeName"] = json!("n1");
            value["status"] = json!({
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": status, "lastTransitionTime": now}],
            });
            self.write(stored, &value).await;
        }
    }

    /// Replaces the status of a stored object, as its node would.
    async fn write_status(&self, stored: crate::store::Stored, status: Value) {
        let mut value: Value = serde_json::from_slice(&stored.json).unwrap();
        value["status"] = status;
        self.write(stored, &value).await;
    }

    /// Writes `value` over `stored`, which must still be current.
    async fn write(&self, stored: crate::store::Stored, value: &Value) {
        self.store
            .update(
                stored.key,
                serde_json::to_vec(value).unwrap(),
                Some(stored.revision),
            )
            .await
            .unwrap();
    }

    async fn delete(&self, kind: &str, name: &str, propagation: &str) {
        crate::resources::delete(
            self.store.as_ref(),
            &SystemClock,
            kind,
            "default",
            name,
            propagation,
        )
        .await
        .unwrap();
    }
}

trait ClockExt {
    fn now_string(&self) -> String;
}

impl ClockExt for ManualClock {
    fn now_string(&self) -> String {
        use crate::core::Clock;
        self.now().to_string()
    }
}

fn owner_name(
    pod_meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<String> {
    controller_of(pod_meta).map(|o| o.name.clone())
}

fn ready_count(pods: &[Pod]) -> usize {
    pods.iter()
        .filter(|p| crate::core::objects::is_ready(p))
        .count()
}

const REPLICASET: &str = "\
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: replicaset-nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: my-nginx-pods-label
  template:
    metadata:
      name: my-nginx-pod
      labels:
        app: my-nginx-pods-label
    spec:
      containers:
        - name: nginx
          image: nginx:latest
          ports:
            - containerPort: 80
";

/// The user's deployment-nginx.yaml with a chosen size and strategy block.
fn deployment_yaml(replicas: i32, image: &str, strategy: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-nginx-deployment
spec:
  replicas: {replicas}
{strategy}  selector:
    matchLabels:
      app: my-nginx
  template:
    metadata:
      name: my-nginx-pod
      labels:
        app: my-nginx
    spec:
      containers:
        - name: nginx
          image: {image}
          ports:
            - containerPort: 80
"
    )
}
