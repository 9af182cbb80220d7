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

/// The kinds of `get pv,pvc,sc` or `get pv pvc sc`; `None` for one kind (with or
/// without a name).
pub fn kinds_asked(
    kind: &str,
    name: Option<&str>,
    more: &[String],
) -> anyhow::Result<Option<Vec<kinds::Kind>>> {
    let mut asked: Vec<&str> = kind.split(',').filter(|k| !k.is_empty()).collect();
    let rest: Vec<&str> = name
        .into_iter()
        .chain(more.iter().map(String::as_str))
        .collect();
    if !rest.is_empty() && rest.iter().all(|r| kinds::resolve(r).is_ok()) {
        asked.extend(rest);
    } else if asked.len() > 1 && !rest.is_empty() {
        anyhow::bail!("a name cannot be given with several kinds: use KIND/NAME one at a time");
    } else if !more.is_empty() {
        anyhow::bail!("one name at a time: get {kind} NAME");
    }
    if asked.len() < 2 {
        return Ok(None);
    }
    asked
        .into_iter()
        .map(kinds::resolve)
        .collect::<anyhow::Result<_>>()
        .map(Some)
}

/// `get` of several kinds: a table per kind that has objects, names as `kind/name`
/// (kubectl's layout); one List for `-o json|yaml`.
pub async fn run_many(
    api: &mut Api,
    asked: &[kinds::Kind],
    scope: &Scope,
    selector: Option<&str>,
    output: Option<&str>,
) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for kind in asked {
        all.push((*kind, list(api, kind.kind, scope, selector).await?));
    }
    match output {
        Some("json") | Some("yaml") => {
            let items = to_list(all.into_iter().flat_map(|(_, items)| items).collect());
            match output {
                Some("json") => println!("{}", serde_json::to_string_pretty(&items)?),
                _ => print!("{}", serde_yaml::to_string(&items)?),
            }
        }
        Some("name") => {
            for (kind, items) in &all {
                for o in items {
                    println!("{}", ref_name(kind.kind, &tables::s(o, "/metadata/name")));
                }
            }
        }
        _ if all.iter().all(|(_, items)| items.is_empty()) => match scope.all_namespaces {
            true => eprintln!("No resources found"),
            false => eprintln!("No resources found in {} namespace.", scope.namespace),
        },
        _ => {
            let mut first = true;
            for (kind, items) in all.iter().filter(|(_, items)| !items.is_empty()) {
                let with_ns = scope.all_namespaces && kind.namespaced;
                let mut rows = tables::rows(kind.kind, items, output == Some("wide"), with_ns);
                let column = usize::from(with_ns);
                for row in rows.iter_mut().skip(1) {
                    row[column] = format!("{}/{}", kind.resource(), row[column]);
                }
                if !first {
                    println!();
                }
                first = false;
                print!("{}", align(&rows));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(kind: &str, name: Option<&str>, more: &[&str]) -> Option<Vec<&'static str>> {
        let more: Vec<String> = more.iter().map(|s| s.to_string()).collect();
        kinds_asked(kind, name, &more)
            .unwrap()
            .map(|kinds| kinds.iter().map(|k| k.kind).collect())
    }

    #[test]
    fn several_kinds_by_commas_or_by_words() {
        let storage = Some(vec![
            "PersistentVolume",
            "PersistentVolumeClaim",
            "StorageClass",
        ]);
        assert_eq!(asked("pv,pvc,sc", None, &[]), storage);
        assert_eq!(asked("pv", Some("pvc"), &["sc"]), storage);
        assert_eq!(asked("pods", Some("web"), &[]), None, "a name, not a kind");
        assert_eq!(asked("pods", None, &[]), None);
        let more = vec!["b".to_string()];
        assert!(kinds_asked("pods", Some("a"), &more).is_err());
        assert!(kinds_asked("pv,pvc", Some("x"), &[]).is_err());
    }
}
