//! The node parts' errors and the gRPC codes they become (one place, as design.md §3
//! asks).

use tonic::Status;

use super::cidr::CidrError;
use crate::pki::PkiError;
use crate::store::{DecodeError, Key, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum NodesError {
    /// Deliberately says nothing about what was wrong with the token: a guesser learns
    /// nothing from the answer.
    #[error("invalid node token")]
    BadToken,
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("node {0:?} is not registered: register first")]
    NotRegistered(String),
    /// A node acting on a pod that is not bound to it.
    #[error("{pod} is not bound to node {node:?}")]
    NotBound { pod: Key, node: String },
    /// Two nodes with one InternalIP: peers would route both nodes' pods to one host.
    #[error("node {node:?} reports InternalIP {ip}, which node {other:?} already has: start each agent with its own --node-ip (the address other nodes reach it on)")]
    AddressTaken {
        node: String,
        other: String,
        ip: std::net::IpAddr,
    },
    #[error(transparent)]
    Cidr(#[from] CidrError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored object that does not decode as its kind: someone wrote garbage past the
    /// API's validation, or a bug here.
    #[error(transparent)]
    Corrupt(#[from] DecodeError),
    /// Compare-and-swap kept failing: the object is being written faster than we can
    /// read-modify-write it.
    #[error("{0} kept changing under us; giving up for now")]
    Contended(Key),
}

impl From<NodesError> for Status {
    fn from(err: NodesError) -> Status {
        let message = err.to_string();
        match err {
            NodesError::BadToken => Status::unauthenticated(message),
            NodesError::Invalid(_) => Status::invalid_argument(message),
            NodesError::NotRegistered(_) => Status::not_found(message),
            NodesError::NotBound { .. } => Status::permission_denied(message),
            NodesError::AddressTaken { .. } => Status::already_exists(message),
            NodesError::Cidr(CidrError::Exhausted { .. }) => Status::resource_exhausted(message),
            NodesError::Cidr(_) => Status::failed_precondition(message),
            NodesError::Pki(PkiError::Csr(_)) => Status::invalid_argument(message),
            NodesError::Pki(_) => Status::internal(message),
            NodesError::Store(store) => store_status(store),
            NodesError::Corrupt(_) => Status::internal(message),
            NodesError::Contended(_) => Status::aborted(message),
        }
    }
}

/// Store errors as gRPC codes. A compacted resume point is `OutOfRange` (Kubernetes'
/// 410 Gone): the caller relists and watches from the list's revision.
fn store_status(err: StoreError) -> Status {
    let message = err.to_string();
    match err {
        StoreError::NotFound(_) => Status::not_found(message),
        StoreError::AlreadyExists(_) => Status::already_exists(message),
        StoreError::Conflict { .. } => Status::aborted(message),
        StoreError::Compacted { .. } => Status::out_of_range(message),
        StoreError::Backend(_) => Status::unavailable(message),
    }
}
