//! A container's bind mounts from its `volumeMounts`: the volume's host path, or a
//! `subPath` / `subPathExpr` inside it (made as a directory when missing, and never
//! outside the volume), read-only when the mount or the volume says so.

use std::collections::HashMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, VolumeMount};

use super::PodVolumes;

/// A host path bind-mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    pub source: std::path::PathBuf,
    pub destination: String,
    pub read_only: bool,
}

/// The bind mounts of `container`; `env` is its resolved environment, which
/// `subPathExpr` expands from. An error is a container config error (the kubelet's
/// `CreateContainerConfigError`).
pub fn container_mounts(
    volumes: &PodVolumes,
    container: &Container,
    env: &[(String, String)],
) -> Result<Vec<BindMount>, String> {
    let vars: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    container
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| one(volumes, m, &vars))
        .collect()
}

fn one(
    volumes: &PodVolumes,
    m: &VolumeMount,
    vars: &HashMap<&str, &str>,
) -> Result<BindMount, String> {
    let volume = volumes
        .get(&m.name)
        .ok_or_else(|| format!("volumeMount {:?}: the pod has no such volume", m.name))?;
    let sub = match (&m.sub_path, &m.sub_path_expr) {
        (Some(p), _) if !p.is_empty() => p.clone(),
        (_, Some(expr)) if !expr.is_empty() => expand_sub_path(expr, vars)?,
        _ => String::new(),
    };
    let source = if sub.is_empty() {
        volume.path.clone()
    } else {
        sub_path_source(&volume.path, &sub)?
    };
    Ok(BindMount {
        source,
        destination: m.mount_path.clone(),
        read_only: volume.read_only || m.read_only == Some(true),
    })
}

/// `$(VAR)` from the container's environment; as the kubelet, a variable that is
/// missing or empty is an error rather than a path that silently differs.
fn expand_sub_path(expr: &str, vars: &HashMap<&str, &str>) -> Result<String, String> {
    let mut missing = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("$(") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else { break };
        let name = &after[..end];
        if vars.get(name).is_none_or(|v| v.is_empty()) {
            missing.push(name.to_string());
        }
        rest = &after[end + 1..];
    }
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return Err(format!(
            "subPathExpr {expr:?}: missing value for {}",
            missing.join(", ")
        ));
    }
    let owned: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(crate::containerd::container::expand(expr, &owned))
}

/// `volume/sub`, made as a directory if missing; refused when it leaves the volume,
/// through `..` or through a symlink.
fn sub_path_source(volume: &Path, sub: &str) -> Result<PathBuf, String> {
    let rel = Path::new(sub);
    if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!(
            "subPath {sub:?} must be a relative path without '..'"
        ));
    }
    let path = volume.join(rel);
    if fs::symlink_metadata(&path).is_err() {
        fs::create_dir_all(&path)
            .map_err(|e| format!("subPath {sub:?}: creating {}: {e}", path.display()))?;
    }
    let base = fs::canonicalize(volume).map_err(|e| format!("volume {}: {e}", volume.display()))?;
    let real =
        fs::canonicalize(&path).map_err(|e| format!("subPath {sub:?}: {}: {e}", path.display()))?;
    if !real.starts_with(&base) {
        return Err(format!(
            "subPath {sub:?} resolves to {}, outside the volume",
            real.display()
        ));
    }
    Ok(real)
}
