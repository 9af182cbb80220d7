//! The iptables backend (pure): iptables-restore input for `--noflush`, so only chains
//! named `SKIFF-*` are (re)written and everything else in the tables stays.
//!
//! Close to kube-proxy's layout, because iptables has no maps: `SKIFF-SERVICES` (from
//! PREROUTING and OUTPUT) jumps per service port to `SKIFF-SVC-<hash>`, which DNATs to
//! an endpoint picked with `statistic --mode random` (and `recent` lists for ClientIP
//! affinity); node ports go through `SKIFF-NODEPORTS` to `SKIFF-EXT-<hash>`. Unlike
//! kube-proxy there is no chain per endpoint (iptables-nft, like nft, slows down with
//! every rule naming a chain): hairpin masquerade is a rule per local endpoint in
//! `SKIFF-HAIRPIN`, at the start of `SKIFF-POSTROUTING`. Rules in
//! the shared chains are added and deleted one by one (`-A`/`-D`), and a service's own
//! chains are redeclared only when they change, so one service's update leaves every
//! other rule alone. Masquerade uses mark bit 0x4000 (kube-proxy's), cleared when used.

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

/// `iptables` arguments for `op` (`-C`, `-I`, `-D`) on a jump.
pub fn with_op(op: &str, j: &Jump) -> Vec<String> {
    ["-t", j.table, op, j.chain, "-j", j.target]
        .iter()
        .map(|s| s.to_string())
        .collect()
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

/// (table, chain) of ours that exist now.
pub fn existing_chains(nat: &str, filter: &str) -> BTreeSet<(&'static str, String)> {
    let mut out = BTreeSet::new();
    out.extend(our_chains(nat).into_iter().map(|c| ("nat", c)));
    out.extend(our_chains(filter).into_iter().map(|c| ("filter", c)));
    out
}

type ChainKey = (&'static str, String);

/// One service's rules: lines in shared chains and whole chains of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    pub shared: BTreeSet<(&'static str, String, String)>,
    pub chains: BTreeMap<ChainKey, Vec<String>>,
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
            let pick = pick(r, &r.backends, &mut out);
            out.chains.insert(("nat", svc_chain.clone()), pick);
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
    let dnat = |b: &Backend| format!("-p {p} -m {p} -j DNAT --to-destination {}:{}", b.ip, b.port);
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
            // Hairpin: a pod reaching itself through the service.
            out.shared.insert((
                "nat",
                HAIRPIN.into(),
                format!(
                    "-s {ip}/32 -d {ip}/32 -m conntrack --ctstate DNAT -j MASQUERADE",
                    ip = b.ip
                ),
            ));
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
}

impl IptState {
    pub fn new(node_ips: Vec<Ipv4Addr>, localhost: bool) -> Self {
        IptState {
            node_ips,
            localhost,
            services: HashMap::new(),
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
    /// ones deleted; one iptables-restore run.
    pub fn resync(
        &mut self,
        desired: &BTreeMap<String, Vec<PortRule>>,
        existing: &BTreeSet<ChainKey>,
    ) -> String {
        self.services = desired
            .iter()
            .map(|(k, r)| (k.clone(), render(r, &self.node_ips, self.localhost)))
            .collect();
        let mut chains = self.fixed();
        // A multiset: two services with the same local endpoint each own a copy of its
        // hairpin rule, and an update deletes only its own.
        let mut shared: Vec<&(&'static str, String, String)> = Vec::new();
        for r in self.services.values() {
            chains.extend(r.chains.iter().map(|(k, v)| (k.clone(), v.clone())));
            shared.extend(r.shared.iter());
        }
        // Sorted, so the same services always give the same input.
        shared.sort();
        let mut out = String::new();
        for table in ["nat", "filter"] {
            let _ = writeln!(out, "*{table}");
            let stale: Vec<&String> = existing
                .iter()
                .filter(|(t, c)| *t == table && !chains.contains_key(&(table, c.clone())))
                .map(|(_, c)| c)
                .collect();
            for ((t, c), _) in chains.iter().filter(|((t, _), _)| *t == table) {
                let _ = (t, writeln!(out, ":{c} - [0:0]"));
            }
            for c in &stale {
                let _ = writeln!(out, ":{c} - [0:0]");
            }
            for ((_, c), rules) in chains.iter().filter(|((t, _), _)| *t == table) {
                for rule in rules {
                    let _ = writeln!(out, "-A {c} {rule}");
                }
            }
            for (_, c, rule) in shared.iter().filter(|(t, _, _)| *t == table) {
                let _ = writeln!(out, "-A {c} {rule}");
            }
            for c in &stale {
                let _ = writeln!(out, "-X {c}");
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
            if !new.chains.is_empty() || !new.shared.is_empty() {
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
        if !new.chains.is_empty() || !new.shared.is_empty() {
            self.services.insert(key.to_string(), new);
        }
        Some(out)
    }
}
