//! `delete KIND NAME`, `label` and `logs` against the control plane.
use skiff_proto::v1::{DeleteRequest, LabelRequest};

use super::Api;
use crate::args::Scope;
use crate::client::status_error;
use crate::kinds::{self, ref_name};
use crate::logs;

/// `pod "x"`, as kubectl names a deleted object.
pub fn quoted(kind: &str, name: &str) -> String {
    let resource =
        kinds::from_manifest_kind(kind).map_or(kind.to_ascii_lowercase(), |k| k.resource());
    format!("{resource} \"{name}\"")
}

pub async fn delete(
    api: &mut Api,
    kind: &str,
    name: &str,
    scope: &Scope,
    propagation: &str,
) -> anyhow::Result<()> {
    let kind = kinds::resolve(kind)?;
    let req = DeleteRequest {
        kind: kind.kind.into(),
        namespace: scope.namespace.clone(),
        name: name.into(),
        propagation: propagation.into(),
    };
    api.delete(req).await.map_err(status_error)?;
    println!("{} deleted", quoted(kind.kind, name));
    Ok(())
}

pub async fn label(
    api: &mut Api,
    kind: &str,
    name: &str,
    labels: &[String],
    overwrite: bool,
    scope: &Scope,
) -> anyhow::Result<()> {
    let kind = kinds::resolve(kind)?;
    if labels.is_empty() {
        anyhow::bail!("at least one label update is required (key=value or key-)");
    }
    let req = LabelRequest {
        kind: kind.kind.into(),
        namespace: scope.namespace.clone(),
        name: name.into(),
        labels: labels.to_vec(),
        overwrite,
    };
    api.label(req).await.map_err(status_error)?;
    println!("{} labeled", ref_name(kind.kind, name));
    Ok(())
}

pub async fn logs(
    api: &mut Api,
    pod: &str,
    flags: &crate::args::LogFlags,
    scope: &Scope,
) -> anyhow::Result<()> {
    let req = logs::request(pod, flags, scope)?;
    let stream = api.logs(req).await.map_err(log_error)?.into_inner();
    logs::print(stream, log_error).await
}

fn log_error(status: tonic::Status) -> anyhow::Error {
    match status.code() {
        tonic::Code::Unimplemented => anyhow::anyhow!(
            "the control plane cannot serve logs yet: {}",
            status.message()
        ),
        _ => status_error(status),
    }
}
