use serde_json::{json, Value};

use super::{ago, narrow, row};
use crate::printers::conditions;

/// A pod of `containers` unnamed containers with `status`.
fn pod(name: &str, containers: usize, status: Value) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {"containers": vec![json!({"name": ""}); containers]},
        "status": status,
    })
}

fn running(ready: bool, restarts: i64) -> Value {
    json!({"ready": ready, "restartCount": restarts, "state": {"running": {}}})
}

fn restarted(restarts: i64, secs_ago: i64, state: Value) -> Value {
    json!({"ready": false, "restartCount": restarts, "state": state,
           "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(secs_ago)}}})
}

fn expect(p: &Value, cells: [&str; 3]) {
    let mut want: Vec<&str> = vec![p["metadata"]["name"].as_str().unwrap()];
    want.extend(cells);
    want.push("<unknown>");
    assert_eq!(narrow("Pod", p), want);
}

#[test]
fn ready_status_and_restarts_of_the_containers() {
    let p = pod(
        "test1",
        2,
        json!({"phase": "podPhase", "containerStatuses": [running(true, 3), {"restartCount": 3}]}),
    );
    expect(&p, ["1/2", "podPhase", "6"]);
    let waiting = json!({"waiting": {"reason": "ContainerWaitingReason"}});
    let p = pod(
        "test2",
        2,
        json!({"phase": "podPhase", "containerStatuses": [running(true, 3), {"restartCount": 3, "state": waiting}]}),
    );
    expect(&p, ["1/2", "ContainerWaitingReason", "6"]);
    // The first container's state wins over the later ones'.
    let p = pod(
        "test3",
        2,
        json!({"phase": "podPhase", "containerStatuses": [
            {"restartCount": 3, "state": waiting},
            {"restartCount": 3, "state": {"terminated": {"reason": "ContainerTerminatedReason", "exitCode": 0}}}]}),
    );
    expect(&p, ["0/2", "ContainerWaitingReason", "6"]);
    let p = pod(
        "test5",
        2,
        json!({"phase": "podPhase", "reason": "podReason", "containerStatuses": [running(true, 3), {"ready": true, "restartCount": 3}]}),
    );
    expect(&p, ["1/2", "podReason", "6"]);
}

#[test]
fn a_completed_container_beside_a_running_one_reads_running_or_not_ready() {
    let statuses = json!([
        {"ready": true, "restartCount": 3, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
        running(true, 3),
    ]);
    let p = pod(
        "test6",
        2,
        json!({"phase": "Running", "containerStatuses": statuses}),
    );
    expect(&p, ["1/2", "NotReady", "6"]);
    let p = pod(
        "test6",
        2,
        json!({"phase": "Running", "containerStatuses": statuses,
               "conditions": [{"type": "Ready", "status": "True"}]}),
    );
    expect(&p, ["1/2", "Running", "6"]);
}

#[test]
fn init_containers_show_progress_and_the_last_restart() {
    let mut p = pod(
        "test8",
        1,
        json!({"phase": "podPhase",
            "initContainerStatuses": [restarted(3, 10, json!({"running": {}})), {"state": {"waiting": {}}}],
            "containerStatuses": [{"state": {"waiting": {}}}]}),
    );
    p["spec"]["initContainers"] = json!([{"name": "i1"}, {"name": "i2"}]);
    expect(&p, ["0/1", "Init:0/2", "3 (10s ago)"]);
    let mut p = pod(
        "test10",
        1,
        json!({"phase": "podPhase",
            "initContainerStatuses": [
                restarted(2, 120, json!({"terminated": {"exitCode": 0}})),
                restarted(3, 10, json!({"running": {}}))],
            "containerStatuses": [{"state": {"waiting": {}}}]}),
    );
    p["spec"]["initContainers"] = json!([{"name": "i1"}, {"name": "i2"}]);
    expect(&p, ["0/1", "Init:1/2", "5 (10s ago)"]);
    // Once the init containers are done, only the main containers' restarts count.
    let mut p = pod(
        "test11",
        1,
        json!({"phase": "Running",
            "initContainerStatuses": [restarted(2, 120, json!({"terminated": {"exitCode": 0}}))],
            "containerStatuses": [restarted(4, 20, json!({"running": {}}))]}),
    );
    p["spec"]["initContainers"] = json!([{"name": "i1"}]);
    expect(&p, ["0/1", "Running", "4 (20s ago)"]);
}

#[test]
fn a_failed_init_container_names_its_reason_exit_code_or_signal() {
    let with_init = |state: Value| {
        let mut p = pod(
            "p",
            1,
            json!({"phase": "Pending", "initContainerStatuses": [{"restartCount": 0, "state": state}]}),
        );
        p["spec"]["initContainers"] = json!([{"name": "i1"}]);
        narrow("Pod", &p)[2].clone()
    };
    assert_eq!(
        with_init(json!({"terminated": {"exitCode": 1, "reason": "Error"}})),
        "Init:Error"
    );
    assert_eq!(
        with_init(json!({"terminated": {"exitCode": 2}})),
        "Init:ExitCode:2"
    );
    assert_eq!(
        with_init(json!({"terminated": {"exitCode": 137, "signal": 9}})),
        "Init:Signal:9"
    );
    assert_eq!(
        with_init(json!({"waiting": {"reason": "CrashLoopBackOff"}})),
        "Init:CrashLoopBackOff"
    );
    assert_eq!(
        with_init(json!({"waiting": {"reason": "PodInitializing"}})),
        "Init:0/1"
    );
}

#[test]
fn restarts_say_how_long_ago_the_last_one_was() {
    let p = pod(
        "test12",
        1,
        json!({"phase": "Running", "containerStatuses": [
            {"ready": true, "restartCount": 3, "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(5 * 86400)}}}]}),
    );
    expect(&p, ["1/1", "Running", "3 (5d ago)"]);
    let p = pod(
        "test14",
        2,
        json!({"phase": "Running", "containerStatuses": [
            {"ready": true, "restartCount": 6, "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(5 * 86400)}}},
            {"ready": true, "restartCount": 3, "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(20 * 86400)}}}]}),
    );
    expect(&p, ["2/2", "Running", "9 (5d ago)"]);
    let crash = pod(
        "crash",
        1,
        json!({"phase": "Running", "containerStatuses": [
            restarted(3, 20, json!({"waiting": {"reason": "CrashLoopBackOff"}}))]}),
    );
    expect(&crash, ["0/1", "CrashLoopBackOff", "3 (20s ago)"]);
}

#[test]
fn gated_finished_and_deleted_pods() {
    let p = pod(
        "test15",
        2,
        json!({"phase": "podPhase", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
    );
    expect(&p, ["0/2", "SchedulingGated", "0"]);
    let done = json!({"ready": false, "restartCount": 0,
                      "state": {"terminated": {"reason": "Completed", "exitCode": 0}}});
    let mut p = pod(
        "test18",
        1,
        json!({"phase": "Succeeded", "containerStatuses": [done]}),
    );
    p["metadata"]["deletionTimestamp"] = ago(10).into();
    expect(&p, ["0/1", "Completed", "0"]);
    assert_eq!(
        conditions("Pod", &p).unwrap(),
        json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                "message": "The pod has completed successfully."}])
    );
    let mut p = pod(
        "test19",
        1,
        json!({"phase": "Running", "containerStatuses": [running(false, 0)]}),
    );
    p["metadata"]["deletionTimestamp"] = ago(10).into();
    expect(&p, ["0/1", "Terminating", "0"]);
    assert!(conditions("Pod", &p).is_none());
    let mut lost = pod("lost", 1, json!({"phase": "Running", "reason": "NodeLost"}));
    lost["metadata"]["deletionTimestamp"] = ago(10).into();
    expect(&lost, ["0/1", "Unknown", "0"]);
    lost["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("deletionTimestamp");
    expect(&lost, ["0/1", "NodeLost", "0"]);
}

#[test]
fn sidecars_count_toward_ready_and_total() {
    let spec = json!({
        "initContainers": [
            {"name": "restartable-init-1", "restartPolicy": "Always"},
            {"name": "restartable-init-2", "restartPolicy": "Always"}],
        "containers": [{"name": "c"}]});
    let p = json!({"metadata": {"name": "test1"}, "spec": spec, "status": {
        "phase": "Pending",
        "initContainerStatuses": [
            {"name": "restartable-init-1", "ready": false, "restartCount": 3, "started": true,
             "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(10)}}},
            {"name": "restartable-init-2", "ready": false, "started": false, "state": {"running": {}}}],
        "containerStatuses": [{"ready": false, "restartCount": 0, "state": {"waiting": {}}}],
        "conditions": [{"type": "Initialized", "status": "False"}]}});
    expect(&p, ["0/3", "Init:1/2", "3 (10s ago)"]);
    let p = json!({"metadata": {"name": "test2"}, "spec": spec, "status": {
        "phase": "Running",
        "initContainerStatuses": [
            {"name": "restartable-init-1", "ready": false, "restartCount": 3, "started": true,
             "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(10)}}},
            {"name": "restartable-init-2", "ready": false, "started": true, "state": {"running": {}}}],
        "containerStatuses": [
            {"ready": true, "restartCount": 4, "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(20)}}}],
        "conditions": [{"type": "Initialized", "status": "True"}]}});
    expect(&p, ["1/3", "Running", "7 (10s ago)"]);
}

#[test]
fn wide_cells_show_ip_node_nominated_node_and_readiness_gates() {
    let mut p = pod(
        "test1",
        2,
        json!({"phase": "podPhase", "podIP": "1.1.1.1", "podIPs": [{"ip": "1.1.1.1"}, {"ip": "2001:db8::"}],
            "nominatedNodeName": "node1",
            "conditions": [{"type": "condition1", "status": "False"}, {"type": "condition2", "status": "True"}],
            "containerStatuses": [running(true, 3), {"restartCount": 3}]}),
    );
    p["spec"]["nodeName"] = "test1".into();
    p["spec"]["readinessGates"] = json!([
        {"conditionType": "condition1"}, {"conditionType": "condition2"}, {"conditionType": "condition3"}]);
    assert_eq!(
        row("Pod", &p),
        [
            "test1",
            "1/2",
            "podPhase",
            "6",
            "<unknown>",
            "1.1.1.1",
            "test1",
            "node1",
            "1/3"
        ]
    );
    let p = pod("test2", 2, json!({"phase": "podPhase"}));
    assert_eq!(
        row("Pod", &p)[5..],
        ["<none>", "<none>", "<none>", "<none>"]
    );
}

#[test]
fn a_new_pod_without_a_phase_reads_pending() {
    let p = json!({"metadata": {"name": "new", "creationTimestamp": ago(3)},
                   "spec": {"containers": [{"name": "c"}]}});
    assert_eq!(narrow("Pod", &p), ["new", "0/1", "Pending", "0", "3s"]);
}
