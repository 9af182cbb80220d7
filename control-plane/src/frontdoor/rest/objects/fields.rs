//! `fieldValidation`: what a body's unknown fields do. `Strict` refuses the request
//! naming every one, `Warn` (kube-apiserver's default) drops them with a `Warning`
//! header each, `Ignore` drops them quietly. Either way nothing unknown is stored, and
//! known fields skiff cannot honour are refused by validation whatever the setting.

use http::{HeaderValue, Response};
use serde_json::Value;
use skiff_proto::model::prune_unknown_fields;

use super::super::reply::Body;
use super::super::route::Query;
use super::super::status::RestError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    Strict,
    Warn,
    Ignore,
}

impl Validation {
    pub fn of(query: &Query) -> Result<Validation, RestError> {
        match query.get("fieldValidation").unwrap_or_default() {
            "" | "Warn" => Ok(Validation::Warn),
            "Strict" => Ok(Validation::Strict),
            "Ignore" => Ok(Validation::Ignore),
            other => Err(RestError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// The object with unknown fields dropped, and the warnings to send; or the refusal.
/// `what` names the object as kube-apiserver's decoder does (`Deployment`).
pub fn check(
    value: Value,
    validation: Validation,
    what: &str,
) -> Result<(Value, Vec<String>), RestError> {
    let (pruned, unknown) = prune_unknown_fields(&value).map_err(|e| {
        let at = if e.path.is_empty() {
            String::new()
        } else {
            format!("{}: ", e.path)
        };
        RestError::bad_request(format!("{what} in version is invalid: {at}{}", e.message))
    })?;
    if unknown.is_empty() {
        return Ok((value, Vec::new()));
    }
    let messages: Vec<String> = unknown
        .iter()
        .map(|path| format!("unknown field {path:?}"))
        .collect();
    match validation {
        Validation::Strict => Err(RestError::bad_request(format!(
            "{what} in version {:?} cannot be handled as a {what}: strict decoding error: {}",
            value
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            messages.join(", ")
        ))),
        Validation::Warn => Ok((pruned, messages)),
        Validation::Ignore => Ok((pruned, Vec::new())),
    }
}

/// Adds one `Warning: 299 - "..."` header per message, as kube-apiserver does.
pub fn warn(response: &mut Response<Body>, warnings: &[String]) {
    for message in warnings {
        let escaped = message.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append("warning", value);
        }
    }
}
