//! `skiff get pods`

use k8s_openapi::api::core::v1::Pod;
use skiff_proto::v1::{GetPodRequest, ListPodsRequest};

use super::require_pods;
use crate::args::Scope;
use crate::client::{agent, status_error};
use crate::output::pods::{print_table, to_list};

pub async fn run(
    url: &str,
    kind: &str,
    name: Option<&str>,
    scope: &Scope,
    selector: Option<&str>,
    output: Option<&str>,
) -> anyhow::Result<()> {
    require_pods(kind)?;
    let mut client = agent(url).await?;
    let pods: Vec<Pod> = match name {
        Some(name) => {
            let req = GetPodRequest {
                namespace: scope.namespace.clone(),
                name: name.to_string(),
            };
            let obj = client
                .get_pod(req)
                .await
                .map_err(status_error)?
                .into_inner();
            vec![serde_json::from_slice(&obj.json)?]
        }
        None => {
            let req = ListPodsRequest {
                namespace: scope.namespace.clone(),
                all_namespaces: scope.all_namespaces,
                label_selector: selector.unwrap_or_default().to_string(),
            };
            let resp = client
                .list_pods(req)
                .await
                .map_err(status_error)?
                .into_inner();
            for warning in &resp.warnings {
                eprintln!("Warning: {warning}");
            }
            resp.items
                .iter()
                .map(|o| serde_json::from_slice(&o.json))
                .collect::<Result<_, _>>()?
        }
    };
    match output {
        Some("json") if name.is_some() => println!("{}", serde_json::to_string_pretty(&pods[0])?),
        Some("json") => println!("{}", serde_json::to_string_pretty(&to_list(&pods))?),
        Some("yaml") if name.is_some() => print!("{}", serde_yaml::to_string(&pods[0])?),
        Some("yaml") => print!("{}", serde_yaml::to_string(&to_list(&pods))?),
        Some("name") => pods
            .iter()
            .for_each(|p| println!("pod/{}", p.metadata.name.as_deref().unwrap_or(""))),
        _ => {
            if pods.is_empty() {
                match scope.all_namespaces {
                    true => eprintln!("No resources found"),
                    false => eprintln!("No resources found in {} namespace.", scope.namespace),
                }
                return Ok(());
            }
            print_table(&pods, output == Some("wide"), scope.all_namespaces);
        }
    }
    Ok(())
}
