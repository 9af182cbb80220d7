//! containerd ids for pod containers: readable in `ctr c ls`, stable across agent
//! restarts, unique per attempt.

use sha2::{Digest, Sha256};

/// containerd refuses longer ids.
pub const MAX_ID_LEN: usize = 76;
const UID_PREFIX: usize = 12;
const HASH_LEN: usize = 8;

/// `<first 12 of uid>-<name>-<attempt>`, reduced to containerd's grammar
/// (`[A-Za-z0-9]+([._-][A-Za-z0-9]+)*`). When the name has to be changed to fit (truncated,
/// or characters replaced) a short hash of the original is appended, so two names that
/// reduce to the same text still get different ids.
pub fn container_id(pod_uid: &str, container_name: &str, attempt: u32) -> String {
    let uid: String = sanitize(pod_uid).chars().take(UID_PREFIX).collect();
    let uid = uid.trim_end_matches(['-', '.', '_']);
    let uid = if uid.is_empty() { "pod" } else { uid };
    let attempt = attempt.to_string();
    let budget = MAX_ID_LEN - uid.len() - attempt.len() - 2;

    let clean = sanitize(container_name);
    let name = if clean == container_name && clean.len() <= budget {
        clean
    } else {
        let hash = hex::encode(&Sha256::digest(container_name.as_bytes())[..HASH_LEN / 2]);
        let keep = budget - HASH_LEN - 1;
        let head: String = clean.chars().take(keep).collect();
        let head = head.trim_end_matches(['-', '.', '_']);
        if head.is_empty() {
            hash
        } else {
            format!("{head}-{hash}")
        }
    };
    format!("{uid}-{name}-{attempt}")
}

/// Keeps alphanumerics, turns every other run of characters into one `-`, and trims
/// separators at both ends.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// containerd's identifier rule, for tests and callers that take ids from outside.
pub fn is_valid_id(id: &str) -> bool {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return false;
    }
    let mut prev_sep = true;
    for b in id.bytes() {
        let sep = matches!(b, b'.' | b'_' | b'-');
        if !(sep || b.is_ascii_alphanumeric()) || (sep && prev_sep) {
            return false;
        }
        prev_sep = sep;
    }
    !prev_sep
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8";

    #[test]
    fn readable_and_stable() {
        let id = container_id(UID, "web", 0);
        assert_eq!(id, "3f2a1b4c-5d6-web-0");
        assert_eq!(id, container_id(UID, "web", 0));
        assert_ne!(id, container_id(UID, "web", 1));
        assert!(is_valid_id(&id));
    }

    #[test]
    fn long_and_odd_names_stay_valid_and_distinct() {
        let long = "a".repeat(63);
        let id = container_id(UID, &long, 4_000_000_000);
        assert!(id.len() <= MAX_ID_LEN && is_valid_id(&id), "{id}");
        let other = container_id(UID, &format!("{}b", "a".repeat(62)), 4_000_000_000);
        assert_ne!(id, other);

        let odd = container_id(UID, "my--app", 1);
        assert!(is_valid_id(&odd), "{odd}");
        assert_ne!(odd, container_id(UID, "my-app", 1));
        assert!(is_valid_id(&container_id("", "--", 0)));
        assert!(is_valid_id(&container_id("a.b_c", "x", 0)));
    }

    #[test]
    fn id_rule() {
        assert!(is_valid_id("a-b.c_d"));
        for bad in ["", "-a", "a-", "a--b", "a/b", &"a".repeat(77)] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }
}
