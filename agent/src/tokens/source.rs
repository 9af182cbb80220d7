//! Where tokens come from: the control plane's `Node.RequestServiceAccountToken` (the
//! pod's own service account, bound to the pod), or nowhere on a standalone agent.

use std::future::Future;
use std::pin::Pin;

use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::ServiceAccountTokenRequest;
use tonic::transport::Channel;
use tonic::Code;

use super::TokenError;

/// One token request for a pod's projected `serviceAccountToken` source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenRequest {
    pub namespace: String,
    pub pod_name: String,
    pub pod_uid: String,
    /// Empty: the API server's own audience.
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
}

/// A token and when it stops being accepted (seconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub expiration_unix_seconds: i64,
}

pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<IssuedToken, TokenError>> + Send + 'a>>;

/// Asks for a fresh token; boxed futures keep it usable as `Arc<dyn TokenSource>`.
pub trait TokenSource: Send + Sync {
    fn request<'a>(&'a self, request: &'a TokenRequest) -> TokenFuture<'a>;
}

/// A standalone agent: no control plane issues tokens.
#[derive(Debug, Default)]
pub struct NoTokens;

impl TokenSource for NoTokens {
    fn request<'a>(&'a self, _request: &'a TokenRequest) -> TokenFuture<'a> {
        Box::pin(async {
            Err(TokenError::Unavailable(
                "this agent is not joined to a control plane, and static pods cannot use \
                 service account tokens"
                    .into(),
            ))
        })
    }
}

/// [`TokenSource`] over the control plane's Node service.
pub struct RemoteTokens {
    channel: Channel,
    node_name: String,
}

impl RemoteTokens {
    pub fn new(channel: Channel, node_name: &str) -> Self {
        Self {
            channel,
            node_name: node_name.to_string(),
        }
    }
}

impl TokenSource for RemoteTokens {
    fn request<'a>(&'a self, request: &'a TokenRequest) -> TokenFuture<'a> {
        Box::pin(async move {
            let call = ServiceAccountTokenRequest {
                node_name: self.node_name.clone(),
                namespace: request.namespace.clone(),
                pod_name: request.pod_name.clone(),
                pod_uid: request.pod_uid.clone(),
                audiences: request.audiences.clone(),
                expiration_seconds: request.expiration_seconds,
            };
            match NodeClient::new(self.channel.clone())
                .request_service_account_token(call)
                .await
            {
                Ok(answer) => {
                    let answer = answer.into_inner();
                    Ok(IssuedToken {
                        token: answer.token,
                        expiration_unix_seconds: answer.expiration_unix_seconds,
                    })
                }
                Err(status) => Err(match status.code() {
                    Code::PermissionDenied => TokenError::Forbidden(status.message().into()),
                    Code::NotFound => TokenError::NotFound(status.message().into()),
                    _ => TokenError::Unavailable(format!(
                        "asking the control plane: {}",
                        status.message()
                    )),
                }),
            }
        })
    }
}
