//! Answers for names under the cluster domain, following the Kubernetes DNS spec
//! (`cluster-dns` schema 1.1.0): service A/AAAA, SRV for named ports, headless endpoints,
//! ExternalName CNAMEs and `<a-b-c-d>.<ns>.pod` records. Pure: no I/O, so every rule is
//! unit-tested.

use std::net::{IpAddr, Ipv6Addr};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::records::{EndpointInfo, ServiceInfo, ServiceKind, Table};

/// What the zone says about one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Answer {
        answers: Vec<Record>,
        additionals: Vec<Record>,
    },
    /// The name exists, with no records of the asked type (NOERROR, empty answer). Matters:
    /// musl asks A and AAAA together and gives up on the name when either is NXDOMAIN.
    NoData,
    NxDomain,
    /// An ExternalName service: the CNAME, and the name it points to for the caller to
    /// chase.
    Alias {
        cname: Box<Record>,
        target: Name,
    },
}

/// The cluster zone (`cluster.local.`) and the TTL of its records.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub origin: Name,
    /// The origin's labels, lowercase, outermost last (`["cluster", "local"]`).
    labels: Vec<String>,
    pub ttl: u32,
}

impl Zone {
    pub fn new(domain: &str, ttl: u32) -> Result<Self, String> {
        let trimmed = domain.trim_end_matches('.').to_ascii_lowercase();
        if trimmed.is_empty() {
            return Err("must not be empty".into());
        }
        let origin = Name::from_ascii(format!("{trimmed}.")).map_err(|e| e.to_string())?;
        let labels = trimmed.split('.').map(str::to_string).collect();
        Ok(Zone {
            origin,
            labels,
            ttl,
        })
    }

    /// The labels of `name` in front of the origin, lowercase; `None` when the name is not
    /// under the cluster domain.
    fn relative(&self, name: &Name) -> Option<Vec<String>> {
        let labels: Vec<String> = name
            .iter()
            .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
            .collect();
        let split = labels.len().checked_sub(self.labels.len())?;
        (labels[split..] == self.labels[..]).then(|| labels[..split].to_vec())
    }

    pub fn contains(&self, name: &Name) -> bool {
        self.relative(name).is_some()
    }

    /// The zone's SOA: the authority of negative answers, so resolvers cache an NXDOMAIN
    /// no longer than the TTL.
    pub fn soa(&self) -> Record {
        let mname = self.name("ns.dns");
        let rname = self.name("hostmaster");
        let soa = SOA::new(mname, rname, 1, 7200, 1800, 86400, self.ttl);
        Record::from_rdata(self.origin.clone(), self.ttl, RData::SOA(soa))
    }

    /// `prefix` + origin; prefix labels come from validated Kubernetes names.
    pub(crate) fn name(&self, prefix: &str) -> Name {
        Name::from_ascii(format!("{prefix}.{}", self.origin))
            .unwrap_or_else(|_| self.origin.clone())
    }

    /// Looks `qname` up; `None` when it is outside the cluster domain (to be forwarded).
    pub fn lookup(&self, table: &Table, qname: &Name, qtype: RecordType) -> Option<Outcome> {
        let rel = self.relative(qname)?;
        let rel: Vec<&str> = rel.iter().map(String::as_str).collect();
        let q = Question {
            zone: self,
            table,
            qname,
            qtype,
        };
        Some(match rel[..] {
            [] => q.apex(),
            ["svc"] | ["pod"] | [_, "pod"] => Outcome::NoData,
            [ns, "svc"] if table.has_namespace(ns) => Outcome::NoData,
            [svc, ns, "svc"] => q.service(ns, svc),
            [proto, svc, ns, "svc"] if proto.starts_with('_') => q.proto_node(ns, svc, proto),
            [endpoint, svc, ns, "svc"] => q.endpoint(ns, svc, endpoint),
            [port, proto, svc, ns, "svc"] if port.starts_with('_') && proto.starts_with('_') => {
                q.srv(ns, svc, &port[1..], &proto[1..])
            }
            [ip, _ns, "pod"] => q.pod(ip),
            _ => Outcome::NxDomain,
        })
    }
}

struct Question<'a> {
    zone: &'a Zone,
    table: &'a Table,
    qname: &'a Name,
    qtype: RecordType,
}

impl Question<'_> {
    fn apex(&self) -> Outcome {
        match self.qtype {
            RecordType::SOA => answer(vec![self.zone.soa()], vec![]),
            _ => Outcome::NoData,
        }
    }

    fn service_info(&self, ns: &str, svc: &str) -> Option<&ServiceInfo> {
        self.table.services.get(&(ns.to_string(), svc.to_string()))
    }

    fn endpoints(&self, ns: &str, svc: &str) -> &[EndpointInfo] {
        self.table
            .endpoints
            .get(&(ns.to_string(), svc.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    fn service(&self, ns: &str, svc: &str) -> Outcome {
        let Some(info) = self.service_info(ns, svc) else {
            return Outcome::NxDomain;
        };
        let ips: Vec<IpAddr> = match &info.kind {
            ServiceKind::ExternalName(target) => return self.alias(target),
            ServiceKind::ClusterIp(ips) => ips.clone(),
            ServiceKind::Headless => {
                let mut ips: Vec<IpAddr> = self.endpoints(ns, svc).iter().map(|e| e.ip).collect();
                ips.sort();
                ips.dedup();
                ips
            }
        };
        match self.qtype {
            RecordType::SRV => {
                // Every named port of the service, as `_<port>._<proto>` would give one.
                let mut answers = Vec::new();
                let mut additionals = Vec::new();
                for port in &info.ports {
                    if let Outcome::Answer {
                        answers: a,
                        additionals: x,
                    } = self.srv(ns, svc, &port.name, &port.protocol)
                    {
                        answers.extend(a.into_iter().map(|mut r| {
                            r.name = self.qname.clone();
                            r
                        }));
                        additionals.extend(x);
                    }
                }
                dedup(&mut additionals);
                answer(answers, additionals)
            }
            _ => self.addresses(self.qname, &ips),
        }
    }

    /// `_<proto>.<svc>.<ns>.svc`: exists (empty) when the service has a port of it.
    fn proto_node(&self, ns: &str, svc: &str, proto: &str) -> Outcome {
        let proto = &proto[1..];
        match self.service_info(ns, svc) {
            Some(info) if info.ports.iter().any(|p| p.protocol == proto) => Outcome::NoData,
            Some(_) if self.endpoints(ns, svc).iter().any(|e| has_proto(e, proto)) => {
                Outcome::NoData
            }
            _ => Outcome::NxDomain,
        }
    }

    /// `<hostname>.<svc>.<ns>.svc` of a headless service.
    fn endpoint(&self, ns: &str, svc: &str, label: &str) -> Outcome {
        match self.service_info(ns, svc).map(|i| &i.kind) {
            Some(ServiceKind::Headless) => {}
            _ => return Outcome::NxDomain,
        }
        let mut ips: Vec<IpAddr> = self
            .endpoints(ns, svc)
            .iter()
            .filter(|e| e.label() == label)
            .map(|e| e.ip)
            .collect();
        if ips.is_empty() {
            return Outcome::NxDomain;
        }
        ips.sort();
        ips.dedup();
        self.addresses(self.qname, &ips)
    }

    /// `_<port>._<proto>.<svc>.<ns>.svc`: the service name and port for a ClusterIP
    /// service; each endpoint under its own name for a headless one.
    fn srv(&self, ns: &str, svc: &str, port: &str, proto: &str) -> Outcome {
        let Some(info) = self.service_info(ns, svc) else {
            return Outcome::NxDomain;
        };
        let service_name = self.zone.name(&format!("{svc}.{ns}.svc"));
        // (target, port, address)
        let targets: Vec<(Name, u16, IpAddr)> = match &info.kind {
            ServiceKind::ExternalName(_) => return Outcome::NxDomain,
            ServiceKind::ClusterIp(ips) => {
                let Some(p) = info
                    .ports
                    .iter()
                    .find(|p| p.name == port && p.protocol == proto)
                else {
                    return Outcome::NxDomain;
                };
                ips.iter()
                    .map(|ip| (service_name.clone(), p.port, *ip))
                    .collect()
            }
            ServiceKind::Headless => {
                let named = info
                    .ports
                    .iter()
                    .any(|p| p.name == port && p.protocol == proto);
                let list: Vec<_> = self
                    .endpoints(ns, svc)
                    .iter()
                    .filter_map(|e| {
                        let p = e
                            .ports
                            .iter()
                            .find(|p| p.name == port && p.protocol == proto)?;
                        let target = self.zone.name(&format!("{}.{svc}.{ns}.svc", e.label()));
                        Some((target, p.port, e.ip))
                    })
                    .collect();
                if list.is_empty() && !named {
                    return Outcome::NxDomain;
                }
                list
            }
        };
        if !matches!(self.qtype, RecordType::SRV | RecordType::ANY) {
            return Outcome::NoData;
        }
        let mut records: Vec<(Name, u16)> =
            targets.iter().map(|(n, p, _)| (n.clone(), *p)).collect();
        records.sort();
        records.dedup();
        // Equal shares, as CoreDNS gives records of one priority.
        let weight = u16::try_from(100 / records.len().max(1))
            .unwrap_or(1)
            .max(1);
        let answers = records
            .into_iter()
            .map(|(target, port)| {
                let srv = SRV::new(0, weight, port, target);
                Record::from_rdata(self.qname.clone(), self.zone.ttl, RData::SRV(srv))
            })
            .collect();
        let mut additionals: Vec<Record> = targets
            .iter()
            .map(|(target, _, ip)| self.address_record(target, *ip))
            .collect();
        dedup(&mut additionals);
        answer(answers, additionals)
    }

    /// `<a-b-c-d>.<ns>.pod`: the address spelled in the name, for any namespace (CoreDNS'
    /// `pods insecure`, what kubeadm configures).
    fn pod(&self, label: &str) -> Outcome {
        let ip = match label.split('-').count() {
            4 => label.replace('-', ".").parse::<IpAddr>().ok(),
            _ => label
                .replace('-', ":")
                .parse::<Ipv6Addr>()
                .ok()
                .map(IpAddr::V6),
        };
        match ip {
            Some(ip) => self.addresses(self.qname, &[ip]),
            None => Outcome::NxDomain,
        }
    }

    fn alias(&self, target: &str) -> Outcome {
        let Ok(target) = Name::from_ascii(format!("{target}.")) else {
            return Outcome::NoData;
        };
        let cname = Record::from_rdata(
            self.qname.clone(),
            self.zone.ttl,
            RData::CNAME(CNAME(target.clone())),
        );
        Outcome::Alias {
            cname: Box::new(cname),
            target,
        }
    }

    /// A or AAAA records of `ips` for `owner`, as the question asks.
    fn addresses(&self, owner: &Name, ips: &[IpAddr]) -> Outcome {
        let wanted = |ip: &IpAddr| match self.qtype {
            RecordType::A => ip.is_ipv4(),
            RecordType::AAAA => ip.is_ipv6(),
            RecordType::ANY => true,
            _ => false,
        };
        let answers: Vec<Record> = ips
            .iter()
            .filter(|ip| wanted(ip))
            .map(|ip| self.address_record(owner, *ip))
            .collect();
        answer(answers, vec![])
    }

    fn address_record(&self, owner: &Name, ip: IpAddr) -> Record {
        let data = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        Record::from_rdata(owner.clone(), self.zone.ttl, data)
    }
}

fn has_proto(e: &EndpointInfo, proto: &str) -> bool {
    e.ports.iter().any(|p| p.protocol == proto)
}

fn answer(answers: Vec<Record>, additionals: Vec<Record>) -> Outcome {
    if answers.is_empty() {
        Outcome::NoData
    } else {
        Outcome::Answer {
            answers,
            additionals,
        }
    }
}

fn dedup(records: &mut Vec<Record>) {
    let mut seen = Vec::new();
    records.retain(|r| {
        let fresh = !seen.contains(r);
        if fresh {
            seen.push(r.clone());
        }
        fresh
    });
}
