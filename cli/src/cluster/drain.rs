//! `drain NODE`, as kubectl does it on the client side: cordon the node, sort its pods
//! with kubectl's filters (DaemonSet, mirror, local storage, no controller), refuse
//! before evicting anything when one of them forbids it, then evict (or delete, with
//! `--disable-eviction`) the rest and wait until each is gone.

use std::time::Duration;

use anyhow::anyhow;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, EvictParams};
use serde_json::Value;
use tokio::time::Instant;

use super::Api;
use crate::args::Scope;
use crate::client::ApiError;

const DAEMONSET_FATAL: &str = "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)";
const DAEMONSET_WARNING: &str = "ignoring DaemonSet-managed Pods";
const LOCAL_STORAGE_FATAL: &str =
    "Pods with local storage (use --delete-emptydir-data to override)";
const LOCAL_STORAGE_WARNING: &str = "deleting Pods with local storage";
const UNMANAGED_FATAL: &str = "Pods that declare no controller (use --force to override)";
const UNMANAGED_WARNING: &str = "deleting Pods that declare no controller";

/// How often the wait looks whether the evicted pods are gone.
const POLL: Duration = Duration::from_secs(1);

/// How long kubectl waits before trying an eviction again that was refused with 429
/// (a disruption budget would be broken).
const EVICTION_RETRY: Duration = Duration::from_secs(5);

/// The flags of `drain`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub ignore_daemonsets: bool,
    pub delete_emptydir_data: bool,
    pub force: bool,
    /// Negative: each pod's own terminationGracePeriodSeconds.
    pub grace_period: i64,
    /// `None`: wait as long as it takes.
    pub timeout: Option<Duration>,
    pub disable_eviction: bool,
}

/// What kubectl's filters decided for one pod; the last filter that ran decides.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Okay,
    Skip,
    Warning { delete: bool, message: String },
    Error(String),
}

impl Verdict {
    fn deletes(&self) -> bool {
        matches!(self, Verdict::Okay | Verdict::Warning { delete: true, .. })
    }
}

/// Whether a DaemonSet pod's DaemonSet still exists (kubectl looks it up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Exists,
    NotFound(String),
    Failed(String),
}

/// The pods to evict, the warnings to print and the errors that stop the drain.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub evict: Vec<(String, String, String)>,
    pub warnings: String,
    pub errors: Vec<String>,
}

fn controller_of(pod: &Value) -> Option<&Value> {
    pod.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|o| o["controller"].as_bool() == Some(true))
}

fn finished(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

fn text<'a>(pod: &'a Value, pointer: &str) -> &'a str {
    pod.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// kubectl's filters in its order, stopping at the first that keeps the pod.
fn verdict(pod: &Value, owner: Option<&Owner>, opts: &Options) -> Verdict {
    let filters: [&dyn Fn() -> Verdict; 4] = [
        &|| match (controller_of(pod), owner) {
            (Some(c), Some(owner)) if c["kind"] == "DaemonSet" && !finished(pod) => match owner {
                Owner::NotFound(e) if opts.force => Verdict::Warning {
                    delete: true,
                    message: e.clone(),
                },
                Owner::NotFound(e) | Owner::Failed(e) => Verdict::Error(e.clone()),
                Owner::Exists if !opts.ignore_daemonsets => Verdict::Error(DAEMONSET_FATAL.into()),
                Owner::Exists => Verdict::Warning {
                    delete: false,
                    message: DAEMONSET_WARNING.into(),
                },
            },
            _ => Verdict::Okay,
        },
        &|| match pod.pointer("/metadata/annotations/kubernetes.io~1config.mirror") {
            Some(_) => Verdict::Skip,
            None => Verdict::Okay,
        },
        &|| {
            let volumes = pod.pointer("/spec/volumes").and_then(Value::as_array);
            let empty_dir = volumes
                .into_iter()
                .flatten()
                .any(|v| v.get("emptyDir").is_some());
            match () {
                _ if !empty_dir || finished(pod) => Verdict::Okay,
                _ if !opts.delete_emptydir_data => Verdict::Error(LOCAL_STORAGE_FATAL.into()),
                _ => Verdict::Warning {
                    delete: true,
                    message: LOCAL_STORAGE_WARNING.into(),
                },
            }
        },
        &|| match () {
            _ if finished(pod) || controller_of(pod).is_some() => Verdict::Okay,
            _ if opts.force => Verdict::Warning {
                delete: true,
                message: UNMANAGED_WARNING.into(),
            },
            _ => Verdict::Error(UNMANAGED_FATAL.into()),
        },
    ];
    let mut verdict = Verdict::Okay;
    for filter in filters {
        verdict = filter();
        if !verdict.deletes() {
            break;
        }
    }
    verdict
}

/// Sorts the node's pods (each with its DaemonSet's lookup, if it has one).
pub fn plan(pods: &[(Value, Option<Owner>)], opts: &Options) -> Plan {
    let mut warnings: Vec<(String, Vec<String>)> = Vec::new();
    let mut errors: Vec<(String, Vec<String>)> = Vec::new();
    let mut evict = Vec::new();
    let group = |groups: &mut Vec<(String, Vec<String>)>, message: &str, pod: String| match groups
        .iter_mut()
        .find(|(m, _)| m == message)
    {
        Some((_, pods)) => pods.push(pod),
        None => groups.push((message.to_string(), vec![pod])),
    };
    for (pod, owner) in pods {
        let namespace = text(pod, "/metadata/namespace");
        let name = text(pod, "/metadata/name");
        let id = format!("{namespace}/{name}");
        let verdict = verdict(pod, owner.as_ref(), opts);
        match &verdict {
            Verdict::Warning { message, .. } => group(&mut warnings, message, id),
            Verdict::Error(message) => group(&mut errors, message, id),
            Verdict::Okay | Verdict::Skip => {}
        }
        if verdict.deletes() {
            let uid = text(pod, "/metadata/uid");
            evict.push((namespace.into(), name.into(), uid.into()));
        }
    }
    let join = |(message, pods): (String, Vec<String>)| format!("{message}: {}", pods.join(", "));
    Plan {
        evict,
        warnings: warnings
            .into_iter()
            .map(join)
            .collect::<Vec<_>>()
            .join("; "),
        errors: errors
            .into_iter()
            .map(|e| format!("cannot delete {}", join(e)))
            .collect(),
    }
}

/// Prints kubectl's lines for a node that could not be drained; the error to exit with.
fn unable(node: &str, errors: &[String]) -> anyhow::Error {
    let aggregate = match errors {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    eprintln!(
        "error: unable to drain node {node:?} due to error: {aggregate}, continuing command..."
    );
    eprintln!("There are pending nodes to be drained:");
    eprintln!(" {node}");
    anyhow!("{}", errors.join("\n"))
}

pub async fn run(api: &mut Api, node: &str, opts: &Options) -> anyhow::Result<()> {
    super::nodes::cordon(api, node, true).await?;
    let all = Scope {
        namespace: String::new(),
        all_namespaces: true,
    };
    let mut pods = Vec::new();
    for pod in super::list(api, "Pod", &all, None).await? {
        if text(&pod, "/spec/nodeName") != node {
            continue;
        }
        let owner = match controller_of(&pod).filter(|c| c["kind"] == "DaemonSet") {
            Some(c) => {
                Some(daemonset(api, text(&pod, "/metadata/namespace"), text(c, "/name")).await)
            }
            None => None,
        };
        pods.push((pod, owner));
    }
    let plan = plan(&pods, opts);
    if !plan.errors.is_empty() {
        return Err(unable(node, &plan.errors));
    }
    if !plan.warnings.is_empty() {
        eprintln!("Warning: {}", plan.warnings);
    }
    if let Err(errors) = remove(api, node, &plan.evict, opts).await {
        return Err(unable(node, &errors));
    }
    println!("node/{node} drained");
    Ok(())
}

async fn daemonset(api: &mut Api, namespace: &str, name: &str) -> Owner {
    let result = match super::kind("DaemonSet") {
        Ok(kind) => api.get(&kind, namespace, name).await,
        Err(e) => return Owner::Failed(e.to_string()),
    };
    match result {
        Ok(_) => Owner::Exists,
        Err(e) if e.is_not_found() => Owner::NotFound(e.message()),
        Err(e) => Owner::Failed(e.message()),
    }
}

/// Evicts (or deletes) the pods and waits until each is gone, within `opts.timeout`.
async fn remove(
    api: &mut Api,
    node: &str,
    pods: &[(String, String, String)],
    opts: &Options,
) -> Result<(), Vec<String>> {
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let grace = u32::try_from(opts.grace_period).ok();
    let mut waiting = Vec::new();
    for (namespace, name, uid) in pods {
        // With no PodDisruptionBudgets in skiff an eviction is a delete with a grace
        // period, so `--disable-eviction --grace-period N` goes through it to honour N.
        let result = if opts.disable_eviction && grace.is_none() {
            let pod_kind = super::kind("Pod").map_err(|e| vec![e.to_string()])?;
            api.delete(&pod_kind, namespace, name, None, None).await
        } else {
            if !opts.disable_eviction {
                println!("evicting pod {namespace}/{name}");
            }
            evict(api, namespace, name, grace, deadline).await
        };
        match result {
            Ok(()) => waiting.push((namespace, name, uid)),
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                return Err(vec![format!(
                    "error when evicting pods/{name:?} -n {namespace:?}: {e}"
                )]);
            }
        }
    }
    let verb = if opts.disable_eviction {
        "deleted"
    } else {
        "evicted"
    };
    loop {
        let mut pending = Vec::new();
        for (namespace, name, uid) in waiting {
            match gone(api, namespace, name, uid).await {
                Ok(true) => println!("pod/{name} {verb}"),
                Ok(false) => pending.push((namespace, name, uid)),
                Err(e) => return Err(vec![e.to_string()]),
            }
        }
        waiting = pending;
        if waiting.is_empty() {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() + POLL > d) {
            let errors: Vec<String> = waiting
                .iter()
                .map(|(namespace, name, _)| {
                    format!("error when waiting for pod {name:?} in namespace {namespace:?} to terminate: global timeout reached: {:?}", opts.timeout.unwrap_or_default())
                })
                .collect();
            eprintln!(
                "There are pending pods in node {node:?} when an error occurred: {}",
                errors.join(", ")
            );
            for (_, name, _) in &waiting {
                eprintln!("pod/{name}");
            }
            return Err(errors);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `pods/eviction`, tried again every 5 s while the server answers 429, as kubectl does,
/// until the drain's deadline.
async fn evict(
    api: &mut Api,
    namespace: &str,
    name: &str,
    grace: Option<u32>,
    deadline: Option<Instant>,
) -> Result<(), ApiError> {
    let pods: kube::Api<Pod> = kube::Api::namespaced(api.client(), namespace);
    let params = EvictParams {
        delete_options: grace.map(|g| DeleteParams {
            grace_period_seconds: Some(g),
            ..DeleteParams::default()
        }),
        ..EvictParams::default()
    };
    loop {
        match pods.evict(name, &params).await.map_err(|e| api.error(e)) {
            Err(e)
                if e.code() == 429
                    && deadline.is_none_or(|d| Instant::now() + EVICTION_RETRY < d) =>
            {
                eprintln!(
                    "error when evicting pods/{name:?} -n {namespace:?} (will retry after 5s): {e}"
                );
                tokio::time::sleep(EVICTION_RETRY).await;
            }
            result => return result.map(|_| ()),
        }
    }
}

/// The pod is gone, or another pod took its name.
async fn gone(api: &mut Api, namespace: &str, name: &str, uid: &str) -> anyhow::Result<bool> {
    let pod_kind = super::kind("Pod")?;
    Ok(match api.get_opt(&pod_kind, namespace, name).await? {
        Some(pod) => text(&pod, "/metadata/uid") != uid,
        None => true,
    })
}

#[cfg(test)]
mod tests;
