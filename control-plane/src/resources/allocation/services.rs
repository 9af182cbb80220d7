//! ClusterIP and NodePort allocation for a Service being written by apply.
//!
//! - ClusterIP: from the service CIDR, skipping the network address, the first host
//!   (kept for a `kubernetes` Service, as in Kubernetes) and the broadcast address.
//!   `None` makes a headless Service (no address); an explicit address is honoured if it
//!   is in range and free; the address never changes on update (immutable), and an update
//!   that leaves it out keeps the allocated one. ExternalName Services have none.
//! - NodePort (types NodePort and LoadBalancer): explicit or chosen in the node port range;
//!   an update that leaves a port's `nodePort` out keeps the one allocated to the same
//!   port and protocol.
//!
//! Every value is held by a claim in the store (`claims.rs`), taken before the Service is
//! written; [`Allocation::undo`] gives them back if the write does not happen and
//! [`Allocation::commit`] releases what the update stopped using.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use serde_json::Value;
use tracing::warn;

use super::claims::{self, Claim, Holder};
use crate::core::{Clock, Error, Ranges};
use crate::store::{Key, Store, StoreError, Stored};

/// The claims one write took and the ones it frees.
#[must_use = "undo or commit the allocation"]
#[derive(Debug, Default)]
pub struct Allocation {
    uid: String,
    taken: Vec<Key>,
    freed: Vec<Key>,
}

impl Allocation {
    /// Gives back what was claimed: the write did not happen.
    pub async fn undo(self, store: &dyn Store) {
        release_all(store, &self.taken, &self.uid).await;
    }

    /// Releases what the written Service no longer uses.
    pub async fn commit(self, store: &dyn Store) {
        release_all(store, &self.freed, &self.uid).await;
    }
}

async fn release_all(store: &dyn Store, keys: &[Key], uid: &str) {
    for key in keys {
        if let Err(err) = claims::release(store, key, uid).await {
            // The claim goes stale and is taken over later (claims.rs).
            warn!(claim = %key, error = %err, "claim not released");
        }
    }
}

/// Fills in (and claims) the ClusterIP and NodePorts of the Service `desired` (its JSON,
/// as apply will write it); `current` is the stored Service on an update.
pub async fn allocate(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    current: Option<&Value>,
    desired: &mut Value,
) -> Result<Allocation, Error> {
    let mut service: Service = decode(desired)?;
    let old: Option<Service> = current.map(decode).transpose()?;
    let meta = &service.metadata;
    let holder = Holder {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
    };
    let mut allocation = Allocation {
        uid: holder.uid.clone(),
        ..Default::default()
    };
    let old_spec = old.as_ref().and_then(|s| s.spec.as_ref());
    let spec = service.spec.get_or_insert_with(Default::default);
    let result = async {
        cluster_ip(
            store,
            clock,
            ranges,
            &holder,
            old_spec,
            spec,
            &mut allocation,
        )
        .await?;
        node_ports(
            store,
            clock,
            ranges,
            &holder,
            old_spec,
            spec,
            &mut allocation,
        )
        .await
    }
    .await;
    if let Err(err) = result {
        allocation.undo(store).await;
        return Err(err.context(format!("Service {:?}", holder.name)));
    }
    desired["spec"] = serde_json::to_value(&service.spec).expect("a ServiceSpec serializes");
    Ok(allocation)
}

fn decode(value: &Value) -> Result<Service, Error> {
    serde_json::from_value(value.clone())
        .map_err(|e| Error::Internal(format!("a Service does not decode: {e}")))
}

fn service_type(spec: &ServiceSpec) -> &str {
    spec.type_.as_deref().unwrap_or("ClusterIP")
}

fn uses_node_ports(spec: &ServiceSpec) -> bool {
    matches!(service_type(spec), "NodePort" | "LoadBalancer")
}

fn set_ip(spec: &mut ServiceSpec, ip: Option<String>) {
    spec.cluster_ips = ip.clone().map(|ip| vec![ip]);
    spec.cluster_ip = ip;
}

async fn cluster_ip(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    holder: &Holder,
    old: Option<&ServiceSpec>,
    spec: &mut ServiceSpec,
    allocation: &mut Allocation,
) -> Result<(), Error> {
    let old_ip = old
        .filter(|o| service_type(o) != "ExternalName")
        .and_then(|o| o.cluster_ip.clone())
        .filter(|ip| !ip.is_empty());
    if service_type(spec) == "ExternalName" {
        set_ip(spec, None);
    } else {
        let requested = spec
            .cluster_ip
            .clone()
            .or_else(|| {
                spec.cluster_ips
                    .as_ref()
                    .and_then(|ips| ips.first().cloned())
            })
            .filter(|ip| !ip.is_empty());
        match (requested, &old_ip) {
            (None, Some(old)) => set_ip(spec, Some(old.clone())),
            (Some(new), Some(old)) if &new != old => {
                return Err(Error::Invalid(format!(
                    "spec.clusterIP: Invalid value: {new:?}: field is immutable \
                     (it is {old:?}; delete and recreate the Service to change it)"
                )))
            }
            (requested, _) => set_ip(spec, requested),
        }
        match spec.cluster_ip.clone().as_deref() {
            Some("None") => {}
            Some(text) => {
                let ip = explicit_ip(ranges, text)?;
                match claim_ip(store, clock, holder, ip).await? {
                    Claim::Taken => allocation.taken.push(claims::ip_key(ip)),
                    Claim::Kept => {}
                    Claim::HeldBy(other) => {
                        return Err(Error::Invalid(format!(
                            "spec.clusterIP: Invalid value: {text:?}: provided IP is already \
                             allocated (to service {other})"
                        )))
                    }
                }
            }
            None => {
                let ip = choose_ip(store, clock, ranges, holder).await?;
                allocation.taken.push(claims::ip_key(ip));
                set_ip(spec, Some(ip.to_string()));
            }
        }
    }
    if let Some(old) = old_ip.filter(|old| spec.cluster_ip.as_ref() != Some(old)) {
        if let Ok(ip) = old.parse::<Ipv4Addr>() {
            allocation.freed.push(claims::ip_key(ip));
        }
    }
    Ok(())
}

fn explicit_ip(ranges: &Ranges, text: &str) -> Result<Ipv4Addr, Error> {
    let ip: Ipv4Addr = text.parse().map_err(|_| {
        Error::Invalid(format!(
            "spec.clusterIP: Invalid value: {text:?}: must be a valid IPv4 address or \"None\""
        ))
    })?;
    if !ranges.assignable().contains(&u32::from(ip)) {
        let why = if ip == ranges.reserved_ip() {
            "is reserved for the kubernetes Service".to_string()
        } else {
            format!(
                "is not in the valid range. The range of valid IPs is {}",
                ranges.service_cidr
            )
        };
        return Err(Error::Invalid(format!(
            "spec.clusterIP: Invalid value: {text:?}: provided IP {why}"
        )));
    }
    Ok(ip)
}

async fn claim_ip(
    store: &dyn Store,
    clock: &dyn Clock,
    holder: &Holder,
    ip: Ipv4Addr,
) -> Result<Claim, Error> {
    let wanted = ip.to_string();
    let uses = move |spec: &ServiceSpec| spec.cluster_ip.as_deref() == Some(wanted.as_str());
    claim(store, clock, &claims::ip_key(ip), holder, &uses).await
}

/// Claims `key`, taking over a stale claim whose holder no longer `uses` the value.
async fn claim(
    store: &dyn Store,
    clock: &dyn Clock,
    key: &Key,
    holder: &Holder,
    uses: &(dyn Fn(&ServiceSpec) -> bool + Send + Sync),
) -> Result<Claim, Error> {
    for _ in 0..3 {
        match claims::try_claim(store, key, holder, clock.now()).await? {
            claims::Attempt::Done(claim) => return Ok(claim),
            claims::Attempt::Retry => {}
            claims::Attempt::Held {
                holder: other,
                stale_candidate: Some(stale),
            } if !holder_uses(store, &other, uses).await? => {
                claims::take_over(store, &stale).await?;
            }
            claims::Attempt::Held { holder: other, .. } => return Ok(Claim::HeldBy(other)),
        }
    }
    Err(Error::Conflict(format!(
        "{key} kept changing while it was being claimed; apply again"
    )))
}

async fn choose_ip(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    holder: &Holder,
) -> Result<Ipv4Addr, Error> {
    let mut taken: BTreeSet<u32> = claims::list(store, claims::IP_CLAIM)
        .await?
        .into_iter()
        .filter_map(|(stored, _)| stored.key.name.parse::<Ipv4Addr>().ok())
        .map(u32::from)
        .collect();
    let range = ranges.assignable();
    for candidate in scan(range.clone(), &taken.clone()) {
        let ip = Ipv4Addr::from(candidate);
        match claim_ip(store, clock, holder, ip).await? {
            Claim::Taken => return Ok(ip),
            Claim::Kept | Claim::HeldBy(_) => {
                taken.insert(candidate);
            }
        }
    }
    Err(Error::FailedPrecondition(format!(
        "spec.clusterIP: no address left in the service CIDR {}",
        ranges.service_cidr
    )))
}

/// The free values of `range` (not in `taken`), starting at a random one and wrapping
/// around, so that concurrent allocations rarely try the same value.
fn scan(range: RangeInclusive<u32>, taken: &BTreeSet<u32>) -> impl Iterator<Item = u32> + '_ {
    let (low, high) = (*range.start(), *range.end());
    let size = u64::from(high.saturating_sub(low)) + 1;
    let start = if high < low {
        0
    } else {
        rand::random_range(0..size)
    };
    (0..if high < low { 0 } else { size })
        .map(move |i| low + ((start + i) % size) as u32)
        .filter(move |v| !taken.contains(v))
}

async fn node_ports(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    holder: &Holder,
    old: Option<&ServiceSpec>,
    spec: &mut ServiceSpec,
    allocation: &mut Allocation,
) -> Result<(), Error> {
    let old_ports: Vec<(i32, String, Option<String>, u16)> = old
        .filter(|o| uses_node_ports(o))
        .into_iter()
        .flat_map(|o| o.ports.iter().flatten())
        .filter_map(|p| {
            let node_port = u16::try_from(p.node_port?).ok().filter(|n| *n != 0)?;
            let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
            Some((p.port, protocol, p.name.clone(), node_port))
        })
        .collect();
    let wanted = uses_node_ports(spec);
    let mut kept = BTreeSet::new();
    for (i, port) in spec.ports.iter_mut().flatten().enumerate() {
        if !wanted {
            port.node_port = None;
            continue;
        }
        let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".into());
        if port.node_port.unwrap_or(0) == 0 {
            port.node_port = old_ports
                .iter()
                .find(|(p, proto, _, _)| *p == port.port && *proto == protocol)
                .or_else(|| {
                    old_ports
                        .iter()
                        .find(|(_, _, name, _)| name.is_some() && *name == port.name)
                })
                .map(|(_, _, _, node_port)| i32::from(*node_port));
        }
        let at = format!("spec.ports[{i}].nodePort");
        let node_port = match port.node_port.filter(|n| *n != 0) {
            Some(requested) => {
                let number = u16::try_from(requested)
                    .ok()
                    .filter(|n| ranges.node_ports.contains(n))
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "{at}: Invalid value: {requested}: provided port is not in the \
                             valid range. The range of valid ports is {}-{}",
                            ranges.node_ports.start(),
                            ranges.node_ports.end()
                        ))
                    })?;
                if !kept.contains(&number) {
                    match claim_port(store, clock, holder, number).await? {
                        Claim::Taken => allocation.taken.push(claims::port_key(number)),
                        Claim::Kept => {}
                        Claim::HeldBy(other) => {
                            return Err(Error::Invalid(format!(
                                "{at}: Invalid value: {requested}: provided port is already \
                                 allocated (to service {other})"
                            )))
                        }
                    }
                }
                number
            }
            None => {
                let number = choose_port(store, clock, ranges, holder).await?;
                allocation.taken.push(claims::port_key(number));
                port.node_port = Some(i32::from(number));
                number
            }
        };
        kept.insert(node_port);
    }
    for (_, _, _, old) in old_ports {
        if !kept.contains(&old) {
            allocation.freed.push(claims::port_key(old));
        }
    }
    Ok(())
}

async fn claim_port(
    store: &dyn Store,
    clock: &dyn Clock,
    holder: &Holder,
    port: u16,
) -> Result<Claim, Error> {
    let uses = move |spec: &ServiceSpec| uses_port(spec, port);
    claim(store, clock, &claims::port_key(port), holder, &uses).await
}

fn uses_port(spec: &ServiceSpec, port: u16) -> bool {
    uses_node_ports(spec)
        && spec
            .ports
            .iter()
            .flatten()
            .any(|p| p.node_port == Some(i32::from(port)))
}

async fn choose_port(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    holder: &Holder,
) -> Result<u16, Error> {
    let taken: BTreeSet<u32> = claims::list(store, claims::PORT_CLAIM)
        .await?
        .into_iter()
        .filter_map(|(stored, _)| stored.key.name.parse::<u32>().ok())
        .collect();
    let range = u32::from(*ranges.node_ports.start())..=u32::from(*ranges.node_ports.end());
    for candidate in scan(range, &taken) {
        let port = u16::try_from(candidate).expect("the range is of u16");
        if claim_port(store, clock, holder, port).await? == Claim::Taken {
            return Ok(port);
        }
    }
    Err(Error::FailedPrecondition(format!(
        "spec.ports: no node port left in the range {}-{}",
        ranges.node_ports.start(),
        ranges.node_ports.end()
    )))
}

/// Whether `holder`'s Service still exists (same uid) and `uses` the value.
async fn holder_uses(
    store: &dyn Store,
    holder: &Holder,
    uses: &(dyn Fn(&ServiceSpec) -> bool + Send + Sync),
) -> Result<bool, StoreError> {
    let key = Key::new("Service", holder.namespace.clone(), holder.name.clone());
    let Some(stored) = store.get(&key).await? else {
        return Ok(false);
    };
    if stored.uid != holder.uid {
        return Ok(false);
    }
    let service: Service = match serde_json::from_slice(&stored.json) {
        Ok(service) => service,
        // Unreadable: assume it uses the value rather than hand it out twice.
        Err(_) => return Ok(true),
    };
    Ok(service.spec.as_ref().is_some_and(uses))
}

/// The claims `service` (its last state) holds values under.
pub fn claim_keys(service: &Service) -> Vec<Key> {
    let Some(spec) = &service.spec else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    if let Some(ip) = spec.cluster_ip.as_deref().and_then(|ip| ip.parse().ok()) {
        keys.push(claims::ip_key(ip));
    }
    for port in spec.ports.iter().flatten() {
        if let Some(n) = port.node_port.and_then(|n| u16::try_from(n).ok()) {
            keys.push(claims::port_key(n));
        }
    }
    keys
}

/// Drops stale claims: those whose holder is gone or no longer uses the value, once older
/// than the grace period. Run at start and now and then, it repairs what a crash between
/// claiming and writing (or a failed release) left behind.
pub async fn repair(store: &dyn Store, clock: &dyn Clock) -> Result<usize, StoreError> {
    let mut dropped = 0;
    for kind in [claims::IP_CLAIM, claims::PORT_CLAIM] {
        let (stored, _) = store.list(kind, None).await?;
        for claim in &stored {
            if repair_claim(store, clock, claim).await? {
                dropped += 1;
            }
        }
    }
    Ok(dropped)
}

/// [`repair`] of one claim: releases it if it is stale. True when it was released.
pub async fn repair_claim(
    store: &dyn Store,
    clock: &dyn Clock,
    stored: &Stored,
) -> Result<bool, StoreError> {
    let Some(holder) = claims::holder_of(stored) else {
        return Ok(false);
    };
    if !claims::is_old(stored, clock.now()) {
        return Ok(false);
    }
    let kind = stored.key.kind.as_str();
    let value = stored.key.name.clone();
    let port: Option<u16> = value.parse().ok();
    let is_ip = kind == claims::IP_CLAIM;
    let uses = move |spec: &ServiceSpec| {
        if is_ip {
            spec.cluster_ip.as_deref() == Some(value.as_str())
        } else {
            port.is_some_and(|port| uses_port(spec, port))
        }
    };
    if holder_uses(store, &holder, &uses).await? {
        return Ok(false);
    }
    claims::release(store, &stored.key, &holder.uid).await?;
    Ok(true)
}
