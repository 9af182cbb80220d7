//! Registry → containerd content store, client-side (containerd 1.6 has no Transfer
//! service). Blobs stream straight from the HTTP response into Content.Write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tracing::{debug, info, warn};

use super::super::{Containerd, RuntimeError};
use super::content::{self, Lease, Written};
use super::manifest::{self, Descriptor, Manifest};
use super::reference::ImageRef;
use super::registries::{Auth, Endpoint, Registries};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence on an open connection before a download is abandoned.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on resolving a manifest at one endpoint, so a dead mirror can't stall a pull.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(20);
const PARALLEL_LAYERS: usize = 3;
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

pub struct Puller {
    registries: Registries,
    clients: Mutex<HashMap<String, Client>>,
}

/// Where a reference resolved, reused to fetch its blobs.
struct Source {
    client: Client,
    reference: Reference,
    auth: RegistryAuth,
    url: String,
}

impl Puller {
    pub fn new(registries: Registries) -> Self {
        Self {
            registries,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Resolves `image` and copies manifest, config and layers into containerd under
    /// `lease`; returns what the image record should point at.
    pub async fn pull(
        &self,
        ctrd: &Containerd,
        lease: &Lease,
        image: &ImageRef,
    ) -> Result<Descriptor, RuntimeError> {
        let name = image.name();
        let fail = |message: String| RuntimeError::Image {
            image: name.clone(),
            message: format!("pull {name}: {message}"),
        };
        let started = Instant::now();
        let (src, top_bytes, top_digest) = self.resolve(image).await.map_err(&fail)?;
        let top = Manifest::parse(&top_bytes).map_err(&fail)?;
        let target = Descriptor {
            media_type: top.effective_media_type(),
            digest: top_digest,
            size: top_bytes.len() as i64,
            ..Default::default()
        };

        let (manifest_desc, manifest_bytes, manifest) = if top.is_index() {
            let (_, entry) = top.select_platform().map_err(&fail)?;
            let reference = src.reference.clone_with_digest(entry.digest.clone());
            let (bytes, digest) = src
                .client
                .pull_manifest_raw(&reference, &src.auth, manifest::ACCEPTED)
                .await
                .map_err(|e| fail(format!("{} from {}", describe(&e), src.url)))?;
            let m = Manifest::parse(&bytes).map_err(&fail)?;
            let desc = Descriptor {
                media_type: m.effective_media_type(),
                digest,
                size: bytes.len() as i64,
                ..Default::default()
            };
            (desc, bytes.to_vec(), m)
        } else {
            (target.clone(), top_bytes.clone(), top.clone())
        };
        let (config, layers) = manifest.image_parts().map_err(&fail)?;
        for layer in layers {
            manifest::check_layer_media_type(&layer.media_type).map_err(|e| fail(e.to_string()))?;
        }

        self.fetch(ctrd, lease, &src, config, &name, None).await?;
        let total = layers.len();
        let bytes = AtomicU64::new(0);
        // Owned items: borrowed ones trip a higher-ranked lifetime error once spawned.
        let items: Vec<(usize, Descriptor)> = layers.iter().cloned().enumerate().collect();
        let (bytes_ref, name_ref, src_ref) = (&bytes, &name, &src);
        futures::stream::iter(items)
            .map(|(i, layer)| async move {
                let n = self
                    .fetch(ctrd, lease, src_ref, &layer, name_ref, Some((i, total)))
                    .await?;
                bytes_ref.fetch_add(n, Ordering::Relaxed);
                Ok::<_, RuntimeError>(())
            })
            .buffer_unordered(PARALLEL_LAYERS)
            .try_collect::<Vec<()>>()
            .await?;
        content::write_bytes(ctrd, lease, &manifest_desc, &manifest_bytes).await?;
        if top.is_index() {
            content::write_bytes(ctrd, lease, &target, &top_bytes).await?;
        }
        info!(
            image = %name,
            digest = %target.digest,
            from = %src.url,
            bytes = bytes.load(Ordering::Relaxed),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "image pulled"
        );
        Ok(target)
    }

    /// Tries each endpoint in order and returns the first that has the manifest.
    async fn resolve(&self, image: &ImageRef) -> Result<(Source, Vec<u8>, String), String> {
        let mut failures = Vec::new();
        for ep in self.registries.endpoints(image.registry()) {
            let client = match self.client(&ep) {
                Ok(c) => c,
                Err(e) => {
                    failures.push(format!("{e} for {}", ep.url));
                    continue;
                }
            };
            let mut reference = image.oci().clone();
            if ep.mirror {
                reference.set_mirror_registry(ep.host.clone());
            }
            let auth = ep.auth.to_registry_auth();
            let res = tokio::time::timeout(
                RESOLVE_TIMEOUT,
                client.pull_manifest_raw(&reference, &auth, manifest::ACCEPTED),
            )
            .await;
            match res {
                Ok(Ok((bytes, digest))) => {
                    debug!(image = %image, endpoint = %ep.url, %digest, "image resolved");
                    let src = Source {
                        client,
                        reference,
                        auth,
                        url: ep.url.clone(),
                    };
                    return Ok((src, bytes.to_vec(), digest));
                }
                Ok(Err(e)) => {
                    let hint = match (is_auth_error(&e), &ep.auth) {
                        (false, _) => "",
                        (true, Auth::Anonymous) => " (no credentials configured)",
                        (true, Auth::Basic { .. }) => " (credentials rejected)",
                    };
                    failures.push(format!("{}{hint} from {}", describe(&e), ep.url))
                }
                Err(_) => failures.push(format!("timed out from {}", ep.url)),
            }
            if let Some(f) = failures.last() {
                warn!(image = %image, endpoint = %ep.url, error = %f, "endpoint failed");
            }
        }
        Err(failures.join("; "))
    }

    /// Copies one blob into containerd unless it is there already; returns bytes downloaded.
    async fn fetch(
        &self,
        ctrd: &Containerd,
        lease: &Lease,
        src: &Source,
        desc: &Descriptor,
        name: &str,
        layer: Option<(usize, usize)>,
    ) -> Result<u64, RuntimeError> {
        if content::info(ctrd, &desc.digest).await?.is_some() {
            lease.add_content(&desc.digest).await?;
            if let Some((i, total)) = layer {
                debug!(image = %name, layer = i, total, digest = %desc.digest, "layer already present");
            }
            return Ok(0);
        }
        let (i, total) = layer.unwrap_or((0, 0));
        if layer.is_some() {
            info!(image = %name, layer = i, total, bytes = desc.size, digest = %desc.digest, "pulling layer");
        }
        let fail = |e: &OciDistributionError| RuntimeError::Image {
            image: name.to_string(),
            message: format!(
                "pull {name}: fetch {}: {} from {}",
                desc.digest,
                describe(e),
                src.url
            ),
        };
        let urls = desc.urls.clone();
        let layer_desc = oci_client::client::LayerDescriptor {
            digest: &desc.digest,
            urls: &urls,
        };
        let stream = src
            .client
            .pull_blob_stream(&src.reference, &layer_desc)
            .await
            .map_err(|e| fail(&e))?;
        let started = Instant::now();
        let mut seen = 0u64;
        let mut last = Instant::now();
        let stream = stream.inspect_ok(|chunk| {
            seen += chunk.len() as u64;
            if layer.is_some() && last.elapsed() >= PROGRESS_EVERY {
                last = Instant::now();
                info!(image = %name, layer = i, total, bytes = seen, size = desc.size, "layer download progress");
            }
        });
        // A broken or corrupt download surfaces as a read error of the stream.
        let written = content::write(ctrd, lease, desc, stream)
            .await
            .map_err(|e| match e {
                RuntimeError::Io { source, .. } => RuntimeError::Image {
                    image: name.to_string(),
                    message: format!(
                        "pull {name}: fetch {}: {} from {}",
                        desc.digest,
                        root_cause(&source),
                        src.url
                    ),
                },
                other => other,
            })?;
        let n = match written {
            Written::New(n) => n,
            Written::Existing => 0,
        };
        if layer.is_some() {
            info!(
                image = %name,
                layer = i,
                total,
                bytes = n,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "pulled layer"
            );
        }
        Ok(n)
    }

    fn client(&self, ep: &Endpoint) -> Result<Client, String> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&ep.url) {
            return Ok(c.clone());
        }
        let mut extra_root_certificates = Vec::new();
        if let Some(path) = &ep.ca_file {
            let data = std::fs::read(path)
                .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
            extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let config = ClientConfig {
            protocol: if ep.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            accept_invalid_certificates: ep.insecure_skip_verify,
            extra_root_certificates,
            platform_resolver: None,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            user_agent: concat!("skiff-agent/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| format!("bad client config: {e}"))?;
        clients.insert(ep.url.clone(), client.clone());
        Ok(client)
    }
}

/// A short, user-facing reason for a registry failure.
pub fn describe(e: &OciDistributionError) -> String {
    match e {
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .map(|e| match &e.code {
                OciErrorCode::ManifestUnknown => "manifest unknown".to_string(),
                OciErrorCode::NameUnknown => "repository unknown".to_string(),
                OciErrorCode::BlobUnknown => "blob unknown".to_string(),
                OciErrorCode::Unauthorized => "unauthorized".to_string(),
                OciErrorCode::Denied => "access denied".to_string(),
                OciErrorCode::Toomanyrequests => "too many requests".to_string(),
                _ => e.message.to_lowercase(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        OciDistributionError::UnauthorizedError { .. } => "unauthorized".to_string(),
        OciDistributionError::AuthenticationFailure(m) => {
            format!("authentication failed: {}", m.trim())
        }
        OciDistributionError::ServerError { code, message, .. } => {
            let message = message.trim();
            if message.is_empty() || message.len() > 200 {
                format!("http status {code}")
            } else {
                format!("http status {code}: {message}")
            }
        }
        OciDistributionError::RequestError(re) if re.is_timeout() => "timed out".to_string(),
        OciDistributionError::RequestError(re) if re.is_connect() => {
            format!("cannot connect ({})", root_cause(re))
        }
        OciDistributionError::RequestError(re) => format!("request failed ({})", root_cause(re)),
        other => other.to_string(),
    }
}

fn is_auth_error(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)),
        _ => false,
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
