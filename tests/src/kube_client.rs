//! A `kube::Client` (the kube crate, a client library no one here wrote) for a test
//! cluster, built from its admin.conf the way any Rust program reads a kubeconfig.

use std::path::Path;

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::TestControlPlane;

/// A client for the cluster `kubeconfig` describes (its current context).
pub async fn from_kubeconfig(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    // The workspace compiles both of rustls' providers (ring, and aws-lc-rs through
    // reqwest): pick ring before kube builds its TLS config, as skiff's own clients do.
    skiff_proto::auth::install_crypto_provider();
    let file = Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("{} as a kube config", kubeconfig.display()))?;
    kube::Client::try_from(config).context("building the kube client")
}

/// A client for `cp` with its admin.conf (the admin's client certificate).
pub async fn for_cluster(cp: &TestControlPlane) -> anyhow::Result<kube::Client> {
    from_kubeconfig(&cp.data().join("admin.conf")).await
}
