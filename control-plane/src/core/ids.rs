//! Generated values of new objects: uids and names' random suffixes.

use rand::RngCore;

/// A random (version 4) UUID, the uid of a new object: unique across deletions and
/// re-creations of the same name, which is how agents and controllers tell them apart.
pub fn new_uid() -> String {
    let mut bytes = [0_u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    skiff_proto::model::uuid(bytes, 4)
}

/// Five characters of Kubernetes' name alphabet (no vowels, no look-alikes): the suffix
/// of a generated pod name.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_version_4_uuids() {
        let uid = new_uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
        assert!(matches!(&uid[19..20], "8" | "9" | "a" | "b"), "{uid}");
        assert_ne!(uid, new_uid());
    }
}
