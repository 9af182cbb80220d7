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
/// (names as `kind/name`, tables apart by a blank line, empty kinds left out). `all` is
/// every kind in kubectl's `all` category.
pub async fn run(
    api: &mut Api,
    kind: &str,
    name: Option<&str>,
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
    for kind in kinds {
        let items = fetch(api, kind.kind, name, scope, selector).await?;
        groups.push((kind, items));
    }
    let groups_namespaced = groups.iter().any(|(kind, _)| kind.namespaced);
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
                match scope.all_namespaces || !groups_namespaced {
                    true => eprintln!("No resources found"),
                    false => eprintln!("No resources found in {} namespace.", scope.namespace),
                }
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

/// `get pv pvc sc`: when every word after the kind names a kind too, the kinds as
/// `get pv,pvc,sc` takes them; `None` when the second word is a name.
pub fn kinds_from_words(
    kind: &str,
    name: Option<&str>,
    more: &[String],
) -> anyhow::Result<Option<String>> {
    let rest: Vec<&str> = name
        .into_iter()
        .chain(more.iter().map(String::as_str))
        .collect();
    if !rest.is_empty() && rest.iter().all(|r| kinds::resolve(r).is_ok()) {
        return Ok(Some(
            [kind].into_iter().chain(rest).collect::<Vec<_>>().join(","),
        ));
    }
    if !more.is_empty() {
        anyhow::bail!("one name at a time: get {kind} NAME");
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(name: Option<&str>, more: &[&str]) -> anyhow::Result<Option<String>> {
        let more: Vec<String> = more.iter().map(|s| s.to_string()).collect();
        kinds_from_words("pv", name, &more)
    }

    #[test]
    fn words_that_name_kinds_are_kinds() {
        assert_eq!(
            words(Some("pvc"), &["sc"]).unwrap().as_deref(),
            Some("pv,pvc,sc")
        );
        assert_eq!(
            words(Some("my-volume"), &[]).unwrap(),
            None,
            "a name, not a kind"
        );
        assert_eq!(words(None, &[]).unwrap(), None);
        assert!(words(Some("a"), &["b"]).is_err());
    }
}
