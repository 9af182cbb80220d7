//! `skiff describe pod NAME` against a node agent.

use k8s_openapi::api::core::v1::Pod;
use skiff_proto::v1::GetPodRequest;

use super::require_pods;
use crate::args::Scope;
use crate::client::{agent, status_error};
use crate::output::describe::describe_pod;

pub async fn run(url: &str, kind: &str, name: &str, scope: &Scope) -> anyhow::Result<()> {
    require_pods(kind)?;
    let mut client = agent(url).await?;
    let req = GetPodRequest {
        namespace: scope.namespace.clone(),
        name: name.to_string(),
    };
    let obj = client
        .get_pod(req)
        .await
        .map_err(status_error)?
        .into_inner();
    let pod: Pod = serde_json::from_slice(&obj.json)?;
    print!("{}", describe_pod(&pod));
    Ok(())
}
