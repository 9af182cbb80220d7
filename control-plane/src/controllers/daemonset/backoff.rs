//! Kubernetes' failed-pods backoff: a daemon pod that keeps failing on a node (a kubelet
//! rejecting it, say) is replaced after a delay that doubles per failure (1 s up to
//! 15 min), so the controller and the node do not fight in a hot loop. Kept in memory per
//! DaemonSet and node, as Kubernetes does; a restarted control plane starts afresh.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

use crate::core::clock::elapsed;

const INITIAL: Duration = Duration::from_secs(1);
const MAX: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
pub struct FailedPodsBackoff {
    /// (DaemonSet uid, node) → (current delay, when it was last taken).
    entries: Mutex<HashMap<(String, String), (Duration, Timestamp)>>,
}

impl FailedPodsBackoff {
    /// Whether a failed pod of `ds` on `node` may be replaced now. If it may, the delay
    /// grows for the next failure; if not, how long is left.
    pub fn take(&self, ds: &str, node: &str, now: Timestamp) -> Result<(), Duration> {
        let mut entries = self.entries.lock().expect("backoff lock");
        let key = (ds.to_string(), node.to_string());
        let next = match entries.get(&key) {
            Some(&(delay, since)) => {
                let waited = elapsed(now, since);
                if waited < delay {
                    return Err(delay - waited);
                }
                // A node quiet for twice the longest delay starts over.
                if waited > MAX * 2 {
                    INITIAL
                } else {
                    (delay * 2).min(MAX)
                }
            }
            None => INITIAL,
        };
        entries.insert(key, (next, now));
        Ok(())
    }
}
