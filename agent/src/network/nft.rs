//! Egress for pods: skiff's own nftables table, loaded with `nft -f -` so each load is
//! one atomic transaction. skiff never flushes the ruleset or another table, so Docker,
//! ufw and firewalld rules stay as they are.
//!
//! The network owns two chains of the table and flushes only those (`add chain` then
//! `flush chain`), not the whole table: the table may be shared with another writer (as
//! the service proxy's first layout did), and a `flush table` here would wipe its maps on every agent start (and its
//! own flush would wipe these rules). Re-running the script is idempotent either way.

use std::process::Stdio;

use ipnet::Ipv4Net;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::error::NetworkError;

/// The table skiff uses on a real node; tests pass their own.
pub const DEFAULT_TABLE: &str = "skiff";

/// The pod network's part of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRules<'a> {
    pub table: &'a str,
    pub bridge: &'a str,
    pub pod_cidr: Ipv4Net,
    /// Destinations reached with the pod's own address besides the pod CIDR: the cluster
    /// CIDR, so pods on other nodes see the real pod IP.
    pub no_masquerade: Option<Ipv4Net>,
}

/// The nft script that (re)defines the pod network's chains.
///
/// `postrouting` masquerades what pods send off the pod network; `forward` accepts what
/// enters or leaves the bridge, for hosts whose other tables default to drop. An accept
/// here ends only this chain: a drop in another table's base chain on the same hook
/// (Docker's `FORWARD` policy, a firewalld zone) still drops the packet, and such hosts
/// need their own rule letting `skiff0` through.
pub fn egress_script(rules: &EgressRules<'_>) -> String {
    let EgressRules {
        table,
        bridge,
        pod_cidr,
        no_masquerade,
    } = rules;
    let pod_cidr = pod_cidr.trunc();
    let mut keep = format!("ip daddr != {pod_cidr}");
    if let Some(net) = no_masquerade.map(|n| n.trunc()) {
        if net.contains(&pod_cidr) {
            keep = format!("ip daddr != {net}");
        } else if !pod_cidr.contains(&net) {
            keep.push_str(&format!(" ip daddr != {net}"));
        }
    }
    format!(
        "add table ip {table}\n\
         add chain ip {table} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n\
         flush chain ip {table} postrouting\n\
         add chain ip {table} forward {{ type filter hook forward priority filter; policy accept; }}\n\
         flush chain ip {table} forward\n\
         add rule ip {table} postrouting ip saddr {pod_cidr} {keep} oifname != \"{bridge}\" masquerade comment \"skiff pod egress\"\n\
         add rule ip {table} forward iifname \"{bridge}\" accept comment \"skiff pods out\"\n\
         add rule ip {table} forward oifname \"{bridge}\" accept comment \"skiff pods in\"\n"
    )
}

/// Deletes the table if it exists: `add` first makes the `delete` safe on a host that
/// never had it (nft 1.0.6 has no `destroy`).
pub fn delete_table_script(table: &str) -> String {
    format!("add table ip {table}\ndelete table ip {table}\n")
}

/// nft table names: a letter, then letters, digits and `_`.
pub fn valid_table_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// Feeds `script` to `nft -f -`, which applies it as one transaction or not at all.
pub async fn run(script: &str) -> Result<(), NetworkError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| NetworkError::Nft(format!("run nft: {e}")))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| NetworkError::Nft("nft stdin".into()))?;
    stdin
        .write_all(script.as_bytes())
        .await
        .map_err(|e| NetworkError::Nft(format!("write to nft: {e}")))?;
    drop(stdin);
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| NetworkError::Nft(format!("wait for nft: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(NetworkError::Nft(format!(
            "nft -f - failed ({}): {}",
            out.status,
            stderr.trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(no_masquerade: Option<&str>) -> String {
        egress_script(&EgressRules {
            table: "skiff",
            bridge: "skiff0",
            pod_cidr: "10.42.3.0/24".parse().unwrap(),
            no_masquerade: no_masquerade.map(|n| n.parse().unwrap()),
        })
    }

    #[test]
    fn egress_ruleset_text() {
        assert_eq!(
            rules(None),
            "add table ip skiff\n\
             add chain ip skiff postrouting { type nat hook postrouting priority srcnat; policy accept; }\n\
             flush chain ip skiff postrouting\n\
             add chain ip skiff forward { type filter hook forward priority filter; policy accept; }\n\
             flush chain ip skiff forward\n\
             add rule ip skiff postrouting ip saddr 10.42.3.0/24 ip daddr != 10.42.3.0/24 oifname != \"skiff0\" masquerade comment \"skiff pod egress\"\n\
             add rule ip skiff forward iifname \"skiff0\" accept comment \"skiff pods out\"\n\
             add rule ip skiff forward oifname \"skiff0\" accept comment \"skiff pods in\"\n"
        );
    }

    #[test]
    fn never_flushes_the_table_or_the_ruleset() {
        let script = rules(Some("10.42.0.0/16"));
        assert!(!script.contains("flush table"));
        assert!(!script.contains("flush ruleset"));
        // Every command names our table: `<verb> <object> ip skiff ...`.
        assert!(script.lines().all(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.get(2..4) == Some(&["ip", "skiff"][..])
        }));
    }

    #[test]
    fn cluster_cidr_keeps_pod_addresses() {
        let script = rules(Some("10.42.0.0/16"));
        assert!(script.contains("ip saddr 10.42.3.0/24 ip daddr != 10.42.0.0/16 oifname"));
        // A disjoint range is excluded as well as the pod CIDR.
        let script = rules(Some("10.50.0.0/16"));
        assert!(script.contains("ip daddr != 10.42.3.0/24 ip daddr != 10.50.0.0/16 oifname"));
        // One inside the pod CIDR adds nothing.
        let script = rules(Some("10.42.3.0/25"));
        assert!(script.contains("ip daddr != 10.42.3.0/24 oifname"));
    }

    #[test]
    fn host_bits_are_dropped() {
        let script = egress_script(&EgressRules {
            table: "t",
            bridge: "b",
            pod_cidr: "10.42.3.9/24".parse().unwrap(),
            no_masquerade: None,
        });
        assert!(script.contains("ip saddr 10.42.3.0/24 ip daddr != 10.42.3.0/24"));
    }

    #[test]
    fn delete_is_safe_when_missing() {
        assert_eq!(
            delete_table_script("skiff_test"),
            "add table ip skiff_test\ndelete table ip skiff_test\n"
        );
    }

    #[test]
    fn table_names() {
        assert!(valid_table_name("skiff"));
        assert!(valid_table_name("skiff_test2"));
        for bad in ["", "1skiff", "sk iff", "skiff;flush", "a-b", "t\"x"] {
            assert!(!valid_table_name(bad), "{bad}");
        }
    }
}
