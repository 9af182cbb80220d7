//! The kubelet's atomic writer: a volume's files live in a timestamped `..<time>`
//! directory, `..data` links to the current one and each visible name is a link through
//! it (`key -> ..data/key`). An update writes a new directory and swaps `..data` with one
//! rename, so a reader sees the old set or the new one, never a mix. A subPath mount
//! binds the file inside one timestamped directory, so it keeps the old content, as in
//! Kubernetes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

const DATA_LINK: &str = "..data";
const NEW_DATA_LINK: &str = "..data_tmp";

/// One file of a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// Relative path → file.
pub type Payload = BTreeMap<String, FileProjection>;

/// Checks a payload path the way the kubelet does: relative, no `..` element, not
/// starting with `..` (those names are the writer's own).
pub fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("invalid path: must not be empty".into());
    }
    if path.starts_with("..") {
        return Err(format!("invalid path {path:?}: must not start with '..'"));
    }
    let p = Path::new(path);
    if p.is_absolute() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(format!(
            "invalid path {path:?}: must be relative and may not contain '..'"
        ));
    }
    Ok(())
}

/// Makes `dir` hold exactly `payload`. Returns whether anything changed; an unchanged
/// payload leaves the timestamped directory alone (so re-adopted pods keep theirs).
pub fn write(dir: &Path, payload: &Payload) -> io::Result<bool> {
    for path in payload.keys() {
        validate_path(path).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    }
    fs::create_dir_all(dir)?;
    let current = fs::read_link(dir.join(DATA_LINK)).ok();
    let unchanged = match &current {
        Some(ts) => same_content(&dir.join(ts), payload)?,
        None => false,
    };
    let ts_name = if unchanged {
        current.clone().unwrap_or_default()
    } else {
        let ts = new_ts_dir(dir)?;
        write_files(&dir.join(&ts), payload)?;
        let tmp = dir.join(NEW_DATA_LINK);
        remove_if_present(&tmp)?;
        symlink(&ts, &tmp)?;
        fs::rename(&tmp, dir.join(DATA_LINK))?;
        ts
    };
    let visible: BTreeSet<String> = payload.keys().map(|p| top_level(p)).collect();
    for name in &visible {
        let link = dir.join(name);
        let want = Path::new(DATA_LINK).join(name);
        if fs::read_link(&link).ok().as_deref() != Some(want.as_path()) {
            remove_if_present(&link)?;
            symlink(&want, &link)?;
        }
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale_visible = !name.starts_with("..") && !visible.contains(&name);
        let stale_ts =
            name.starts_with("..") && name != DATA_LINK && Path::new(&name) != ts_name.as_path();
        if stale_visible || stale_ts {
            remove_if_present(&entry.path())?;
        }
    }
    Ok(!unchanged)
}

fn top_level(path: &str) -> String {
    path.split('/').next().unwrap_or(path).to_string()
}

/// `..2026_12_06_22_45_16.123456789`, as the kubelet names them.
fn new_ts_dir(dir: &Path) -> io::Result<PathBuf> {
    let now = jiff::Timestamp::now();
    let base = format!(
        "..{}.{:09}",
        now.strftime("%Y_%m_%d_%H_%M_%S"),
        now.subsec_nanosecond()
    );
    for n in 0u32.. {
        let name = if n == 0 {
            base.clone()
        } else {
            format!("{base}{n}")
        };
        match fs::DirBuilder::new().mode(0o755).create(dir.join(&name)) {
            Ok(()) => return Ok(PathBuf::from(name)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("u32 names run out")
}

fn write_files(ts_dir: &Path, payload: &Payload) -> io::Result<()> {
    for (path, file) in payload {
        let target = ts_dir.join(path);
        if let Some(parent) = target.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)?;
        }
        fs::write(&target, &file.data)?;
        fs::set_permissions(&target, fs::Permissions::from_mode(file.mode & 0o7777))?;
    }
    Ok(())
}

/// Whether `ts_dir` holds exactly the payload's files, with their modes.
fn same_content(ts_dir: &Path, payload: &Payload) -> io::Result<bool> {
    let mut found = BTreeMap::new();
    if collect_files(ts_dir, ts_dir, &mut found).is_err() {
        return Ok(false);
    }
    Ok(found.len() == payload.len()
        && payload.iter().all(|(path, want)| {
            found.get(path).is_some_and(|(mode, p): &(u32, PathBuf)| {
                *mode == want.mode & 0o7777 && fs::read(p).is_ok_and(|d| d == want.data)
            })
        }))
}

fn collect_files(
    base: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, (u32, PathBuf)>,
) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let path = entry.path();
        if meta.is_dir() {
            collect_files(base, &path, out)?;
        } else {
            let rel = path
                .strip_prefix(base)
                .map_err(io::Error::other)?
                .to_string_lossy()
                .into_owned();
            out.insert(rel, (meta.permissions().mode() & 0o7777, path));
        }
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(files: &[(&str, &str, u32)]) -> Payload {
        files
            .iter()
            .map(|(p, d, m)| {
                (
                    p.to_string(),
                    FileProjection {
                        data: d.as_bytes().to_vec(),
                        mode: *m,
                    },
                )
            })
            .collect()
    }

    fn names(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn files_sit_behind_the_data_link_with_their_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        let changed = write(
            &dir,
            &payload(&[("game.properties", "lives=3", 0o644), ("sub/x", "y", 0o400)]),
        )
        .unwrap();
        assert!(changed);
        assert_eq!(
            fs::read_to_string(dir.join("game.properties")).unwrap(),
            "lives=3"
        );
        assert_eq!(
            fs::read_link(dir.join("game.properties")).unwrap(),
            Path::new("..data/game.properties")
        );
        assert_eq!(
            fs::read_link(dir.join("sub")).unwrap(),
            Path::new("..data/sub")
        );
        let ts = fs::read_link(dir.join("..data")).unwrap();
        assert!(ts.to_string_lossy().starts_with("..2"), "{ts:?}");
        let mode = |p: &str| fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("game.properties"), 0o644);
        assert_eq!(mode("sub/x"), 0o400);
        let all = names(&dir);
        assert_eq!(all.len(), 4, "{all:?}"); // ..data, ..<ts>, game.properties, sub
    }

    #[test]
    fn an_update_swaps_the_link_and_drops_old_names_and_the_old_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        write(&dir, &payload(&[("a", "1", 0o644), ("b", "2", 0o644)])).unwrap();
        let first = fs::read_link(dir.join("..data")).unwrap();
        // An open view of the old directory, as a subPath bind mount holds it.
        let old_a = dir.join(&first).join("a");
        assert!(!write(&dir, &payload(&[("a", "1", 0o644), ("b", "2", 0o644)])).unwrap());
        assert_eq!(fs::read_link(dir.join("..data")).unwrap(), first);
        assert!(write(&dir, &payload(&[("a", "changed", 0o644)])).unwrap());
        let second = fs::read_link(dir.join("..data")).unwrap();
        assert_ne!(first, second);
        assert_eq!(fs::read_to_string(dir.join("a")).unwrap(), "changed");
        assert!(!dir.join("b").exists() && fs::symlink_metadata(dir.join("b")).is_err());
        assert!(!old_a.exists(), "the old timestamped dir is removed");
        assert_eq!(
            names(&dir),
            BTreeSet::from([
                "..data".to_string(),
                second.to_string_lossy().into(),
                "a".into()
            ])
        );
        // A mode change alone is an update too.
        assert!(write(&dir, &payload(&[("a", "changed", 0o600)])).unwrap());
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in ["", "../x", "..data", "/abs", "a/../b"] {
            assert!(validate_path(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_path("a/b.txt").is_ok());
        let tmp = tempfile::tempdir().unwrap();
        assert!(write(tmp.path(), &payload(&[("../escape", "x", 0o644)])).is_err());
    }

    #[test]
    fn an_empty_payload_is_an_empty_volume() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        write(&dir, &payload(&[("a", "1", 0o644)])).unwrap();
        write(&dir, &Payload::new()).unwrap();
        let visible: Vec<_> = names(&dir)
            .into_iter()
            .filter(|n| !n.starts_with(".."))
            .collect();
        assert!(visible.is_empty(), "{visible:?}");
    }
}
