//! The pods this node runs, with their status, as the agent API shows them.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::watch;

use crate::sources::SourceError;

#[derive(Clone)]
pub struct StatusStore {
    pods: Arc<RwLock<BTreeMap<String, Pod>>>,
    errors: Arc<RwLock<Vec<SourceError>>>,
    /// Bumped on every change, so followers (logs -f, watches) wake up.
    version: Arc<watch::Sender<u64>>,
}

impl Default for StatusStore {
    fn default() -> Self {
        Self {
            pods: Default::default(),
            errors: Default::default(),
            version: Arc::new(watch::channel(0).0),
        }
    }
}

impl StatusStore {
    pub fn put(&self, pod: Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let changed = {
            let mut pods = self.pods.write().expect("status lock");
            let changed = pods.get(&uid) != Some(&pod);
            pods.insert(uid, pod);
            changed
        };
        if changed {
            self.version.send_modify(|v| *v += 1);
        }
    }

    pub fn remove(&self, uid: &str) {
        if self
            .pods
            .write()
            .expect("status lock")
            .remove(uid)
            .is_some()
        {
            self.version.send_modify(|v| *v += 1);
        }
    }

    pub fn list(&self) -> Vec<Pod> {
        self.pods
            .read()
            .expect("status lock")
            .values()
            .cloned()
            .collect()
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Pod> {
        self.pods
            .read()
            .expect("status lock")
            .values()
            .find(|p| {
                p.metadata.namespace.as_deref().unwrap_or("default") == namespace
                    && p.metadata.name.as_deref() == Some(name)
            })
            .cloned()
    }

    pub fn set_errors(&self, errors: Vec<SourceError>) {
        *self.errors.write().expect("status lock") = errors;
    }

    pub fn errors(&self) -> Vec<SourceError> {
        self.errors.read().expect("status lock").clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }
}

/// Readers of the published status, for unit tests.
#[cfg(test)]
pub mod test_support {
    use k8s_openapi::api::core::v1::ContainerStatus;

    use super::StatusStore;

    fn find(s: &StatusStore, uid: &str, c: &str) -> Option<ContainerStatus> {
        let pod = s
            .list()
            .into_iter()
            .find(|p| p.metadata.uid.as_deref() == Some(uid))?;
        let st = pod.status?;
        st.init_container_statuses
            .into_iter()
            .flatten()
            .chain(st.container_statuses.into_iter().flatten())
            .find(|x| x.name == c)
    }

    pub fn phase(s: &StatusStore, uid: &str) -> String {
        s.list()
            .into_iter()
            .find(|p| p.metadata.uid.as_deref() == Some(uid))
            .and_then(|p| p.status?.phase)
            .unwrap_or_default()
    }

    pub fn ready(s: &StatusStore, uid: &str) -> bool {
        s.list()
            .into_iter()
            .find(|p| p.metadata.uid.as_deref() == Some(uid))
            .is_some_and(|p| {
                p.status
                    .and_then(|s| s.conditions)
                    .into_iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
    }

    pub fn running_attempt(s: &StatusStore, uid: &str, c: &str) -> Option<i32> {
        find(s, uid, c)
            .filter(|x| x.state.as_ref().is_some_and(|st| st.running.is_some()))
            .map(|x| x.restart_count)
    }

    pub fn waiting_reason(s: &StatusStore, uid: &str, c: &str) -> Option<String> {
        find(s, uid, c)?.state?.waiting?.reason
    }

    pub fn last_exit_code(s: &StatusStore, uid: &str, c: &str) -> Option<i32> {
        Some(find(s, uid, c)?.last_state?.terminated?.exit_code)
    }

    pub fn terminated_exit_code(s: &StatusStore, uid: &str, c: &str) -> Option<i32> {
        Some(find(s, uid, c)?.state?.terminated?.exit_code)
    }
}
