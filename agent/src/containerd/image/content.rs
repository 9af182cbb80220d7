//! containerd's content store and leases, as the pull and import paths use them.
//!
//! Everything written goes under a lease so containerd's garbage collector leaves
//! half-assembled images alone until the image record (and its gc labels) holds them.

use std::collections::HashMap;
use std::time::Duration;

use containerd_client::services::v1::{
    AbortRequest, AddResourceRequest, CreateRequest, DeleteRequest, Info, InfoRequest,
    ReadContentRequest, Resource, UpdateRequest, WriteAction, WriteContentRequest,
};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tracing::{debug, warn};

use super::super::{client::SNAPSHOTTER, Containerd, RuntimeError};
use super::manifest::Descriptor;

/// Bytes per Write message; containerd accepts up to 16 MiB per gRPC message.
const CHUNK: usize = 1 << 20;
/// How long a lease outlives a crashed agent before containerd may collect its content.
const LEASE_TTL_SECS: i64 = 3600;
/// How long to wait for another writer holding the same ingest ref.
const LOCKED_WAIT: Duration = Duration::from_secs(600);

/// A containerd lease; delete it once the image record references what it protected.
#[derive(Clone)]
pub struct Lease {
    ctrd: Containerd,
    pub id: String,
}

impl Lease {
    pub async fn create(ctrd: &Containerd, purpose: &str) -> Result<Self, RuntimeError> {
        let expire = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(LEASE_TTL_SECS);
        let id = format!("skiff-{purpose}-{}", unique());
        let labels = HashMap::from([(
            "containerd.io/gc.expire".to_string(),
            expire.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )]);
        ctrd.leases()
            .create(ctrd.request(CreateRequest {
                id: id.clone(),
                labels,
            }))
            .await?;
        Ok(Self {
            ctrd: ctrd.clone(),
            id,
        })
    }

    /// Pins content that already existed, which a leased write would not have touched.
    pub async fn add_content(&self, digest: &str) -> Result<(), RuntimeError> {
        self.add(digest, "content").await
    }

    pub async fn add_snapshot(&self, key: &str) -> Result<(), RuntimeError> {
        self.add(key, &format!("snapshots/{SNAPSHOTTER}")).await
    }

    async fn add(&self, id: &str, kind: &str) -> Result<(), RuntimeError> {
        let req = AddResourceRequest {
            id: self.id.clone(),
            resource: Some(Resource {
                id: id.to_string(),
                r#type: kind.to_string(),
            }),
        };
        self.ctrd
            .leases()
            .add_resource(self.ctrd.request(req))
            .await?;
        Ok(())
    }

    /// Best effort: an undeleted lease expires by itself.
    pub async fn delete(self) {
        let req = DeleteRequest {
            id: self.id.clone(),
            sync: false,
        };
        if let Err(e) = self.ctrd.leases().delete(self.ctrd.request(req)).await {
            warn!(lease = %self.id, error = %e, "could not delete lease");
        }
    }
}

/// A process-unique suffix for lease ids and snapshot keys.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{nanos}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn info(ctrd: &Containerd, digest: &str) -> Result<Option<Info>, RuntimeError> {
    let req = InfoRequest {
        digest: digest.to_string(),
    };
    match ctrd.content().info(ctrd.request(req)).await {
        Ok(r) => Ok(r.into_inner().info),
        Err(s) if s.code() == Code::NotFound => Ok(None),
        Err(s) => Err(s.into()),
    }
}

/// Reads a whole blob; only for manifests and configs, hence the size cap.
pub async fn read_all(ctrd: &Containerd, digest: &str) -> Result<Vec<u8>, RuntimeError> {
    const MAX: usize = 64 << 20;
    let req = ReadContentRequest {
        digest: digest.to_string(),
        offset: 0,
        size: 0,
    };
    let mut stream = ctrd.content().read(ctrd.request(req)).await?.into_inner();
    let mut out = Vec::new();
    while let Some(msg) = stream.message().await? {
        out.extend_from_slice(&msg.data);
        if out.len() > MAX {
            return Err(RuntimeError::InvalidArgument(format!(
                "blob {digest} is larger than {MAX} bytes"
            )));
        }
    }
    Ok(out)
}

/// Adds or replaces `labels` on a blob, leaving its other labels alone.
pub async fn set_labels(
    ctrd: &Containerd,
    digest: &str,
    labels: HashMap<String, String>,
) -> Result<(), RuntimeError> {
    if labels.is_empty() {
        return Ok(());
    }
    let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
    let req = UpdateRequest {
        info: Some(Info {
            digest: digest.to_string(),
            labels,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths }),
    };
    ctrd.content().update(ctrd.request(req)).await?;
    Ok(())
}

/// Whether a write stored new bytes or found the blob already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    New(u64),
    Existing,
}

/// Writes a blob whose digest and size are known, from a stream of chunks.
///
/// The blob ends up in `lease` either way; a concurrent writer of the same blob is waited
/// for rather than raced.
pub async fn write<S, B>(
    ctrd: &Containerd,
    lease: &Lease,
    desc: &Descriptor,
    mut data: S,
) -> Result<Written, RuntimeError>
where
    S: Stream<Item = Result<B, std::io::Error>> + Unpin,
    B: AsRef<[u8]>,
{
    let started = std::time::Instant::now();
    loop {
        if info(ctrd, &desc.digest).await?.is_some() {
            lease.add_content(&desc.digest).await?;
            return Ok(Written::Existing);
        }
        match write_once(ctrd, lease, desc, &mut data).await {
            Err(WriteError::Locked) if started.elapsed() < LOCKED_WAIT => {
                debug!(digest = %desc.digest, "blob is being written by someone else, waiting");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(WriteError::Locked) => {
                return Err(RuntimeError::Unavailable(format!(
                    "blob {} is still being written by someone else",
                    desc.digest
                )))
            }
            Err(WriteError::Other(e)) => return Err(e),
            Ok(w) => return Ok(w),
        }
    }
}

/// Writes an in-memory blob, computing nothing: `desc` must match `bytes`.
pub async fn write_bytes(
    ctrd: &Containerd,
    lease: &Lease,
    desc: &Descriptor,
    bytes: &[u8],
) -> Result<Written, RuntimeError> {
    let chunks = bytes.chunks(CHUNK).map(Ok::<_, std::io::Error>);
    write(ctrd, lease, desc, futures::stream::iter(chunks)).await
}

enum WriteError {
    Locked,
    Other(RuntimeError),
}

impl From<tonic::Status> for WriteError {
    fn from(s: tonic::Status) -> Self {
        if s.code() == Code::Unavailable && s.message().contains("locked") {
            WriteError::Locked
        } else {
            WriteError::Other(s.into())
        }
    }
}

async fn write_once<S, B>(
    ctrd: &Containerd,
    lease: &Lease,
    desc: &Descriptor,
    data: &mut S,
) -> Result<Written, WriteError>
where
    S: Stream<Item = Result<B, std::io::Error>> + Unpin,
    B: AsRef<[u8]>,
{
    let r#ref = format!("skiff-{}", desc.digest);
    let base = WriteContentRequest {
        r#ref: r#ref.clone(),
        total: desc.size,
        expected: desc.digest.clone(),
        ..Default::default()
    };
    let (tx, rx) = mpsc::channel(2);
    // The first message opens the writer (and fails fast if the blob exists or is locked).
    let _ = tx
        .send(WriteContentRequest {
            action: WriteAction::Stat as i32,
            ..base.clone()
        })
        .await;
    let mut client = ctrd.content();
    let req = ctrd.request_leased(ReceiverStream::new(rx), &lease.id);
    let result = async {
        let mut replies = client.write(req).await?.into_inner();
        replies.message().await?;
        let mut offset = 0i64;
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
        let send = |action: WriteAction, offset: i64, data: Vec<u8>| {
            let msg = WriteContentRequest {
                action: action as i32,
                offset,
                data,
                ..base.clone()
            };
            let tx = tx.clone();
            async move { tx.send(msg).await.is_ok() }
        };
        while let Some(chunk) = data.next().await {
            let chunk = chunk.map_err(|e| {
                WriteError::Other(RuntimeError::io(format!("read blob {}", desc.digest), e))
            })?;
            buf.extend_from_slice(chunk.as_ref());
            if buf.len() >= CHUNK {
                let n = buf.len() as i64;
                send(WriteAction::Write, offset, std::mem::take(&mut buf)).await;
                replies.message().await?;
                offset += n;
            }
        }
        let n = buf.len() as i64;
        send(WriteAction::Commit, offset, buf).await;
        match replies.message().await {
            Ok(_) => {}
            Err(s) if s.code() == Code::AlreadyExists => return Ok(Written::Existing),
            Err(s) => return Err(s.into()),
        }
        Ok(Written::New((offset + n) as u64))
    }
    .await;
    drop(tx);
    match result {
        Err(WriteError::Other(RuntimeError::Containerd(s))) if s.code() == Code::AlreadyExists => {
            // Opening a writer for existing content leases it, so nothing is left to do.
            Ok(Written::Existing)
        }
        Err(e) => {
            if !matches!(e, WriteError::Locked) {
                let abort = AbortRequest { r#ref };
                let _ = ctrd.content().abort(ctrd.request(abort)).await;
            }
            Err(e)
        }
        Ok(w) => Ok(w),
    }
}
