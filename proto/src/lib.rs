//! skiff's wire and object model.
//!
//! `v1` is the generated gRPC code (tonic); `model` turns manifests into k8s-openapi
//! objects the way the Kubernetes API server would: strict decoding, validation, defaulting;
//! `patch` applies the API's three patch types as kube-apiserver does.

pub mod apply;
pub mod auth;
pub mod cron;
pub mod kinds;
pub mod last_applied;
pub mod model;
pub mod patch;
pub mod printers;
pub mod protobuf;
pub mod selector;
pub mod storage;

/// Generated from `proto/skiff/v1/*.proto`.
pub mod v1 {
    tonic::include_proto!("skiff.v1");
}

pub use tonic;
