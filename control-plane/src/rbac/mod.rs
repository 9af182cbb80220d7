//! Authorization by RBAC (docs/architecture.md, The REST API), as kube-apiserver's RBAC
//! authorizer: Roles, ClusterRoles and their bindings, read from an in-memory index a
//! watch keeps current, judge every REST request; `system:masters` may do anything.
//!
//! | what | file |
//! |------|------|
//! | request attributes, one rule against one request, subjects | `rules.rs` |
//! | the watched RBAC objects in memory | `index.rs` |
//! | the decision, and the rules a user holds | `authorizer.rs` |
//! | no granting more than one holds (escalate, bind) | `escalation.rs` |
//! | the default roles and bindings | `policy.rs` |
//! | making them true at start | `bootstrap.rs` |
//!
//! The aggregation of `admin`, `edit` and `view` is a controller
//! (`controllers/aggregation.rs`).

mod authorizer;
mod bootstrap;
pub mod escalation;
mod index;
pub mod policy;
mod rules;

pub use authorizer::{Authorizer, Decision};
pub use bootstrap::bootstrap;
pub use index::{Index, Snapshot, RBAC_KINDS};
pub use rules::{allows, applies_to, service_account_user, Attributes};
