//! JSON values printed the way Go's `fmt` prints the `interface{}` values the patch
//! libraries hold, so error messages read as kube-apiserver's do
//! (`map: map[image:x] does not contain declared merge key: name`).

use serde_json::Value;

/// `fmt.Sprintf("%v", v)` of the decoded value: maps with sorted keys, slices with
/// spaces, strings bare, null as `<nil>`.
pub(super) fn value(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0);
    out
}

fn write_value(out: &mut String, v: &Value, depth: usize) {
    // Messages only need the first levels; a hostile depth is cut short here.
    if depth > 16 {
        out.push_str("...");
        return;
    }
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, item, depth + 1);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("map[");
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_value(out, item, depth + 1);
            }
            out.push(']');
        }
    }
}

/// `reflect.TypeOf(v)` of the decoded value, as `%s` prints it.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "%!s(<nil>)",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// The JSON type of a value by the name Go's decoder uses in its type errors
/// (`json: cannot unmarshal object into Go value of type ...`).
pub(super) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_like_go() {
        assert_eq!(
            value(&json!({"image": "x", "ports": [1, 2], "n": null})),
            "map[image:x n:<nil> ports:[1 2]]"
        );
        assert_eq!(type_name(&json!(1.5)), "float64");
        assert_eq!(type_name(&json!(3)), "int64");
        assert_eq!(json_kind(&json!({})), "object");
    }
}
