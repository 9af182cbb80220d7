//! `meta.k8s.io/v1` Table responses: what `kubectl get` asks for
//! (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`) and prints as it comes.
//! The columns and cells are `skiff_proto::printers`', the ones kube-apiserver's printers
//! compute; this file wraps them as kube-apiserver does:
//!
//! - a list: one row per object, the list's `resourceVersion` and `continue`;
//! - one object: a one-row Table with the object's `resourceVersion`;
//! - a watch: each event's object is a one-row Table, `columnDefinitions` only in the
//!   first one (kubectl keeps the columns it was given);
//! - `includeObject`: `Metadata` (the default: a `PartialObjectMetadata` per row, which
//!   kubectl reads namespaces and labels from), `Object` (the whole object) or `None`.

use serde_json::{json, Map, Value};
use skiff_proto::printers;

use super::route::Query;
use super::status::RestError;

/// The Table API version a client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableVersion {
    V1,
    V1Beta1,
}

impl TableVersion {
    fn api_version(self) -> &'static str {
        match self {
            TableVersion::V1 => "meta.k8s.io/v1",
            TableVersion::V1Beta1 => "meta.k8s.io/v1beta1",
        }
    }
}

/// Whether the `Accept` header asks for a Table, and of which version: the first media
/// type skiff can serve decides (JSON, as a Table or not); a Table of an unknown version
/// or in another encoding is passed over for the next one.
pub fn wants_table(accept: &str) -> Option<TableVersion> {
    for media in accept.split(',') {
        let mut parts = media.split(';').map(str::trim);
        let essence = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut params = Map::new();
        for param in parts {
            if let Some((k, v)) = param.split_once('=') {
                params.insert(
                    k.trim().to_ascii_lowercase(),
                    v.trim().trim_matches('"').into(),
                );
            }
        }
        let json = matches!(
            essence.as_str(),
            "application/json" | "application/*" | "*/*"
        );
        let param = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or_default();
        match (json, param("as")) {
            (true, "") => return None,
            (true, "Table") if param("g") == "meta.k8s.io" => match param("v") {
                "v1" => return Some(TableVersion::V1),
                "v1beta1" => return Some(TableVersion::V1Beta1),
                _ => continue,
            },
            _ => continue,
        }
    }
    None
}

/// What each row carries of its object (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

/// How to answer with Tables: the version asked for, `includeObject`, the kind.
#[derive(Debug, Clone)]
pub struct Tables {
    version: TableVersion,
    include: Include,
    kind: &'static str,
    /// Whether the next Table carries `columnDefinitions` (a watch sends them once).
    headers: bool,
}

impl Tables {
    /// Tables of `kind`'s objects if the request asks for them (`Accept`,
    /// `includeObject`).
    pub fn for_request<B>(
        kind: &'static str,
        req: &http::Request<B>,
        query: &Query,
    ) -> Result<Option<Tables>, RestError> {
        let accept = req.headers().get(http::header::ACCEPT);
        let accept = accept.and_then(|a| a.to_str().ok()).unwrap_or_default();
        Tables::for_accept(kind, accept, query)
    }

    /// Tables of `kind`'s objects, as `accept` and the query ask; `None` when they ask
    /// for none.
    pub fn for_accept(
        kind: &'static str,
        accept: &str,
        query: &Query,
    ) -> Result<Option<Tables>, RestError> {
        let Some(version) = wants_table(accept) else {
            return Ok(None);
        };
        let include = match query.get("includeObject").unwrap_or_default() {
            "" | "Metadata" => Include::Metadata,
            "None" => Include::None,
            "Object" => Include::Object,
            other => {
                return Err(RestError::bad_request(format!(
                    "unrecognized includeObject value: {other:?}"
                )))
            }
        };
        Ok(Some(Tables {
            version,
            include,
            kind,
            headers: true,
        }))
    }

    /// The Table of a list's `items` as JSON, with the list's `metadata`
    /// (resourceVersion, continue, remainingItemCount); encoded row by row as the objects
    /// come, so that a list of thousands is never held decoded at once.
    pub fn list_bytes<E>(
        &self,
        items: impl IntoIterator<Item = Result<Value, E>>,
        metadata: Value,
        now: jiff::Timestamp,
    ) -> Result<Vec<u8>, E> {
        self.encode_rows(items, metadata, |out, item| {
            let row = self.row(&item?, now);
            serde_json::to_writer(out, &row).expect("a JSON value always serializes");
            Ok(())
        })
    }

    /// The Table with the list's `metadata`, its rows written by `write`, one per item.
    fn encode_rows<T, E>(
        &self,
        items: impl IntoIterator<Item = T>,
        metadata: Value,
        mut write: impl FnMut(&mut Vec<u8>, T) -> Result<(), E>,
    ) -> Result<Vec<u8>, E> {
        let mut head = self.table(metadata, Vec::new());
        if let Some(table) = head.as_object_mut() {
            table.remove("rows");
        }
        let mut out = serde_json::to_vec(&head).expect("a JSON value always serializes");
        out.pop(); // the closing brace: the rows follow
        out.extend_from_slice(br#","rows":["#);
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write(&mut out, item)?;
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }

    /// A one-row Table of one object; in a watch, only the first carries the columns.
    pub fn object(&mut self, object: &Value, now: jiff::Timestamp) -> Value {
        let metadata = match object.pointer("/metadata/resourceVersion") {
            Some(rv) => json!({ "resourceVersion": rv }),
            None => json!({}),
        };
        let table = self.table(metadata, vec![self.row(object, now)]);
        self.headers = false;
        table
    }

    /// A stored object's JSON as a one-row Table's (a watch event's object); JSON that
    /// does not parse is left as it is.
    pub fn event_object(&mut self, json: &[u8], now: jiff::Timestamp) -> Vec<u8> {
        match serde_json::from_slice::<Value>(json) {
            Ok(object) => serde_json::to_vec(&self.object(&object, now)).unwrap_or_default(),
            Err(_) => json.to_vec(),
        }
    }

    fn table(&self, metadata: Value, rows: Vec<Value>) -> Value {
        let columns = match self.headers {
            true => json!(printers::columns(self.kind)),
            false => Value::Null,
        };
        json!({
            "kind": "Table",
            "apiVersion": self.version.api_version(),
            "metadata": metadata,
            "columnDefinitions": columns,
            "rows": rows,
        })
    }

    fn row(&self, object: &Value, now: jiff::Timestamp) -> Value {
        let mut row = json!({ "cells": printers::cells(self.kind, object, now) });
        if let Some(conditions) = printers::conditions(self.kind, object) {
            row["conditions"] = conditions;
        }
        row["object"] = match self.include {
            Include::None => Value::Null,
            Include::Object => object.clone(),
            Include::Metadata => json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": self.version.api_version(),
                "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
            }),
        };
        row
    }
}

mod light;

#[cfg(test)]
mod tests;
