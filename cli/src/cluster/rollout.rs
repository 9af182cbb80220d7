//! `rollout status|history|undo|pause|resume deploy/NAME`, printed as kubectl prints them.

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Context};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;
use skiff_proto::v1::{
    GetRequest, RolloutHistoryRequest, RolloutPauseRequest, RolloutRevision, RolloutUndoRequest,
    WatchRequest,
};
use tokio_stream::StreamExt;

use super::{decode, Api};
use crate::args::Scope;
use crate::client::status_error;
use crate::kinds::ref_name;
use crate::output::describe::pod_template;
use crate::output::pods::align;

pub struct Options {
    pub to_revision: i64,
    pub revision: i64,
    pub watch: bool,
    pub timeout: String,
}

pub async fn run(
    api: &mut Api,
    action: &str,
    target: &str,
    name: Option<&str>,
    options: &Options,
    scope: &Scope,
) -> anyhow::Result<()> {
    let (kind, name) = super::workloads::target(target, name)?;
    // DaemonSets have a rollout status but no revisions here (no ControllerRevisions).
    let status_only = kind.kind == "DaemonSet" && action == "status";
    if kind.kind != "Deployment" && !status_only {
        bail!(
            "rollout supports deployments, and daemon sets for status (got {} {action})",
            kind.kind
        );
    }
    let reference = ref_name(kind.kind, &name);
    let namespace = scope.namespace.clone();
    match action {
        "status" => status(api, kind.kind, &namespace, &name, options).await,
        "history" => {
            let req = RolloutHistoryRequest {
                namespace,
                name,
                revision: options.revision,
            };
            let revisions = reply(api.rollout_history(req)).await?.revisions;
            print_history(&reference, options.revision, &revisions)
        }
        "undo" => {
            let req = RolloutUndoRequest {
                namespace,
                name,
                to_revision: options.to_revision,
            };
            let undone = reply(api.rollout_undo(req)).await?;
            if undone.skipped {
                println!(
                    "{reference} skipped rollback (current template already matches revision {})",
                    undone.revision
                );
            } else {
                println!("{reference} rolled back");
            }
            Ok(())
        }
        "pause" | "resume" => {
            let paused = action == "pause";
            let req = RolloutPauseRequest {
                namespace,
                name,
                paused,
            };
            reply(api.rollout_pause(req)).await?;
            println!("{reference} {}", if paused { "paused" } else { "resumed" });
            Ok(())
        }
        other => {
            bail!("unknown rollout action {other:?}: use status, history, undo, pause or resume")
        }
    }
}

/// The reply of one call to the control plane, its refusal as the CLI's error.
async fn reply<T>(
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> anyhow::Result<T> {
    Ok(call.await.map_err(status_error)?.into_inner())
}

/// `rollout history`: the table of revisions, or one revision's template when asked for.
fn print_history(reference: &str, asked: i64, revisions: &[RolloutRevision]) -> anyhow::Result<()> {
    if asked != 0 {
        let Some(revision) = revisions.first() else {
            bail!("unable to find revision {asked} of {reference}");
        };
        let template: PodTemplateSpec =
            serde_json::from_slice(&revision.template_json).unwrap_or_default();
        println!("{reference} with revision #{}", revision.revision);
        print!("{}", pod_template(&template));
        return Ok(());
    }
    println!("{reference} ");
    let mut rows = vec![vec!["REVISION".to_string(), "CHANGE-CAUSE".to_string()]];
    rows.extend(revisions.iter().map(|r| {
        let cause = if r.change_cause.is_empty() {
            "<none>".to_string()
        } else {
            r.change_cause.clone()
        };
        vec![r.revision.to_string(), cause]
    }));
    println!("{}", align(&rows));
    Ok(())
}

/// What kubectl's status viewer says of a Deployment: the message, and whether the
/// rollout is done. A rollout past its progress deadline is an error.
pub fn status_message(d: &Value) -> anyhow::Result<(String, bool)> {
    let name = d
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let n = |ptr: &str| d.pointer(ptr).and_then(Value::as_i64).unwrap_or(0);
    let generation = n("/metadata/generation");
    if generation > n("/status/observedGeneration") {
        return Ok((
            "Waiting for deployment spec update to be observed...".into(),
            false,
        ));
    }
    let deadline_exceeded = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded");
    if deadline_exceeded {
        bail!("deployment {name:?} exceeded its progress deadline");
    }
    let desired = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let updated = n("/status/updatedReplicas");
    let total = n("/status/replicas");
    let available = n("/status/availableReplicas");
    let waiting = |what: String| {
        (
            format!("Waiting for deployment {name:?} rollout to finish: {what}..."),
            false,
        )
    };
    Ok(if updated < desired {
        waiting(format!(
            "{updated} out of {desired} new replicas have been updated"
        ))
    } else if total > updated {
        waiting(format!(
            "{} old replicas are pending termination",
            total - updated
        ))
    } else if available < updated {
        waiting(format!(
            "{available} of {updated} updated replicas are available"
        ))
    } else {
        (format!("deployment {name:?} successfully rolled out"), true)
    })
}

/// The status viewer of `kind`: kubectl's messages for it.
fn kind_status(kind: &str, object: &Value) -> anyhow::Result<(String, bool)> {
    match kind {
        "DaemonSet" => crate::output::daemonsets::rollout_status(object),
        _ => status_message(object),
    }
}

async fn status(
    api: &mut Api,
    kind: &str,
    namespace: &str,
    name: &str,
    options: &Options,
) -> anyhow::Result<()> {
    let timeout = parse_timeout(&options.timeout)?;
    let work = async {
        let req = GetRequest {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        };
        let object = reply(api.get(req)).await?;
        let (message, done) = kind_status(kind, &decode(&object)?)?;
        println!("{message}");
        if done || !options.watch {
            return Ok(());
        }
        let req = WatchRequest {
            kind: kind.into(),
            namespace: namespace.into(),
            resource_version: object.resource_version.clone(),
            ..Default::default()
        };
        let mut events = reply(api.watch(req)).await?;
        let mut last = message;
        while let Some(event) = events.next().await {
            let event = event.map_err(status_error)?;
            let Some(object) = event.object.filter(|o| o.name == name) else {
                continue;
            };
            if event.r#type == "DELETED" {
                bail!("{} {name:?} was deleted", kind.to_lowercase());
            }
            let (message, done) = kind_status(kind, &decode(&object)?)?;
            if message != last {
                println!("{message}");
                last = message;
            }
            if done {
                return Ok(());
            }
        }
        bail!(
            "the watch of {} {name:?} ended before the rollout finished",
            kind.to_lowercase()
        )
    };
    match timeout {
        Some(limit) => tokio::time::timeout(limit, work).await.with_context(|| {
            format!(
                "timed out waiting for the rollout of {} {name:?}",
                kind.to_lowercase()
            )
        })?,
        None => work.await,
    }
}

fn parse_timeout(text: &str) -> anyhow::Result<Option<Duration>> {
    let signed: jiff::SignedDuration = text
        .parse()
        .with_context(|| format!("--timeout {text:?} is not a duration like 90s or 5m"))?;
    let duration =
        Duration::try_from(signed).with_context(|| format!("--timeout {text:?} is negative"))?;
    Ok(Some(duration).filter(|d| !d.is_zero()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(
        generation: i64,
        observed: i64,
        updated: i64,
        total: i64,
        available: i64,
    ) -> Value {
        json!({
            "metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": 3},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total, "availableReplicas": available},
        })
    }

    #[test]
    fn status_reads_as_kubectl() {
        let msg = |d| status_message(&d).unwrap().0;
        assert_eq!(
            msg(deployment(2, 1, 3, 3, 3)),
            "Waiting for deployment spec update to be observed..."
        );
        assert_eq!(
            msg(deployment(2, 2, 1, 4, 3)),
            "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated..."
        );
        assert_eq!(
            msg(deployment(2, 2, 3, 4, 3)),
            "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination..."
        );
        assert_eq!(
            msg(deployment(2, 2, 3, 3, 2)),
            "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available..."
        );
        assert_eq!(
            status_message(&deployment(2, 2, 3, 3, 3)).unwrap(),
            ("deployment \"web\" successfully rolled out".into(), true)
        );
        let mut stuck = deployment(2, 2, 1, 4, 3);
        stuck["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
        assert!(status_message(&stuck)
            .unwrap_err()
            .to_string()
            .contains("exceeded its progress deadline"));
    }
}
