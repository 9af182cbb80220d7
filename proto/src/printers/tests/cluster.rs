use serde_json::json;

use super::{ago, narrow, row};

#[test]
fn nodes_show_status_roles_version_and_wide_what_they_run() {
    let node = json!({"metadata": {"name": "n1", "creationTimestamp": ago(300),
            "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": "",
                       "node-role.kubernetes.io/": "", "kubernetes.io/role": "master"}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
          "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}, {"type": "InternalIP", "address": "10.0.0.6"}],
          "nodeInfo": {"kubeletVersion": "v1.33.0-skiff", "osImage": "Debian GNU/Linux 12 (bookworm)",
            "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "containerd://1.6.20"}}});
    assert_eq!(
        row("Node", &node),
        [
            "n1",
            "Ready,SchedulingDisabled",
            "control-plane,master,worker",
            "5m",
            "v1.33.0-skiff",
            "10.0.0.5",
            "<none>",
            "Debian GNU/Linux 12 (bookworm)",
            "6.1.0-18-amd64",
            "containerd://1.6.20"
        ]
    );
    let bare = json!({"metadata": {"name": "n2"}});
    assert_eq!(
        row("Node", &bare),
        [
            "n2",
            "Unknown",
            "<none>",
            "<unknown>",
            "",
            "<none>",
            "<none>",
            "<unknown>",
            "<unknown>",
            "<unknown>"
        ]
    );
    let not_ready = json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
    assert_eq!(narrow("Node", &not_ready)[1], "NotReady");
}

#[test]
fn namespaces_leases_config_maps_secrets_and_service_accounts() {
    let ns = json!({"metadata": {"name": "kube-system", "creationTimestamp": ago(3 * 86400)},
                    "status": {"phase": "Active"}});
    assert_eq!(row("Namespace", &ns), ["kube-system", "Active", "3d"]);
    let lease = json!({"metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1"}});
    assert_eq!(row("Lease", &lease)[..2], ["n1", "n1"]);
    let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
    assert_eq!(row("ConfigMap", &cm)[..2], ["c", "3"]);
    let secret = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
    assert_eq!(row("Secret", &secret)[..3], ["s", "kubernetes.io/tls", "2"]);
    assert_eq!(
        row("Secret", &json!({"metadata": {"name": "o"}}))[..3],
        ["o", "Opaque", "0"]
    );
    let sa = json!({"metadata": {"name": "default"}, "secrets": [{"name": "t"}]});
    assert_eq!(row("ServiceAccount", &sa)[..2], ["default", "1"]);
}

#[test]
fn events_show_when_what_and_where() {
    let event = json!({
        "metadata": {"name": "web.17a", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{web}"},
        "reason": "Pulled", "type": "Normal", "message": "Container image pulled\n",
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": ago(600), "lastTimestamp": ago(60), "count": 3,
    });
    assert_eq!(
        row("Event", &event),
        [
            "60s",
            "Normal",
            "Pulled",
            "pod/web",
            "spec.containers{web}",
            "kubelet, n1",
            "Container image pulled",
            "10m",
            "3",
            "web.17a"
        ]
    );
    // An events.k8s.io event: eventTime only, the reporting controller as its source.
    let new_api = json!({
        "metadata": {"name": "e2"}, "involvedObject": {"kind": "Node"},
        "reason": "Starting", "type": "Normal", "message": "",
        "eventTime": format!("{}", ago(6).replace('Z', ".123456Z")),
        "reportingComponent": "skiff-control-plane",
    });
    assert_eq!(
        row("Event", &new_api),
        [
            "5s",
            "Normal",
            "Starting",
            "node",
            "",
            "skiff-control-plane",
            "",
            "5s",
            "1",
            "e2"
        ]
    );
    let series = json!({
        "metadata": {"name": "e3"}, "involvedObject": {"kind": "Pod", "name": "p"},
        "firstTimestamp": ago(600), "series": {"count": 7, "lastObservedTime": ago(2)},
    });
    assert_eq!(row("Event", &series)[0], "2s");
    assert_eq!(row("Event", &series)[8], "7");
}
