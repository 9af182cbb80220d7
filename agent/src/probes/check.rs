//! One probe attempt, as the kubelet makes it: exec in the container, or httpGet,
//! tcpSocket and grpc from the node to the pod's IP.

use std::net::IpAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{ContainerPort, ExecAction, GRPCAction, Probe, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::state::Timing;
use crate::containerd::container::{ContainerRuntime, ExecOutput};

/// What the kubelet of the Kubernetes version skiff follows sends.
pub const USER_AGENT: &str = "kube-probe/1.33";

/// The result of one attempt. `Error` means the probe could not be run at all (unknown
/// port name, runtime unreachable): like the kubelet, it is not counted either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// Passed; the output (exec), body (httpGet) or a note.
    Success(String),
    /// Passed with a remark, e.g. an httpGet that stopped at a redirect to another host.
    Warning(String),
    Failure(String),
    Error(String),
}

impl ProbeOutcome {
    pub fn passed(&self) -> bool {
        matches!(self, Self::Success(_) | Self::Warning(_))
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Success(m) | Self::Warning(m) | Self::Failure(m) | Self::Error(m) => m,
        }
    }
}

/// Where a probe goes: the container (exec) and the pod's address and declared ports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeTarget {
    pub container_id: String,
    pub pod_ip: Option<IpAddr>,
    pub ports: Vec<ContainerPort>,
}

/// Runs a command in a container; the real one is containerd, tests use fakes.
pub trait ExecRunner: Send + Sync {
    fn exec<'a>(
        &'a self,
        container_id: &'a str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutput, String>>;
}

impl ExecRunner for ContainerRuntime {
    fn exec<'a>(
        &'a self,
        container_id: &'a str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutput, String>> {
        Box::pin(async move {
            ContainerRuntime::exec(self, container_id, cmd, timeout)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// Runs `probe` once against `target`.
pub async fn check(probe: &Probe, target: &ProbeTarget, exec: &dyn ExecRunner) -> ProbeOutcome {
    let timeout = Timing::of(probe).timeout;
    if let Some(action) = &probe.exec {
        check_exec(action, target, exec, timeout).await
    } else if let Some(action) = &probe.http_get {
        super::http::check_http(action, target, timeout).await
    } else if let Some(action) = &probe.tcp_socket {
        check_tcp(action, target, timeout).await
    } else if let Some(action) = &probe.grpc {
        check_grpc(action, target, timeout).await
    } else {
        ProbeOutcome::Error("probe has no handler".into())
    }
}

async fn check_exec(
    action: &ExecAction,
    target: &ProbeTarget,
    exec: &dyn ExecRunner,
    timeout: Duration,
) -> ProbeOutcome {
    let cmd = action.command.clone().unwrap_or_default();
    if cmd.is_empty() {
        return ProbeOutcome::Error("exec probe has no command".into());
    }
    match exec.exec(&target.container_id, cmd, timeout).await {
        Ok(out) if out.timed_out => {
            ProbeOutcome::Failure(format!("command timed out after {}s", timeout.as_secs()))
        }
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.output).into_owned();
            if out.exit_code == 0 {
                ProbeOutcome::Success(text)
            } else {
                ProbeOutcome::Failure(text)
            }
        }
        Err(e) => ProbeOutcome::Error(e),
    }
}

async fn check_tcp(
    action: &TCPSocketAction,
    target: &ProbeTarget,
    timeout: Duration,
) -> ProbeOutcome {
    let port = match resolve_port(&action.port, &target.ports) {
        Ok(port) => port,
        Err(e) => return ProbeOutcome::Error(e),
    };
    let host = match host_or_pod_ip(action.host.as_deref(), target) {
        Ok(host) => host,
        Err(e) => return ProbeOutcome::Error(e),
    };
    let addr = join_host_port(&host, port);
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(_stream)) => ProbeOutcome::Success(String::new()),
        Ok(Err(e)) => ProbeOutcome::Failure(format!("dial tcp {addr}: {e}")),
        Err(_) => ProbeOutcome::Failure(format!("dial tcp {addr}: i/o timeout")),
    }
}

async fn check_grpc(action: &GRPCAction, target: &ProbeTarget, timeout: Duration) -> ProbeOutcome {
    let Some(ip) = target.pod_ip else {
        return ProbeOutcome::Error("pod has no IP yet".into());
    };
    let Ok(port) = u16::try_from(action.port) else {
        return ProbeOutcome::Error(format!("invalid port number: {}", action.port));
    };
    let addr = join_host_port(&ip.to_string(), port);
    let endpoint = match tonic::transport::Endpoint::from_shared(format!("http://{addr}")) {
        Ok(e) => e.connect_timeout(timeout).timeout(timeout),
        Err(e) => return ProbeOutcome::Error(e.to_string()),
    };
    let endpoint = endpoint
        .user_agent(USER_AGENT)
        .expect("static user agent is a valid header");
    let service = action.service.clone().unwrap_or_default();
    let call = async {
        let channel = match endpoint.connect().await {
            Ok(c) => c,
            Err(e) => {
                return ProbeOutcome::Failure(format!(
                    "error: failed to connect service at {addr:?}: {e}"
                ))
            }
        };
        let req = HealthCheckRequest { service };
        match HealthClient::new(channel).check(req).await {
            Ok(resp) => match resp.into_inner().status() {
                ServingStatus::Serving => ProbeOutcome::Success("service is serving".into()),
                other => ProbeOutcome::Failure(format!(
                    "service unhealthy (responded with {:?})",
                    other.as_str_name()
                )),
            },
            Err(s) if s.code() == tonic::Code::Unimplemented => ProbeOutcome::Failure(format!(
                "error: this server does not implement the grpc health protocol \
                 (grpc.health.v1.Health): {}",
                s.message()
            )),
            Err(s)
                if s.code() == tonic::Code::Cancelled
                    || s.code() == tonic::Code::DeadlineExceeded =>
            {
                ProbeOutcome::Failure(format!(
                    "timeout: health rpc did not complete within {timeout:?}"
                ))
            }
            Err(s) => ProbeOutcome::Failure(format!("error: health rpc probe failed: {s}")),
        }
    };
    match tokio::time::timeout(timeout, call).await {
        Ok(outcome) => outcome,
        Err(_) => ProbeOutcome::Failure(format!(
            "timeout: failed to connect service {addr:?} within {timeout:?}"
        )),
    }
}

/// A probe's port: a number, or the name of one of the container's declared ports (or,
/// as the kubelet's last resort, a number written as a string).
pub fn resolve_port(port: &IntOrString, ports: &[ContainerPort]) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => match ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
        {
            Some(p) => p.container_port,
            None => name
                .parse()
                .map_err(|_| format!("port {name:?} not found in the container's ports"))?,
        },
    };
    u16::try_from(number)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid port number: {number}"))
}

/// The probe's `host`, defaulting to the pod IP.
pub(super) fn host_or_pod_ip(host: Option<&str>, target: &ProbeTarget) -> Result<String, String> {
    match host.filter(|h| !h.is_empty()) {
        Some(h) => Ok(h.to_string()),
        None => target
            .pod_ip
            .map(|ip| ip.to_string())
            .ok_or_else(|| "pod has no IP yet".to_string()),
    }
}

/// `host:port`, with IPv6 literals in brackets.
pub(super) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests;
