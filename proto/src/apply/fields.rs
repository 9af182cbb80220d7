//! The fields of an object (structured-merge-diff's `ToFieldSet`) and the difference of
//! two objects (`Compare`: added, modified, removed), walked with the kind's apply shapes
//! (`patch/strategic/schema.rs`: list types, list-map keys, atomic maps).

use serde_json::{Map, Value};

use super::path::{Path, PathElement};
use super::set::Set;
use super::ApplyError;
use crate::patch::strategic::{ApplyShape, Schema};

/// Where a walk is: the struct schema of the value and how apply treats it.
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    pub schema: Schema,
    pub shape: ApplyShape,
}

impl At {
    pub fn root(kind: &str) -> At {
        At {
            schema: Schema::of_kind(kind),
            shape: ApplyShape::Default,
        }
    }

    pub fn field(self, name: &str) -> At {
        let (schema, shape) = self.schema.apply_field(name);
        At { schema, shape }
    }

    /// An item of a map list: a granular struct.
    pub fn item(self) -> At {
        At {
            schema: self.schema,
            shape: ApplyShape::Default,
        }
    }
}

/// A list-map key field's value when an item leaves it out: the schema's default, as
/// structured-merge-diff takes it (a port's `protocol`).
fn key_default(field: &str) -> Option<Value> {
    (field == "protocol").then(|| Value::from("TCP"))
}

/// The key element of `item` in a list keyed by `keys`.
pub(super) fn item_key(item: &Value, keys: &[&str]) -> Result<PathElement, ApplyError> {
    let Value::Object(map) = item else {
        return Err(ApplyError::Invalid(
            "associative list with keys may not have non-map elements".into(),
        ));
    };
    let mut fields = Vec::new();
    let defaults: Vec<(String, Value)> = keys
        .iter()
        .filter(|k| !map.contains_key(**k))
        .filter_map(|k| key_default(k).map(|v| (k.to_string(), v)))
        .collect();
    for key in keys {
        match map.get(*key) {
            Some(v) => fields.push((key.to_string(), v)),
            None => match defaults.iter().find(|(name, _)| name == key) {
                Some((name, v)) => fields.push((name.clone(), v)),
                None => {
                    return Err(ApplyError::Invalid(format!(
                        "associative list with keys has an element that omits key field {key:?} (and doesn't have default value)"
                    )))
                }
            },
        }
    }
    Ok(PathElement::key(fields))
}

/// The fields `value` sets: its leaves, atomic values, empty maps and list items.
pub fn field_set(kind: &str, value: &Value) -> Result<Set, ApplyError> {
    let mut set = Set::new();
    walk(value, At::root(kind), &mut Vec::new(), &mut set)?;
    Ok(set)
}

fn walk(value: &Value, at: At, path: &mut Path, set: &mut Set) -> Result<(), ApplyError> {
    match (value, at.shape) {
        (_, ApplyShape::Atomic) => set.insert(path),
        (Value::Object(map), _) => {
            for (name, child) in map {
                path.push(PathElement::field(name));
                walk(child, at.field(name), path, set)?;
                if child.is_null() || child.as_object().is_some_and(Map::is_empty) {
                    set.insert(path);
                }
                path.pop();
            }
        }
        (Value::Array(items), ApplyShape::Set) => {
            for item in items {
                path.push(PathElement::value(item));
                set.insert(path);
                path.pop();
            }
        }
        (Value::Array(items), ApplyShape::Map(keys)) => {
            for item in items {
                path.push(item_key(item, keys)?);
                walk(item, at.item(), path, set)?;
                set.insert(path);
                path.pop();
            }
        }
        _ => set.insert(path),
    }
    Ok(())
}

/// What changed between two objects, as paths.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

/// Compares `old` with `new`, objects of `kind`.
pub fn compare(kind: &str, old: &Value, new: &Value) -> Result<Comparison, ApplyError> {
    let mut out = Comparison::default();
    diff(
        Some(old),
        Some(new),
        At::root(kind),
        &mut Vec::new(),
        &mut out,
    )?;
    Ok(out)
}

fn diff(
    old: Option<&Value>,
    new: Option<&Value>,
    at: At,
    path: &mut Path,
    out: &mut Comparison,
) -> Result<(), ApplyError> {
    match (old, new) {
        (None, None) => return Ok(()),
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        (Some(a), Some(b)) if at.shape == ApplyShape::Atomic || !same_type(a, b) => {
            if a != b {
                out.modified.insert(path);
            }
            return Ok(());
        }
        _ => {}
    }
    let present = new.or(old).expect("one side is present");
    if at.shape == ApplyShape::Atomic {
        return Ok(());
    }
    match present {
        Value::Object(_) => {
            let (a, b) = (
                old.and_then(Value::as_object),
                new.and_then(Value::as_object),
            );
            let mut names: Vec<&String> = a.into_iter().chain(b).flat_map(|m| m.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                path.push(PathElement::field(name));
                diff(
                    a.and_then(|m| m.get(name)),
                    b.and_then(|m| m.get(name)),
                    at.field(name),
                    path,
                    out,
                )?;
                path.pop();
            }
        }
        Value::Array(_) => match at.shape {
            ApplyShape::Set => {
                let items = |v: Option<&Value>| -> Vec<PathElement> {
                    v.and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(PathElement::value)
                        .collect()
                };
                let (a, b) = (items(old), items(new));
                for pe in b.iter().filter(|pe| !a.contains(pe)) {
                    path.push(pe.clone());
                    out.added.insert(path);
                    path.pop();
                }
                for pe in a.iter().filter(|pe| !b.contains(pe)) {
                    path.push(pe.clone());
                    out.removed.insert(path);
                    path.pop();
                }
            }
            ApplyShape::Map(keys) => {
                let a = keyed_items(old, keys)?;
                let b = keyed_items(new, keys)?;
                let mut pes: Vec<&PathElement> = a.iter().chain(&b).map(|(pe, _)| pe).collect();
                pes.sort();
                pes.dedup();
                for pe in pes {
                    let in_old = a.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
                    let in_new = b.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
                    path.push(pe.clone());
                    diff(in_old, in_new, at.item(), path, out)?;
                    path.pop();
                }
            }
            _ => {
                if old.is_some() && new.is_some() && old != new {
                    out.modified.insert(path);
                }
            }
        },
        _ => {
            if old.is_some() && new.is_some() && old != new {
                out.modified.insert(path);
            }
        }
    }
    Ok(())
}

fn same_type(a: &Value, b: &Value) -> bool {
    matches!(
        (a, b),
        (Value::Object(_), Value::Object(_)) | (Value::Array(_), Value::Array(_))
    ) || !(a.is_object() || a.is_array() || b.is_object() || b.is_array())
}

pub(super) fn keyed_items<'a>(
    list: Option<&'a Value>,
    keys: &[&str],
) -> Result<Vec<(PathElement, &'a Value)>, ApplyError> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|item| Ok((item_key(item, keys)?, item)))
        .collect()
}
