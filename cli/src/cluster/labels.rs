//! `label KIND NAME k=v k2-` as kubectl does it on the client side: `k=v` sets, `k-`
//! removes, and changing an existing value needs `--overwrite`; the labels are then
//! written with the object's resourceVersion (`Cluster::edit`).

use std::collections::BTreeMap;

use anyhow::bail;
use serde_json::Value;
use skiff_proto::model::{validate_label_value, validate_qualified_name, ValidationError};

use super::Api;
use crate::args::Scope;
use crate::kinds::{self, ref_name};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Set(String, String),
    Remove(String),
}

pub async fn label(
    api: &mut Api,
    kind: &str,
    name: &str,
    labels: &[String],
    overwrite: bool,
    scope: &Scope,
) -> anyhow::Result<()> {
    let kind = kinds::resolve(kind)?;
    let changes = parse(labels)?;
    api.edit(&kind, &scope.namespace, name, |object| {
        let before = labels_of(object);
        let after = relabel(&before, &changes, overwrite)?;
        if after == before {
            return Ok(false);
        }
        let labels = after
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        object["metadata"]["labels"] = Value::Object(labels);
        Ok(true)
    })
    .await?;
    println!("{} labeled", ref_name(kind.kind, name));
    Ok(())
}

fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

fn parse(changes: &[String]) -> anyhow::Result<Vec<Change>> {
    if changes.is_empty() {
        bail!("at least one label update is required (key=value or key-)");
    }
    let mut parsed = Vec::with_capacity(changes.len());
    let mut errors = Vec::new();
    for text in changes {
        let change = if let Some((key, value)) = text.split_once('=') {
            errors.extend(validate_label_value("metadata.labels", value));
            Change::Set(key.to_string(), value.to_string())
        } else if let Some(key) = text.strip_suffix('-') {
            Change::Remove(key.to_string())
        } else {
            bail!("invalid label update {text:?}: use key=value to set or key- to remove");
        };
        let (Change::Set(key, _) | Change::Remove(key)) = &change;
        errors.extend(validate_qualified_name("metadata.labels", key));
        parsed.push(change);
    }
    ValidationError::check(errors)?;
    for change in &parsed {
        if let Change::Set(key, _) = change {
            if parsed.contains(&Change::Remove(key.clone())) {
                bail!("can not both modify and remove label {key:?} in the same command");
            }
        }
    }
    Ok(parsed)
}

fn relabel(
    labels: &BTreeMap<String, String>,
    changes: &[Change],
    overwrite: bool,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut labels = labels.clone();
    for change in changes {
        match change {
            Change::Set(key, value) => {
                if let Some(current) = labels.get(key).filter(|current| *current != value) {
                    if !overwrite {
                        bail!("{key:?} already has a value ({current}), and --overwrite is false");
                    }
                }
                labels.insert(key.clone(), value.clone());
            }
            Change::Remove(key) => {
                labels.remove(key);
            }
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn updates_parse_like_kubectl() {
        let parsed = parse(&strings(&["disktype=ssd", "old-"])).unwrap();
        assert_eq!(
            parsed,
            [
                Change::Set("disktype".into(), "ssd".into()),
                Change::Remove("old".into())
            ]
        );
        assert!(parse(&strings(&["justakey"])).is_err());
        assert!(parse(&strings(&["bad key=x"])).is_err());
        assert!(parse(&strings(&["k=v", "k-"])).is_err());
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn changing_a_value_needs_overwrite() {
        let current = BTreeMap::from([("tier".to_string(), "web".to_string())]);
        let change = [Change::Set("tier".into(), "db".into())];
        let err = relabel(&current, &change, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"tier\" already has a value (web), and --overwrite is false"
        );
        assert_eq!(relabel(&current, &change, true).unwrap()["tier"], "db");
        let same = [Change::Set("tier".into(), "web".into())];
        assert_eq!(relabel(&current, &same, false).unwrap(), current);
    }
}
