//! Rule generation and the Proxier's bookkeeping, against the recording fake.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use serde_json::json;

use super::fake::Call;
use super::model::{self, NodeView};
use super::*;

pub(crate) fn service(name: &str, ip: &str, extra: serde_json::Value) -> Service {
    let mut spec = json!({
        "clusterIP": ip,
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))
    .unwrap()
}

/// Endpoints on port 8080 named `http`; `(ip, node)` pairs.
pub(crate) fn endpoints(name: &str, addrs: &[(&str, &str)]) -> Endpoints {
    let addresses: Vec<_> = addrs
        .iter()
        .map(|(ip, node)| json!({"ip": ip, "nodeName": node}))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "subsets": [{"addresses": addresses, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}],
    }))
    .unwrap()
}

fn view() -> NodeView<'static> {
    NodeView {
        node_name: "n1",
        pod_cidr: "10.42.0.0/24".parse().unwrap(),
    }
}

fn cfg(mode: ProxyMode) -> ProxyConfig {
    let mut cfg = ProxyConfig::new(
        "n1",
        vec!["192.168.1.10".parse().unwrap()],
        "10.42.0.0/24".parse().unwrap(),
    );
    cfg.mode = mode;
    cfg
}

#[test]
fn port_rules_from_service_and_endpoints() {
    let svc = service(
        "web",
        "10.43.0.10",
        json!({"type": "NodePort", "ports": [
            {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080},
            {"name": "dns", "port": 53, "protocol": "UDP"},
        ], "externalTrafficPolicy": "Local", "sessionAffinity": "ClientIP"}),
    );
    let eps = endpoints("web", &[("10.42.0.5", "n1"), ("10.42.1.5", "n2")]);
    let rules = model::port_rules(&svc, Some(&eps), &view());
    assert_eq!(rules.len(), 2);
    let http = &rules[0];
    assert_eq!(http.id, "default/web/http/tcp");
    assert_eq!(http.node_port, Some(30080));
    assert_eq!(http.backends.len(), 2);
    assert!(http.backends[0].local && !http.backends[1].local);
    assert_eq!(http.node_port_backends().len(), 1);
    assert_eq!(http.affinity, Some(model::DEFAULT_AFFINITY_TIMEOUT));
    // No endpoint port named `dns`: no backends, so the port is rejected.
    assert_eq!(rules[1].proto, model::Proto::Udp);
    assert!(rules[1].backends.is_empty());
}

#[test]
fn headless_and_external_name_have_no_rules() {
    let headless = service("h", "None", json!({}));
    assert!(model::port_rules(&headless, None, &view()).is_empty());
    let ext = service(
        "e",
        "",
        json!({"type": "ExternalName", "externalName": "x.example"}),
    );
    assert!(model::port_rules(&ext, None, &view()).is_empty());
}

#[test]
fn nft_contribution_groups_by_backend_count() {
    let svc = service("web", "10.43.0.10", json!({}));
    let eps = endpoints(
        "web",
        &[
            ("10.42.0.5", "n1"),
            ("10.42.0.6", "n1"),
            ("10.42.1.5", "n2"),
        ],
    );
    let c = nft::contribution(&model::port_rules(&svc, Some(&eps), &view()));
    assert_eq!(c.groups.iter().copied().collect::<Vec<_>>(), vec![3]);
    let text: Vec<String> = c
        .elems
        .iter()
        .map(|e| format!("{} {} {:?}", e.set, e.key, e.value))
        .collect();
    assert!(text.contains(&"svc_n3 10.43.0.10 . tcp . 80 None".to_string()));
    assert!(text.contains(
        &"backends_tcp 10.43.0.10 . tcp . 80 . 2 Some(\"10.42.1.5 . 8080\")".to_string()
    ));
    // Hairpin only for the local backends.
    assert!(text.contains(&"hairpin 10.42.0.5 . 10.42.0.5 None".to_string()));
    assert!(!text.iter().any(|t| t.starts_with("hairpin 10.42.1.5")));
}

#[tokio::test]
async fn nft_resync_then_update_touches_one_service() {
    let exec = Arc::new(RecordingExec::default());
    let mut p = Proxier::with_exec(cfg(ProxyMode::Nftables), exec.clone()).unwrap();
    let a = service("a", "10.43.0.1", json!({}));
    let b = service("b", "10.43.0.2", json!({}));
    let ea = endpoints("a", &[("10.42.0.5", "n1")]);
    let eb = endpoints("b", &[("10.42.0.6", "n1")]);
    p.resync(&[(a.clone(), Some(ea)), (b.clone(), Some(eb))])
        .await
        .unwrap();
    let calls = exec.take();
    let Call::Nft(script) = &calls[1] else {
        panic!("{calls:?}")
    };
    assert!(!script.contains("flush table") && !script.contains("delete table"));
    assert!(script.contains("10.43.0.1 . tcp . 80 . 0 : 10.42.0.5 . 8080"));
    // b gets a second endpoint: only b's elements move.
    let eb2 = endpoints("b", &[("10.42.0.6", "n1"), ("10.42.0.7", "n1")]);
    p.update(&b, Some(&eb2)).await.unwrap();
    let calls = exec.take();
    assert_eq!(calls.len(), 1);
    let Call::Nft(script) = &calls[0] else {
        panic!("{calls:?}")
    };
    assert!(!script.contains("10.43.0.1"), "{script}");
    assert!(script.contains("add set ip skiff_proxy svc_n2"), "{script}");
    assert!(script.contains("delete element ip skiff_proxy svc_n1 { 10.43.0.2 . tcp . 80 }"));
    assert!(script.contains("add element ip skiff_proxy svc_n2 { 10.43.0.2 . tcp . 80 }"));
    // Unchanged: nothing runs.
    p.update(&b, Some(&eb2)).await.unwrap();
    assert!(exec.take().is_empty());
    // Removal, then no endpoints: rejected rather than hanging.
    p.update(&b, None).await.unwrap();
    let Call::Nft(script) = &exec.take()[0] else {
        panic!()
    };
    assert!(script.contains("add element ip skiff_proxy no_ep { 10.43.0.2 . tcp . 80 }"));
    p.remove("default", "b").await.unwrap();
    let Call::Nft(script) = &exec.take()[0] else {
        panic!()
    };
    assert_eq!(
        script,
        "delete element ip skiff_proxy no_ep { 10.43.0.2 . tcp . 80 }\n"
    );
}

#[tokio::test]
async fn shared_hairpin_element_lives_while_one_service_needs_it() {
    let exec = Arc::new(RecordingExec::default());
    let mut p = Proxier::with_exec(cfg(ProxyMode::Nftables), exec.clone()).unwrap();
    let a = service("a", "10.43.0.1", json!({}));
    let b = service("b", "10.43.0.2", json!({}));
    p.resync(&[]).await.unwrap();
    p.update(&a, Some(&endpoints("a", &[("10.42.0.5", "n1")])))
        .await
        .unwrap();
    p.update(&b, Some(&endpoints("b", &[("10.42.0.5", "n1")])))
        .await
        .unwrap();
    exec.take();
    p.remove("default", "a").await.unwrap();
    let Call::Nft(script) = &exec.take()[0] else {
        panic!()
    };
    assert!(!script.contains("hairpin"), "{script}");
    p.remove("default", "b").await.unwrap();
    let Call::Nft(script) = &exec.take()[0] else {
        panic!()
    };
    assert!(script.contains("delete element ip skiff_proxy hairpin { 10.42.0.5 . 10.42.0.5 }"));
}

#[tokio::test]
async fn failed_update_resyncs_next_time() {
    let exec = Arc::new(RecordingExec::default());
    let mut p = Proxier::with_exec(cfg(ProxyMode::Nftables), exec.clone()).unwrap();
    let a = service("a", "10.43.0.1", json!({}));
    p.resync(&[]).await.unwrap();
    *exec.fail.lock().unwrap() = Some("boom".into());
    assert!(p
        .update(&a, Some(&endpoints("a", &[("10.42.0.5", "n1")])))
        .await
        .is_err());
    exec.take();
    p.remove("default", "zzz").await.unwrap();
    let calls = exec.take();
    assert!(matches!(calls[0], Call::NftList(_)), "{calls:?}");
    let Call::Nft(script) = &calls[1] else {
        panic!()
    };
    assert!(script.contains("10.43.0.1 . tcp . 80 . 0 : 10.42.0.5 . 8080"));
}

#[test]
fn resync_deletes_stale_groups_and_keeps_live_affinity_maps() {
    let sk = nft::Skeleton {
        table: "t".into(),
        node_ips: vec![],
        localhost: false,
    };
    let svc = service(
        "a",
        "10.43.0.1",
        json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}),
    );
    let rules = model::port_rules(&svc, Some(&endpoints("a", &[("10.42.0.5", "n1")])), &view());
    let c = nft::contribution(&rules);
    let aff = &c.affinity[0];
    let map = format!("am_{}_60", aff.hash);
    let existing = nft::Existing::parse(&format!(
        "table ip t {{\n\tset svc_n7 {{\n\t}}\n\tset np_no_ep {{\n\t}}\n\tmap {map} {{\n\t}}\n\tmap am_dead_5 {{\n\t}}\n\tchain a_dead_5 {{\n\t}}\n}}\n"
    ));
    let mut st = nft::NftState::default();
    let script = st.resync(&sk, &[("default/a".into(), c)], &existing);
    assert!(script.contains("delete set ip t svc_n7"), "{script}");
    // `np_no_ep` is no group of `np_n*`: flushed, never deleted.
    assert!(script.contains("flush set ip t np_no_ep"));
    assert!(!script.contains("delete set ip t np_no_ep"));
    assert!(script.contains("delete map ip t am_dead_5"));
    assert!(script.contains("delete chain ip t a_dead_5"));
    assert!(!script.contains(&format!("add map ip t {map}")));
    assert!(!script.contains(&format!("flush map ip t {map}")));
    assert!(script.contains(&format!("dnat ip to ip saddr map @{map}")));
}

#[tokio::test]
async fn iptables_update_touches_one_service() {
    let exec = Arc::new(RecordingExec::default());
    let mut p = Proxier::with_exec(cfg(ProxyMode::Iptables), exec.clone()).unwrap();
    let a = service(
        "a",
        "10.43.0.1",
        json!({"type": "NodePort", "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}),
    );
    let b = service("b", "10.43.0.2", json!({}));
    p.resync(&[
        (a.clone(), Some(endpoints("a", &[("10.42.0.5", "n1")]))),
        (b.clone(), None),
    ])
    .await
    .unwrap();
    let calls = exec.take();
    let input = calls
        .iter()
        .find_map(|c| match c {
            Call::IptablesRestore(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        input.contains("-A SKIFF-SERVICES -d 10.43.0.1/32 -p tcp -m tcp --dport 80 -j SKIFF-SVC-")
    );
    assert!(input.contains("-A SKIFF-REJECT -d 10.43.0.2/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset"));
    assert!(input.contains("-A SKIFF-NODEPORTS -p tcp -m tcp --dport 30080 -j SKIFF-EXT-"));
    // The jumps from the built-in chains come in the same input (the fake's saves are
    // empty, so all are missing).
    assert!(
        input.contains("-I PREROUTING -j SKIFF-SERVICES\n"),
        "{input}"
    );
    assert!(input.contains("-I FORWARD -j SKIFF-REJECT\n"), "{input}");
    p.update(&b, Some(&endpoints("b", &[("10.42.0.6", "n1")])))
        .await
        .unwrap();
    let calls = exec.take();
    let [Call::IptablesRestore(input)] = &calls[..] else {
        panic!("{calls:?}")
    };
    assert!(!input.contains("10.43.0.1"), "{input}");
    assert!(input.contains("-D SKIFF-REJECT -d 10.43.0.2/32"));
    assert!(input.contains("-A SKIFF-SERVICES -d 10.43.0.2/32"));
    assert!(!input.contains("-F") && !input.contains(":SKIFF-SERVICES"));
}

#[test]
fn iptables_spread_and_affinity() {
    let svc = service("a", "10.43.0.1", json!({"sessionAffinity": "ClientIP"}));
    let eps = endpoints(
        "a",
        &[
            ("10.42.0.5", "n1"),
            ("10.42.0.6", "n1"),
            ("10.42.0.7", "n2"),
        ],
    );
    let r = iptables::render(&model::port_rules(&svc, Some(&eps), &view()), &[], false);
    let svc_rules = r
        .chains
        .iter()
        .find(|((_, c), _)| c.starts_with("SKIFF-SVC-"))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_eq!(svc_rules.len(), 6);
    assert!(svc_rules[0].contains("--rcheck --seconds 10800 --reap"));
    assert!(svc_rules[3].contains("--probability 0.3333333333"));
    assert!(svc_rules[4].contains("--probability 0.5000000000"));
    assert!(!svc_rules[5].contains("statistic"));
    assert!(svc_rules[5].contains("--rsource --set -p tcp -j DNAT --to-destination 10.42.0.7:8080"));
    // No chain per endpoint; hairpin for the two local ones only.
    assert_eq!(r.chains.len(), 1);
    assert_eq!(
        r.hairpin
            .iter()
            .map(|ip| ip.to_string())
            .collect::<Vec<_>>(),
        ["10.42.0.5", "10.42.0.6"]
    );
}

/// iptables-nft searches the chains an input names in a sorted list from the front:
/// the full input names them in descending order, each before the rules jumping to it.
#[test]
fn iptables_resync_names_chains_in_descending_order() {
    let mut desired = BTreeMap::new();
    for i in 0..20 {
        let name = format!("s{i}");
        let svc = service(&name, &format!("10.43.0.{}", i + 1), json!({}));
        let eps = endpoints(&name, &[("10.42.0.5", "n1")]);
        desired.insert(
            format!("default/{name}"),
            model::port_rules(&svc, Some(&eps), &view()),
        );
    }
    let mut st = iptables::IptState::new(vec![], false);
    let existing = BTreeSet::from([("nat", "SKIFF-SVC-0000stale".to_string())]);
    let input = st.resync(&desired, &existing, &[]);
    let declared: Vec<&str> = input
        .lines()
        .filter_map(|l| l.strip_prefix(":SKIFF-SVC-"))
        .collect();
    assert_eq!(declared.len(), 21);
    assert!(declared.windows(2).all(|w| w[0] > w[1]), "{declared:?}");
    // Each service chain is filled, then jumped to, before the next is declared.
    let lines: Vec<&str> = input.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if let Some(c) = l.strip_prefix(':').filter(|c| c.starts_with("SKIFF-SVC-")) {
            let c = c.trim_end_matches(" - [0:0]");
            if c.ends_with("stale") {
                assert_eq!(lines[i + 1], format!("-X {c}"));
                continue;
            }
            assert!(lines[i + 1].starts_with(&format!("-A {c} ")));
            assert!(lines[i + 2].starts_with("-A SKIFF-SERVICES -d 10.43.0."));
            assert!(lines[i + 2].ends_with(&format!("-j {c}")));
        }
    }
    // One hairpin rule for the endpoint all twenty services share.
    let hairpin = "-A SKIFF-HAIRPIN -s 10.42.0.5/32 -d 10.42.0.5/32";
    assert_eq!(input.matches(hairpin).count(), 1);
}

#[test]
fn iptables_missing_jumps_from_saved_tables() {
    let nat = "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j SKIFF-SERVICES\n-A OUTPUT -j OTHER\nCOMMIT\n";
    let missing: Vec<String> = iptables::missing_jumps(nat, "")
        .iter()
        .map(|j| format!("{} {} {}", j.table, j.chain, j.target))
        .collect();
    assert_eq!(
        missing,
        [
            "nat OUTPUT SKIFF-SERVICES",
            "nat POSTROUTING SKIFF-POSTROUTING",
            "filter INPUT SKIFF-REJECT",
            "filter FORWARD SKIFF-REJECT",
            "filter OUTPUT SKIFF-REJECT"
        ]
    );
}

#[test]
fn iptables_cleanup_removes_each_jump_copy_then_our_chains() {
    let nat = "*nat\n:PREROUTING ACCEPT [0:0]\n:SKIFF-SERVICES - [0:0]\n:SKIFF-SVC-aa - [0:0]\n:OTHER - [0:0]\n-A PREROUTING -j SKIFF-SERVICES\n-A PREROUTING -j SKIFF-SERVICES\n-A SKIFF-SERVICES -d 10.43.0.1/32 -j SKIFF-SVC-aa\nCOMMIT\n";
    let input = iptables::cleanup_input(nat, "*filter\nCOMMIT\n").unwrap();
    assert_eq!(
        input,
        "*nat\n-D PREROUTING -j SKIFF-SERVICES\n-D PREROUTING -j SKIFF-SERVICES\n\
         :SKIFF-SVC-aa - [0:0]\n:SKIFF-SERVICES - [0:0]\n-X SKIFF-SVC-aa\n-X SKIFF-SERVICES\nCOMMIT\n"
    );
    assert_eq!(
        iptables::cleanup_input("*nat\n:OTHER - [0:0]\nCOMMIT\n", ""),
        None
    );
}

/// A hairpin rule stays while any service has the local endpoint, and a change of one
/// service's endpoints rewrites its own chain only.
#[test]
fn iptables_update_counts_hairpin_and_rewrites_own_chain_only() {
    let rules = |name: &str, ip: &str, ep: &str| {
        let svc = service(name, ip, json!({}));
        model::port_rules(&svc, Some(&endpoints(name, &[(ep, "n1")])), &view())
    };
    let mut st = iptables::IptState::new(vec![], false);
    let desired = BTreeMap::from([
        (
            "default/a".to_string(),
            rules("a", "10.43.0.1", "10.42.0.5"),
        ),
        (
            "default/b".to_string(),
            rules("b", "10.43.0.2", "10.42.0.5"),
        ),
    ]);
    st.resync(&desired, &BTreeSet::new(), &[]);
    let input = st
        .update("default/a", &rules("a", "10.43.0.1", "10.42.0.6"))
        .unwrap();
    assert!(!input.contains("-D SKIFF-HAIRPIN"), "{input}");
    assert!(
        input.contains("-A SKIFF-HAIRPIN -s 10.42.0.6/32"),
        "{input}"
    );
    assert!(!input.contains("SKIFF-SERVICES"), "{input}");
    assert!(
        input.contains("-j DNAT --to-destination 10.42.0.6:8080"),
        "{input}"
    );
    let input = st
        .update("default/b", &rules("b", "10.43.0.2", "10.42.0.6"))
        .unwrap();
    assert!(
        input.contains("-D SKIFF-HAIRPIN -s 10.42.0.5/32"),
        "{input}"
    );
    assert!(!input.contains("-A SKIFF-HAIRPIN"), "{input}");
}

/// An endpoint leaving a UDP port takes its conntrack entries along (cluster IP and node
/// port); TCP ports and endpoints that stay cause none.
#[tokio::test]
async fn udp_endpoint_leaving_deletes_its_flows() {
    let exec = Arc::new(RecordingExec::default());
    let mut p = Proxier::with_exec(cfg(ProxyMode::Nftables), exec.clone()).unwrap();
    let ports = json!({"type": "NodePort", "ports": [
        {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
        {"name": "http", "port": 80, "nodePort": 30080}]});
    let svc = service("d", "10.43.0.9", ports);
    let eps = |ips: &[&str]| -> Endpoints {
        let addresses: Vec<_> = ips
            .iter()
            .map(|ip| json!({"ip": ip, "nodeName": "n1"}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": "d", "namespace": "default"},
            "subsets": [{"addresses": addresses, "ports": [
                {"name": "dns", "port": 5353, "protocol": "UDP"},
                {"name": "http", "port": 8080}]}],
        }))
        .unwrap()
    };
    p.resync(&[(svc.clone(), Some(eps(&["10.42.0.5", "10.42.0.6"])))])
        .await
        .unwrap();
    exec.take();
    p.update(&svc, Some(&eps(&["10.42.0.6", "10.42.0.7"])))
        .await
        .unwrap();
    let deleted: Vec<String> = exec
        .take()
        .into_iter()
        .filter_map(|c| match c {
            Call::Conntrack(args) => Some(args.join(" ")),
            _ => None,
        })
        .collect();
    assert_eq!(
        deleted,
        [
            "-D -p udp --orig-port-dst 30053 --dst-nat 10.42.0.5",
            "-D -p udp --orig-dst 10.43.0.9 --orig-port-dst 53 --dst-nat 10.42.0.5",
        ]
    );
    p.remove("default", "d").await.unwrap();
    let deleted = exec
        .take()
        .into_iter()
        .filter(|c| matches!(c, Call::Conntrack(_)))
        .count();
    assert_eq!(deleted, 4, "two endpoints, cluster IP and node port each");
}

#[test]
fn proxy_mode_flag() {
    assert_eq!(
        ProxyMode::from_flag(Some("iptables")).unwrap(),
        ProxyMode::Iptables
    );
    assert_eq!(
        ProxyMode::from_flag(Some("nftables")).unwrap(),
        ProxyMode::Nftables
    );
    let err = ProxyMode::from_flag(Some("ipvs")).unwrap_err().to_string();
    assert!(err.contains("--proxy-mode \"ipvs\""), "{err}");
}

fn last_nft(calls: &[Call]) -> String {
    calls
        .iter()
        .rev()
        .find_map(|c| match c {
            Call::Nft(s) => Some(s.clone()),
            _ => None,
        })
        .expect("an nft call")
}

#[tokio::test]
async fn localhost_node_ports_only_behind_the_flag() {
    let svc = service(
        "a",
        "10.43.0.1",
        json!({"type": "NodePort", "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}),
    );
    let all = [(svc, Some(endpoints("a", &[("10.42.0.5", "n1")])))];
    let mut c = cfg(ProxyMode::Nftables);
    c.node_ips.push(std::net::Ipv4Addr::LOCALHOST);
    let exec = Arc::new(RecordingExec::default());
    let mut p = Proxier::with_exec(c.clone(), exec.clone()).unwrap();
    p.resync(&all).await.unwrap();
    let calls = exec.take();
    assert!(!calls.iter().any(|c| matches!(c, Call::Sysctl(..))));
    let script = last_nft(&calls);
    // A loopback node IP is dropped without the flag.
    assert!(script.contains("add element ip skiff_proxy node_ips { 192.168.1.10 }"));
    c.nodeport_localhost = true;
    let mut p = Proxier::with_exec(c, exec.clone()).unwrap();
    p.resync(&all).await.unwrap();
    let calls = exec.take();
    assert_eq!(
        calls[0],
        Call::Sysctl("net.ipv4.conf.all.route_localnet".into(), "1".into())
    );
    let script = last_nft(&calls);
    assert!(script.contains("add element ip skiff_proxy node_ips { 127.0.0.1, 192.168.1.10 }"));
    assert!(script.contains("ct status dnat ip saddr 127.0.0.0/8 masquerade"));
}

#[test]
fn bad_table_name_is_refused() {
    let mut c = cfg(ProxyMode::Nftables);
    c.nft_table = "skiff;flush".into();
    let err = Proxier::with_exec(c, Arc::new(RecordingExec::default()))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(err, "invalid proxy config: nft_table \"skiff;flush\"");
}
