//! Reading an object's JSON the way the printers need it, and the label formats they
//! print (`labels.FormatLabels`, `metav1.FormatLabelSelector`).

use std::collections::BTreeMap;

use serde_json::Value;

/// The string at a JSON pointer; "" when absent or null, other values in JSON.
pub fn text(o: &Value, ptr: &str) -> String {
    match o.pointer(ptr) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// The integer at a JSON pointer, 0 when absent.
pub fn int(o: &Value, ptr: &str) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// The elements of the array at a JSON pointer (none when it is not one).
pub fn items<'a>(o: &'a Value, ptr: &str) -> impl Iterator<Item = &'a Value> {
    o.pointer(ptr)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// How many entries the array or map at a JSON pointer has.
pub fn len(o: &Value, ptr: &str) -> i64 {
    let n = match o.pointer(ptr) {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(m)) => m.len(),
        _ => 0,
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Whether the field at a JSON pointer is set (present and not null).
pub fn is_set(o: &Value, ptr: &str) -> bool {
    o.pointer(ptr).is_some_and(|v| !v.is_null())
}

/// `v`, or `default` when it is empty.
pub fn or(v: String, default: &str) -> String {
    if v.is_empty() {
        default.into()
    } else {
        v
    }
}

/// CONTAINERS and IMAGES of a pod spec (at `spec`): names and images, comma-separated.
pub fn containers(o: &Value, spec: &str) -> [Value; 2] {
    let containers: Vec<&Value> = items(o, &format!("{spec}/containers")).collect();
    let join = |field: &str| {
        containers
            .iter()
            .map(|c| text(c, field))
            .collect::<Vec<_>>()
            .join(",")
    };
    [join("/name").into(), join("/image").into()]
}

/// `k=v,...` sorted by key, or `<none>`: Kubernetes' `labels.FormatLabels`.
pub fn format_labels(map: &Value) -> String {
    let pairs: BTreeMap<&str, &str> = map
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
        .collect();
    let text = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    or(text, "<none>")
}

/// A label selector as `labels.Selector.String()` writes it: requirements sorted by key,
/// `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`. `None` when it is not valid; "" when it
/// selects everything or nothing (absent).
pub fn selector_string(selector: &Value) -> Option<String> {
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            requirements.push((k.clone(), format!("{k}={}", v.as_str()?)));
        }
    }
    for e in items(selector, "/matchExpressions") {
        let key = e.get("key")?.as_str()?;
        let mut values: Vec<&str> = items(e, "/values").filter_map(Value::as_str).collect();
        values.sort_unstable();
        values.dedup();
        let text = match e.get("operator")?.as_str()? {
            "In" if !values.is_empty() => format!("{key} in ({})", values.join(",")),
            "NotIn" if !values.is_empty() => format!("{key} notin ({})", values.join(",")),
            "Exists" if values.is_empty() => key.to_string(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return None,
        };
        requirements.push((key.to_string(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    let texts: Vec<String> = requirements.into_iter().map(|(_, t)| t).collect();
    Some(texts.join(","))
}

/// `metav1.FormatLabelSelector`: the selector's text, `<none>` for an empty or absent
/// one, `<error>` for one that is not valid.
pub fn format_label_selector(selector: &Value) -> String {
    match selector_string(selector) {
        Some(text) => or(text, "<none>"),
        None => "<error>".into(),
    }
}
