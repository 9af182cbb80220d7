//! Against a real containerd, as root. Set SKIFF_TEST_CONTAINERD_SOCK to a containerd
//! socket to run them (deploy/with-test-runtime.sh does); under CI=true they fail without it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use containerd_client::services::v1::snapshots::{RemoveSnapshotRequest, StatSnapshotRequest};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use oci_spec::image::{ConfigBuilder, ImageConfiguration, ImageConfigurationBuilder};

use super::*;
use crate::containerd::client::SNAPSHOTTER;
use crate::containerd::{labels, Containerd};
use crate::pod_sandbox::{Sandbox, Sandboxes};

mod logs;

const NAMESPACE: &str = "skiff-test";
const APPLETS: &[&str] = &[
    "sh", "sleep", "echo", "hostname", "httpd", "wget", "cat", "id", "ls",
];

struct Env {
    runtime: ContainerRuntime,
    root: tempfile::TempDir,
    sandboxes: Sandboxes,
    base: String,
    pod: Pod,
    uid: String,
}

fn socket() -> Option<PathBuf> {
    crate::test_support::test_env("SKIFF_TEST_CONTAINERD_SOCK").map(PathBuf::from)
}

async fn setup(test: &str) -> anyhow::Result<Option<Env>> {
    setup_in(test, NAMESPACE).await
}

/// [`setup`] in a containerd namespace of the test's own: another test's cleanup lists
/// (and so adopts) every container of its namespace, which a test of adoption must not see.
async fn setup_in(test: &str, namespace: &str) -> anyhow::Result<Option<Env>> {
    let Some(sock) = socket() else {
        return Ok(None);
    };
    let client = Containerd::connect_lazy(&sock, namespace)?;
    let uid = format!("{test}-{}", std::process::id());
    let base = format!("skiff-test-base-{uid}");
    crate::test_support::busybox_snapshot(
        &client,
        &base,
        APPLETS,
        &[("www/index.html", "hello over localhost\n")],
    )
    .await?;
    let root = tempfile::tempdir()?;
    let sandboxes = Sandboxes::new(root.path());
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(format!("{test}-pod")),
            uid: Some(uid.clone()),
            ..Default::default()
        },
        spec: Some(PodSpec::default()),
        ..Default::default()
    };
    Ok(Some(Env {
        runtime: ContainerRuntime::new(client),
        root,
        sandboxes,
        base,
        pod,
        uid,
    }))
}

fn shell(name: &str, script: &str) -> Container {
    Container {
        name: name.into(),
        command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        ..Default::default()
    }
}

/// The cgroup directory of `pid` for `controller` (v1) or the unified hierarchy (v2).
fn cgroup_dir(pid: u32, controller: &str) -> anyhow::Result<PathBuf> {
    let table = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    for line in table.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (
            parts.next(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        if controllers.split(',').any(|c| c == controller) {
            return Ok(PathBuf::from(format!("/sys/fs/cgroup/{controller}{path}")));
        }
    }
    let unified = table
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .context("no cgroup")?;
    Ok(PathBuf::from(format!("/sys/fs/cgroup{unified}")))
}

fn image() -> ImageConfiguration {
    let config = ConfigBuilder::default()
        .env(vec!["PATH=/bin".to_string()])
        .build()
        .unwrap();
    ImageConfigurationBuilder::default()
        .config(config)
        .build()
        .unwrap()
}

impl Env {
    fn sandbox(&self) -> anyhow::Result<Sandbox> {
        Ok(self
            .sandboxes
            .create(&self.uid, self.pod.metadata.name.as_deref().unwrap())?)
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.root
            .path()
            .join(format!("pods/{}/{name}/0.log", self.uid))
    }

    /// Creates and starts `sh -c script` as container `name`; returns its id.
    async fn run(&self, sandbox: &Sandbox, name: &str, script: &str) -> anyhow::Result<String> {
        self.run_container(sandbox, shell(name, script)).await
    }

    async fn run_container(
        &self,
        sandbox: &Sandbox,
        container: Container,
    ) -> anyhow::Result<String> {
        let id = self.create_container(sandbox, &container).await?;
        self.runtime.start(&id).await?;
        Ok(id)
    }

    async fn create_container(
        &self,
        sandbox: &Sandbox,
        container: &Container,
    ) -> anyhow::Result<String> {
        self.create_attempt(sandbox, container, 0).await
    }

    /// Attempt `attempt` of `container`: a restart gets a container id of its own.
    async fn create_attempt(
        &self,
        sandbox: &Sandbox,
        container: &Container,
        attempt: u32,
    ) -> anyhow::Result<String> {
        let name = container.name.as_str();
        let id = ContainerRuntime::container_id(&self.uid, name, attempt);
        let spec = build_spec(SpecInput {
            container_id: &id,
            pod: &self.pod,
            container,
            env: &crate::pods::env::plain_env(container),
            image: &image(),
            sandbox,
            mounts: vec![],
        })?;
        let labels = HashMap::from([
            (labels::POD_UID.to_string(), self.uid.clone()),
            (labels::CONTAINER_NAME.to_string(), name.to_string()),
        ]);
        self.runtime
            .create(
                &id,
                &spec,
                &self.base,
                labels.clone(),
                &TaskIo::log_only(&self.log_path(name)),
            )
            .await?;
        // Idempotent: a second create reuses everything.
        self.runtime
            .create(
                &id,
                &spec,
                &self.base,
                labels,
                &TaskIo::log_only(&self.log_path(name)),
            )
            .await?;
        Ok(id)
    }

    /// The log of `name` as a reader gets it (CRI lines rendered, `query` applied).
    fn log_text(&self, name: &str, query: crate::container_logs::LogQuery) -> String {
        let Ok(Some(mut reader)) =
            crate::container_logs::LogReader::open(&self.log_path(name), query)
        else {
            return String::new();
        };
        let mut text = Vec::new();
        while let Ok(chunk) = reader.next_chunk() {
            if chunk.is_empty() {
                break;
            }
            text.extend(chunk);
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    async fn log_contains(&self, name: &str, needle: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.log_text(name, Default::default());
            if text.contains(needle) {
                return Ok(text);
            }
            ensure!(
                Instant::now() < deadline,
                "{needle:?} not in log of {name}: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Removes every container of this pod, the sandbox and the base snapshot, then checks
    /// nothing is left. Every step runs even when an earlier one failed.
    async fn cleanup(&self) -> anyhow::Result<()> {
        let mut errors = Vec::new();
        match self.runtime.list().await {
            Ok(records) => {
                for record in records {
                    if record.labels.get(labels::POD_UID) == Some(&self.uid) {
                        if let Err(e) = self.check_removed(&record.id).await {
                            errors.push(format!("{e:#}"));
                        }
                    }
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
        let c = self.runtime.client();
        let req = RemoveSnapshotRequest {
            snapshotter: SNAPSHOTTER.into(),
            key: self.base.clone(),
        };
        if let Err(e) = c.snapshots().remove(c.request(req)).await {
            errors.push(format!("base snapshot: {e}"));
        }
        if let Err(e) = self.sandboxes.remove(&self.uid) {
            errors.push(e.to_string());
        }
        if let Err(e) = self.sandboxes.unmount_dir() {
            errors.push(e.to_string());
        }
        for root in [
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup",
        ] {
            let pod_cgroup = Path::new(root).join(format!("skiff/pod{}", self.uid));
            if pod_cgroup.exists() {
                errors.push(format!("{} left behind", pod_cgroup.display()));
            }
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
        if mounts.contains(self.root.path().to_str().unwrap()) {
            errors.push(format!("mounts left: {mounts}"));
        }
        ensure!(errors.is_empty(), "cleanup: {errors:?}");
        Ok(())
    }

    async fn check_removed(&self, id: &str) -> anyhow::Result<()> {
        self.runtime.remove(id).await?;
        self.runtime.remove(id).await?;
        let gone = self.runtime.inspect(id).await;
        ensure!(matches!(&gone, Err(e) if e.is_not_found()), "{gone:?}");
        let c = self.runtime.client();
        let stat = c
            .snapshots()
            .stat(c.request(StatSnapshotRequest {
                snapshotter: SNAPSHOTTER.into(),
                key: id.to_string(),
            }))
            .await;
        ensure!(stat.is_err(), "snapshot {id} left behind");
        Ok(())
    }
}

async fn with_env<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Arc<Env>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let env = match setup(test).await {
        Ok(Some(env)) => Arc::new(env),
        Ok(None) => return,
        Err(e) => panic!("setup: {e:#}"),
    };
    let result = body(env.clone()).await;
    let cleaned = env.cleanup().await;
    result.unwrap();
    cleaned.unwrap();
}

#[tokio::test]
async fn real_lifecycle_logs_hostname_and_sigterm() {
    with_env("life", |env| async move {
        let sandbox = env.sandbox()?;
        let mut exits = env.runtime.subscribe_exits();
        let script = "echo hello from $(hostname); echo to-stderr >&2; \
                      trap 'echo got term; exit 3' TERM; sleep 1000 & wait";
        let id = env.run(&sandbox, "main", script).await?;
        env.log_contains("main", "hello from life-pod\n").await?;
        env.log_contains("main", "to-stderr\n").await?;

        let record = env.runtime.inspect(&id).await?;
        ensure!(
            matches!(record.state, TaskState::Running { .. }),
            "{record:?}"
        );
        let listed = env.runtime.list().await?;
        ensure!(
            listed.iter().any(|r| r.id == id && r.state == record.state),
            "{listed:?}"
        );

        let started = Instant::now();
        env.runtime.stop(&id, Duration::from_secs(10)).await?;
        ensure!(
            started.elapsed() < Duration::from_secs(5),
            "SIGTERM was not honoured"
        );
        env.log_contains("main", "got term\n").await?;
        let state = env.runtime.inspect(&id).await?.state;
        ensure!(
            matches!(
                state,
                TaskState::Exited {
                    code: 3,
                    exited_at: Some(_)
                }
            ),
            "{state:?}"
        );
        env.runtime.stop(&id, Duration::from_secs(1)).await?;

        let exit = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match exits.recv().await {
                    Some(ExitMessage::Exit(e)) if e.container_id == id => return Some(e),
                    Some(_) => continue,
                    None => return None,
                }
            }
        })
        .await?
        .context("exit feed closed")?;
        ensure!(
            exit.exit_status == 3 && exit.exited_at.is_some(),
            "{exit:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn real_sidecars_share_localhost() {
    with_env("side", |env| async move {
        let sandbox = env.sandbox()?;
        env.run(&sandbox, "server", "httpd -f -p 8080 -h /www")
            .await?;
        let client = "for i in 1 2 3 4 5 6 7 8 9 10; do \
                      wget -q -O - http://127.0.0.1:8080/index.html && break; sleep 0.2; done; \
                      hostname; sleep 1000";
        let id = env.run(&sandbox, "client", client).await?;
        let log = env
            .log_contains("client", "hello over localhost\nside-pod\n")
            .await?;
        ensure!(!log.contains("wget:"), "{log}");

        let TaskState::Running { pid } = env.runtime.inspect(&id).await?.state else {
            anyhow::bail!("client not running");
        };
        let ns = |p: &Path| std::fs::metadata(p).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        let in_container = ns(Path::new(&format!("/proc/{pid}/ns/net")))?;
        ensure!(
            in_container == ns(&sandbox.net)?,
            "container is not in the pod netns"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn real_stop_kills_after_grace() {
    with_env("kill", |env| async move {
        let sandbox = env.sandbox()?;
        let mut container = shell("stubborn", "trap '' TERM; echo ready; sleep 1000");
        let quantities = |v: &[(&str, &str)]| {
            Some(
                v.iter()
                    .map(|(k, q)| (k.to_string(), Quantity(q.to_string())))
                    .collect(),
            )
        };
        container.resources = Some(ResourceRequirements {
            limits: quantities(&[("memory", "64Mi"), ("cpu", "500m")]),
            requests: quantities(&[("memory", "64Mi"), ("cpu", "250m")]),
            ..Default::default()
        });
        let id = env.run_container(&sandbox, container).await?;
        env.log_contains("stubborn", "ready\n").await?;

        let TaskState::Running { pid } = env.runtime.inspect(&id).await?.state else {
            anyhow::bail!("not running");
        };
        let memory = cgroup_dir(pid, "memory")?;
        ensure!(
            memory.ends_with(format!("skiff/pod{}/{id}", env.uid)),
            "{memory:?}"
        );
        let read = |dir: &Path, file: &str| {
            std::fs::read_to_string(dir.join(file)).map(|s| s.trim().to_string())
        };
        if memory.join("memory.limit_in_bytes").exists() {
            ensure!(read(&memory, "memory.limit_in_bytes")? == (64u64 << 20).to_string());
            let cpu = cgroup_dir(pid, "cpu")?;
            ensure!(read(&cpu, "cpu.shares")? == "256");
            ensure!(read(&cpu, "cpu.cfs_quota_us")? == "50000");
        } else {
            ensure!(read(&memory, "memory.max")? == (64u64 << 20).to_string());
            ensure!(read(&memory, "cpu.max")? == "50000 100000");
        }
        let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))?;
        ensure!(
            !mounts.contains("sandboxes"),
            "sandbox mounts leak into the container: {mounts}"
        );
        let started = Instant::now();
        env.runtime.stop(&id, Duration::from_secs(1)).await?;
        let took = started.elapsed();
        ensure!(
            took >= Duration::from_secs(1),
            "stopped after {took:?}, before the grace"
        );
        let state = env.runtime.inspect(&id).await?.state;
        ensure!(
            matches!(state, TaskState::Exited { code: 137, .. }),
            "{state:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn real_never_started_task_stops_at_once() {
    with_env("idle", |env| async move {
        let sandbox = env.sandbox()?;
        let id = env
            .create_container(&sandbox, &shell("idle", "sleep 1000"))
            .await?;
        let state = env.runtime.inspect(&id).await?.state;
        ensure!(state == TaskState::Created, "{state:?}");
        let started = Instant::now();
        env.runtime.stop(&id, Duration::from_secs(30)).await?;
        ensure!(
            started.elapsed() < Duration::from_secs(5),
            "waited for the grace period"
        );
        let state = env.runtime.inspect(&id).await?.state;
        ensure!(matches!(state, TaskState::Exited { .. }), "{state:?}");
        Ok(())
    })
    .await;
}

/// The shim serving the task whose process is `pid`: its parent.
fn shim_of(pid: u32) -> anyhow::Result<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let ppid = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .context("no PPid")?
        .trim()
        .parse()?;
    let comm = std::fs::read_to_string(format!("/proc/{ppid}/comm"))?;
    ensure!(
        comm.trim() == "containerd-shim",
        "parent {ppid} of {pid} is {comm:?}, not a shim"
    );
    Ok(ppid)
}

/// A live process (not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

async fn running_pid(env: &Env, id: &str) -> anyhow::Result<u32> {
    match env.runtime.inspect(id).await?.state {
        TaskState::Running { pid } => Ok(pid),
        state => anyhow::bail!("{id} is {state:?}, not running"),
    }
}

/// Two containers of one pod run under one shim; removing one leaves the other and the
/// shim alone; a restarted container joins the same shim; the shim exits with the pod's
/// last container.
#[tokio::test]
async fn real_one_shim_per_pod() {
    with_env("shim", |env| async move {
        let sandbox = env.sandbox()?;
        let app = env.run(&sandbox, "app", "sleep 1000").await?;
        let side = env.run(&sandbox, "side", "sleep 1000").await?;
        let shim = shim_of(running_pid(&env, &app).await?)?;
        ensure!(
            shim_of(running_pid(&env, &side).await?)? == shim,
            "the pod's two containers run under two shims"
        );

        // A container of the pod stops and is removed, as a crash before its restart.
        env.runtime.stop(&app, Duration::from_secs(1)).await?;
        env.runtime.remove(&app).await?;
        ensure!(alive(shim), "the shim went with one of two containers");
        let side_pid = running_pid(&env, &side).await?;
        ensure!(alive(side_pid) && shim_of(side_pid)? == shim);

        let restarted = env
            .create_attempt(&sandbox, &shell("app", "sleep 1000"), 1)
            .await?;
        env.runtime.start(&restarted).await?;
        ensure!(
            shim_of(running_pid(&env, &restarted).await?)? == shim,
            "the restarted container got a shim of its own"
        );

        for id in [&restarted, &side] {
            env.runtime.stop(id, Duration::from_secs(1)).await?;
            env.runtime.remove(id).await?;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(shim) {
            ensure!(
                Instant::now() < deadline,
                "shim {shim} outlived the pod's containers"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    })
    .await;
}
