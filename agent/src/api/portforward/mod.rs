//! Agent.PortForward: one TCP connection to a port on a pod's localhost, relayed over
//! the caller's stream (docs/architecture.md, The wire).
//!
//! The first message names the pod and the port. The connection is made from inside the
//! pod's network namespace (`dial.rs`), so a server bound to 127.0.0.1 in the pod answers,
//! as with the kubelet. Then bytes flow both ways; `close_write` from the caller is a
//! half-close (shutdown of the socket's write side) and the pod's end of data comes back
//! as `close_write`, so request/response protocols work. A refused or broken connection
//! ends the stream with an `error` message in the kubelet's words; a caller that hangs
//! up takes the connection with it.

mod dial;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use skiff_proto::v1::port_forward_input::Input;
use skiff_proto::v1::port_forward_output::Output;
use skiff_proto::v1::{PortForwardInput, PortForwardOutput, PortForwardStart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::{debug, info};

pub use dial::{NetnsDialer, PodDialer};

use super::error::ApiError;
use super::server::namespace_or_default;
use crate::pod_sandbox::Sandboxes;
use crate::pods::StatusStore;

const CHANNEL: usize = 16;
const BUFFER: usize = 32 * 1024;

type Outbound = mpsc::Sender<Result<PortForwardOutput, Status>>;

fn output(output: Output) -> Result<PortForwardOutput, Status> {
    Ok(PortForwardOutput {
        output: Some(output),
    })
}

/// Reads the start message, connects inside the pod and relays the connection.
pub async fn session<S>(
    store: &StatusStore,
    root: &Path,
    dialer: Arc<dyn PodDialer>,
    mut inbound: S,
) -> Result<ReceiverStream<Result<PortForwardOutput, Status>>, ApiError>
where
    S: Stream<Item = Result<PortForwardInput, Status>> + Send + Unpin + 'static,
{
    let start = match inbound.next().await {
        Some(Ok(PortForwardInput {
            input: Some(Input::Start(start)),
        })) => start,
        Some(Err(status)) => return Err(ApiError::Caller(status)),
        _ => {
            return Err(ApiError::InvalidArgument(
                "port-forward: the first message must name the pod and port".into(),
            ))
        }
    };
    let port = u16::try_from(start.port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            ApiError::InvalidArgument(format!(
                "port-forward: invalid port {}: must be 1-65535",
                start.port
            ))
        })?;
    let uid = pod_uid(store, &start)?;
    let netns = Sandboxes::new(root).net_path(&uid);
    info!(pod = %start.pod, namespace = %start.namespace, port, "port-forward connection");

    let (tx, rx) = mpsc::channel(CHANNEL);
    tokio::spawn(async move {
        // The kubelet's wrapping of the runtime's error; the pod is named by its
        // sandbox (our sandbox is the pod uid), and the uid is left empty, as with CRI.
        let failed =
            |why: String| format!("error forwarding port {port} to pod {uid}, uid : {why}");
        let conn = match dialer.dial(&netns, &uid, port).await {
            Ok(conn) => conn,
            Err(why) => {
                debug!(pod = %start.pod, port, error = %why, "port-forward connect failed");
                let _ = tx.send(output(Output::Error(failed(why)))).await;
                return;
            }
        };
        if let Err(why) = relay(conn, inbound, &tx).await {
            let why = format!(
                "failed to execute portforward in network namespace {:?}: {why}",
                netns.display().to_string()
            );
            let _ = tx.send(output(Output::Error(failed(why)))).await;
        }
        debug!(pod = %start.pod, port, "port-forward connection ended");
    });
    Ok(ReceiverStream::new(rx))
}

/// The pod's uid: by name in its namespace, and it must be the pod the caller meant.
fn pod_uid(store: &StatusStore, start: &PortForwardStart) -> Result<String, ApiError> {
    let pod = store
        .get(namespace_or_default(&start.namespace), &start.pod)
        .ok_or_else(|| ApiError::PodNotFound(start.pod.clone()))?;
    let uid = pod.metadata.uid.unwrap_or_default();
    if uid.is_empty() || (!start.uid.is_empty() && start.uid != uid) {
        return Err(ApiError::PodNotFound(start.pod.clone()));
    }
    Ok(uid)
}

/// How one direction of the relay ended.
enum End {
    /// This direction is done (end of data), the other may go on.
    Done,
    /// The caller left: the connection is dropped.
    CallerLeft,
}

/// Pipes both directions until both are done; `Err` is a broken connection.
async fn relay<S>(conn: tokio::net::TcpStream, inbound: S, tx: &Outbound) -> Result<(), String>
where
    S: Stream<Item = Result<PortForwardInput, Status>> + Send + Unpin,
{
    let (read, write) = conn.into_split();
    let up = to_pod(inbound, write);
    let down = from_pod(read, tx);
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    while !(up_done && down_done) {
        let end = tokio::select! {
            end = &mut up, if !up_done => { up_done = true; end? }
            end = &mut down, if !down_done => { down_done = true; end? }
        };
        if let End::CallerLeft = end {
            return Ok(());
        }
    }
    Ok(())
}

/// The caller's bytes into the socket; `close_write` shuts the socket's write side.
async fn to_pod<S>(mut inbound: S, mut write: OwnedWriteHalf) -> Result<End, String>
where
    S: Stream<Item = Result<PortForwardInput, Status>> + Unpin,
{
    loop {
        match inbound.next().await {
            Some(Ok(PortForwardInput {
                input: Some(Input::Data(bytes)),
            })) => write.write_all(&bytes).await.map_err(|e| e.to_string())?,
            Some(Ok(PortForwardInput {
                input: Some(Input::CloseWrite(true)),
            })) => {
                // The pod may already have closed its side: nothing to shut then.
                let _ = write.shutdown().await;
                return Ok(End::Done);
            }
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return Ok(End::CallerLeft),
        }
    }
}

/// The pod's bytes to the caller, then `close_write` at the pod's end of data.
async fn from_pod(mut read: OwnedReadHalf, tx: &Outbound) -> Result<End, String> {
    let mut buf = vec![0u8; BUFFER];
    loop {
        let n = tokio::select! {
            n = read.read(&mut buf) => n.map_err(|e| e.to_string())?,
            () = tx.closed() => return Ok(End::CallerLeft),
        };
        let message = if n == 0 {
            Output::CloseWrite(true)
        } else {
            Output::Data(buf[..n].to_vec())
        };
        if tx.send(output(message)).await.is_err() {
            return Ok(End::CallerLeft);
        }
        if n == 0 {
            return Ok(End::Done);
        }
    }
}
