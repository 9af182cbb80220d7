//! `describe deployment|replicaset NAME`, laid out as kubectl's.

use std::fmt::Write;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

use super::events_section;
use crate::output::pods::align;
use crate::output::tables::{s, strings};

/// `key=value,...` of a LabelSelector's matchLabels and matchExpressions.
pub fn selector_text(selector: &Value) -> String {
    let mut parts: Vec<String> = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or_default();
        let values = strings(&e["values"]);
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other}"),
        });
    }
    parts.join(",")
}

/// `k=v` lines (`k: v` for annotations) indented to `indent`, or `<none>`.
pub(super) fn lines(
    map: Option<&std::collections::BTreeMap<String, String>>,
    sep: &str,
    indent: usize,
) -> String {
    match map.filter(|m| !m.is_empty()) {
        None => "<none>".into(),
        Some(m) => m
            .iter()
            .map(|(k, v)| format!("{k}{sep}{v}"))
            .collect::<Vec<_>>()
            .join(&format!("\n{}", " ".repeat(indent))),
    }
}

/// The `Pod Template:` section.
pub fn pod_template(template: &PodTemplateSpec) -> String {
    let mut out = String::from("Pod Template:\n");
    let meta = template.metadata.clone().unwrap_or_default();
    let _ = writeln!(out, "  Labels:  {}", lines(meta.labels.as_ref(), "=", 11));
    let _ = writeln!(out, "  Containers:");
    for c in template.spec.iter().flat_map(|s| s.containers.iter()) {
        let _ = writeln!(out, "   {}:", c.name);
        let _ = writeln!(
            out,
            "    Image:      {}",
            c.image.clone().unwrap_or_default()
        );
        let ports: Vec<String> = c
            .ports
            .iter()
            .flatten()
            .map(|p| {
                format!(
                    "{}/{}",
                    p.container_port,
                    p.protocol.clone().unwrap_or_else(|| "TCP".into())
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "    Port:       {}",
            if ports.is_empty() {
                "<none>".into()
            } else {
                ports.join(", ")
            }
        );
        let env: Vec<String> = c
            .env
            .iter()
            .flatten()
            .map(|e| format!("{}={}", e.name, e.value.clone().unwrap_or_default()))
            .collect();
        let _ = writeln!(
            out,
            "    Environment:{}",
            if env.is_empty() {
                " <none>".into()
            } else {
                format!(" {}", env.join(", "))
            }
        );
    }
    out
}

pub(super) fn template_of(o: &Value) -> PodTemplateSpec {
    serde_json::from_value(o["spec"]["template"].clone()).unwrap_or_default()
}

/// Annotations without kubectl's last-applied one, continued lines indented by `indent`.
pub(super) fn annotations(o: &Value, indent: usize) -> String {
    let map: Option<std::collections::BTreeMap<String, String>> =
        o["metadata"]["annotations"].as_object().map(|m| {
            m.iter()
                .filter(|(k, _)| k.as_str() != "kubectl.kubernetes.io/last-applied-configuration")
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        });
    lines(map.as_ref(), ": ", indent)
}

fn header(out: &mut String, o: &Value) {
    let _ = writeln!(out, "Name:                   {}", s(o, "/metadata/name"));
    let _ = writeln!(
        out,
        "Namespace:              {}",
        s(o, "/metadata/namespace")
    );
    let _ = writeln!(
        out,
        "CreationTimestamp:      {}",
        s(o, "/metadata/creationTimestamp")
    );
    let labels: Option<std::collections::BTreeMap<String, String>> =
        serde_json::from_value(o["metadata"]["labels"].clone()).ok();
    let _ = writeln!(
        out,
        "Labels:                 {}",
        lines(labels.as_ref(), "=", 24)
    );
    let _ = writeln!(out, "Annotations:            {}", annotations(o, 24));
    let _ = writeln!(
        out,
        "Selector:               {}",
        selector_text(&o["spec"]["selector"])
    );
}

/// kubectl's deployment description; `sets` are the namespace's ReplicaSets.
pub fn describe_deployment(d: &Value, sets: &[Value], events: &[Value]) -> String {
    let mut out = String::new();
    header(&mut out, d);
    let _ = writeln!(out, "Replicas:               {}", replicas_line(d));
    let strategy = s(d, "/spec/strategy/type");
    let _ = writeln!(out, "StrategyType:           {strategy}");
    let _ = writeln!(
        out,
        "MinReadySeconds:        {}",
        d.pointer("/spec/minReadySeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    );
    if strategy == "RollingUpdate" {
        let _ = writeln!(
            out,
            "RollingUpdateStrategy:  {} max unavailable, {} max surge",
            s(d, "/spec/strategy/rollingUpdate/maxUnavailable"),
            s(d, "/spec/strategy/rollingUpdate/maxSurge")
        );
    }
    if d.pointer("/spec/paused") == Some(&Value::Bool(true)) {
        let _ = writeln!(out, "Paused:                 true");
    }
    out.push_str(&pod_template(&template_of(d)));
    conditions(&mut out, d);
    let uid = s(d, "/metadata/uid");
    let revision = s(
        d,
        "/metadata/annotations/deployment.kubernetes.io~1revision",
    );
    let mine: Vec<&Value> = sets
        .iter()
        .filter(|rs| {
            rs["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r["uid"] == uid.as_str() && r["controller"] == true)
                })
        })
        .collect();
    let line = |rs: &&Value| {
        format!(
            "{} ({}/{} replicas created)",
            s(rs, "/metadata/name"),
            rs.pointer("/status/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            rs.pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        )
    };
    let is_new = |rs: &&&Value| {
        s(
            rs,
            "/metadata/annotations/deployment.kubernetes.io~1revision",
        ) == revision
    };
    let old: Vec<String> = mine
        .iter()
        .filter(|rs| {
            !is_new(rs)
                && rs
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    > 0
        })
        .map(line)
        .collect();
    let new: Vec<String> = mine.iter().filter(is_new).map(line).collect();
    let _ = writeln!(
        out,
        "OldReplicaSets:         {}",
        if old.is_empty() {
            "<none>".into()
        } else {
            old.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "NewReplicaSet:          {}",
        if new.is_empty() {
            "<none>".into()
        } else {
            new.join(", ")
        }
    );
    out.push_str(&events_section(
        events,
        "Deployment",
        &s(d, "/metadata/name"),
    ));
    out
}

fn conditions(out: &mut String, o: &Value) {
    let list = o.pointer("/status/conditions").and_then(Value::as_array);
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return;
    };
    let mut rows = vec![
        vec!["Type".to_string(), "Status".into(), "Reason".into()],
        vec!["----".to_string(), "------".into(), "------".into()],
    ];
    rows.extend(
        list.iter()
            .map(|c| vec![s(c, "/type"), s(c, "/status"), s(c, "/reason")]),
    );
    out.push_str("Conditions:\n");
    for line in align(&rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
}

/// kubectl's replica set description; `pods` are the namespace's pods.
pub fn describe_replica_set(rs: &Value, pods: &[Value], events: &[Value]) -> String {
    let mut out = String::new();
    header(&mut out, rs);
    if let Some(owner) = rs["metadata"]["ownerReferences"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["controller"] == true))
    {
        let _ = writeln!(
            out,
            "Controlled By:          {}/{}",
            s(owner, "/kind"),
            s(owner, "/name")
        );
    }
    let _ = writeln!(
        out,
        "Replicas:               {} current / {} desired",
        rs.pointer("/status/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        rs.pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
    );
    let _ = writeln!(out, "Pods Status:            {}", pods_status(rs, pods));
    out.push_str(&pod_template(&template_of(rs)));
    out.push_str(&events_section(
        events,
        "ReplicaSet",
        &s(rs, "/metadata/name"),
    ));
    out
}

/// `3 Running / 0 Waiting / 0 Succeeded / 0 Failed` for the pods `owner` owns.
pub(super) fn pods_status(owner: &Value, pods: &[Value]) -> String {
    let uid = s(owner, "/metadata/uid");
    let mut counts = [0; 4];
    for pod in pods.iter().filter(|p| {
        p["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid.as_str()))
    }) {
        match s(pod, "/status/phase").as_str() {
            "Running" => counts[0] += 1,
            "Succeeded" => counts[2] += 1,
            "Failed" => counts[3] += 1,
            _ => counts[1] += 1,
        }
    }
    format!(
        "{} Running / {} Waiting / {} Succeeded / {} Failed",
        counts[0], counts[1], counts[2], counts[3]
    )
}

/// For `describe`: "3 desired | 1 updated | 4 total | 3 available | 1 unavailable".
pub fn replicas_line(d: &Value) -> String {
    let n = |ptr: &str| d.pointer(ptr).and_then(Value::as_i64).unwrap_or(0);
    let mut out = String::new();
    let _ = write!(
        out,
        "{} desired | {} updated | {} total | {} available | {} unavailable",
        d.pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1),
        n("/status/updatedReplicas"),
        n("/status/replicas"),
        n("/status/availableReplicas"),
        n("/status/unavailableReplicas"),
    );
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_deployment_description_names_its_replica_sets_and_conditions() {
        let d = json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "d1", "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.11"}]}}},
            "status": {"replicas": 4, "updatedReplicas": 1, "availableReplicas": 3, "unavailableReplicas": 1,
                       "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]},
        });
        let owned = |name: &str, revision: &str, replicas: i64| {
            json!({
                "metadata": {"name": name, "annotations": {"deployment.kubernetes.io/revision": revision}, "ownerReferences": [{"uid": "d1", "controller": true}]},
                "spec": {"replicas": replicas}, "status": {"replicas": replicas},
            })
        };
        let text = describe_deployment(
            &d,
            &[owned("web-old", "1", 3), owned("web-new", "2", 1)],
            &[],
        );
        assert!(text.contains("Replicas:               3 desired | 1 updated | 4 total | 3 available | 1 unavailable"), "{text}");
        assert!(
            text.contains("OldReplicaSets:         web-old (3/3 replicas created)"),
            "{text}"
        );
        assert!(
            text.contains("NewReplicaSet:          web-new (1/1 replicas created)"),
            "{text}"
        );
        assert!(
            text.contains("25% max unavailable, 25% max surge"),
            "{text}"
        );
        assert!(text.contains("Image:      nginx:1.11"), "{text}");
        assert!(
            text.contains("Available   True     MinimumReplicasAvailable"),
            "{text}"
        );
    }

    #[test]
    fn selectors_read_as_label_selectors() {
        let selector = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]});
        assert_eq!(selector_text(&selector), "app=web,tier in (a,b)");
    }
}
