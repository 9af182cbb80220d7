//! Serving a stored object without decoding it: the stored JSON never carries
//! `metadata.resourceVersion` (the store's revision is the truth, `store/mod.rs`), so the
//! wire form is the stored bytes with `"resourceVersion":"N"` written at the start of the
//! top-level `metadata` object. A scan of the bytes up to the end of `metadata` replaces a
//! parse and a re-encode of the whole object, the larger part of a list's cost
//! (docs/architecture.md, "What costs what").

/// Appends `json` to `out` with `"resourceVersion":"<revision>"` as the first member of
/// its top-level `metadata`. `false` (and `out` untouched) when the bytes are not an
/// object with a `metadata` object, or `metadata` already has a `resourceVersion`: the
/// caller decodes instead.
pub fn write_with_revision(out: &mut Vec<u8>, json: &[u8], revision: i64) -> bool {
    let Some((at, empty)) = metadata_start(json) else {
        return false;
    };
    out.reserve(json.len() + 40);
    out.extend_from_slice(&json[..at]);
    out.extend_from_slice(br#""resourceVersion":""#);
    out.extend_from_slice(revision.to_string().as_bytes());
    out.push(b'"');
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(&json[at..]);
    true
}

/// Appends the top-level `metadata` object of `json` with
/// `"resourceVersion":"<revision>"` as its first member (a Table row's
/// `PartialObjectMetadata`); `false` (and `out` untouched) as [`write_with_revision`].
pub fn write_metadata_with_revision(out: &mut Vec<u8>, json: &[u8], revision: i64) -> bool {
    let Some((at, empty)) = metadata_start(json) else {
        return false;
    };
    let mut s = Scan { b: json, i: at - 1 };
    if s.value().is_none() {
        return false;
    }
    out.extend_from_slice(br#"{"resourceVersion":""#);
    out.extend_from_slice(revision.to_string().as_bytes());
    out.push(b'"');
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(&json[at..s.i]);
    true
}

/// The offset just after the `{` of the top-level `metadata` object, and whether that
/// object is empty; `None` when there is none or it has a `resourceVersion` already.
fn metadata_start(json: &[u8]) -> Option<(usize, bool)> {
    let mut s = Scan { b: json, i: 0 };
    s.ws();
    s.expect(b'{')?;
    loop {
        s.ws();
        if s.peek()? == b'}' {
            return None;
        }
        let key = s.string()?;
        s.ws();
        s.expect(b':')?;
        s.ws();
        if key == b"metadata" {
            s.expect(b'{')?;
            let at = s.i;
            let mut empty = true;
            loop {
                s.ws();
                if s.peek()? == b'}' {
                    return Some((at, empty));
                }
                empty = false;
                if s.string()? == b"resourceVersion" {
                    return None;
                }
                s.ws();
                s.expect(b':')?;
                s.ws();
                s.value()?;
                s.ws();
                match s.next()? {
                    b',' => continue,
                    b'}' => return Some((at, false)),
                    _ => return None,
                }
            }
        }
        s.value()?;
        s.ws();
        if s.next()? != b',' {
            return None;
        }
    }
}

/// A cursor over JSON bytes that skips values without building them.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// A string's raw bytes (escapes left as they are), the cursor after its quote.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.i;
        loop {
            match self.next()? {
                b'\\' => {
                    self.next()?;
                }
                b'"' => return Some(&self.b[start..self.i - 1]),
                _ => {}
            }
        }
    }

    /// Skips one value: a string, an object or array (nesting counted, strings skipped
    /// whole so brackets inside them do not count), or a number or literal.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
                {
                    self.i += 1;
                }
                if self.i == start {
                    return None;
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn served(json: &[u8], revision: i64) -> Option<Value> {
        let mut out = b"prefix".to_vec();
        if !write_with_revision(&mut out, json, revision) {
            assert_eq!(out, b"prefix", "a refusal leaves the buffer as it was");
            return None;
        }
        assert_eq!(&out[..6], b"prefix");
        Some(serde_json::from_slice(&out[6..]).expect("the result is JSON"))
    }

    #[test]
    fn the_revision_goes_into_top_level_metadata_only() {
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "aaa": {"metadata": {"name": "nested"}, "list": [1, {"x": "]}"}, "\"{"]},
            "data": {"k\"ey": "va\\\"l}ue", "n": 1.5e3, "b": true, "z": null},
            "metadata": {"name": "c", "labels": {"a": "b"}, "managedFields": [{"f": {}}]},
            "zzz": [[], {}],
        });
        let bytes = serde_json::to_vec(&object).unwrap();
        let mut expected = object.clone();
        expected["metadata"]["resourceVersion"] = json!("42");
        assert_eq!(served(&bytes, 42), Some(expected));
        let pretty = serde_json::to_vec_pretty(&object).unwrap();
        let mut expected = object;
        expected["metadata"]["resourceVersion"] = json!("7");
        assert_eq!(served(&pretty, 7), Some(expected));
    }

    #[test]
    fn the_top_level_metadata_alone_gets_the_revision() {
        let object = json!({
            "apiVersion": "v1", "aaa": {"metadata": {"x": 1}},
            "metadata": {"name": "c", "managedFields": [{"f": {"}": "{\"]"}}]},
            "zzz": [],
        });
        let mut out = Vec::new();
        let bytes = serde_json::to_vec(&object).unwrap();
        assert!(write_metadata_with_revision(&mut out, &bytes, 5));
        let mut expected = object["metadata"].clone();
        expected["resourceVersion"] = json!("5");
        assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), expected);
        let mut out = Vec::new();
        assert!(write_metadata_with_revision(
            &mut out,
            br#"{"metadata":{}}"#,
            3
        ));
        assert_eq!(out, br#"{"resourceVersion":"3"}"#);
        let stale = br#"{"metadata":{"resourceVersion":"1"}}"#;
        assert!(!write_metadata_with_revision(&mut out, stale, 3));
        assert!(!write_metadata_with_revision(
            &mut out,
            br#"{"metadata":{"a":"#,
            3
        ));
        assert_eq!(
            out, br#"{"resourceVersion":"3"}"#,
            "a refusal writes nothing"
        );
    }

    #[test]
    fn empty_metadata_gets_the_revision_alone() {
        assert_eq!(
            served(br#"{"metadata":{}}"#, 3),
            Some(json!({"metadata": {"resourceVersion": "3"}}))
        );
        assert_eq!(
            served(br#"{ "metadata" : { } , "kind":"X"}"#, 3),
            Some(json!({"kind": "X", "metadata": {"resourceVersion": "3"}}))
        );
    }

    #[test]
    fn what_it_cannot_serve_as_bytes_is_left_to_the_caller() {
        for json in [
            &br#"{"metadata":{"name":"a","resourceVersion":"1"}}"#[..],
            br#"{"kind":"X"}"#,
            br#"{"metadata":null}"#,
            br#"[{"metadata":{}}]"#,
            br#"{"metadata":{"name":"a""#,
            br#"{"kind":"X","metadata""#,
            b"",
            b"garbage",
        ] {
            assert_eq!(served(json, 1), None, "{}", String::from_utf8_lossy(json));
        }
    }
}
