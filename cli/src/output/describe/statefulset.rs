//! kubectl's StatefulSet description: identity, `Replicas: 3 desired | 3 total`, the
//! update strategy and partition, pods by phase, the template, the claim templates.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use super::events_section;
use super::workloads::{annotations, lines, pod_template, pods_status, selector_text, template_of};
use crate::output::tables::{s, strings};

/// `pods` are the namespace's pods, `events` its events.
pub fn describe_stateful_set(sts: &Value, pods: &[Value], events: &[Value]) -> String {
    let mut out = String::new();
    let field = |out: &mut String, name: &str, value: &str| {
        let _ = writeln!(out, "{:<20}{value}", format!("{name}:"));
    };
    field(&mut out, "Name", &s(sts, "/metadata/name"));
    field(&mut out, "Namespace", &s(sts, "/metadata/namespace"));
    field(
        &mut out,
        "CreationTimestamp",
        &s(sts, "/metadata/creationTimestamp"),
    );
    field(
        &mut out,
        "Selector",
        &selector_text(&sts["spec"]["selector"]),
    );
    let labels: Option<BTreeMap<String, String>> =
        serde_json::from_value(sts["metadata"]["labels"].clone()).ok();
    field(&mut out, "Labels", &lines(labels.as_ref(), "=", 20));
    field(&mut out, "Annotations", &annotations(sts, 20));
    let replicas = sts
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let total = sts
        .pointer("/status/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    field(
        &mut out,
        "Replicas",
        &format!("{replicas} desired | {total} total"),
    );
    let strategy = s(sts, "/spec/updateStrategy/type");
    field(&mut out, "Update Strategy", &strategy);
    if strategy == "RollingUpdate" {
        let partition = sts
            .pointer("/spec/updateStrategy/rollingUpdate/partition")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let _ = writeln!(out, "  Partition:        {partition}");
    }
    field(&mut out, "Pods Status", &pods_status(sts, pods));
    out.push_str(&pod_template(&template_of(sts)));
    out.push_str(&volume_claims(sts));
    out.push_str(&events_section(
        events,
        "StatefulSet",
        &s(sts, "/metadata/name"),
    ));
    out
}

fn volume_claims(sts: &Value) -> String {
    let templates = sts["spec"]["volumeClaimTemplates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if templates.is_empty() {
        return "Volume Claims:      <none>\n".into();
    }
    let mut out = String::from("Volume Claims:\n");
    for claim in &templates {
        let labels: Option<BTreeMap<String, String>> =
            serde_json::from_value(claim["metadata"]["labels"].clone()).ok();
        let modes = strings(&claim["spec"]["accessModes"]).join(" ");
        for (name, value) in [
            ("Name", s(claim, "/metadata/name")),
            ("StorageClass", s(claim, "/spec/storageClassName")),
            ("Labels", lines(labels.as_ref(), "=", 17)),
            ("Annotations", annotations(claim, 17)),
            ("Capacity", s(claim, "/spec/resources/requests/storage")),
            ("Access Modes", format!("[{modes}]")),
        ] {
            let _ = writeln!(out, "  {:<15}{value}", format!("{name}:"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_description_shows_replicas_strategy_pods_and_claims() {
        let sts = json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "nginx"}},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
                "template": {"metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "www"},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}}}],
            },
            "status": {"replicas": 2},
        });
        let pod = json!({"metadata": {"ownerReferences": [{"uid": "u1"}]},
            "status": {"phase": "Running"}});
        let event = json!({"involvedObject": {"kind": "StatefulSet", "name": "web"},
            "type": "Normal", "reason": "SuccessfulCreate",
            "message": "create Pod web-0 in StatefulSet web successful",
            "source": {"component": "statefulset-controller"}});
        let text = describe_stateful_set(&sts, &[pod], &[event]);
        for line in [
            "Name:               web\n",
            "Selector:           app=nginx\n",
            "Replicas:           3 desired | 2 total\n",
            "Update Strategy:    RollingUpdate\n",
            "  Partition:        1\n",
            "Pods Status:        1 Running / 0 Waiting / 0 Succeeded / 0 Failed\n",
            "Volume Claims:\n",
            "  Name:          www\n",
            "  Capacity:      1Gi\n",
            "  Access Modes:  [ReadWriteOnce]\n",
            "create Pod web-0 in StatefulSet web successful",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
    }
}
