//! The nftables backend (pure): rule text and element diffs; `super::exec` runs them.
//!
//! Layout: a table of the proxy's own, `ip skiff_proxy`, next to the pod network's
//! `ip skiff` (which owns the chains `postrouting` and `forward` there and flushes only
//! those). The proxy never touches that table, and deleting its own table (cleanup)
//! leaves the pod network alone.
//!
//! nft 1.0.6 goes quadratic in rules that name other chains (`bench_proxy` measures it), so there is no
//! chain per service: services are grouped by their backend count N, and one rule per
//! distinct N picks a backend from one flat map:
//!
//! ```text
//! meta l4proto tcp ip daddr . meta l4proto . th dport @svc_n3
//!     dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 3 map @backends_tcp
//! ```
//!
//! A service is then only elements (set `svc_nN`, maps `backends_<proto>`, `no_ep` when it has no
//! backends, node-port twins, `hairpin`), so a change to one service adds and deletes its
//! own elements in one transaction and leaves every other element alone. Only the few
//! services with ClientIP affinity get two small chains and a dynamic map of their own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::model::{Backend, PortRule, Proto};

/// The proxy's table on a real node; tests use their own.
pub const DEFAULT_TABLE: &str = "skiff_proxy";

/// One element of a named set, map or verdict map.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Elem {
    pub set: String,
    pub key: String,
    pub value: Option<String>,
}

impl Elem {
    fn new(set: impl Into<String>, key: impl Into<String>, value: Option<String>) -> Self {
        Elem {
            set: set.into(),
            key: key.into(),
            value,
        }
    }

    fn text(&self) -> String {
        match &self.value {
            Some(v) => format!("{} : {v}", self.key),
            None => self.key.clone(),
        }
    }
}

/// The per-service objects of a ClientIP-affinity port: a dynamic map client → backend
/// and two chains (look up, record), all named after the port's hash and timeout.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Affinity {
    pub hash: String,
    pub timeout: u32,
    pub proto: Proto,
    pub backends: Vec<Backend>,
}

impl Affinity {
    fn map(&self) -> String {
        format!("am_{}_{}", self.hash, self.timeout)
    }
    fn lookup_chain(&self) -> String {
        format!("a_{}_{}", self.hash, self.timeout)
    }
    fn record_chain(&self) -> String {
        format!("ap_{}_{}", self.hash, self.timeout)
    }
}

/// Everything one service contributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contribution {
    pub elems: Vec<Elem>,
    pub affinity: Vec<Affinity>,
    /// Backend counts for ClusterIP and node-port groups.
    pub groups: BTreeSet<usize>,
    pub np_groups: BTreeSet<usize>,
}

/// The elements and objects of one service's port rules.
pub fn contribution(rules: &[PortRule]) -> Contribution {
    let mut c = Contribution::default();
    for r in rules {
        let p = r.proto.as_str();
        let svc_key = format!("{} . {p} . {}", r.cluster_ip, r.port);
        let n = r.backends.len();
        if n == 0 {
            c.elems.push(Elem::new("no_ep", &svc_key, None));
        } else {
            c.groups.insert(n);
            c.elems.push(Elem::new(format!("svc_n{n}"), &svc_key, None));
            for (i, b) in r.backends.iter().enumerate() {
                c.elems.push(Elem::new(
                    format!("backends_{p}"),
                    format!("{svc_key} . {i}"),
                    Some(format!("{} . {}", b.ip, b.port)),
                ));
            }
        }
        if r.external && !r.external_local && n > 0 {
            c.elems.push(Elem::new(
                format!("ext_masq_{p}"),
                format!("{} . {}", r.cluster_ip, r.port),
                None,
            ));
        }
        for b in r.backends.iter().filter(|b| b.local) {
            c.elems
                .push(Elem::new("hairpin", format!("{} . {}", b.ip, b.ip), None));
        }
        let aff = r.affinity.filter(|_| n > 0).map(|timeout| Affinity {
            hash: r.hash(),
            timeout,
            proto: r.proto,
            backends: r.backends.clone(),
        });
        if let Some(a) = &aff {
            c.elems.push(Elem::new(
                "aff_svc",
                &svc_key,
                Some(format!("jump {}", a.lookup_chain())),
            ));
            c.elems.push(Elem::new(
                format!("aff_post_{p}"),
                format!("{} . {}", r.cluster_ip, r.port),
                Some(format!("jump {}", a.record_chain())),
            ));
        }
        if let Some(np) = r.node_port {
            let np_key = format!("{p} . {np}");
            let npb = r.node_port_backends();
            if npb.is_empty() {
                c.elems.push(Elem::new("np_no_ep", &np_key, None));
            } else {
                c.np_groups.insert(npb.len());
                c.elems
                    .push(Elem::new(format!("np_n{}", npb.len()), &np_key, None));
                for (i, b) in npb.iter().enumerate() {
                    c.elems.push(Elem::new(
                        format!("np_backends_{p}"),
                        format!("{np_key} . {i}"),
                        Some(format!("{} . {}", b.ip, b.port)),
                    ));
                }
            }
            if !r.external_local {
                c.elems
                    .push(Elem::new(format!("np_masq_{p}"), np.to_string(), None));
                if let Some(a) = &aff {
                    c.elems.push(Elem::new(
                        "aff_np",
                        &np_key,
                        Some(format!("jump {}", a.lookup_chain())),
                    ));
                    c.elems.push(Elem::new(
                        format!("aff_np_post_{p}"),
                        np.to_string(),
                        Some(format!("jump {}", a.record_chain())),
                    ));
                }
            }
        }
        c.affinity.extend(aff);
    }
    // Two ports with the same local backend want one hairpin element.
    c.elems.sort();
    c.elems.dedup();
    c
}

/// The proxy's fixed part: sets, maps and chains every node has, whatever its services.
#[derive(Debug, Clone)]
pub struct Skeleton {
    pub table: String,
    /// Addresses that answer node ports (127.0.0.1 included with `nodeport_localhost`).
    pub node_ips: Vec<Ipv4Addr>,
    /// Masquerade what comes from 127.0.0.0/8 (node ports on localhost).
    pub localhost: bool,
}

const SVC_KEY: &str = "ipv4_addr . inet_proto . inet_service";
const NP_KEY: &str = "inet_proto . inet_service";

impl Skeleton {
    /// Declarations (all `add`, so idempotent) and the fixed chains' rules, after a
    /// flush of those chains.
    fn declare(&self, out: &mut String) {
        let t = format!("ip {}", self.table);
        let _ = writeln!(out, "add table {t}");
        let _ = writeln!(out, "add set {t} node_ips {{ type ipv4_addr; }}");
        let _ = writeln!(out, "add set {t} no_ep {{ type {SVC_KEY}; }}");
        let _ = writeln!(out, "add set {t} np_no_ep {{ type {NP_KEY}; }}");
        for p in ["tcp", "udp"] {
            let _ = writeln!(out, "add set {t} np_masq_{p} {{ type inet_service; }}");
            let _ = writeln!(
                out,
                "add set {t} ext_masq_{p} {{ type ipv4_addr . inet_service; }}"
            );
            let _ = writeln!(
                out,
                "add map {t} aff_post_{p} {{ type ipv4_addr . inet_service : verdict; }}"
            );
            let _ = writeln!(
                out,
                "add map {t} aff_np_post_{p} {{ type inet_service : verdict; }}"
            );
        }
        let _ = writeln!(out, "add set {t} hairpin {{ type ipv4_addr . ipv4_addr; }}");
        // `typeof` because `numgen` has no type name. A map per protocol: with `th dport`
        // in the data nft 1.0.6 cannot read the map back from the kernel ("conflicting
        // protocols specified: ip vs. th") and refuses every later rule naming it, and
        // `tcp dport` there makes the dnat rule match TCP only.
        for p in ["tcp", "udp"] {
            let _ = writeln!(out, "add map {t} backends_{p} {{ typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . {p} dport; }}");
            let _ = writeln!(out, "add map {t} np_backends_{p} {{ typeof meta l4proto . th dport . numgen random mod 1 : ip daddr . {p} dport; }}");
        }
        let _ = writeln!(out, "add map {t} aff_svc {{ type {SVC_KEY} : verdict; }}");
        let _ = writeln!(out, "add map {t} aff_np {{ type {NP_KEY} : verdict; }}");
        for (chain, hook) in [
            ("nat_prerouting", "type nat hook prerouting priority dstnat"),
            ("nat_output", "type nat hook output priority -100"),
            (
                "nat_postrouting",
                "type nat hook postrouting priority srcnat",
            ),
            // Before routing: a client routed back out the interface it came in on
            // would get an ICMP redirect first, and the port unreachable after it is
            // eaten by the kernel's per-host ICMP rate limit.
            (
                "filter_prerouting",
                "type filter hook prerouting priority dstnat + 10",
            ),
            ("filter_output", "type filter hook output priority -90"),
        ] {
            let _ = writeln!(out, "add chain {t} {chain} {{ {hook}; policy accept; }}");
        }
        for chain in ["services", "reject_check", "reject_it"] {
            let _ = writeln!(out, "add chain {t} {chain}");
        }
    }

    /// Rules of the fixed chains (flushed before).
    fn fixed_rules(&self, out: &mut String) {
        let t = format!("ip {}", self.table);
        let _ = writeln!(out, "add rule {t} nat_prerouting jump services");
        let _ = writeln!(out, "add rule {t} nat_output jump services");
        let _ = writeln!(
            out,
            "add rule {t} services ip daddr . meta l4proto . th dport vmap @aff_svc"
        );
        let _ = writeln!(
            out,
            "add rule {t} services ip daddr @node_ips meta l4proto . th dport vmap @aff_np"
        );
        for p in ["tcp", "udp"] {
            let _ = writeln!(out, "add rule {t} nat_postrouting meta l4proto {p} ct status dnat ct original ip daddr . ct original proto-dst vmap @aff_post_{p}");
            let _ = writeln!(out, "add rule {t} nat_postrouting meta l4proto {p} ct status dnat ct original ip daddr @node_ips ct original proto-dst vmap @aff_np_post_{p}");
        }
        let _ = writeln!(
            out,
            "add rule {t} nat_postrouting ct status dnat ip saddr . ip daddr @hairpin masquerade"
        );
        for p in ["tcp", "udp"] {
            let _ = writeln!(out, "add rule {t} nat_postrouting meta l4proto {p} ct status dnat ct original ip daddr @node_ips ct original proto-dst @np_masq_{p} masquerade");
            // External addresses (externalIPs, load-balancer ingress) with policy Cluster.
            let _ = writeln!(out, "add rule {t} nat_postrouting meta l4proto {p} ct status dnat ct original ip daddr . ct original proto-dst @ext_masq_{p} masquerade");
        }
        if self.localhost {
            let _ = writeln!(
                out,
                "add rule {t} nat_postrouting ct status dnat ip saddr 127.0.0.0/8 masquerade"
            );
        }
        for chain in ["filter_prerouting", "filter_output"] {
            let _ = writeln!(out, "add rule {t} {chain} jump reject_check");
        }
        let _ = writeln!(
            out,
            "add rule {t} reject_check ip daddr . meta l4proto . th dport @no_ep goto reject_it"
        );
        let _ = writeln!(
            out,
            "add rule {t} reject_check ip daddr @node_ips meta l4proto . th dport @np_no_ep goto reject_it"
        );
        let _ = writeln!(
            out,
            "add rule {t} reject_it meta l4proto tcp reject with tcp reset"
        );
        let _ = writeln!(out, "add rule {t} reject_it reject");
    }

    fn group(&self, n: usize, out: &mut String) {
        let t = format!("ip {}", self.table);
        let _ = writeln!(out, "add set {t} svc_n{n} {{ type {SVC_KEY}; }}");
        for p in ["tcp", "udp"] {
            let _ = writeln!(out, "add rule {t} services meta l4proto {p} ip daddr . meta l4proto . th dport @svc_n{n} dnat ip to ip daddr . meta l4proto . th dport . numgen random mod {n} map @backends_{p}");
        }
    }

    fn np_group(&self, n: usize, out: &mut String) {
        let t = format!("ip {}", self.table);
        let _ = writeln!(out, "add set {t} np_n{n} {{ type {NP_KEY}; }}");
        for p in ["tcp", "udp"] {
            let _ = writeln!(out, "add rule {t} services meta l4proto {p} ip daddr @node_ips meta l4proto . th dport @np_n{n} dnat ip to meta l4proto . th dport . numgen random mod {n} map @np_backends_{p}");
        }
    }

    fn add_affinity(&self, a: &Affinity, out: &mut String) {
        let t = format!("ip {}", self.table);
        let _ = writeln!(out, "add map {t} {} {{ type ipv4_addr : ipv4_addr . inet_service; flags dynamic,timeout; timeout {}s; }}", a.map(), a.timeout);
        self.affinity_rules(a, out);
    }

    /// (Re)creates and fills the two chains of an affinity port.
    fn affinity_rules(&self, a: &Affinity, out: &mut String) {
        let t = format!("ip {}", self.table);
        let (map, look, rec) = (a.map(), a.lookup_chain(), a.record_chain());
        let p = a.proto.as_str();
        let _ = writeln!(out, "add chain {t} {look}");
        let _ = writeln!(out, "flush chain {t} {look}");
        let _ = writeln!(
            out,
            "add rule {t} {look} meta l4proto {p} dnat ip to ip saddr map @{map}"
        );
        let _ = writeln!(out, "add chain {t} {rec}");
        let _ = writeln!(out, "flush chain {t} {rec}");
        let _ = writeln!(
            out,
            "add rule {t} {rec} update @{map} {{ ip saddr : ip daddr . th dport }}"
        );
    }

    fn delete_affinity(&self, a: &Affinity, out: &mut String) {
        let t = format!("ip {}", self.table);
        for chain in [a.lookup_chain(), a.record_chain()] {
            let _ = writeln!(out, "flush chain {t} {chain}");
            let _ = writeln!(out, "delete chain {t} {chain}");
        }
        let _ = writeln!(out, "delete map {t} {}", a.map());
    }

    fn node_ip_elems(&self) -> Vec<Elem> {
        self.node_ips
            .iter()
            .map(|ip| Elem::new("node_ips", ip.to_string(), None))
            .collect()
    }
}

/// Appends `add element` / `delete element` commands, one per set.
fn write_elems(t: &str, verb: &str, elems: &[&Elem], out: &mut String) {
    let mut by_set: BTreeMap<&str, Vec<&Elem>> = BTreeMap::new();
    for e in elems {
        by_set.entry(e.set.as_str()).or_default().push(e);
    }
    for (set, elems) in by_set {
        let _ = write!(out, "{verb} element ip {t} {set} {{ ");
        for (i, e) in elems.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if verb == "delete" {
                out.push_str(&e.key);
            } else {
                out.push_str(&e.text());
            }
        }
        out.push_str(" }\n");
    }
}

/// The objects the kernel's table has now: from `nft -t list table`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Existing {
    pub sets: BTreeSet<String>,
    pub chains: BTreeSet<String>,
}

impl Existing {
    /// Parses `nft -t list table` output (`set NAME {`, `map NAME {`, `chain NAME {`).
    pub fn parse(listing: &str) -> Self {
        let mut e = Existing::default();
        for line in listing.lines() {
            let mut words = line.split_whitespace();
            let (Some(kind), Some(name), Some("{")) = (words.next(), words.next(), words.next())
            else {
                continue;
            };
            match kind {
                "set" | "map" => {
                    e.sets.insert(name.to_string());
                }
                "chain" => {
                    e.chains.insert(name.to_string());
                }
                _ => {}
            }
        }
        e
    }
}

/// What the proxy put into the kernel, so an update can work out its diff.
#[derive(Debug, Default)]
pub struct NftState {
    /// (set, key) → (value, how many services want it).
    live: HashMap<(String, String), (Option<String>, u32)>,
    /// Per service: the elements it actually owns (conflicting keys are not owned).
    owned: HashMap<String, Vec<Elem>>,
    affinity: HashMap<String, Vec<Affinity>>,
    groups: BTreeSet<usize>,
    np_groups: BTreeSet<usize>,
}

impl NftState {
    /// The full script: fixed part re-declared, every proxy set flushed and refilled,
    /// stale groups and affinity objects deleted; one transaction, so traffic never
    /// sees a half-done table. Affinity maps that stay keep their clients.
    pub fn resync(
        &mut self,
        sk: &Skeleton,
        services: &[(String, Contribution)],
        existing: &Existing,
    ) -> String {
        *self = NftState::default();
        let t = &sk.table;
        let mut out = String::new();
        sk.declare(&mut out);
        let fixed_chains = [
            "nat_prerouting",
            "nat_output",
            "nat_postrouting",
            "filter_prerouting",
            "filter_output",
            "services",
            "reject_check",
            "reject_it",
        ];
        for chain in fixed_chains {
            let _ = writeln!(out, "flush chain ip {t} {chain}");
        }
        let mut want_aff: BTreeMap<String, &Affinity> = BTreeMap::new();
        for (_, c) in services {
            self.groups.extend(&c.groups);
            self.np_groups.extend(&c.np_groups);
            for a in &c.affinity {
                want_aff.insert(a.map(), a);
            }
        }
        // Affinity chains: all flushed (they name maps); stale ones deleted below.
        for chain in &existing.chains {
            if chain.starts_with("a_") || chain.starts_with("ap_") {
                let _ = writeln!(out, "flush chain ip {t} {chain}");
            }
        }
        let wanted_set = |name: &str| -> bool {
            if let Some(n) = group_of(name, "svc_n") {
                return self.groups.contains(&n);
            }
            if let Some(n) = group_of(name, "np_n") {
                return self.np_groups.contains(&n);
            }
            if name.starts_with("am_") {
                return want_aff.contains_key(name);
            }
            true
        };
        for set in &existing.sets {
            if set.starts_with("am_") {
                continue;
            }
            if wanted_set(set) {
                let kind = if is_map(set) { "map" } else { "set" };
                let _ = writeln!(out, "flush {kind} ip {t} {set}");
            }
        }
        for chain in &existing.chains {
            let base = chain
                .strip_prefix("ap_")
                .or_else(|| chain.strip_prefix("a_"));
            if let Some(base) = base {
                if !want_aff.contains_key(&format!("am_{base}")) {
                    let _ = writeln!(out, "delete chain ip {t} {chain}");
                }
            }
        }
        for set in &existing.sets {
            if !wanted_set(set) {
                let kind = if is_map(set) { "map" } else { "set" };
                let _ = writeln!(out, "delete {kind} ip {t} {set}");
            }
        }
        sk.fixed_rules(&mut out);
        for n in &self.groups {
            sk.group(*n, &mut out);
        }
        for n in &self.np_groups {
            sk.np_group(*n, &mut out);
        }
        for a in want_aff.values() {
            if existing.sets.contains(&a.map()) {
                sk.affinity_rules(a, &mut out);
            } else {
                sk.add_affinity(a, &mut out);
            }
        }
        let mut all: Vec<Elem> = sk.node_ip_elems();
        for (key, c) in services {
            let owned = self.take(&c.elems);
            all.extend(owned.iter().cloned());
            self.owned.insert(key.clone(), owned);
            self.affinity.insert(key.clone(), c.affinity.clone());
        }
        // Shared elements (hairpin) appear once.
        all.sort();
        all.dedup();
        let refs: Vec<&Elem> = all.iter().collect();
        write_elems(t, "add", &refs, &mut out);
        out
    }

    /// The script for one changed service (`None`: nothing to do). Only that service's
    /// elements are added or deleted; a new backend count adds its group.
    pub fn update(&mut self, sk: &Skeleton, key: &str, c: &Contribution) -> Option<String> {
        let t = &sk.table;
        let mut out = String::new();
        for n in c.groups.difference(&self.groups.clone()) {
            sk.group(*n, &mut out);
            self.groups.insert(*n);
        }
        for n in c.np_groups.difference(&self.np_groups.clone()) {
            sk.np_group(*n, &mut out);
            self.np_groups.insert(*n);
        }
        let old_aff = self.affinity.remove(key).unwrap_or_default();
        let mut drop_aff = Vec::new();
        for a in &c.affinity {
            match old_aff.iter().find(|o| o.map() == a.map()) {
                None => sk.add_affinity(a, &mut out),
                // A client pinned to a backend that is gone starts afresh.
                Some(o) if o.backends.iter().any(|b| !a.backends.contains(b)) => {
                    let _ = writeln!(out, "flush map ip {t} {}", a.map());
                }
                Some(_) => {}
            }
        }
        for o in &old_aff {
            if !c.affinity.iter().any(|a| a.map() == o.map()) {
                drop_aff.push(o.clone());
            }
        }
        let old = self.owned.remove(key).unwrap_or_default();
        let (gone, fresh) = self.diff(&old, &c.elems);
        let owned = self.take_after(&old, &c.elems);
        write_elems(t, "delete", &gone.iter().collect::<Vec<_>>(), &mut out);
        write_elems(t, "add", &fresh.iter().collect::<Vec<_>>(), &mut out);
        for a in &drop_aff {
            sk.delete_affinity(a, &mut out);
        }
        if !owned.is_empty() {
            self.owned.insert(key.to_string(), owned);
        }
        if !c.affinity.is_empty() {
            self.affinity.insert(key.to_string(), c.affinity.clone());
        }
        (!out.is_empty()).then_some(out)
    }

    /// Claims `elems` for a service: returns the ones it may own (a key another service
    /// holds with another value is skipped: the first one keeps it).
    fn take(&mut self, elems: &[Elem]) -> Vec<Elem> {
        let mut owned = Vec::new();
        for e in elems {
            let slot = self
                .live
                .entry((e.set.clone(), e.key.clone()))
                .or_insert((e.value.clone(), 0));
            if slot.0 == e.value {
                slot.1 += 1;
                owned.push(e.clone());
            } else {
                tracing::warn!(set = %e.set, key = %e.key, "conflicting service element skipped");
            }
        }
        owned
    }

    /// The kernel diff between a service's old owned elements and its new wish; updates
    /// the reference counts. Returns (to delete, to add).
    fn diff(&mut self, old: &[Elem], new: &[Elem]) -> (Vec<Elem>, Vec<Elem>) {
        let old_set: BTreeSet<&Elem> = old.iter().collect();
        let new_set: BTreeSet<&Elem> = new.iter().collect();
        let mut gone = Vec::new();
        for e in old_set.difference(&new_set) {
            let k = (e.set.clone(), e.key.clone());
            if let Some(slot) = self.live.get_mut(&k) {
                slot.1 -= 1;
                if slot.1 == 0 {
                    self.live.remove(&k);
                    gone.push((*e).clone());
                }
            }
        }
        let mut fresh = Vec::new();
        for e in new_set.difference(&old_set) {
            match self.live.get(&(e.set.clone(), e.key.clone())) {
                None => fresh.push((*e).clone()),
                Some((v, _)) if *v == e.value => {}
                Some(_) => {}
            }
        }
        (gone, fresh)
    }

    /// After [`Self::diff`]: counts the new wish in (keeping what stayed).
    fn take_after(&mut self, old: &[Elem], new: &[Elem]) -> Vec<Elem> {
        let old_set: BTreeSet<&Elem> = old.iter().collect();
        let mut owned: Vec<Elem> = new
            .iter()
            .filter(|e| old_set.contains(e))
            .cloned()
            .collect();
        let added: Vec<Elem> = new
            .iter()
            .filter(|e| !old_set.contains(e))
            .cloned()
            .collect();
        owned.extend(self.take(&added));
        owned
    }

    pub fn is_empty(&self) -> bool {
        self.owned.is_empty()
    }
}

/// N of a group set `<prefix>N` (`np_no_ep` is no group).
fn group_of(name: &str, prefix: &str) -> Option<usize> {
    let n = name.strip_prefix(prefix)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

fn is_map(name: &str) -> bool {
    name.starts_with("am_")
        || name.starts_with("aff_")
        || name.starts_with("backends_")
        || name.starts_with("np_backends_")
}

/// Removes the proxy's table (cleanup); `add` first so a missing table is no error.
pub fn delete_table_script(table: &str) -> String {
    format!("add table ip {table}\ndelete table ip {table}\n")
}
