//! Verbs against the control plane's Kubernetes REST API (docs/architecture.md, CLI),
//! with what kubectl does on the client side done here as kubectl does it.

mod apply;
mod apply_object;
pub mod create;
mod create_job;
mod describe;
mod edit;
mod exec;
mod labels;
// nodes
mod drain;
mod get;
mod nodes;
mod taints;
// workloads
mod rollout;
mod rollout_history;
mod workloads;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::args::{Command, Scope};
use crate::kinds::{self, Kind};

pub type Api = crate::client::Cluster;

/// Runs one command against the control plane.
pub async fn run(api: Api, command: Command) -> anyhow::Result<()> {
    let mut api = api;
    match command {
        Command::Apply { files, namespace } => {
            apply::apply(&mut api, &files, namespace.as_deref()).await
        }
        Command::Get {
            kind,
            names,
            scope,
            selector,
            output,
        } => {
            get::run(
                &mut api,
                &kind,
                &names,
                &scope,
                selector.as_deref(),
                output.as_deref(),
            )
            .await
        }
        Command::Describe { kind, name, scope } => {
            describe::run(&mut api, &kind, &name, &scope).await
        }
        Command::Delete {
            files,
            kind,
            name,
            scope,
            cascade,
        } => {
            let propagation = match cascade.as_str() {
                "background" | "true" => "Background",
                "orphan" | "false" => "Orphan",
                other => bail!("--cascade must be background or orphan, got {other:?}"),
            };
            if !files.is_empty() {
                if kind.is_some() {
                    bail!("give either -f FILE or KIND NAME, not both");
                }
                return apply::delete_files(&mut api, &files, &scope, propagation).await;
            }
            match (kind, name) {
                (Some(kind), Some(name)) => {
                    edit::delete(&mut api, &kind, &name, &scope, propagation).await
                }
                _ => bail!("delete needs -f FILE or KIND NAME"),
            }
        }
        Command::Create { what } => create::run(&mut api, what).await,
        Command::Label {
            kind,
            name,
            labels,
            overwrite,
            scope,
        } => labels::label(&mut api, &kind, &name, &labels, overwrite, &scope).await,
        Command::Logs { pod, flags, scope } => edit::logs(&mut api, &pod, &flags, &scope).await,
        Command::Exec {
            pod,
            container,
            stdin,
            tty,
            command,
            scope,
        } => {
            let args = crate::exec::ExecArgs {
                namespace: scope.namespace,
                pod,
                container,
                stdin,
                tty,
                command,
            };
            exec::run(&api, args).await
        }
        // workloads
        Command::Scale {
            target,
            name,
            replicas,
            resource_version,
            scope,
        } => {
            workloads::scale(
                &mut api,
                &target,
                name.as_deref(),
                replicas,
                resource_version.as_deref(),
                &scope,
            )
            .await
        }
        Command::Set {
            what,
            target,
            assignments,
            scope,
        } => workloads::set(&mut api, &what, &target, &assignments, &scope).await,
        Command::Rollout {
            action,
            target,
            name,
            to_revision,
            revision,
            watch,
            timeout,
            scope,
        } => {
            let options = rollout::Options {
                to_revision,
                revision,
                watch,
                timeout,
            };
            rollout::run(
                &mut api,
                &action,
                &target,
                name.as_deref(),
                &options,
                &scope,
            )
            .await
        }
        // nodes
        Command::Cordon { node } => nodes::cordon(&mut api, &node, true).await,
        Command::Uncordon { node } => nodes::cordon(&mut api, &node, false).await,
        Command::Taint {
            kind,
            args,
            overwrite,
        } => nodes::taint(&mut api, &kind, &args, overwrite).await,
        Command::Drain {
            node,
            ignore_daemonsets,
            delete_emptydir_data,
            force,
            grace_period,
            timeout,
            disable_eviction,
        } => {
            let options = drain::Options {
                ignore_daemonsets,
                delete_emptydir_data,
                force,
                grace_period,
                timeout: rollout::parse_timeout(&timeout)?,
                disable_eviction,
            };
            drain::run(&mut api, &node, &options).await
        }
    }
}

/// The row of a manifest kind ("Pod") in the table of kinds.
pub fn kind(name: &str) -> anyhow::Result<Kind> {
    kinds::from_manifest_kind(name).with_context(|| format!("the server does not serve {name:?}"))
}

/// Lists `kind` in the scope, as JSON objects.
pub async fn list(
    api: &mut Api,
    kind: &str,
    scope: &Scope,
    selector: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    Ok(api.list(&self::kind(kind)?, scope, selector).await?)
}

/// One object of `kind`, as JSON.
pub async fn get(api: &mut Api, kind: &str, namespace: &str, name: &str) -> anyhow::Result<Value> {
    Ok(api.get(&self::kind(kind)?, namespace, name).await?)
}
