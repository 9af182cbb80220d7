//! Image references normalised the way Docker and the CRI do, so `nginx`, `docker.io/nginx`
//! and `docker.io/library/nginx:latest` name the same containerd image record.

use std::fmt;

use oci_client::Reference;

use super::super::RuntimeError;

mod grammar;

/// A parsed, fully qualified image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    inner: Reference,
}

impl ImageRef {
    /// Parses and normalises `image`; a reference carrying both a tag and a digest keeps only
    /// the digest, as the CRI does, because the digest is what gets pulled.
    pub fn parse(image: &str) -> Result<Self, RuntimeError> {
        let image = image.trim();
        let parsed = grammar::parse(image).map_err(|e| RuntimeError::Image {
            image: image.to_string(),
            message: format!("invalid image reference: {e}"),
        })?;
        if parsed.repository().chars().any(|c| c.is_ascii_uppercase()) {
            return Err(RuntimeError::Image {
                image: image.to_string(),
                message: "invalid image reference: repository name must be lowercase".into(),
            });
        }
        let inner = match parsed.digest() {
            Some(digest) if parsed.tag().is_some() => Reference::with_digest(
                parsed.registry().to_string(),
                parsed.repository().to_string(),
                digest.to_string(),
            ),
            _ => parsed,
        };
        Ok(Self { inner })
    }

    /// The normalised name, used as the containerd image record name.
    pub fn name(&self) -> String {
        self.inner.whole()
    }

    /// The registry host (with port), `docker.io` for Docker Hub.
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// The registry client's view of this reference.
    pub fn oci(&self) -> &Reference {
        &self.inner
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.whole())
    }
}

/// Normalises `image`, returning the name containerd stores it under.
pub fn normalise(image: &str) -> Result<String, RuntimeError> {
    ImageRef::parse(image).map(|r| r.name())
}

/// True when `name` is a usable image name rather than a bare tag such as `latest` or `1.0`,
/// which OCI layouts often carry in `org.opencontainers.image.ref.name`.
pub fn is_full_name(name: &str) -> bool {
    let name = name.trim();
    if name.is_empty() || name.starts_with(':') || name.starts_with('@') {
        return false;
    }
    // A bare tag has no path separator and would otherwise parse as `docker.io/library/<tag>`;
    // only accept it when it says which repository it belongs to.
    name.contains('/') || name.contains(':') || name.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:4bcff63911fcb4448bd4fdacec207030997caf25e9bea4045fa6c8c44de311d1";

    fn norm(s: &str) -> String {
        normalise(s).unwrap()
    }

    #[test]
    fn docker_hub_official_images_get_library_and_latest() {
        assert_eq!(norm("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(norm("docker.io/nginx"), "docker.io/library/nginx:latest");
        assert_eq!(
            norm("index.docker.io/library/nginx"),
            "docker.io/library/nginx:latest"
        );
    }

    #[test]
    fn docker_hub_user_images_keep_their_namespace() {
        assert_eq!(
            norm("alicek106/rr-test:echo-hostname"),
            "docker.io/alicek106/rr-test:echo-hostname"
        );
    }

    #[test]
    fn other_registries_keep_their_host() {
        assert_eq!(norm("k8s.gcr.io/busybox"), "k8s.gcr.io/busybox:latest");
        assert_eq!(norm("127.0.0.1:5000/x:1"), "127.0.0.1:5000/x:1");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        let r = ImageRef::parse("127.0.0.1:5000/a/b:2").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "a/b");
        assert_eq!(r.tag(), Some("2"));
    }

    #[test]
    fn digests_are_kept_and_win_over_tags() {
        assert_eq!(
            norm(&format!("busybox@{DIGEST}")),
            format!("docker.io/library/busybox@{DIGEST}")
        );
        let r = ImageRef::parse(&format!("127.0.0.1:5000/x:1@{DIGEST}")).unwrap();
        assert_eq!(r.name(), format!("127.0.0.1:5000/x@{DIGEST}"));
        assert_eq!(r.digest(), Some(DIGEST));
        assert_eq!(r.tag(), None);
    }

    #[test]
    fn invalid_references_are_image_errors() {
        for bad in ["", "UPPER/case", ":tag", "a@sha256:123", "a b"] {
            match ImageRef::parse(bad) {
                Err(RuntimeError::Image { message, .. }) => {
                    assert!(message.starts_with("invalid image reference"), "{message}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn bare_tags_are_not_full_names() {
        assert!(!is_full_name("latest"));
        assert!(!is_full_name("1.0"));
        assert!(!is_full_name(""));
        assert!(is_full_name("busybox:1"));
        assert!(is_full_name("docker.io/library/busybox:latest"));
        assert!(is_full_name("127.0.0.1:5000/x"));
    }
}
