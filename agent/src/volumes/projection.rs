//! The files of configMap, secret, downwardAPI and projected volumes, computed from the
//! objects the control plane gives this node (kubelet's `MakePayload`s).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapProjection, ConfigMapVolumeSource, DownwardAPIProjection,
    DownwardAPIVolumeFile, DownwardAPIVolumeSource, KeyToPath, Pod, ProjectedVolumeSource,
    ResourceFieldSelector, Secret, SecretProjection, SecretVolumeSource,
    ServiceAccountTokenProjection,
};

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use skiff_proto::model::container_resource_value;

use super::atomic_writer::{validate_path, FileProjection, Payload};
use crate::downward::field_value;
use crate::objects::{self, PodObjects};
use crate::tokens::{TokenManager, TokenRequest};

/// Kubernetes' default mode for projected files (0644).
pub const DEFAULT_MODE: i32 = 0o644;

fn mode(m: Option<i32>, default: i32) -> u32 {
    m.unwrap_or(default) as u32 & 0o777
}

async fn fetch_config_map(
    objects: &dyn PodObjects,
    namespace: &str,
    name: &str,
) -> Result<Option<ConfigMap>, String> {
    objects::config_map(objects, namespace, name)
        .await
        .map_err(|e| e.to_string())
}

async fn fetch_secret(
    objects: &dyn PodObjects,
    namespace: &str,
    name: &str,
) -> Result<Option<Secret>, String> {
    objects::secret(objects, namespace, name)
        .await
        .map_err(|e| e.to_string())
}

/// A ConfigMap's keys, text and binary.
fn config_map_entries(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    for (k, v) in cm.binary_data.iter().flatten() {
        out.insert(k.clone(), v.0.clone());
    }
    out
}

/// A Secret's keys (`stringData` wins over `data`, as the API server merges them).
fn secret_entries(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = s
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    for (k, v) in s.string_data.iter().flatten() {
        out.insert(k.clone(), v.clone().into_bytes());
    }
    out
}

/// Every key under its own name, or only `items` at their paths. A missing key is an
/// error (`missing_key` builds the kubelet's message) unless the source is optional.
fn project(
    entries: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    optional: bool,
    default_mode: i32,
    missing_key: impl Fn(&str) -> String,
    out: &mut Payload,
) -> Result<(), String> {
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (key, data) in entries {
                validate_path(key)?;
                out.insert(
                    key.clone(),
                    FileProjection {
                        data: data.clone(),
                        mode: mode(None, default_mode),
                    },
                );
            }
        }
        Some(items) => {
            for item in items {
                let Some(data) = entries.get(&item.key) else {
                    if optional {
                        continue;
                    }
                    return Err(missing_key(&item.key));
                };
                validate_path(&item.path)?;
                out.insert(
                    item.path.clone(),
                    FileProjection {
                        data: data.clone(),
                        mode: mode(item.mode, default_mode),
                    },
                );
            }
        }
    }
    Ok(())
}

/// One ConfigMap or Secret source, of a volume or of a projected volume.
struct KeySource<'a> {
    namespace: &'a str,
    name: &'a str,
    items: Option<&'a Vec<KeyToPath>>,
    optional: bool,
    default_mode: i32,
}

impl<'a> KeySource<'a> {
    fn new(
        namespace: &'a str,
        name: &'a str,
        items: &'a Option<Vec<KeyToPath>>,
        optional: Option<bool>,
        default_mode: i32,
    ) -> Self {
        KeySource {
            namespace,
            name,
            items: items.as_ref(),
            optional: optional == Some(true),
            default_mode,
        }
    }
}

/// Adds a ConfigMap's keys to `out`; a missing ConfigMap is an error unless optional.
async fn add_config_map(
    objects: &dyn PodObjects,
    src: KeySource<'_>,
    out: &mut Payload,
) -> Result<(), String> {
    let entries = fetch_config_map(objects, src.namespace, src.name)
        .await?
        .map(|cm| config_map_entries(&cm));
    add_keys("configmap", entries, src, out, |key| {
        format!("configmap references non-existent config key: {key}")
    })
}

/// Adds a Secret's keys to `out`; a missing Secret is an error unless optional.
async fn add_secret(
    objects: &dyn PodObjects,
    src: KeySource<'_>,
    out: &mut Payload,
) -> Result<(), String> {
    let entries = fetch_secret(objects, src.namespace, src.name)
        .await?
        .map(|s| secret_entries(&s));
    add_keys("secret", entries, src, out, |key| {
        format!("references non-existent secret key: {key}")
    })
}

/// The keys of a found object, or nothing for a missing optional one.
fn add_keys(
    kind: &str,
    entries: Option<BTreeMap<String, Vec<u8>>>,
    src: KeySource<'_>,
    out: &mut Payload,
    missing_key: impl Fn(&str) -> String,
) -> Result<(), String> {
    match entries {
        Some(entries) => project(
            &entries,
            src.items,
            src.optional,
            src.default_mode,
            missing_key,
            out,
        ),
        None if src.optional => Ok(()),
        None => Err(format!("{kind} {:?} not found", src.name)),
    }
}

pub async fn config_map(
    namespace: &str,
    src: &ConfigMapVolumeSource,
    objects: &dyn PodObjects,
) -> Result<Payload, String> {
    let mut out = Payload::new();
    let mode = src.default_mode.unwrap_or(DEFAULT_MODE);
    let source = KeySource::new(namespace, &src.name, &src.items, src.optional, mode);
    add_config_map(objects, source, &mut out).await?;
    Ok(out)
}

pub async fn secret(
    namespace: &str,
    src: &SecretVolumeSource,
    objects: &dyn PodObjects,
) -> Result<Payload, String> {
    let mut out = Payload::new();
    let name = src.secret_name.as_deref().unwrap_or_default();
    let mode = src.default_mode.unwrap_or(DEFAULT_MODE);
    let source = KeySource::new(namespace, name, &src.items, src.optional, mode);
    add_secret(objects, source, &mut out).await?;
    Ok(out)
}

fn downward_files(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    default_mode: i32,
    allocatable: &BTreeMap<String, Quantity>,
    out: &mut Payload,
) -> Result<(), String> {
    for item in items {
        validate_path(&item.path)?;
        let value = match (&item.field_ref, &item.resource_field_ref) {
            // Volumes may name pod metadata only (API validation), which needs no sandbox.
            (Some(f), _) => field_value(pod, None, None, &f.field_path)?,
            (None, Some(r)) => resource_value(pod, r, allocatable)?,
            (None, None) => return Err(format!("downwardAPI item {:?} has no source", item.path)),
        };
        out.insert(
            item.path.clone(),
            FileProjection {
                data: value.into_bytes(),
                mode: mode(item.mode, default_mode),
            },
        );
    }
    Ok(())
}

pub fn downward_api(
    pod: &Pod,
    src: &DownwardAPIVolumeSource,
    allocatable: &BTreeMap<String, Quantity>,
) -> Result<Payload, String> {
    let mut out = Payload::new();
    downward_files(
        pod,
        src.items.as_deref().unwrap_or_default(),
        src.default_mode.unwrap_or(DEFAULT_MODE),
        allocatable,
        &mut out,
    )?;
    Ok(out)
}

/// A `resourceFieldRef` of a volume item: its container is named.
fn resource_value(
    pod: &Pod,
    r: &ResourceFieldSelector,
    allocatable: &BTreeMap<String, Quantity>,
) -> Result<String, String> {
    let name = r.container_name.as_deref().unwrap_or_default();
    let spec = pod.spec.as_ref().ok_or("the pod has no spec")?;
    let container = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .ok_or_else(|| format!("resourceFieldRef: no container {name:?} in the pod"))?;
    container_resource_value(container, allocatable, &r.resource, r.divisor.as_ref())
}

/// What a projected volume reads besides the pod and its source.
pub struct ProjectionSources<'a> {
    pub objects: &'a dyn PodObjects,
    pub tokens: &'a TokenManager,
    pub allocatable: &'a BTreeMap<String, Quantity>,
}

/// Kubernetes' default `expirationSeconds` of a serviceAccountToken source.
const DEFAULT_TOKEN_SECONDS: i64 = 3600;

/// The pod's bound token at `path` (kubelet's projected volume plugin): the volume's
/// mode, or 0600 with an fsGroup (which then makes it group-readable).
async fn add_token(
    pod: &Pod,
    src: &ServiceAccountTokenProjection,
    default_mode: i32,
    tokens: &TokenManager,
    out: &mut Payload,
) -> Result<(), String> {
    validate_path(&src.path)?;
    let request = TokenRequest {
        namespace: pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        pod_name: pod.metadata.name.clone().unwrap_or_default(),
        pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
        audiences: src
            .audience
            .iter()
            .filter(|a| !a.is_empty())
            .cloned()
            .collect(),
        expiration_seconds: src.expiration_seconds.unwrap_or(DEFAULT_TOKEN_SECONDS),
    };
    let token = tokens
        .token(&request)
        .await
        .map_err(|e| format!("failed to fetch token: {e}"))?;
    let fs_group = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|s| s.fs_group);
    let mode = match fs_group {
        Some(_) => 0o600,
        None => mode(None, default_mode),
    };
    out.insert(
        src.path.clone(),
        FileProjection {
            data: token.into_bytes(),
            mode,
        },
    );
    Ok(())
}

pub async fn projected(
    pod: &Pod,
    src: &ProjectedVolumeSource,
    from: &ProjectionSources<'_>,
) -> Result<Payload, String> {
    let (objects, allocatable) = (from.objects, from.allocatable);
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let default_mode = src.default_mode.unwrap_or(DEFAULT_MODE);
    let mut out = Payload::new();
    for source in src.sources.iter().flatten() {
        if let Some(ConfigMapProjection {
            name,
            items,
            optional,
        }) = &source.config_map
        {
            let source = KeySource::new(namespace, name, items, *optional, default_mode);
            add_config_map(objects, source, &mut out).await?;
        }
        if let Some(SecretProjection {
            name,
            items,
            optional,
        }) = &source.secret
        {
            let source = KeySource::new(namespace, name, items, *optional, default_mode);
            add_secret(objects, source, &mut out).await?;
        }
        if let Some(DownwardAPIProjection { items }) = &source.downward_api {
            downward_files(
                pod,
                items.as_deref().unwrap_or_default(),
                default_mode,
                allocatable,
                &mut out,
            )?;
        }
        if let Some(token) = &source.service_account_token {
            add_token(pod, token, default_mode, from.tokens, &mut out).await?;
        }
        if source.cluster_trust_bundle.is_some() {
            return Err("clusterTrustBundle projections are not supported by skiff".into());
        }
    }
    Ok(out)
}
