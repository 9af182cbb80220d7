//! `metadata.managedFields`: who owns which fields, read and written as kube-apiserver
//! keeps them (apimachinery `managedfields/internal`): one entry per manager, operation
//! (`Apply` or `Update`), subresource and, for updaters, API version; sorted by
//! operation, time, manager, version and subresource.

use serde_json::{json, Map, Value};

use super::set::Set;
use super::ApplyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who writes: a manager's name, how and through which part of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manager {
    pub name: String,
    pub operation: Operation,
    pub api_version: String,
    /// `""` for the object itself, `"status"`, `"scale"`.
    pub subresource: String,
}

impl Manager {
    /// kube-apiserver's manager identifier: appliers are one manager whatever version
    /// they applied with; updaters are one per version.
    fn same(&self, entry: &Entry) -> bool {
        entry.manager == self.name
            && entry.operation == self.operation
            && entry.subresource == self.subresource
            && (self.operation == Operation::Apply || entry.api_version == self.api_version)
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: String,
    pub fields: Set,
}

impl Entry {
    /// As a conflict names it: `"kubectl"` for an applier, `"kubectl-edit" using apps/v1`
    /// for an updater (kube-apiserver's `printManager`; the time is not part of a
    /// manager's identity, so it is never printed).
    pub fn describe(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            out.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }
}

/// The entries of an object's `metadata.managedFields` (none when absent).
pub fn read(object: &Value) -> Result<Vec<Entry>, ApplyError> {
    let Some(list) = object.pointer("/metadata/managedFields") else {
        return Ok(Vec::new());
    };
    let invalid = |m: String| ApplyError::Invalid(format!("metadata.managedFields: {m}"));
    let Some(list) = list.as_array() else {
        return if list.is_null() {
            Ok(Vec::new())
        } else {
            Err(invalid("must be a list".into()))
        };
    };
    let mut entries = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let text = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or_default();
        let operation = match text("operation") {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            other => {
                return Err(invalid(format!(
                    "[{i}].operation: Unsupported value: {other:?}: supported values: \"Apply\", \"Update\""
                )))
            }
        };
        if !matches!(text("fieldsType"), "FieldsV1" | "") {
            return Err(invalid(format!(
                "[{i}].fieldsType: Unsupported value: {:?}: supported values: \"FieldsV1\"",
                text("fieldsType")
            )));
        }
        let fields = match item.get("fieldsV1") {
            None | Some(Value::Null) => Set::new(),
            Some(v) => {
                Set::from_fields_v1(v).map_err(|e| invalid(format!("[{i}].fieldsV1: {e}")))?
            }
        };
        entries.push(Entry {
            manager: text("manager").to_string(),
            operation,
            api_version: text("apiVersion").to_string(),
            time: item.get("time").and_then(Value::as_str).map(String::from),
            subresource: text("subresource").to_string(),
            fields,
        });
    }
    Ok(entries)
}

/// The entries as `metadata.managedFields`, in kube-apiserver's order.
pub fn to_json(entries: &[Entry]) -> Value {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|p, q| {
        (
            p.operation,
            &p.time,
            &p.manager,
            &p.api_version,
            &p.subresource,
        )
            .cmp(&(
                q.operation,
                &q.time,
                &q.manager,
                &q.api_version,
                &q.subresource,
            ))
    });
    Value::Array(
        sorted
            .into_iter()
            .map(|e| {
                let mut out = Map::new();
                out.insert("manager".into(), Value::from(e.manager.as_str()));
                out.insert("operation".into(), Value::from(e.operation.as_str()));
                out.insert("apiVersion".into(), Value::from(e.api_version.as_str()));
                if let Some(time) = &e.time {
                    out.insert("time".into(), Value::from(time.as_str()));
                }
                out.insert("fieldsType".into(), json!("FieldsV1"));
                out.insert("fieldsV1".into(), e.fields.to_fields_v1());
                if !e.subresource.is_empty() {
                    out.insert("subresource".into(), Value::from(e.subresource.as_str()));
                }
                Value::Object(out)
            })
            .collect(),
    )
}

/// Sets `manager`'s entry to `fields` (dropping it when empty), with `now` as its time
/// when its fields changed (an unchanged entry keeps its time, so a no-op stays one).
pub(super) fn set_entry(entries: &mut Vec<Entry>, manager: &Manager, fields: Set, now: &str) {
    let at = entries.iter().position(|e| manager.same(e));
    match at {
        Some(i) if fields.is_empty() => {
            entries.remove(i);
        }
        Some(i) => {
            let entry = &mut entries[i];
            if entry.fields != fields || entry.api_version != manager.api_version {
                entry.fields = fields;
                entry.api_version = manager.api_version.clone();
                entry.time = Some(now.to_string());
            }
        }
        None if fields.is_empty() => {}
        None => entries.push(Entry {
            manager: manager.name.clone(),
            operation: manager.operation,
            api_version: manager.api_version.clone(),
            time: Some(now.to_string()),
            subresource: manager.subresource.clone(),
            fields,
        }),
    }
}

/// The fields `manager` owns now (empty when it has no entry).
pub(super) fn owned_by(entries: &[Entry], manager: &Manager) -> Set {
    entries
        .iter()
        .find(|e| manager.same(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default()
}

/// Whether `entry` is `manager`'s own.
pub(super) fn is_own(entry: &Entry, manager: &Manager) -> bool {
    manager.same(entry)
}
