//! Node objects as peers, and what this node publishes for its peers, with flannel's
//! annotation names so the data reads the same as on a flannel cluster.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Node;

use super::{Backend, VXLAN_VNI};

pub const BACKEND_TYPE: &str = "flannel.alpha.coreos.com/backend-type";
pub const BACKEND_DATA: &str = "flannel.alpha.coreos.com/backend-data";
pub const PUBLIC_IP: &str = "flannel.alpha.coreos.com/public-ip";

/// Another node as the pod network needs it. Missing or malformed fields stay `None`;
/// `desired` says what that peer lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub node_ip: Option<Ipv4Addr>,
    pub pod_cidr: Option<Ipv4Net>,
    pub vtep_mac: Option<[u8; 6]>,
}

/// The peer a Node describes: its InternalIP (flannel's public-ip annotation when it
/// has none), `spec.podCIDR`, and the VtepMAC of its backend-data.
pub fn peer_of(node: &Node) -> Peer {
    let annotations = node.metadata.annotations.as_ref();
    let annotation = |key: &str| annotations.and_then(|a| a.get(key));
    let internal = node
        .status
        .iter()
        .flat_map(|s| s.addresses.iter().flatten())
        .filter(|a| a.type_ == "InternalIP")
        .find_map(|a| a.address.parse::<Ipv4Addr>().ok());
    let node_ip = internal.or_else(|| annotation(PUBLIC_IP).and_then(|ip| ip.parse().ok()));
    let pod_cidr = node
        .spec
        .as_ref()
        .and_then(|s| s.pod_cidr.as_deref())
        .and_then(|c| c.parse::<Ipv4Net>().ok())
        .filter(|c| *c == c.trunc());
    let vtep_mac = annotation(BACKEND_DATA).and_then(|data| vtep_mac_of(data));
    Peer {
        name: node.metadata.name.clone().unwrap_or_default(),
        node_ip,
        pod_cidr,
        vtep_mac,
    }
}

/// `{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}` → the MAC; a unicast one only (a multicast
/// or zero MAC in the FDB would flood every peer's frames).
fn vtep_mac_of(data: &str) -> Option<[u8; 6]> {
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    let text = value.get("VtepMAC")?.as_str()?;
    let mac = parse_mac(text)?;
    (mac != [0; 6] && mac[0] & 1 == 0).then_some(mac)
}

pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The annotations this node publishes: its backend, its public address, and with
/// vxlan the VNI and its device's MAC.
pub fn backend_annotations(
    backend: Backend,
    node_ip: Ipv4Addr,
    vtep_mac: Option<[u8; 6]>,
) -> BTreeMap<String, String> {
    let data = match (backend, vtep_mac) {
        (Backend::Vxlan, Some(mac)) => serde_json::json!({
            "VNI": VXLAN_VNI,
            "VtepMAC": format_mac(&mac),
        })
        .to_string(),
        _ => "null".to_string(),
    };
    BTreeMap::from([
        (BACKEND_TYPE.to_string(), backend.name().to_string()),
        (BACKEND_DATA.to_string(), data),
        (PUBLIC_IP.to_string(), node_ip.to_string()),
    ])
}
