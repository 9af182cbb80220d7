//! Every env source against in-memory objects.

use k8s_openapi::ByteString;
use serde_json::json;

use super::*;
use crate::objects::fake::FakeObjects;
use crate::objects::{NoObjects, ObjectFuture};

fn pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {
            "name": "web-0", "namespace": "shop", "uid": "uid-7",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"note": "say \"hi\""}
        },
        "spec": {"nodeName": "node-a", "serviceAccountName": "builder", "containers": []}
    }))
    .unwrap()
}

fn container(spec: serde_json::Value) -> Container {
    let mut spec = spec;
    spec["name"] = json!("app");
    serde_json::from_value(spec).unwrap()
}

fn config_map(data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"data": data})).unwrap()
}

fn secret(data: &[(&str, &str)]) -> Secret {
    Secret {
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

fn sandbox() -> SandboxInfo {
    SandboxInfo {
        pod_ip: Some([10, 42, 0, 7].into()),
        host_ip: Some([192, 0, 2, 1].into()),
    }
}

fn allocatable() -> BTreeMap<String, Quantity> {
    [
        ("cpu", "2"),
        ("memory", "4Gi"),
        ("ephemeral-storage", "10G"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
    .collect()
}

async fn resolve(
    objects: &dyn PodObjects,
    spec: serde_json::Value,
) -> Result<Vec<(String, String)>, EnvError> {
    Ok(resolve_full(objects, spec).await?.vars)
}

async fn resolve_full(
    objects: &dyn PodObjects,
    spec: serde_json::Value,
) -> Result<ResolvedEnv, EnvError> {
    let pod = pod();
    let sandbox = sandbox();
    let allocatable = allocatable();
    let sources = EnvSources {
        pod: &pod,
        sandbox: &sandbox,
        allocatable: &allocatable,
        objects,
        services: &ServiceCatalog::default(),
    };
    resolve_env(&sources, &container(spec)).await
}

async fn error(objects: &dyn PodObjects, spec: serde_json::Value) -> String {
    resolve(objects, spec)
        .await
        .expect_err("resolution should fail")
        .to_string()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn key_ref(kind: &str, name: &str, key: &str, optional: Option<bool>) -> serde_json::Value {
    let mut sel = json!({"name": name, "key": key});
    if let Some(optional) = optional {
        sel["optional"] = json!(optional);
    }
    json!({ kind: sel })
}

#[tokio::test]
async fn plain_values_expand_earlier_entries_only() {
    let env = resolve(
        &NoObjects,
        json!({"env": [
            {"name": "A", "value": "container"},
            {"name": "B", "value": "$(A)-b"},
            {"name": "C", "value": "$(PATH)"},
            {"name": "D", "value": "$$(A)"},
            {"name": "E"}
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(
        env,
        pairs(&[
            ("A", "container"),
            ("B", "container-b"),
            ("C", "$(PATH)"),
            ("D", "$(A)"),
            ("E", "")
        ])
    );
}

#[tokio::test]
async fn env_from_comes_first_and_env_overrides_it() {
    let objects = FakeObjects::default();
    objects.put(
        "ConfigMap",
        "shop",
        "settings",
        config_map(json!({"MODE": "fast", "LEVEL": "3", "bad key": "x", "1st": "y"})),
    );
    objects.put("Secret", "shop", "creds", secret(&[("PASSWORD", "s3cret")]));
    let env = resolve(
        &objects,
        json!({
            "envFrom": [
                {"configMapRef": {"name": "settings"}},
                {"prefix": "DB_", "secretRef": {"name": "creds"}},
                {"prefix": "X_", "configMapRef": {"name": "settings"}}
            ],
            "env": [
                {"name": "MODE", "value": "slow"},
                {"name": "URL", "value": "db://$(DB_PASSWORD)@$(LEVEL)"}
            ]
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        env,
        pairs(&[
            ("LEVEL", "3"),
            ("MODE", "slow"),
            ("DB_PASSWORD", "s3cret"),
            ("X_1st", "y"),
            ("X_LEVEL", "3"),
            ("X_MODE", "fast"),
            ("URL", "db://s3cret@3")
        ]),
        "keys that are not env names ('bad key', '1st' without a prefix) are skipped"
    );
}

#[tokio::test]
async fn missing_env_from_sources_fail_unless_optional() {
    let objects = FakeObjects::default();
    let optional = resolve(
        &objects,
        json!({"envFrom": [
            {"configMapRef": {"name": "gone", "optional": true}},
            {"secretRef": {"name": "gone", "optional": true}}
        ], "env": [{"name": "A", "value": "a"}]}),
    )
    .await
    .unwrap();
    assert_eq!(optional, pairs(&[("A", "a")]));
    assert_eq!(
        error(
            &objects,
            json!({"envFrom": [{"configMapRef": {"name": "x"}}]})
        )
        .await,
        "configmap \"x\" not found"
    );
    assert_eq!(
        error(
            &objects,
            json!({"envFrom": [{"secretRef": {"name": "s", "optional": false}}]})
        )
        .await,
        "secret \"s\" not found"
    );
}

#[tokio::test]
async fn config_map_keys_as_kubectl_reports_them() {
    let objects = FakeObjects::default();
    objects.put(
        "ConfigMap",
        "shop",
        "x",
        config_map(json!({"k": "v", "empty": ""})),
    );
    let env = resolve(
        &objects,
        json!({"env": [
            {"name": "K", "valueFrom": key_ref("configMapKeyRef", "x", "k", None)},
            {"name": "EMPTY", "valueFrom": key_ref("configMapKeyRef", "x", "empty", None)},
            {"name": "NO_KEY", "valueFrom": key_ref("configMapKeyRef", "x", "nope", Some(true))},
            {"name": "NO_MAP", "valueFrom": key_ref("configMapKeyRef", "y", "k", Some(true))},
            {"name": "AGAIN", "value": "$(K)$(NO_KEY)"}
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(
        env,
        pairs(&[("K", "v"), ("EMPTY", ""), ("AGAIN", "v$(NO_KEY)")]),
        "optional misses leave the variable unset"
    );
    let one = |name: &str, key: &str| json!({"env": [{"name": "V", "valueFrom": key_ref("configMapKeyRef", name, key, None)}]});
    assert_eq!(
        error(&objects, one("x", "missing")).await,
        "couldn't find key missing in ConfigMap shop/x"
    );
    assert_eq!(
        error(&objects, one("y", "k")).await,
        "configmap \"y\" not found"
    );
}

#[tokio::test]
async fn secret_keys_are_decoded_and_reported_as_kubectl_does() {
    let objects = FakeObjects::default();
    objects.put("Secret", "shop", "s", secret(&[("token", "abc\n")]));
    let env = resolve(
        &objects,
        json!({"env": [
            {"name": "TOKEN", "valueFrom": key_ref("secretKeyRef", "s", "token", None)},
            {"name": "OPT", "valueFrom": key_ref("secretKeyRef", "s", "other", Some(true))},
            {"name": "OPT2", "valueFrom": key_ref("secretKeyRef", "t", "k", Some(true))}
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(env, pairs(&[("TOKEN", "abc\n")]));
    let one = |name: &str, key: &str| json!({"env": [{"name": "V", "valueFrom": key_ref("secretKeyRef", name, key, Some(false))}]});
    assert_eq!(
        error(&objects, one("s", "other")).await,
        "couldn't find key other in Secret shop/s"
    );
    assert_eq!(
        error(&objects, one("t", "k")).await,
        "secret \"t\" not found"
    );
}

#[tokio::test]
async fn an_object_appearing_later_is_read_on_the_next_resolution() {
    let objects = FakeObjects::default();
    let spec =
        json!({"env": [{"name": "V", "valueFrom": key_ref("configMapKeyRef", "late", "k", None)}]});
    assert_eq!(
        error(&objects, spec.clone()).await,
        "configmap \"late\" not found"
    );
    objects.put(
        "ConfigMap",
        "shop",
        "late",
        config_map(json!({"k": "here"})),
    );
    assert_eq!(
        resolve(&objects, spec).await.unwrap(),
        pairs(&[("V", "here")])
    );
}

struct Refusing;

impl PodObjects for Refusing {
    fn get<'a>(&'a self, _kind: &'a str, _ns: &'a str, name: &'a str) -> ObjectFuture<'a> {
        Box::pin(async move {
            Err(ObjectsError::Forbidden(format!(
                "no pod on node node-a uses {name}"
            )))
        })
    }
}

#[tokio::test]
async fn refused_or_unreachable_objects_fail_even_when_optional() {
    let spec = json!({"envFrom": [{"configMapRef": {"name": "x", "optional": true}}]});
    assert_eq!(
        error(&Refusing, spec.clone()).await,
        "forbidden: no pod on node node-a uses x"
    );
    let standalone = error(&NoObjects, spec).await;
    assert!(
        standalone.contains("not joined to a control plane"),
        "{standalone}"
    );
}

#[tokio::test]
async fn field_refs_read_the_pod_and_its_addresses() {
    let field = |name: &str, path: &str| json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}});
    let env = resolve(
        &NoObjects,
        json!({"env": [
            field("NAME", "metadata.name"),
            field("NS", "metadata.namespace"),
            field("UID", "metadata.uid"),
            field("APP", "metadata.labels['app']"),
            field("NONE", "metadata.labels['none']"),
            field("NOTE", "metadata.annotations['note']"),
            field("NODE", "spec.nodeName"),
            field("SA", "spec.serviceAccountName"),
            field("POD_IP", "status.podIP"),
            field("POD_IPS", "status.podIPs"),
            field("HOST_IP", "status.hostIP"),
            {"name": "GREETING", "value": "$(NAME) on $(NODE)"}
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(
        env,
        pairs(&[
            ("NAME", "web-0"),
            ("NS", "shop"),
            ("UID", "uid-7"),
            ("APP", "web"),
            ("NONE", ""),
            ("NOTE", "say \"hi\""),
            ("NODE", "node-a"),
            ("SA", "builder"),
            ("POD_IP", "10.42.0.7"),
            ("POD_IPS", "10.42.0.7"),
            ("HOST_IP", "192.0.2.1"),
            ("GREETING", "web-0 on node-a")
        ])
    );
    assert_eq!(
        error(&NoObjects, json!({"env": [field("X", "spec.hostname")]})).await,
        "unsupported fieldPath: spec.hostname"
    );
    let whole = field_value(
        &pod(),
        sandbox().pod_ip,
        sandbox().host_ip,
        "metadata.annotations",
    )
    .unwrap();
    assert_eq!(whole, r#"note="say \"hi\"""#);
    let labels = field_value(
        &pod(),
        sandbox().pod_ip,
        sandbox().host_ip,
        "metadata.labels",
    )
    .unwrap();
    assert_eq!(labels, "app=\"web\"\ntier=\"front\"");
}

#[tokio::test]
async fn resource_refs_divide_round_up_and_default_to_the_node() {
    let res = |name: &str, resource: &str, divisor: Option<&str>| {
        let mut sel = json!({"resource": resource});
        if let Some(d) = divisor {
            sel["divisor"] = json!(d);
        }
        json!({"name": name, "valueFrom": {"resourceFieldRef": sel}})
    };
    let env = resolve(
        &NoObjects,
        json!({
            "resources": {
                "limits": {"cpu": "250m", "memory": "100Mi"},
                "requests": {"memory": "64Mi", "cpu": "100m"}
            },
            "env": [
                res("CPU", "limits.cpu", None),
                res("CPU_M", "limits.cpu", Some("1m")),
                res("MEM", "limits.memory", None),
                res("MEM_MI", "limits.memory", Some("1Mi")),
                res("MEM_G", "limits.memory", Some("1G")),
                res("REQ_MEM_MI", "requests.memory", Some("1Mi")),
                res("REQ_CPU_M", "requests.cpu", Some("1m")),
                res("STORAGE_G", "limits.ephemeral-storage", Some("1G")),
                res("NO_STORAGE_REQ", "requests.ephemeral-storage", None)
            ]
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        env,
        pairs(&[
            ("CPU", "1"),
            ("CPU_M", "250"),
            ("MEM", "104857600"),
            ("MEM_MI", "100"),
            ("MEM_G", "1"),
            ("REQ_MEM_MI", "64"),
            ("REQ_CPU_M", "100"),
            ("STORAGE_G", "10"),
            ("NO_STORAGE_REQ", "0")
        ]),
        "an unset limit reads as the node's allocatable, an unset request as 0"
    );
    let unlimited = resolve(
        &NoObjects,
        json!({"env": [res("CPU", "limits.cpu", None), res("MEM_GI", "limits.memory", Some("1Gi"))]}),
    )
    .await
    .unwrap();
    assert_eq!(unlimited, pairs(&[("CPU", "2"), ("MEM_GI", "4")]));
    assert_eq!(
        error(
            &NoObjects,
            json!({"env": [res("X", "limits.hugepages-2Mi", None)]})
        )
        .await,
        "unsupported container resource : limits.hugepages-2Mi"
    );
}

#[test]
fn sub_path_expr_needs_every_variable_set() {
    let env = pairs(&[("POD", "web-0"), ("EMPTY", "")]);
    assert_eq!(
        expand_sub_path_expr("logs/$(POD)", &env).unwrap(),
        "logs/web-0"
    );
    assert_eq!(
        expand_sub_path_expr("$(POD)/$(EMPTY)/$(NOPE)", &env)
            .unwrap_err()
            .to_string(),
        "missing value for EMPTY, NOPE"
    );
}

#[test]
fn env_var_names() {
    for ok in ["A", "a_b", "-x", ".x", "x.y-z", "_1"] {
        assert!(is_env_var_name(ok), "{ok}");
    }
    for bad in ["", "1a", "a b", "a=b", ".", "..", "..x", "é"] {
        assert!(!is_env_var_name(bad), "{bad}");
    }
}

#[tokio::test]
async fn skipped_keys_are_named_as_the_kubelet_reports_them() {
    let objects = FakeObjects::default();
    objects.put(
        "ConfigMap",
        "shop",
        "cfg",
        config_map(json!({"2nd": "1", "1bad": "2", "GOOD": "3"})),
    );
    objects.put("Secret", "shop", "creds", secret(&[("OK", "x")]));
    let got = resolve_full(
        &objects,
        json!({"envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "creds"}}]}),
    )
    .await
    .unwrap();
    assert_eq!(got.vars, pairs(&[("GOOD", "3"), ("OK", "x")]));
    assert_eq!(
        got.skipped,
        ["Keys [1bad, 2nd] from the EnvFrom configMap shop/cfg were skipped since they are considered invalid environment variable names."]
    );
}
