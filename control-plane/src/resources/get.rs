//! Get and List: objects as stored, each with its resourceVersion.

use super::served::Object as WireObject;
use skiff_proto::selector::Selector;

use super::fields::FieldSelector;
use super::objects;
use crate::core::Error;
use crate::core::Kind;
use crate::store::{Store, Stored};

/// One object by kind, namespace ("" = "default" for namespaced kinds) and name.
pub async fn get(
    store: &dyn Store,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<WireObject, Error> {
    let kind = Kind::resolve(kind)?;
    let key = kind.key(namespace, name);
    match store.get(&key).await? {
        Some(stored) => objects::serve(&stored),
        None => Err(objects::not_found(&key)),
    }
}

/// Which objects a List or Watch wants.
#[derive(Debug, Clone)]
pub struct Scope {
    pub kind: Kind,
    /// `None`: every namespace (and always for cluster-scoped kinds).
    pub namespace: Option<String>,
    pub selector: Selector,
    /// Field selector terms (REST's `fieldSelector`); empty selects everything.
    pub fields: FieldSelector,
}

impl Scope {
    pub fn new(
        kind: &str,
        namespace: &str,
        all_namespaces: bool,
        selector: &str,
    ) -> Result<Scope, Error> {
        let kind = Kind::resolve(kind)?;
        let selector = Selector::parse(selector).map_err(|e| Error::Invalid(e.to_string()))?;
        let namespace =
            (kind.namespaced && !all_namespaces).then(|| kind.namespace_of(namespace).to_string());
        Ok(Scope {
            kind,
            namespace,
            selector,
            fields: FieldSelector::default(),
        })
    }

    /// The same scope, narrowed by a field selector (`spec.nodeName=n1`).
    pub fn with_fields(mut self, fields: &str) -> Result<Scope, Error> {
        self.fields = FieldSelector::parse(self.kind.name, fields)?;
        Ok(self)
    }

    /// Whether [`admits`](Self::admits) needs the object itself (a label or field
    /// selector), not only its namespace.
    pub fn reads_objects(&self) -> bool {
        self.selector != Selector::default() || !self.fields.is_empty()
    }

    /// [`admits`](Self::admits) for a stored object, decoding it only when a selector
    /// must look inside it.
    pub fn admits_stored(&self, stored: &Stored) -> Result<bool, Error> {
        let namespace = &stored.key.namespace;
        if self.namespace.as_deref().is_some_and(|ns| ns != namespace) {
            return Ok(false);
        }
        Ok(!self.reads_objects() || self.admits(namespace, &objects::parse(stored)?))
    }

    /// Whether an object of this kind in `namespace` with `value`'s labels is in scope.
    pub fn admits(&self, namespace: &str, value: &serde_json::Value) -> bool {
        self.namespace.as_deref().is_none_or(|ns| ns == namespace)
            && self.selector.matches(Some(&objects::labels_of(value)))
            && self.fields.matches(value)
    }
}

/// The objects in `scope`, sorted by namespace and name, and the revision the list is
/// consistent at (a Watch from it sees every later change).
pub async fn list(store: &dyn Store, scope: &Scope) -> Result<(Vec<WireObject>, i64), Error> {
    let (items, revision) = store
        .list(scope.kind.name, scope.namespace.as_deref())
        .await?;
    Ok((in_scope(scope, &items)?, revision))
}

/// The stored objects in `scope` as they were at `revision` (a paginated list's later
/// pages), selected as [`list_stored`] does; `Expired` once the store has compacted that
/// revision away.
pub async fn list_at(
    store: &dyn Store,
    scope: &Scope,
    revision: i64,
) -> Result<Vec<Stored>, Error> {
    let items = store
        .list_at(scope.kind.name, scope.namespace.as_deref(), revision)
        .await?;
    select(scope, items)
}

fn in_scope(scope: &Scope, items: &[Stored]) -> Result<Vec<WireObject>, Error> {
    let mut served = Vec::with_capacity(items.len());
    for stored in items {
        let value = objects::parse(stored)?;
        if scope.admits(&stored.key.namespace, &value) {
            served.push(objects::serve_value(stored, value));
        }
    }
    Ok(served)
}

/// The stored objects in `scope`, as [`list`] selects them, for a caller that encodes
/// them itself (a REST list copies their bytes): an object is decoded only when a
/// selector must look inside it, and dropped again at once.
pub async fn list_stored(store: &dyn Store, scope: &Scope) -> Result<(Vec<Stored>, i64), Error> {
    let (items, revision) = store
        .list(scope.kind.name, scope.namespace.as_deref())
        .await?;
    Ok((select(scope, items)?, revision))
}

/// The objects `scope` admits, decoded only when a selector must look inside them.
fn select(scope: &Scope, items: Vec<Stored>) -> Result<Vec<Stored>, Error> {
    if !scope.reads_objects() {
        return Ok(items);
    }
    let mut selected = Vec::with_capacity(items.len());
    for stored in items {
        if scope.admits_stored(&stored)? {
            selected.push(stored);
        }
    }
    Ok(selected)
}
