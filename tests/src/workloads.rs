//! A workload's pods as the REST API shows them, followed event by event (a watch through
//! the kube crate with the cluster's admin.conf): for checks that must hold at every
//! moment of a rollout, and for the rollout benchmark.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde_json::Value;

use crate::cluster::TestControlPlane;

/// The pods of a selector at one moment, by name.
#[derive(Debug, Default, Clone)]
pub struct PodCensus {
    pub pods: BTreeMap<String, Value>,
    /// The resourceVersion this census is at.
    pub revision: String,
    /// Watch events applied so far.
    pub events: usize,
}

pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

pub fn image(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
}

impl PodCensus {
    pub fn total(&self) -> usize {
        self.pods.len()
    }

    pub fn ready(&self) -> usize {
        self.pods.values().filter(|p| is_ready(p)).count()
    }

    pub fn with_image(&self, wanted: &str) -> usize {
        self.pods.values().filter(|p| image(p) == wanted).count()
    }

    pub fn ready_with_image(&self, wanted: &str) -> usize {
        self.pods
            .values()
            .filter(|p| image(p) == wanted && is_ready(p))
            .count()
    }
}

/// The pods of `default` through the kube crate with the control plane's admin.conf.
pub async fn api(cp: &TestControlPlane) -> anyhow::Result<Api<Pod>> {
    let client = crate::kube_client::for_cluster(cp).await?;
    Ok(Api::namespaced(client, "default"))
}

/// The pods matching `selector`, and the revision the list is at.
pub async fn census(api: &Api<Pod>, selector: &str) -> anyhow::Result<PodCensus> {
    let list = api.list(&ListParams::default().labels(selector)).await?;
    let mut census = PodCensus {
        revision: list.metadata.resource_version.unwrap_or_default(),
        ..Default::default()
    };
    for pod in list.items {
        census.insert(&pod)?;
    }
    Ok(census)
}

impl PodCensus {
    fn insert(&mut self, pod: &Pod) -> anyhow::Result<()> {
        let name = pod.metadata.name.clone().context("a pod without a name")?;
        self.pods.insert(name, serde_json::to_value(pod)?);
        Ok(())
    }
}

/// Follows the pods from `census` on, calling `check` after every event until it says
/// done (`Ok(true)`) or fails; gives up after `timeout`. A watch the server ends (its
/// timeout) is resumed from the last revision seen. Returns the final census.
pub async fn follow(
    api: &Api<Pod>,
    selector: &str,
    mut census: PodCensus,
    timeout: Duration,
    mut check: impl FnMut(&PodCensus) -> anyhow::Result<bool>,
) -> anyhow::Result<PodCensus> {
    if check(&census)? {
        return Ok(census);
    }
    let params = WatchParams::default().labels(selector);
    let work = async {
        loop {
            let mut events = api.watch(&params, &census.revision).await?.boxed();
            while let Some(event) = events.try_next().await? {
                let (kind, pod) = match event {
                    WatchEvent::Bookmark(mark) => {
                        census.revision = mark.metadata.resource_version;
                        continue;
                    }
                    WatchEvent::Error(status) => bail!("the watch failed: {status:?}"),
                    WatchEvent::Added(pod) => ("ADDED", pod),
                    WatchEvent::Modified(pod) => ("MODIFIED", pod),
                    WatchEvent::Deleted(pod) => ("DELETED", pod),
                };
                census.events += 1;
                census.revision = pod.metadata.resource_version.clone().unwrap_or_default();
                let name = pod.metadata.name.clone().unwrap_or_default();
                if kind == "DELETED" {
                    census.pods.remove(&name);
                } else {
                    census.insert(&pod)?;
                }
                if check(&census)
                    .with_context(|| format!("after event {} ({kind} {name})", census.events))?
                {
                    return Ok(());
                }
            }
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result.map(|()| census),
        Err(_) => bail!(
            "timed out after {timeout:?}; {} pods, {} ready",
            census.total(),
            census.ready()
        ),
    }
}
