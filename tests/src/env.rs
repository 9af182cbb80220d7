//! The standard standalone setup: private containerd, a local registry holding the
//! stand-in images, and an agent whose registries.yaml mirrors `docker.io` and `k8s.gcr.io`
//! to that registry, so user manifests naming `nginx:latest` pull for real.

use anyhow::{bail, ensure, Context};
use serde_json::Value;

use crate::agent::{AgentOpts, TestAgent};
use crate::containerd::TestContainerd;
use crate::images::{ImageVariant, TestImage};
use crate::pods::pod_uid;
use crate::registry::TestRegistry;

/// What is pushed to the registry, as `(variant, repository, tag)`. Manifests name them
/// `busybox:latest`, `httpd:latest`, `nginx:latest` (docker.io/library/... via the mirror),
/// plus the stand-ins for the other images the user's manifests name: `nginx:1.11` (crashes
/// at start), `alicek106/rr-test:echo-hostname`, `k8s.gcr.io/busybox` (no `library/`: the
/// mirror maps k8s.gcr.io/busybox to `busybox`) and `subicura/whoami:1`.
pub const PUSHED: &[(ImageVariant, &str, &str)] = &[
    (ImageVariant::Busybox, "library/busybox", "latest"),
    (ImageVariant::Httpd, "library/httpd", "latest"),
    (ImageVariant::Nginx, "library/nginx", "latest"),
    (ImageVariant::CrashLoop, "library/nginx", "1.11"),
    (
        ImageVariant::EchoHostname,
        "alicek106/rr-test",
        "echo-hostname",
    ),
    (ImageVariant::Busybox, "busybox", "latest"),
    (ImageVariant::EchoHostname, "subicura/whoami", "1"),
];

/// Everything a standalone-agent scenario needs. Fields drop in order: the agent first
/// (so it is not left reconciling), then the registry, then containerd (which kills the
/// pods' containers and unmounts their rootfs), then the serial lock.
pub struct StandaloneEnv {
    pub agent: TestAgent,
    pub registry: TestRegistry,
    pub containerd: TestContainerd,
    _serial: crate::SerialGuard,
}

impl StandaloneEnv {
    /// Starts the standard setup.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| Ok(()))
    }

    /// Starts the standard setup, calling `prepare` after the agent's directories exist
    /// but before the agent runs (to drop archives into `--images`, say).
    pub fn start_with(
        prepare: impl FnOnce(&TestAgent) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        Self::start_with_args(&[], prepare)
    }

    /// [`Self::start_with`] with extra agent flags (`--pod-cidr 10.42.0.0/30`, say).
    pub fn start_with_args(
        args: &[&str],
        prepare: impl FnOnce(&TestAgent) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        let serial = crate::serial();
        let containerd = TestContainerd::start()?;
        let registry = TestRegistry::start()?;
        for (variant, repo, tag) in PUSHED {
            registry.push(&TestImage::build(*variant)?, repo, tag)?;
        }
        let opts = AgentOpts::new(&containerd)
            .mirror("docker.io", &registry.url())
            .mirror("k8s.gcr.io", &registry.url());
        let opts = args.iter().fold(opts, |opts, arg| opts.arg(arg));
        let mut agent = TestAgent::new_stopped(opts)?;
        prepare(&agent)?;
        agent.launch()?;
        Ok(StandaloneEnv {
            agent,
            registry,
            containerd,
            _serial: serial,
        })
    }

    /// Runs one scenario. An error from `body` becomes a panic while the environment is
    /// still alive, so the drops print the agent's, containerd's and registry's log tails.
    pub fn run(body: impl FnOnce(&mut StandaloneEnv) -> anyhow::Result<()>) {
        Self::run_with(|_| Ok(()), body)
    }

    /// [`Self::run`] with a `prepare` step as in [`Self::start_with`].
    pub fn run_with(
        prepare: impl FnOnce(&TestAgent) -> anyhow::Result<()>,
        body: impl FnOnce(&mut StandaloneEnv) -> anyhow::Result<()>,
    ) {
        if !crate::require_root_and_tools() {
            return;
        }
        let mut env = Self::start_with(prepare).unwrap_or_else(|e| panic!("setting up: {e:#}"));
        if let Err(e) = body(&mut env) {
            panic!("{e:#}");
        }
    }

    /// [`Self::run`] with extra agent flags.
    pub fn run_with_args(
        args: &[&str],
        body: impl FnOnce(&mut StandaloneEnv) -> anyhow::Result<()>,
    ) {
        if !crate::require_root_and_tools() {
            return;
        }
        let mut env =
            Self::start_with_args(args, |_| Ok(())).unwrap_or_else(|e| panic!("setting up: {e:#}"));
        if let Err(e) = body(&mut env) {
            panic!("{e:#}");
        }
    }

    /// The containerd id and task pid of one container of a pod, found through the agent's
    /// labels (not through the agent), and required to be RUNNING.
    pub fn task_of(&self, pod: &Value, container: &str) -> anyhow::Result<(String, u32)> {
        let labels = [
            ("io.skiff.pod.uid", pod_uid(pod)),
            ("io.skiff.container.name", container),
        ];
        let ids = self.containerd.containers_with_labels(&labels)?;
        let [id] = &ids[..] else {
            bail!("expected one container labelled {labels:?}, found {ids:?}")
        };
        let task = self
            .containerd
            .task(id)?
            .with_context(|| format!("container {id} has no task"))?;
        ensure!(task.status == "RUNNING", "task {id} is {}", task.status);
        Ok((id.clone(), task.pid))
    }
}
