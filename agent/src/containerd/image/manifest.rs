//! The few manifest shapes skiff reads, kept lenient so OCI and Docker schema2 documents,
//! from registries and from archives, go through the same code.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::super::RuntimeError;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Media types asked for when resolving a reference.
pub const ACCEPTED: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

impl Descriptor {
    pub fn to_containerd(&self) -> containerd_client::types::Descriptor {
        containerd_client::types::Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            annotations: self.annotations.clone(),
        }
    }

    pub fn from_containerd(d: &containerd_client::types::Descriptor) -> Self {
        Self {
            media_type: d.media_type.clone(),
            digest: d.digest.clone(),
            size: d.size,
            annotations: d.annotations.clone(),
            ..Self::default()
        }
    }
}

/// An image manifest or an index; which one it is follows from `manifests` vs `layers`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<Descriptor>,
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let m: Self = serde_json::from_slice(bytes).map_err(|e| format!("bad manifest: {e}"))?;
        if m.schema_version != 2 {
            return Err(format!(
                "unsupported manifest schema version {}",
                m.schema_version
            ));
        }
        Ok(m)
    }

    pub fn is_index(&self) -> bool {
        match self.media_type.as_deref() {
            Some(OCI_INDEX) | Some(DOCKER_LIST) => true,
            Some(OCI_MANIFEST) | Some(DOCKER_MANIFEST) => false,
            _ => self.config.is_none() && !self.manifests.is_empty(),
        }
    }

    /// The media type to record for this document when it had none.
    pub fn effective_media_type(&self) -> String {
        match &self.media_type {
            Some(m) => m.clone(),
            None if self.is_index() => OCI_INDEX.to_string(),
            None => OCI_MANIFEST.to_string(),
        }
    }

    /// Config and layers of an image manifest, or why it is not one.
    pub fn image_parts(&self) -> Result<(&Descriptor, &[Descriptor]), String> {
        let config = self.config.as_ref().ok_or("manifest has no config")?;
        if self.layers.is_empty() {
            return Err("manifest has no layers".into());
        }
        Ok((config, &self.layers))
    }

    /// Picks this host's entry of an index: linux and our architecture.
    pub fn select_platform(&self) -> Result<(usize, &Descriptor), String> {
        let arch = host_arch();
        self.manifests
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.media_type.contains("attestation"))
            .find(|(_, d)| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == arch)
            })
            .or_else(|| {
                // A single-entry index without platform (common in OCI archives) is for us.
                (self.manifests.len() == 1 && self.manifests[0].platform.is_none())
                    .then(|| (0, &self.manifests[0]))
            })
            .ok_or_else(|| format!("no manifest for linux/{arch} in image index"))
    }
}

/// The host architecture in OCI (GOARCH) terms.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Checks that a layer media type is one containerd's applier understands.
pub fn check_layer_media_type(media_type: &str) -> Result<(), RuntimeError> {
    let ok = media_type.starts_with("application/vnd.oci.image.layer.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.");
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidArgument(format!(
            "unsupported layer media type {media_type}"
        )))
    }
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(arches: &[&str]) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: arches
                .iter()
                .map(|a| Descriptor {
                    media_type: OCI_MANIFEST.into(),
                    digest: format!("sha256:{a}"),
                    platform: Some(Platform {
                        os: "linux".into(),
                        architecture: (*a).into(),
                        variant: None,
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn picks_host_platform_from_index() {
        let m = index(&["s390x", host_arch(), "riscv64"]);
        assert!(m.is_index());
        let (i, d) = m.select_platform().unwrap();
        assert_eq!(i, 1);
        assert_eq!(d.digest, format!("sha256:{}", host_arch()));
        let err = index(&["s390x"]).select_platform().unwrap_err();
        assert!(err.starts_with("no manifest for linux/"), "{err}");
    }

    #[test]
    fn parses_docker_schema2_manifest() {
        let raw = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
          "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7,"digest":"sha256:c"},
          "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":9,"digest":"sha256:l"}]}"#;
        let m = Manifest::parse(raw).unwrap();
        assert!(!m.is_index());
        let (config, layers) = m.image_parts().unwrap();
        assert_eq!(config.digest, "sha256:c");
        assert_eq!(layers[0].size, 9);
        check_layer_media_type(&layers[0].media_type).unwrap();
        assert!(Manifest::parse(br#"{"schemaVersion":1}"#).is_err());
    }

    #[test]
    fn untyped_documents_are_told_apart() {
        let idx =
            Manifest::parse(br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:a"}]}"#).unwrap();
        assert!(idx.is_index());
        assert_eq!(idx.effective_media_type(), OCI_INDEX);
        assert_eq!(idx.select_platform().unwrap().0, 0);
        assert!(check_layer_media_type("application/x-foo").is_err());
    }
}
