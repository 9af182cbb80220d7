//! The one mapping of the REST API's failures to what the user reads: a `Status` from the
//! server prints as kubectl prints it (`Error from server (NotFound): pods "x" not
//! found`), anything else (no connection, a bad reply) names the server.

/// A failed request to the control plane.
#[derive(Debug)]
pub enum ApiError {
    /// The server answered with a `Status`.
    Status(Box<kube::core::Status>),
    /// No answer to read: connection, TLS or decoding.
    Client { server: String, error: kube::Error },
}

impl ApiError {
    pub fn from_kube(server: &str, error: kube::Error) -> ApiError {
        match error {
            kube::Error::Api(status) => ApiError::Status(status),
            error => ApiError::Client {
                server: server.to_string(),
                error,
            },
        }
    }

    /// The HTTP code of a server's refusal (0 for client-side failures).
    pub fn code(&self) -> u16 {
        match self {
            ApiError::Status(status) => status.code,
            ApiError::Client { .. } => 0,
        }
    }

    /// Whether the server answered (a `Status`), rather than the request failing.
    pub fn is_status(&self) -> bool {
        matches!(self, ApiError::Status(_))
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == 404
    }

    pub fn is_conflict(&self) -> bool {
        self.code() == 409 && self.reason() == "Conflict"
    }

    pub fn reason(&self) -> &str {
        match self {
            ApiError::Status(status) => &status.reason,
            ApiError::Client { .. } => "",
        }
    }

    /// The server's message alone (`pods "x" not found`).
    pub fn message(&self) -> String {
        match self {
            ApiError::Status(status) => status.message.clone(),
            ApiError::Client { error, .. } => error.to_string(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // kubectl's StandardErrorMessage.
            ApiError::Status(status) if status.code == 401 => {
                write!(
                    f,
                    "error: You must be logged in to the server ({})",
                    status.message
                )
            }
            ApiError::Status(status) if status.reason.is_empty() => {
                write!(f, "Error from server: {}", status.message)
            }
            ApiError::Status(status) => {
                write!(
                    f,
                    "Error from server ({}): {}",
                    status.reason, status.message
                )
            }
            ApiError::Client { server, error } => {
                write!(f, "cannot reach the control plane at {server}: {error}")
            }
        }
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_as_kubectl_prints_it() {
        let status =
            kube::core::Status::failure(r#"pods "x" not found"#, "NotFound").with_code(404);
        let error = ApiError::Status(Box::new(status));
        assert!(error.is_not_found());
        assert_eq!(
            error.to_string(),
            r#"Error from server (NotFound): pods "x" not found"#
        );
        let anonymous = kube::core::Status::failure("Unauthorized", "Unauthorized").with_code(401);
        assert_eq!(
            ApiError::Status(Box::new(anonymous)).to_string(),
            "error: You must be logged in to the server (Unauthorized)"
        );
    }
}
