//! Prober state on disk: one small JSON file per container attempt in the pod's
//! directory (`<pod dir>/<container>/<attempt>.probes.json`, beside the attempt's log),
//! written atomically so a crash leaves the old state or the new one, never half.

use std::io::Write;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::state::ProbeState;

#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct StoreError {
    context: String,
    source: std::io::Error,
}

fn err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError { context, source }
}

/// Where the state of `attempt` of `container` lives under `pod_dir`.
pub fn path(pod_dir: &Path, container: &str, attempt: u32) -> PathBuf {
    pod_dir
        .join(container)
        .join(format!("{attempt}.probes.json"))
}

pub fn save(
    pod_dir: &Path,
    container: &str,
    attempt: u32,
    state: &ProbeState,
) -> Result<(), StoreError> {
    save_to(&path(pod_dir, container, attempt), state)
}

/// The saved state, or None when there is none or it cannot be read (then the prober
/// starts afresh, as it would have without the file).
pub fn load(pod_dir: &Path, container: &str, attempt: u32) -> Option<ProbeState> {
    load_from(&path(pod_dir, container, attempt))
}

/// Writes a temporary file next to `file`, syncs it and renames it over `file`.
pub fn save_to(file: &Path, state: &ProbeState) -> Result<(), StoreError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err(format!("create {}", dir.display())))?;
    let json = serde_json::to_vec(state).expect("probe state serializes");
    let tmp = file.with_extension("json.tmp");
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&json).and_then(|()| f.sync_all()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(format!("write {}", tmp.display()))(e));
    }
    std::fs::rename(&tmp, file).map_err(err(format!("rename to {}", file.display())))
}

pub fn load_from(file: &Path) -> Option<ProbeState> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warn!(file = %file.display(), error = %e, "probe state unreadable, starting afresh");
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(state) => Some(state),
        Err(e) => {
            warn!(file = %file.display(), error = %e, "probe state corrupt, starting afresh");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::{Counters, ProbeState};

    #[test]
    fn round_trip_and_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path(), "web", 2), None);
        let mut state = ProbeState::fresh(true, false);
        save(dir.path(), "web", 2, &state).unwrap();
        assert_eq!(load(dir.path(), "web", 2), Some(state.clone()));
        state.ready = true;
        state.liveness = Counters {
            successes: 0,
            failures: 2,
        };
        save(dir.path(), "web", 2, &state).unwrap();
        assert_eq!(load(dir.path(), "web", 2), Some(state));
        let names: Vec<_> = std::fs::read_dir(dir.path().join("web"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["2.probes.json"], "no temporary file left");
    }

    #[test]
    fn corrupt_or_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "web", 0);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"{not json").unwrap();
        assert_eq!(load_from(&file), None);
        // Fields added later default; counters may be missing.
        std::fs::write(&file, br#"{"ready":true,"started":true}"#).unwrap();
        let s = load_from(&file).unwrap();
        assert!(s.ready && s.started && s.failed.is_none());
    }
}
