//! One exec or attach session between a WebSocket client and the relay to the pod's
//! agent: channel 0 (stdin), 4 (resize) and v5's CLOSE of stdin become `ExecInput`s;
//! stdout and stderr come back on channels 1 and 2, and the session's outcome as a
//! `Status` on channel 3, after which the socket closes.

use futures::stream::BoxStream;
use futures::{SinkExt, StreamExt};
use skiff_proto::v1::exec_input::Input;
use skiff_proto::v1::exec_output::Output;
use skiff_proto::v1::{ExecInput, ExecOutput, TerminalSize};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tracing::debug;

use super::channels::{Channels, Frame, ERROR, RESIZE, STDERR, STDIN, STDOUT};
use super::options::StreamOptions;
use super::outcome;
use super::upgrade::Socket;
use crate::core::Error;

/// What the client sent, for the agent.
pub type Inbound = mpsc::Sender<Result<ExecInput, tonic::Status>>;

/// `{"Width":..,"Height":..}`, as kubectl and client libraries send it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Size {
    width: u32,
    height: u32,
}

/// The input a client frame stands for, if any.
pub fn input_of(frame: Frame<'_>) -> Option<Input> {
    match frame {
        Frame::Data {
            channel: STDIN,
            data,
        } if !data.is_empty() => Some(Input::Stdin(data.to_vec())),
        Frame::Data {
            channel: RESIZE,
            data,
        } => serde_json::from_slice::<Size>(data).ok().map(|s| {
            Input::Resize(TerminalSize {
                width: s.width,
                height: s.height,
            })
        }),
        Frame::Close { channel: STDIN } => Some(Input::CloseStdin(true)),
        _ => None,
    }
}

/// Runs the session until the agent's stream ends or the client leaves. `attach` makes
/// the outcome Success whatever the container's exit (as the kubelet's attach does).
pub async fn run(
    socket: Socket,
    channels: Channels,
    opts: StreamOptions,
    attach: bool,
    inbound: Inbound,
    mut outbound: BoxStream<'static, Result<ExecOutput, Error>>,
) {
    let (mut sink, mut stream) = socket.split();
    // The lowest channel the client reads, empty: "the session is open".
    let first = if opts.stdout {
        STDOUT
    } else if opts.stderr {
        STDERR
    } else {
        ERROR
    };
    if sink
        .send(Message::binary(channels.frame(first, b"")))
        .await
        .is_err()
    {
        return;
    }
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let bytes = match message {
                Message::Binary(bytes) => bytes,
                Message::Close(_) => break,
                _ => continue,
            };
            let Some(input) = channels.parse(&bytes).and_then(input_of) else {
                continue;
            };
            let input = ExecInput { input: Some(input) };
            if inbound.send(Ok(input)).await.is_err() {
                break;
            }
        }
        debug!("session input ended");
    });
    let status = loop {
        let message = match outbound.next().await {
            Some(Ok(ExecOutput {
                output: Some(output),
            })) => output,
            Some(Ok(ExecOutput { output: None })) => continue,
            Some(Err(error)) => break outcome::failure(&error.to_string()),
            None => break outcome::failure("the node ended the session without an exit code"),
        };
        let frame = match message {
            Output::Stdout(data) if opts.stdout => channels.frame(STDOUT, &data),
            Output::Stderr(data) if opts.stderr => channels.frame(STDERR, &data),
            Output::Stdout(_) | Output::Stderr(_) => continue,
            Output::ExitCode(_) if attach => break outcome::success(),
            Output::ExitCode(code) => break outcome::for_exit(code, &opts.command),
        };
        if sink.send(Message::binary(frame)).await.is_err() {
            // The client left: dropping the relay ends the process on the node.
            reader.abort();
            return;
        }
    };
    let status = serde_json::to_vec(&status).unwrap_or_default();
    let _ = sink
        .send(Message::binary(channels.frame(ERROR, &status)))
        .await;
    // A normal closure (1000): client-go takes a close without a code (1005) as an error.
    let normal = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    let _ = sink.send(Message::Close(Some(normal))).await;
    let _ = sink.close().await;
    reader.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_become_agent_input() {
        let stdin = Frame::Data {
            channel: STDIN,
            data: b"ls\n",
        };
        assert_eq!(input_of(stdin), Some(Input::Stdin(b"ls\n".to_vec())));
        let resize = Frame::Data {
            channel: RESIZE,
            data: br#"{"Width":120,"Height":40}"#,
        };
        assert_eq!(
            input_of(resize),
            Some(Input::Resize(TerminalSize {
                width: 120,
                height: 40
            }))
        );
        assert_eq!(
            input_of(Frame::Close { channel: STDIN }),
            Some(Input::CloseStdin(true))
        );
        // Nothing for the agent: empty stdin, a bad size, output channels.
        let empty = Frame::Data {
            channel: STDIN,
            data: b"",
        };
        assert_eq!(input_of(empty), None);
        let bad = Frame::Data {
            channel: RESIZE,
            data: b"{}",
        };
        assert_eq!(input_of(bad), None);
        let out = Frame::Data {
            channel: STDOUT,
            data: b"x",
        };
        assert_eq!(input_of(out), None);
    }
}
