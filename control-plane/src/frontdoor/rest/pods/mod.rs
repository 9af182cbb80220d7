//! Pods' streaming subresources (docs/architecture.md, The REST front door): `log` as
//! text, `exec` and `attach` over WebSocket, all relayed to the pod's agent through
//! `frontdoor/relay/`.
//!
//! | what | file |
//! |------|------|
//! | query parameters, the container check | `options.rs` |
//! | the v4/v5 channel framing (shared with port-forward) | `channels.rs` |
//! | the error channel's last `Status` | `outcome.rs` |

pub mod channels;
pub mod options;
pub mod outcome;
