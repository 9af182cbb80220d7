//! kubectl's drain filters over pods as the API serves them.

use serde_json::{json, Value};

use super::*;

fn pod(name: &str, owner: Option<&str>) -> Value {
    let mut pod = json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running"},
    });
    if let Some(kind) = owner {
        pod["metadata"]["ownerReferences"] = json!([{"kind": kind, "name": "owner", "uid": "o", "apiVersion": "apps/v1", "controller": true}]);
    }
    pod
}

fn names(plan: &Plan) -> Vec<&str> {
    plan.evict
        .iter()
        .map(|(_, name, _)| name.as_str())
        .collect()
}

#[test]
fn every_refusal_is_reported_before_anything_is_evicted() {
    let mut scratch = pod("scratch", Some("ReplicaSet"));
    scratch["spec"]["volumes"] = json!([{"name": "tmp", "emptyDir": {}}]);
    let pods = [
        (pod("web", Some("ReplicaSet")), None),
        (pod("agent", Some("DaemonSet")), Some(Owner::Exists)),
        (scratch, None),
        (pod("bare", None), None),
        (pod("bare2", None), None),
    ];
    let plan = plan(&pods, &Options::default());
    assert_eq!(
        plan.errors,
        [
            "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/agent",
            "cannot delete Pods with local storage (use --delete-emptydir-data to override): default/scratch",
            "cannot delete Pods that declare no controller (use --force to override): default/bare, default/bare2",
        ]
    );
}

#[test]
fn flags_turn_refusals_into_warnings() {
    let mut scratch = pod("scratch", Some("ReplicaSet"));
    scratch["spec"]["volumes"] = json!([{"name": "tmp", "emptyDir": {}}]);
    let mut mirror = pod("static-n1", None);
    mirror["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "abc"});
    let mut done = pod("finished", None);
    done["status"]["phase"] = json!("Succeeded");
    let pods = [
        (pod("web", Some("ReplicaSet")), None),
        (pod("agent", Some("DaemonSet")), Some(Owner::Exists)),
        (scratch, None),
        (pod("bare", None), None),
        (mirror, None),
        (done, None),
    ];
    let opts = Options {
        ignore_daemonsets: true,
        delete_emptydir_data: true,
        force: true,
        ..Options::default()
    };
    let plan = plan(&pods, &opts);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    // The DaemonSet's and the mirror pod stay; a finished bare pod goes without a word.
    assert_eq!(names(&plan), ["web", "scratch", "bare", "finished"]);
    assert_eq!(
        plan.warnings,
        "ignoring DaemonSet-managed Pods: default/agent; deleting Pods that declare no controller: default/bare"
    );
}

#[test]
fn a_daemonset_pod_whose_daemonset_is_gone_needs_force() {
    let gone = Owner::NotFound("daemonsets.apps \"owner\" not found".into());
    let pods = [(pod("agent", Some("DaemonSet")), Some(gone))];
    let plan_without = plan(&pods, &Options::default());
    assert_eq!(
        plan_without.errors,
        ["cannot delete daemonsets.apps \"owner\" not found: default/agent"]
    );
    let forced = Options {
        force: true,
        ..Options::default()
    };
    assert_eq!(names(&plan(&pods, &forced)), ["agent"]);
}
