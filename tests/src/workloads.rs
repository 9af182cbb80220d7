//! A workload's pods as the control plane's Api shows them, followed event by event
//! (gRPC Watch with the cluster's admin.conf): for checks that must hold at every moment
//! of a rollout, and for the rollout benchmark.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;
use skiff_proto::auth::AdminConfig;
use skiff_proto::tonic::transport::Channel;
use skiff_proto::v1::api_client::ApiClient;
use skiff_proto::v1::{ListRequest, WatchRequest};

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

/// An Api client with the control plane's admin.conf, as the CLI connects.
pub async fn api(cp: &TestControlPlane) -> anyhow::Result<ApiClient<Channel>> {
    let config = AdminConfig::load(&cp.data().join("admin.conf"))?;
    Ok(ApiClient::new(config.channel().await?))
}

/// The pods matching `selector` in `default`, and the revision the list is at.
pub async fn census(api: &mut ApiClient<Channel>, selector: &str) -> anyhow::Result<PodCensus> {
    let list = api
        .list(ListRequest {
            kind: "Pod".into(),
            namespace: "default".into(),
            label_selector: selector.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut census = PodCensus {
        revision: list.resource_version,
        ..Default::default()
    };
    for item in list.items {
        census
            .pods
            .insert(item.name.clone(), serde_json::from_slice(&item.json)?);
    }
    Ok(census)
}

/// Follows the pods from `census` on, calling `check` after every event until it says
/// done (`Ok(true)`) or fails; gives up after `timeout`. Returns the final census.
pub async fn follow(
    api: &mut ApiClient<Channel>,
    selector: &str,
    mut census: PodCensus,
    timeout: Duration,
    mut check: impl FnMut(&PodCensus) -> anyhow::Result<bool>,
) -> anyhow::Result<PodCensus> {
    if check(&census)? {
        return Ok(census);
    }
    let request = WatchRequest {
        kind: "Pod".into(),
        namespace: "default".into(),
        label_selector: selector.into(),
        resource_version: census.revision.clone(),
        ..Default::default()
    };
    let mut events = api.watch(request).await?.into_inner();
    let work = async {
        while let Some(event) = events.message().await? {
            let Some(object) = event.object else { continue };
            if event.r#type == "BOOKMARK" {
                continue;
            }
            census.events += 1;
            census.revision = object.resource_version.clone();
            if event.r#type == "DELETED" {
                census.pods.remove(&object.name);
            } else {
                census
                    .pods
                    .insert(object.name.clone(), serde_json::from_slice(&object.json)?);
            }
            if check(&census).with_context(|| {
                format!(
                    "after event {} ({} {})",
                    census.events, event.r#type, object.name
                )
            })? {
                return Ok(());
            }
        }
        bail!("the watch ended")
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
