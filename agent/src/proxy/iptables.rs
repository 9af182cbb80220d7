//! The iptables backend (pure): iptables-restore input for `--noflush`, so only chains
//! named `SKIFF-*` are (re)written and everything else in the tables stays.
//!
//! Close to kube-proxy's layout, because iptables has no maps: `SKIFF-SERVICES` (from
//! PREROUTING and OUTPUT) jumps per service port to `SKIFF-SVC-<hash>`, which DNATs to
//! an endpoint picked with `statistic --mode random` (and `recent` lists for ClientIP
//! affinity); node ports go through `SKIFF-NODEPORTS` to `SKIFF-EXT-<hash>`. Unlike
//! kube-proxy there is no chain per endpoint (iptables-nft, like nft, slows down with
//! every rule naming a chain): hairpin masquerade is a rule per local endpoint address
//! (shared by the services it backs) in `SKIFF-HAIRPIN`, at the start of
//! `SKIFF-POSTROUTING`. Rules in the shared chains are added and deleted one by one
//! (`-A`/`-D`), and a service's own chains are redeclared only when they change, so a
//! change of endpoints rewrites only that service's chains: iptables-nft then fetches
//! just the chains the input names, never the 10,000-rule `SKIFF-SERVICES`.
//! Masquerade uses mark bit 0x4000 (kube-proxy's), cleared when used.
//!
//! Input order matters at scale: iptables-nft 1.8.9 keeps the chains an input names in
//! a sorted list searched from the front for every line, so the full input names its
//! chains in descending order, each chain right before the rules jumping to it: every
//! lookup then ends near the front (10,000 services: 0.6 s instead of 3.4 s).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use sha2::{Digest, Sha256};

use super::model::{Backend, PortRule};

const PREFIX: &str = "SKIFF-";
const SERVICES: &str = "SKIFF-SERVICES";
const NODEPORTS: &str = "SKIFF-NODEPORTS";
const MARK_MASQ: &str = "SKIFF-MARK-MASQ";
const POSTROUTING: &str = "SKIFF-POSTROUTING";
const REJECT: &str = "SKIFF-REJECT";
const HAIRPIN: &str = "SKIFF-HAIRPIN";

/// A jump from a built-in chain into ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump {
    pub table: &'static str,
    pub chain: &'static str,
    pub target: &'static str,
}

pub fn jump_rules() -> Vec<Jump> {
    let j = |table, chain, target| Jump {
        table,
        chain,
        target,
    };
    vec![
        j("nat", "PREROUTING", SERVICES),
        j("nat", "OUTPUT", SERVICES),
        j("nat", "POSTROUTING", POSTROUTING),
        j("filter", "INPUT", REJECT),
        j("filter", "FORWARD", REJECT),
        j("filter", "OUTPUT", REJECT),
    ]
}

/// Our chains in `iptables-save` output (`:SKIFF-... - [0:0]`).
pub fn our_chains(saved: &str) -> Vec<String> {
    saved
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| c.starts_with(PREFIX))
        .map(str::to_string)
        .collect()
}

/// The jumps into our chains that `iptables-save -t <table>` output lacks.
pub fn missing_jumps(nat: &str, filter: &str) -> Vec<Jump> {
    jump_rules()
        .into_iter()
        .filter(|j| {
            let saved = if j.table == "nat" { nat } else { filter };
            let rule = format!("-A {} -j {}", j.chain, j.target);
            !saved.lines().any(|l| l.trim_end() == rule)
        })
        .collect()
}

/// Input removing everything of ours from the saved tables (`None`: nothing there):
/// the jumps from built-in chains (each copy), then our chains, flushed and deleted in
/// descending name order (see the module doc).
pub fn cleanup_input(nat: &str, filter: &str) -> Option<String> {
    let mut out = String::new();
    for (table, saved) in [("nat", nat), ("filter", filter)] {
        let mut body = String::new();
        for j in jump_rules().iter().filter(|j| j.table == table) {
            let rule = format!("-A {} -j {}", j.chain, j.target);
            for _ in saved.lines().filter(|l| l.trim_end() == rule) {
                let _ = writeln!(body, "-D {} -j {}", j.chain, j.target);
            }
        }
        let mut chains = our_chains(saved);
        chains.sort_by(|a, b| b.cmp(a));
        // All flushed first: a chain may be jumped to from one deleted before it.
        for c in &chains {
            let _ = writeln!(body, ":{c} - [0:0]");
        }
        for c in &chains {
            let _ = writeln!(body, "-X {c}");
        }
        if !body.is_empty() {
            let _ = write!(out, "*{table}\n{body}COMMIT\n");
        }
    }
    (!out.is_empty()).then_some(out)
}

/// (table, chain) of ours that exist now.
pub fn existing_chains(nat: &str, filter: &str) -> BTreeSet<(&'static str, String)> {
    let mut out = BTreeSet::new();
    out.extend(our_chains(nat).into_iter().map(|c| ("nat", c)));
    out.extend(our_chains(filter).into_iter().map(|c| ("filter", c)));
    out
}

type ChainKey = (&'static str, String);

/// One service's rules: lines in shared chains, whole chains of its own, and the local
/// endpoints that need a hairpin rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    pub shared: BTreeSet<(&'static str, String, String)>,
    pub chains: BTreeMap<ChainKey, Vec<String>>,
    pub hairpin: BTreeSet<Ipv4Addr>,
}

impl Rendered {
    fn is_empty(&self) -> bool {
        self.shared.is_empty() && self.chains.is_empty() && self.hairpin.is_empty()
    }
}

/// Hairpin: a pod reaching itself through a service is masqueraded.
fn hairpin_rule(ip: Ipv4Addr) -> String {
    format!("-s {ip}/32 -d {ip}/32 -m conntrack --ctstate DNAT -j MASQUERADE")
}

fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

/// The iptables rules of one service's port rules.
pub fn render(rules: &[PortRule], node_ips: &[Ipv4Addr], localhost: bool) -> Rendered {
    let mut out = Rendered::default();
    for r in rules {
        let h = r.hash();
        let p = r.proto.as_str();
        let svc_chain = format!("SKIFF-SVC-{h}");
        let reject = match p {
            "tcp" => "tcp-reset",
            _ => "icmp-port-unreachable",
        };
        let match_port = |port: u16| format!("-p {p} -m {p} --dport {port}");
        if r.backends.is_empty() {
            out.shared.insert((
                "filter",
                REJECT.into(),
                format!(
                    "-d {}/32 {} -j REJECT --reject-with {reject}",
                    r.cluster_ip,
                    match_port(r.port)
                ),
            ));
        } else {
            out.shared.insert((
                "nat",
                SERVICES.into(),
                format!(
                    "-d {}/32 {} -j {svc_chain}",
                    r.cluster_ip,
                    match_port(r.port)
                ),
            ));
            let mut rules = Vec::new();
            // External addresses (externalIPs, load-balancer ingress) with policy Cluster.
            if r.external && !r.external_local {
                rules.push(format!("-j {MARK_MASQ}"));
            }
            rules.extend(pick(r, &r.backends, &mut out));
            out.chains.insert(("nat", svc_chain.clone()), rules);
        }
        let Some(np) = r.node_port else {
            continue;
        };
        let npb = r.node_port_backends();
        if npb.is_empty() {
            for ip in node_ips {
                out.shared.insert((
                    "filter",
                    REJECT.into(),
                    format!(
                        "-d {ip}/32 {} -j REJECT --reject-with {reject}",
                        match_port(np)
                    ),
                ));
            }
            continue;
        }
        let ext = format!("SKIFF-EXT-{h}");
        out.shared.insert((
            "nat",
            NODEPORTS.into(),
            format!("{} -j {ext}", match_port(np)),
        ));
        let ext_rules = if r.external_local {
            let mut rules = Vec::new();
            if localhost {
                rules.push(format!("-s 127.0.0.0/8 -j {MARK_MASQ}"));
            }
            rules.extend(pick(r, &npb, &mut out));
            rules
        } else {
            vec![format!("-j {MARK_MASQ}"), format!("-j {svc_chain}")]
        };
        out.chains.insert(("nat", ext), ext_rules);
    }
    out
}

/// The rules choosing one of `backends` at random (a pinned one first with affinity);
/// adds the endpoint chains to `out`.
fn pick(r: &PortRule, backends: &[Backend], out: &mut Rendered) -> Vec<String> {
    let p = r.proto.as_str();
    // Per backend: a `recent` list name (affinity) and the DNAT; no chain per endpoint,
    // so the rules name no chains (iptables-nft slows down with every such rule).
    let list = |b: &Backend| {
        format!(
            "SKIFF-SEP-{}",
            short_hash(&format!("{}/{}:{}", r.id, b.ip, b.port))
        )
    };
    // `-p` is what DNAT with a port needs; an empty `-m tcp` would only cost parsing.
    let dnat = |b: &Backend| format!("-p {p} -j DNAT --to-destination {}:{}", b.ip, b.port);
    let set = |b: &Backend| match r.affinity {
        Some(_) => format!(
            "-m recent --name {} --mask 255.255.255.255 --rsource --set ",
            list(b)
        ),
        None => String::new(),
    };
    let mut rules = Vec::new();
    if let Some(t) = r.affinity {
        for b in backends {
            rules.push(format!(
                "-m recent --name {} --mask 255.255.255.255 --rsource --rcheck --seconds {t} --reap {}{}",
                list(b),
                set(b),
                dnat(b)
            ));
        }
    }
    let n = backends.len();
    for (i, b) in backends.iter().enumerate() {
        let chance = if i + 1 < n {
            format!(
                "-m statistic --mode random --probability {:.10} ",
                1.0 / (n - i) as f64
            )
        } else {
            String::new()
        };
        rules.push(format!("{chance}{}{}", set(b), dnat(b)));
        if b.local {
            out.hairpin.insert(b.ip);
        }
    }
    rules
}

/// What the proxy put into iptables, per service.
#[derive(Debug)]
pub struct IptState {
    node_ips: Vec<Ipv4Addr>,
    localhost: bool,
    services: HashMap<String, Rendered>,
    /// Local endpoint → how many services' rules it backs (its hairpin rule is there
    /// while any does).
    hairpin: HashMap<Ipv4Addr, u32>,
}

impl IptState {
    pub fn new(node_ips: Vec<Ipv4Addr>, localhost: bool) -> Self {
        IptState {
            node_ips,
            localhost,
            services: HashMap::new(),
            hairpin: HashMap::new(),
        }
    }

    fn fixed(&self) -> BTreeMap<ChainKey, Vec<String>> {
        let mut m = BTreeMap::new();
        m.insert(
            ("nat", SERVICES.to_string()),
            self.node_ips
                .iter()
                .map(|ip| format!("-d {ip}/32 -j {NODEPORTS}"))
                .collect(),
        );
        m.insert(("nat", NODEPORTS.to_string()), Vec::new());
        m.insert(
            ("nat", MARK_MASQ.to_string()),
            vec!["-j MARK --or-mark 0x4000".to_string()],
        );
        m.insert(
            ("nat", POSTROUTING.to_string()),
            vec![
                format!("-j {HAIRPIN}"),
                "-m mark ! --mark 0x4000/0x4000 -j RETURN".to_string(),
                "-j MARK --xor-mark 0x4000".to_string(),
                "-j MASQUERADE".to_string(),
            ],
        );
        m.insert(("nat", HAIRPIN.to_string()), Vec::new());
        m.insert(("filter", REJECT.to_string()), Vec::new());
        m
    }

    /// The whole input: every chain of ours redeclared (so flushed) and refilled, stale
    /// ones deleted; one iptables-restore run. Fixed chains first, then the others and
    /// the stale ones in descending name order, each followed by the rules jumping to
    /// it (see the module doc), then the rest of the shared rules.
    /// `missing` jumps from the built-in chains are inserted at their top, once ours
    /// are filled (the same transaction: no extra `iptables` runs).
    pub fn resync(
        &mut self,
        desired: &BTreeMap<String, Vec<PortRule>>,
        existing: &BTreeSet<ChainKey>,
        missing: &[Jump],
    ) -> String {
        self.services = desired
            .iter()
            .map(|(k, r)| (k.clone(), render(r, &self.node_ips, self.localhost)))
            .collect();
        self.hairpin.clear();
        let fixed = self.fixed();
        let mut own: BTreeMap<ChainKey, &Vec<String>> = BTreeMap::new();
        // A multiset: shared rules are per service port, and two services may (by
        // mistake) claim the same address; an update deletes only its own copy.
        let mut shared: Vec<&(&'static str, String, String)> = Vec::new();
        for r in self.services.values() {
            own.extend(r.chains.iter().map(|(k, v)| (k.clone(), v)));
            shared.extend(r.shared.iter());
            for ip in &r.hairpin {
                *self.hairpin.entry(*ip).or_default() += 1;
            }
        }
        // Sorted, so the same services always give the same input.
        shared.sort();
        let mut hairpin: Vec<&Ipv4Addr> = self.hairpin.keys().collect();
        hairpin.sort();
        let mut out = String::new();
        for table in ["nat", "filter"] {
            let _ = writeln!(out, "*{table}");
            for ((t, c), _) in fixed.iter().filter(|((t, _), _)| *t == table) {
                let _ = (t, writeln!(out, ":{c} - [0:0]"));
            }
            for ((_, c), rules) in fixed.iter().filter(|((t, _), _)| *t == table) {
                for rule in rules {
                    let _ = writeln!(out, "-A {c} {rule}");
                }
            }
            // Shared rules by the chain they jump to (`None`: to none of ours).
            let mut jumping: BTreeMap<Option<&str>, Vec<(&str, &str)>> = BTreeMap::new();
            for (_, c, rule) in shared.iter().filter(|(t, _, _)| *t == table) {
                let target = rule
                    .rsplit(' ')
                    .next()
                    .filter(|j| own.contains_key(&(table, j.to_string())));
                jumping.entry(target).or_default().push((c, rule));
            }
            let mut names: Vec<(&str, Option<&Vec<String>>)> = own
                .iter()
                .filter(|((t, _), _)| *t == table)
                .map(|((_, c), rules)| (c.as_str(), Some(*rules)))
                .collect();
            names.extend(
                existing
                    .iter()
                    .filter(|(t, c)| {
                        *t == table
                            && !own.contains_key(&(table, c.clone()))
                            && !fixed.contains_key(&(table, c.clone()))
                    })
                    .map(|(_, c)| (c.as_str(), None)),
            );
            names.sort_by(|a, b| b.0.cmp(a.0));
            for (c, rules) in names {
                let _ = writeln!(out, ":{c} - [0:0]");
                let Some(rules) = rules else {
                    let _ = writeln!(out, "-X {c}");
                    continue;
                };
                for rule in rules {
                    let _ = writeln!(out, "-A {c} {rule}");
                }
                for (from, rule) in jumping.remove(&Some(c)).unwrap_or_default() {
                    let _ = writeln!(out, "-A {from} {rule}");
                }
            }
            for (from, rule) in jumping.into_values().flatten() {
                let _ = writeln!(out, "-A {from} {rule}");
            }
            if table == "nat" {
                for ip in &hairpin {
                    let _ = writeln!(out, "-A {HAIRPIN} {}", hairpin_rule(**ip));
                }
            }
            for j in missing.iter().filter(|j| j.table == table) {
                let _ = writeln!(out, "-I {} -j {}", j.chain, j.target);
            }
            out.push_str("COMMIT\n");
        }
        out
    }

    /// Input for one service's change (`None`: nothing changed).
    pub fn update(&mut self, key: &str, rules: &[PortRule]) -> Option<String> {
        let new = render(rules, &self.node_ips, self.localhost);
        let old = self.services.remove(key).unwrap_or_default();
        if new == old {
            if !new.is_empty() {
                self.services.insert(key.to_string(), new);
            }
            return None;
        }
        let mut out = String::new();
        for table in ["nat", "filter"] {
            let mut body = String::new();
            let mut decl = String::new();
            let mut tail = String::new();
            for (t, c, rule) in old.shared.difference(&new.shared) {
                if *t == table {
                    let _ = writeln!(body, "-D {c} {rule}");
                }
            }
            if table == "nat" {
                self.hairpin_diff(&old.hairpin, &new.hairpin, &mut body);
            }
            for ((t, c), rules) in &new.chains {
                if *t != table || old.chains.get(&(*t, c.clone())) == Some(rules) {
                    continue;
                }
                let _ = writeln!(decl, ":{c} - [0:0]");
                for rule in rules {
                    let _ = writeln!(body, "-A {c} {rule}");
                }
            }
            for (t, c, rule) in new.shared.difference(&old.shared) {
                if *t == table {
                    let _ = writeln!(body, "-A {c} {rule}");
                }
            }
            for (t, c) in old.chains.keys() {
                if *t == table && !new.chains.contains_key(&(*t, c.clone())) {
                    let _ = writeln!(decl, ":{c} - [0:0]");
                    let _ = writeln!(tail, "-X {c}");
                }
            }
            if decl.is_empty() && body.is_empty() {
                continue;
            }
            let _ = write!(out, "*{table}\n{decl}{body}{tail}COMMIT\n");
        }
        if !new.is_empty() {
            self.services.insert(key.to_string(), new);
        }
        (!out.is_empty()).then_some(out)
    }

    /// Counts a service's hairpin endpoints out (`old`) and in (`new`); a rule goes when
    /// no service needs it any more and comes when the first one does.
    fn hairpin_diff(
        &mut self,
        old: &BTreeSet<Ipv4Addr>,
        new: &BTreeSet<Ipv4Addr>,
        out: &mut String,
    ) {
        for ip in old.difference(new) {
            if let Some(n) = self.hairpin.get_mut(ip) {
                *n -= 1;
                if *n == 0 {
                    self.hairpin.remove(ip);
                    let _ = writeln!(out, "-D {HAIRPIN} {}", hairpin_rule(*ip));
                }
            }
        }
        for ip in new.difference(old) {
            let n = self.hairpin.entry(*ip).or_default();
            *n += 1;
            if *n == 1 {
                let _ = writeln!(out, "-A {HAIRPIN} {}", hairpin_rule(*ip));
            }
        }
    }
}
