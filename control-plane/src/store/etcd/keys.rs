//! Key layout and value envelope in etcd.
//!
//! Keys are kube's, under skiff's own prefix: `/skiff/<kind>/<namespace>/<name>`, and
//! `/skiff/<kind>/<name>` for cluster-scoped kinds (names never contain `/`). A range always
//! ends its prefix with `/`, so listing `Pod` never also matches `PodTemplate`.
//!
//! The value is `<uid>\n<bytes>`: the uid beside the object's bytes, which are JSON or,
//! for a sealed Secret, the encryption envelope (so not necessarily UTF-8).

use super::super::{Key, StoreError, Stored};

/// Everything skiff keeps in etcd lives under this prefix.
pub const PREFIX: &str = "/skiff/";

/// The etcd key of an object.
pub fn object(key: &Key) -> Vec<u8> {
    if key.namespace.is_empty() {
        format!("{PREFIX}{}/{}", key.kind, key.name).into_bytes()
    } else {
        format!("{PREFIX}{}/{}/{}", key.kind, key.namespace, key.name).into_bytes()
    }
}

/// The prefix of a kind's objects (in one namespace, or in all).
pub fn range(kind: &str, namespace: Option<&str>) -> Vec<u8> {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{PREFIX}{kind}/{ns}/").into_bytes(),
        _ => format!("{PREFIX}{kind}/").into_bytes(),
    }
}

/// The prefix of every object of every kind.
pub fn all() -> Vec<u8> {
    PREFIX.as_bytes().to_vec()
}

/// The object key an etcd key names.
pub fn parse(etcd_key: &[u8]) -> Result<Key, StoreError> {
    let bad = || {
        StoreError::Backend(format!(
            "etcd key {:?} is not a skiff object key",
            String::from_utf8_lossy(etcd_key)
        ))
    };
    let text = std::str::from_utf8(etcd_key).map_err(|_| bad())?;
    let rest = text.strip_prefix(PREFIX).ok_or_else(bad)?;
    let mut parts = rest.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(kind), Some(name), None) if !kind.is_empty() && !name.is_empty() => {
            Ok(Key::new(kind, "", name))
        }
        (Some(kind), Some(ns), Some(name))
            if !kind.is_empty() && !ns.is_empty() && !name.is_empty() && !name.contains('/') =>
        {
            Ok(Key::new(kind, ns, name))
        }
        _ => Err(bad()),
    }
}

/// The value stored for an object.
pub fn envelope(uid: &str, bytes: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(uid.len() + 1 + bytes.len());
    value.extend_from_slice(uid.as_bytes());
    value.push(b'\n');
    value.extend_from_slice(bytes);
    value
}

/// An object from its etcd key, value and revision.
pub fn stored(etcd_key: &[u8], value: &[u8], revision: i64) -> Result<Stored, StoreError> {
    let key = parse(etcd_key)?;
    let split = value
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| StoreError::Backend(format!("etcd value of {key} has no uid envelope")))?;
    let uid = std::str::from_utf8(&value[..split])
        .map_err(|_| StoreError::Backend(format!("etcd value of {key}: uid is not UTF-8")))?
        .to_string();
    Ok(Stored {
        key,
        uid,
        revision,
        json: value[split + 1..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_kinds_do_not_share_a_range() {
        let pod = Key::new("Pod", "default", "web-1");
        let node = Key::new("Node", "", "n1");
        assert_eq!(object(&pod), b"/skiff/Pod/default/web-1");
        assert_eq!(object(&node), b"/skiff/Node/n1");
        assert_eq!(parse(&object(&pod)).unwrap(), pod);
        assert_eq!(parse(&object(&node)).unwrap(), node);
        let template = object(&Key::new("PodTemplate", "default", "t"));
        assert!(!template.starts_with(&range("Pod", None)));
        assert!(object(&pod).starts_with(&range("Pod", Some("default"))));
        assert!(
            !object(&Key::new("Pod", "default-2", "x")).starts_with(&range("Pod", Some("default")))
        );
        assert!(parse(b"/other/Pod/a/b").is_err());
        assert!(parse(b"/skiff/Pod").is_err());
    }

    #[test]
    fn envelope_carries_uid_and_any_bytes() {
        let bytes = [0u8, b'\n', 255, b'{'];
        let value = envelope("uid-1", &bytes);
        let stored = stored(b"/skiff/Secret/ns/s", &value, 7).unwrap();
        assert_eq!(
            stored,
            Stored {
                key: Key::new("Secret", "ns", "s"),
                uid: "uid-1".into(),
                revision: 7,
                json: bytes.to_vec(),
            }
        );
        assert!(super::stored(b"/skiff/Secret/ns/s", b"no-newline", 1).is_err());
    }
}
