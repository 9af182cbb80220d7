//! What `fieldValidation=Strict|Warn` finds in a patch body itself, before it is
//! applied: duplicate keys anywhere, and in a JSON patch operation fields other than
//! `op`, `path`, `from` and `value`. Worded as kube-apiserver's strict decoder
//! (sigs.k8s.io/json) words them: `duplicate field "metadata.name"`,
//! `json patch unknown field "[0].vaule"`. Unknown fields of the patched object are the
//! front door's own check, as for any body.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The body's strict decoding errors (at most 100, each once, as the decoder keeps
/// them); empty for a body that is not JSON, whose error the engine reports.
pub fn strict_errors(body: &[u8], json_patch: bool) -> Vec<String> {
    let mut errors = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let walker = Walker {
        path: String::new(),
        depth: 0,
        json_patch,
        errors: &mut errors,
    };
    if walker.deserialize(&mut de).is_err() || de.end().is_err() {
        return Vec::new();
    }
    let prefix = if json_patch { "json patch " } else { "" };
    let mut seen = HashSet::new();
    errors
        .into_iter()
        .filter(|e| seen.insert(e.clone()))
        .take(100)
        .map(|e| format!("{prefix}{e}"))
        .collect()
}

struct Walker<'a> {
    path: String,
    /// 0 at the body, 1 inside a JSON patch's operations.
    depth: usize,
    json_patch: bool,
    errors: &'a mut Vec<String>,
}

impl Walker<'_> {
    fn child(&mut self, path: String) -> Walker<'_> {
        Walker {
            path,
            depth: self.depth + 1,
            json_patch: self.json_patch,
            errors: self.errors,
        }
    }

    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walker<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walker<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut keys = HashSet::new();
        // Inside a JSON patch, the objects one level down are operations.
        let operation = self.json_patch && self.depth == 1;
        while let Some(key) = map.next_key::<String>()? {
            let path = self.field(&key);
            if !keys.insert(key.clone()) {
                self.errors.push(format!("duplicate field {path:?}"));
            }
            if operation && !matches!(key.as_str(), "op" | "path" | "from" | "value") {
                self.errors.push(format!("unknown field {path:?}"));
            }
            map.next_value_seed(self.child(path))?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let path = format!("{}[{i}]", self.path);
            if seq.next_element_seed(self.child(path))?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_named_by_their_path() {
        assert_eq!(
            strict_errors(
                br#"{"metadata":{"name":"a","name":"b","labels":{"x":"1","x":"2"}},"spec":{"ports":[{"port":1,"port":2}]}}"#,
                false
            ),
            [
                "duplicate field \"metadata.name\"",
                "duplicate field \"metadata.labels.x\"",
                "duplicate field \"spec.ports[0].port\""
            ]
        );
        assert!(strict_errors(br#"{"a":{"b":1},"c":[1,{"d":null}]}"#, false).is_empty());
    }

    #[test]
    fn json_patch_operations_may_hold_only_their_four_fields() {
        assert_eq!(
            strict_errors(
                br#"[{"op":"add","path":"/a","vaule":1},{"op":"test","op":"test","path":"/b","value":{"x":1,"x":2}}]"#,
                true
            ),
            [
                "json patch unknown field \"[0].vaule\"",
                "json patch duplicate field \"[1].op\"",
                "json patch duplicate field \"[1].value.x\""
            ]
        );
    }

    #[test]
    fn bodies_that_are_not_json_have_none() {
        assert!(strict_errors(b"{\"a\":", false).is_empty());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(strict_errors(deep.as_bytes(), true).is_empty());
    }
}
