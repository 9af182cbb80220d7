//! A pod's `securityContext.fsGroup` on the volumes the kubelet manages ownership of
//! (emptyDir, configMap, secret, downwardAPI, projected; never hostPath or claims): every
//! file and directory gets the group, group read (and write unless the volume is
//! read-only), and directories the setgid bit so new files inherit the group, as the
//! kubelet's SetVolumeOwnership does.

use std::fs;
use std::io;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::Path;

const RW: u32 = 0o660;
const RO: u32 = 0o440;
const EXEC: u32 = 0o110;
const SETGID: u32 = 0o2000;

/// Whether `dir` itself already has the group (kubelet's OnRootMismatch check).
pub(super) fn root_matches(dir: &Path, gid: u32) -> bool {
    fs::metadata(dir).is_ok_and(|m| m.gid() == gid)
}

/// Gives everything under `dir` (symlinks not followed) the group `gid`.
pub(super) fn set_ownership(dir: &Path, gid: u32, read_only: bool) -> io::Result<()> {
    let mask = if read_only { RO } else { RW };
    let meta = fs::symlink_metadata(dir)?;
    lchown(dir, None, Some(gid))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode() & 0o7777;
    if meta.is_dir() {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | SETGID | mask | EXEC))?;
        for entry in fs::read_dir(dir)? {
            set_ownership(&entry?.path(), gid, read_only)?;
        }
    } else {
        let exec = if mode & 0o111 != 0 { EXEC } else { 0 };
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | mask | exec))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn files_get_group_access_and_directories_setgid() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("v");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        let file = dir.join("secret");
        fs::write(&file, "x").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o400)).unwrap();
        let tool = dir.join("tool");
        fs::write(&tool, "#!/bin/sh").unwrap();
        fs::set_permissions(&tool, fs::Permissions::from_mode(0o700)).unwrap();
        symlink("secret", dir.join("link")).unwrap();
        // Our own group: allowed without root; the modes are what is checked here.
        let gid = nix::unistd::getegid().as_raw();
        assert!(!root_matches(&dir, gid + 1));

        set_ownership(&dir, gid, true).unwrap();
        assert_eq!(mode(&dir), 0o2750);
        assert_eq!(mode(&file), 0o440);
        assert_eq!(mode(&tool), 0o750);
        assert!(root_matches(&dir, gid));

        set_ownership(&dir, gid, false).unwrap();
        assert_eq!(mode(&file), 0o660);
        assert_eq!(mode(&dir), 0o2770);
    }
}
