//! `rollout status|history|undo|pause|resume|restart deploy/NAME`, done on the client
//! side and printed as kubectl does: history and undo from the Deployment's ReplicaSets
//! (`rollout_history.rs`), pause/resume as `spec.paused`, restart as the pod template's
//! `kubectl.kubernetes.io/restartedAt` annotation, status from a watch of the object.

use std::time::Duration;

use anyhow::{bail, Context};
use futures::{StreamExt, TryStreamExt};
use kube::api::{WatchEvent, WatchParams};
use serde_json::Value;

use super::rollout_history::{self, Revision};
use super::Api;
use crate::args::Scope;
use crate::kinds::{ref_name, Kind};
use crate::output::describe::pod_template;
use crate::output::pods::align;

/// The annotation `rollout restart` sets on the pod template.
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

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
    let namespace = scope.namespace.as_str();
    match action {
        "status" => status(api, &kind, namespace, &name, options).await,
        "history" => {
            let revisions = revisions(api, &kind, namespace, &name).await?.1;
            print_history(&reference, &name, options.revision, &revisions)
        }
        "undo" => {
            let (deployment, revisions) = revisions(api, &kind, namespace, &name).await?;
            let target =
                rollout_history::undo_target(&deployment, &revisions, options.to_revision)?;
            let written = api
                .edit(&kind, namespace, &name, |object| {
                    rollout_history::roll_back(object, target)
                })
                .await?;
            match written {
                Some(_) => println!("{reference} rolled back"),
                None => println!(
                    "{reference} skipped rollback (current template already matches revision {})",
                    target.number
                ),
            }
            Ok(())
        }
        "pause" | "resume" => {
            let paused = action == "pause";
            api.edit(&kind, namespace, &name, |object| {
                let now = object.pointer("/spec/paused") == Some(&Value::Bool(true));
                match (now, paused) {
                    (true, true) => bail!("deployments.apps {name:?} is already paused"),
                    (false, false) => bail!("deployments.apps {name:?} is not paused"),
                    (_, true) => object["spec"]["paused"] = Value::Bool(true),
                    (_, false) => {
                        if let Some(spec) = object["spec"].as_object_mut() {
                            spec.remove("paused");
                        }
                    }
                }
                Ok(true)
            })
            .await?;
            println!("{reference} {}", if paused { "paused" } else { "resumed" });
            Ok(())
        }
        "restart" => {
            let now = jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .unwrap_or_default()
                .to_string();
            api.edit(&kind, namespace, &name, |object| {
                if object.pointer("/spec/paused") == Some(&Value::Bool(true)) {
                    bail!("can't restart paused deployment (run rollout resume first)");
                }
                let template = &mut object["spec"]["template"];
                if !template.get("metadata").is_some_and(Value::is_object) {
                    template["metadata"] = Value::Object(Default::default());
                }
                let metadata = &mut template["metadata"];
                if !metadata.get("annotations").is_some_and(Value::is_object) {
                    metadata["annotations"] = Value::Object(Default::default());
                }
                metadata["annotations"][RESTARTED_AT] = Value::String(now.clone());
                Ok(true)
            })
            .await?;
            println!("{reference} restarted");
            Ok(())
        }
        other => {
            bail!("unknown rollout action {other:?}: use status, history, undo, pause, resume or restart")
        }
    }
}

/// The Deployment and its revisions.
async fn revisions(
    api: &mut Api,
    kind: &Kind,
    namespace: &str,
    name: &str,
) -> anyhow::Result<(Value, Vec<Revision>)> {
    let deployment = api.get(kind, namespace, name).await?;
    let uid = deployment
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let scope = Scope {
        namespace: namespace.to_string(),
        all_namespaces: false,
    };
    let sets = super::list(api, "ReplicaSet", &scope, None).await?;
    let revisions = rollout_history::revisions(uid, &sets);
    Ok((deployment, revisions))
}

/// `rollout history`: the table of revisions, or one revision's template when asked for.
fn print_history(
    reference: &str,
    name: &str,
    asked: i64,
    revisions: &[Revision],
) -> anyhow::Result<()> {
    if asked != 0 {
        let Some(revision) = revisions.iter().find(|r| r.number == asked) else {
            bail!(
                "unable to find the specified revision {asked} of deployment {name:?}; revisions: {}",
                rollout_history::list(revisions)
            );
        };
        println!("{reference} with revision #{}", revision.number);
        print!("{}", pod_template(&revision.template));
        return Ok(());
    }
    println!("{reference} ");
    let mut rows = vec![vec!["REVISION".to_string(), "CHANGE-CAUSE".to_string()]];
    rows.extend(revisions.iter().map(|r| {
        let cause = r.change_cause.clone().unwrap_or_else(|| "<none>".into());
        vec![r.number.to_string(), cause]
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
    kind: &Kind,
    namespace: &str,
    name: &str,
    options: &Options,
) -> anyhow::Result<()> {
    let timeout = parse_timeout(&options.timeout)?;
    let lower = kind.kind.to_lowercase();
    let work = async {
        let object = api.get(kind, namespace, name).await?;
        let (message, done) = kind_status(kind.kind, &object)?;
        println!("{message}");
        if done || !options.watch {
            return Ok(());
        }
        let mut last = message;
        let mut version = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let objects = api.api(kind, Some(namespace));
        let params = WatchParams::default().fields(&format!("metadata.name={name}"));
        // A watch ends at its server-side timeout; the next one goes on from the last
        // version seen.
        loop {
            let mut events = objects
                .watch(&params, &version)
                .await
                .map_err(|e| api.error(e))?
                .boxed();
            while let Some(event) = events.try_next().await.map_err(|e| api.error(e))? {
                let object = match event {
                    WatchEvent::Added(o) | WatchEvent::Modified(o) => o,
                    WatchEvent::Deleted(_) => bail!("{lower} {name:?} was deleted"),
                    WatchEvent::Bookmark(b) => {
                        version = b.metadata.resource_version;
                        continue;
                    }
                    WatchEvent::Error(status) => {
                        return Err(api.error(kube::Error::Api(status)).into())
                    }
                };
                version = object.metadata.resource_version.clone().unwrap_or_default();
                let (message, done) = kind_status(kind.kind, &serde_json::to_value(&object)?)?;
                if message != last {
                    println!("{message}");
                    last = message;
                }
                if done {
                    return Ok(());
                }
            }
        }
    };
    match timeout {
        Some(limit) => tokio::time::timeout(limit, work)
            .await
            .with_context(|| format!("timed out waiting for the rollout of {lower} {name:?}"))?,
        None => work.await,
    }
}

pub(super) fn parse_timeout(text: &str) -> anyhow::Result<Option<Duration>> {
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
