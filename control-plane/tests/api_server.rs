//! The real `skiff-control-plane` binary on 127.0.0.1 with a temporary data dir, driven
//! over its Kubernetes REST API by the kube crate (a client no one here wrote) with the
//! admin.conf it writes: TLS, client-certificate authentication (401 without one), a pod
//! applied, read and watched over the wire, and durability of acknowledged applies across
//! `kill -9` (issue 5).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The user's manifest, verbatim.
const NGINX_POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: my-nginx-pod
spec:
  containers:
    - name: my-nginx-container
      image: nginx:latest
      ports:
        - containerPort: 80
          protocol: TCP
";

const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The field manager of this test's server-side applies.
const MANAGER: &str = "api-server-test";

/// A running control plane; killed when dropped.
struct ControlPlane {
    child: Child,
    data_dir: PathBuf,
    log: PathBuf,
}

impl ControlPlane {
    /// Starts the binary on 127.0.0.1:`port` and waits until it answers.
    async fn start(dir: &Path, port: u16) -> (ControlPlane, kube::Client) {
        let data_dir = dir.join("data");
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, Ordering::Relaxed);
        let log = dir.join(format!("control-plane-{n}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_skiff-control-plane"))
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting skiff-control-plane");
        let mut cp = ControlPlane {
            child,
            data_dir,
            log,
        };
        let client = cp.client().await;
        (cp, client)
    }

    fn admin_conf(&self) -> PathBuf {
        self.data_dir.join("admin.conf")
    }

    /// The admin.conf kubeconfig as the kube crate reads it.
    async fn config(&self) -> Option<kube::Config> {
        let file = Kubeconfig::read_from(self.admin_conf()).ok()?;
        kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .ok()
    }

    /// An admin client, once admin.conf exists and the server answers it.
    async fn client(&mut self) -> kube::Client {
        // Both of rustls' providers are compiled in (ring, and aws-lc-rs through the
        // kube crate's dependencies): pick one before kube builds its TLS config.
        skiff_proto::auth::install_crypto_provider();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("control plane exited ({status}):\n{}", self.logs());
            }
            if let Some(config) = self.config().await {
                let client = kube::Client::try_from(config).unwrap();
                if client.apiserver_version().await.is_ok() {
                    return client;
                }
            }
            assert!(
                Instant::now() < deadline,
                "control plane not ready:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Server-side apply of one manifest, as `kubectl apply --server-side` sends it.
async fn apply<K>(api: &Api<K>, manifest: &str) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let object: serde_json::Value = serde_yaml::from_str(manifest).unwrap();
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    api.patch(&name, &PatchParams::apply(MANAGER), &Patch::Apply(object))
        .await
        .unwrap_or_else(|e| panic!("applying {name}: {e}"))
}

fn resource_version<K: kube::Resource>(object: &K) -> String {
    object.meta().resource_version.clone().unwrap_or_default()
}

fn has_condition(pod: &Pod, kind: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == kind))
}

fn code(err: kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test]
async fn apply_get_and_watch_the_nginx_pod_then_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cp, client) = ControlPlane::start(dir.path(), free_port()).await;
    let pods: Api<Pod> = Api::default_namespaced(client);

    assert_eq!(code(pods.get("my-nginx-pod").await.unwrap_err()), 404);
    let applied = apply(&pods, NGINX_POD).await;
    let pod = pods.get("my-nginx-pod").await.unwrap();
    assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        pod.spec.as_ref().unwrap().containers[0].image.as_deref(),
        Some("nginx:latest")
    );
    assert_eq!(pod.metadata.uid, applied.metadata.uid);
    assert!(pod.metadata.uid.is_some());

    // The scheduler writes PodScheduled=False once (no node fits); wait for it so its
    // status write cannot land between the read and the second apply below.
    let deadline = Instant::now() + READY_TIMEOUT;
    while !has_condition(&pods.get("my-nginx-pod").await.unwrap(), "PodScheduled") {
        assert!(
            Instant::now() < deadline,
            "the scheduler never wrote PodScheduled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The same configuration again changes nothing (no new revision).
    let stored = resource_version(&pods.get("my-nginx-pod").await.unwrap());
    let again = apply(&pods, NGINX_POD).await;
    assert_eq!(resource_version(&again), stored);
    assert_eq!(code(pods.get("nope").await.unwrap_err()), 404);

    // A watch with its initial events: the pod, then the bookmark that ends them.
    let mut events = pods
        .watch(&WatchParams::streaming_lists(), "")
        .await
        .unwrap()
        .boxed();
    let mut next = async || {
        tokio::time::timeout(READY_TIMEOUT, events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    let WatchEvent::Added(added) = next().await else {
        panic!("the first event is not ADDED")
    };
    assert_eq!(added.metadata.uid, pod.metadata.uid);
    assert_eq!(resource_version(&added), stored);
    let WatchEvent::Bookmark(end) = next().await else {
        panic!("no BOOKMARK after the initial events")
    };
    assert_eq!(
        end.metadata
            .annotations
            .get("k8s.io/initial-events-end")
            .map(String::as_str),
        Some("true")
    );
    drop(events);
    // Whatever the scheduler wrote is status: applying the same manifest changes nothing.
    let stored = resource_version(&pods.get("my-nginx-pod").await.unwrap());
    let again = apply(&pods, NGINX_POD).await;
    assert_eq!(resource_version(&again), stored);

    let status = Command::new("kill")
        .args(["-TERM", &cp.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + READY_TIMEOUT;
    let exit = loop {
        if let Some(exit) = cp.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "no exit after SIGTERM:\n{}",
            cp.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit}:\n{}", cp.logs());
}

#[tokio::test]
async fn calls_without_a_client_certificate_are_unauthenticated() {
    let dir = tempfile::tempdir().unwrap();
    let (cp, _) = ControlPlane::start(dir.path(), free_port()).await;
    // admin.conf's cluster and CA, but no user credentials at all.
    let mut config = cp.config().await.unwrap();
    config.auth_info = Default::default();
    let anonymous = kube::Client::try_from(config).unwrap();
    let pods: Api<Pod> = Api::default_namespaced(anonymous);
    let err = pods.list(&ListParams::default()).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("not an API error: {err}")
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (401, "Unauthorized"),
        "{status:?}"
    );
    let object: serde_json::Value = serde_yaml::from_str(NGINX_POD).unwrap();
    let err = pods
        .patch(
            "my-nginx-pod",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(object),
        )
        .await
        .unwrap_err();
    assert_eq!(code(err), 401);
}

fn config_map(i: usize) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  n: \"{i}\"\n")
}

const APPLIES: usize = 50;
/// The server is killed once this many applies are acknowledged; more are in flight.
const KILL_AFTER: usize = 25;

#[tokio::test]
async fn acknowledged_applies_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut cp, client) = ControlPlane::start(dir.path(), port).await;

    let (acks, mut acked) = tokio::sync::mpsc::unbounded_channel();
    let writer = tokio::spawn(async move {
        let maps: Api<ConfigMap> = Api::default_namespaced(client);
        for i in 0..APPLIES {
            let object: serde_json::Value = serde_yaml::from_str(&config_map(i)).unwrap();
            let params = PatchParams::apply(MANAGER);
            match maps
                .patch(&format!("cm-{i}"), &params, &Patch::Apply(object))
                .await
            {
                Ok(stored) => acks.send((i, resource_version(&stored))).unwrap(),
                Err(_) => return, // the server is gone
            }
        }
    });
    let mut acknowledged = Vec::new();
    while acknowledged.len() < KILL_AFTER {
        acknowledged.push(
            acked
                .recv()
                .await
                .expect("applies acknowledged before the kill"),
        );
    }
    cp.kill9();
    writer.await.unwrap();
    while let Ok(ack) = acked.try_recv() {
        acknowledged.push(ack);
    }
    assert!(
        acknowledged.len() < APPLIES,
        "the kill came after every apply"
    );

    let (_cp, client) = ControlPlane::start(dir.path(), port).await;
    let maps: Api<ConfigMap> = Api::default_namespaced(client);
    let items = maps.list(&ListParams::default()).await.unwrap().items;
    let names: Vec<&str> = items
        .iter()
        .filter_map(|o| o.metadata.name.as_deref())
        .collect();
    for (i, _) in &acknowledged {
        assert!(
            names.contains(&format!("cm-{i}").as_str()),
            "cm-{i} acknowledged but lost: {names:?}"
        );
    }
    // Applying everything again: what was acknowledged is there unchanged (the revision it
    // was acknowledged at), the rest is new.
    for i in 0..APPLIES {
        let applied = apply(&maps, &config_map(i)).await;
        if let Some((_, acked_at)) = acknowledged.iter().find(|(n, _)| *n == i) {
            assert_eq!(&resource_version(&applied), acked_at, "cm-{i}");
        }
    }
}
