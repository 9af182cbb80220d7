//! Where pods come from. Standalone: a directory of static manifests. The control plane's
//! WatchPods joins it later; both feed the pod manager the same [`DesiredPods`].

pub mod manifests;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

/// A problem with one manifest file. It is reported and the file's pods are left as they
/// were, so a bad edit never takes down what already runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub file: String,
    pub message: String,
}

/// The whole desired state: level-triggered, the manager diffs it with what runs.
#[derive(Debug, Clone, Default)]
pub struct DesiredPods {
    /// Keyed by pod uid. Shared: the source, the merge and the manager each hold the
    /// set, and a copy of every pod in each would multiply the agent's per-pod memory.
    pub pods: BTreeMap<String, Arc<Pod>>,
    pub errors: Vec<SourceError>,
    /// Pods the control plane deleted with a grace period of their own (an eviction's,
    /// `drain --grace-period`), by uid: their containers get that many seconds to stop
    /// instead of the pod's terminationGracePeriodSeconds.
    pub deletion_grace: BTreeMap<String, i64>,
}
