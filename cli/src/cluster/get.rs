//! `get KIND [NAME]` against the control plane.

use serde_json::{json, Value};
use skiff_proto::v1::GetRequest;

use super::{decode, list, Api};
use crate::args::Scope;
use crate::client::status_error;
use crate::kinds::{self, ref_name, Kind};
use crate::output::pods::align;
use crate::output::tables;

/// `get KIND[,KIND...] [NAME]`: one table per kind, as kubectl prints several kinds
/// (names as `kind/name`, tables apart by a blank line, empty kinds left out).
pub async fn run(
    api: &mut Api,
    kind: &str,
    name: Option<&str>,
    scope: &Scope,
    selector: Option<&str>,
    output: Option<&str>,
) -> anyhow::Result<()> {
    let kinds = kind
        .split(',')
        .map(kinds::resolve)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut groups = Vec::with_capacity(kinds.len());
    for kind in kinds {
        let items = fetch(api, kind.kind, name, scope, selector).await?;
        groups.push((kind, items));
    }
    if let [(kind, items)] = &groups[..] {
        return print_one_kind(kind, items.clone(), name.is_some(), scope, output);
    }
    match output {
        Some("json" | "yaml" | "name") => {
            let mut all = Vec::new();
            for (kind, items) in groups {
                if output == Some("name") {
                    print_one_kind(&kind, items, false, scope, output)?;
                } else {
                    all.extend(items);
                }
            }
            match output {
                Some("json") => println!("{}", serde_json::to_string_pretty(&to_list(all))?),
                Some("yaml") => print!("{}", serde_yaml::to_string(&to_list(all))?),
                _ => {}
            }
        }
        _ => {
            let mut first = true;
            for (kind, mut items) in groups.into_iter().filter(|(_, items)| !items.is_empty()) {
                for item in &mut items {
                    let name = tables::s(item, "/metadata/name");
                    item["metadata"]["name"] = Value::String(ref_name(kind.kind, &name));
                }
                if !first {
                    println!();
                }
                first = false;
                print_table(&kind, &items, scope, output);
            }
            if first {
                eprintln!("No resources found");
            }
        }
    }
    Ok(())
}

async fn fetch(
    api: &mut Api,
    kind: &str,
    name: Option<&str>,
    scope: &Scope,
    selector: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    Ok(match name {
        Some(name) => {
            let req = GetRequest {
                kind: kind.into(),
                namespace: scope.namespace.clone(),
                name: name.into(),
            };
            vec![decode(
                &api.get(req).await.map_err(status_error)?.into_inner(),
            )?]
        }
        None => list(api, kind, scope, selector).await?,
    })
}

fn print_one_kind(
    kind: &Kind,
    items: Vec<Value>,
    one: bool,
    scope: &Scope,
    output: Option<&str>,
) -> anyhow::Result<()> {
    match output {
        Some("json") if one => println!("{}", serde_json::to_string_pretty(&items[0])?),
        Some("json") => println!("{}", serde_json::to_string_pretty(&to_list(items))?),
        Some("yaml") if one => print!("{}", serde_yaml::to_string(&items[0])?),
        Some("yaml") => print!("{}", serde_yaml::to_string(&to_list(items))?),
        Some("name") => {
            for o in &items {
                println!("{}", ref_name(kind.kind, &tables::s(o, "/metadata/name")));
            }
        }
        _ if items.is_empty() => match scope.all_namespaces || !kind.namespaced {
            true => eprintln!("No resources found"),
            false => eprintln!("No resources found in {} namespace.", scope.namespace),
        },
        _ => print_table(kind, &items, scope, output),
    }
    Ok(())
}

fn print_table(kind: &Kind, items: &[Value], scope: &Scope, output: Option<&str>) {
    let with_ns = scope.all_namespaces && kind.namespaced;
    let wide = output == Some("wide");
    print!("{}", align(&tables::rows(kind.kind, items, wide, with_ns)));
}

/// kubectl's `List` wrapper for several objects.
pub fn to_list(items: Vec<Value>) -> Value {
    json!({ "apiVersion": "v1", "kind": "List", "items": items, "metadata": { "resourceVersion": "" } })
}
