//! Scale: the `scale` subresource's edit of a workload's `spec.replicas`, through the
//! write pipeline every update takes (`write.rs`). A conflict starts over from a fresh
//! read, unless the caller pinned a resourceVersion, which then must still be current.

use super::served::Object as WireObject;
use serde_json::Value;
use tracing::info;

use super::objects;
use super::write::edit;
use crate::core::{Clock, Error, Kind, Ranges};
use crate::store::Store;

/// Kinds `scale` accepts.
const SCALABLE: &[&str] = &["Deployment", "ReplicaSet", "StatefulSet"];

/// Sets `spec.replicas` of a Deployment, ReplicaSet or StatefulSet.
// The request's fields plus the write pipeline's clock and ranges, as the other verbs.
#[allow(clippy::too_many_arguments)]
pub async fn scale(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    kind: &str,
    namespace: &str,
    name: &str,
    replicas: i32,
    resource_version: &str,
) -> Result<WireObject, Error> {
    let kind = Kind::resolve(kind)?;
    if !SCALABLE.contains(&kind.name) {
        return Err(Error::Invalid(format!(
            "{} cannot be scaled (scalable kinds: {})",
            kind.name,
            SCALABLE.join(", ")
        )));
    }
    if replicas < 0 {
        return Err(Error::Invalid(format!(
            "spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
        )));
    }
    let precondition = objects::parse_revision(resource_version)?;
    let key = kind.key(namespace, name);
    let object = edit(store, clock, ranges, &key, precondition, |value, _| {
        if value.pointer("/spec/replicas").and_then(Value::as_i64) == Some(i64::from(replicas)) {
            return Ok(false);
        }
        value["spec"]["replicas"] = Value::from(replicas);
        Ok(true)
    })
    .await?;
    info!(object = %key, replicas, "scaled");
    Ok(object)
}
