//! The `k8s\0` envelope kube-apiserver and client-go put around every protobuf body:
//! the magic bytes, then a `runtime.Unknown` whose `typeMeta` names the kind and whose
//! `raw` is the kind's message. Watch streams are frames of a 4-byte big-endian length
//! and a bare `meta/v1 WatchEvent` whose `object.raw` is an enveloped object.

use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage, Value as Pb};
use serde_json::{Map, Value};

use super::schema::{self, META};
use super::{from_json, special, to_json, ProtobufError};

pub const MAGIC: &[u8] = b"k8s\0";
const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";

fn descriptor(name: &str) -> Result<MessageDescriptor, ProtobufError> {
    schema::message(name).ok_or_else(|| ProtobufError::Internal(format!("no message {name}")))
}

fn get(msg: &DynamicMessage, number: u32) -> Option<Pb> {
    let field = msg.descriptor().get_field(number)?;
    msg.has_field(&field)
        .then(|| msg.get_field(&field).into_owned())
}

fn text(msg: &DynamicMessage, number: u32) -> String {
    match get(msg, number) {
        Some(Pb::String(s)) => s,
        _ => String::new(),
    }
}

fn set(msg: &mut DynamicMessage, number: u32, value: Pb) {
    if let Some(field) = msg.descriptor().get_field(number) {
        msg.set_field(&field, value);
    }
}

/// An enveloped object as JSON, with its `apiVersion` and `kind`.
pub fn decode(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let body = bytes.strip_prefix(MAGIC).ok_or(ProtobufError::NoMagic)?;
    let unknown = DynamicMessage::decode(descriptor(UNKNOWN)?, body)
        .map_err(|e| ProtobufError::Decode(e.to_string()))?;
    let (api_version, kind) = match get(&unknown, 1) {
        Some(Pb::Message(type_meta)) => (text(&type_meta, 1), text(&type_meta, 2)),
        _ => (String::new(), String::new()),
    };
    let encoding = text(&unknown, 3);
    if !encoding.is_empty() {
        return Err(ProtobufError::Decode(format!(
            "content encoding {encoding:?} is not supported"
        )));
    }
    let raw = match get(&unknown, 2) {
        Some(Pb::Bytes(raw)) => raw,
        _ => Default::default(),
    };
    let desc =
        schema::message_for(&api_version, &kind).ok_or_else(|| ProtobufError::NoMessage {
            api_version: api_version.clone(),
            kind: kind.clone(),
        })?;
    let msg =
        DynamicMessage::decode(desc, raw).map_err(|e| ProtobufError::Decode(e.to_string()))?;
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::from(api_version));
    object.insert("kind".into(), Value::from(kind));
    match to_json::message(&msg)? {
        Value::Object(fields) => object.extend(fields),
        _ => return Err(ProtobufError::Decode("the object is not a message".into())),
    }
    Ok(Value::Object(object))
}

/// A JSON object (with `apiVersion` and `kind`) in the envelope.
pub fn encode(object: &Value) -> Result<Vec<u8>, ProtobufError> {
    let member = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind) = (member("apiVersion"), member("kind"));
    let desc = schema::message_for(api_version, kind).ok_or_else(|| ProtobufError::NoMessage {
        api_version: api_version.into(),
        kind: kind.into(),
    })?;
    let raw = from_json::message(&desc, object, "")?.encode_to_vec();
    let unknown_desc = descriptor(UNKNOWN)?;
    let mut unknown = DynamicMessage::new(unknown_desc.clone());
    if let Some(Ok(type_meta)) = unknown_desc
        .get_field(1)
        .and_then(|f| match f.kind() {
            prost_reflect::Kind::Message(d) => Some(d),
            _ => None,
        })
        .map(|d| -> Result<_, ProtobufError> {
            let mut type_meta = DynamicMessage::new(d);
            set(&mut type_meta, 1, Pb::String(api_version.into()));
            set(&mut type_meta, 2, Pb::String(kind.into()));
            Ok(type_meta)
        })
    {
        set(&mut unknown, 1, Pb::Message(type_meta));
    }
    set(&mut unknown, 2, Pb::Bytes(raw.into()));
    set(&mut unknown, 3, Pb::String(String::new()));
    set(&mut unknown, 4, Pb::String(String::new()));
    let mut out = MAGIC.to_vec();
    unknown
        .encode(&mut out)
        .map_err(|e| ProtobufError::Internal(e.to_string()))?;
    Ok(out)
}

/// Whether a kind has a protobuf form (custom resources and Tables have none).
pub fn has_form(api_version: &str, kind: &str) -> bool {
    schema::message_for(api_version, kind).is_some()
}

/// One watch event as a length-prefixed frame.
pub fn watch_frame(event_type: &str, object: &Value) -> Result<Vec<u8>, ProtobufError> {
    let inner = encode(object)?;
    let event_desc = descriptor(&format!("{META}.WatchEvent"))?;
    let mut raw = DynamicMessage::new(descriptor(special::RAW_EXTENSION)?);
    set(&mut raw, 1, Pb::Bytes(inner.into()));
    let mut event = DynamicMessage::new(event_desc);
    set(&mut event, 1, Pb::String(event_type.into()));
    set(&mut event, 2, Pb::Message(raw));
    let body = event.encode_to_vec();
    let length = u32::try_from(body.len())
        .map_err(|_| ProtobufError::Internal("a watch event over 4 GiB".into()))?;
    let mut out = length.to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

/// A frame's event (without its length prefix): its type and object.
pub fn decode_watch_event(bytes: &[u8]) -> Result<(String, Value), ProtobufError> {
    let event = DynamicMessage::decode(descriptor(&format!("{META}.WatchEvent"))?, bytes)
        .map_err(|e| ProtobufError::Decode(e.to_string()))?;
    let object = match get(&event, 2) {
        Some(Pb::Message(raw)) => to_json::message(&raw)?,
        _ => Value::Null,
    };
    Ok((text(&event, 1), object))
}
