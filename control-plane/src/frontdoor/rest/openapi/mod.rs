//! `/openapi/v3` and its per-group-version documents (docs/architecture.md, REST front
//! door): what `kubectl explain` prints and what kubectl reads to learn that the server
//! validates fields itself (the `fieldValidation` parameter of every PATCH).
//!
//! The documents are generated ahead of time by `tools/openapi-gen` from k8s-openapi's
//! `schemars` schemas — Kubernetes' own types and descriptions, for the release skiff
//! speaks — plus the group-version-kind and strategic-merge extensions and the paths of
//! the table of kinds. Generated rather than copied from Kubernetes' published
//! `api/openapi-spec`: the types skiff decodes with are then the ones it describes, and
//! a kind added to the table is described after one run of the tool. They are embedded
//! gzip-compressed (about 220 KB for all of them) and never kept decompressed: a client
//! that accepts gzip (kubectl does) gets the embedded bytes as they are, another one a
//! copy inflated for its request. As in kube-apiserver, the root lists each document
//! with a `hash` that is its ETag; a request carrying the current hash is cacheable
//! forever (`Cache-Control: public, immutable`), an old hash is redirected to the new one.

mod serve;

pub use serve::{answer, Answer};

use std::sync::OnceLock;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512};

/// One group-version's document.
pub struct Document {
    /// The path under `/openapi/v3/`: "api/v1", "apis/apps/v1".
    pub key: &'static str,
    gzip: &'static [u8],
    etag: OnceLock<String>,
}

impl Document {
    const fn new(key: &'static str, gzip: &'static [u8]) -> Document {
        Document {
            key,
            gzip,
            etag: OnceLock::new(),
        }
    }

    /// The compressed JSON as embedded.
    pub fn gzip(&self) -> &'static [u8] {
        self.gzip
    }

    /// kube-apiserver's form: the upper-case hex SHA-512 (of the embedded bytes here).
    pub fn etag(&self) -> &str {
        self.etag
            .get_or_init(|| hex::encode_upper(Sha512::digest(self.gzip)))
    }

    /// The document's JSON, inflated for one answer.
    pub fn json(&self) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut out = Vec::with_capacity(self.gzip.len() * 8);
        flate2::read::GzDecoder::new(self.gzip).read_to_end(&mut out)?;
        Ok(out)
    }

    /// What the root lists for it.
    pub fn server_relative_url(&self) -> String {
        format!("/openapi/v3/{}?hash={}", self.key, self.etag())
    }
}

macro_rules! embedded {
    ($key:literal, $file:literal) => {
        Document::new(
            $key,
            include_bytes!(concat!("../../../../openapi/v3/", $file, ".json.gz")),
        )
    };
}

/// Every served document, one per group-version of `skiff_proto::kinds::KINDS`.
pub static DOCUMENTS: [Document; 8] = [
    embedded!("api/v1", "api__v1"),
    embedded!("apis/apps/v1", "apis__apps__v1"),
    embedded!("apis/batch/v1", "apis__batch__v1"),
    embedded!("apis/storage.k8s.io/v1", "apis__storage.k8s.io__v1"),
    embedded!(
        "apis/coordination.k8s.io/v1",
        "apis__coordination.k8s.io__v1"
    ),
    embedded!("apis/discovery.k8s.io/v1", "apis__discovery.k8s.io__v1"),
    embedded!(
        "apis/rbac.authorization.k8s.io/v1",
        "apis__rbac.authorization.k8s.io__v1"
    ),
    embedded!(
        "apis/authorization.k8s.io/v1",
        "apis__authorization.k8s.io__v1"
    ),
];

/// The document at `key` ("apis/apps/v1").
pub fn find(key: &str) -> Option<&'static Document> {
    DOCUMENTS.iter().find(|d| d.key == key)
}

/// `/openapi/v3`: each document's path and its hashed URL.
pub fn root() -> Value {
    let mut paths = Map::new();
    for doc in &DOCUMENTS {
        paths.insert(
            doc.key.to_string(),
            json!({ "serverRelativeURL": doc.server_relative_url() }),
        );
    }
    json!({ "paths": paths })
}

#[cfg(test)]
mod tests;
