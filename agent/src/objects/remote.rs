//! [`PodObjects`] over the control plane's `Node.GetPodObject`.

use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::GetPodObjectRequest;
use tonic::transport::Channel;
use tonic::Code;

use super::{ObjectFuture, ObjectsError, PodObjects};

pub struct RemoteObjects {
    channel: Channel,
    node_name: String,
}

impl RemoteObjects {
    pub fn new(channel: Channel, node_name: &str) -> Self {
        Self {
            channel,
            node_name: node_name.to_string(),
        }
    }
}

impl PodObjects for RemoteObjects {
    fn get<'a>(&'a self, kind: &'a str, namespace: &'a str, name: &'a str) -> ObjectFuture<'a> {
        Box::pin(async move {
            let request = GetPodObjectRequest {
                node_name: self.node_name.clone(),
                kind: kind.to_string(),
                namespace: namespace.to_string(),
                name: name.to_string(),
            };
            match NodeClient::new(self.channel.clone())
                .get_pod_object(request)
                .await
            {
                Ok(object) => serde_json::from_slice(&object.into_inner().json)
                    .map(Some)
                    .map_err(|e| ObjectsError::Decode {
                        kind: kind.to_string(),
                        name: name.to_string(),
                        error: e.to_string(),
                    }),
                Err(status) if status.code() == Code::NotFound => Ok(None),
                Err(status) if status.code() == Code::PermissionDenied => {
                    Err(ObjectsError::Forbidden(status.message().to_string()))
                }
                Err(status) => Err(ObjectsError::Unavailable(format!(
                    "reading {kind} {namespace}/{name} from the control plane: {}",
                    status.message()
                ))),
            }
        })
    }
}
