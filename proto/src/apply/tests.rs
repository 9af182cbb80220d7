//! Server-side apply as the Kubernetes documentation's and structured-merge-diff's
//! examples show it: the `managedFields` kubectl prints, conflicts between managers,
//! forced takeovers, shared ownership and the removal of fields an applier dropped.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

const NOW: &str = "2026-01-02T03:04:05Z";
const LATER: &str = "2026-01-02T04:00:00Z";

fn applier(name: &str) -> Manager {
    Manager {
        name: name.into(),
        operation: Operation::Apply,
        api_version: "apps/v1".into(),
        subresource: String::new(),
    }
}

fn updater(name: &str) -> Manager {
    Manager {
        operation: Operation::Update,
        ..applier(name)
    }
}

/// `deployment-nginx.yaml` from the shared manifests, with `replicas` and `image` given.
fn nginx(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "my-nginx-deployment"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "my-nginx"}},
            "template": {
                "metadata": {"name": "my-nginx-pod", "labels": {"app": "my-nginx"}},
                "spec": {"containers": [{
                    "name": "nginx",
                    "image": image,
                    "ports": [{"containerPort": 80}]
                }]}
            }
        }
    })
}

/// The live object as the server keeps it: defaulted (a port's protocol).
fn defaulted(mut v: Value) -> Value {
    for port in v["spec"]["template"]["spec"]["containers"][0]["ports"]
        .as_array_mut()
        .unwrap()
    {
        port["protocol"] = json!("TCP");
    }
    v
}

fn entries(v: &Value) -> Vec<Entry> {
    read_managed_fields(v).unwrap()
}

fn fields_of<'a>(v: &'a Value, manager: &str) -> &'a Value {
    v["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == manager)
        .map(|e| &e["fieldsV1"])
        .unwrap_or_else(|| panic!("no entry for {manager} in {v}"))
}

#[test]
fn an_applied_deployment_is_owned_as_kubectl_shows_it() {
    let created = apply(
        "Deployment",
        None,
        &nginx(3, "nginx:latest"),
        &applier("kubectl"),
        false,
        NOW,
    )
    .unwrap();
    let entry = &created["metadata"]["managedFields"][0];
    assert_eq!(entry["manager"], "kubectl");
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["apiVersion"], "apps/v1");
    assert_eq!(entry["time"], NOW);
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert_eq!(
        entry["fieldsV1"],
        json!({
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}, "f:name": {}},
                    "f:spec": {"f:containers": {
                        "k:{\"name\":\"nginx\"}": {
                            ".": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {
                                "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                    ".": {},
                                    "f:containerPort": {}
                                }
                            }
                        }
                    }}
                }
            }
        })
    );
    assert_eq!(created["spec"]["replicas"], 3);
}

#[test]
fn a_second_applier_changing_replicas_conflicts_with_the_first() {
    let live = defaulted(
        apply(
            "Deployment",
            None,
            &nginx(3, "nginx:latest"),
            &applier("kubectl"),
            false,
            NOW,
        )
        .unwrap(),
    );
    let config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "my-nginx-deployment"}, "spec": {"replicas": 5}});
    let err = apply(
        "Deployment",
        Some(&live),
        &config,
        &applier("other"),
        false,
        LATER,
    )
    .unwrap_err();
    let ApplyError::Conflicts(conflicts) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        conflicts.message(),
        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"
    );
    assert_eq!(
        conflicts.causes(),
        vec![
            json!({"type": "FieldManagerConflict", "message": "conflict with \"kubectl\"", "field": ".spec.replicas"})
        ]
    );

    // Forced, the field changes hands.
    let forced = apply(
        "Deployment",
        Some(&live),
        &config,
        &applier("other"),
        true,
        LATER,
    )
    .unwrap();
    assert_eq!(forced["spec"]["replicas"], 5);
    assert_eq!(
        fields_of(&forced, "other"),
        &json!({"f:spec": {"f:replicas": {}}})
    );
    assert!(fields_of(&forced, "kubectl")["f:spec"]
        .get("f:replicas")
        .is_none());
    assert!(fields_of(&forced, "kubectl")["f:spec"]
        .get("f:template")
        .is_some());

    // The first applier, re-applying its unchanged file, now conflicts in turn.
    let err = apply(
        "Deployment",
        Some(&forced),
        &nginx(3, "nginx:latest"),
        &applier("kubectl"),
        false,
        LATER,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"other\": .spec.replicas"
    );
}

#[test]
fn the_same_value_is_shared_and_survives_one_owner_dropping_it() {
    let live = apply(
        "Deployment",
        None,
        &nginx(3, "nginx:latest"),
        &applier("kubectl"),
        false,
        NOW,
    )
    .unwrap();
    let same = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "my-nginx-deployment"}, "spec": {"replicas": 3}});
    let shared = apply(
        "Deployment",
        Some(&live),
        &same,
        &applier("other"),
        false,
        LATER,
    )
    .unwrap();
    assert_eq!(
        fields_of(&shared, "other"),
        &json!({"f:spec": {"f:replicas": {}}})
    );
    assert!(fields_of(&shared, "kubectl")["f:spec"]
        .get("f:replicas")
        .is_some());

    let mut without = nginx(3, "nginx:latest");
    without["spec"].as_object_mut().unwrap().remove("replicas");
    let after = apply(
        "Deployment",
        Some(&shared),
        &without,
        &applier("kubectl"),
        false,
        LATER,
    )
    .unwrap();
    assert_eq!(after["spec"]["replicas"], 3, "other still owns it");
    assert!(fields_of(&after, "kubectl")["f:spec"]
        .get("f:replicas")
        .is_none());
}

#[test]
fn a_field_the_applier_stops_setting_is_removed() {
    let mut config = nginx(3, "nginx:latest");
    config["metadata"]["labels"] = json!({"tier": "web", "team": "a"});
    let live = apply("Deployment", None, &config, &applier("kubectl"), false, NOW).unwrap();
    assert_eq!(
        live["metadata"]["labels"],
        json!({"tier": "web", "team": "a"})
    );

    config["metadata"]["labels"] = json!({"tier": "web"});
    config["spec"].as_object_mut().unwrap().remove("replicas");
    let after = apply(
        "Deployment",
        Some(&live),
        &config,
        &applier("kubectl"),
        false,
        LATER,
    )
    .unwrap();
    assert_eq!(after["metadata"]["labels"], json!({"tier": "web"}));
    assert!(after["spec"].get("replicas").is_none());
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:latest"
    );
}

#[test]
fn a_dropped_list_item_goes_but_another_managers_item_stays() {
    let mut config = nginx(1, "nginx");
    config["spec"]["template"]["spec"]["containers"] = json!([
        {"name": "a", "image": "a"}, {"name": "b", "image": "b"}
    ]);
    let live = apply("Deployment", None, &config, &applier("kubectl"), false, NOW).unwrap();
    // Someone else adds a sidecar through an update.
    let mut edited = live.clone();
    edited["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "c", "image": "c"}));
    record_update(
        "Deployment",
        Some(&live),
        &mut edited,
        &updater("kubectl-edit"),
        LATER,
    )
    .unwrap();
    assert_eq!(
        fields_of(&edited, "kubectl-edit"),
        &json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
            "k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}
        }}}}})
    );

    config["spec"]["template"]["spec"]["containers"] = json!([{"name": "b", "image": "b2"}]);
    let after = apply(
        "Deployment",
        Some(&edited),
        &config,
        &applier("kubectl"),
        false,
        LATER,
    )
    .unwrap();
    let names: Vec<&str> = after["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b", "c"]);
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0]["image"],
        "b2"
    );
}

#[test]
fn an_update_takes_the_fields_it_changes_and_conflicts_name_its_version() {
    let live = apply(
        "Deployment",
        None,
        &nginx(3, "nginx:1"),
        &applier("kubectl"),
        false,
        NOW,
    )
    .unwrap();
    let mut edited = live.clone();
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    record_update(
        "Deployment",
        Some(&live),
        &mut edited,
        &updater("kubectl-edit"),
        LATER,
    )
    .unwrap();
    let all = entries(&edited);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].operation, Operation::Apply, "appliers sort first");
    assert_eq!(all[1].manager, "kubectl-edit");
    assert_eq!(all[1].time.as_deref(), Some(LATER));
    assert_eq!(
        fields_of(&edited, "kubectl-edit"),
        &json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
            "k:{\"name\":\"nginx\"}": {"f:image": {}}
        }}}}})
    );
    assert!(
        fields_of(&edited, "kubectl")["f:spec"]["f:template"]["f:spec"]["f:containers"]
            ["k:{\"name\":\"nginx\"}"]
            .get("f:image")
            .is_none()
    );

    let err = apply(
        "Deployment",
        Some(&edited),
        &nginx(3, "nginx:1"),
        &applier("kubectl"),
        false,
        LATER,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.template.spec.containers[name=\"nginx\"].image"
    );
}

#[test]
fn several_conflicts_are_grouped_by_manager() {
    let live = apply(
        "Deployment",
        None,
        &nginx(3, "nginx:1"),
        &applier("a"),
        false,
        NOW,
    )
    .unwrap();
    let err = apply(
        "Deployment",
        Some(&live),
        &nginx(4, "nginx:2"),
        &applier("b"),
        false,
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image"
    );
}

#[test]
fn an_update_of_a_created_object_and_a_put_without_managed_fields_keep_the_entries() {
    let mut created = defaulted(nginx(2, "nginx"));
    record_update(
        "Deployment",
        None,
        &mut created,
        &updater("kubectl-create"),
        NOW,
    )
    .unwrap();
    let fields = fields_of(&created, "kubectl-create");
    assert!(fields.get("f:apiVersion").is_none() && fields.get("f:kind").is_none());
    assert!(fields["f:metadata"].get("f:name").is_none());
    assert_eq!(fields["f:spec"]["f:replicas"], json!({}));

    // A PUT of the object without managedFields: the stored entries carry on.
    let mut put = defaulted(nginx(2, "nginx"));
    record_update(
        "Deployment",
        Some(&created),
        &mut put,
        &updater("kubectl-replace"),
        LATER,
    )
    .unwrap();
    assert_eq!(
        entries(&put),
        entries(&created),
        "nothing changed, nothing moved"
    );

    // Setting managedFields to an empty list resets them; the writer then owns nothing it
    // did not change.
    let mut reset = defaulted(nginx(2, "nginx"));
    reset["metadata"]["managedFields"] = json!([]);
    record_update(
        "Deployment",
        Some(&created),
        &mut reset,
        &updater("x"),
        LATER,
    )
    .unwrap();
    assert!(reset["metadata"].get("managedFields").is_none());
}

#[test]
fn status_is_owned_only_through_the_status_subresource() {
    let live = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let mut new = live.clone();
    new["status"] = json!({"phase": "Running"});
    new["spec"]["containers"][0]["image"] = json!("j");
    let status_writer = Manager {
        subresource: "status".into(),
        api_version: "v1".into(),
        ..updater("skiff-agent")
    };
    record_update("Pod", Some(&live), &mut new, &status_writer, NOW).unwrap();
    let entry = &new["metadata"]["managedFields"][0];
    assert_eq!(entry["subresource"], "status");
    assert_eq!(entry["fieldsV1"], json!({"f:status": {"f:phase": {}}}));
}

#[test]
fn keyed_lists_use_every_key_and_sets_their_values() {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s",
        "finalizers": ["a", "b"]},
    "spec": {"selector": {"app": "x"}, "ports": [
        {"port": 53, "protocol": "UDP"}, {"port": 53}
    ]}});
    let set = field_set("Service", &svc).unwrap();
    assert_eq!(
        set.to_fields_v1(),
        json!({
            "f:apiVersion": {}, "f:kind": {},
            "f:metadata": {"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}, "f:name": {}},
            "f:spec": {
                "f:ports": {
                    "k:{\"port\":53,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}},
                    "k:{\"port\":53,\"protocol\":\"UDP\"}": {".": {}, "f:port": {}, "f:protocol": {}}
                },
                "f:selector": {}
            }
        })
    );
    let bad = json!({"spec": {"ports": [{"name": "x"}]}});
    assert_eq!(
        field_set("Service", &bad).unwrap_err().to_string(),
        "associative list with keys has an element that omits key field \"port\" (and doesn't have default value)"
    );
}

#[test]
fn merged_lists_keep_live_order_and_put_new_items_where_the_config_has_them() {
    let live = json!({"metadata": {"finalizers": ["x", "a"]},
        "spec": {"containers": [{"name": "a", "image": "1"}, {"name": "z", "image": "1"}]}});
    let config = json!({"metadata": {"finalizers": ["a", "b"]},
        "spec": {"containers": [{"name": "n", "image": "2"}, {"name": "a", "image": "2"}]}});
    let merged = merge::merge(&live, &config, At::root("Pod")).unwrap();
    assert_eq!(merged["metadata"]["finalizers"], json!(["x", "a", "b"]));
    assert_eq!(
        merged["spec"]["containers"],
        json!([{"name": "n", "image": "2"}, {"name": "a", "image": "2"}, {"name": "z", "image": "1"}])
    );
}

#[test]
fn managed_fields_in_an_applied_configuration_are_refused() {
    let mut config = nginx(1, "nginx");
    config["metadata"]["managedFields"] = json!([]);
    assert_eq!(
        apply("Deployment", None, &config, &applier("kubectl"), false, NOW),
        Err(ApplyError::Malformed(
            "metadata.managedFields must be nil".into()
        ))
    );
}

fn labels() -> impl Strategy<Value = std::collections::BTreeMap<String, String>> {
    prop::collection::btree_map("[a-c]{1,2}", "[x-z]{1,2}", 0..5)
}

proptest! {
    /// Applying a configuration twice changes nothing the second time, its fields read
    /// back from `FieldsV1` as they were, and an applier's labels are exactly those it
    /// last applied (nobody else owns any).
    #[test]
    fn applying_is_idempotent_and_prunes_exactly(first in labels(), second in labels(), replicas in 0i64..5) {
        let with = |l: &std::collections::BTreeMap<String, String>| {
            let mut c = nginx(replicas, "nginx");
            c["metadata"]["labels"] = json!(l);
            c
        };
        let live = apply("Deployment", None, &with(&first), &applier("m"), false, NOW).unwrap();
        let again = apply("Deployment", Some(&live), &with(&first), &applier("m"), false, LATER).unwrap();
        prop_assert_eq!(&again, &live);
        let after = apply("Deployment", Some(&live), &with(&second), &applier("m"), false, LATER).unwrap();
        let got = after["metadata"]["labels"].as_object().cloned().unwrap_or_default();
        let want: serde_json::Map<String, Value> = second.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        prop_assert_eq!(got, want);
        for e in entries(&after) {
            prop_assert_eq!(Set::from_fields_v1(&e.fields.to_fields_v1()).unwrap(), e.fields);
        }
    }
}
