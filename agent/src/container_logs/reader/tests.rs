use std::io::Write;

use super::*;
use crate::container_logs::cri_line::{write, Stream};
use crate::container_logs::rotate::{rotated, RotatingWriter, Rotation};

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + second).unwrap()
}

/// A log of `lines`, line i written at second i, rotated every `per_file` lines.
fn log_of(dir: &Path, lines: &[&str], per_file: usize) -> PathBuf {
    let log = dir.join("0.log");
    let line_len = 40;
    let rotation = Rotation {
        max_size: (line_len * per_file) as u64,
        max_files: 100,
    };
    let mut w = RotatingWriter::open(&log, rotation).unwrap();
    for (i, text) in lines.iter().enumerate() {
        let mut out = Vec::new();
        write(
            &mut out,
            at(i as i64),
            Stream::Stdout,
            true,
            text.as_bytes(),
        );
        assert!(out.len() <= line_len, "{out:?}");
        w.write_lines(&out).unwrap();
    }
    log
}

fn read_all(log: &Path, query: LogQuery) -> String {
    String::from_utf8(read_bytes(log, query)).unwrap()
}

fn read_bytes(log: &Path, query: LogQuery) -> Vec<u8> {
    let mut reader = LogReader::open(log, query).unwrap().unwrap();
    let mut text = Vec::new();
    loop {
        let chunk = reader.next_chunk().unwrap();
        if chunk.is_empty() {
            break;
        }
        text.extend(chunk);
    }
    text.extend(reader.finish());
    text
}

const LINES: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];

#[test]
fn all_lines_across_rotated_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), &LINES, 3);
    assert!(rotated(&log, 2).exists(), "the log rotated");
    assert_eq!(read_all(&log, LogQuery::default()), "a\nb\nc\nd\ne\nf\ng\n");
}

#[test]
fn tail_reaches_into_rotated_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), &LINES, 3);
    let tail = |n| {
        read_all(
            &log,
            LogQuery {
                tail: Some(n),
                ..Default::default()
            },
        )
    };
    assert_eq!(tail(0), "");
    assert_eq!(tail(1), "g\n");
    assert_eq!(tail(2), "f\ng\n");
    assert_eq!(tail(5), "c\nd\ne\nf\ng\n");
    assert_eq!(tail(100), "a\nb\nc\nd\ne\nf\ng\n");
}

#[test]
fn since_keeps_the_lines_written_from_then_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), &LINES, 3);
    let since = |s, tail| {
        read_all(
            &log,
            LogQuery {
                since: Some(at(s)),
                tail,
                ..Default::default()
            },
        )
    };
    assert_eq!(since(4, None), "e\nf\ng\n");
    assert_eq!(since(0, None), "a\nb\nc\nd\ne\nf\ng\n");
    assert_eq!(since(99, None), "");
    // As the kubelet: the tail is taken first, then filtered by time.
    assert_eq!(since(2, Some(3)), "e\nf\ng\n");
    assert_eq!(since(5, Some(4)), "f\ng\n");
}

#[test]
fn timestamps_prefix_each_line_with_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), &LINES[..2], 10);
    let text = read_all(
        &log,
        LogQuery {
            timestamps: true,
            ..Default::default()
        },
    );
    assert_eq!(text, "2027-01-15T08:00:00Z a\n2027-01-15T08:00:01Z b\n");
}

#[test]
fn partial_lines_join_and_an_unfinished_one_waits() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("0.log");
    let mut out = Vec::new();
    write(&mut out, at(0), Stream::Stdout, false, b"hel");
    write(&mut out, at(1), Stream::Stdout, true, b"lo");
    out.extend_from_slice(b"2027-01-15T08:00:02Z stdout F half-writ");
    std::fs::write(&log, &out).unwrap();
    let mut reader = LogReader::open(&log, LogQuery::default()).unwrap().unwrap();
    assert_eq!(reader.next_chunk().unwrap(), b"hello\n");
    assert!(reader.next_chunk().unwrap().is_empty());
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"ten\n").unwrap();
    assert_eq!(reader.next_chunk().unwrap(), b"half-written\n");
}

#[test]
fn following_moves_to_the_new_file_after_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("0.log");
    let rotation = Rotation {
        max_size: 50,
        max_files: 3,
    };
    let mut w = RotatingWriter::open(&log, rotation).unwrap();
    let line = |s: i64, text: &str| {
        let mut out = Vec::new();
        write(&mut out, at(s), Stream::Stdout, true, text.as_bytes());
        out
    };
    w.write_lines(&line(0, "one")).unwrap();
    let mut reader = LogReader::open(&log, LogQuery::default()).unwrap().unwrap();
    assert_eq!(reader.next_chunk().unwrap(), b"one\n");
    w.write_lines(&line(1, "two")).unwrap();
    w.write_lines(&line(2, "three")).unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.extend(reader.next_chunk().unwrap());
    }
    assert_eq!(got, b"two\nthree\n");
}

#[test]
fn a_plain_file_from_an_older_agent_is_served_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("0.log");
    std::fs::write(&log, "plain one\nplain two\nno end").unwrap();
    let query = LogQuery {
        timestamps: true,
        since: Some(at(0)),
        tail: Some(2),
    };
    assert_eq!(read_all(&log, query), "plain two\nno end");
    assert!(LogReader::open(&dir.path().join("1.log"), query)
        .unwrap()
        .is_none());
}

proptest::proptest! {
    #[test]
    fn arbitrary_files_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400), tail in proptest::option::of(0u64..10), ts: bool) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("0.log");
        std::fs::write(&log, &data).unwrap();
        let _ = read_bytes(&log, LogQuery { tail, since: Some(at(0)), timestamps: ts });
    }
}
