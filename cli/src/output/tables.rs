//! kubectl's tables, computed from the objects' JSON by the printers the control plane
//! serves its Tables with, so `skiff get` and `kubectl get` print the same.

use serde_json::Value;
use skiff_proto::kinds::KindInfo;
use skiff_proto::printers;

/// Header and rows of `get KIND` for objects of `kind`: the server's columns
/// (`skiff_proto::printers`), the `-o wide` ones only when asked, NAMESPACE first when
/// listing across namespaces.
pub fn rows(kind: &str, items: &[Value], wide: bool, with_namespace: bool) -> Vec<Vec<String>> {
    let columns = printers::columns(kind);
    let shown: Vec<bool> = columns.iter().map(|c| wide || c.priority == 0).collect();
    let with_namespace = with_namespace && KindInfo::lookup(kind).is_none_or(|k| k.namespaced);
    let header = columns.iter().map(|c| c.name.to_uppercase());
    let mut out = vec![with_ns(keep(header, &shown), with_namespace, "NAMESPACE")];
    let now = jiff::Timestamp::now();
    for o in items {
        let cells = printers::cells(kind, o, now);
        let cells = keep(cells.iter().map(printers::cell_text), &shown);
        out.push(with_ns(cells, with_namespace, &s(o, "/metadata/namespace")));
    }
    out
}

/// The cells whose column is shown.
fn keep(cells: impl Iterator<Item = String>, shown: &[bool]) -> Vec<String> {
    cells
        .zip(shown)
        .filter(|(_, shown)| **shown)
        .map(|(cell, _)| cell)
        .collect()
}

fn with_ns(mut cols: Vec<String>, add: bool, ns: &str) -> Vec<String> {
    if add {
        cols.insert(0, ns.to_string());
    }
    cols
}

pub use skiff_proto::printers::fields::text as s;

/// The strings of a JSON array (none when it is not one).
pub fn strings(array: &Value) -> Vec<&str> {
    array
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Age of the RFC 3339 time at `ptr`, `<unknown>` when it is not set.
pub fn age_at(o: &Value, ptr: &str) -> String {
    printers::since(o, ptr, jiff::Timestamp::now())
}

#[cfg(test)]
mod tests;
