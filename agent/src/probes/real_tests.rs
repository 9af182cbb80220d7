//! exec, exec probes and OOM detection against a real containerd, as root. Set
//! SKIFF_TEST_CONTAINERD_SOCK to a containerd socket to run them (deploy/with-test-runtime.sh
//! does); under CI=true they fail without it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use containerd_client::services::v1::snapshots::RemoveSnapshotRequest;
use containerd_client::services::v1::{DeleteTaskRequest, ListPidsRequest};
use k8s_openapi::api::core::v1::{
    Container, ExecAction, Pod, PodSpec, Probe, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use oci_spec::image::{ConfigBuilder, ImageConfigurationBuilder};

use super::{check, ProbeOutcome, ProbeTarget};
use crate::containerd::client::SNAPSHOTTER;
use crate::containerd::container::{
    build_spec, cgroups_path, was_oom_killed, ContainerRuntime, SpecInput, TaskIo, TaskState,
    MAX_EXEC_OUTPUT,
};
use crate::containerd::{labels, Containerd};
use crate::pod_sandbox::{Sandbox, Sandboxes};

const NAMESPACE: &str = "skiff-test";
const APPLETS: &[&str] = &[
    "sh", "sleep", "echo", "cat", "touch", "tail", "yes", "head", "true",
];

struct Env {
    runtime: ContainerRuntime,
    root: tempfile::TempDir,
    sandboxes: Sandboxes,
    sandbox: Sandbox,
    base: String,
    pod: Pod,
    uid: String,
}

async fn setup(test: &str) -> anyhow::Result<Option<Env>> {
    let Some(sock) = crate::test_support::test_env("SKIFF_TEST_CONTAINERD_SOCK") else {
        return Ok(None);
    };
    let client = Containerd::connect_lazy(Path::new(&sock), NAMESPACE)?;
    let uid = format!("{test}-{}", std::process::id());
    let base = format!("skiff-test-base-{uid}");
    crate::test_support::busybox_snapshot(&client, &base, APPLETS, &[]).await?;
    let root = tempfile::tempdir()?;
    let sandboxes = Sandboxes::new(root.path());
    let name = format!("{test}-pod");
    let sandbox = sandboxes.create(&uid, &name)?;
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(name),
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
        sandbox,
        base,
        pod,
        uid,
    }))
}

impl Env {
    /// Creates and starts `sh -c script` as container `name`, with an optional memory
    /// limit; returns its id.
    async fn run(&self, name: &str, script: &str, memory: Option<&str>) -> anyhow::Result<String> {
        let mut container = Container {
            name: name.into(),
            command: Some(vec!["sh".into(), "-c".into(), script.into()]),
            ..Default::default()
        };
        if let Some(limit) = memory {
            let q = Some(BTreeMap::from([(
                "memory".to_string(),
                Quantity(limit.into()),
            )]));
            container.resources = Some(ResourceRequirements {
                limits: q.clone(),
                requests: q,
                ..Default::default()
            });
        }
        let id = ContainerRuntime::container_id(&self.uid, name, 0);
        let image = ImageConfigurationBuilder::default()
            .config(
                ConfigBuilder::default()
                    .env(vec!["PATH=/bin".to_string()])
                    .build()?,
            )
            .build()?;
        let spec = build_spec(SpecInput {
            container_id: &id,
            pod: &self.pod,
            container: &container,
            env: &crate::pods::env::plain_env(&container),
            image: &image,
            sandbox: &self.sandbox,
            mounts: vec![],
        })?;
        let labels = HashMap::from([(labels::POD_UID.to_string(), self.uid.clone())]);
        let log = self.root.path().join(format!("logs/{name}.log"));
        self.runtime
            .create(&id, &spec, &self.base, labels, &TaskIo::log_only(&log))
            .await?;
        self.runtime.start(&id).await?;
        Ok(id)
    }

    /// Stops the task, then removes the snapshot before the container: once the container
    /// is gone containerd's GC may collect the snapshot first, and that leaves the base
    /// with a child entry nothing can remove (containerd/containerd#11908).
    async fn remove(&self, id: &str) -> anyhow::Result<()> {
        self.runtime.stop(id, Duration::from_secs(1)).await?;
        let c = self.runtime.client();
        let task = DeleteTaskRequest {
            container_id: id.into(),
        };
        if let Err(s) = c.tasks().delete(c.request(task)).await {
            ensure!(s.code() == tonic::Code::NotFound, "delete task {id}: {s}");
        }
        let snapshot = RemoveSnapshotRequest {
            snapshotter: SNAPSHOTTER.into(),
            key: id.into(),
        };
        if let Err(s) = c.snapshots().remove(c.request(snapshot)).await {
            ensure!(
                s.code() == tonic::Code::NotFound,
                "remove snapshot {id}: {s}"
            );
        }
        Ok(self.runtime.remove(id).await?)
    }

    /// The container's processes, by host pid.
    async fn pids(&self, id: &str) -> anyhow::Result<Vec<u32>> {
        let c = self.runtime.client();
        let req = ListPidsRequest {
            container_id: id.into(),
        };
        let procs = c
            .tasks()
            .list_pids(c.request(req))
            .await?
            .into_inner()
            .processes;
        Ok(procs.iter().map(|p| p.pid).collect())
    }

    async fn cleanup(&self) -> anyhow::Result<()> {
        let mut errors = Vec::new();
        for record in self.runtime.list().await? {
            if record.labels.get(labels::POD_UID) == Some(&self.uid) {
                if let Err(e) = self.remove(&record.id).await {
                    errors.push(format!("{e:#}"));
                }
            }
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
        ensure!(errors.is_empty(), "cleanup: {errors:?}");
        Ok(())
    }
}

async fn with_env<F, Fut>(test: &str, body: F)
where
    F: FnOnce(std::sync::Arc<Env>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let env = match setup(test).await {
        Ok(Some(env)) => std::sync::Arc::new(env),
        Ok(None) => return,
        Err(e) => panic!("setup: {e:#}"),
    };
    let result = body(env.clone()).await;
    let cleaned = env.cleanup().await;
    result.unwrap();
    cleaned.unwrap();
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

/// Exec FIFO directories currently in the temp dir.
fn fifo_dirs() -> usize {
    std::fs::read_dir(std::env::temp_dir())
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("skiff-exec-"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn real_exec_output_exit_codes_and_timeouts() {
    with_env("exec", |env| async move {
        let id = env.run("main", "sleep 1000", None).await?;
        let rt = &env.runtime;
        let second = Duration::from_secs(1);
        let fifos_before = fifo_dirs();

        let out = rt
            .exec(&id, vec!["echo".into(), "hi".into()], second)
            .await?;
        ensure!(
            out.output == b"hi\n" && out.exit_code == 0 && !out.timed_out,
            "{out:?}"
        );
        let out = rt
            .exec(&id, sh("echo to-err >&2; echo $PATH; exit 3"), second)
            .await?;
        let text = String::from_utf8_lossy(&out.output);
        ensure!(out.exit_code == 3, "{out:?}");
        ensure!(
            text.contains("to-err\n") && text.contains("/bin\n"),
            "{text:?}"
        );
        let out = rt
            .exec(&id, sh("yes | head -c 200000"), Duration::from_secs(10))
            .await?;
        ensure!(
            out.exit_code == 0 && out.output.len() == MAX_EXEC_OUTPUT,
            "{}",
            out.output.len()
        );

        let init = env.pids(&id).await?;
        let started = Instant::now();
        let out = rt
            .exec(&id, vec!["sleep".into(), "10".into()], second)
            .await?;
        ensure!(out.timed_out && out.exit_code == 137, "{out:?}");
        ensure!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        ensure!(env.pids(&id).await? == init, "exec process left behind");

        // A cancelled exec is killed and deleted in the background.
        let cancelled = tokio::time::timeout(
            Duration::from_millis(500),
            rt.exec(
                &id,
                vec!["sleep".into(), "10".into()],
                Duration::from_secs(30),
            ),
        )
        .await;
        ensure!(cancelled.is_err(), "{cancelled:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while env.pids(&id).await? != init {
            ensure!(Instant::now() < deadline, "cancelled exec left behind");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ensure!(fifo_dirs() <= fifos_before, "exec fifos left behind");

        let missing = rt
            .exec("no-such-container", vec!["true".into()], second)
            .await;
        ensure!(
            matches!(&missing, Err(e) if e.is_not_found()),
            "{missing:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn real_exec_probe_through_the_runtime() {
    with_env("probe", |env| async move {
        let id = env.run("main", "sleep 1000", None).await?;
        let probe = Probe {
            exec: Some(ExecAction {
                command: Some(vec!["cat".into(), "/tmp/healthy".into()]),
            }),
            ..Default::default()
        };
        let target = ProbeTarget {
            container_id: id.clone(),
            ..Default::default()
        };
        let failed = check(&probe, &target, &env.runtime).await;
        ensure!(
            matches!(&failed, ProbeOutcome::Failure(m) if m.contains("No such file")),
            "{failed:?}"
        );
        env.runtime
            .exec(
                &id,
                vec!["touch".into(), "/tmp/healthy".into()],
                Duration::from_secs(1),
            )
            .await?;
        let passed = check(&probe, &target, &env.runtime).await;
        ensure!(passed == ProbeOutcome::Success(String::new()), "{passed:?}");

        env.runtime.stop(&id, Duration::from_secs(1)).await?;
        let stopped = check(&probe, &target, &env.runtime).await;
        ensure!(matches!(stopped, ProbeOutcome::Error(_)), "{stopped:?}");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn real_oom_kill_is_seen() {
    with_env("oom", |env| async move {
        let mut ooms = env.runtime.subscribe_ooms();
        // Let the subscription reach containerd before the container starts.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let id = env.run("hog", "tail /dev/zero", Some("32Mi")).await?;
        let seen = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(oom) = ooms.recv().await {
                if oom == id {
                    return true;
                }
            }
            false
        })
        .await
        .context("no oom event within 20s")?;
        ensure!(seen, "oom feed closed");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let state = env.runtime.inspect(&id).await?.state;
            if let TaskState::Exited { code, .. } = state {
                ensure!(code == 137, "{state:?}");
                break;
            }
            ensure!(Instant::now() < deadline, "still {state:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Until the task is deleted the cgroup still tells.
        ensure!(
            was_oom_killed(&cgroups_path(&env.uid, &id)),
            "cgroup shows no oom kill"
        );
        let calm = env.run("calm", "sleep 1000", Some("32Mi")).await?;
        ensure!(!was_oom_killed(&cgroups_path(&env.uid, &calm)));
        Ok(())
    })
    .await;
}
