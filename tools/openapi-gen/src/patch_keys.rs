//! The strategic-merge-patch extensions k8s-openapi leaves out: which lists merge by a
//! key (`x-kubernetes-patch-merge-key`) and how (`x-kubernetes-patch-strategy`). They
//! come from the patch engine's own table of Kubernetes' struct tags
//! (`proto/src/patch/strategic/schema.rs`), so what kubectl reads here is what the
//! server merges by. kubectl computes client-side apply patches from them.

use serde_json::Value;

use crate::tags::{self, Strategy, Type};
use crate::Schemas;

/// Annotates the schemas reached from each kind's schema (`(kind, schema name)`).
pub fn annotate(schemas: &mut Schemas, kinds: &[(&str, String)]) {
    for (kind, name) in kinds {
        if let Some(ty) = tags::kind(kind) {
            walk(schemas, name, ty);
        }
    }
}

fn walk(schemas: &mut Schemas, name: &str, ty: &'static Type) {
    for field in ty.fields {
        let Some(Value::Object(prop)) = schemas
            .get_mut(name)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(field.name))
        else {
            continue;
        };
        if let Some(strategy) = strategy(&field.strategy) {
            if let Some(key) = field.strategy.merge_key {
                prop.insert("x-kubernetes-patch-merge-key".into(), key.into());
            }
            prop.insert("x-kubernetes-patch-strategy".into(), strategy.into());
        }
        let target = referenced(&Value::Object(prop.clone()));
        if let (Some(inner), Some(target)) = (field.ty, target) {
            walk(schemas, &target, inner);
        }
    }
}

/// The tag's text: "merge", "retainKeys" or "merge,retainKeys".
fn strategy(s: &Strategy) -> Option<&'static str> {
    match (s.merge, s.retain_keys) {
        (true, true) => Some("merge,retainKeys"),
        (true, false) => Some("merge"),
        (false, true) => Some("retainKeys"),
        (false, false) => None,
    }
}

/// The schema a property holds, or its list's items hold.
fn referenced(prop: &Value) -> Option<String> {
    let of = |v: &Value| {
        v.get("$ref")
            .or_else(|| {
                v.get("allOf")
                    .and_then(|a| a.get(0))
                    .and_then(|r| r.get("$ref"))
            })
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .map(str::to_string)
    };
    of(prop).or_else(|| prop.get("items").and_then(of))
}
