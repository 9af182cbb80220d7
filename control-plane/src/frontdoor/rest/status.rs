//! The one error mapping of the REST front door: every refusal is a `meta/v1 Status`
//! with the HTTP code and `reason` kube-apiserver gives the same problem, so kubectl
//! prints `Error from server (NotFound): ...` and client libraries act on the code.

use http::StatusCode;
use serde_json::{json, Value};

use crate::core::Error;

/// A refused request, ready to be written as a `Status`.
#[derive(Debug, Clone, PartialEq)]
pub struct RestError {
    pub code: StatusCode,
    /// Kubernetes' `StatusReason` ("NotFound", "Invalid", ...).
    pub reason: &'static str,
    pub message: String,
    /// `details` (name, group, kind, causes), when the refusal is about one object.
    pub details: Option<Value>,
    /// `metadata.continue`: where a list may go on, inconsistently, after its token expired.
    pub continue_token: Option<String>,
}

impl RestError {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> RestError {
        RestError {
            code,
            reason,
            message: message.into(),
            details: None,
            continue_token: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> RestError {
        RestError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn not_found(message: impl Into<String>) -> RestError {
        RestError::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> RestError {
        RestError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> RestError {
        RestError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            message,
        )
    }

    pub fn not_acceptable(message: impl Into<String>) -> RestError {
        RestError::new(StatusCode::NOT_ACCEPTABLE, "NotAcceptable", message)
    }

    /// 422 with one cause per field, as kube-apiserver's validation answers.
    pub fn invalid(message: impl Into<String>, causes: Vec<Value>) -> RestError {
        let mut e = RestError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message);
        e.details = Some(json!({ "causes": causes }));
        e
    }

    /// `details` naming the object: `{"name": .., "group": .., "kind": <resource>}`.
    pub fn about(mut self, group: &str, resource: &str, name: &str) -> RestError {
        let mut details = self.details.take().unwrap_or_else(|| json!({}));
        if !name.is_empty() {
            details["name"] = Value::from(name);
        }
        if !group.is_empty() {
            details["group"] = Value::from(group);
        }
        details["kind"] = Value::from(resource);
        self.details = Some(details);
        self
    }

    /// The same refusal, offering a continue token in the Status's `metadata`.
    pub fn with_continue(mut self, token: String) -> RestError {
        self.continue_token = Some(token);
        self
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        if let Some(token) = &self.continue_token {
            status["metadata"]["continue"] = Value::from(token.as_str());
        }
        status
    }
}

/// A `Status` of success (what a delete answers when nothing of the object is left).
pub fn success(details: Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}

impl From<Error> for RestError {
    fn from(e: Error) -> RestError {
        let (code, reason) = match &e {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
            Error::AlreadyExists(_) => (StatusCode::CONFLICT, "AlreadyExists"),
            Error::Invalid(_) | Error::FailedPrecondition(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Invalid")
            }
            Error::Conflict(_) => (StatusCode::CONFLICT, "Conflict"),
            Error::Expired(_) => (StatusCode::GONE, "Expired"),
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
            Error::Internal(_) | Error::Exhausted(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
            }
            Error::Unimplemented(_) => (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
            Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "Unauthorized"),
            Error::PermissionDenied(_) => (StatusCode::FORBIDDEN, "Forbidden"),
        };
        RestError::new(code, reason, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_object_is_a_404_status_naming_it() {
        let e = RestError::from(Error::NotFound("pods \"web\" not found".into()))
            .about("", "pods", "web");
        let status = e.to_status();
        assert_eq!(status["code"], 404);
        assert_eq!(status["reason"], "NotFound");
        assert_eq!(status["status"], "Failure");
        assert_eq!(status["details"]["name"], "web");
        assert_eq!(status["details"]["kind"], "pods");
        assert!(status["details"].get("group").is_none());
    }

    #[test]
    fn conflicts_and_expiry_keep_the_codes_clients_retry_on() {
        assert_eq!(RestError::from(Error::Conflict("x".into())).code, 409);
        assert_eq!(
            RestError::from(Error::Conflict("x".into())).reason,
            "Conflict"
        );
        assert_eq!(
            RestError::from(Error::AlreadyExists("x".into())).reason,
            "AlreadyExists"
        );
        assert_eq!(RestError::from(Error::Expired("x".into())).code, 410);
    }

    /// etcd without a quorum (or unreachable): a 503 Status clients retry, not a 500.
    #[test]
    fn a_store_backend_failure_is_a_503_status() {
        let store = crate::store::StoreError::Backend("etcd: etcdserver: no leader".into());
        let status = RestError::from(Error::from(store)).to_status();
        assert_eq!(status["code"], 503);
        assert_eq!(status["reason"], "ServiceUnavailable");
        assert_eq!(status["kind"], "Status");
        assert!(
            status["message"].as_str().unwrap().contains("no leader"),
            "{status}"
        );
    }
}
