//! A container's `Environment Variables from:` and `Environment:` in `describe pod`, as
//! kubectl prints them: the sources named, not the secret values; fields of the pod's
//! metadata and resource values resolved.

use std::collections::BTreeMap;
use std::fmt::Write;

use k8s_openapi::api::core::v1::{Container, Pod};
use skiff_proto::model::container_resource_value;

pub fn env_lines(pod: &Pod, container: &Container) -> String {
    let mut s = String::new();
    let from = container.env_from.as_deref().unwrap_or_default();
    if !from.is_empty() {
        let mut lines = Vec::new();
        for e in from {
            let (kind, name, optional) = match (&e.config_map_ref, &e.secret_ref) {
                (Some(cm), _) => ("ConfigMap", cm.name.as_str(), cm.optional),
                (None, Some(sec)) => ("Secret", sec.name.as_str(), sec.optional),
                (None, None) => ("", "", None),
            };
            let optional = optional.unwrap_or(false);
            lines.push(match e.prefix.as_deref().filter(|p| !p.is_empty()) {
                None => format!("      {name}\t{kind}\tOptional: {optional}"),
                Some(p) => format!("      {name}\t{kind} with prefix '{p}'\tOptional: {optional}"),
            });
        }
        let _ = writeln!(s, "    Environment Variables from:");
        s.push_str(&tabulate(&lines));
    }
    let env = container.env.as_deref().unwrap_or_default();
    if env.is_empty() {
        let _ = writeln!(s, "    Environment:   <none>");
        return s;
    }
    let mut lines = Vec::new();
    for e in env {
        let name = &e.name;
        let Some(from) = &e.value_from else {
            let value = e.value.as_deref().unwrap_or("");
            for (i, part) in value.split('\n').enumerate() {
                lines.push(match i {
                    0 => format!("      {name}:\t{part}"),
                    _ => format!("      \t{part}"),
                });
            }
            continue;
        };
        if let Some(f) = &from.field_ref {
            let version = f.api_version.as_deref().unwrap_or("v1");
            let value = metadata_field(pod, &f.field_path);
            lines.push(format!(
                "      {name}:\t{value} ({version}:{})",
                f.field_path
            ));
        } else if let Some(r) = &from.resource_field_ref {
            let none = BTreeMap::new();
            let mut value =
                container_resource_value(container, &none, &r.resource, r.divisor.as_ref())
                    .unwrap_or_default();
            if value == "0" && matches!(r.resource.as_str(), "limits.cpu" | "limits.memory") {
                value = "node allocatable".into();
            }
            lines.push(format!("      {name}:\t{value} ({})", r.resource));
        } else if let Some(k) = &from.secret_key_ref {
            lines.push(format!(
                "      {name}:\t<set to the key '{}' in secret '{}'>\tOptional: {}",
                k.key,
                k.name,
                k.optional.unwrap_or(false)
            ));
        } else if let Some(k) = &from.config_map_key_ref {
            lines.push(format!(
                "      {name}:\t<set to the key '{}' of config map '{}'>\tOptional: {}",
                k.key,
                k.name,
                k.optional.unwrap_or(false)
            ));
        }
    }
    let _ = writeln!(s, "    Environment:");
    s.push_str(&tabulate(&lines));
    s
}

/// What kubectl resolves of a `fieldRef`: the pod's metadata; other fields show empty.
fn metadata_field(pod: &Pod, path: &str) -> String {
    let m = &pod.metadata;
    for (prefix, map) in [
        ("metadata.labels['", &m.labels),
        ("metadata.annotations['", &m.annotations),
    ] {
        if let Some(k) = path.strip_prefix(prefix).and_then(|r| r.strip_suffix("']")) {
            return map
                .as_ref()
                .and_then(|l| l.get(k))
                .cloned()
                .unwrap_or_default();
        }
    }
    match path {
        "metadata.name" => m.name.clone(),
        "metadata.namespace" => m.namespace.clone(),
        "metadata.uid" => m.uid.clone(),
        _ => None,
    }
    .unwrap_or_default()
}

/// Go's tabwriter (padding 2) over tab-separated lines: a column is as wide as its widest
/// cell among the consecutive lines that have that column.
fn tabulate(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<Vec<usize>> = rows.iter().map(|r| vec![0; r.len()]).collect();
    let columns = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    for c in 0..columns.saturating_sub(1) {
        let mut i = 0;
        while i < rows.len() {
            // A block: consecutive rows with a cell terminated by a tab in column c.
            let start = i;
            while i < rows.len() && rows[i].len() > c + 1 {
                i += 1;
            }
            let width = rows[start..i]
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0);
            for w in &mut widths[start..i] {
                w[c] = width + 2;
            }
            if i == start {
                i += 1;
            }
        }
    }
    let mut out = String::new();
    for (row, w) in rows.iter().zip(&widths) {
        for (c, cell) in row.iter().enumerate() {
            if c + 1 < row.len() {
                let _ = write!(out, "{cell:<width$}", width = w[c]);
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sources_are_named_as_kubectl_names_them() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-0", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{
                "name": "app",
                "resources": {"limits": {"memory": "64Mi"}},
                "envFrom": [
                    {"configMapRef": {"name": "settings"}},
                    {"prefix": "DB_", "secretRef": {"name": "creds", "optional": true}}
                ],
                "env": [
                    {"name": "PLAIN", "value": "a\nb"},
                    {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t", "optional": true}}},
                    {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                    {"name": "APP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels['app']"}}},
                    {"name": "NODE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
                    {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                    {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}
                ]
            }]}
        }))
        .unwrap();
        let container = &pod.spec.as_ref().unwrap().containers[0];
        let text = env_lines(&pod, container);
        let want = "    Environment Variables from:
      settings  ConfigMap                 Optional: false
      creds     Secret with prefix 'DB_'  Optional: true
    Environment:
      PLAIN:  a
              b
      MODE:   <set to the key 'k' of config map 'c'>  Optional: false
      TOKEN:  <set to the key 't' in secret 's'>      Optional: true
      POD:    web-0 (v1:metadata.name)
      APP:    web (v1:metadata.labels['app'])
      NODE:    (v1:spec.nodeName)
      CPU:    node allocatable (limits.cpu)
      MEM:    64 (limits.memory)
";
        assert_eq!(text, want);
    }

    #[test]
    fn no_env_reads_none() {
        let c = Container::default();
        assert_eq!(
            env_lines(&Pod::default(), &c),
            "    Environment:   <none>\n"
        );
    }
}
