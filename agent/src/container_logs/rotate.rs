//! A container's log file and its rotated predecessors: `<attempt>.log` is being
//! written, `<attempt>.log.1` is the one before it, up to `<attempt>.log.<max_files - 1>`
//! (the oldest). Rotation is the kubelet's (`containerLogMaxSize`, `containerLogMaxFiles`)
//! done by the copier itself, between two lines, so no line is ever split across files.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The kubelet's defaults: 10 MiB per file, 5 files.
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;
pub const DEFAULT_MAX_FILES: u32 = 5;

/// How large a log file grows and how many files a container keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_size: u64,
    /// Files kept, the one being written included (at least 1: then it is truncated).
    pub max_files: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_size: DEFAULT_MAX_SIZE,
            max_files: DEFAULT_MAX_FILES,
        }
    }
}

/// A size as the kubelet's flags take it: `10Mi`, `500Ki`, `1Gi`, `10M` or bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let at = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(at);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?} (try 10Mi, 500Ki, 1048576)"))?;
    let factor: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "k" | "K" => 1000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => return Err(format!("invalid size unit in {s:?} (Ki, Mi, Gi, K, M, G)")),
    };
    match n.checked_mul(factor) {
        Some(0) | None => Err(format!("invalid size {s:?}: must be above 0")),
        Some(size) => Ok(size),
    }
}

/// `<log>.<n>`: the n-th rotated file (1 the newest).
pub fn rotated(log: &Path, n: u32) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The files of a log that exist, oldest first, the live one last.
pub fn files_oldest_first(log: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..1000)
        .map(|n| rotated(log, n))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    if log.exists() {
        files.push(log.to_path_buf());
    }
    files
}

/// Appends whole lines to a log, rotating it when the next line would overflow it.
pub struct RotatingWriter {
    path: PathBuf,
    rotation: Rotation,
    file: File,
    size: u64,
}

impl RotatingWriter {
    /// Opens `path` for appending (an adopted container's log goes on where it was).
    pub fn open(path: &Path, rotation: Rotation) -> std::io::Result<Self> {
        let file = append(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            rotation,
            file,
            size,
        })
    }

    /// Writes `lines` (whole lines) to the live file, rotating first when they would
    /// take it past the size limit.
    pub fn write_lines(&mut self, lines: &[u8]) -> std::io::Result<()> {
        if self.size > 0 && self.size + lines.len() as u64 > self.rotation.max_size {
            self.rotate()?;
        }
        self.file.write_all(lines)?;
        self.size += lines.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let keep = self.rotation.max_files.max(1) - 1;
        if keep == 0 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(rotated(&self.path, keep));
        for n in (1..keep).rev() {
            let from = rotated(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, rotated(&self.path, n + 1))?;
            }
        }
        std::fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_the_kubelet_takes_them() {
        assert_eq!(parse_size("10Mi"), Ok(DEFAULT_MAX_SIZE));
        assert_eq!(parse_size("500Ki"), Ok(500 * 1024));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert_eq!(parse_size("1M"), Ok(1_000_000));
        assert!(parse_size("10MB").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("Mi").is_err());
    }

    #[test]
    fn rotation_keeps_max_files_and_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("0.log");
        let rotation = Rotation {
            max_size: 10,
            max_files: 3,
        };
        let mut w = RotatingWriter::open(&log, rotation).unwrap();
        for line in [
            "aaaa\n",
            "bbbb\n",
            "cccc\n",
            "dddd\n",
            "eeeeeeeeeeee\n",
            "ffff\n",
        ] {
            w.write_lines(line.as_bytes()).unwrap();
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        let files = files_oldest_first(&log);
        assert_eq!(files, vec![rotated(&log, 2), rotated(&log, 1), log.clone()]);
        assert_eq!(read(&files[0]), "cccc\ndddd\n");
        // A line longer than the limit gets a file of its own.
        assert_eq!(read(&files[1]), "eeeeeeeeeeee\n");
        assert_eq!(read(&files[2]), "ffff\n");
        assert!(!rotated(&log, 3).exists());
    }

    #[test]
    fn a_reopened_log_goes_on_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("0.log");
        let rotation = Rotation {
            max_size: 8,
            max_files: 1,
        };
        RotatingWriter::open(&log, rotation)
            .unwrap()
            .write_lines(b"abc\n")
            .unwrap();
        let mut w = RotatingWriter::open(&log, rotation).unwrap();
        w.write_lines(b"def\n").unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "abc\ndef\n");
        // One file only: it starts over.
        w.write_lines(b"ghi\n").unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "ghi\n");
        assert_eq!(files_oldest_first(&log), vec![log]);
    }
}
