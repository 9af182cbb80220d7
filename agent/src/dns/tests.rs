//! The record rules, without sockets.

use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, Record, RecordType};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use serde_json::json;

use super::records::DnsRecords;
use super::resolv;
use super::zone::{Outcome, Zone};

pub(super) fn service(ns: &str, name: &str, spec: serde_json::Value) -> Service {
    serde_json::from_value(json!({"metadata": {"namespace": ns, "name": name}, "spec": spec}))
        .unwrap()
}

pub(super) fn endpoints(ns: &str, name: &str, subsets: serde_json::Value) -> Endpoints {
    serde_json::from_value(json!({"metadata": {"namespace": ns, "name": name}, "subsets": subsets}))
        .unwrap()
}

/// `web` (ClusterIP 10.43.0.10, port http/80), headless `db` with two ready endpoints
/// (one named `db-0`) and one not ready, ExternalName `ext` → `example.test`.
pub(super) fn sample() -> DnsRecords {
    let records = DnsRecords::new();
    records.upsert_service(&service(
        "default",
        "web",
        json!({"clusterIP": "10.43.0.10", "clusterIPs": ["10.43.0.10"],
               "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 81}]}),
    ));
    records.upsert_endpoints(&endpoints(
        "default",
        "web",
        json!([{"addresses": [{"ip": "10.42.0.5"}], "ports": [{"name": "http", "port": 8080}]}]),
    ));
    records.upsert_service(&service(
        "apps",
        "db",
        json!({"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}),
    ));
    records.upsert_endpoints(&endpoints(
        "apps",
        "db",
        json!([{
            "addresses": [{"ip": "10.42.0.7", "hostname": "db-0"}, {"ip": "10.42.1.8"}],
            "notReadyAddresses": [{"ip": "10.42.0.9", "hostname": "db-2"}],
            "ports": [{"name": "pg", "port": 5433, "protocol": "TCP"}]
        }]),
    ));
    records.upsert_service(&service(
        "default",
        "ext",
        json!({"type": "ExternalName", "externalName": "example.test"}),
    ));
    records
}

fn zone() -> Zone {
    Zone::new("cluster.local", 5).unwrap()
}

fn lookup(records: &DnsRecords, name: &str, qtype: RecordType) -> Option<Outcome> {
    zone().lookup(&records.read(), &Name::from_ascii(name).unwrap(), qtype)
}

/// The answer and additional sections for `name`; any other outcome fails the test.
fn answered(records: &DnsRecords, name: &str, qtype: RecordType) -> (Vec<Record>, Vec<Record>) {
    match lookup(records, name, qtype) {
        Some(Outcome::Answer {
            answers,
            additionals,
        }) => (answers, additionals),
        other => panic!("{name} {qtype}: expected records, got {other:?}"),
    }
}

/// The answer section for `name` as text: `A 10.43.0.10`, `SRV 0 100 80 web...`.
fn ask(records: &DnsRecords, name: &str, qtype: RecordType) -> Vec<String> {
    answered(records, name, qtype).0.iter().map(show).collect()
}

fn show(r: &Record) -> String {
    match &r.data {
        RData::A(a) => format!("A {a}"),
        RData::AAAA(a) => format!("AAAA {a}"),
        RData::SRV(s) => format!("SRV {} {} {} {}", s.priority, s.weight, s.port, s.target),
        other => format!("{other:?}"),
    }
}

#[test]
fn service_name_gets_its_cluster_ip() {
    let r = sample();
    assert_eq!(
        ask(&r, "web.default.svc.cluster.local.", RecordType::A),
        ["A 10.43.0.10"]
    );
    // Names are case-insensitive; the answer keeps the asker's spelling.
    let (answers, _) = answered(&r, "WEB.Default.svc.Cluster.Local.", RecordType::A);
    assert_eq!(
        answers[0].name.to_string(),
        "WEB.Default.svc.Cluster.Local."
    );
    assert_eq!(answers[0].ttl, 5);
    // An existing name without AAAA records is NODATA, never NXDOMAIN (musl would drop
    // the A answer too).
    assert_eq!(
        lookup(&r, "web.default.svc.cluster.local.", RecordType::AAAA),
        Some(Outcome::NoData)
    );
}

#[test]
fn unknown_names_in_the_zone_are_nxdomain() {
    let r = sample();
    for name in [
        "nope.default.svc.cluster.local.",
        "web.other.svc.cluster.local.",
        "other.svc.cluster.local.",
        "x.web.default.svc.cluster.local.",
        "a.b.c.d.e.f.cluster.local.",
        "cluster.cluster.local.",
        "not-an-ip.default.pod.cluster.local.",
    ] {
        assert_eq!(
            lookup(&r, name, RecordType::A),
            Some(Outcome::NxDomain),
            "{name}"
        );
    }
    for name in [
        "cluster.local.",
        "svc.cluster.local.",
        "default.svc.cluster.local.",
        "_tcp.web.default.svc.cluster.local.",
    ] {
        assert_eq!(
            lookup(&r, name, RecordType::A),
            Some(Outcome::NoData),
            "{name}"
        );
    }
    assert_eq!(lookup(&r, "example.com.", RecordType::A), None);
    assert_eq!(lookup(&r, "local.", RecordType::A), None);
    assert_eq!(lookup(&r, "notcluster.local.", RecordType::A), None);
}

#[test]
fn srv_for_a_named_port_targets_the_service() {
    let r = sample();
    let name = "_http._tcp.web.default.svc.cluster.local.";
    assert_eq!(
        ask(&r, name, RecordType::SRV),
        ["SRV 0 100 80 web.default.svc.cluster.local."]
    );
    let (_, additionals) = answered(&r, name, RecordType::SRV);
    assert_eq!(
        additionals.iter().map(show).collect::<Vec<_>>(),
        ["A 10.43.0.10"]
    );
    assert_eq!(
        additionals[0].name.to_string(),
        "web.default.svc.cluster.local."
    );
    // A port that does not exist, or the wrong protocol.
    for name in [
        "_https._tcp.web.default.svc.cluster.local.",
        "_http._udp.web.default.svc.cluster.local.",
    ] {
        assert_eq!(
            lookup(&r, name, RecordType::SRV),
            Some(Outcome::NxDomain),
            "{name}"
        );
    }
    assert_eq!(
        lookup(
            &r,
            "_http._tcp.web.default.svc.cluster.local.",
            RecordType::A
        ),
        Some(Outcome::NoData)
    );
    // SRV on the service name itself lists its named ports.
    assert_eq!(
        ask(&r, "web.default.svc.cluster.local.", RecordType::SRV),
        ["SRV 0 100 80 web.default.svc.cluster.local."]
    );
}

#[test]
fn headless_service_answers_with_ready_endpoints() {
    let r = sample();
    assert_eq!(
        ask(&r, "db.apps.svc.cluster.local.", RecordType::A),
        ["A 10.42.0.7", "A 10.42.1.8"]
    );
    assert_eq!(
        ask(&r, "db-0.db.apps.svc.cluster.local.", RecordType::A),
        ["A 10.42.0.7"]
    );
    // Without a hostname an endpoint is named by its dashed address.
    assert_eq!(
        ask(&r, "10-42-1-8.db.apps.svc.cluster.local.", RecordType::A),
        ["A 10.42.1.8"]
    );
    // Not ready: no record.
    assert_eq!(
        lookup(&r, "db-2.db.apps.svc.cluster.local.", RecordType::A),
        Some(Outcome::NxDomain)
    );
    // Endpoint names exist only under headless services.
    assert_eq!(
        lookup(
            &r,
            "10-42-0-5.web.default.svc.cluster.local.",
            RecordType::A
        ),
        Some(Outcome::NxDomain)
    );
    let name = "_pg._tcp.db.apps.svc.cluster.local.";
    assert_eq!(
        ask(&r, name, RecordType::SRV),
        [
            "SRV 0 50 5433 10-42-1-8.db.apps.svc.cluster.local.",
            "SRV 0 50 5433 db-0.db.apps.svc.cluster.local.",
        ]
    );
    let (_, additionals) = answered(&r, name, RecordType::SRV);
    let mut extra: Vec<String> = additionals
        .iter()
        .map(|a| format!("{} {}", a.name, show(a)))
        .collect();
    extra.sort();
    assert_eq!(
        extra,
        [
            "10-42-1-8.db.apps.svc.cluster.local. A 10.42.1.8",
            "db-0.db.apps.svc.cluster.local. A 10.42.0.7",
        ]
    );
}

#[test]
fn headless_without_ready_endpoints_is_nodata() {
    let r = sample();
    r.upsert_endpoints(&endpoints("apps", "db", json!([])));
    assert_eq!(
        lookup(&r, "db.apps.svc.cluster.local.", RecordType::A),
        Some(Outcome::NoData)
    );
    assert_eq!(
        lookup(&r, "_pg._tcp.db.apps.svc.cluster.local.", RecordType::SRV),
        Some(Outcome::NoData)
    );
}

#[test]
fn external_name_is_an_alias() {
    let r = sample();
    for qtype in [RecordType::A, RecordType::CNAME, RecordType::AAAA] {
        match lookup(&r, "ext.default.svc.cluster.local.", qtype) {
            Some(Outcome::Alias { cname, target }) => {
                assert_eq!(target.to_string(), "example.test.");
                assert_eq!(cname.record_type(), RecordType::CNAME);
                assert_eq!(cname.name.to_string(), "ext.default.svc.cluster.local.");
            }
            other => panic!("{qtype}: {other:?}"),
        }
    }
}

#[test]
fn pod_names_spell_their_address() {
    let r = sample();
    assert_eq!(
        ask(&r, "10-42-0-5.default.pod.cluster.local.", RecordType::A),
        ["A 10.42.0.5"]
    );
    assert_eq!(
        ask(&r, "fd00--5.default.pod.cluster.local.", RecordType::AAAA),
        ["AAAA fd00::5"]
    );
    assert_eq!(
        lookup(&r, "10-42-0-5.default.pod.cluster.local.", RecordType::AAAA),
        Some(Outcome::NoData)
    );
    assert_eq!(
        lookup(&r, "10-42-0-300.default.pod.cluster.local.", RecordType::A),
        Some(Outcome::NxDomain)
    );
}

#[test]
fn updates_removals_and_resync() {
    let r = DnsRecords::new();
    // Endpoints may arrive before their service.
    r.upsert_endpoints(&endpoints(
        "default",
        "h",
        json!([{"addresses": [{"ip": "10.42.0.3"}]}]),
    ));
    assert_eq!(
        lookup(&r, "h.default.svc.cluster.local.", RecordType::A),
        Some(Outcome::NxDomain)
    );
    r.upsert_service(&service("default", "h", json!({"clusterIP": "None"})));
    assert_eq!(
        ask(&r, "h.default.svc.cluster.local.", RecordType::A),
        ["A 10.42.0.3"]
    );
    // A service changed to ClusterIP answers with the new address.
    r.upsert_service(&service("default", "h", json!({"clusterIP": "10.43.0.3"})));
    assert_eq!(
        ask(&r, "h.default.svc.cluster.local.", RecordType::A),
        ["A 10.43.0.3"]
    );
    r.remove_service("default", "h");
    assert_eq!(
        lookup(&r, "h.default.svc.cluster.local.", RecordType::A),
        Some(Outcome::NxDomain)
    );
    assert_eq!(
        lookup(&r, "default.svc.cluster.local.", RecordType::A),
        Some(Outcome::NxDomain)
    );

    let old = sample();
    let svcs = [service("x", "only", json!({"clusterIP": "10.43.9.9"}))];
    let eps: [Endpoints; 0] = [];
    old.resync(&svcs, &eps);
    assert_eq!(
        lookup(&old, "web.default.svc.cluster.local.", RecordType::A),
        Some(Outcome::NxDomain)
    );
    assert_eq!(
        ask(&old, "only.x.svc.cluster.local.", RecordType::A),
        ["A 10.43.9.9"]
    );
    old.remove_endpoints("x", "only");
}

#[test]
fn dual_stack_service_answers_both_families() {
    let r = DnsRecords::new();
    r.upsert_service(&service(
        "default",
        "ds",
        json!({"clusterIP": "10.43.0.4", "clusterIPs": ["10.43.0.4", "fd00:43::4"]}),
    ));
    let name = "ds.default.svc.cluster.local.";
    assert_eq!(ask(&r, name, RecordType::A), ["A 10.43.0.4"]);
    assert_eq!(ask(&r, name, RecordType::AAAA), ["AAAA fd00:43::4"]);
}

#[test]
fn other_cluster_domain() {
    let r = sample();
    let zone = Zone::new("corp.example.", 5).unwrap();
    let name = Name::from_ascii("web.default.svc.corp.example.").unwrap();
    assert!(matches!(
        zone.lookup(&r.read(), &name, RecordType::A),
        Some(Outcome::Answer { .. })
    ));
    let name = Name::from_ascii("web.default.svc.cluster.local.").unwrap();
    assert_eq!(zone.lookup(&r.read(), &name, RecordType::A), None);
    assert!(Zone::new("", 5).is_err());
    assert!(Zone::new("bad..domain", 5).is_err());
}

#[test]
fn resolv_conf_nameservers() {
    let got = resolv::parse(
        "# comment\nsearch example.com\nnameserver 127.0.0.53\nnameserver  fd00::1 \n\
         nameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver\noptions edns0\n",
    );
    let want: Vec<std::net::SocketAddr> = vec![
        (IpAddr::from([127, 0, 0, 53]), 53).into(),
        ("fd00::1".parse::<IpAddr>().unwrap(), 53).into(),
    ];
    assert_eq!(got, want);
    let dir = tempfile::tempdir().unwrap();
    assert!(
        super::upstreams_from_resolv_conf(&dir.path().join("missing"))
            .unwrap()
            .is_empty()
    );
    assert!(super::upstreams_from_resolv_conf(dir.path()).is_err());
}

#[test]
fn reverse_names_of_service_and_endpoint_addresses() {
    let r = sample();
    let ptr =
        |name: &str, qtype| zone().reverse(&r.read(), &Name::from_ascii(name).unwrap(), qtype);
    let targets = |outcome: Option<Outcome>| match outcome {
        Some(Outcome::Answer { answers, .. }) => answers
            .iter()
            .map(|a| match &a.data {
                RData::PTR(p) => p.0.to_string(),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        targets(ptr("10.0.43.10.in-addr.arpa.", RecordType::PTR)),
        ["web.default.svc.cluster.local."]
    );
    assert_eq!(
        targets(ptr("7.0.42.10.IN-ADDR.ARPA.", RecordType::PTR)),
        ["db-0.db.apps.svc.cluster.local."]
    );
    assert_eq!(
        targets(ptr("8.1.42.10.in-addr.arpa.", RecordType::PTR)),
        ["10-42-1-8.db.apps.svc.cluster.local."]
    );
    assert_eq!(
        ptr("10.0.43.10.in-addr.arpa.", RecordType::A),
        Some(Outcome::NoData)
    );
    // Unknown addresses and partial names are the upstreams' business.
    assert_eq!(ptr("4.3.2.1.in-addr.arpa.", RecordType::PTR), None);
    assert_eq!(ptr("43.10.in-addr.arpa.", RecordType::PTR), None);
    // The endpoints of a ClusterIP service are not named (only headless ones are).
    assert_eq!(ptr("5.0.42.10.in-addr.arpa.", RecordType::PTR), None);
}
