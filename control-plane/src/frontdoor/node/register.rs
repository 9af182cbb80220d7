//! Register: an agent with the join token becomes a node of the cluster.
//!
//! The agent describes itself (a Node object: name, labels, addresses, capacity) and
//! sends a CSR; it gets back its certificate, the CA, its pod CIDR and the cluster's
//! CIDRs. Registering again (agent restart, certificate renewal) is the same call and
//! keeps what the cluster decided about the node: its pod CIDR, its uid, the labels and
//! taints users set (`skiff label node`), `spec.unschedulable`.

use std::net::IpAddr;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::{Node, NodeSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use skiff_proto::model::{is_dns1123_subdomain, validate_labels, ValidationError};
use skiff_proto::v1::Object;

use super::heartbeat::{renew_lease, READY_MESSAGE, READY_REASON};
use super::invalid;
use crate::controllers::nodes::NodeContext;
use crate::core::objects::{self, modify_or_create, node_key, set_node_condition};
use crate::core::Error;
use crate::resources::allocation::PodCidrAllocator;

pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
pub const OS_LABEL: &str = "kubernetes.io/os";
pub const ARCH_LABEL: &str = "kubernetes.io/arch";

/// What a successful registration hands back.
#[derive(Debug, Clone)]
pub struct Registered {
    pub certificate_pem: String,
    pub pod_cidr: Ipv4Net,
}

/// Registers the node `reported` describes; see the module docs.
pub async fn register(
    ctx: &NodeContext,
    cidrs: &PodCidrAllocator,
    token: &str,
    reported: Option<&Object>,
    csr_pem: &str,
) -> Result<Registered, Error> {
    if !ctx.cp.pki.verify_token(token) {
        return Err(Error::Unauthenticated("invalid node token".into()));
    }
    let reported = reported_node(reported)?;
    let name = reported.metadata.name.clone().unwrap_or_default();
    let store = ctx.cp.store.as_ref();
    // Under the allocator's lock: two nodes registering at once cannot both take an
    // address.
    let guard = cidrs.lock().await;
    super::addresses::refuse_taken_address(store, &name, &internal_ips(&reported)).await?;
    // Signing before any write: a refused CSR leaves no half-registered node behind.
    let certificate_pem = ctx
        .cp
        .pki
        .sign_node_csr(csr_pem, &name, &internal_ips(&reported))?;

    let now = ctx.clock.now();
    let pod_cidr = guard.cidr_for(store, &name, now).await?;
    let initial = || Node {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            uid: Some(crate::core::ids::new_uid()),
            creation_timestamp: Some(Time(now)),
            ..Default::default()
        },
        spec: reported.spec.clone(),
        status: None,
    };
    let node = modify_or_create::<Node, _, _>(store, &node_key(&name), initial, |stored| {
        merge_reported(stored, &reported, pod_cidr, now);
        Ok(true)
    })
    .await?;
    crate::resources::allocation::cidr_claims::bind(store, pod_cidr, &name).await?;
    drop(guard);

    // Registering is also a heartbeat: the node is alive right now.
    let uid = node.metadata.uid.clone().unwrap_or_default();
    renew_lease(ctx, &name, &uid).await?;
    tracing::info!(node = %name, pod_cidr = %pod_cidr, "node registered");
    Ok(Registered {
        certificate_pem,
        pod_cidr,
    })
}

/// The Node of a RegisterRequest, checked: a valid name that agrees with the envelope's,
/// valid labels.
pub fn reported_node(envelope: Option<&Object>) -> Result<Node, Error> {
    let envelope = envelope.ok_or_else(|| invalid("node is required".into()))?;
    let mut node: Node =
        serde_json::from_slice(&envelope.json).map_err(|e| invalid(format!("node: {e}")))?;
    let name = match (node.metadata.name.as_deref(), envelope.name.as_str()) {
        (Some(inner), outer) if !outer.is_empty() && inner != outer => {
            return Err(invalid(format!(
                "node name {outer:?} differs from metadata.name {inner:?}"
            )))
        }
        (Some(inner), _) if !inner.is_empty() => inner.to_string(),
        (_, outer) => outer.to_string(),
    };
    if !is_dns1123_subdomain(&name) {
        return Err(invalid(format!(
            "node name {name:?} must be a DNS-1123 subdomain (lower case letters, digits, '-' and '.', at most 253 characters)"
        )));
    }
    node.metadata.name = Some(name);
    if let Some(labels) = &node.metadata.labels {
        ValidationError::check(validate_labels("metadata.labels", labels))
            .map_err(|e| invalid(e.to_string()))?;
    }
    Ok(node)
}

/// The node's InternalIP addresses: the IP SANs of its certificate, which the control
/// plane checks when it calls the agent.
pub fn internal_ips(node: &Node) -> Vec<IpAddr> {
    node.status
        .iter()
        .flat_map(|s| s.addresses.iter().flatten())
        .filter(|a| a.type_ == "InternalIP")
        .filter_map(|a| a.address.parse().ok())
        .collect()
}

/// Folds what the agent reports into the stored node. The agent owns the status it
/// observes (addresses, capacity, node info) and the labels it sets; the cluster owns the
/// pod CIDR, the Ready condition, and spec and labels that users set.
pub fn merge_reported(stored: &mut Node, reported: &Node, pod_cidr: Ipv4Net, now: jiff::Timestamp) {
    let name = stored.metadata.name.clone().unwrap_or_default();
    let labels = stored.metadata.labels.get_or_insert_with(Default::default);
    labels.extend(reported.metadata.labels.clone().unwrap_or_default());
    labels
        .entry(HOSTNAME_LABEL.into())
        .or_insert_with(|| name.clone());
    labels
        .entry(OS_LABEL.into())
        .or_insert_with(|| "linux".into());
    let arch = reported
        .status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .map(|info| info.architecture.clone())
        .filter(|a| !a.is_empty());
    if let Some(arch) = arch {
        labels.entry(ARCH_LABEL.into()).or_insert(arch);
    }
    if let Some(annotations) = &reported.metadata.annotations {
        stored
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .extend(annotations.clone());
    }

    let spec = stored.spec.get_or_insert_with(NodeSpec::default);
    spec.pod_cidr = Some(pod_cidr.to_string());
    spec.pod_cidrs = Some(vec![pod_cidr.to_string()]);

    let ready = objects::node_condition(stored, "Ready").cloned();
    let mut status = reported.status.clone().unwrap_or_default();
    let mut conditions: Vec<_> = status
        .conditions
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != "Ready")
        .collect();
    conditions.extend(ready);
    status.conditions = Some(conditions);
    stored.status = Some(status);
    set_node_condition(stored, "Ready", "True", READY_REASON, READY_MESSAGE, now);
}
