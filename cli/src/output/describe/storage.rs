//! `describe pv`, `describe pvc` and `describe sc`, in kubectl's layouts.

use std::fmt::Write;

use serde_json::Value;

use super::events_section;
use crate::output::tables::{s, strings};
use skiff_proto::printers::{access_modes, is_default_class, volume_phase as status};

/// `Key:  value` lines at kubectl's column (`width` wide labels); a map prints one
/// `k=v` (labels) or `k: v` (annotations) per line, `<none>` when empty.
struct Fields {
    out: String,
    width: usize,
}

impl Fields {
    fn new(width: usize) -> Fields {
        Fields {
            out: String::new(),
            width,
        }
    }

    fn line(&mut self, label: &str, value: &str) {
        let label = format!("{label}:");
        let _ = writeln!(self.out, "{label:<w$}{value}", w = self.width);
    }

    fn map(&mut self, label: &str, o: &Value, ptr: &str, separator: &str) {
        let entries: Vec<String> = o
            .pointer(ptr)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}{separator}{}", v.as_str().unwrap_or_default()))
            .collect();
        let text = match entries.is_empty() {
            true => "<none>".to_string(),
            false => entries.join(&format!("\n{:w$}", "", w = self.width)),
        };
        self.line(label, &text);
    }

    fn finalizers(&mut self, o: &Value) {
        let list = strings(&o["metadata"]["finalizers"]);
        self.line("Finalizers", &format!("[{}]", list.join(" ")));
    }
}

fn or_unset(value: String, unset: &str) -> String {
    if value.is_empty() {
        unset.to_string()
    } else {
        value
    }
}

/// kubectl's claim description; `pods` are the claim's namespace's pods (for Used By).
pub fn describe_claim(pvc: &Value, pods: &[Value], events: &[Value]) -> String {
    let name = s(pvc, "/metadata/name");
    let mut f = Fields::new(15);
    f.line("Name", &name);
    f.line("Namespace", &s(pvc, "/metadata/namespace"));
    f.line("StorageClass", &s(pvc, "/spec/storageClassName"));
    f.line("Status", &status(pvc));
    f.line("Volume", &s(pvc, "/spec/volumeName"));
    f.map("Labels", pvc, "/metadata/labels", "=");
    f.map("Annotations", pvc, "/metadata/annotations", ": ");
    f.finalizers(pvc);
    f.line("Capacity", &s(pvc, "/status/capacity/storage"));
    f.line("Access Modes", &access_modes(pvc, "/status/accessModes"));
    f.line("VolumeMode", &s(pvc, "/spec/volumeMode"));
    let used_by: Vec<String> = pods
        .iter()
        .filter(|p| {
            p.pointer("/spec/volumes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|v| s(v, "/persistentVolumeClaim/claimName") == name)
        })
        .map(|p| s(p, "/metadata/name"))
        .collect();
    let used_by = match used_by.is_empty() {
        true => "<none>".to_string(),
        false => used_by.join(&format!("\n{:15}", "")),
    };
    f.line("Used By", &used_by);
    f.out + &events_section(events, "PersistentVolumeClaim", &name)
}

/// kubectl's volume description: class, phase, claim, policy, node affinity, source.
pub fn describe_volume(pv: &Value, events: &[Value]) -> String {
    let name = s(pv, "/metadata/name");
    let mut f = Fields::new(17);
    f.line("Name", &name);
    f.map("Labels", pv, "/metadata/labels", "=");
    f.map("Annotations", pv, "/metadata/annotations", ": ");
    f.finalizers(pv);
    f.line("StorageClass", &s(pv, "/spec/storageClassName"));
    f.line("Status", &status(pv));
    let claim = match s(pv, "/spec/claimRef/name") {
        claim if claim.is_empty() => String::new(),
        claim => format!("{}/{claim}", s(pv, "/spec/claimRef/namespace")),
    };
    f.line("Claim", &claim);
    f.line(
        "Reclaim Policy",
        &s(pv, "/spec/persistentVolumeReclaimPolicy"),
    );
    f.line("Access Modes", &access_modes(pv, "/spec/accessModes"));
    f.line("VolumeMode", &s(pv, "/spec/volumeMode"));
    f.line("Capacity", &s(pv, "/spec/capacity/storage"));
    let terms = pv
        .pointer("/spec/nodeAffinity/required/nodeSelectorTerms")
        .and_then(Value::as_array);
    match terms {
        None => f.line("Node Affinity", "<none>"),
        Some(terms) => {
            f.line("Node Affinity", "");
            let _ = writeln!(f.out, "  Required Terms:");
            for (i, term) in terms.iter().enumerate() {
                let expressions: Vec<String> = term["matchExpressions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        let values = strings(&e["values"]);
                        format!(
                            "{} {} [{}]",
                            s(e, "/key"),
                            s(e, "/operator").to_ascii_lowercase(),
                            values.join(", ")
                        )
                    })
                    .collect();
                let _ = writeln!(
                    f.out,
                    "    Term {i}:        {}",
                    expressions.join("\n                     ")
                );
            }
        }
    }
    f.line("Message", &s(pv, "/status/message"));
    let _ = writeln!(f.out, "Source:");
    if pv.pointer("/spec/hostPath").is_some() {
        let _ = writeln!(
            f.out,
            "    Type:          HostPath (bare host directory volume)"
        );
        let _ = writeln!(f.out, "    Path:          {}", s(pv, "/spec/hostPath/path"));
        let _ = writeln!(f.out, "    HostPathType:  {}", s(pv, "/spec/hostPath/type"));
    } else if pv.pointer("/spec/local").is_some() {
        let _ = writeln!(
            f.out,
            "    Type:  LocalVolume (a persistent volume backed by local storage on a node)"
        );
        let _ = writeln!(f.out, "    Path:  {}", s(pv, "/spec/local/path"));
    }
    f.out + &events_section(events, "PersistentVolume", &name)
}

/// kubectl's StorageClass description.
pub fn describe_class(sc: &Value, events: &[Value]) -> String {
    let name = s(sc, "/metadata/name");
    let mut f = Fields::new(22);
    f.line("Name", &name);
    f.line(
        "IsDefaultClass",
        if is_default_class(sc) { "Yes" } else { "No" },
    );
    f.map("Annotations", sc, "/metadata/annotations", "=");
    f.line("Provisioner", &s(sc, "/provisioner"));
    f.map("Parameters", sc, "/parameters", "=");
    let expansion = or_unset(s(sc, "/allowVolumeExpansion"), "<unset>");
    f.line("AllowVolumeExpansion", &expansion);
    f.line("MountOptions", "<none>");
    f.line("ReclaimPolicy", &s(sc, "/reclaimPolicy"));
    f.line("VolumeBindingMode", &s(sc, "/volumeBindingMode"));
    f.out + &events_section(events, "StorageClass", &name)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_claim_in_use_names_its_pods() {
        let pvc = json!({"metadata": {"name": "data", "namespace": "default", "finalizers": ["kubernetes.io/pvc-protection"]},
            "spec": {"storageClassName": "local-path", "volumeName": "pvc-1", "volumeMode": "Filesystem"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}});
        let pods = [
            json!({"metadata": {"name": "web"}, "spec": {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}}),
            json!({"metadata": {"name": "other"}, "spec": {}}),
        ];
        let text = describe_claim(&pvc, &pods, &[]);
        assert!(text.contains("Status:        Bound\n"), "{text}");
        assert!(
            text.contains("Finalizers:    [kubernetes.io/pvc-protection]\n"),
            "{text}"
        );
        assert!(text.contains("Used By:       web\n"), "{text}");
        assert!(text.contains("Access Modes:  RWO\n"), "{text}");
    }

    #[test]
    fn a_volume_shows_its_node_affinity_and_source() {
        let pv = json!({"metadata": {"name": "pvc-1"}, "spec": {"hostPath": {"path": "/s/pvc-1", "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}}},
            "status": {"phase": "Released"}});
        let text = describe_volume(&pv, &[]);
        assert!(
            text.contains("    Term 0:        kubernetes.io/hostname in [n1]\n"),
            "{text}"
        );
        assert!(text.contains("    Path:          /s/pvc-1\n"), "{text}");
        assert!(text.contains("Status:          Released\n"), "{text}");
    }
}
