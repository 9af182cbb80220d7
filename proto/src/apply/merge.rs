//! The structured merge of an applied configuration into the live object
//! (structured-merge-diff's `Merge`): maps merge field by field, keyed lists item by
//! item and sets by value, everything else (atomic maps and lists, scalars) is taken
//! from the configuration. And the removal of paths, for what an applier stopped setting.

use serde_json::{Map, Value};

use super::fields::{item_key, keyed_items, At};
use super::path::PathElement;
use super::ApplyError;
use crate::patch::strategic::ApplyShape;

/// `config` merged into `live` (both objects of one kind) where `at` is.
pub(super) fn merge(live: &Value, config: &Value, at: At) -> Result<Value, ApplyError> {
    Ok(match (live, config, at.shape) {
        (_, _, ApplyShape::Atomic) => config.clone(),
        (Value::Object(l), Value::Object(c), _) => {
            let mut out: Map<String, Value> = l.clone();
            for (name, value) in c {
                let merged = match l.get(name) {
                    Some(lv) => merge(lv, value, at.field(name))?,
                    None => value.clone(),
                };
                out.insert(name.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c), ApplyShape::Set) => {
            let l: Vec<(PathElement, &Value)> =
                l.iter().map(|v| (PathElement::value(v), v)).collect();
            let c: Vec<(PathElement, &Value)> =
                c.iter().map(|v| (PathElement::value(v), v)).collect();
            Value::Array(ordered(&l, &c, |lv, _| Ok((*lv).clone()))?)
        }
        (Value::Array(_), Value::Array(_), ApplyShape::Map(keys)) => {
            let l = keyed_items(Some(live), keys)?;
            let c = keyed_items(Some(config), keys)?;
            Value::Array(ordered(&l, &c, |lv, cv| merge(lv, cv, at.item()))?)
        }
        _ => config.clone(),
    })
}

/// The items of two lists merged in structured-merge-diff's order: the live order, with
/// the items both have in the configuration's order and new items where the
/// configuration puts them. `both` merges an item the two lists share.
fn ordered(
    live: &[(PathElement, &Value)],
    config: &[(PathElement, &Value)],
    both: impl Fn(&Value, &Value) -> Result<Value, ApplyError>,
) -> Result<Vec<Value>, ApplyError> {
    let in_live = |pe: &PathElement| live.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
    let in_config = |pe: &PathElement| config.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
    let mut shared: std::collections::VecDeque<&PathElement> = config
        .iter()
        .map(|(pe, _)| pe)
        .filter(|pe| in_live(pe).is_some())
        .collect();
    let mut done: Vec<&PathElement> = Vec::new();
    let mut out = Vec::with_capacity(live.len().max(config.len()));
    let (mut li, mut ri) = (0, 0);
    while li < live.len() || ri < config.len() {
        if li < live.len() && ri < config.len() && live[li].0 == config[ri].0 {
            let pe = &live[li].0;
            out.push(both(live[li].1, config[ri].1)?);
            done.push(pe);
            li += 1;
            ri += 1;
            if shared.front() == Some(&pe) {
                shared.pop_front();
            }
            continue;
        }
        if li < live.len() {
            let pe = &live[li].0;
            match in_config(pe) {
                None => {
                    out.push(live[li].1.clone());
                    li += 1;
                    continue;
                }
                Some(_) if done.contains(&pe) => {
                    li += 1;
                    continue;
                }
                Some(_) if ri < config.len() && shared.front().is_some_and(|s| *s != pe) => {
                    li += 1;
                    continue;
                }
                Some(_) => {}
            }
        }
        if ri < config.len() {
            let (pe, cv) = &config[ri];
            if !done.contains(&pe) {
                out.push(match in_live(pe) {
                    Some(lv) => both(lv, cv)?,
                    None => (*cv).clone(),
                });
                done.push(pe);
            }
            ri += 1;
            if shared.front() == Some(&pe) {
                shared.pop_front();
            }
        } else {
            li += 1;
        }
    }
    Ok(out)
}

/// Removes the value at `path` (and all below it) from `value`, if it is there.
pub(super) fn remove(value: &mut Value, path: &[PathElement], at: At) -> Result<(), ApplyError> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    match (first, value) {
        (PathElement::Field(name), Value::Object(map)) => {
            if rest.is_empty() {
                map.remove(name);
            } else if let Some(child) = map.get_mut(name) {
                remove(child, rest, at.field(name))?;
            }
        }
        (PathElement::Key(_), Value::Array(items)) => {
            let ApplyShape::Map(keys) = at.shape else {
                return Ok(());
            };
            let mut found = None;
            for (i, item) in items.iter().enumerate() {
                if item_key(item, keys)? == *first {
                    found = Some(i);
                    break;
                }
            }
            if let Some(i) = found {
                if rest.is_empty() {
                    items.remove(i);
                } else {
                    remove(&mut items[i], rest, at.item())?;
                }
            }
        }
        (PathElement::Value(_), Value::Array(items)) if rest.is_empty() => {
            items.retain(|item| PathElement::value(item) != *first);
        }
        (PathElement::Index(i), Value::Array(items)) if *i < items.len() => {
            if rest.is_empty() {
                items.remove(*i);
            } else {
                remove(&mut items[*i], rest, at.item())?;
            }
        }
        _ => {}
    }
    Ok(())
}
