//! Decoding only what a kind's printers read. A Table of 5,000 pods decoded whole spends
//! most of its time building `spec` and `managedFields` maps no cell looks at; the
//! parts below are the printers' reads (`pods.rs`, `age.rs`), and everything else is
//! skipped without being built (docs/architecture.md, What costs what). The printers'
//! tests check that a light object prints the same cells as the whole one.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Which parts of a JSON value to build.
#[derive(Debug, Clone, Copy)]
pub enum Part {
    /// All of it.
    All,
    /// Of an object, or of each object of an array: only these members, each as given.
    /// An array keeps its length (its elements may be empty objects).
    Members(&'static [(&'static str, Part)]),
}

/// What the pod printer reads.
const POD: Part = Part::Members(&[
    (
        "metadata",
        Part::Members(&[
            ("name", Part::All),
            ("creationTimestamp", Part::All),
            ("deletionTimestamp", Part::All),
        ]),
    ),
    (
        "spec",
        Part::Members(&[
            (
                "initContainers",
                Part::Members(&[("name", Part::All), ("restartPolicy", Part::All)]),
            ),
            ("containers", Part::Members(&[])),
            ("nodeName", Part::All),
            ("readinessGates", Part::All),
        ]),
    ),
    ("status", Part::All),
]);

/// The parts of `kind`'s objects its printers read, for the kinds that have a light form
/// (the ones listed by the thousand).
pub fn reads(kind: &str) -> Option<Part> {
    match kind {
        "Pod" => Some(POD),
        _ => None,
    }
}

/// `json` decoded as far as `part` asks: what the printers read of it.
pub fn decode(json: &[u8], part: Part) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = Pick(part).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

struct Pick(Part);

impl<'de> DeserializeSeed<'de> for Pick {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.0 {
            Part::All => Value::deserialize(d),
            Part::Members(members) => d.deserialize_any(Members(members)),
        }
    }
}

/// Builds the listed members of objects; any other value as it is.
struct Members(&'static [(&'static str, Part)]);

impl<'de> Visitor<'de> for Members {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(found) = map.next_key_seed(Member(self.0))? {
            match found {
                Some((name, part)) => {
                    out.insert(name.to_string(), map.next_value_seed(Pick(part))?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(Pick(Part::Members(self.0)))? {
            out.push(item);
        }
        Ok(Value::Array(out))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// A member's name, looked up among the wanted ones without being allocated.
struct Member(&'static [(&'static str, Part)]);

impl<'de> DeserializeSeed<'de> for Member {
    type Value = Option<(&'static str, Part)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Member {
    type Value = Option<(&'static str, Part)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().find(|(name, _)| *name == v).copied())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_the_parts_the_printer_reads_are_built() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                "creationTimestamp": "2026-03-01T11:59:30Z",
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep"]}, {"name": "d"}],
                "initContainers": [{"name": "i", "image": "busybox", "restartPolicy": "Always"}],
                "nodeName": "n1", "tolerations": [{"operator": "Exists"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        });
        let light = decode(&serde_json::to_vec(&pod).unwrap(), reads("Pod").unwrap()).unwrap();
        assert_eq!(
            light,
            json!({
                "metadata": {"name": "web", "creationTimestamp": "2026-03-01T11:59:30Z"},
                "spec": {"containers": [{}, {}],
                    "initContainers": [{"name": "i", "restartPolicy": "Always"}],
                    "nodeName": "n1"},
                "status": pod["status"],
            })
        );
    }

    #[test]
    fn values_of_other_shapes_are_kept_as_they_are_and_bad_json_fails() {
        let part = reads("Pod").unwrap();
        let odd = br#"{"spec": null, "metadata": "x", "status": [1, 2.5, -3, true, "s\"q"]}"#;
        assert_eq!(
            decode(odd, part).unwrap(),
            json!({"spec": null, "metadata": "x", "status": [1, 2.5, -3, true, "s\"q"]})
        );
        let escaped = br#"{"met\u0061data": {"name": "a"}}"#;
        assert_eq!(
            decode(escaped, part).unwrap(),
            json!({"metadata": {"name": "a"}})
        );
        assert!(decode(br#"{"spec": {"containers": [}"#, part).is_err());
        assert!(decode(br#"{} trailing"#, part).is_err());
        assert!(reads("ConfigMap").is_none());
    }
}
