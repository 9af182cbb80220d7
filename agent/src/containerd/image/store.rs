//! What a stored image is made of, read back from containerd: the record, the manifest
//! chosen for this host, the config; and the gc labels that tie them together.

use std::collections::HashMap;

use containerd_client::services::v1::{
    CreateImageRequest, GetImageRequest, Image, UpdateImageRequest,
};
use oci_spec::image::ImageConfiguration;
use tonic::Code;

use super::super::{Containerd, RuntimeError};
use super::content;
use super::manifest::{Descriptor, Manifest};

/// An image as found in the content store.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// What the image record points at: a manifest, or an index.
    pub target: Descriptor,
    /// Position of the chosen manifest in the index, when the target is one.
    pub index_entry: Option<usize>,
    pub manifest: Descriptor,
    pub config_desc: Descriptor,
    pub layers: Vec<Descriptor>,
    pub config: ImageConfiguration,
}

impl Resolved {
    /// Bytes of the image's content as containerd's `Image.Size` counts them: the
    /// record's target, the chosen manifest, its config and (compressed) layers.
    pub fn size(&self) -> u64 {
        let manifest = match self.index_entry {
            Some(_) => self.manifest.size,
            None => 0,
        };
        let layers: i64 = self.layers.iter().map(|l| l.size).sum();
        (self.target.size + manifest + self.config_desc.size + layers).max(0) as u64
    }

    pub fn diff_ids(&self) -> &[String] {
        self.config.rootfs().diff_ids()
    }
}

fn bad(name: &str, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Image {
        image: name.to_string(),
        message: message.into(),
    }
}

/// Reads `target` and what it refers to; a missing blob comes back as a NotFound error.
pub async fn resolve(
    ctrd: &Containerd,
    name: &str,
    target: &Descriptor,
) -> Result<Resolved, RuntimeError> {
    let top = Manifest::parse(&content::read_all(ctrd, &target.digest).await?)
        .map_err(|e| bad(name, e))?;
    let (index_entry, manifest_desc, manifest) = if top.is_index() {
        let (i, desc) = top.select_platform().map_err(|e| bad(name, e))?;
        let m = Manifest::parse(&content::read_all(ctrd, &desc.digest).await?)
            .map_err(|e| bad(name, e))?;
        (Some(i), desc.clone(), m)
    } else {
        (None, target.clone(), top)
    };
    if manifest.is_index() {
        return Err(bad(name, "nested image indexes are not supported"));
    }
    let (config_desc, layers) = manifest.image_parts().map_err(|e| bad(name, e))?;
    let config: ImageConfiguration =
        serde_json::from_slice(&content::read_all(ctrd, &config_desc.digest).await?)
            .map_err(|e| bad(name, format!("bad image config: {e}")))?;
    if config.rootfs().diff_ids().len() != layers.len() {
        return Err(bad(
            name,
            format!(
                "image config lists {} diff ids for {} layers",
                config.rootfs().diff_ids().len(),
                layers.len()
            ),
        ));
    }
    Ok(Resolved {
        target: target.clone(),
        index_entry,
        manifest: manifest_desc,
        config_desc: config_desc.clone(),
        layers: layers.to_vec(),
        config,
    })
}

/// Labels the manifest (and index) so containerd's GC keeps config and layers alive for as
/// long as the image record exists.
pub async fn label_gc(ctrd: &Containerd, r: &Resolved) -> Result<(), RuntimeError> {
    let mut labels = HashMap::from([(
        "containerd.io/gc.ref.content.config".to_string(),
        r.config_desc.digest.clone(),
    )]);
    for (i, layer) in r.layers.iter().enumerate() {
        labels.insert(
            format!("containerd.io/gc.ref.content.l.{i}"),
            layer.digest.clone(),
        );
    }
    content::set_labels(ctrd, &r.manifest.digest, labels).await?;
    if let Some(i) = r.index_entry {
        let labels = HashMap::from([(
            format!("containerd.io/gc.ref.content.m.{i}"),
            r.manifest.digest.clone(),
        )]);
        content::set_labels(ctrd, &r.target.digest, labels).await?;
    }
    Ok(())
}

/// The target of image record `name`, if there is one.
pub async fn get_record(ctrd: &Containerd, name: &str) -> Result<Option<Descriptor>, RuntimeError> {
    let req = GetImageRequest {
        name: name.to_string(),
    };
    match ctrd.images().get(ctrd.request(req)).await {
        Ok(r) => Ok(r
            .into_inner()
            .image
            .and_then(|i| i.target)
            .map(|t| Descriptor::from_containerd(&t))),
        Err(s) if s.code() == Code::NotFound => Ok(None),
        Err(s) => Err(s.into()),
    }
}

/// Creates image record `name`, or points the existing one at `target`.
pub async fn put_record(
    ctrd: &Containerd,
    name: &str,
    target: &Descriptor,
    labels: HashMap<String, String>,
) -> Result<(), RuntimeError> {
    let image = Image {
        name: name.to_string(),
        labels,
        target: Some(target.to_containerd()),
        created_at: None,
        updated_at: None,
    };
    let create = CreateImageRequest {
        image: Some(image.clone()),
        source_date_epoch: None,
    };
    match ctrd.images().create(ctrd.request(create)).await {
        Ok(_) => Ok(()),
        Err(s) if s.code() == Code::AlreadyExists => {
            let update = UpdateImageRequest {
                image: Some(image),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["target".into(), "labels".into()],
                }),
                source_date_epoch: None,
            };
            ctrd.images().update(ctrd.request(update)).await?;
            Ok(())
        }
        Err(s) => Err(s.into()),
    }
}
