//! `get KIND [NAME]` against the control plane.

use serde_json::{json, Value};
use skiff_proto::v1::GetRequest;

use super::{decode, list, Api};
use crate::args::Scope;
use crate::client::status_error;
use crate::kinds::{self, ref_name};
use crate::output::pods::align;
use crate::output::tables;

pub async fn run(
    api: &mut Api,
    kind: &str,
    name: Option<&str>,
    scope: &Scope,
    selector: Option<&str>,
    output: Option<&str>,
) -> anyhow::Result<()> {
    let kind = kinds::resolve(kind)?;
    let items = match name {
        Some(name) => {
            let req = GetRequest {
                kind: kind.kind.into(),
                namespace: scope.namespace.clone(),
                name: name.into(),
            };
            vec![decode(
                &api.get(req).await.map_err(status_error)?.into_inner(),
            )?]
        }
        None => list(api, kind.kind, scope, selector).await?,
    };
    let one = name.is_some();
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
        _ => {
            let with_ns = scope.all_namespaces && kind.namespaced;
            print!(
                "{}",
                align(&tables::rows(
                    kind.kind,
                    &items,
                    output == Some("wide"),
                    with_ns
                ))
            );
        }
    }
    Ok(())
}

/// kubectl's `List` wrapper for several objects.
pub fn to_list(items: Vec<Value>) -> Value {
    json!({ "apiVersion": "v1", "kind": "List", "items": items, "metadata": { "resourceVersion": "" } })
}
