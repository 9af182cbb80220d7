//! JSON (what the store holds, k8s-openapi's encoding) as a message: each member to
//! the field Go's `json` tag names, `null` as absent, and `apiVersion`/`kind` dropped
//! where the message has no such field (objects carry no TypeMeta in protobuf).

use base64::Engine;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value as Pb,
};
use serde_json::Value;

use super::schema;
use super::{special, ProtobufError};

pub fn message(
    desc: &MessageDescriptor,
    value: &Value,
    path: &str,
) -> Result<DynamicMessage, ProtobufError> {
    if let Some(msg) = special::from_json(desc, value, path) {
        return msg;
    }
    let name = desc.full_name();
    let mut msg = DynamicMessage::new(desc.clone());
    if schema::is_slice(name) {
        if let Some(field) = desc.get_field(1) {
            let list = list(&field, value, path)?;
            msg.set_field(&field, list);
        }
        return Ok(msg);
    }
    let Value::Object(members) = value else {
        return Err(ProtobufError::field(path, "expected an object"));
    };
    let inline = schema::inline_fields(desc);
    let mut embedded: Vec<serde_json::Map<String, Value>> = vec![Default::default(); inline.len()];
    for (key, member) in members {
        if member.is_null() {
            continue;
        }
        let here = join(path, key);
        let Some(field) = schema::field_of_json(desc, key) else {
            if let Some(i) = inline.iter().position(|(_, d)| accepts(d, key)) {
                embedded[i].insert(key.clone(), member.clone());
                continue;
            }
            if key == "apiVersion" || key == "kind" {
                continue;
            }
            return Err(ProtobufError::field(&here, "unknown field"));
        };
        let converted = if field.is_map() {
            map(&field, member, &here)?
        } else if field.is_list() {
            list(&field, member, &here)?
        } else {
            single(&field.kind(), member, &here)?
        };
        msg.set_field(&field, converted);
    }
    for ((field, inner), members) in inline.iter().zip(embedded) {
        if !members.is_empty() {
            let value = message(inner, &Value::Object(members), path)?;
            msg.set_field(field, Pb::Message(value));
        }
    }
    Ok(msg)
}

/// Whether a JSON member belongs to a message (or to one embedded in it).
fn accepts(desc: &MessageDescriptor, key: &str) -> bool {
    schema::field_of_json(desc, key).is_some()
        || schema::inline_fields(desc)
            .iter()
            .any(|(_, d)| accepts(d, key))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn list(field: &FieldDescriptor, value: &Value, path: &str) -> Result<Pb, ProtobufError> {
    let Value::Array(items) = value else {
        return Err(ProtobufError::field(path, "expected an array"));
    };
    let kind = field.kind();
    items
        .iter()
        .enumerate()
        .map(|(i, item)| single(&kind, item, &format!("{path}[{i}]")))
        .collect::<Result<Vec<_>, _>>()
        .map(Pb::List)
}

fn map(field: &FieldDescriptor, value: &Value, path: &str) -> Result<Pb, ProtobufError> {
    let Value::Object(entries) = value else {
        return Err(ProtobufError::field(path, "expected an object"));
    };
    let Kind::Message(entry) = field.kind() else {
        return Err(ProtobufError::field(path, "a map without an entry message"));
    };
    let key_kind = entry.map_entry_key_field().kind();
    let value_kind = entry.map_entry_value_field().kind();
    let mut out = std::collections::HashMap::new();
    for (key, member) in entries {
        let here = join(path, key);
        let key = match key_kind {
            Kind::String => MapKey::String(key.clone()),
            Kind::Int32 => MapKey::I32(
                key.parse()
                    .map_err(|_| ProtobufError::field(&here, "expected an integer key"))?,
            ),
            Kind::Int64 => MapKey::I64(
                key.parse()
                    .map_err(|_| ProtobufError::field(&here, "expected an integer key"))?,
            ),
            _ => return Err(ProtobufError::field(&here, "unsupported map key")),
        };
        if member.is_null() {
            continue;
        }
        out.insert(key, single(&value_kind, member, &here)?);
    }
    Ok(Pb::Map(out))
}

fn single(kind: &Kind, value: &Value, path: &str) -> Result<Pb, ProtobufError> {
    let wrong = |want: &str| ProtobufError::field(path, format!("expected {want}"));
    let int = || -> Result<i64, ProtobufError> {
        match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .ok_or_else(|| wrong("an integer")),
            _ => Err(wrong("an integer")),
        }
    };
    Ok(match kind {
        Kind::Bool => Pb::Bool(value.as_bool().ok_or_else(|| wrong("a boolean"))?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Pb::I32(i32::try_from(int()?).map_err(|_| wrong("a 32-bit integer"))?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Pb::I64(int()?),
        Kind::Uint32 | Kind::Fixed32 => {
            Pb::U32(u32::try_from(int()?).map_err(|_| wrong("an unsigned 32-bit integer"))?)
        }
        Kind::Uint64 | Kind::Fixed64 => {
            Pb::U64(u64::try_from(int()?).map_err(|_| wrong("an unsigned integer"))?)
        }
        Kind::Float => Pb::F32(value.as_f64().ok_or_else(|| wrong("a number"))? as f32),
        Kind::Double => Pb::F64(value.as_f64().ok_or_else(|| wrong("a number"))?),
        Kind::String => Pb::String(value.as_str().ok_or_else(|| wrong("a string"))?.to_string()),
        Kind::Bytes => {
            let text = value.as_str().ok_or_else(|| wrong("base64 text"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| wrong("base64 text"))?;
            Pb::Bytes(bytes.into())
        }
        Kind::Enum(_) => {
            Pb::EnumNumber(i32::try_from(int()?).map_err(|_| wrong("an enum number"))?)
        }
        Kind::Message(desc) => Pb::Message(message(desc, value, path)?),
    })
}
