//! OOM kills, so an exit can be reported as `OOMKilled` rather than `Error`.
//!
//! containerd's `/tasks/oom` events are the primary source: the shim watches the
//! container's memory cgroup and publishes an event per OOM. It races the task's exit
//! event, so a consumer keeps OOM'd ids around until their exit arrives. The cgroup
//! counters are a fallback for events missed while disconnected, but they are only
//! readable until the task is deleted (runc removes the cgroup with it).

use std::path::Path;

use containerd_client::events::TaskOom;
use containerd_client::types::Envelope;
use prost::Message;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::lifecycle::ContainerRuntime;

const OOM_TOPIC: &str = "/tasks/oom";
const CHANNEL_SIZE: usize = 64;
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

impl ContainerRuntime {
    /// Follows OOM kills in our namespace on a task of the current Tokio runtime and sends
    /// the container id of each. Reconnects forever with backoff; events missed in a gap
    /// are not replayed, so check [`was_oom_killed`] at exit too. Ends when the receiver
    /// is dropped.
    pub fn subscribe_ooms(&self) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel(CHANNEL_SIZE);
        let runtime = self.clone();
        tokio::spawn(async move { runtime.follow_ooms(tx).await });
        rx
    }

    async fn follow_ooms(self, tx: mpsc::Sender<String>) {
        let decode = |envelope: &Envelope, namespace: &str| {
            let id = decode_oom(envelope, namespace)?;
            info!(container = %id, "container hit its memory limit");
            Some(id)
        };
        self.follow_topic(OOM_TOPIC, tx, decode, None).await
    }
}

/// The container id of an OOM event in `namespace`.
fn decode_oom(envelope: &Envelope, namespace: &str) -> Option<String> {
    if envelope.namespace != namespace || envelope.topic != OOM_TOPIC {
        return None;
    }
    let any = envelope.event.as_ref()?;
    match TaskOom::decode(any.value.as_slice()) {
        Ok(oom) if !oom.container_id.is_empty() => Some(oom.container_id),
        Ok(_) => None,
        Err(e) => {
            warn!(type_url = %any.type_url, error = %e, "undecodable oom event");
            None
        }
    }
}

/// Whether the kernel OOM-killed a process in the container cgroup `cgroups_path` (as in
/// the OCI spec, e.g. `/skiff/pod<uid>/<container-id>`). Reads `memory.events` on cgroup
/// v2, `memory.oom_control` (or, on kernels without its `oom_kill` line,
/// `memory.failcnt`) on v1. False when the cgroup is gone.
pub fn was_oom_killed(cgroups_path: &Path) -> bool {
    was_oom_killed_in(Path::new(CGROUP_ROOT), cgroups_path)
}

/// [`was_oom_killed`] under another cgroupfs mount, for tests.
pub fn was_oom_killed_in(root: &Path, cgroups_path: &Path) -> bool {
    let rel = cgroups_path.strip_prefix("/").unwrap_or(cgroups_path);
    // v1 (also the hybrid layout, whose unified mount has no memory controller).
    let v1 = root.join("memory").join(rel);
    if let Ok(control) = std::fs::read_to_string(v1.join("memory.oom_control")) {
        return match counter(&control, "oom_kill") {
            Some(kills) => kills > 0,
            None => std::fs::read_to_string(v1.join("memory.failcnt"))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .is_some_and(|n| n > 0),
        };
    }
    let v2 = root.join(rel).join("memory.events");
    std::fs::read_to_string(v2)
        .ok()
        .and_then(|events| counter(&events, "oom_kill"))
        .is_some_and(|kills| kills > 0)
}

/// The value of a `key value` line in a cgroup stat file.
fn counter(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(ns: &str, topic: &str, id: &str) -> Envelope {
        Envelope {
            timestamp: None,
            namespace: ns.into(),
            topic: topic.into(),
            event: Some(prost_types::Any {
                type_url: "containerd.events.TaskOOM".into(),
                value: TaskOom {
                    container_id: id.into(),
                }
                .encode_to_vec(),
            }),
        }
    }

    #[test]
    fn decodes_ooms_in_our_namespace_only() {
        let e = envelope("skiff", OOM_TOPIC, "c1");
        assert_eq!(decode_oom(&e, "skiff").as_deref(), Some("c1"));
        assert!(decode_oom(&envelope("other", OOM_TOPIC, "c1"), "skiff").is_none());
        assert!(decode_oom(&envelope("skiff", "/tasks/exit", "c1"), "skiff").is_none());
        assert!(decode_oom(&envelope("skiff", OOM_TOPIC, ""), "skiff").is_none());
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn reads_v1_oom_control_then_failcnt() {
        let root = tempfile::tempdir().unwrap();
        let cg = Path::new("/skiff/podu/c-0");
        assert!(!was_oom_killed_in(root.path(), cg), "missing cgroup");
        let control = "memory/skiff/podu/c-0/memory.oom_control";
        write(
            root.path(),
            control,
            "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        );
        write(root.path(), "memory/skiff/podu/c-0/memory.failcnt", "12\n");
        assert!(
            !was_oom_killed_in(root.path(), cg),
            "oom_kill wins over failcnt"
        );
        write(
            root.path(),
            control,
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        );
        assert!(was_oom_killed_in(root.path(), cg));
        // Kernels before 4.13 have no oom_kill line.
        write(root.path(), control, "oom_kill_disable 0\nunder_oom 0\n");
        assert!(was_oom_killed_in(root.path(), cg));
    }

    #[test]
    fn reads_v2_memory_events() {
        let root = tempfile::tempdir().unwrap();
        let cg = Path::new("/skiff/podu/c-0");
        let events = "skiff/podu/c-0/memory.events";
        write(
            root.path(),
            events,
            "low 0\nhigh 0\nmax 5\noom 1\noom_kill 0\n",
        );
        assert!(!was_oom_killed_in(root.path(), cg));
        write(
            root.path(),
            events,
            "low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\n",
        );
        assert!(was_oom_killed_in(root.path(), cg));
    }
}
