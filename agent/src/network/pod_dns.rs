//! A pod's `/etc/resolv.conf` by its `dnsPolicy` and `dnsConfig`, as the kubelet writes
//! it (`pkg/kubelet/network/dns`): ClusterFirst points at the cluster DNS with the
//! Kubernetes search path and `ndots:5`; Default copies the node's; None has only the
//! pod's `dnsConfig`, which the other policies merge in too.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{PodDNSConfig, PodDNSConfigOption};

/// The cluster DNS pods are pointed at: a joined node's server on its bridge gateway.
/// Standalone agents have none, and ClusterFirst pods there get the node's resolvers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDns {
    pub nameserver: IpAddr,
    /// `cluster.local`.
    pub domain: String,
}

/// Kubernetes' limits (validation of dnsConfig, and what the kubelet cuts to).
const MAX_NAMESERVERS: usize = 3;
const MAX_SEARCHES: usize = 32;
const MAX_SEARCH_CHARS: usize = 2048;

/// What of the pod decides its resolv.conf.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodDns<'a> {
    pub namespace: &'a str,
    /// `ClusterFirst` when unset.
    pub policy: Option<&'a str>,
    pub config: Option<&'a PodDNSConfig>,
    pub host_network: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Resolv {
    nameservers: Vec<String>,
    searches: Vec<String>,
    options: Vec<String>,
}

/// The pod's resolv.conf; `node` is the node's (already past systemd-resolved's stub).
/// `None` means the node's file is used as it is.
pub(crate) fn pod_resolv_conf(
    node: &str,
    pod: &PodDns<'_>,
    cluster: Option<&ClusterDns>,
) -> Option<String> {
    let policy = pod.policy.unwrap_or("ClusterFirst");
    let cluster_first = match policy {
        "ClusterFirstWithHostNet" => cluster,
        "ClusterFirst" if !pod.host_network => cluster,
        _ => None,
    };
    let base = match (policy, cluster_first) {
        ("None", _) => Resolv::default(),
        (_, Some(cluster)) => {
            let d = cluster.domain.trim_end_matches('.');
            let mut searches = vec![
                format!("{}.svc.{d}", pod.namespace),
                format!("svc.{d}"),
                d.to_string(),
            ];
            searches.extend(parse(node).searches);
            Resolv {
                nameservers: vec![cluster.nameserver.to_string()],
                searches,
                options: vec!["ndots:5".to_string()],
            }
        }
        // Default, hostNetwork under ClusterFirst, or no cluster DNS: the node's.
        _ if pod.config.is_none() => return None,
        _ => parse(node),
    };
    Some(render(&merge(base, pod.config)))
}

fn parse(text: &str) -> Resolv {
    let mut out = Resolv::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => out.nameservers.extend(words.next().map(str::to_string)),
            // The last search or domain line wins, as in glibc.
            Some("search") | Some("domain") => out.searches = words.map(str::to_string).collect(),
            Some("options") => out.options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    out
}

fn merge(mut base: Resolv, config: Option<&PodDNSConfig>) -> Resolv {
    let Some(config) = config else { return base };
    for ns in config.nameservers.iter().flatten() {
        if !base.nameservers.contains(ns) {
            base.nameservers.push(ns.clone());
        }
    }
    for search in config.searches.iter().flatten() {
        if !base.searches.contains(search) {
            base.searches.push(search.clone());
        }
    }
    // A pod option replaces the base option of the same name.
    for opt in config.options.iter().flatten() {
        let Some(text) = option_text(opt) else {
            continue;
        };
        let name = option_name(&text).to_string();
        base.options.retain(|o| option_name(o) != name);
        base.options.push(text);
    }
    base
}

fn option_text(opt: &PodDNSConfigOption) -> Option<String> {
    let name = opt.name.as_deref().filter(|n| !n.is_empty())?;
    Some(match opt.value.as_deref() {
        Some(v) if !v.is_empty() => format!("{name}:{v}"),
        _ => name.to_string(),
    })
}

fn option_name(opt: &str) -> &str {
    opt.split(':').next().unwrap_or(opt)
}

fn render(r: &Resolv) -> String {
    let mut out = String::new();
    for ns in r.nameservers.iter().take(MAX_NAMESERVERS) {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    let mut searches: Vec<&str> = Vec::new();
    let mut chars = 0;
    for s in r.searches.iter().take(MAX_SEARCHES) {
        chars += s.len() + 1;
        if chars > MAX_SEARCH_CHARS {
            break;
        }
        searches.push(s);
    }
    if !searches.is_empty() {
        out.push_str(&format!("search {}\n", searches.join(" ")));
    }
    if !r.options.is_empty() {
        out.push_str(&format!("options {}\n", r.options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NODE: &str =
        "nameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch corp.example\noptions edns0\n";

    fn cluster() -> ClusterDns {
        ClusterDns {
            nameserver: "10.42.0.1".parse().unwrap(),
            domain: "cluster.local".into(),
        }
    }

    fn pod<'a>(policy: Option<&'a str>, config: Option<&'a PodDNSConfig>) -> PodDns<'a> {
        PodDns {
            namespace: "shop",
            policy,
            config,
            host_network: false,
        }
    }

    #[test]
    fn cluster_first_points_at_the_cluster_dns() {
        let got = pod_resolv_conf(NODE, &pod(None, None), Some(&cluster())).unwrap();
        assert_eq!(
            got,
            "nameserver 10.42.0.1\n\
             search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n\
             options ndots:5\n"
        );
        let same = pod_resolv_conf(NODE, &pod(Some("ClusterFirst"), None), Some(&cluster()));
        assert_eq!(same.as_deref(), Some(got.as_str()));
    }

    #[test]
    fn without_cluster_dns_or_with_host_network_the_node_file_is_kept() {
        assert_eq!(pod_resolv_conf(NODE, &pod(None, None), None), None);
        assert_eq!(
            pod_resolv_conf(NODE, &pod(Some("Default"), None), Some(&cluster())),
            None
        );
        let mut host = pod(None, None);
        host.host_network = true;
        assert_eq!(pod_resolv_conf(NODE, &host, Some(&cluster())), None);
        // ...unless the pod asks for the cluster DNS on the host network.
        host.policy = Some("ClusterFirstWithHostNet");
        let got = pod_resolv_conf(NODE, &host, Some(&cluster())).unwrap();
        assert!(got.starts_with("nameserver 10.42.0.1\n"), "{got}");
    }

    #[test]
    fn none_takes_only_the_dns_config() {
        let config: PodDNSConfig = serde_json::from_value(json!({
            "nameservers": ["1.2.3.4"],
            "searches": ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]
        }))
        .unwrap();
        let got = pod_resolv_conf(NODE, &pod(Some("None"), Some(&config)), Some(&cluster()));
        assert_eq!(
            got.unwrap(),
            "nameserver 1.2.3.4\n\
             search ns1.svc.cluster-domain.example my.dns.search.suffix\n\
             options ndots:2 edns0\n"
        );
    }

    #[test]
    fn dns_config_merges_into_the_policy() {
        let config: PodDNSConfig = serde_json::from_value(json!({
            "nameservers": ["10.42.0.1", "192.0.2.9"],
            "searches": ["cluster.local", "extra.example"],
            "options": [{"name": "ndots", "value": "1"}, {"name": "single-request"}]
        }))
        .unwrap();
        let got = pod_resolv_conf(NODE, &pod(None, Some(&config)), Some(&cluster())).unwrap();
        assert_eq!(
            got,
            "nameserver 10.42.0.1\nnameserver 192.0.2.9\n\
             search shop.svc.cluster.local svc.cluster.local cluster.local corp.example extra.example\n\
             options ndots:1 single-request\n"
        );
        // Default with a dnsConfig: the node's, rebuilt, plus the pod's; three servers at most.
        let got = pod_resolv_conf(NODE, &pod(Some("Default"), Some(&config)), None).unwrap();
        assert_eq!(
            got,
            "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 10.42.0.1\n\
             search corp.example cluster.local extra.example\n\
             options edns0 ndots:1 single-request\n"
        );
    }

    #[test]
    fn search_path_is_cut_to_kubernetes_limits() {
        let searches: Vec<String> = (0..40).map(|i| format!("s{i}.example")).collect();
        let config: PodDNSConfig = serde_json::from_value(json!({ "searches": searches })).unwrap();
        let got = pod_resolv_conf("", &pod(Some("None"), Some(&config)), None).unwrap();
        let line = got.lines().find(|l| l.starts_with("search ")).unwrap();
        assert_eq!(line.split_whitespace().count() - 1, MAX_SEARCHES);
    }
}
