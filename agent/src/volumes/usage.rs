//! `sizeLimit` of emptyDirs on disk: the kubelet evicts a pod whose emptyDir grew past
//! it; this measures (memory-backed ones are capped by their tmpfs instead).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::layout;
use super::VolumeManager;

/// Whether `pod` has an emptyDir on disk with a `sizeLimit`, so its usage is worth watching.
pub fn has_disk_limit(pod: &Pod) -> bool {
    disk_limits(pod).next().is_some()
}

fn disk_limits(pod: &Pod) -> impl Iterator<Item = (&str, &Quantity)> + '_ {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            let e = v.empty_dir.as_ref()?;
            let on_disk = e.medium.as_deref().unwrap_or("").is_empty();
            let limit = e.size_limit.as_ref()?;
            on_disk.then_some((v.name.as_str(), limit))
        })
}

impl VolumeManager {
    /// The kubelet's eviction message for the first emptyDir on disk that uses more than
    /// its `sizeLimit`, if any.
    pub fn over_limit(&self, pod: &Pod) -> Option<String> {
        for (name, limit) in disk_limits(pod) {
            let Some(bytes) = skiff_proto::model::to_bytes(limit) else {
                continue;
            };
            let dir = layout::volume_dir(&self.root, pod, layout::EMPTY_DIR, name);
            let used = disk_usage(&dir).unwrap_or(0);
            if used > bytes {
                return Some(format!(
                    "Usage of EmptyDir volume {name:?} exceeds the limit {:?}.",
                    limit.0
                ));
            }
        }
        None
    }
}

/// Bytes allocated under `dir`, as `du` counts them; the walk stays on one filesystem.
fn disk_usage(dir: &Path) -> io::Result<u64> {
    let top = fs::symlink_metadata(dir)?;
    let mut total = top.blocks() * 512;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)?.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.dev() != top.dev() {
                continue;
            }
            total += meta.blocks() * 512;
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::volumes::fake::FakeMounts;

    #[test]
    fn an_empty_dir_past_its_limit_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let manager = VolumeManager::new(
            tmp.path(),
            Arc::new(FakeMounts::default()),
            Default::default(),
        );
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"containers": [], "volumes": [
                {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Ki"}},
                {"name": "scratch", "emptyDir": {"sizeLimit": "64Ki"}}]}
        }))
        .unwrap();
        assert!(has_disk_limit(&pod));
        let dir = layout::volume_dir(tmp.path(), &pod, layout::EMPTY_DIR, "scratch");
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("sub/small"), vec![1u8; 4096]).unwrap();
        assert_eq!(manager.over_limit(&pod), None);
        fs::write(dir.join("big"), vec![1u8; 128 * 1024]).unwrap();
        assert_eq!(
            manager.over_limit(&pod).as_deref(),
            Some("Usage of EmptyDir volume \"scratch\" exceeds the limit \"64Ki\".")
        );
    }
}
