//! kubectl's taint rules, applied on the client side before the Node is written: specs
//! checked (keys, values, effects, no duplicates), `--overwrite` for a key and effect the
//! node has, removal by key (every effect) or key and effect, and the word kubectl
//! prints for what happened.

use anyhow::bail;
use k8s_openapi::api::core::v1::Taint;
use skiff_proto::model::{validate_label_value, validate_qualified_name, ValidationError};

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

/// The request's own rules: something to do, valid keys, values and effects, no taint
/// added twice.
pub fn check(add: &[Taint], remove: &[Taint]) -> anyhow::Result<()> {
    if add.is_empty() && remove.is_empty() {
        bail!("at least one taint update is required");
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
            bail!(
                "invalid taint effect: {}, unsupported taint effect",
                taint.effect
            );
        }
    }
    ValidationError::check(errors)?;
    for (i, taint) in add.iter().enumerate() {
        if add[..i].iter().any(|t| same(t, taint)) {
            bail!(
                "duplicated taints with the same key and effect: {}",
                spec_of(taint)
            );
        }
    }
    Ok(())
}

/// The node's taints after the change, and what kubectl calls the change.
pub fn retaint(
    node: &str,
    old: &[Taint],
    add: &[Taint],
    remove: &[Taint],
    overwrite: bool,
) -> anyhow::Result<(Vec<Taint>, TaintOperation)> {
    if !overwrite {
        let existing: Vec<&str> = add
            .iter()
            .filter(|t| old.iter().any(|o| same(o, t)))
            .map(|t| t.key.as_str())
            .collect();
        if !existing.is_empty() {
            bail!(
                "node {node} already has {} taint(s) with same effect(s) and --overwrite is false",
                existing.join(",")
            );
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
        bail!("{}", missing.join(", "));
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
