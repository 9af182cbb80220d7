//! The PKI's files: atomic writes with the right mode from the first byte, and reads that
//! tell "not there yet" apart from "there but broken".

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::PkiError;

/// Mode of private keys, admin.conf and node-token: readable by the control plane's user
/// only, like k3s' `server/tls/*.key`.
pub(crate) const SECRET: u32 = 0o600;
/// Mode of certificates: public, but nobody else's to change.
pub(super) const PUBLIC: u32 = 0o644;
/// Mode of `<data-dir>/pki`.
pub(super) const DIR: u32 = 0o700;

fn io_error(path: &Path, source: io::Error) -> PkiError {
    PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and parents) if missing, then sets its mode.
pub(super) fn ensure_dir(dir: &Path, mode: u32) -> Result<(), PkiError> {
    fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(|e| io_error(dir, e))
}

/// Reads a text file, `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

/// Replaces `path` with `contents` so that a crash leaves either the old file or the new
/// one, never half of one: write a temporary file in the same directory (created with
/// `mode`, so a key is never world-readable even for an instant), fsync it, rename it
/// over `path`, fsync the directory.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // `mode` is filtered by the umask and ignored for an existing leftover: set it.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| io_error(path, e))
}

/// Writes `contents` unless the file already holds exactly that, so restarts leave
/// unchanged files (and their mtimes) alone.
pub(super) fn write_if_changed(path: &Path, contents: &str, mode: u32) -> Result<bool, PkiError> {
    if read_optional(path)?.as_deref() == Some(contents) {
        tighten(path, mode)?;
        return Ok(false);
    }
    write_atomic(path, contents.as_bytes(), mode)?;
    Ok(true)
}

/// Takes group and other permissions away from an existing file that has more than
/// `mode` allows (someone copied a key with `cp`, or an older umask).
pub(super) fn tighten(path: &Path, mode: u32) -> Result<(), PkiError> {
    let current = fs::metadata(path)
        .map_err(|e| io_error(path, e))?
        .permissions()
        .mode()
        & 0o777;
    if current & !mode != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{current:o}"), "permissions too open, fixing");
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| io_error(path, e))?;
    }
    Ok(())
}
