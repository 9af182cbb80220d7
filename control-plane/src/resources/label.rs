//! Label: `skiff label KIND NAME k=v k2-`, with kubectl's rules: `k=v` sets, `k-`
//! removes, and changing an existing value needs `--overwrite`.

use std::collections::BTreeMap;

use super::served::Object as WireObject;
use serde_json::Value;
use skiff_proto::model::{validate_label_value, validate_qualified_name, ValidationError};
use tracing::info;

use super::objects;
use super::write::edit;
use crate::core::{Clock, Error, Kind, Ranges};
use crate::store::Store;

/// One `k=v` (set) or `k-` (remove).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Set(String, String),
    Remove(String),
}

fn parse(changes: &[String]) -> Result<Vec<Change>, Error> {
    if changes.is_empty() {
        return Err(Error::Invalid(
            "at least one label update is required (k=v sets, k- removes)".into(),
        ));
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
            return Err(Error::Invalid(format!(
                "invalid label update {text:?}: use key=value to set or key- to remove"
            )));
        };
        let (Change::Set(key, _) | Change::Remove(key)) = &change;
        errors.extend(validate_qualified_name("metadata.labels", key));
        parsed.push(change);
    }
    ValidationError::check(errors).map_err(|e| Error::Invalid(e.to_string()))?;
    for change in &parsed {
        if let Change::Set(key, _) = change {
            if parsed.contains(&Change::Remove(key.clone())) {
                return Err(Error::Invalid(format!(
                    "can not both modify and remove label {key:?} in the same command"
                )));
            }
        }
    }
    Ok(parsed)
}

/// Applies label changes to the object and returns it, through the write pipeline
/// (`write.rs`): a conflict re-reads and re-checks the rules. Nothing is written when
/// the labels are already as asked.
// The request's fields plus the write pipeline's clock and ranges, as the other verbs.
#[allow(clippy::too_many_arguments)]
pub async fn label(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    kind: &str,
    namespace: &str,
    name: &str,
    changes: &[String],
    overwrite: bool,
) -> Result<WireObject, Error> {
    let kind = Kind::resolve(kind)?;
    let changes = parse(changes)?;
    let key = kind.key(namespace, name);
    let object = edit(store, clock, ranges, &key, None, |value, _| {
        let before = objects::labels_of(value);
        let after = relabel(&before, &changes, overwrite)?;
        if after == before {
            return Ok(false);
        }
        let labels: serde_json::Map<String, Value> = after
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        objects::metadata_mut(value).insert("labels".into(), Value::Object(labels));
        Ok(true)
    })
    .await?;
    info!(object = %key, "labelled");
    Ok(object)
}

fn relabel(
    labels: &BTreeMap<String, String>,
    changes: &[Change],
    overwrite: bool,
) -> Result<BTreeMap<String, String>, Error> {
    let mut labels = labels.clone();
    for change in changes {
        match change {
            Change::Set(key, value) => {
                if let Some(current) = labels.get(key).filter(|current| *current != value) {
                    if !overwrite {
                        return Err(Error::FailedPrecondition(format!(
                            "{key:?} already has a value ({current}), and --overwrite is false"
                        )));
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
}
