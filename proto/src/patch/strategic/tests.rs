use serde_json::{json, Value};

use super::apply;
use crate::patch::PatchError;

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": {"app": "web", "tier": "front"},
            "finalizers": ["a.example/x", "b.example/y"],
            "ownerReferences": [{"uid": "u1", "name": "o1", "kind": "X", "apiVersion": "v1"}]
        },
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "app:1",
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                         "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                        {"name": "log", "image": "log:1"}
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]
                }
            }
        }
    })
}

fn patched(kind: &str, doc: &Value, patch: Value) -> Result<Value, PatchError> {
    apply(doc, patch.to_string().as_bytes(), kind)
}

fn deploy(patch: Value) -> Value {
    patched("Deployment", &deployment(), patch).unwrap()
}

fn pod_spec(doc: &Value) -> &Value {
    &doc["spec"]["template"]["spec"]
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect()
}

fn malformed(kind: &str, doc: &Value, patch: Value) -> String {
    match patched(kind, doc, patch) {
        Err(PatchError::Malformed(message)) => message,
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn containers_merge_by_name_and_keep_the_others() {
    let out = deploy(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "log", "image": "log:2"}
    ]}}}}));
    let containers = &pod_spec(&out)["containers"];
    assert_eq!(names(containers), ["app", "log"]);
    assert_eq!(containers[1]["image"], "log:2");
    assert_eq!(
        containers[0],
        deployment()["spec"]["template"]["spec"]["containers"][0]
    );
}

#[test]
fn env_merges_by_name_and_ports_by_container_port() {
    let out = deploy(json!({"spec": {"template": {"spec": {"containers": [{
        "name": "app",
        "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
        "ports": [{"containerPort": 80, "name": "http"}]
    }]}}}}));
    let app = &pod_spec(&out)["containers"][0];
    assert_eq!(
        app["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
    );
    assert_eq!(
        app["ports"],
        json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}])
    );
}

#[test]
fn a_new_item_goes_before_server_only_items() {
    // apimachinery's mergeSortedSlice takes the patch's item when it cannot place both.
    let out = deploy(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "new", "image": "new:1"}
    ]}}}}));
    assert_eq!(names(&pod_spec(&out)["containers"]), ["new", "app", "log"]);
}

#[test]
fn set_element_order_decides_the_order() {
    let out = deploy(json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "log"}, {"name": "app"}],
        "containers": [{"name": "app", "image": "app:2"}]
    }}}}));
    let containers = &pod_spec(&out)["containers"];
    assert_eq!(names(containers), ["log", "app"]);
    assert_eq!(containers[1]["image"], "app:2");
}

#[test]
fn server_only_items_are_placed_as_apimachinery_sees_the_list_after_merging_in_place() {
    // kubectl apply deleting `b` and adding `d` while `c` was added by someone else: the
    // merge shifts `c` into `b`'s slot and writes `d` after it, so `c` lands before `d`.
    let doc = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "a"}, {"name": "b"}, {"name": "c"}
    ]}}}});
    let out = patched(
        "Deployment",
        &doc,
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "d"}],
            "containers": [{"name": "d"}, {"name": "b", "$patch": "delete"}]
        }}}}),
    )
    .unwrap();
    assert_eq!(names(&pod_spec(&out)["containers"]), ["a", "c", "d"]);
}

#[test]
fn set_element_order_must_agree_with_the_patch() {
    let message = malformed(
        "Deployment",
        &deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [{"name": "log", "image": "x"}]
        }}}}),
    );
    assert!(message.starts_with("The order in patch list:\n[map[image:x name:log]]\n doesn't match $setElementOrder list:\n[map[name:app]]"), "{message}");
}

#[test]
fn patch_delete_removes_an_item_by_its_merge_key() {
    let out = deploy(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "log", "$patch": "delete"}
    ]}}}}));
    assert_eq!(names(&pod_spec(&out)["containers"]), ["app"]);
}

#[test]
fn patch_replace_in_a_list_replaces_the_list() {
    let out = deploy(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "only", "image": "only:1"},
        {"$patch": "replace"}
    ]}}}}));
    assert_eq!(
        pod_spec(&out)["containers"],
        json!([{"name": "only", "image": "only:1"}])
    );
}

#[test]
fn patch_replace_and_delete_on_maps() {
    let out = deploy(json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}}));
    assert_eq!(out["metadata"]["labels"], json!({"only": "this"}));
    let out = deploy(json!({"spec": {"template": {"metadata": {"$patch": "delete"}}}}));
    assert_eq!(out["spec"]["template"]["metadata"], json!({}));
}

#[test]
fn patch_merge_is_refused_as_apimachinery_refuses_it() {
    assert_eq!(
        malformed(
            "Deployment",
            &deployment(),
            json!({"metadata": {"labels": {"$patch": "merge", "a": "1"}}})
        ),
        "unknown patch type: merge in map: map[$patch:merge a:1]"
    );
    assert_eq!(
        malformed(
            "Deployment",
            &deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"$patch": "merge"}]}}}})
        ),
        "merging lists cannot yet be specified in the patch"
    );
}

#[test]
fn retain_keys_clears_what_is_not_listed() {
    let out = deploy(json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}));
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    let out = deploy(json!({"spec": {"template": {"spec": {"volumes": [
        {"name": "data", "$retainKeys": ["hostPath", "name"], "hostPath": {"path": "/srv"}}
    ]}}}}));
    assert_eq!(
        pod_spec(&out)["volumes"],
        json!([{"name": "data", "hostPath": {"path": "/srv"}}])
    );
    assert_eq!(
        malformed(
            "Deployment",
            &deployment(),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}})
        ),
        "invalid patch format of retainKeys"
    );
}

#[test]
fn finalizers_merge_as_a_set_and_delete_from_primitive_list_removes() {
    let out = deploy(json!({"metadata": {"finalizers": ["c.example/z", "a.example/x"]}}));
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["c.example/z", "a.example/x", "b.example/y"])
    );
    let out = deploy(json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.example/x"]}}));
    assert_eq!(out["metadata"]["finalizers"], json!(["b.example/y"]));
    assert_eq!(
        malformed(
            "Deployment",
            &deployment(),
            json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["x"]}})
        ),
        "invalid patch format of primitive list"
    );
}

#[test]
fn owner_references_merge_by_uid() {
    let out = deploy(
        json!({"metadata": {"ownerReferences": [{"uid": "u2", "name": "o2", "kind": "X", "apiVersion": "v1"}]}}),
    );
    let uids: Vec<&str> = out["metadata"]["ownerReferences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, ["u2", "u1"]);
}

#[test]
fn lists_without_a_strategy_are_replaced_whole() {
    let out = deploy(
        json!({"spec": {"template": {"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}}}}),
    );
    assert_eq!(
        pod_spec(&out)["tolerations"],
        json!([{"key": "c", "operator": "Exists"}])
    );
}

#[test]
fn null_deletes_and_maps_merge() {
    let out = deploy(
        json!({"metadata": {"labels": {"tier": null, "env": "prod"}}, "spec": {"replicas": 5}}),
    );
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "web", "env": "prod"})
    );
    assert_eq!(out["spec"]["replicas"], 5);
    let out = deploy(
        json!({"spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd", "gone": null}}}}}),
    );
    assert_eq!(pod_spec(&out)["nodeSelector"], json!({"disk": "ssd"}));
}

#[test]
fn service_ports_merge_by_port_and_node_addresses_by_type() {
    let service = json!({"kind": "Service", "spec": {"ports": [
        {"port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"port": 443, "targetPort": 8443, "protocol": "TCP"}
    ]}});
    let out = patched(
        "Service",
        &service,
        json!({"spec": {"ports": [{"port": 443, "targetPort": 9443}]}}),
    )
    .unwrap();
    assert_eq!(out["spec"]["ports"][1]["targetPort"], 9443);
    assert_eq!(out["spec"]["ports"][0]["targetPort"], 8080);

    let node = json!({"kind": "Node", "status": {"addresses": [
        {"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}
    ]}, "spec": {"podCIDRs": ["10.42.0.0/24"]}});
    let out = patched(
        "Node",
        &node,
        json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}}),
    )
    .unwrap();
    assert_eq!(
        out["status"]["addresses"],
        json!([{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "n1"}])
    );
}

#[test]
fn status_conditions_merge_by_type() {
    let pod = json!({"kind": "Pod", "status": {"conditions": [
        {"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}
    ]}});
    let out = patched(
        "Pod",
        &pod,
        json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    )
    .unwrap();
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}])
    );
}

#[test]
fn a_cron_jobs_template_containers_merge_by_name() {
    let cron = json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}
    ]}}}}}});
    let out = patched(
        "CronJob",
        &cron,
        json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "b", "image": "b:2"}
        ]}}}}}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}])
    );
}

#[test]
fn a_list_item_without_its_merge_key_is_refused() {
    assert_eq!(
        malformed(
            "Deployment",
            &deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}})
        ),
        "map: map[image:x] does not contain declared merge key: name"
    );
}

#[test]
fn lists_of_lists_are_unprocessable() {
    let doc = json!({"metadata": {"finalizers": []}});
    assert_eq!(
        patched(
            "ConfigMap",
            &doc,
            json!({"metadata": {"finalizers": [["a"]]}})
        ),
        Err(PatchError::Unprocessable(
            "lists of lists are not supported".into()
        ))
    );
}

#[test]
fn a_new_field_takes_the_patch_without_nulls_or_directives() {
    let out = deploy(json!({"spec": {"template": {"spec": {"affinity": {
        "nodeAffinity": {"x": null, "keep": 1},
        "gone": {"$patch": "delete"}
    }}}}}));
    assert_eq!(
        pod_spec(&out)["affinity"],
        json!({"nodeAffinity": {"keep": 1}})
    );
}

#[test]
fn bodies_that_are_not_objects_are_bad_requests() {
    assert_eq!(
        apply(&deployment(), b"[]", "Deployment"),
        Err(PatchError::Malformed(
            "json: cannot unmarshal array into Go value of type map[string]interface {}".into()
        ))
    );
    assert!(matches!(
        apply(&deployment(), b"{", "Deployment"),
        Err(PatchError::Malformed(_))
    ));
    assert_eq!(
        apply(&deployment(), b"null", "Deployment"),
        Ok(deployment())
    );
}
