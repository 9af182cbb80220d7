//! The real `skiff-control-plane` binary on 127.0.0.1 with a temporary data dir, driven
//! through the admin.conf it writes: TLS, client-certificate authorization, the Api over
//! the wire, and durability of acknowledged applies across `kill -9` (issue 5).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use skiff_proto::auth::{self, AdminConfig};
use skiff_proto::v1::api_client::ApiClient;
use skiff_proto::v1::{ApplyRequest, GetRequest, ListRequest, WatchRequest};
use tonic::transport::Channel;
use tonic::Code;

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

/// A running control plane; killed when dropped.
struct ControlPlane {
    child: Child,
    data_dir: PathBuf,
    log: PathBuf,
}

impl ControlPlane {
    /// Starts the binary on 127.0.0.1:`port` and waits until it answers.
    async fn start(dir: &Path, port: u16) -> (ControlPlane, ApiClient<Channel>) {
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

    /// An admin client, once admin.conf exists and the server accepts connections.
    async fn client(&mut self) -> ApiClient<Channel> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("control plane exited ({status}):\n{}", self.logs());
            }
            if let Ok(config) = AdminConfig::load(&self.admin_conf()) {
                if let Ok(channel) = config.channel().await {
                    return ApiClient::new(channel);
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

fn apply_request(manifest: &str) -> ApplyRequest {
    ApplyRequest {
        source: "test.yaml".into(),
        manifest: manifest.into(),
        namespace: String::new(),
    }
}

#[tokio::test]
async fn apply_get_and_watch_the_nginx_pod_then_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cp, mut api) = ControlPlane::start(dir.path(), free_port()).await;

    let applied = api
        .apply(apply_request(NGINX_POD))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(applied.results.len(), 1);
    assert_eq!(applied.results[0].action, "created");
    let get = GetRequest {
        kind: "Pod".into(),
        namespace: String::new(),
        name: "my-nginx-pod".into(),
    };
    let pod = api.get(get.clone()).await.unwrap().into_inner();
    assert_eq!(
        (pod.kind.as_str(), pod.namespace.as_str()),
        ("Pod", "default")
    );
    let json: serde_json::Value = serde_json::from_slice(&pod.json).unwrap();
    assert_eq!(json["spec"]["containers"][0]["image"], "nginx:latest");
    assert_eq!(json["metadata"]["resourceVersion"], pod.resource_version);
    assert_eq!(json["metadata"]["uid"], pod.uid.as_str());

    let again = api
        .apply(apply_request(NGINX_POD))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.results[0].action, "unchanged");
    let missing = GetRequest {
        name: "nope".into(),
        ..get
    };
    assert_eq!(api.get(missing).await.unwrap_err().code(), Code::NotFound);

    let watch = WatchRequest {
        kind: "Pod".into(),
        ..Default::default()
    };
    let mut events = api.watch(watch).await.unwrap().into_inner();
    let mut next = async || {
        tokio::time::timeout(READY_TIMEOUT, events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    let added = next().await;
    let added_pod = added.object.expect("ADDED carries the object");
    assert_eq!(
        (added.r#type.as_str(), added_pod.uid.as_str()),
        ("ADDED", pod.uid.as_str())
    );
    // The scheduler may have written the pod's status since (no node fits: Unschedulable).
    let revision = |rv: &str| rv.parse::<i64>().unwrap();
    assert!(revision(&added.resource_version) >= revision(&pod.resource_version));
    assert_eq!(next().await.r#type, "BOOKMARK");
    drop(events);
    // Whatever the scheduler wrote is status: applying the same manifest changes nothing.
    let again = api
        .apply(apply_request(NGINX_POD))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.results[0].action, "unchanged");

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
    let admin = AdminConfig::load(&cp.admin_conf()).unwrap();
    let anonymous = auth::endpoint(&admin.server, &admin.ca, None)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut api = ApiClient::new(anonymous);
    let list = ListRequest {
        kind: "Pod".into(),
        ..Default::default()
    };
    let err = api.list(list).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");
    let err = api.apply(apply_request(NGINX_POD)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");
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
    let (mut cp, api) = ControlPlane::start(dir.path(), port).await;

    let (acks, mut acked) = tokio::sync::mpsc::unbounded_channel();
    let writer = tokio::spawn(async move {
        let mut api = api;
        for i in 0..APPLIES {
            match api.apply(apply_request(&config_map(i))).await {
                Ok(_) => acks.send(i).unwrap(),
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
    while let Ok(i) = acked.try_recv() {
        acknowledged.push(i);
    }
    assert!(
        acknowledged.len() < APPLIES,
        "the kill came after every apply"
    );

    let (_cp, mut api) = ControlPlane::start(dir.path(), port).await;
    let list = ListRequest {
        kind: "ConfigMap".into(),
        ..Default::default()
    };
    let items = api.list(list).await.unwrap().into_inner().items;
    let names: Vec<&str> = items.iter().map(|o| o.name.as_str()).collect();
    for i in &acknowledged {
        assert!(
            names.contains(&format!("cm-{i}").as_str()),
            "cm-{i} acknowledged but lost: {names:?}"
        );
    }
    // Applying everything again: what was acknowledged is there unchanged, the rest is new.
    for i in 0..APPLIES {
        let result = api
            .apply(apply_request(&config_map(i)))
            .await
            .unwrap()
            .into_inner();
        let action = result.results[0].action.as_str();
        if acknowledged.contains(&i) {
            assert_eq!(action, "unchanged", "cm-{i}");
        }
    }
}
