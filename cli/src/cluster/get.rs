//! `get KIND [NAME]` against the control plane.

use serde_json::{json, Value};

use super::{list, Api};
use crate::args::Scope;
use crate::client::Reported;
use crate::kinds::{self, ref_name, Kind};
use crate::output::pods::align;
use crate::output::tables;

/// `get KIND[,KIND...] [NAME...]`: one table per kind, as kubectl prints several kinds
/// (names as `kind/name`, tables apart by a blank line, empty kinds left out). `all` is
/// every kind in kubectl's `all` category. Every word after the kind is a name, as
/// kubectl reads them: names not found are reported kubectl's way after the others print.
pub async fn run(
    api: &mut Api,
    kind: &str,
    names: &[String],
    scope: &Scope,
    selector: Option<&str>,
    output: Option<&str>,
) -> anyhow::Result<()> {
    let mut kinds = Vec::new();
    for word in kind.split(',') {
        if word.eq_ignore_ascii_case("all") {
            kinds.extend(kinds::category("all"));
        } else {
            kinds.push(kinds::resolve(word)?);
        }
    }
    let mut groups = Vec::with_capacity(kinds.len());
    let mut missing = Vec::new();
    for kind in kinds {
        let items = match names {
            [] => list(api, kind.kind, scope, selector).await?,
            names => fetch(api, &kind, names, scope, &mut missing).await?,
        };
        groups.push((kind, items));
    }
    print_groups(groups, names, scope, output)?;
    for line in &missing {
        eprintln!("{line}");
    }
    match missing.is_empty() {
        true => Ok(()),
        false => Err(Reported.into()),
    }
}

fn print_groups(
    groups: Vec<(Kind, Vec<Value>)>,
    names: &[String],
    scope: &Scope,
    output: Option<&str>,
) -> anyhow::Result<()> {
    let by_name = !names.is_empty();
    if by_name && groups.iter().all(|(_, items)| items.is_empty()) {
        return Ok(());
    }
    let groups_namespaced = groups.iter().any(|(kind, _)| kind.namespaced);
    if let [(kind, items)] = &groups[..] {
        return print_one_kind(kind, items.clone(), names.len() == 1, scope, output);
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
                match scope.all_namespaces || !groups_namespaced {
                    true => eprintln!("No resources found"),
                    false => eprintln!("No resources found in {} namespace.", scope.namespace),
                }
            }
        }
    }
    Ok(())
}

/// The objects of `kind` named `names`; a name not found adds kubectl's line to `missing`.
async fn fetch(
    api: &mut Api,
    kind: &Kind,
    names: &[String],
    scope: &Scope,
    missing: &mut Vec<String>,
) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::with_capacity(names.len());
    for name in names {
        match api.get_opt(kind, &scope.namespace, name).await? {
            Some(object) => items.push(object),
            None => missing.push(not_found(kind, name)),
        }
    }
    Ok(items)
}

/// kubectl's line for a name that is not there.
fn not_found(kind: &Kind, name: &str) -> String {
    format!(
        "Error from server (NotFound): {} {name:?} not found",
        kind.qualified_plural()
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_name_reads_as_kubectl_prints_it() {
        let pv = kinds::resolve("pv").unwrap();
        assert_eq!(
            not_found(&pv, "pvc"),
            r#"Error from server (NotFound): persistentvolumes "pvc" not found"#
        );
        let deploy = kinds::resolve("deploy").unwrap();
        assert_eq!(
            not_found(&deploy, "web"),
            r#"Error from server (NotFound): deployments.apps "web" not found"#
        );
    }
}
