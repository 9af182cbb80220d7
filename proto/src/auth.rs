//! Who is calling, and may they: the identities skiff's certificates carry and the checks
//! every gRPC method makes, shared by the control plane and the agent.
//!
//! Everything is TLS and every identity is a client certificate issued by the cluster CA
//! (made by the control plane on first start, see `skiff-control-plane`'s `pki` module).
//! The server verifies the certificate during the handshake, so by the time a request
//! arrives [`tonic::Request::peer_certs`] holds a chain the CA signed, and only its
//! subject is left to read:
//!
//! | subject                                   | caller                    |
//! |-------------------------------------------|---------------------------|
//! | O `system:masters` (CN `admin`)           | [`Caller::Admin`]         |
//! | CN `system:node:<name>`, O `system:nodes` | [`Caller::Node`]          |
//! | CN `skiff-control-plane`                  | [`Caller::ControlPlane`]  |
//! | any other CN (O: its groups)              | [`Caller::User`]          |
//! | no certificate                            | [`Caller::Anonymous`]     |
//! | no CN, or an unreadable subject           | [`Caller::Unknown`]       |
//!
//! The names follow Kubernetes (`system:masters`, `system:node:<name>`), so they read the
//! same to anyone who has looked at a kubeconfig.
//!
//! No certificate means [`Caller::Anonymous`], and the `require_*` checks answer it with
//! `Unauthenticated`; a certificate for the wrong identity gets `PermissionDenied`. A
//! server that is not TLS at all (the agent's unix socket in standalone mode) has no peer
//! certificates either, so it must not rely on these checks: file permissions guard it.

mod bootstrap;
mod config;
mod kubeconfig;
mod subject;
mod token;

use std::fmt;

use tonic::{Request, Status};

pub use bootstrap::{fetch_ca_pinned, fetch_ca_pinned_by};
pub use config::{
    config_path, endpoint, node_channel, node_server_tls, AdminConfig, CONFIG_ENV,
    CONTROL_PLANE_ADMIN_CONF, KUBECONFIG_ENV,
};
pub use kubeconfig::NAME as KUBECONFIG_NAME;
pub use subject::{parse_subject, Subject};
pub use token::{constant_time_eq, NodeToken, ServerToken};

/// Organization that makes a certificate a cluster administrator (as in Kubernetes).
pub const ADMIN_GROUP: &str = "system:masters";
/// Organization of every node's certificate.
pub const NODES_GROUP: &str = "system:nodes";
/// Prefix of a node certificate's common name; the node name follows it.
pub const NODE_CN_PREFIX: &str = "system:node:";
/// Common name of the certificate the control plane presents when it calls an agent.
pub const CONTROL_PLANE_CN: &str = "skiff-control-plane";
/// Common name of the certificate in `admin.conf`.
pub const ADMIN_CN: &str = "admin";

/// Errors of loading credentials and building TLS channels.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("reading {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a skiff admin config: {source}")]
    Yaml {
        path: std::path::PathBuf,
        source: serde_yaml::Error,
    },
    #[error("{path}: {reason}")]
    Kubeconfig {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("no skiff config found (looked at {searched}); pass --config or set $SKIFF_CONFIG or $KUBECONFIG")]
    NoConfig { searched: String },
    #[error("server URL {url:?}: {reason}")]
    ServerUrl { url: String, reason: String },
    #[error("invalid node token: {0}")]
    Token(String),
    #[error("fetching the CA from {server}: {reason}")]
    Bootstrap { server: String, reason: String },
    #[error("{server} presented {presented} certificate(s) and none is the CA the node token names: another cluster, or someone in between")]
    CaNotPinned { server: String, presented: usize },
    #[error(transparent)]
    Transport(#[from] tonic::transport::Error),
}

/// The identity behind a request, read from its verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A cluster administrator (the CLI with `admin.conf`).
    Admin,
    /// The agent of the named node.
    Node(String),
    /// The control plane, calling an agent.
    ControlPlane,
    /// A user certificate (`skiff-control-plane kubeconfig --user`): CN the user's name,
    /// each O a group, as kube-apiserver reads client certificates. What it may do is
    /// up to RBAC on the REST API; the gRPC services refuse it.
    User { name: String, groups: Vec<String> },
    /// No client certificate (or no TLS at all).
    Anonymous,
    /// A CA-signed certificate whose subject names none of the above; holds its common
    /// name for the error message.
    Unknown(String),
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Admin => f.write_str("admin"),
            Caller::Node(name) => write!(f, "node {name:?}"),
            Caller::ControlPlane => f.write_str("the control plane"),
            Caller::User { name, .. } => write!(f, "user {name:?}"),
            Caller::Anonymous => f.write_str("an anonymous caller"),
            Caller::Unknown(cn) => write!(f, "unknown identity {cn:?}"),
        }
    }
}

impl Caller {
    /// Classifies a DER certificate by its subject (see the table in the module docs).
    ///
    /// Only meaningful for a certificate the TLS layer has already verified against the
    /// cluster CA; the subject of an unverified certificate proves nothing.
    pub fn from_certificate(der: &[u8]) -> Caller {
        let Some(subject) = parse_subject(der) else {
            return Caller::Unknown("<unreadable subject>".to_string());
        };
        let in_group = |group: &str| subject.organizations.iter().any(|o| o == group);
        let cn = subject.common_name.unwrap_or_default();
        if in_group(ADMIN_GROUP) {
            return Caller::Admin;
        }
        if cn == CONTROL_PLANE_CN {
            return Caller::ControlPlane;
        }
        match cn.strip_prefix(NODE_CN_PREFIX) {
            Some(node) if !node.is_empty() && in_group(NODES_GROUP) => {
                Caller::Node(node.to_string())
            }
            _ if cn.is_empty() => Caller::Unknown(cn),
            _ => Caller::User {
                name: cn,
                groups: subject.organizations,
            },
        }
    }
}

/// Picks rustls' ring provider for the whole process. Building the workspace can enable
/// both of rustls' providers (ring through tonic, aws-lc-rs through reqwest), and then
/// rustls refuses to choose one by itself; every TLS config builder calls this first.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider was installed first, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The caller of `req`, from the first (leaf) certificate the client presented.
pub fn caller_of<T>(req: &Request<T>) -> Caller {
    match req.peer_certs() {
        Some(chain) => match chain.first() {
            Some(leaf) => Caller::from_certificate(leaf),
            None => Caller::Anonymous,
        },
        None => Caller::Anonymous,
    }
}

/// `Unauthenticated` for no certificate, `PermissionDenied` for the wrong one.
fn refuse(caller: &Caller, wanted: &str) -> Status {
    match caller {
        Caller::Anonymous => {
            Status::unauthenticated(format!("a client certificate is required ({wanted} only)"))
        }
        other => Status::permission_denied(format!("{other} may not do this: {wanted} only")),
    }
}

/// Lets only cluster administrators through.
pub fn require_admin<T>(req: &Request<T>) -> Result<(), Status> {
    match caller_of(req) {
        Caller::Admin => Ok(()),
        other => Err(refuse(&other, "admin")),
    }
}

/// Lets only the agent of node `name` through: a node acts for itself, never for another.
pub fn require_node<T>(req: &Request<T>, name: &str) -> Result<(), Status> {
    match caller_of(req) {
        Caller::Node(node) if node == name => Ok(()),
        other => Err(refuse(&other, &format!("node {name:?}"))),
    }
}

/// Lets any node's agent through and says which node it is, for methods whose node is
/// the caller itself rather than a field of the request.
pub fn require_any_node<T>(req: &Request<T>) -> Result<String, Status> {
    match caller_of(req) {
        Caller::Node(node) => Ok(node),
        other => Err(refuse(&other, "nodes")),
    }
}

/// Lets only the control plane through (the agent's API on the node IP).
pub fn require_control_plane<T>(req: &Request<T>) -> Result<(), Status> {
    match caller_of(req) {
        Caller::ControlPlane => Ok(()),
        other => Err(refuse(&other, "the control plane")),
    }
}
