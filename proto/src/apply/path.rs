//! One step into an object, as structured-merge-diff names it: a field (`f:name`), a
//! keyed list item (`k:{"name":"web"}`), a set item (`v:"a"`) or a list index (`i:0`).
//! Values are kept as compact JSON text so elements order and compare as strings; the
//! variants order as structured-merge-diff's `PathElement.Compare` does (field, key,
//! value, index).

use std::fmt;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    Field(String),
    /// The list-map-keys of an item, sorted by name, each with its value as JSON.
    Key(Vec<(String, String)>),
    /// A set item, as JSON.
    Value(String),
    Index(usize),
}

/// A path from the object's root.
pub type Path = Vec<PathElement>;

impl PathElement {
    pub fn field(name: &str) -> PathElement {
        PathElement::Field(name.to_string())
    }

    /// The key element of a map-list item from its key fields (any order).
    pub fn key(mut fields: Vec<(String, &Value)>) -> PathElement {
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        PathElement::Key(
            fields
                .into_iter()
                .map(|(name, value)| (name, value.to_string()))
                .collect(),
        )
    }

    pub fn value(value: &Value) -> PathElement {
        PathElement::Value(value.to_string())
    }

    /// The element as a `FieldsV1` key: `f:spec`, `k:{"name":"web"}`, `v:"a"`, `i:0`.
    pub fn to_fields_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{}:{value}", Value::from(name.as_str())))
                    .collect();
                format!("k:{{{}}}", inner.join(","))
            }
            PathElement::Value(value) => format!("v:{value}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Reads a `FieldsV1` key back.
    pub fn from_fields_key(key: &str) -> Result<PathElement, String> {
        let bad = || format!("invalid path element {key:?}");
        let (prefix, rest) = key.split_once(':').ok_or_else(bad)?;
        match prefix {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "k" => {
                let Value::Object(map) = serde_json::from_str(rest).map_err(|_| bad())? else {
                    return Err(bad());
                };
                Ok(PathElement::key(
                    map.iter().map(|(k, v)| (k.clone(), v)).collect(),
                ))
            }
            "v" => {
                let value: Value = serde_json::from_str(rest).map_err(|_| bad())?;
                Ok(PathElement::value(&value))
            }
            "i" => rest.parse().map(PathElement::Index).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

/// As structured-merge-diff prints a path element: `.spec`, `[name="web"]`, `[="a"]`, `[0]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                write!(f, "[{}]", inner.join(","))
            }
            PathElement::Value(value) => write!(f, "[={value}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A whole path as structured-merge-diff prints it: `.spec.template.spec.containers[name="web"].image`.
pub fn display(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_sort_their_fields_and_read_back() {
        let port = json!(80);
        let protocol = json!("TCP");
        let pe = PathElement::key(vec![
            ("protocol".into(), &protocol),
            ("containerPort".into(), &port),
        ]);
        let key = pe.to_fields_key();
        assert_eq!(key, r#"k:{"containerPort":80,"protocol":"TCP"}"#);
        assert_eq!(PathElement::from_fields_key(&key).unwrap(), pe);
        assert_eq!(pe.to_string(), r#"[containerPort=80,protocol="TCP"]"#);
    }

    #[test]
    fn every_element_round_trips_and_prints_like_structured_merge_diff() {
        for (pe, key, shown) in [
            (PathElement::field("spec"), "f:spec", ".spec"),
            (
                PathElement::value(&json!("kubernetes")),
                r#"v:"kubernetes""#,
                r#"[="kubernetes"]"#,
            ),
            (PathElement::Index(3), "i:3", "[3]"),
        ] {
            assert_eq!(pe.to_fields_key(), key);
            assert_eq!(PathElement::from_fields_key(key).unwrap(), pe);
            assert_eq!(pe.to_string(), shown);
        }
        assert!(PathElement::from_fields_key("x:1").is_err());
        assert!(PathElement::from_fields_key("k:[1]").is_err());
    }
}
