//! One line of Kubernetes' CRI log format, as containerd's CRI plugin writes it for the
//! kubelet: `<RFC3339Nano time> <stdout|stderr> <F|P> <text>\n`, `P` marking a piece of
//! a longer line (cut by the copier's buffer or by the end of the stream).

use jiff::Timestamp;

/// Which of the container's streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn tag(self) -> &'static [u8] {
        match self {
            Stream::Stdout => b"stdout",
            Stream::Stderr => b"stderr",
        }
    }
}

/// One record of a log file: a CRI line, or a line of a plain file (no time) that a
/// container started by an older agent with `file://` logs left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: Option<Timestamp>,
    pub stream: Option<Stream>,
    /// The text without its end of line.
    pub text: &'a [u8],
    /// False for a partial (`P`) line: the text continues in the next record.
    pub full: bool,
}

impl Record<'_> {
    /// What a reader is given: the text, its end of line when full, and with `timestamps`
    /// the time in front as the kubelet puts it.
    pub fn render(&self, timestamps: bool, out: &mut Vec<u8>) {
        if let (true, Some(t)) = (timestamps, self.time) {
            out.extend_from_slice(format_time(t).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(self.text);
        if self.full {
            out.push(b'\n');
        }
    }
}

/// Go's `time.RFC3339Nano` in UTC: trailing zeros of the fraction dropped.
pub fn format_time(t: Timestamp) -> String {
    let secs = t.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.subsec_nanosecond();
    if nanos == 0 {
        return format!("{secs}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{secs}.{}Z", frac.trim_end_matches('0'))
}

/// Appends the CRI line for `text` (without its end of line) to `out`.
pub fn write(out: &mut Vec<u8>, time: Timestamp, stream: Stream, full: bool, text: &[u8]) {
    out.extend_from_slice(format_time(time).as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.tag());
    out.extend_from_slice(if full { b" F " } else { b" P " });
    out.extend_from_slice(text);
    out.push(b'\n');
}

/// Parses one CRI line (without its `\n`), as the kubelet's `parseCRILog` does; `None`
/// when it is not one.
pub fn parse(line: &[u8]) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let time: Timestamp = time.parse().ok()?;
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    // The tag field may carry more tags after a ':'; the first says full or partial.
    let tags = parts.next()?;
    let full = match tags.split(|b| *b == b':').next()? {
        b"F" => true,
        b"P" => false,
        _ => return None,
    };
    Some(Record {
        time: Some(time),
        stream: Some(stream),
        text: parts.next().unwrap_or_default(),
        full,
    })
}

/// A line of a file that is not in CRI format.
pub fn plain(line: &[u8], full: bool) -> Record<'_> {
    Record {
        time: None,
        stream: None,
        text: line,
        full,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn times_are_go_rfc3339_nano() {
        assert_eq!(
            format_time(at("2026-01-02T03:04:05.120000000Z")),
            "2026-01-02T03:04:05.12Z"
        );
        assert_eq!(
            format_time(at("2026-01-02T03:04:05Z")),
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(
            format_time(at("2026-01-02T03:04:05.000000001Z")),
            "2026-01-02T03:04:05.000000001Z"
        );
    }

    #[test]
    fn written_lines_parse_back() {
        let t = at("2026-01-02T03:04:05.5Z");
        let mut out = Vec::new();
        write(&mut out, t, Stream::Stderr, false, b"half a line");
        assert_eq!(out, b"2026-01-02T03:04:05.5Z stderr P half a line\n");
        let r = parse(&out[..out.len() - 1]).unwrap();
        assert_eq!(r.time, Some(t));
        assert_eq!(r.stream, Some(Stream::Stderr));
        assert_eq!((r.text, r.full), (&b"half a line"[..], false));
        let mut shown = Vec::new();
        r.render(true, &mut shown);
        assert_eq!(shown, b"2026-01-02T03:04:05.5Z half a line");
    }

    #[test]
    fn empty_lines_and_extra_tags_parse() {
        let r = parse(b"2026-01-02T03:04:05Z stdout F ").unwrap();
        assert_eq!((r.text, r.full), (&b""[..], true));
        let r = parse(b"2026-01-02T03:04:05Z stdout F:x a b").unwrap();
        assert_eq!(r.text, b"a b");
        assert!(parse(b"2026-01-02T03:04:05Z stdout F").is_some());
    }

    #[test]
    fn plain_text_is_not_cri() {
        for line in [
            &b"hello world"[..],
            b"2026-01-02T03:04:05Z stdin F x",
            b"2026-01-02T03:04:05Z stdout X x",
            b"yesterday stdout F x",
            b"",
        ] {
            assert!(parse(line).is_none(), "{line:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&line);
        }

        #[test]
        fn any_text_round_trips(text in proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..100), nanos in 0u32..1_000_000_000, full: bool) {
            let t = Timestamp::new(1_800_000_000, nanos as i32).unwrap();
            let mut out = Vec::new();
            write(&mut out, t, Stream::Stdout, full, &text);
            let r = parse(&out[..out.len() - 1]).unwrap();
            prop_assert_eq!(r.time, Some(t));
            prop_assert_eq!(r.text, &text[..]);
            prop_assert_eq!(r.full, full);
        }
    }
}
