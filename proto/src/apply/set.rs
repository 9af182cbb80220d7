//! A set of paths (structured-merge-diff's `fieldpath.Set`): the fields a manager owns.
//! A tree whose nodes are path elements; a node is a member when the path ending there
//! is in the set (a leaf, or a list item itself: `.` in `FieldsV1`). Difference and
//! intersection work on members: removing `metadata` leaves `metadata.labels` in.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::path::{Path, PathElement};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    members: BTreeSet<PathElement>,
    /// Never holds an empty set.
    children: BTreeMap<PathElement, Set>,
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    /// A set of the given paths.
    pub fn of<'a>(paths: impl IntoIterator<Item = &'a [PathElement]>) -> Set {
        let mut set = Set::new();
        for path in paths {
            set.insert(path);
        }
        set
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// The paths below `path` (not `path` itself), or `None` when there are none.
    pub fn below(&self, path: &[PathElement]) -> Option<&Set> {
        match path {
            [] => Some(self).filter(|s| !s.is_empty()),
            [first, rest @ ..] => self.children.get(first)?.below(rest),
        }
    }

    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    pub fn difference(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            let rest = match other.children.get(pe) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(pe.clone(), rest);
            }
        }
        out
    }

    pub fn intersection(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                let both = child.intersection(theirs);
                if !both.is_empty() {
                    out.children.insert(pe.clone(), both);
                }
            }
        }
        out
    }

    /// The set without `pe` and everything below it.
    pub fn without_child(&self, pe: &PathElement) -> Set {
        let mut out = self.clone();
        out.members.remove(pe);
        out.children.remove(pe);
        out
    }

    /// Only `pe` and what is below it.
    pub fn only_child(&self, pe: &PathElement) -> Set {
        let mut out = Set::new();
        if self.members.contains(pe) {
            out.members.insert(pe.clone());
        }
        if let Some(child) = self.children.get(pe) {
            out.children.insert(pe.clone(), child.clone());
        }
        out
    }

    /// Every member path, in structured-merge-diff's order (a node's members, then its
    /// children's).
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for pe in &self.members {
            let mut path = prefix.clone();
            path.push(pe.clone());
            out.push(path);
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The set as `FieldsV1` JSON: `{"f:spec":{"f:replicas":{}}}`, with `".":{}` in a
    /// node that is also a member.
    pub fn to_fields_v1(&self) -> Value {
        let mut out = Map::new();
        let keys: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for pe in keys {
            let value = match self.children.get(pe) {
                Some(child) => {
                    let mut inner = match child.to_fields_v1() {
                        Value::Object(map) => map,
                        _ => Map::new(),
                    };
                    if self.members.contains(pe) {
                        inner.insert(".".into(), Value::Object(Map::new()));
                    }
                    Value::Object(inner)
                }
                None => Value::Object(Map::new()),
            };
            out.insert(pe.to_fields_key(), value);
        }
        Value::Object(out)
    }

    /// Reads `FieldsV1` JSON.
    pub fn from_fields_v1(value: &Value) -> Result<Set, String> {
        let Value::Object(map) = value else {
            return Err("FieldsV1 must be a JSON object".into());
        };
        let mut set = Set::new();
        for (key, inner) in map {
            if key == "." {
                continue;
            }
            let pe = PathElement::from_fields_key(key)?;
            let Value::Object(inner_map) = inner else {
                return Err(format!("FieldsV1 at {key:?} must be a JSON object"));
            };
            if inner_map.is_empty() || inner_map.contains_key(".") {
                set.members.insert(pe.clone());
            }
            let child = Set::from_fields_v1(inner)?;
            if !child.is_empty() {
                set.children.insert(pe, child);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::field(name)
    }

    #[test]
    fn fields_v1_round_trips_with_self_markers() {
        let fields = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}}
            }
        });
        let set = Set::from_fields_v1(&fields).unwrap();
        assert!(set.has(&[f("spec"), f("replicas")]));
        assert!(set.has(&[f("metadata"), f("labels")]));
        assert!(!set.has(&[f("metadata")]));
        assert_eq!(set.to_fields_v1(), fields);
    }

    #[test]
    fn difference_of_a_member_keeps_its_children() {
        let set = Set::of([
            &[f("metadata")][..],
            &[f("metadata"), f("labels")][..],
            &[f("spec"), f("replicas")][..],
        ]);
        let strip = Set::of([&[f("metadata")][..]]);
        let rest = set.difference(&strip);
        assert!(!rest.has(&[f("metadata")]));
        assert!(rest.has(&[f("metadata"), f("labels")]));
        assert_eq!(rest.union(&strip), set);
        assert_eq!(set.intersection(&strip), strip);
        assert!(set.difference(&set).is_empty());
    }

    #[test]
    fn paths_list_members_before_children() {
        let set = Set::of([
            &[f("spec"), f("template"), f("x")][..],
            &[f("spec"), f("replicas")][..],
            &[f("kind")][..],
        ]);
        let shown: Vec<String> = set
            .paths()
            .iter()
            .map(|p| super::super::path::display(p))
            .collect();
        assert_eq!(shown, [".kind", ".spec.replicas", ".spec.template.x"]);
    }
}
