//! Heartbeats: a node proves it is alive by renewing its Lease
//! (`kube-node-lease/<node>`, coordination.k8s.io/v1 as in Kubernetes), a small object
//! written every few seconds instead of the whole Node. The Node itself is written only
//! when its Ready condition has to turn True (first heartbeat, or back from NotReady).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};

use super::not_registered;
use crate::controllers::nodes::NodeContext;
use crate::core::ids::new_uid;
use crate::core::kinds::LEASE_NAMESPACE;
use crate::core::objects::{
    lease_key, modify, modify_or_create, node_is_ready, node_key, set_node_condition, Modified,
};
use crate::core::Error;

/// Ready=True as the kubelet reports it, so `describe node` reads the same.
pub const READY_REASON: &str = "KubeletReady";
pub const READY_MESSAGE: &str = "skiff-agent is posting ready status";

/// Records a heartbeat of `node_name`: renews its lease and makes it Ready. Returns how
/// long the lease lasts without another heartbeat.
pub async fn heartbeat(ctx: &NodeContext, node_name: &str) -> Result<Duration, Error> {
    let store = ctx.cp.store.as_ref();
    let Some(stored) = store.get(&node_key(node_name)).await? else {
        return Err(not_registered(node_name.to_string()));
    };
    renew_lease(ctx, node_name, &stored.uid).await?;
    let now = ctx.clock.now();
    let marked = modify::<Node, _>(store, &node_key(node_name), Some(&stored.uid), |node| {
        Ok(!node_is_ready(node)
            && set_node_condition(node, "Ready", "True", READY_REASON, READY_MESSAGE, now))
    })
    .await?;
    match marked {
        Modified::Missing => Err(not_registered(node_name.to_string())),
        Modified::Written(_) => {
            tracing::info!(node = node_name, "node is ready");
            Ok(ctx.cp.config.node_lease)
        }
        Modified::Unchanged(_) => Ok(ctx.cp.config.node_lease),
    }
}

/// Creates or renews the lease of node `node_name` (uid `node_uid`, its owner, so that
/// garbage collection removes the lease with the node).
pub async fn renew_lease(ctx: &NodeContext, node_name: &str, node_uid: &str) -> Result<(), Error> {
    let now = MicroTime(ctx.clock.now());
    let duration = i32::try_from(ctx.cp.config.node_lease.as_secs()).unwrap_or(i32::MAX);
    let initial = || Lease {
        metadata: ObjectMeta {
            name: Some(node_name.to_string()),
            namespace: Some(LEASE_NAMESPACE.to_string()),
            uid: Some(new_uid()),
            creation_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now.0)),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: node_name.to_string(),
                uid: node_uid.to_string(),
                ..Default::default()
            }]),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node_name.to_string()),
            acquire_time: Some(now.clone()),
            ..Default::default()
        }),
    };
    modify_or_create::<Lease, _, _>(
        ctx.cp.store.as_ref(),
        &lease_key(node_name),
        initial,
        |lease| {
            let spec = lease.spec.get_or_insert_with(Default::default);
            spec.renew_time = Some(now.clone());
            spec.lease_duration_seconds = Some(duration);
            spec.holder_identity = Some(node_name.to_string());
            Ok(true)
        },
    )
    .await?;
    Ok(())
}
