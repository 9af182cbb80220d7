//! Two real `skiff-control-plane` servers on one real etcd (a private single member on
//! loopback): the second joins the first with its server token, both answer the REST API
//! (through the kube crate), only the leader lease's holder runs the controllers, and
//! when it is killed with SIGKILL the other holds the lease within the lease duration and
//! the controllers act again; a clean stop (SIGTERM) hands the lease over at once. Bad
//! input: `--join` on SQLite, a token of another cluster, a data dir with its own CA on
//! the cluster's store — each refused with its message.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Endpoints, Namespace};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use skiff_control_plane::store::etcd::process::{free_port, require_etcd, EtcdProcess};

/// Short, so the test waits seconds, not minutes; the bound below scales with it.
const LEASE: Duration = Duration::from_secs(6);
const READY_TIMEOUT: Duration = Duration::from_secs(60);

struct Server {
    child: Child,
    data_dir: PathBuf,
    log: PathBuf,
    port: u16,
}

impl Server {
    fn command(dir: &Path, name: &str, port: u16, store: &str) -> (Command, PathBuf, PathBuf) {
        let data_dir = dir.join(name);
        let log = dir.join(format!("{name}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_skiff-control-plane"));
        cmd.arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--store", store])
            .args(["--leader-lease", &format!("{}s", LEASE.as_secs())])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        (cmd, data_dir, log)
    }

    fn start(dir: &Path, name: &str, port: u16, store: &str, join: Option<(&str, &str)>) -> Server {
        let (mut cmd, data_dir, log) = Server::command(dir, name, port, store);
        if let Some((url, token)) = join {
            cmd.args(["--join", url, "--token", token]);
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = cmd
            .stderr(file)
            .spawn()
            .expect("starting skiff-control-plane");
        Server {
            child,
            data_dir,
            log,
            port,
        }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.data_dir.join(file))
            .unwrap()
            .trim()
            .to_string()
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An admin client on this server's admin.conf, once it answers.
    async fn client(&mut self) -> kube::Client {
        skiff_proto::auth::install_crypto_provider();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("control plane exited ({status}):\n{}", self.logs());
            }
            if let Ok(file) = Kubeconfig::read_from(self.data_dir.join("admin.conf")) {
                if let Ok(config) =
                    kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default()).await
                {
                    let client = kube::Client::try_from(config).unwrap();
                    if client.apiserver_version().await.is_ok() {
                        return client;
                    }
                }
            }
            assert!(Instant::now() < deadline, "not ready:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn signal(&mut self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to its end (for refusals).
fn run_to_end(mut cmd: Command) -> Output {
    cmd.stderr(Stdio::piped())
        .output()
        .expect("running skiff-control-plane")
}

async fn holder(client: &kube::Client) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let lease = leases.get_opt("skiff-control-plane").await.ok()??;
    lease.spec?.holder_identity
}

/// Polls `check` until it is true; panics with `what` after `timeout`.
async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < timeout, "{what} (after {timeout:?})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

fn deployment(name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}
            }
        }
    })
}

/// ReplicaSets owned by the Deployment `name`.
async fn replica_sets(client: &kube::Client, name: &str) -> usize {
    let sets: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let listed = sets.list(&ListParams::default()).await.unwrap();
    listed
        .items
        .iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "Deployment" && o.name == name)
        })
        .count()
}

async fn apply_deployment(client: &kube::Client, name: &str) {
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    api.patch(
        name,
        &PatchParams::apply("ha-test"),
        &Patch::Apply(deployment(name)),
    )
    .await
    .unwrap();
}

/// The `kubernetes` Endpoints' `IP:PORT`s, sorted.
async fn api_endpoints(client: &kube::Client) -> Vec<String> {
    let api: Api<Endpoints> = Api::default_namespaced(client.clone());
    let Ok(endpoints) = api.get("kubernetes").await else {
        return Vec::new();
    };
    let mut found: Vec<String> = endpoints
        .subsets
        .iter()
        .flatten()
        .flat_map(|subset| {
            let ports: Vec<i32> = subset.ports.iter().flatten().map(|p| p.port).collect();
            subset.addresses.iter().flatten().flat_map(move |a| {
                ports
                    .clone()
                    .into_iter()
                    .map(move |p| format!("{}:{p}", a.ip))
            })
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn two_servers_share_one_etcd_and_the_controllers_fail_over() {
    if !require_etcd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdProcess::start_single(dir.path()).unwrap();
    let store = format!("etcd://{}", etcd.member.client_addr());

    // --join on SQLite is refused before anything is fetched.
    let (mut cmd, _, _) = Server::command(dir.path(), "lonely", free_port().unwrap(), "sqlite");
    cmd.args(["--join", "https://127.0.0.1:1", "--token", "K10x::server:y"]);
    let refused = run_to_end(cmd);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("--join needs --store etcd://"), "{stderr}");

    let mut first = Server::start(dir.path(), "first", free_port().unwrap(), &store, None);
    let first_client = first.client().await;
    let first_id = first.read("server-id");
    let token = first.read("server-token");
    assert!(
        token.starts_with("K10") && token.contains("::server:"),
        "{token}"
    );
    eventually(
        READY_TIMEOUT,
        "the first server never took the lease",
        || async { holder(&first_client).await.as_deref() == Some(first_id.as_str()) },
    )
    .await;

    // A token pinning another CA: refused, nothing fetched.
    let other_ca = format!(
        "K10{}::server:{}",
        "ab".repeat(32),
        token.rsplit(':').next().unwrap()
    );
    let (mut cmd, _, _) = Server::command(dir.path(), "stranger", free_port().unwrap(), &store);
    cmd.args(["--join", &first.url(), "--token", &other_ca]);
    let refused = run_to_end(cmd);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("does not present the CA the server token pins"),
        "{stderr}"
    );
    // A server with its own CA (no --join) on this cluster's store: refused.
    let (cmd, _, _) = Server::command(dir.path(), "intruder", free_port().unwrap(), &store);
    let refused = run_to_end(cmd);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("belongs to another cluster"), "{stderr}");

    let mut second = Server::start(
        dir.path(),
        "second",
        free_port().unwrap(),
        &store,
        Some((&first.url(), &token)),
    );
    let second_client = second.client().await;
    let second_id = second.read("server-id");
    assert_ne!(first_id, second_id);
    for shared in ["pki/ca.crt", "node-token", "server-token", "admin-token"] {
        assert_eq!(first.read(shared), second.read(shared), "{shared}");
    }

    // Both answer reads of the same cluster.
    for client in [&first_client, &second_client] {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let names: Vec<String> = namespaces
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
        assert!(names.contains(&"kube-system".to_string()), "{names:?}");
    }
    // The leader lists both servers in the `kubernetes` Endpoints.
    let both = {
        let mut both = vec![
            format!("127.0.0.1:{}", first.port),
            format!("127.0.0.1:{}", second.port),
        ];
        both.sort();
        both
    };
    eventually(
        READY_TIMEOUT,
        "the kubernetes Endpoints never listed both servers",
        || async { api_endpoints(&second_client).await == both },
    )
    .await;

    // A Deployment written through the second server gets its ReplicaSet from the
    // first's controllers; the second never started any.
    apply_deployment(&second_client, "before").await;
    eventually(
        READY_TIMEOUT,
        "no ReplicaSet for the first Deployment",
        || async { replica_sets(&second_client, "before").await == 1 },
    )
    .await;
    assert_eq!(
        holder(&second_client).await.as_deref(),
        Some(first_id.as_str())
    );
    assert!(
        !second.logs().contains("leading: starting the controllers"),
        "{}",
        second.logs()
    );

    // SIGKILL the leader: the second holds the lease within the lease duration (it must
    // see the lease unrenewed for that long, plus at most one retry period).
    first.signal(nix::sys::signal::Signal::SIGKILL);
    let killed = Instant::now();
    eventually(
        LEASE * 3,
        "the second server never took the lease",
        || async { holder(&second_client).await.as_deref() == Some(second_id.as_str()) },
    )
    .await;
    let took = killed.elapsed();
    println!("lease taken over {took:?} after SIGKILL (lease {LEASE:?})");
    // The lease, plus up to two retry periods (the last renewal is seen at the next
    // try, the expiry acted on at the one after) and room for a loaded machine: a bound
    // set by the lease, far below anything else (a restart, a minute's staleness).
    assert!(took <= LEASE * 2, "took {took:?} with a lease of {LEASE:?}");
    apply_deployment(&second_client, "after").await;
    eventually(
        READY_TIMEOUT,
        "controllers did not act after the failover",
        || async { replica_sets(&second_client, "after").await == 1 },
    )
    .await;
    assert_eq!(
        replica_sets(&second_client, "before").await,
        1,
        "no second ReplicaSet"
    );
    // The killed server's identity lease runs out: the Endpoints list only the second.
    let only_second = vec![format!("127.0.0.1:{}", second.port)];
    eventually(
        LEASE * 3,
        "the killed server stayed in the Endpoints",
        || async { api_endpoints(&second_client).await == only_second },
    )
    .await;

    // The first comes back (it follows now), then the second stops cleanly: the lease
    // is released and taken at once, not after it expires.
    let mut first = Server::start(dir.path(), "first", first.port, &store, None);
    let first_client = first.client().await;
    eventually(
        READY_TIMEOUT,
        "the restarted first server never listed itself",
        || async { api_endpoints(&first_client).await == both },
    )
    .await;
    assert_eq!(
        holder(&first_client).await.as_deref(),
        Some(second_id.as_str())
    );
    second.signal(nix::sys::signal::Signal::SIGTERM);
    let stopped = Instant::now();
    eventually(
        LEASE * 3,
        "the first server never took the released lease",
        || async { holder(&first_client).await.as_deref() == Some(first_id.as_str()) },
    )
    .await;
    let took = stopped.elapsed();
    println!("lease taken over {took:?} after SIGTERM (lease {LEASE:?})");
    assert!(
        took < LEASE,
        "a released lease waited for its expiry: {took:?}"
    );
    // A joined server restarted with --join still given needs nothing from the server
    // it joined (here, an address where nobody listens): its data dir has it all.
    let mut again = Server::start(
        dir.path(),
        "second",
        second.port,
        &store,
        Some(("https://127.0.0.1:1", &token)),
    );
    let again_client = again.client().await;
    assert_eq!(
        holder(&again_client).await.as_deref(),
        Some(first_id.as_str())
    );
    drop(etcd);
}
