//! Service environment variables: the kubelet's names and values, which Services a pod
//! sees, the wait for the first list, and a container's own variables winning.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, Service};
use serde_json::json;

use super::catalog::{NotListed, ServiceCatalog};
use super::sync::Syncer;
use super::watch::{Delta, ObjectKey};
use crate::objects::NoObjects;
use crate::pods::env::{resolve_env, EnvError, EnvSources};
use crate::pods::pod_runtime::SandboxInfo;

fn service(namespace: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": ip, "ports": ports},
    }))
    .unwrap()
}

fn key(namespace: &str, name: &str) -> ObjectKey {
    (namespace.into(), name.into())
}

fn listed(services: &[Service]) -> ServiceCatalog {
    let catalog = ServiceCatalog::watched();
    let all: BTreeMap<ObjectKey, Service> = services
        .iter()
        .map(|s| {
            let m = &s.metadata;
            (
                key(m.namespace.as_deref().unwrap(), m.name.as_deref().unwrap()),
                s.clone(),
            )
        })
        .collect();
    catalog.replace(&all);
    catalog
}

fn kubernetes() -> Service {
    service(
        "default",
        "kubernetes",
        "10.43.0.1",
        json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]),
    )
}

fn names(vars: &[(String, String)]) -> Vec<&str> {
    vars.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn the_kubelet_s_variables_for_a_service_with_two_ports() {
    let web = service(
        "shop",
        "web-front",
        "10.43.0.20",
        json!([{"name": "http", "port": 80, "protocol": "TCP"},
               {"name": "dns-udp", "port": 53, "protocol": "UDP"}]),
    );
    let vars = listed(&[web]).env_for("shop", true).unwrap();
    let expected: Vec<(String, String)> = [
        ("WEB_FRONT_PORT", "tcp://10.43.0.20:80"),
        ("WEB_FRONT_PORT_53_UDP", "udp://10.43.0.20:53"),
        ("WEB_FRONT_PORT_53_UDP_ADDR", "10.43.0.20"),
        ("WEB_FRONT_PORT_53_UDP_PORT", "53"),
        ("WEB_FRONT_PORT_53_UDP_PROTO", "udp"),
        ("WEB_FRONT_PORT_80_TCP", "tcp://10.43.0.20:80"),
        ("WEB_FRONT_PORT_80_TCP_ADDR", "10.43.0.20"),
        ("WEB_FRONT_PORT_80_TCP_PORT", "80"),
        ("WEB_FRONT_PORT_80_TCP_PROTO", "tcp"),
        ("WEB_FRONT_SERVICE_HOST", "10.43.0.20"),
        ("WEB_FRONT_SERVICE_PORT", "80"),
        ("WEB_FRONT_SERVICE_PORT_DNS_UDP", "53"),
        ("WEB_FRONT_SERVICE_PORT_HTTP", "80"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(vars, expected);
}

#[test]
fn kubernetes_always_other_namespaces_never_and_links_only_when_enabled() {
    let catalog = listed(&[
        kubernetes(),
        service("shop", "db", "10.43.0.30", json!([{"port": 5432}])),
        service("shop", "headless", "None", json!([{"port": 80}])),
        service("other", "cache", "10.43.0.40", json!([{"port": 6379}])),
        service("default", "elsewhere", "10.43.0.50", json!([{"port": 80}])),
    ]);
    let vars = catalog.env_for("shop", true).unwrap();
    assert!(vars.contains(&("KUBERNETES_SERVICE_HOST".into(), "10.43.0.1".into())));
    assert!(vars.contains(&("KUBERNETES_SERVICE_PORT".into(), "443".into())));
    assert!(vars.contains(&("KUBERNETES_SERVICE_PORT_HTTPS".into(), "443".into())));
    assert!(vars.contains(&("DB_SERVICE_HOST".into(), "10.43.0.30".into())));
    assert!(vars.contains(&("DB_PORT_5432_TCP_PROTO".into(), "tcp".into())));
    let all = names(&vars).join(" ");
    for absent in ["HEADLESS", "CACHE", "ELSEWHERE"] {
        assert!(!all.contains(absent), "{absent} in {all}");
    }
    let without_links = catalog.env_for("shop", false).unwrap();
    assert!(names(&without_links)
        .iter()
        .all(|n| n.starts_with("KUBERNETES_")));
    assert_eq!(without_links.len(), 8, "{without_links:?}");
}

#[test]
fn a_joined_node_waits_for_the_first_list_and_a_standalone_one_has_none() {
    assert_eq!(
        ServiceCatalog::watched().env_for("shop", true),
        Err(NotListed)
    );
    assert_eq!(ServiceCatalog::default().env_for("shop", true), Ok(vec![]));
}

#[tokio::test]
async fn the_syncer_keeps_the_catalog_in_step_with_the_watch() {
    let catalog = ServiceCatalog::watched();
    let mut syncer = Syncer::new(None, None).with_catalog(catalog.clone());
    syncer.on_services(Delta::Resync(BTreeMap::new())).await;
    assert_eq!(catalog.env_for("default", true), Ok(vec![]));
    syncer
        .on_services(Delta::Upsert(key("default", "kubernetes"), kubernetes()))
        .await;
    let vars = catalog.env_for("shop", true).unwrap();
    assert!(names(&vars).contains(&"KUBERNETES_SERVICE_HOST"));
    syncer
        .on_services(Delta::Remove(key("default", "kubernetes")))
        .await;
    assert_eq!(catalog.env_for("shop", true), Ok(vec![]));
}

async fn container_env(
    catalog: &ServiceCatalog,
    pod: serde_json::Value,
    c: serde_json::Value,
) -> Result<Vec<(String, String)>, EnvError> {
    let pod: Pod = serde_json::from_value(pod).unwrap();
    let container: Container = serde_json::from_value(c).unwrap();
    let sources = EnvSources {
        pod: &pod,
        sandbox: &SandboxInfo::default(),
        allocatable: &BTreeMap::new(),
        objects: &NoObjects,
        services: catalog,
    };
    Ok(resolve_env(&sources, &container).await?.vars)
}

#[tokio::test]
async fn a_container_s_own_variables_win_and_may_use_the_service_ones() {
    let catalog = listed(&[kubernetes()]);
    let vars = container_env(
        &catalog,
        json!({"metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": []}}),
        json!({"name": "c", "env": [
            {"name": "KUBERNETES_SERVICE_HOST", "value": "api.example"},
            {"name": "API", "value": "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"}
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(
        vars[0],
        ("KUBERNETES_SERVICE_HOST".into(), "api.example".into())
    );
    assert_eq!(vars[1], ("API".into(), "https://api.example:443".into()));
    assert_eq!(
        vars.iter()
            .filter(|(k, _)| k == "KUBERNETES_SERVICE_HOST")
            .count(),
        1
    );
    assert!(vars.contains(&("KUBERNETES_PORT".into(), "tcp://10.43.0.1:443".into())));

    let before_list = container_env(
        &ServiceCatalog::watched(),
        json!({"metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": []}}),
        json!({"name": "c"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        before_list.to_string(),
        "services have not yet been read at least once, cannot construct envvars"
    );
}
