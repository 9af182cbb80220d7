//! What clients read before they act (docs/architecture.md, REST front door): the server's
//! version, the discovery documents that name every resource, and the health checks.
//! Built from the one table of kinds (`skiff_proto::kinds`), so a kind added there is
//! discovered, listed by `kubectl api-resources` and reached by its short names without
//! another edit.
//!
//! | document | file |
//! |----------|------|
//! | `/version` | `version.rs` |
//! | `/api`, `/apis` (legacy form) | `groups.rs` |
//! | `/api/v1`, `/apis/<group>/<version>` | `resources.rs` |
//! | the aggregated form of `/api` and `/apis` (apidiscovery.k8s.io/v2) | `aggregated.rs` |
//! | `/healthz`, `/livez`, `/readyz` | `health.rs` |
//! | the documents as HTTP answers | `answer.rs` |
//! | which path gets which answer | `serve.rs` |

pub mod aggregated;
pub mod answer;
pub mod groups;
pub mod health;
pub mod resources;
mod serve;
pub mod version;

pub use serve::serve;

use skiff_proto::kinds::{self, KindInfo, KINDS};

/// A served group-version: "" for the core group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupVersion {
    pub group: &'static str,
    pub version: &'static str,
}

impl GroupVersion {
    /// "v1" or "apps/v1", as `groupVersion` fields write it.
    pub fn name(&self) -> String {
        kinds::group_version(self.group, self.version)
    }

    /// The kinds served under it, in table order.
    pub fn kinds(&self) -> impl Iterator<Item = &'static KindInfo> + '_ {
        KINDS
            .iter()
            .filter(move |k| k.group == self.group && k.version == self.version)
    }
}

/// The named groups in kube-apiserver's order (its group priorities), so `kubectl
/// api-versions` and `api-resources` list them as against Kubernetes. A group of the
/// table missing here comes after them, alphabetically.
const GROUP_ORDER: &[&str] = &[
    "apps",
    "batch",
    "storage.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
];

/// Every served group-version: the core one first, then the named groups in
/// kube-apiserver's order.
pub fn group_versions() -> Vec<GroupVersion> {
    let mut served: Vec<GroupVersion> = Vec::new();
    for kind in KINDS {
        let gv = GroupVersion {
            group: kind.group,
            version: kind.version,
        };
        if !served.contains(&gv) {
            served.push(gv);
        }
    }
    let rank = |gv: &GroupVersion| {
        if gv.group.is_empty() {
            (0, "")
        } else {
            match GROUP_ORDER.iter().position(|g| *g == gv.group) {
                Some(i) => (1 + i, ""),
                None => (1 + GROUP_ORDER.len(), gv.group),
            }
        }
    };
    served.sort_by_key(|gv| rank(gv));
    served
}

/// The served group-version `group`/`version` ("" for core), if any.
pub fn find(group: &str, version: &str) -> Option<GroupVersion> {
    group_versions()
        .into_iter()
        .find(|gv| gv.group == group && gv.version == version)
}
