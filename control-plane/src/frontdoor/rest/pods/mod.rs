//! A pod's subresources beyond `status`: `binding` (what a scheduler writes), `eviction`
//! (what `kubectl drain` asks for), and the streaming ones relayed to the pod's agent
//! through `frontdoor/relay/`: `log` as text, `exec` and `attach` over WebSocket,
//! `portforward` (`kubectl port-forward`) over SPDY or WebSocket.
//!
//! | what | file |
//! |------|------|
//! | `log`: text, chunked while following | `log.rs` |
//! | `exec` and `attach`: checks, then the session on the agent | `exec.rs` |
//! | one session between the WebSocket and the agent | `session.rs` |
//! | the WebSocket handshake (shared with port-forward) | `upgrade.rs` |
//! | query parameters, the container check | `options.rs` |
//! | the v4/v5 channel framing of exec and attach | `channels.rs` |
//! | the error channel's last `Status` | `outcome.rs` |
//! | port-forward: SPDY (tunnelled or upgraded) and WebSocket `v4.channel.k8s.io` | `portforward/` |

pub mod binding;
pub mod channels;
pub mod eviction;
pub mod exec;
pub mod log;
pub mod options;
pub mod outcome;
pub mod portforward;
pub mod session;
pub mod upgrade;

use k8s_openapi::api::core::v1::Pod;

use super::objects::Target;
use super::status::RestError;
use super::Ctx;
use crate::core::objects::decode;
use crate::core::Error;
use options::OptionsError;

/// The stored pod `name`, or kube-apiserver's 404.
async fn read_pod(ctx: &Ctx, target: &Target<'_>, name: &str) -> Result<Pod, RestError> {
    let stored = ctx
        .cp
        .store
        .get(&target.key(name))
        .await
        .map_err(|e| RestError::from(Error::from(e)))?
        .ok_or_else(|| target.not_found(name))?;
    decode(&stored).map_err(|e| RestError::from(Error::Internal(e.to_string())))
}

/// The 400 kube-apiserver gives a request it cannot serve as asked.
fn options_refusal(e: OptionsError) -> RestError {
    match e {
        OptionsError::Bad(message) => RestError::bad_request(message),
        OptionsError::Invalid { field, message } => {
            RestError::bad_request(format!("{field}: {message}"))
        }
    }
}

/// The node's refusal: what the kubelet refuses (no such run, not running) is a 400 with
/// its message, as kube-apiserver passes it on; the rest keeps the core's mapping.
fn node_refusal(e: Error) -> RestError {
    match e {
        Error::Invalid(message) | Error::FailedPrecondition(message) => {
            RestError::bad_request(message)
        }
        e => RestError::from(e),
    }
}
