//! `delete KIND NAME` and `logs` against the control plane.

use futures::AsyncBufReadExt;
use std::io::Write;

use super::Api;
use crate::args::Scope;
use crate::kinds;
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
    api.delete(&kind, &scope.namespace, name, Some(propagation), None)
        .await?;
    println!("{} deleted", quoted(kind.kind, name));
    Ok(())
}

/// `pods/log`, copied to stdout as it arrives (`-f` shows lines live).
pub async fn logs(
    api: &mut Api,
    pod: &str,
    flags: &crate::args::LogFlags,
    scope: &Scope,
) -> anyhow::Result<()> {
    let params = logs::params(flags)?;
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(api.client(), &scope.namespace);
    let mut stream = pods
        .log_stream(pod, &params)
        .await
        .map_err(|e| api.error(e))?;
    let mut out = std::io::stdout().lock();
    loop {
        let chunk = stream.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(());
        }
        out.write_all(chunk)?;
        out.flush()?;
        let n = chunk.len();
        stream.consume_unpin(n);
    }
}
