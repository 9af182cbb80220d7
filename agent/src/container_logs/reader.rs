//! Reading a container's log back as the kubelet serves it: across the rotated files,
//! the last `tail` lines, those since a time, each stamped with its time on request.
//!
//! A file whose first line is not a CRI line was written by the shim itself (`file://`,
//! a container started by an older agent): its lines are served as they are, with no
//! time, so `since` keeps them all and `timestamps` leaves them unstamped.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::cri_line::{self, Record};
use super::rotate::{files_oldest_first, rotated};

/// What a reader asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// The last this many lines; `None` for all.
    pub tail: Option<u64>,
    /// Only lines written at or after this time.
    pub since: Option<Timestamp>,
    /// Each line prefixed with its time.
    pub timestamps: bool,
}

/// Renders complete lines; `None` until the first line says whether the file is CRI.
#[derive(Debug, Clone, Copy)]
struct Renderer {
    query: LogQuery,
    cri: Option<bool>,
}

impl Renderer {
    /// Renders the complete lines of `data` into `out`; returns the bytes consumed.
    fn lines(&mut self, data: &[u8], out: &mut Vec<u8>) -> usize {
        let mut used = 0;
        while let Some(end) = data[used..].iter().position(|b| *b == b'\n') {
            self.line(&data[used..used + end], true, out);
            used += end + 1;
        }
        used
    }

    fn line(&mut self, line: &[u8], full: bool, out: &mut Vec<u8>) {
        let cri = *self
            .cri
            .get_or_insert_with(|| cri_line::parse(line).is_some());
        let record = if cri { cri_line::parse(line) } else { None };
        let record: Record<'_> = record.unwrap_or_else(|| cri_line::plain(line, full));
        if let (Some(since), Some(t)) = (self.query.since, record.time) {
            if t < since {
                return;
            }
        }
        record.render(self.query.timestamps, out);
    }
}

/// A log being read: what exists now, then (to follow) what the copier appends.
pub struct LogReader {
    /// The live file.
    path: PathBuf,
    /// The files left to read whole, oldest first, and where to start in the first.
    pending: Vec<PathBuf>,
    start: u64,
    renderer: Renderer,
    /// The live file once reached, where its unread part starts, and the bytes of an
    /// unfinished line.
    live: Option<File>,
    offset: u64,
    carry: Vec<u8>,
}

impl LogReader {
    /// Opens the log at `path` (the live file; its rotated predecessors beside it);
    /// `None` when there is none.
    pub fn open(path: &Path, query: LogQuery) -> std::io::Result<Option<Self>> {
        let files = files_oldest_first(path);
        if files.is_empty() {
            return Ok(None);
        }
        let (skip, start) = match query.tail {
            Some(n) => tail_start(&files, n)?,
            None => (0, 0),
        };
        let cri = first_line(&files[0])?.map(|l| cri_line::parse(&l).is_some());
        Ok(Some(Self {
            path: path.to_path_buf(),
            pending: files[skip..].to_vec(),
            start,
            renderer: Renderer { query, cri },
            live: None,
            offset: 0,
            carry: Vec::new(),
        }))
    }

    /// The next rendered piece of what the files hold now (one file at a time); empty
    /// once everything written so far was read. Call again later to follow.
    pub fn next_chunk(&mut self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while out.is_empty() {
            if self.pending.len() > 1 {
                let file = self.pending.remove(0);
                let mut data = read_from(&file, std::mem::take(&mut self.start))?;
                if !data.ends_with(b"\n") && !data.is_empty() {
                    data.push(b'\n');
                }
                self.renderer.lines(&data, &mut out);
                continue;
            }
            if let Some(first) = self.pending.pop() {
                let file = File::open(&first)?;
                self.offset = std::mem::take(&mut self.start);
                self.live = Some(file);
            }
            return self.follow(out);
        }
        Ok(out)
    }

    /// Reads what was appended to the live file, moving to the new one after a rotation.
    fn follow(&mut self, mut out: Vec<u8>) -> std::io::Result<Vec<u8>> {
        let Some(file) = self.live.as_mut() else {
            return Ok(out);
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            // Truncated (a log kept in one file starts over).
            self.offset = 0;
        }
        let mut data = std::mem::take(&mut self.carry);
        let before = data.len();
        file.seek(SeekFrom::Start(self.offset))?;
        file.take(READ_MAX).read_to_end(&mut data)?;
        self.offset += (data.len() - before) as u64;
        let used = self.renderer.lines(&data, &mut out);
        self.carry = data[used..].to_vec();
        if data.len() == before && self.rotated()? {
            // Everything of this file was read: go on in the one written after it.
            let next = self.next_file()?;
            self.live = Some(File::open(next)?);
            self.offset = 0;
        }
        Ok(out)
    }

    /// True when the live path now names another file than the one being read.
    fn rotated(&self) -> std::io::Result<bool> {
        let Some(file) = &self.live else {
            return Ok(false);
        };
        match std::fs::metadata(&self.path) {
            Ok(m) => Ok(m.ino() != file.metadata()?.ino()),
            Err(_) => Ok(false),
        }
    }

    /// The file written after the one being read: the rotated file just newer than it,
    /// or the live one (several rotations may have passed since the last read).
    fn next_file(&self) -> std::io::Result<PathBuf> {
        let Some(file) = &self.live else {
            return Ok(self.path.clone());
        };
        let ino = file.metadata()?.ino();
        for n in 1..1000 {
            match std::fs::metadata(rotated(&self.path, n)) {
                Ok(m) if m.ino() == ino && n > 1 => return Ok(rotated(&self.path, n - 1)),
                Ok(m) if m.ino() == ino => break,
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        Ok(self.path.clone())
    }

    /// The unfinished last line, once the container stopped and nothing more comes.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let rest = std::mem::take(&mut self.carry);
        if !rest.is_empty() {
            self.renderer.line(&rest, false, &mut out);
        }
        out
    }
}

/// At most this much is read from the live file at a time.
const READ_MAX: u64 = 1024 * 1024;

fn read_from(path: &Path, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    Ok(data)
}

fn first_line(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    File::open(path)?.take(64 * 1024).read_to_end(&mut data)?;
    Ok(data
        .iter()
        .position(|b| *b == b'\n')
        .map(|end| data[..end].to_vec()))
}

/// Where the last `n` lines start: the index of the file and the offset in it.
fn tail_start(files: &[PathBuf], n: u64) -> std::io::Result<(usize, u64)> {
    let mut left = n;
    for (i, file) in files.iter().enumerate().rev() {
        let data = std::fs::read(file)?;
        let body = data.strip_suffix(b"\n").unwrap_or(&data);
        if body.is_empty() && data.is_empty() {
            continue;
        }
        if left == 0 {
            return Ok((i, data.len() as u64));
        }
        for (at, b) in body.iter().enumerate().rev() {
            if *b == b'\n' {
                left -= 1;
                if left == 0 {
                    return Ok((i, at as u64 + 1));
                }
            }
        }
        // The file's first line.
        left -= 1;
        if left == 0 {
            return Ok((i, 0));
        }
    }
    Ok((0, 0))
}

#[cfg(test)]
mod tests;
