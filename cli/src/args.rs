//! The command line: verbs and flags (docs/architecture.md, CLI).

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "skiff",
    version,
    about = "Drive a skiff cluster the way you drive kubectl"
)]
pub struct Cli {
    /// The control plane's URL (from admin.conf when not given).
    #[arg(long, global = true, conflicts_with = "agent")]
    pub server: Option<String>,
    /// Talk to one node agent directly, e.g. unix:///var/lib/skiff-agent/agent.sock.
    #[arg(long, global = true, env = "SKIFF_AGENT")]
    pub agent: Option<String>,
    /// A kubeconfig such as admin.conf (default $SKIFF_CONFIG, $KUBECONFIG, ~/.skiff/config,
    /// ~/.kube/config).
    #[arg(long, global = true)]
    pub config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// -n NAMESPACE / -A.
#[derive(Args, Debug, Clone)]
pub struct Scope {
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create or update objects from manifests.
    Apply {
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<String>,
        /// Namespace for objects that name none.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
    },
    /// List objects.
    Get {
        /// One kind, or several separated by commas (`pv,pvc,sc`).
        kind: String,
        /// Names of objects of that kind (`get pods a b`), as kubectl reads them.
        names: Vec<String>,
        #[command(flatten)]
        scope: Scope,
        #[arg(short = 'l', long)]
        selector: Option<String>,
        #[arg(short = 'o', long, value_parser = ["wide", "yaml", "json", "name"])]
        output: Option<String>,
    },
    /// Show one object in detail.
    Describe {
        kind: String,
        name: String,
        #[command(flatten)]
        scope: Scope,
    },
    /// Delete objects by manifest or by kind and name.
    Delete {
        #[arg(short = 'f', long = "filename")]
        files: Vec<String>,
        kind: Option<String>,
        name: Option<String>,
        #[command(flatten)]
        scope: Scope,
        /// background (delete dependents too) or orphan.
        #[arg(long, default_value = "background")]
        cascade: String,
    },
    /// Print a container's log.
    Logs {
        pod: String,
        #[command(flatten)]
        flags: LogFlags,
        #[command(flatten)]
        scope: Scope,
    },
    /// Run a command in a container.
    Exec {
        pod: String,
        #[arg(short = 'c', long)]
        container: Option<String>,
        #[arg(short = 'i', long)]
        stdin: bool,
        #[arg(short = 't', long)]
        tty: bool,
        #[arg(last = true, required = true)]
        command: Vec<String>,
        #[command(flatten)]
        scope: Scope,
    },
    /// Set the replica count of a workload: `scale deploy/NAME --replicas N` (or `deploy NAME`).
    Scale {
        target: String,
        name: Option<String>,
        #[arg(long, allow_negative_numbers = true)]
        replicas: i64,
        /// Scale only if the object is still at this resourceVersion.
        #[arg(long)]
        resource_version: Option<String>,
        #[command(flatten)]
        scope: Scope,
    },
    /// Change workloads' images: `set image deploy/NAME CONTAINER=IMAGE` (or `deployment NAME C=IMG`).
    Set {
        what: String,
        target: String,
        assignments: Vec<String>,
        #[command(flatten)]
        scope: Scope,
    },
    /// Rollouts: `rollout status|history|undo|pause|resume|restart deploy/NAME`.
    Rollout {
        action: String,
        target: String,
        name: Option<String>,
        /// undo: the revision to go back to (0: the previous one).
        #[arg(long, default_value_t = 0)]
        to_revision: i64,
        /// history: show this revision's pod template.
        #[arg(long, default_value_t = 0)]
        revision: i64,
        /// status: keep watching until the rollout finishes (`--watch=false`: print once).
        #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
        watch: bool,
        /// status: give up after this long (`90s`, `5m`; 0: never).
        #[arg(long, default_value = "0s")]
        timeout: String,
        #[command(flatten)]
        scope: Scope,
    },
    /// Create a ConfigMap or Secret from files and literals: `create configmap NAME
    /// --from-file=PATH`, `create secret generic NAME --from-literal=k=v`.
    Create {
        #[command(subcommand)]
        what: CreateWhat,
    },
    /// Label an object: `label node NAME k=v`.
    Label {
        kind: String,
        name: String,
        labels: Vec<String>,
        /// Allow replacing an existing label's value.
        #[arg(long)]
        overwrite: bool,
        #[command(flatten)]
        scope: Scope,
    },
    // nodes
    /// Mark a node unschedulable: `cordon NODE`.
    Cordon { node: String },
    /// Mark a node schedulable again: `uncordon NODE`.
    Uncordon { node: String },
    /// Add or remove node taints: `taint nodes NODE key=value:Effect`, `key:Effect-`, `key-`.
    Taint {
        /// `nodes` (then the node's name), or `node/NAME`.
        kind: String,
        /// The node (unless given as node/NAME) and the taint specs.
        #[arg(required = true, allow_hyphen_values = true)]
        args: Vec<String>,
        /// Allow replacing the value of a taint with the same key and effect.
        #[arg(long)]
        overwrite: bool,
    },
    /// Cordon a node and evict its pods: `drain NODE [--ignore-daemonsets] [--force]`.
    Drain {
        node: String,
        /// Leave DaemonSet-managed pods alone.
        #[arg(long)]
        ignore_daemonsets: bool,
        /// Evict pods with emptyDir volumes (their data is lost).
        #[arg(long)]
        delete_emptydir_data: bool,
        /// Evict pods that no controller manages (they are not recreated).
        #[arg(long)]
        force: bool,
        /// Seconds each pod gets to stop (negative: the pod's own grace period).
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        grace_period: i64,
        /// Give up after this long (`90s`, `5m`; 0: never).
        #[arg(long, default_value = "0s")]
        timeout: String,
        /// Delete the pods instead of evicting them.
        #[arg(long)]
        disable_eviction: bool,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum CreateWhat {
    /// A ConfigMap: `create configmap NAME --from-file=[KEY=]PATH --from-literal=KEY=VALUE`.
    #[command(visible_alias = "cm")]
    Configmap {
        name: String,
        #[command(flatten)]
        data: DataSources,
        #[command(flatten)]
        opts: CreateOpts,
    },
    /// A Secret: `create secret generic|tls NAME ...`.
    Secret {
        #[command(subcommand)]
        kind: SecretKind,
    },
    /// A Job from a CronJob's template, run now: `create job NAME --from=cronjob/CJ`.
    Job {
        name: String,
        /// The CronJob to copy: `cronjob/NAME`.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        opts: CreateOpts,
    },
}

impl CreateWhat {
    /// Whether the object is made from one in the cluster (so even `--dry-run=client`
    /// reads from it).
    pub fn reads_cluster(&self) -> bool {
        matches!(self, CreateWhat::Job { .. })
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum SecretKind {
    /// An Opaque (or --type) secret from files, literals and env files.
    Generic {
        name: String,
        #[command(flatten)]
        data: DataSources,
        #[arg(long = "type", default_value = "Opaque")]
        type_: String,
        #[command(flatten)]
        opts: CreateOpts,
    },
    /// A kubernetes.io/tls secret from a certificate and its key.
    Tls {
        name: String,
        #[arg(long)]
        cert: String,
        #[arg(long)]
        key: String,
        #[command(flatten)]
        opts: CreateOpts,
    },
}

/// Where `create configmap|secret generic` read keys and values from.
#[derive(Args, Debug, Clone, Default)]
pub struct DataSources {
    /// A file (key: its name, or KEY=PATH) or a directory (one key per file).
    #[arg(long)]
    pub from_file: Vec<String>,
    #[arg(long)]
    pub from_literal: Vec<String>,
    /// KEY=VALUE lines; blank lines and `#` comments are skipped.
    #[arg(long)]
    pub from_env_file: Vec<String>,
}

/// -n, and `--dry-run=client -o yaml|json` to print the object instead of creating it.
#[derive(Args, Debug, Clone)]
pub struct CreateOpts {
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    #[arg(long, value_parser = ["none", "client"], num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<String>,
    #[arg(short = 'o', long, value_parser = ["yaml", "json"])]
    pub output: Option<String>,
}

/// `skiff logs` flags, as kubectl's.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LogFlags {
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    #[arg(short = 'f', long)]
    pub follow: bool,
    #[arg(short = 'p', long)]
    pub previous: bool,
    #[arg(long, default_value_t = -1)]
    pub tail: i64,
    /// Only lines newer than this duration (5s, 2m, 3h, 1h30m).
    #[arg(long, conflicts_with = "since_time")]
    pub since: Option<String>,
    /// Only lines at or after this RFC3339 time (2026-01-02T03:04:05Z).
    #[arg(long)]
    pub since_time: Option<String>,
    /// Prefix each line with the RFC3339Nano time it was written.
    #[arg(long)]
    pub timestamps: bool,
}
