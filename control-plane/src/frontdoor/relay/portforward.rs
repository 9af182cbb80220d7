//! Port-forward through the control plane: the pod's agent is found and dialed once per
//! request ([`PodPorts::open`]), then every forwarded connection is one
//! `Agent.PortForward` stream on that channel ([`PodPorts::connect`]). Bytes, the
//! half-close of either side and the agent's error text pass through unchanged; dropping
//! [`ToPod`] without a half-close drops the connection on the node.

use futures::stream::BoxStream;
use futures::StreamExt;
use skiff_proto::v1::agent_client::AgentClient;
use skiff_proto::v1::port_forward_input::Input;
use skiff_proto::v1::port_forward_output::Output;
use skiff_proto::v1::{PortForwardInput, PortForwardOutput, PortForwardStart};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tracing::debug;

use super::{agent_error, dial, locate, AgentTarget};
use crate::core::ControlPlane;
use crate::core::Error;

const CHANNEL: usize = 16;

/// A pod whose ports can be connected to, through its node's agent.
#[derive(Clone)]
pub struct PodPorts {
    target: AgentTarget,
    client: AgentClient<Channel>,
}

/// What comes back from the pod's side of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromPod {
    Data(Vec<u8>),
    /// The pod closed its side: no more data (the caller may still send).
    Closed,
    /// The connection failed; the text is for the user (kubelet's wording).
    Error(String),
}

/// The caller's side of one connection: bytes for the pod and the half-close.
pub struct ToPod(mpsc::Sender<PortForwardInput>);

impl ToPod {
    /// Over a channel of the agent's input messages (a test's stand-in agent reads it).
    pub fn new(sender: mpsc::Sender<PortForwardInput>) -> Self {
        ToPod(sender)
    }

    /// False when the connection is gone.
    pub async fn data(&self, bytes: Vec<u8>) -> bool {
        self.send(Input::Data(bytes)).await
    }

    /// The caller has no more to send; the pod's answer still comes back.
    pub async fn close_write(&self) -> bool {
        self.send(Input::CloseWrite(true)).await
    }

    async fn send(&self, input: Input) -> bool {
        let message = PortForwardInput { input: Some(input) };
        self.0.send(message).await.is_ok()
    }
}

/// The pod's side of one connection; ends once the connection is over on the node.
pub struct FromPodStream(BoxStream<'static, FromPod>);

impl FromPodStream {
    pub fn new(events: BoxStream<'static, FromPod>) -> Self {
        FromPodStream(events)
    }

    /// The agent's answers, a failed call becoming the error text the user reads.
    fn from_agent(target: AgentTarget, inner: tonic::Streaming<PortForwardOutput>) -> Self {
        let events = inner.filter_map(move |item| {
            let event = match item {
                Ok(PortForwardOutput { output: None }) => None,
                Ok(PortForwardOutput {
                    output: Some(output),
                }) => Some(match output {
                    Output::Data(bytes) => FromPod::Data(bytes),
                    Output::CloseWrite(_) => FromPod::Closed,
                    Output::Error(text) => FromPod::Error(text),
                }),
                Err(status) => Some(FromPod::Error(agent_error(&target, status).to_string())),
            };
            futures::future::ready(event)
        });
        FromPodStream(events.boxed())
    }

    pub async fn next(&mut self) -> Option<FromPod> {
        self.0.next().await
    }
}

/// Opens connections to one pod's ports: its agent ([`PodPorts`]), or a test's stand-in.
pub trait PortOpener: Send + Sync + 'static {
    fn connect(
        &self,
        port: u16,
    ) -> impl std::future::Future<Output = Result<(ToPod, FromPodStream), Error>> + Send;
}

impl PortOpener for PodPorts {
    async fn connect(&self, port: u16) -> Result<(ToPod, FromPodStream), Error> {
        PodPorts::connect(self, port).await
    }
}

impl PodPorts {
    /// Finds pod `namespace/name` and dials its node's agent.
    pub async fn open(cp: &ControlPlane, namespace: &str, name: &str) -> Result<PodPorts, Error> {
        let target = locate(cp.store.as_ref(), namespace, name).await?;
        let client = dial(&cp.pki, &target).await?;
        Ok(PodPorts { target, client })
    }

    /// Where the pod runs.
    pub fn target(&self) -> &AgentTarget {
        &self.target
    }

    /// Opens one connection to `port` on the pod's localhost.
    pub async fn connect(&self, port: u16) -> Result<(ToPod, FromPodStream), Error> {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let start = PortForwardInput {
            input: Some(Input::Start(PortForwardStart {
                namespace: self.target.namespace.clone(),
                pod: self.target.pod.clone(),
                uid: String::new(),
                port: port.into(),
            })),
        };
        // The agent reads the start before it answers the call.
        tx.send(start)
            .await
            .map_err(|_| Error::Internal("port-forward: channel closed".into()))?;
        let inner = self
            .client
            .clone()
            .port_forward(ReceiverStream::new(rx))
            .await
            .map_err(|status| agent_error(&self.target, status))?
            .into_inner();
        debug!(node = %self.target.node, pod = %self.target.pod, port, "port-forward connection opened on the node");
        Ok((
            ToPod(tx),
            FromPodStream::from_agent(self.target.clone(), inner),
        ))
    }
}
