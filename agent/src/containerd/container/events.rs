//! Task exits from containerd's event stream, delivered to the pod workers.
//!
//! The subscription survives containerd restarts: it reconnects with backoff forever, and
//! because exits can be missed while disconnected, every reconnect is announced with
//! [`ExitMessage::Resync`] so the workers re-read task state instead of trusting events.

use std::time::{Duration, SystemTime};

use containerd_client::events::TaskExit;
use containerd_client::services::v1::SubscribeRequest;
use containerd_client::types::Envelope;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tracing::{debug, info, warn};

use super::lifecycle::ContainerRuntime;
use super::state::system_time;

const EXIT_TOPIC: &str = "/tasks/exit";
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const CHANNEL_SIZE: usize = 256;

/// The main process of a container exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitEvent {
    pub container_id: String,
    pub pid: u32,
    pub exit_status: u32,
    pub exited_at: Option<SystemTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitMessage {
    Exit(ExitEvent),
    /// The stream was re-established after a gap; exits may have been missed, so every
    /// consumer must re-check the state of its containers.
    Resync,
}

impl ContainerRuntime {
    /// Starts following task exits in our namespace, on a task of the current Tokio
    /// runtime. Subscribe before listing containers, so no exit falls in between. The
    /// feed ends when the receiver is dropped. Exits of exec'd processes are not reported.
    pub fn subscribe_exits(&self) -> mpsc::Receiver<ExitMessage> {
        let (tx, rx) = mpsc::channel(CHANNEL_SIZE);
        let runtime = self.clone();
        tokio::spawn(async move { runtime.follow_exits(tx).await });
        rx
    }

    async fn follow_exits(self, tx: mpsc::Sender<ExitMessage>) {
        let resync = || ExitMessage::Resync;
        self.follow_topic(
            EXIT_TOPIC,
            tx,
            |e, ns| decode_exit(e, ns).map(ExitMessage::Exit),
            Some(resync),
        )
        .await
    }

    /// Follows one event topic of our namespace until `tx` is dropped, reconnecting with
    /// backoff forever (containerd may restart). Events in a gap are lost, so after one
    /// `resync` (when given) is sent first and consumers re-read what they hold.
    pub(super) async fn follow_topic<T: Send + 'static>(
        self,
        topic: &'static str,
        tx: mpsc::Sender<T>,
        decode: impl Fn(&Envelope, &str) -> Option<T> + Send,
        resync: Option<fn() -> T>,
    ) {
        let c = self.client();
        let namespace = c.namespace().to_string();
        let filter = format!("topic==\"{topic}\",namespace==\"{namespace}\"");
        let mut backoff = BACKOFF_MIN;
        let mut gap = false;
        loop {
            let req = SubscribeRequest {
                filters: vec![filter.clone()],
            };
            match c.events().subscribe(c.request(req)).await {
                Ok(resp) => {
                    debug!(namespace = %namespace, topic, "subscribed to events");
                    if let (true, Some(resync)) = (gap, resync) {
                        info!(namespace = %namespace, topic, "event stream back, resyncing");
                        if tx.send(resync()).await.is_err() {
                            return;
                        }
                    }
                    backoff = BACKOFF_MIN;
                    let mut stream = resp.into_inner();
                    loop {
                        tokio::select! {
                            _ = tx.closed() => return,
                            item = stream.next() => match item {
                                Some(Ok(envelope)) => {
                                    let Some(message) = decode(&envelope, &namespace) else {
                                        continue;
                                    };
                                    if tx.send(message).await.is_err() {
                                        return;
                                    }
                                }
                                Some(Err(status)) => {
                                    warn!(error = %status, topic, "event stream failed");
                                    break;
                                }
                                None => {
                                    warn!(topic, "event stream ended");
                                    break;
                                }
                            },
                        }
                    }
                }
                Err(status) => {
                    debug!(error = %status, topic, backoff_ms = backoff.as_millis() as u64, "subscribe failed");
                }
            }
            gap = true;
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

/// The exit carried by `envelope`, if it is an init-process exit in `namespace`.
fn decode_exit(envelope: &Envelope, namespace: &str) -> Option<ExitEvent> {
    if envelope.namespace != namespace || envelope.topic != EXIT_TOPIC {
        return None;
    }
    let any = envelope.event.as_ref()?;
    let exit = match TaskExit::decode(any.value.as_slice()) {
        Ok(exit) => exit,
        Err(e) => {
            warn!(type_url = %any.type_url, error = %e, "undecodable task exit");
            return None;
        }
    };
    // Exec'd processes carry their own id; the init process carries the container's.
    if !exit.id.is_empty() && exit.id != exit.container_id {
        return None;
    }
    Some(ExitEvent {
        exited_at: exit.exited_at.as_ref().and_then(system_time),
        container_id: exit.container_id,
        pid: exit.pid,
        exit_status: exit.exit_status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(ns: &str, topic: &str, exit: &TaskExit) -> Envelope {
        Envelope {
            timestamp: None,
            namespace: ns.into(),
            topic: topic.into(),
            event: Some(prost_types::Any {
                type_url: "containerd.events.TaskExit".into(),
                value: exit.encode_to_vec(),
            }),
        }
    }

    fn exit(id: &str) -> TaskExit {
        TaskExit {
            container_id: "c1".into(),
            id: id.into(),
            pid: 42,
            exit_status: 143,
            exited_at: Some(prost_types::Timestamp {
                seconds: 100,
                nanos: 5,
            }),
        }
    }

    #[test]
    fn decodes_init_exits_in_our_namespace_only() {
        let got = decode_exit(&envelope("skiff", EXIT_TOPIC, &exit("c1")), "skiff").unwrap();
        assert_eq!(
            got,
            ExitEvent {
                container_id: "c1".into(),
                pid: 42,
                exit_status: 143,
                exited_at: Some(SystemTime::UNIX_EPOCH + Duration::new(100, 5)),
            }
        );
        assert!(decode_exit(&envelope("other", EXIT_TOPIC, &exit("c1")), "skiff").is_none());
        assert!(decode_exit(&envelope("skiff", "/tasks/start", &exit("c1")), "skiff").is_none());
        assert!(decode_exit(&envelope("skiff", EXIT_TOPIC, &exit("exec-1")), "skiff").is_none());
    }
}
