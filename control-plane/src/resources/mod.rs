//! The object verbs over the store (docs/architecture.md, Control plane layers): plain
//! async functions over a [`Store`](crate::store::Store), testable against `MemoryStore`
//! without TLS, called by the front doors (`frontdoor/`). Below them: `allocation/`
//! (ClusterIPs, NodePorts, pod CIDRs), `mirror/` (the nodes' static pods), `owners.rs`
//! (dependents, and the references the Orphan policy removes).
//!
//! Objects are stored as the JSON of their k8s-openapi type without a resourceVersion;
//! every object served gets `metadata.resourceVersion` = its store revision, as a string.
//!
//! | method  | file          |
//! |---------|---------------|
//! | Apply   | `apply.rs` (+ `merge.rs`: the three-way merge of an update) |
//! | Create, Replace (REST POST, PUT) | `create.rs` |
//! | Get/List| `get.rs`      |
//! | Delete  | `delete.rs` (+ `namespaces.rs`: a namespace is marked `Terminating`; the namespace controller deletes its content) |
//! | Watch   | `watch.rs`    |
//! | (every update) | `write.rs`: default, validate, admit, compare-and-swap (+ `generation.rs`) |
//! | (every delete, by any deleter) | `finalizers.rs`: marked while finalizers are pending, gone with the last |
//! | (new Jobs) | `jobs.rs`: the uid and selector a Job is created with |
//! | (storage) | `storage.rs`: the default StorageClass, claims' admission and update rules, protected deletes |
//! | Scale (the `scale` subresource) | `scale.rs` |
//! | Evict   | `evict.rs`    |
//! | TokenRequest, token authentication, pod admission | `service_accounts/` |

pub mod allocation;
mod apply;
mod create;
mod delete;
mod evict;
mod fields;
pub mod finalizers;
pub mod generation;
mod get;
mod jobs;
mod merge;
pub mod mirror;
pub mod namespaces;
pub mod objects;
pub mod owners;
mod read_only;
mod storage;
mod watch;
mod write;
// workloads
mod scale;
mod served;
pub mod service_accounts;
mod splice;

#[cfg(test)]
mod tests;

pub use apply::{apply, apply_with, Action, Applied};
pub use create::{create, replace, Part};
pub use delete::delete;
pub use evict::evict;
pub use fields::FieldSelector;
pub use get::{get, list, list_at, list_stored, Scope};
pub use objects::{
    metadata_mut, serve, serve_value, served_value, write_served, write_served_metadata,
};
pub use read_only::refuse as refuse_read_only;
pub use storage::admit_create;
pub use watch::{watch, watch_with_progress, WatchStream, BOOKMARK, PROGRESS};
/// The read-modify-write every user edit takes, for tests that make one.
#[cfg(test)]
pub(crate) use write::edit;
// workloads
pub use scale::scale;
pub use served::{Object, WatchEvent};

/// What every cluster has, made at start if missing: the system namespaces and the
/// default StorageClass.
pub async fn bootstrap(
    store: &dyn crate::store::Store,
    clock: &dyn crate::core::Clock,
) -> Result<(), crate::core::Error> {
    namespaces::bootstrap(store, clock).await?;
    storage::bootstrap(store, clock).await
}
