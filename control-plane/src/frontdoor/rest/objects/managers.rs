//! Who a write is recorded as in `managedFields`: the `fieldManager` parameter, else
//! the product of the client's User-Agent (`kubectl/v1.33.0 (linux/amd64) ...` is
//! `kubectl`), as kube-apiserver's `managerOrUserAgent`. Writes made inside the server
//! (controllers, the scale subresource) record no manager: tracking them would cost a diff per
//! reconcile, and the fields they write (status, a Deployment's revision annotation)
//! are not what appliers fight over.

use http::HeaderMap;
use serde_json::json;
use skiff_proto::apply::{Manager, Operation};

use super::super::route::Query;
use super::super::status::RestError;
use super::Target;

/// kube-apiserver's `FieldManagerMaxLength`.
const MAX_LENGTH: usize = 128;

/// The options kind a refusal names: `CreateOptions`, `UpdateOptions`, `PatchOptions`.
#[derive(Debug, Clone, Copy)]
pub enum Options {
    Create,
    Update,
    Patch,
}

impl Options {
    fn name(self) -> &'static str {
        match self {
            Options::Create => "CreateOptions",
            Options::Update => "UpdateOptions",
            Options::Patch => "PatchOptions",
        }
    }
}

/// `options.meta.k8s.io "" is invalid: <field>: <detail>`; `reason` is the cause's
/// (`FieldValueRequired`, `FieldValueTooLong`, ...).
pub fn invalid_options(options: Options, field: &str, reason: &str, detail: &str) -> RestError {
    RestError::invalid(
        format!(
            "{}.meta.k8s.io \"\" is invalid: {field}: {detail}",
            options.name()
        ),
        vec![json!({"reason": reason, "field": field, "message": detail})],
    )
    .about("meta.k8s.io", options.name(), "")
}

/// The `fieldManager` parameter, checked: at most 128 bytes, printable.
pub fn field_manager(query: &Query, options: Options) -> Result<&str, RestError> {
    let manager = query.get("fieldManager").unwrap_or_default();
    if manager.len() > MAX_LENGTH {
        return Err(invalid_options(
            options,
            "fieldManager",
            "FieldValueTooLong",
            &format!("Too long: may not be more than {MAX_LENGTH} bytes"),
        ));
    }
    if let Some((i, c)) = manager.char_indices().find(|(_, c)| c.is_control()) {
        return Err(invalid_options(
            options,
            "fieldManager",
            "FieldValueInvalid",
            &format!(
                "Invalid value: {manager:?}: invalid character U+{:04X} (at position {i})",
                c as u32
            ),
        ));
    }
    Ok(manager)
}

/// The updater of a create, PUT or non-apply PATCH.
pub fn updater(
    target: &Target<'_>,
    query: &Query,
    headers: &HeaderMap,
    options: Options,
) -> Result<Manager, RestError> {
    let given = field_manager(query, options)?;
    let name = if given.is_empty() {
        user_agent_product(headers)
    } else {
        given.to_string()
    };
    Ok(Manager {
        name,
        operation: Operation::Update,
        api_version: target.info.api_version(),
        subresource: target.route.subresource.clone().unwrap_or_default(),
    })
}

/// The User-Agent up to its first `/`, printable characters only, at most 128 bytes.
fn user_agent_product(headers: &HeaderMap) -> String {
    let agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut out = String::new();
    for c in agent.split('/').next().unwrap_or_default().chars() {
        if c.is_control() {
            continue;
        }
        if out.len() + c.len_utf8() > MAX_LENGTH {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_agent_product_names_an_updater() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::USER_AGENT,
            "kubectl/v1.33.0 (linux/amd64) kubernetes/abc"
                .parse()
                .unwrap(),
        );
        assert_eq!(user_agent_product(&headers), "kubectl");
        assert_eq!(user_agent_product(&HeaderMap::new()), "");
        let long = "x".repeat(200);
        headers.insert(http::header::USER_AGENT, long.parse().unwrap());
        assert_eq!(user_agent_product(&headers).len(), MAX_LENGTH);
    }

    #[test]
    fn a_too_long_field_manager_is_refused_as_kube_apiserver_words_it() {
        let query = Query::parse(Some(&format!("fieldManager={}", "m".repeat(129))));
        let err = field_manager(&query, Options::Patch).unwrap_err();
        assert_eq!(err.code, http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            err.message,
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Too long: may not be more than 128 bytes"
        );
    }
}
