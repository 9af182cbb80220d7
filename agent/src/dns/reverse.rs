//! Reverse lookups (`PTR`, spec section 2.5): a ClusterIP names its service, a headless
//! service's ready endpoint names itself under the service. Addresses the cluster does not
//! know are left to the upstreams (CoreDNS' `fallthrough in-addr.arpa ip6.arpa`), which
//! may know the node's own networks.

use std::net::IpAddr;

use hickory_proto::rr::rdata::PTR;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::records::{ServiceKind, Table};
use super::zone::{Outcome, Zone};

impl Zone {
    /// `None` when `qname` is not a full reverse name of an address the cluster knows.
    pub fn reverse(&self, table: &Table, qname: &Name, qtype: RecordType) -> Option<Outcome> {
        let net = qname.parse_arpa_name().ok()?;
        if net.prefix_len() != net.max_prefix_len() {
            return None;
        }
        let targets = names_of(self, table, net.addr());
        if targets.is_empty() {
            return None;
        }
        if !matches!(qtype, RecordType::PTR | RecordType::ANY) {
            return Some(Outcome::NoData);
        }
        let answers = targets
            .into_iter()
            .map(|t| Record::from_rdata(qname.clone(), self.ttl, RData::PTR(PTR(t))))
            .collect();
        Some(Outcome::Answer {
            answers,
            additionals: vec![],
        })
    }
}

/// Every cluster name of `ip`. A scan: PTR queries are rare, and a table of 10,000
/// services is scanned in well under a millisecond.
fn names_of(zone: &Zone, table: &Table, ip: IpAddr) -> Vec<Name> {
    let mut out = Vec::new();
    for ((ns, svc), info) in &table.services {
        match &info.kind {
            ServiceKind::ClusterIp(ips) if ips.contains(&ip) => {
                out.push(zone.name(&format!("{svc}.{ns}.svc")));
            }
            ServiceKind::Headless => {
                let key = (ns.clone(), svc.clone());
                for e in table.endpoints.get(&key).into_iter().flatten() {
                    if e.ip == ip {
                        out.push(zone.name(&format!("{}.{svc}.{ns}.svc", e.label())));
                    }
                }
            }
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}
