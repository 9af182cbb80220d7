use serde_json::json;

use super::*;

fn header(kind: &str, wide: bool) -> Vec<String> {
    rows(kind, &[], wide, false).remove(0)
}

#[test]
fn headers() {
    assert_eq!(
        header("Pod", false),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    assert_eq!(header("Pod", true).len(), 9);
    assert_eq!(
        header("Node", false),
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    );
    assert_eq!(
        header("Node", true)[5..],
        [
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ]
    );
    assert_eq!(header("Namespace", false), ["NAME", "STATUS", "AGE"]);
    assert_eq!(header("ConfigMap", false), ["NAME", "DATA", "AGE"]);
    assert_eq!(header("Secret", false), ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(
        header("Event", false),
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert_eq!(
        header("Deployment", false),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(
        header("ReplicaSet", false),
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    );
    assert_eq!(
        header("Service", false),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    assert_eq!(
        header("Job", false),
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    );
    assert_eq!(
        header("CronJob", false),
        [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE"
        ]
    );
}

#[test]
fn node_row() {
    let node = json!({"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
          "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
          "nodeInfo": {"kubeletVersion": "v0.1.0", "osImage": "Debian", "kernelVersion": "6.1",
            "containerRuntimeVersion": "containerd://1.7", "machineID": "", "systemUUID": "", "bootID": "",
            "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}}});
    let r = rows("Node", &[node], true, true);
    assert_eq!(
        r[1][..3],
        ["n1", "Ready,SchedulingDisabled", "control-plane"]
    );
    assert_eq!(
        r[1][4..],
        [
            "v0.1.0",
            "10.0.0.5",
            "<none>",
            "Debian",
            "6.1",
            "containerd://1.7"
        ]
    );
}

#[test]
fn service_row() {
    let svc = json!({"metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "NodePort", "clusterIP": "10.43.0.10",
          "ports": [{"port": 8080, "nodePort": 31294, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}});
    let r = rows("Service", &[svc], false, true);
    assert_eq!(r[0][0], "NAMESPACE");
    assert_eq!(
        r[1][..5],
        ["default", "web", "NodePort", "10.43.0.10", "<none>"]
    );
    assert_eq!(r[1][5], "8080:31294/TCP,53/UDP");
}

#[test]
fn data_counts_and_workloads() {
    let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
    assert_eq!(rows("ConfigMap", &[cm], false, false)[1][1], "2");
    let sec = json!({"metadata": {"name": "s"}, "data": {"a": "MQ=="}});
    assert_eq!(
        rows("Secret", &[sec], false, false)[1][..3],
        ["s", "Opaque", "1"]
    );
    let d = json!({"metadata": {"name": "d"}, "spec": {"replicas": 3},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        rows("Deployment", &[d], false, false)[1][1..4],
        ["2/3", "3", "2"]
    );
    let rs = json!({"metadata": {"name": "r"}, "spec": {"replicas": 2}, "status": {"replicas": 2, "readyReplicas": 1}});
    assert_eq!(
        rows("ReplicaSet", &[rs], false, false)[1][1..4],
        ["2", "2", "1"]
    );
    let ns = json!({"metadata": {"name": "kube-system"}, "status": {"phase": "Active"}});
    assert_eq!(
        rows("Namespace", &[ns], false, true)[1][..2],
        ["kube-system", "Active"]
    );
}

#[test]
fn event_row() {
    let ev = json!({"metadata": {"name": "e"}, "type": "Warning", "reason": "FailedScheduling",
        "involvedObject": {"kind": "Pod", "name": "p"}, "message": "no nodes"});
    assert_eq!(
        rows("Event", &[ev], false, false)[1][1..],
        ["Warning", "FailedScheduling", "pod/p", "no nodes"]
    );
}

#[test]
fn wide_workloads_add_the_templates_containers_and_the_selector() {
    let ds = json!({
        "metadata": {"name": "agent", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    });
    let narrow = rows("DaemonSet", std::slice::from_ref(&ds), false, false);
    assert_eq!(
        narrow[0],
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE SELECTOR",
            "AGE"
        ]
    );
    let wide = rows("DaemonSet", &[ds], true, true);
    assert_eq!(wide[0][0], "NAMESPACE");
    assert_eq!(wide[0][9..], ["CONTAINERS", "IMAGES", "SELECTOR"]);
    assert_eq!(wide[1][..2], ["kube-system", "agent"]);
    assert_eq!(wide[1][9..], ["c", "busybox", "app=agent"]);
    let cj = json!({
        "metadata": {"name": "hello", "creationTimestamp": "2020-01-01T00:00:00Z"},
        "spec": {"schedule": "@daily", "suspend": false, "jobTemplate": {"spec": {"template": {
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}},
    });
    let rows = rows("CronJob", &[cj], true, false);
    assert_eq!(rows[0][7..], ["CONTAINERS", "IMAGES", "SELECTOR"]);
    assert_eq!(rows[1][7..], ["c", "busybox", "<none>"]);
}
