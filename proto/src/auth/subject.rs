//! Just enough DER to read a certificate's subject (common name and organizations).
//!
//! The agent and the CLI would otherwise carry a whole X.509 parser for two strings of a
//! certificate that rustls has already verified. Anything unexpected is `None`, and the
//! caller then counts as an unknown identity: parsing fails closed.

/// The parts of a certificate subject that carry skiff identities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// CN (2.5.4.3); `None` when absent. A subject with two CNs does not parse.
    pub common_name: Option<String>,
    /// Every O (2.5.4.10), in order.
    pub organizations: Vec<String>,
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0; // [0] EXPLICIT
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_O: &[u8] = &[0x55, 0x04, 0x0a];

/// One DER element: `(tag, contents, rest)`. Only the low-tag-number form, and lengths
/// of at most four bytes, which covers every certificate field skiff reads.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The contents of the next element if it has tag `want`, and what follows it.
fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    let (tag, contents, rest) = element(input)?;
    (tag == want).then_some((contents, rest))
}

/// A directory string as text: UTF8String, PrintableString or IA5String (what rcgen and
/// most CAs write). Other string types make the subject unreadable rather than guessed.
fn directory_string(tag: u8, contents: &[u8]) -> Option<String> {
    match tag {
        0x0c | 0x13 | 0x16 => std::str::from_utf8(contents).ok().map(str::to_string),
        _ => None,
    }
}

/// The subject of a DER certificate, or `None` when it can't be read.
pub fn parse_subject(der: &[u8]) -> Option<Subject> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut rest = tbs;
    if let Some((VERSION, _, after)) = element(rest) {
        rest = after;
    }
    let (_serial, rest) = expect(rest, INTEGER)?;
    let (_signature_algorithm, rest) = expect(rest, SEQUENCE)?;
    let (_issuer, rest) = expect(rest, SEQUENCE)?;
    let (_validity, rest) = expect(rest, SEQUENCE)?;
    let (mut names, _) = expect(rest, SEQUENCE)?;

    let mut subject = Subject::default();
    while !names.is_empty() {
        let (mut attributes, after) = expect(names, SET)?;
        names = after;
        while !attributes.is_empty() {
            let (attribute, after) = expect(attributes, SEQUENCE)?;
            attributes = after;
            let (oid, value) = expect(attribute, OID)?;
            let (tag, value, trailing) = element(value)?;
            if !trailing.is_empty() {
                return None;
            }
            if oid == OID_CN {
                if subject.common_name.is_some() {
                    return None;
                }
                subject.common_name = Some(directory_string(tag, value)?);
            } else if oid == OID_O {
                subject.organizations.push(directory_string(tag, value)?);
            }
        }
    }
    Some(subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of `tag` around `contents`, short or long length form.
    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match contents.len() {
            n if n < 0x80 => out.push(n as u8),
            n if n <= 0xff => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(contents);
        out
    }

    fn attribute(oid: &[u8], tag: u8, value: &str) -> Vec<u8> {
        tlv(
            SET,
            &tlv(
                SEQUENCE,
                &[tlv(OID, oid), tlv(tag, value.as_bytes())].concat(),
            ),
        )
    }

    /// A certificate skeleton: only the fields `parse_subject` walks over are real.
    fn certificate(subject: &[Vec<u8>]) -> Vec<u8> {
        let tbs = [
            tlv(VERSION, &tlv(INTEGER, &[2])),
            tlv(INTEGER, &[0x01, 0x02]),
            tlv(SEQUENCE, &tlv(OID, &[0x2a, 0x86, 0x48])),
            tlv(SEQUENCE, &attribute(OID_CN, 0x0c, "skiff-ca")),
            tlv(SEQUENCE, &[0u8; 300]), // long-form length
            tlv(SEQUENCE, &subject.concat()),
            tlv(SEQUENCE, &[]),
        ]
        .concat();
        tlv(
            SEQUENCE,
            &[tlv(SEQUENCE, &tbs), tlv(SEQUENCE, &[])].concat(),
        )
    }

    #[test]
    fn reads_cn_and_every_o() {
        let der = certificate(&[
            attribute(OID_O, 0x13, "system:nodes"),
            attribute(&[0x55, 0x04, 0x06], 0x13, "DE"),
            attribute(OID_CN, 0x0c, "system:node:n1"),
            attribute(OID_O, 0x0c, "extra"),
        ]);
        let subject = parse_subject(&der).unwrap();
        assert_eq!(subject.common_name.as_deref(), Some("system:node:n1"));
        assert_eq!(subject.organizations, ["system:nodes", "extra"]);
    }

    #[test]
    fn refuses_two_common_names() {
        let der = certificate(&[
            attribute(OID_CN, 0x0c, "admin"),
            attribute(OID_CN, 0x0c, "skiff-control-plane"),
        ]);
        assert_eq!(parse_subject(&der), None);
    }

    #[test]
    fn refuses_unusual_string_types_and_truncation() {
        let bmp = certificate(&[attribute(OID_O, 0x1e, "system:masters")]);
        assert_eq!(parse_subject(&bmp), None);
        let good = certificate(&[attribute(OID_CN, 0x0c, "admin")]);
        for cut in [1, 10, good.len() / 2, good.len() - 3] {
            assert_eq!(parse_subject(&good[..cut]), None, "cut at {cut}");
        }
        assert_eq!(parse_subject(&[]), None);
        assert_eq!(parse_subject(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn empty_subject_has_no_names() {
        let subject = parse_subject(&certificate(&[])).unwrap();
        assert_eq!(subject, Subject::default());
    }
}
