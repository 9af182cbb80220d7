//! One lazily connected channel to containerd, shared by every service client.
//!
//! The channel is lazy and reconnects by itself, so containerd going away and coming back
//! only fails the calls made while it is gone.

use std::path::{Path, PathBuf};

use containerd_client::services::v1::{
    containers_client::ContainersClient, content_client::ContentClient, diff_client::DiffClient,
    events_client::EventsClient, images_client::ImagesClient, leases_client::LeasesClient,
    snapshots::snapshots_client::SnapshotsClient, tasks_client::TasksClient,
    version_client::VersionClient,
};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use super::RuntimeError;

/// The snapshotter skiff uses for every image and container.
pub const SNAPSHOTTER: &str = "overlayfs";

#[derive(Clone)]
pub struct Containerd {
    channel: Channel,
    namespace: String,
    socket: PathBuf,
}

impl Containerd {
    /// Builds the client without touching the socket; the first call connects.
    pub fn connect_lazy(socket: &Path, namespace: &str) -> Result<Self, RuntimeError> {
        MetadataValue::try_from(namespace).map_err(|_| {
            RuntimeError::InvalidArgument(format!("containerd namespace {namespace:?}"))
        })?;
        let path = socket.to_path_buf();
        let channel = Endpoint::try_from("http://[::]")
            .map_err(|e| RuntimeError::InvalidArgument(e.to_string()))?
            .connect_with_connector_lazy(tower::service_fn(move |_| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }));
        Ok(Self {
            channel,
            namespace: namespace.to_string(),
            socket: socket.to_path_buf(),
        })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Wraps a message with the `containerd-namespace` header every call needs.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.metadata_mut().insert(
            "containerd-namespace",
            MetadataValue::try_from(self.namespace.as_str()).expect("checked in connect_lazy"),
        );
        req
    }

    /// Like [`Self::request`], and ties what the call creates to `lease` so containerd's
    /// garbage collector keeps it until the lease is deleted.
    pub fn request_leased<T>(&self, msg: T, lease: &str) -> tonic::Request<T> {
        let mut req = self.request(msg);
        if let Ok(v) = MetadataValue::try_from(lease) {
            req.metadata_mut().insert("containerd-lease", v);
        }
        req
    }

    pub fn containers(&self) -> ContainersClient<Channel> {
        ContainersClient::new(self.channel.clone())
    }
    pub fn content(&self) -> ContentClient<Channel> {
        ContentClient::new(self.channel.clone())
    }
    pub fn diff(&self) -> DiffClient<Channel> {
        DiffClient::new(self.channel.clone())
    }
    pub fn events(&self) -> EventsClient<Channel> {
        EventsClient::new(self.channel.clone())
    }
    pub fn images(&self) -> ImagesClient<Channel> {
        ImagesClient::new(self.channel.clone())
    }
    pub fn leases(&self) -> LeasesClient<Channel> {
        LeasesClient::new(self.channel.clone())
    }
    pub fn snapshots(&self) -> SnapshotsClient<Channel> {
        SnapshotsClient::new(self.channel.clone())
    }
    pub fn tasks(&self) -> TasksClient<Channel> {
        TasksClient::new(self.channel.clone())
    }
    pub fn version(&self) -> VersionClient<Channel> {
        VersionClient::new(self.channel.clone())
    }
}
