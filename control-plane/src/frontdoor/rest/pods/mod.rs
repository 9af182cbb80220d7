//! A pod's subresources beyond `status`: `binding` (what a scheduler writes), `eviction`
//! (what `kubectl drain` asks for), and the streaming ones relayed to the pod's agent
//! through `frontdoor/relay/`: `log` as text, `exec` and `attach` over WebSocket.
//!
//! | what | file |
//! |------|------|
//! | query parameters, the container check | `options.rs` |
//! | the v4/v5 channel framing (shared with port-forward) | `channels.rs` |
//! | the error channel's last `Status` | `outcome.rs` |

pub mod binding;
pub mod channels;
pub mod eviction;
pub mod options;
pub mod outcome;
