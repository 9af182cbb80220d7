//! The pod network's errors, worded so a pod status can show them as they are.

use std::io;

use ipnet::Ipv4Net;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("no free IP addresses in {cidr}")]
    Exhausted { cidr: Ipv4Net },
    #[error("pod CIDR {cidr} overlaps {with}")]
    Overlap { cidr: Ipv4Net, with: String },
    #[error("invalid pod CIDR {cidr}: {reason}")]
    InvalidCidr { cidr: Ipv4Net, reason: String },
    #[error("invalid network config: {0}")]
    InvalidConfig(String),
    #[error("invalid pod uid {0:?}")]
    InvalidUid(String),
    #[error("netlink: {0}")]
    Netlink(String),
    #[error("nftables: {0}")]
    Nft(String),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

/// Wraps an `io::Error` with what was being done, for `map_err`.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> NetworkError {
    let context = context.into();
    move |source| NetworkError::Io { context, source }
}
