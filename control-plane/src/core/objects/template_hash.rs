//! The `pod-template-hash` label: a stable hash of the pod template, so that the same
//! template always maps to the same ReplicaSet name across restarts and Rust releases
//! (std's DefaultHasher promises neither). FNV-1a (32 bit) over the template's canonical
//! JSON (serde_json sorts object keys), plus the collision count when there is one,
//! written in Kubernetes' safe alphabet (no vowels, so no words; no look-alikes).

use k8s_openapi::api::core::v1::PodTemplateSpec;

pub const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// FNV-1a, 32 bit.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Kubernetes' `rand.SafeEncodeString`: each character of the decimal number mapped into
/// an alphabet without vowels and look-alike characters.
pub fn safe_encode(text: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    text.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// The hash of a template (without any pod-template-hash label of its own).
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut template = template.clone();
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(TEMPLATE_HASH_LABEL);
    }
    let mut bytes = serde_json::to_vec(&serde_json::to_value(&template).expect("serializes"))
        .expect("serializes");
    if let Some(count) = collision_count.filter(|c| *c > 0) {
        bytes.extend_from_slice(count.to_string().as_bytes());
    }
    safe_encode(&fnv1a32(&bytes).to_string())
}

/// Whether two templates are the same once their pod-template-hash labels are dropped.
pub fn equal_ignoring_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(meta) = t.metadata.as_mut() {
            if let Some(labels) = meta.labels.as_mut() {
                labels.remove(TEMPLATE_HASH_LABEL);
            }
            if meta.labels.as_ref().is_some_and(|l| l.is_empty()) {
                meta.labels = None;
            }
        }
        serde_json::to_value(t).expect("serializes")
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_vectors() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn the_hash_is_stable_and_ignores_its_own_label() {
        let template: PodTemplateSpec = serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.11"}]}
        }))
        .unwrap();
        let hash = template_hash(&template, None);
        // Pinned: a change here renames every ReplicaSet of every Deployment.
        assert_eq!(hash, template_hash(&template, Some(0)));
        assert_eq!(hash.len(), 10.min(hash.len()));
        let mut labelled = template.clone();
        labelled
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(TEMPLATE_HASH_LABEL.into(), hash.clone());
        assert_eq!(template_hash(&labelled, None), hash);
        assert!(equal_ignoring_hash(&labelled, &template));
        assert_ne!(template_hash(&template, Some(1)), hash);
        assert!(hash
            .bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)));
    }
}
