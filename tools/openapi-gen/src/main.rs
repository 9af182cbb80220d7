//! Writes the OpenAPI v3 documents the control plane serves
//! (`control-plane/openapi/v3/*.json.gz`, served by
//! `control-plane/src/frontdoor/rest/openapi/`), one per group-version of the table of
//! kinds (`proto/src/kinds.rs`).
//!
//! The schemas come from k8s-openapi's `schemars` feature: its types are generated from
//! Kubernetes' own OpenAPI, descriptions included, so `kubectl explain` prints
//! Kubernetes' text. What k8s-openapi does not carry is added here as kube-apiserver
//! publishes it: `x-kubernetes-group-version-kind` on the kinds, the
//! `x-kubernetes-patch-merge-key`/`-strategy` of the lists strategic merge patch merges
//! by key (`patch_keys.rs`, from the patch engine's table), and the `paths` of every served verb with their query
//! parameters (`paths.rs`) — among them `fieldValidation`, which kubectl looks for on
//! PATCH to leave strict field validation to the server.
//!
//! Run from the repository root after changing the table of kinds:
//! `cargo run --manifest-path tools/openapi-gen/Cargo.toml -- control-plane/openapi/v3`

#[path = "../../../proto/src/kinds.rs"]
#[allow(dead_code)]
mod kinds;
mod params;
mod patch_keys;
mod paths;
mod schemas;
/// The patch engine's table of strategic-merge tags, read as it is.
#[path = "../../../proto/src/patch/strategic/schema.rs"]
#[allow(dead_code)]
mod tags;

use std::io::Write;
use std::path::PathBuf;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Map, Value};

use kinds::KINDS;

/// The Kubernetes release whose API the documents describe (k8s-openapi's `v1_33`).
const KUBERNETES_VERSION: &str = "v1.33.0";

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "control-plane/openapi/v3".to_string()),
    );
    std::fs::create_dir_all(&out).expect("output directory");
    let mut served: Vec<(&str, &str)> = Vec::new();
    for kind in KINDS {
        if !served.contains(&(kind.group, kind.version)) {
            served.push((kind.group, kind.version));
        }
    }
    for (group, version) in served {
        let document = document(group, version);
        let text = serde_json::to_vec(&document).expect("json");
        let file = out.join(format!("{}.json.gz", file_stem(group, version)));
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&text).expect("gzip");
        let bytes = gz.finish().expect("gzip");
        std::fs::write(&file, &bytes).expect("write");
        println!(
            "{}: {} bytes of JSON, {} compressed",
            file.display(),
            text.len(),
            bytes.len()
        );
    }
}

/// "api__v1", "apis__apps__v1": Kubernetes' own names for these files.
fn file_stem(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api__{version}")
    } else {
        format!("apis__{group}__{version}")
    }
}

fn document(group: &str, version: &str) -> Value {
    let kinds: Vec<&kinds::KindInfo> = KINDS
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    let (mut components, named) = schemas::for_kinds(&kinds);
    patch_keys::annotate(&mut components, &named);
    json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": KUBERNETES_VERSION },
        "paths": paths::for_kinds(&kinds),
        "components": {
            "schemas": Value::Object(components),
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header"
                }
            }
        },
        "security": [{ "BearerToken": [] }]
    })
}

/// `{"allOf": [{"$ref": ...}]}`, the form kube-apiserver gives references.
fn reference(name: &str) -> Value {
    json!({ "allOf": [{ "$ref": format!("#/components/schemas/{name}") }] })
}

/// `x-kubernetes-group-version-kind` of one kind.
fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!([{ "group": group, "kind": kind, "version": version }])
}

/// `components.schemas`, by name.
type Schemas = Map<String, Value>;
