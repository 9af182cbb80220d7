//! hostPath type checks, with the kubelet's wording (`hostPath type check failed: ...`).

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Checks (and for the `...OrCreate` types, makes) `path` as `type_` says.
pub fn check_type(path: &Path, type_: Option<&str>) -> Result<(), String> {
    let shown = path.display();
    let failed = |what: &str| format!("hostPath type check failed: {shown} {what}");
    let meta = match fs::metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("hostPath {shown}: {e}")),
    };
    let kind = type_.unwrap_or("");
    let ft = meta.as_ref().map(|m| m.file_type());
    match kind {
        "" => Ok(()),
        "DirectoryOrCreate" => match ft {
            None => fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(path)
                .map_err(|e| format!("hostPath {shown}: creating the directory: {e}")),
            Some(ft) if ft.is_dir() => Ok(()),
            Some(_) => Err(failed("is not a directory")),
        },
        "FileOrCreate" => match ft {
            None => {
                if let Some(parent) = path.parent() {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o755)
                        .create(parent)
                        .map_err(|e| format!("hostPath {shown}: creating its directory: {e}"))?;
                }
                fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o644)
                    .open(path)
                    .map(drop)
                    .map_err(|e| format!("hostPath {shown}: creating the file: {e}"))
            }
            Some(ft) if ft.is_file() => Ok(()),
            Some(_) => Err(failed("is not a file")),
        },
        "Directory" | "File" | "Socket" | "CharDevice" | "BlockDevice" => {
            let Some(ft) = ft else {
                return Err(failed("does not exist"));
            };
            let (ok, what) = match kind {
                "Directory" => (ft.is_dir(), "is not a directory"),
                "File" => (ft.is_file(), "is not a file"),
                "Socket" => (ft.is_socket(), "is not a socket file"),
                "CharDevice" => (ft.is_char_device(), "is not a character device"),
                _ => (ft.is_block_device(), "is not a block device"),
            };
            if ok {
                Ok(())
            } else {
                Err(failed(what))
            }
        }
        other => Err(format!(
            "hostPath {shown}: {other:?} is an invalid volume type"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_match_or_fail_with_the_kubelets_words() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let file = dir.join("f");
        fs::write(&file, "x").unwrap();
        let missing = dir.join("missing");
        assert!(check_type(&missing, None).is_ok());
        assert!(check_type(dir, Some("Directory")).is_ok());
        assert!(check_type(&file, Some("File")).is_ok());
        assert_eq!(
            check_type(&file, Some("Directory")).unwrap_err(),
            format!(
                "hostPath type check failed: {} is not a directory",
                file.display()
            )
        );
        assert_eq!(
            check_type(&missing, Some("File")).unwrap_err(),
            format!(
                "hostPath type check failed: {} does not exist",
                missing.display()
            )
        );
        assert!(check_type(&file, Some("Socket"))
            .unwrap_err()
            .ends_with("is not a socket file"));
        assert!(check_type(&file, Some("CharDevice"))
            .unwrap_err()
            .ends_with("is not a character device"));
        assert!(check_type(Path::new("/dev/null"), Some("CharDevice")).is_ok());
        assert!(check_type(&file, Some("BlockDevice"))
            .unwrap_err()
            .ends_with("is not a block device"));
        assert!(check_type(&file, Some("DirectoryOrCreate")).is_err());
        assert!(check_type(dir, Some("FileOrCreate")).is_err());
        assert!(check_type(&file, Some("Weird")).is_err());
    }

    #[test]
    fn or_create_types_make_what_is_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("a/b");
        check_type(&d, Some("DirectoryOrCreate")).unwrap();
        assert!(d.is_dir());
        let f = tmp.path().join("c/file");
        check_type(&f, Some("FileOrCreate")).unwrap();
        assert!(f.is_file());
        fs::write(&f, "kept").unwrap();
        check_type(&f, Some("FileOrCreate")).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "kept");
    }
}
