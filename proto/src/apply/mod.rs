//! Server-side apply and field management, as kube-apiserver does them with
//! structured-merge-diff: pure functions over `serde_json::Value`, no I/O.
//!
//! - `path.rs`, `set.rs`: field paths and sets, and their `FieldsV1` form.
//! - `fields.rs`: the fields an object sets, and what changed between two objects,
//!   walked with each kind's list types and keys. Those come from the one table of
//!   Kubernetes' struct tags, `patch/strategic/schema.rs`: a merge key makes a keyed
//!   list, a merged list of scalars a set, and the table adds where apply's tags say
//!   more (ports keyed by port and protocol, atomic selectors).
//! - `merge.rs`: the merge of an applied configuration into the live object.
//! - `managers.rs`: `metadata.managedFields`.
//!
//! [`record_update`] is what every other write does to `managedFields` (the writer
//! takes the fields it changed from everyone else); [`apply`] merges a configuration,
//! removes what its applier stopped setting and reports [`Conflicts`] with other
//! managers unless forced.

mod fields;
mod managers;
mod merge;
mod path;
mod set;
#[cfg(test)]
mod tests;

use serde_json::{json, Value};

pub use fields::{compare, field_set, Comparison};
pub use managers::{read as read_managed_fields, to_json as managed_fields_json};
pub use managers::{Entry, Manager, Operation};
pub use path::{display as display_path, Path, PathElement};
pub use set::Set;

use fields::At;

/// Why an apply (or the bookkeeping of an update) was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// The object or configuration does not fit the kind's schema (422).
    #[error("{0}")]
    Invalid(String),
    /// A malformed request (400).
    #[error("{0}")]
    Malformed(String),
    /// Fields other managers own would change (409).
    #[error("{}", .0.message())]
    Conflicts(Conflicts),
}

/// One field another manager owns, that an apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The owner as kube-apiserver names it (`"kubectl"`, `"kubectl-edit" using apps/v1`).
    pub manager: String,
    pub path: Path,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflicts(pub Vec<Conflict>);

impl Conflicts {
    /// kube-apiserver's message: `Apply failed with 1 conflict: conflict with "x": .spec.replicas`.
    pub fn message(&self) -> String {
        if let [one] = self.0.as_slice() {
            return format!(
                "Apply failed with 1 conflict: conflict with {}: {}",
                one.manager,
                display_path(&one.path)
            );
        }
        let mut managers: Vec<&str> = self.0.iter().map(|c| c.manager.as_str()).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for manager in managers {
            lines.push(format!("conflicts with {manager}:"));
            for c in self.0.iter().filter(|c| c.manager == manager) {
                lines.push(format!("- {}", display_path(&c.path)));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            self.0.len(),
            lines.join("\n")
        )
    }

    /// The `Status` causes, one per conflict.
    pub fn causes(&self) -> Vec<Value> {
        self.0
            .iter()
            .map(|c| {
                json!({
                    "type": "FieldManagerConflict",
                    "message": format!("conflict with {}", c.manager),
                    "field": display_path(&c.path),
                })
            })
            .collect()
    }
}

/// Metadata no manager owns (kube-apiserver's `stripMetaManager`).
const STRIPPED_METADATA: [&str; 9] = [
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "clusterName",
    "generation",
    "managedFields",
    "resourceVersion",
];

/// What a writer can own through its part of the object: `status` only through the
/// `status` subresource, everything else only through the object itself; never what
/// the server sets.
fn scoped(set: &Set, manager: &Manager) -> Set {
    let status = PathElement::field("status");
    let mut out = if manager.subresource == "status" {
        set.only_child(&status)
    } else {
        set.without_child(&status)
    };
    let mut strip = Set::new();
    strip.insert(&[PathElement::field("apiVersion")]);
    strip.insert(&[PathElement::field("kind")]);
    strip.insert(&[PathElement::field("metadata")]);
    for field in STRIPPED_METADATA {
        strip.insert(&[PathElement::field("metadata"), PathElement::field(field)]);
    }
    out = out.difference(&strip);
    let managed = [
        PathElement::field("metadata"),
        PathElement::field("managedFields"),
    ];
    match out.below(&managed) {
        Some(_) => {
            let mut rest = Set::new();
            for path in out.paths() {
                if !path.starts_with(&managed) {
                    rest.insert(&path);
                }
            }
            rest
        }
        None => out,
    }
}

fn scoped_comparison(c: Comparison, manager: &Manager) -> Comparison {
    Comparison {
        added: scoped(&c.added, manager),
        modified: scoped(&c.modified, manager),
        removed: scoped(&c.removed, manager),
    }
}

/// `value` without `metadata.managedFields` (an empty object for none).
fn without_managed_fields(value: Option<&Value>) -> Value {
    let mut out = value.cloned().unwrap_or_else(|| json!({}));
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    out
}

fn put_managed_fields(value: &mut Value, entries: &[Entry]) {
    if !value.is_object() {
        return;
    }
    let meta = value
        .as_object_mut()
        .expect("an object")
        .entry("metadata")
        .or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), managers::to_json(entries));
        }
    }
}

/// Records in `new`'s `managedFields` that `manager` updated `old` (`None` for a
/// create) into `new`, an object of `kind`: it owns what it added or changed, which no
/// one else owns any more, and nobody owns what it removed. The entries start from
/// `new`'s own `managedFields` when it carries some (a client may reset them), else
/// from `old`'s. `now`: RFC 3339 in seconds.
pub fn record_update(
    kind: &str,
    old: Option<&Value>,
    new: &mut Value,
    manager: &Manager,
    now: &str,
) -> Result<(), ApplyError> {
    let given = new
        .pointer("/metadata/managedFields")
        .filter(|v| !v.is_null())
        .is_some();
    let mut entries = match (given, old) {
        (true, _) => managers::read(new)?,
        (false, Some(old)) => managers::read(old)?,
        (false, None) => Vec::new(),
    };
    let old0 = without_managed_fields(old);
    let new0 = without_managed_fields(Some(new));
    let cmp = scoped_comparison(compare(kind, &old0, &new0)?, manager);
    let changed = cmp.modified.union(&cmp.added);
    for entry in entries.iter_mut() {
        if !managers::is_own(entry, manager) {
            entry.fields = entry.fields.difference(&changed).difference(&cmp.removed);
        }
    }
    entries.retain(|e| !e.fields.is_empty() || managers::is_own(e, manager));
    // An updater owns the leaves and items it set, not the maps around them.
    let set_now = field_set(kind, &new0)?;
    let mine = managers::owned_by(&entries, manager)
        .difference(&cmp.removed)
        .union(&changed.intersection(&set_now));
    managers::set_entry(&mut entries, manager, scoped(&mine, manager), now);
    put_managed_fields(new, &entries);
    Ok(())
}

/// Applies `config` (an applied configuration of `kind`) as `manager` to `live` (`None`:
/// create on apply): the merged object with its new `managedFields`. Fields `manager`
/// applied before and no longer sets are removed unless someone else owns them. A
/// field another manager owns that the apply changes is a conflict, unless `force`,
/// which takes it over.
pub fn apply(
    kind: &str,
    live: Option<&Value>,
    config: &Value,
    manager: &Manager,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApplyError::Malformed(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let mut entries = match live {
        Some(live) => managers::read(live)?,
        None => Vec::new(),
    };
    let live0 = without_managed_fields(live);
    let config0 = without_managed_fields(Some(config));
    let root = At::root(kind);
    let mut merged = merge::merge(&live0, &config0, root)?;
    let applied = scoped(&field_set(kind, &config0)?, manager);
    let last = managers::owned_by(&entries, manager);
    managers::set_entry(&mut entries, manager, applied, now);
    let owned = entries
        .iter()
        .fold(Set::new(), |all, e| all.union(&e.fields));
    for path in last.difference(&owned).paths() {
        if owned.below(&path).is_none() {
            merge::remove(&mut merged, &path, root)?;
        }
    }
    let cmp = scoped_comparison(compare(kind, &live0, &merged)?, manager);
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts = Vec::new();
    for entry in entries.iter().filter(|e| !managers::is_own(e, manager)) {
        for path in entry.fields.intersection(&changed).paths() {
            conflicts.push(Conflict {
                manager: entry.describe(),
                path,
            });
        }
    }
    if !force && !conflicts.is_empty() {
        return Err(ApplyError::Conflicts(Conflicts(conflicts)));
    }
    for entry in entries.iter_mut() {
        if !managers::is_own(entry, manager) {
            entry.fields = entry.fields.difference(&changed).difference(&cmp.removed);
        }
    }
    entries.retain(|e| !e.fields.is_empty());
    put_managed_fields(&mut merged, &entries);
    Ok(merged)
}

/// Drops from `value`'s `managedFields` the fields `value` does not have (ones the
/// server dropped after the merge, such as unknown fields under `fieldValidation=Warn`).
pub fn forget_missing(kind: &str, value: &mut Value) -> Result<(), ApplyError> {
    let mut entries = managers::read(value)?;
    let present = field_set(kind, &without_managed_fields(Some(value)))?;
    for entry in entries.iter_mut() {
        entry.fields = entry.fields.intersection(&present);
    }
    entries.retain(|e| !e.fields.is_empty());
    put_managed_fields(value, &entries);
    Ok(())
}
