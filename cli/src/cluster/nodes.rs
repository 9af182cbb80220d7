//! `cordon`, `uncordon` and `taint nodes` against the control plane, with kubectl's
//! syntax and output.

use anyhow::bail;
use k8s_openapi::api::core::v1::Taint;
use serde_json::Value;

use super::taints::{check, retaint, TaintOperation};
use super::Api;

/// Cordons (`unschedulable`) or uncordons the node and prints what kubectl prints:
/// `node/NAME cordoned`, or `node/NAME already cordoned` when nothing changed.
pub async fn cordon(api: &mut Api, name: &str, unschedulable: bool) -> anyhow::Result<()> {
    let node = super::kind("Node")?;
    let written = api
        .edit(&node, "", name, |object| {
            let current = object
                .pointer("/spec/unschedulable")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if current == unschedulable {
                return Ok(false);
            }
            let spec = spec_mut(object);
            if unschedulable {
                spec.insert("unschedulable".into(), Value::Bool(true));
            } else {
                spec.remove("unschedulable");
            }
            Ok(true)
        })
        .await?;
    let verb = if unschedulable {
        "cordoned"
    } else {
        "uncordoned"
    };
    let already = if written.is_some() { "" } else { "already " };
    println!("node/{name} {already}{verb}");
    Ok(())
}

/// `taint nodes NODE SPEC...` (or `taint node/NODE SPEC...`).
pub async fn taint(
    api: &mut Api,
    kind: &str,
    rest: &[String],
    overwrite: bool,
) -> anyhow::Result<()> {
    let (name, specs) = node_and_specs(kind, rest)?;
    let (add, remove) = parse_taints(specs)?;
    check(&add, &remove)?;
    let node = super::kind("Node")?;
    let mut operation = TaintOperation::Untainted;
    api.edit(&node, "", &name, |object| {
        let old: Vec<Taint> = match object.pointer("/spec/taints") {
            Some(taints) => serde_json::from_value(taints.clone())?,
            None => Vec::new(),
        };
        let (taints, op) = retaint(&name, &old, &add, &remove, overwrite)?;
        operation = op;
        if taints == old {
            return Ok(false);
        }
        let spec = spec_mut(object);
        if taints.is_empty() {
            spec.remove("taints");
        } else {
            spec.insert("taints".into(), serde_json::to_value(&taints)?);
        }
        Ok(true)
    })
    .await?;
    println!("node/{name} {}", operation.as_str());
    Ok(())
}

fn spec_mut(object: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !object.get("spec").is_some_and(Value::is_object) {
        object["spec"] = Value::Object(Default::default());
    }
    object["spec"]
        .as_object_mut()
        .expect("spec was just made an object")
}

/// The node named by `nodes NAME` or `node/NAME`, and the taint specs after it.
fn node_and_specs<'a>(kind: &str, rest: &'a [String]) -> anyhow::Result<(String, &'a [String])> {
    let is_node = |k: &str| matches!(k.to_ascii_lowercase().as_str(), "node" | "nodes" | "no");
    match kind.split_once('/') {
        Some((k, name)) if is_node(k) && !name.is_empty() => Ok((name.to_string(), rest)),
        None if is_node(kind) => match rest.split_first() {
            Some((name, specs)) => Ok((name.clone(), specs)),
            None => bail!("a node name is required: taint nodes NODE KEY=VALUE:EFFECT"),
        },
        _ => bail!("taints apply to nodes only (taint nodes NODE ...), got {kind:?}"),
    }
}

/// kubectl's taint specs: `key=value:Effect` and `key:Effect` add, `key:Effect-` and
/// `key-` remove; a NoExecute taint added now says when (`timeAdded`), as kubectl's.
pub fn parse_taints(specs: &[String]) -> anyhow::Result<(Vec<Taint>, Vec<Taint>)> {
    if specs.is_empty() {
        bail!("at least one taint update is required");
    }
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    for spec in specs {
        match spec.strip_suffix('-') {
            Some(removal) => remove.push(parse_taint(spec, removal)?),
            None => {
                let taint = parse_taint(spec, spec)?;
                if taint.effect.is_empty() {
                    bail!("invalid taint spec: {spec}");
                }
                add.push(taint);
            }
        }
    }
    Ok((add, remove))
}

/// `key[=value][:effect]`; `spec` is the whole argument, for the error.
fn parse_taint(spec: &str, text: &str) -> anyhow::Result<Taint> {
    let parts: Vec<&str> = text.split(':').collect();
    let (key_value, effect) = match parts.as_slice() {
        [key] => (*key, ""),
        [key_value, effect] => (*key_value, *effect),
        _ => bail!("invalid taint spec: {spec}"),
    };
    let kv: Vec<&str> = key_value.split('=').collect();
    let (key, value) = match kv.as_slice() {
        [key] => (*key, ""),
        [key, value] if !effect.is_empty() => (*key, *value),
        _ => bail!("invalid taint spec: {spec}"),
    };
    if key.is_empty() {
        bail!("invalid taint spec: {spec}");
    }
    let time_added = (effect == "NoExecute").then(|| {
        let now = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_default();
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)
    });
    Ok(Taint {
        key: key.into(),
        value: (!value.is_empty()).then(|| value.into()),
        effect: effect.into(),
        time_added,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: (!value.is_empty()).then(|| value.into()),
            effect: effect.into(),
            time_added: None,
        }
    }

    #[test]
    fn taint_specs_parse_like_kubectl() {
        let (add, remove) = parse_taints(&specs(&[
            "dedicated=special-user:NoSchedule",
            "bar:NoExecute",
            "dedicated:NoSchedule-",
            "old-",
        ]))
        .unwrap();
        assert!(add[1].time_added.is_some());
        let add: Vec<Taint> = add
            .into_iter()
            .map(|t| Taint {
                time_added: None,
                ..t
            })
            .collect();
        assert_eq!(
            add,
            [
                taint("dedicated", "special-user", "NoSchedule"),
                taint("bar", "", "NoExecute")
            ]
        );
        assert_eq!(
            remove,
            [taint("dedicated", "", "NoSchedule"), taint("old", "", "")]
        );
    }

    #[test]
    fn malformed_specs_are_refused() {
        for bad in [
            "justakey",
            "k=v",
            "a:b:c",
            "k=v=w:NoSchedule",
            ":NoSchedule",
            "=v:NoSchedule",
        ] {
            let err = parse_taints(&specs(&[bad])).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid taint spec: {bad}"));
        }
        assert!(parse_taints(&[]).is_err());
    }

    #[test]
    fn the_node_comes_as_kubectl_takes_it() {
        let rest = specs(&["n1", "k=v:NoSchedule"]);
        let (name, specs_left) = node_and_specs("nodes", &rest).unwrap();
        assert_eq!((name.as_str(), specs_left.len()), ("n1", 1));
        let (name, specs_left) = node_and_specs("node/n2", &rest).unwrap();
        assert_eq!((name.as_str(), specs_left.len()), ("n2", 2));
        assert!(node_and_specs("pods", &rest).is_err());
        assert!(node_and_specs("nodes", &[]).is_err());
    }
}
