//! A decoded message as the JSON a Go client would have sent for it: fields named as
//! Go's `json` tags name them, zero values of `omitempty` non-pointer fields left out
//! (Go always writes those on the wire), pointers kept whenever present.

use base64::Engine;
use prost_reflect::{DynamicMessage, FieldDescriptor, MapKey, ReflectMessage, Value as Pb};
use serde_json::{Map, Value};

use super::schema::{self, GoField};
use super::{special, ProtobufError};

pub fn message(msg: &DynamicMessage) -> Result<Value, ProtobufError> {
    if let Some(value) = special::to_json(msg) {
        return value;
    }
    let desc = msg.descriptor();
    let name = desc.full_name();
    if schema::is_slice(name) {
        return Ok(msg
            .fields()
            .next()
            .map(|(field, value)| self::value(&field, value))
            .transpose()?
            .unwrap_or_else(|| Value::Array(vec![])));
    }
    let mut out = Map::new();
    for (field, value) in msg.fields() {
        let go = schema::go_field(name, field.number());
        if go.is_some_and(|g| g.inline) {
            // An embedded struct's fields are its parent's in JSON.
            if let Value::Object(members) = self::value(&field, value)? {
                out.extend(members);
            }
            continue;
        }
        if !emitted(go, value) {
            continue;
        }
        let key = go.map_or(field.name(), |g| g.json);
        let json = self::value(&field, value).map_err(|e| e.under(key))?;
        out.insert(key.to_string(), json);
    }
    Ok(Value::Object(out))
}

/// Whether Go's `encoding/json` writes a field that was on the wire.
fn emitted(go: Option<GoField>, value: &Pb) -> bool {
    match go {
        None => true,
        Some(g) if g.pointer || !g.omitempty => true,
        Some(_) => !is_zero(value),
    }
}

fn is_zero(value: &Pb) -> bool {
    match value {
        Pb::Bool(b) => !b,
        Pb::I32(n) | Pb::EnumNumber(n) => *n == 0,
        Pb::I64(n) => *n == 0,
        Pb::U32(n) => *n == 0,
        Pb::U64(n) => *n == 0,
        Pb::F32(n) => *n == 0.0,
        Pb::F64(n) => *n == 0.0,
        Pb::String(s) => s.is_empty(),
        Pb::Bytes(b) => b.is_empty(),
        Pb::List(l) => l.is_empty(),
        Pb::Map(m) => m.is_empty(),
        // Go's omitempty never leaves out a struct.
        Pb::Message(_) => false,
    }
}

fn value(field: &FieldDescriptor, value: &Pb) -> Result<Value, ProtobufError> {
    match value {
        Pb::List(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| single(item).map_err(|e| e.under(&format!("[{i}]"))))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Pb::Map(entries) if field.is_map() => {
            let mut out = Map::new();
            let mut keys: Vec<&MapKey> = entries.keys().collect();
            keys.sort();
            for key in keys {
                let text = match key {
                    MapKey::String(s) => s.clone(),
                    MapKey::Bool(b) => b.to_string(),
                    MapKey::I32(n) => n.to_string(),
                    MapKey::I64(n) => n.to_string(),
                    MapKey::U32(n) => n.to_string(),
                    MapKey::U64(n) => n.to_string(),
                };
                let json = single(&entries[key]).map_err(|e| e.under(&text))?;
                out.insert(text, json);
            }
            Ok(Value::Object(out))
        }
        other => single(other),
    }
}

fn single(value: &Pb) -> Result<Value, ProtobufError> {
    Ok(match value {
        Pb::Bool(b) => Value::from(*b),
        Pb::I32(n) | Pb::EnumNumber(n) => Value::from(*n),
        Pb::I64(n) => Value::from(*n),
        Pb::U32(n) => Value::from(*n),
        Pb::U64(n) => Value::from(*n),
        Pb::F32(n) => number(f64::from(*n))?,
        Pb::F64(n) => number(*n)?,
        Pb::String(s) => Value::from(s.as_str()),
        Pb::Bytes(b) => Value::from(base64::engine::general_purpose::STANDARD.encode(b)),
        Pb::Message(m) => message(m)?,
        Pb::List(_) | Pb::Map(_) => {
            return Err(ProtobufError::field("", "a list or map inside a list"))
        }
    })
}

fn number(n: f64) -> Result<Value, ProtobufError> {
    serde_json::Number::from_f64(n)
        .map(Value::Number)
        .ok_or_else(|| ProtobufError::field("", format!("{n} is not a JSON number")))
}
