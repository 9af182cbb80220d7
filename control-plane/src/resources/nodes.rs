//! Cordon and Taint: edits of a Node's spec with kubectl's rules, through the write
//! pipeline every update takes (`write.rs`), so a conflict with the agent's status
//! writes re-reads and re-checks.
//!
//! Taints as kubectl's `taint` edits them: an added taint replaces one with the same key
//! and effect only with `overwrite`; a removal names a key and effect, or only a key
//! (every effect), and must find something. A NoExecute taint gets `timeAdded`, which the
//! taint eviction (`controllers/nodes/lifecycle/taints.rs`) counts tolerationSeconds from.

use k8s_openapi::api::core::v1::Taint;
use serde_json::Value;
use skiff_proto::model::{validate_label_value, validate_qualified_name, ValidationError};
use tracing::info;

use super::served::Object as WireObject;
use super::write::edit;
use crate::core::{Clock, Error, Ranges};
use crate::store::{Key, Store};

/// The effects a taint may have.
pub const EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// What `taint` did, in kubectl's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaintOperation {
    Tainted,
    Untainted,
    Modified,
}

impl TaintOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            TaintOperation::Tainted => "tainted",
            TaintOperation::Untainted => "untainted",
            TaintOperation::Modified => "modified",
        }
    }
}

fn node_key(name: &str) -> Key {
    Key::new("Node", "", name)
}

/// Sets `spec.unschedulable`; returns the node and whether it changed (false: "already
/// cordoned" / "already uncordoned").
pub async fn cordon(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    name: &str,
    unschedulable: bool,
) -> Result<(WireObject, bool), Error> {
    let key = node_key(name);
    let mut changed = false;
    let object = edit(store, clock, ranges, &key, None, |value, _| {
        let current = value
            .pointer("/spec/unschedulable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        changed = current != unschedulable;
        if !changed {
            return Ok(false);
        }
        let spec = spec_mut(value);
        if unschedulable {
            spec.insert("unschedulable".into(), Value::Bool(true));
        } else {
            spec.remove("unschedulable");
        }
        Ok(true)
    })
    .await?;
    if changed {
        info!(node = %name, unschedulable, "node cordon changed");
    }
    Ok((object, changed))
}

/// Adds and removes taints of a node (see the module docs).
pub async fn taint(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    name: &str,
    add: &[Taint],
    remove: &[Taint],
    overwrite: bool,
) -> Result<(WireObject, TaintOperation), Error> {
    check(add, remove)?;
    let key = node_key(name);
    let mut operation = TaintOperation::Untainted;
    let now = clock.now_seconds().to_string();
    let object = edit(store, clock, ranges, &key, None, |value, _| {
        let old: Vec<Taint> = match value.pointer("/spec/taints") {
            Some(taints) => serde_json::from_value(taints.clone())
                .map_err(|e| Error::Internal(format!("{key} has unreadable taints: {e}")))?,
            None => Vec::new(),
        };
        let (mut taints, op) = retaint(name, &old, add, remove, overwrite)?;
        operation = op;
        for taint in &mut taints {
            if taint.effect == "NoExecute" && taint.time_added.is_none() {
                let kept = old
                    .iter()
                    .find(|o| same(o, taint) && o.value == taint.value);
                taint.time_added = match kept {
                    Some(kept) => kept.time_added.clone(),
                    None => serde_json::from_value(Value::String(now.clone())).ok(),
                };
            }
        }
        if taints == old {
            return Ok(false);
        }
        let spec = spec_mut(value);
        if taints.is_empty() {
            spec.remove("taints");
        } else {
            let taints = serde_json::to_value(&taints)
                .map_err(|e| Error::Internal(format!("taints of {key}: {e}")))?;
            spec.insert("taints".into(), taints);
        }
        Ok(true)
    })
    .await?;
    info!(node = %name, operation = operation.as_str(), "node taints changed");
    Ok((object, operation))
}

/// The request's own rules: something to do, valid keys, values and effects, no taint
/// added twice.
fn check(add: &[Taint], remove: &[Taint]) -> Result<(), Error> {
    if add.is_empty() && remove.is_empty() {
        return Err(Error::Invalid(
            "at least one taint update is required".into(),
        ));
    }
    let mut errors = Vec::new();
    for (i, taint) in add.iter().chain(remove).enumerate() {
        let path = format!("spec.taints[{i}]");
        errors.extend(validate_qualified_name(&format!("{path}.key"), &taint.key));
        if let Some(value) = taint.value.as_deref() {
            errors.extend(validate_label_value(&format!("{path}.value"), value));
        }
        let adding = i < add.len();
        if (adding || !taint.effect.is_empty()) && !EFFECTS.contains(&taint.effect.as_str()) {
            return Err(Error::Invalid(format!(
                "invalid taint effect: {}, unsupported taint effect",
                taint.effect
            )));
        }
    }
    ValidationError::check(errors).map_err(|e| Error::Invalid(e.to_string()))?;
    for (i, taint) in add.iter().enumerate() {
        if add[..i].iter().any(|t| same(t, taint)) {
            return Err(Error::Invalid(format!(
                "duplicated taints with the same key and effect: {}",
                spec_of(taint)
            )));
        }
    }
    Ok(())
}

/// The node's taints after the change, and what kubectl calls the change.
fn retaint(
    node: &str,
    old: &[Taint],
    add: &[Taint],
    remove: &[Taint],
    overwrite: bool,
) -> Result<(Vec<Taint>, TaintOperation), Error> {
    if !overwrite {
        let existing: Vec<&str> = add
            .iter()
            .filter(|t| old.iter().any(|o| same(o, t)))
            .map(|t| t.key.as_str())
            .collect();
        if !existing.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "node {node} already has {} taint(s) with same effect(s) and --overwrite is false",
                existing.join(",")
            )));
        }
    }
    let mut taints: Vec<Taint> = old
        .iter()
        .filter(|o| !add.iter().any(|t| same(o, t)))
        .cloned()
        .collect();
    let added = !add.is_empty();
    taints.extend(add.iter().cloned());
    let mut missing = Vec::new();
    for removal in remove {
        let before = taints.len();
        taints.retain(|t| {
            t.key != removal.key || (!removal.effect.is_empty() && t.effect != removal.effect)
        });
        if taints.len() == before {
            missing.push(format!("taint {:?} not found", spec_of(removal)));
        }
    }
    if !missing.is_empty() {
        return Err(Error::NotFound(missing.join(", ")));
    }
    let operation = if (added && !remove.is_empty()) || overwrite {
        TaintOperation::Modified
    } else if added {
        TaintOperation::Tainted
    } else {
        TaintOperation::Untainted
    };
    Ok((taints, operation))
}

/// Same key and effect: the identity of a taint on a node.
fn same(a: &Taint, b: &Taint) -> bool {
    a.key == b.key && a.effect == b.effect
}

/// `key=value:Effect`, `key:Effect` or `key`, as kubectl writes a taint.
pub fn spec_of(taint: &Taint) -> String {
    let mut text = taint.key.clone();
    if let Some(value) = taint.value.as_deref().filter(|v| !v.is_empty()) {
        text.push('=');
        text.push_str(value);
    }
    if !taint.effect.is_empty() {
        text.push(':');
        text.push_str(&taint.effect);
    }
    text
}

fn spec_mut(value: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !value.get("spec").is_some_and(Value::is_object) {
        value["spec"] = Value::Object(Default::default());
    }
    value["spec"]
        .as_object_mut()
        .expect("spec was just made an object")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: (!value.is_empty()).then(|| value.into()),
            effect: effect.into(),
            ..Default::default()
        }
    }

    #[test]
    fn adding_an_existing_key_and_effect_needs_overwrite() {
        let old = [taint("dedicated", "a", "NoSchedule")];
        let add = [taint("dedicated", "b", "NoSchedule")];
        let err = retaint("n1", &old, &add, &[], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "node n1 already has dedicated taint(s) with same effect(s) and --overwrite is false"
        );
        let (taints, op) = retaint("n1", &old, &add, &[], true).unwrap();
        assert_eq!(taints, add);
        assert_eq!(op, TaintOperation::Modified);
        // Another effect is another taint.
        let other = [taint("dedicated", "a", "NoExecute")];
        let (taints, op) = retaint("n1", &old, &other, &[], false).unwrap();
        assert_eq!(taints.len(), 2);
        assert_eq!(op, TaintOperation::Tainted);
    }

    #[test]
    fn removal_by_key_takes_every_effect_and_must_find_one() {
        let old = [
            taint("k", "", "NoSchedule"),
            taint("k", "", "NoExecute"),
            taint("x", "1", "NoSchedule"),
        ];
        let (taints, op) = retaint("n1", &old, &[], &[taint("k", "", "")], false).unwrap();
        assert_eq!(taints, [taint("x", "1", "NoSchedule")]);
        assert_eq!(op, TaintOperation::Untainted);
        let (taints, _) = retaint("n1", &old, &[], &[taint("k", "", "NoExecute")], false).unwrap();
        assert_eq!(taints.len(), 2);
        let err = retaint("n1", &old, &[], &[taint("y", "", "NoSchedule")], false).unwrap_err();
        assert!(
            err.to_string().contains("taint \"y:NoSchedule\" not found"),
            "{err}"
        );
    }

    #[test]
    fn requests_are_checked_like_kubectl() {
        let err = check(&[taint("k", "v", "Sometimes")], &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid taint effect: Sometimes, unsupported taint effect"),
            "{err}"
        );
        assert!(check(&[taint("bad key", "v", "NoSchedule")], &[]).is_err());
        assert!(check(&[], &[]).is_err());
        let twice = [taint("k", "1", "NoSchedule"), taint("k", "2", "NoSchedule")];
        assert!(check(&twice, &[]).is_err());
        assert!(check(&[], &[taint("k", "", "")]).is_ok());
    }
}
