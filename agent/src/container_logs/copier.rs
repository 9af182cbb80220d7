//! The copier: one task per container that reads its stdout and stderr FIFOs (or its
//! terminal FIFO) and appends CRI lines to its log, stamped with the time the bytes were
//! read. The shim holds the FIFOs' write ends, so while the agent is down the output waits
//! in the pipes and a restarted agent picks it up (`LogCopies::start` again on adoption).
//!
//! Memory is bounded per container: a line buffer of [`LINE_BUF`] bytes per stream (a
//! longer line is written as partial `P` lines) and an output buffer written out once it
//! passes [`LINE_BUF`], about 16 KiB in all.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tracing::{debug, warn};

use super::cri_line::{self, Stream};
use super::rotate::{RotatingWriter, Rotation};

/// Bytes buffered per stream before an unfinished line is written as a partial one.
pub const LINE_BUF: usize = 4 * 1024;

/// The FIFOs a container's output arrives through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// stdout and stderr apart.
    Pair { stdout: PathBuf, stderr: PathBuf },
    /// A terminal: one stream, logged as stdout as containerd's CRI plugin does.
    Terminal(PathBuf),
}

/// The copiers running in this agent, by containerd id; clones share them.
#[derive(Clone, Default)]
pub struct LogCopies {
    running: Arc<Mutex<HashSet<String>>>,
    rotation: Rotation,
}

impl LogCopies {
    pub fn new(rotation: Rotation) -> Self {
        Self {
            running: Arc::default(),
            rotation,
        }
    }

    /// Starts copying `source` into `log` for container `id`, until the shim closes the
    /// FIFOs (the process ended and its output is drained); nothing when one already runs.
    /// The FIFOs must have a writer already (the task exists), or the copy ends at once.
    pub fn start(&self, id: &str, source: &Source, log: &Path) -> std::io::Result<()> {
        if !self.lock().insert(id.to_string()) {
            return Ok(());
        }
        let opened = open(source).and_then(|rx| {
            let writer = RotatingWriter::open(log, self.rotation)?;
            Ok((rx, writer))
        });
        let (rx, writer) = match opened {
            Ok(o) => o,
            Err(e) => {
                self.lock().remove(id);
                return Err(e);
            }
        };
        let (id, running) = (id.to_string(), self.running.clone());
        tokio::spawn(async move {
            copy(rx, writer, &id).await;
            debug!(container = %id, "log copy ended");
            running.lock().expect("log copies").remove(&id);
        });
        Ok(())
    }

    /// True while a copier for `id` runs.
    pub fn is_copying(&self, id: &str) -> bool {
        self.lock().contains(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.running.lock().expect("log copies")
    }
}

/// Read-only ends: end of file once the shim's write ends close.
fn open(source: &Source) -> std::io::Result<Vec<(Stream, pipe::Receiver)>> {
    let rx = |p: &Path| pipe::OpenOptions::new().open_receiver(p);
    Ok(match source {
        Source::Pair { stdout, stderr } => {
            vec![(Stream::Stdout, rx(stdout)?), (Stream::Stderr, rx(stderr)?)]
        }
        Source::Terminal(tty) => vec![(Stream::Stdout, rx(tty)?)],
    })
}

/// One stream's FIFO and its unfinished line.
struct Input {
    stream: Stream,
    rx: Option<pipe::Receiver>,
    line: LineBuf,
    /// A terminal's unfinished line (a shell's prompt) is written at once as a partial
    /// line, so an attach shows it; other streams wait for the end of the line.
    eager: bool,
}

impl Input {
    async fn read(&mut self) -> usize {
        let Some(rx) = self.rx.as_mut() else {
            return std::future::pending().await;
        };
        rx.read(self.line.spare()).await.unwrap_or(0)
    }
}

async fn copy(rx: Vec<(Stream, pipe::Receiver)>, mut writer: RotatingWriter, id: &str) {
    let eager = rx.len() == 1;
    let mut inputs: Vec<Input> = rx
        .into_iter()
        .map(|(stream, rx)| Input {
            stream,
            rx: Some(rx),
            line: LineBuf::default(),
            eager,
        })
        .collect();
    let mut out = Vec::with_capacity(LINE_BUF);
    let mut failed = false;
    while inputs.iter().any(|i| i.rx.is_some()) {
        let (n, which) = match inputs.as_mut_slice() {
            [a] => (a.read().await, 0),
            [a, b] => tokio::select! {
                n = a.read() => (n, 0),
                n = b.read() => (n, 1),
            },
            _ => unreachable!("one or two streams"),
        };
        let input = &mut inputs[which];
        let now = Timestamp::now();
        if n == 0 {
            input.rx = None;
            input.line.finish(now, input.stream, &mut out);
        } else {
            input.line.filled(n, now, input.stream, &mut out);
            if input.eager {
                input.line.finish(now, input.stream, &mut out);
            }
        }
        if let Err(error) = writer.write_lines(&out) {
            // Keep reading so the container never blocks on a full pipe.
            if !failed {
                warn!(container = %id, %error, "container log not written");
            }
            failed = true;
        }
        out.clear();
    }
}

/// A stream's bytes not yet written as a line.
struct LineBuf {
    buf: Box<[u8; LINE_BUF]>,
    len: usize,
}

impl Default for LineBuf {
    fn default() -> Self {
        Self {
            buf: Box::new([0; LINE_BUF]),
            len: 0,
        }
    }
}

impl LineBuf {
    fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// `n` more bytes were read into [`LineBuf::spare`]: writes the lines they finish,
    /// and a full buffer with no end of line as a partial line.
    fn filled(&mut self, n: usize, now: Timestamp, stream: Stream, out: &mut Vec<u8>) {
        self.len += n;
        let mut start = 0;
        while let Some(end) = self.buf[start..self.len].iter().position(|b| *b == b'\n') {
            let text = &self.buf[start..start + end];
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            cri_line::write(out, now, stream, true, text);
            start += end + 1;
        }
        self.buf.copy_within(start..self.len, 0);
        self.len -= start;
        if self.len == LINE_BUF {
            cri_line::write(out, now, stream, false, &self.buf[..self.len]);
            self.len = 0;
        }
    }

    /// The stream ended (or a terminal paused): what is left is a partial line, as
    /// containerd writes it at the end.
    fn finish(&mut self, now: Timestamp, stream: Stream, out: &mut Vec<u8>) {
        if self.len > 0 {
            cri_line::write(out, now, stream, false, &self.buf[..self.len]);
            self.len = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::container_logs::cri_line::parse;

    fn feed(line: &mut LineBuf, bytes: &[u8], out: &mut Vec<u8>) {
        let now = Timestamp::now();
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = rest.len().min(line.spare().len()).min(1000);
            line.spare()[..n].copy_from_slice(&rest[..n]);
            line.filled(n, now, Stream::Stdout, out);
            rest = &rest[n..];
        }
    }

    fn texts(out: &[u8]) -> Vec<(String, bool)> {
        out.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let r = parse(l).unwrap();
                (String::from_utf8_lossy(r.text).into_owned(), r.full)
            })
            .collect()
    }

    #[test]
    fn lines_are_split_and_long_ones_cut_into_partials() {
        let mut line = LineBuf::default();
        let mut out = Vec::new();
        feed(&mut line, b"one\r\ntw", &mut out);
        feed(&mut line, b"o\n", &mut out);
        let long = "x".repeat(LINE_BUF + 10);
        feed(&mut line, format!("{long}\nend").as_bytes(), &mut out);
        line.finish(Timestamp::now(), Stream::Stdout, &mut out);
        assert_eq!(
            texts(&out),
            vec![
                ("one".into(), true),
                ("two".into(), true),
                ("x".repeat(LINE_BUF), false),
                ("x".repeat(10), true),
                ("end".into(), false),
            ]
        );
    }

    #[tokio::test]
    async fn both_streams_reach_the_log_with_times_until_the_writers_close() {
        let dir = tempfile::tempdir().unwrap();
        let (stdout, stderr) = (dir.path().join("0.stdout"), dir.path().join("0.stderr"));
        for p in [&stdout, &stderr] {
            nix::unistd::mkfifo(p, nix::sys::stat::Mode::S_IRWXU).unwrap();
        }
        // The shim's write ends, played by the test (read-write so opening never waits).
        let shim = |p: &Path| {
            pipe::OpenOptions::new()
                .read_write(true)
                .open_sender(p)
                .unwrap()
        };
        let (mut out, mut err) = (shim(&stdout), shim(&stderr));
        let copies = LogCopies::default();
        let log = dir.path().join("0.log");
        let source = Source::Pair {
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        };
        let before = Timestamp::now();
        copies.start("c1", &source, &log).unwrap();
        copies.start("c1", &source, &log).unwrap();
        out.write_all(b"to stdout\n").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        err.write_all(b"to stderr\nunfinished").await.unwrap();
        drop((out, err));
        for _ in 0..200 {
            if !copies.is_copying("c1") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(!copies.is_copying("c1"), "the copy ends with the writers");
        let text = std::fs::read(&log).unwrap();
        let records: Vec<_> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| parse(l).unwrap())
            .collect();
        let got: Vec<_> = records
            .iter()
            .map(|r| (r.stream.unwrap(), r.text, r.full))
            .collect();
        assert_eq!(
            got,
            vec![
                (Stream::Stdout, &b"to stdout"[..], true),
                (Stream::Stderr, &b"to stderr"[..], true),
                (Stream::Stderr, &b"unfinished"[..], false),
            ]
        );
        assert!(records.iter().all(|r| r.time.unwrap() >= before));
    }
}
