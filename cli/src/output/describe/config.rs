//! `describe configmap|secret`, in kubectl's layout: a ConfigMap's values, a Secret's
//! sizes only (never its values, nor the last-applied annotation that may hold them).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use super::workloads::{annotations, lines};
use crate::output::tables::s;

const INDENT: usize = 14;

fn header(out: &mut String, o: &Value) {
    let labels: Option<BTreeMap<String, String>> =
        serde_json::from_value(o["metadata"]["labels"].clone()).ok();
    let _ = writeln!(out, "Name:         {}", s(o, "/metadata/name"));
    let _ = writeln!(out, "Namespace:    {}", s(o, "/metadata/namespace"));
    let _ = writeln!(out, "Labels:       {}", lines(labels.as_ref(), "=", INDENT));
    let _ = writeln!(out, "Annotations:  {}", annotations(o, INDENT));
}

fn entries(o: &Value, field: &str) -> Vec<(String, Value)> {
    o[field]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

pub fn describe_config_map(cm: &Value) -> String {
    let mut out = String::new();
    header(&mut out, cm);
    out.push_str("\nData\n====\n");
    for (key, value) in entries(cm, "data") {
        let _ = writeln!(
            out,
            "{key}:\n----\n{}\n",
            value.as_str().unwrap_or_default()
        );
    }
    out.push_str("\nBinaryData\n====\n");
    for (key, value) in entries(cm, "binaryData") {
        let _ = writeln!(out, "{key}: {} bytes", decoded_len(&value));
    }
    out.push('\n');
    out
}

pub fn describe_secret(secret: &Value) -> String {
    let mut out = String::new();
    header(&mut out, secret);
    let _ = writeln!(out, "\nType:  {}\n\nData\n====", s(secret, "/type"));
    for (key, value) in entries(secret, "data") {
        let _ = writeln!(out, "{key}:  {} bytes", decoded_len(&value));
    }
    out
}

/// The length of what a base64 value decodes to.
fn decoded_len(value: &Value) -> usize {
    let text = value.as_str().unwrap_or_default().trim_end_matches('=');
    text.len() * 3 / 4
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_show_sizes_and_config_maps_values() {
        let secret = json!({
            "metadata": {"name": "db", "namespace": "default", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"stringData\":{\"pw\":\"hunter2\"}}"}},
            "type": "Opaque",
            "data": {"pw": "aHVudGVyMg==", "user": "YWRtaW4="},
        });
        let text = describe_secret(&secret);
        assert!(text.contains("Type:  Opaque"), "{text}");
        assert!(text.contains("pw:  7 bytes\nuser:  5 bytes"), "{text}");
        assert!(text.contains("Annotations:  <none>"), "{text}");
        assert!(
            !text.contains("hunter2") && !text.contains("aHVudGVyMg"),
            "{text}"
        );

        let cm = json!({"metadata": {"name": "c", "namespace": "default", "labels": {"app": "x"}},
            "data": {"game.properties": "lives=3"}});
        let text = describe_config_map(&cm);
        assert!(text.contains("Labels:       app=x"), "{text}");
        assert!(text.contains("game.properties:\n----\nlives=3\n"), "{text}");
    }
}
