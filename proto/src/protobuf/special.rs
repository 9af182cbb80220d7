//! Messages whose JSON is not an object of their fields (apimachinery's custom
//! `MarshalJSON`): times as RFC 3339 text, durations as Go's `1m30s`, IntOrString as a
//! number or a string, Quantity as its string, and RawExtension/FieldsV1 as the JSON
//! they carry.

use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage, Value as Pb};
use serde_json::Value;

use super::ProtobufError;

const TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";
const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "k8s.io.apimachinery.pkg.api.resource.Quantity";
const QUANTITY_VALUE: &str = "k8s.io.apimachinery.pkg.api.resource.QuantityValue";
pub const RAW_EXTENSION: &str = "k8s.io.apimachinery.pkg.runtime.RawExtension";

fn field(msg: &DynamicMessage, number: u32) -> Option<Pb> {
    let f = msg.descriptor().get_field(number)?;
    msg.has_field(&f).then(|| msg.get_field(&f).into_owned())
}

fn set(msg: &mut DynamicMessage, number: u32, value: Pb) {
    if let Some(f) = msg.descriptor().get_field(number) {
        msg.set_field(&f, value);
    }
}

fn wrong(path: &str, want: &str) -> ProtobufError {
    ProtobufError::field(path, format!("expected {want}"))
}

/// The JSON of a special message, `None` for an ordinary one.
pub fn to_json(msg: &DynamicMessage) -> Option<Result<Value, ProtobufError>> {
    let name = msg.descriptor().full_name().to_string();
    Some(match name.as_str() {
        TIME | MICRO_TIME => Ok(time_to_json(msg, name == MICRO_TIME)),
        DURATION => Ok(match field(msg, 1) {
            Some(Pb::I64(ns)) => Value::from(format_duration(ns)),
            _ => Value::from("0s"),
        }),
        INT_OR_STRING => Ok(match field(msg, 1) {
            Some(Pb::I64(1)) => match field(msg, 3) {
                Some(Pb::String(s)) => Value::from(s),
                _ => Value::from(""),
            },
            _ => match field(msg, 2) {
                Some(Pb::I32(n)) => Value::from(n),
                _ => Value::from(0),
            },
        }),
        QUANTITY | QUANTITY_VALUE => Ok(match field(msg, 1) {
            Some(Pb::String(s)) => Value::from(s),
            _ => Value::from("0"),
        }),
        RAW_EXTENSION | FIELDS_V1 => match field(msg, 1) {
            Some(Pb::Bytes(raw)) if !raw.is_empty() => raw_to_json(&raw),
            _ => Ok(Value::Null),
        },
        _ => return None,
    })
}

/// Embedded bytes: JSON, or an object in the protobuf envelope (a watch event's).
fn raw_to_json(raw: &[u8]) -> Result<Value, ProtobufError> {
    if raw.starts_with(super::envelope::MAGIC) {
        return super::envelope::decode(raw);
    }
    serde_json::from_slice(raw)
        .map_err(|e| ProtobufError::field("", format!("embedded object is not JSON: {e}")))
}

/// Go's zero time travels as an empty message and is `null` in JSON.
fn time_to_json(msg: &DynamicMessage, micro: bool) -> Value {
    let seconds = match field(msg, 1) {
        Some(Pb::I64(s)) => s,
        _ => 0,
    };
    let nanos = match field(msg, 2) {
        Some(Pb::I32(n)) => n,
        _ => 0,
    };
    if seconds == 0 && nanos == 0 && field(msg, 1).is_none() {
        return Value::Null;
    }
    let Ok(ts) = jiff::Timestamp::new(seconds, if micro { nanos } else { 0 }) else {
        return Value::Null;
    };
    let format = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Value::from(ts.strftime(format).to_string())
}

/// The message of a special JSON value, `None` for an ordinary message.
pub fn from_json(
    desc: &MessageDescriptor,
    value: &Value,
    path: &str,
) -> Option<Result<DynamicMessage, ProtobufError>> {
    let name = desc.full_name();
    let mut msg = DynamicMessage::new(desc.clone());
    let outcome = match name {
        TIME | MICRO_TIME => value
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .ok_or_else(|| wrong(path, "an RFC 3339 time"))
            .map(|ts| {
                set(&mut msg, 1, Pb::I64(ts.as_second()));
                set(&mut msg, 2, Pb::I32(ts.subsec_nanosecond()));
            }),
        DURATION => value
            .as_str()
            .and_then(parse_duration)
            .ok_or_else(|| wrong(path, "a duration such as \"1m30s\""))
            .map(|ns| set(&mut msg, 1, Pb::I64(ns))),
        INT_OR_STRING => match value {
            Value::String(s) => {
                set(&mut msg, 1, Pb::I64(1));
                set(&mut msg, 3, Pb::String(s.clone()));
                Ok(())
            }
            Value::Number(n) => n
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| wrong(path, "a 32-bit integer or a string"))
                .map(|n| {
                    set(&mut msg, 1, Pb::I64(0));
                    set(&mut msg, 2, Pb::I32(n));
                }),
            _ => Err(wrong(path, "an integer or a string")),
        },
        QUANTITY | QUANTITY_VALUE => match value {
            Value::String(s) => {
                set(&mut msg, 1, Pb::String(s.clone()));
                Ok(())
            }
            Value::Number(n) => {
                set(&mut msg, 1, Pb::String(n.to_string()));
                Ok(())
            }
            _ => Err(wrong(path, "a quantity")),
        },
        RAW_EXTENSION | FIELDS_V1 => serde_json::to_vec(value)
            .map_err(|e| ProtobufError::field(path, e.to_string()))
            .map(|raw| set(&mut msg, 1, Pb::Bytes(raw.into()))),
        _ => return None,
    };
    Some(outcome.map(|()| msg))
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let mut u = ns.unsigned_abs();
    let fraction = |v: u64, unit: u64, digits: usize| {
        let (whole, rest) = (v / unit, v % unit);
        if rest == 0 {
            whole.to_string()
        } else {
            let text = format!("{whole}.{rest:0digits$}");
            text.trim_end_matches('0').to_string()
        }
    };
    if u < 1_000_000_000 {
        let (unit, div, digits) = match u {
            0..1_000 => ("ns", 1, 0),
            1_000..1_000_000 => ("µs", 1_000, 3),
            _ => ("ms", 1_000_000, 6),
        };
        return format!("{sign}{}{unit}", fraction(u, div, digits));
    }
    let hours = u / 3_600_000_000_000;
    u -= hours * 3_600_000_000_000;
    let minutes = u / 60_000_000_000;
    u -= minutes * 60_000_000_000;
    let mut out = sign.to_string();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", fraction(u, 1_000_000_000, 9)));
    out
}

/// Go's `time.ParseDuration`: a sign, then numbers (with fractions) and units.
pub fn parse_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * scale;
    }
    let ns = total.round();
    (ns <= i64::MAX as f64).then_some(if negative { -(ns as i64) } else { ns as i64 })
}
