//! The pod table: NAME READY STATUS RESTARTS AGE (+ IP NODE NOMINATED NODE READINESS
//! GATES), with the STATUS rules of Kubernetes' `printPod`.

use jiff::Timestamp;
use serde_json::{json, Value};

use super::age::{age, human_duration, time};
use super::fields::{int, items, text};
use super::{docs, Column};

pub const COLUMNS: &[Column] = &[
    Column::name(),
    Column::text(
        "Ready",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    Column::text(
        "Status",
        "The aggregate status of the containers in this pod.",
    ),
    Column::text(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    Column::age(),
    Column::text("IP", docs::POD_IP).wide(),
    Column::text("Node", docs::NODE_NAME).wide(),
    Column::text("Nominated Node", docs::NOMINATED_NODE_NAME).wide(),
    Column::text("Readiness Gates", docs::READINESS_GATES).wide(),
];

/// The reason the node controller gives pods of a node that stopped answering.
const NODE_LOST: &str = "NodeLost";

/// STATUS, READY and RESTARTS as `printPod` works them out.
struct Summary {
    reason: String,
    ready: usize,
    total: usize,
    restarts: i64,
    last_restart: Option<Timestamp>,
}

/// A sidecar: an init container that keeps running beside the main ones.
fn is_sidecar(container: Option<&Value>) -> bool {
    container.is_some_and(|c| c["restartPolicy"] == "Always")
}

fn condition_is(o: &Value, type_: &str, status: &str) -> bool {
    items(o, "/status/conditions").any(|c| c["type"] == type_ && c["status"] == status)
}

/// When the container's previous run ended, if it has one.
fn last_finish(status: &Value) -> Option<Timestamp> {
    time(status, "/lastState/terminated/finishedAt")
}

fn later(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    a.max(b)
}

/// `Init:Signal:9`, `ExitCode:1`: a terminated container without a reason.
fn exit_text(terminated: &Value, prefix: &str) -> String {
    match int(terminated, "/signal") {
        0 => format!("{prefix}ExitCode:{}", int(terminated, "/exitCode")),
        signal => format!("{prefix}Signal:{signal}"),
    }
}

fn summarize(pod: &Value) -> Summary {
    let phase = text(pod, "/status/phase");
    // kube-apiserver sets the phase of every new pod; one without reads as Pending.
    let mut reason = match text(pod, "/status/reason") {
        r if !r.is_empty() => r,
        _ if phase.is_empty() => "Pending".into(),
        _ => phase.clone(),
    };
    if items(pod, "/status/conditions")
        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }
    let init_specs: Vec<&Value> = items(pod, "/spec/initContainers").collect();
    let init_spec = |name: &Value| init_specs.iter().copied().find(|c| c["name"] == *name);
    let sidecars = init_specs.iter().filter(|c| is_sidecar(Some(c))).count();
    let mut summary = Summary {
        reason: String::new(),
        ready: 0,
        total: items(pod, "/spec/containers").count() + sidecars,
        restarts: 0,
        last_restart: None,
    };
    let (mut sidecar_restarts, mut sidecar_last) = (0, None);
    let mut initializing = false;
    for (i, status) in items(pod, "/status/initContainerStatuses").enumerate() {
        let restarts = int(status, "/restartCount");
        summary.restarts += restarts;
        summary.last_restart = later(summary.last_restart, last_finish(status));
        let sidecar = is_sidecar(init_spec(&status["name"]));
        if sidecar {
            sidecar_restarts += restarts;
            sidecar_last = later(sidecar_last, last_finish(status));
        }
        let state = &status["state"];
        let terminated = &state["terminated"];
        let waiting = text(state, "/waiting/reason");
        if terminated.is_object() && int(terminated, "/exitCode") == 0 {
            continue;
        }
        if sidecar && status["started"] == true {
            if status["ready"] == true {
                summary.ready += 1;
            }
            continue;
        }
        reason = if terminated.is_object() {
            match text(terminated, "/reason") {
                r if r.is_empty() => exit_text(terminated, "Init:"),
                r => format!("Init:{r}"),
            }
        } else if !waiting.is_empty() && waiting != "PodInitializing" {
            format!("Init:{waiting}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }
    if !initializing || condition_is(pod, "Initialized", "True") {
        summary.restarts = sidecar_restarts;
        summary.last_restart = sidecar_last;
        let mut has_running = false;
        let statuses: Vec<&Value> = items(pod, "/status/containerStatuses").collect();
        for status in statuses.into_iter().rev() {
            summary.restarts += int(status, "/restartCount");
            summary.last_restart = later(summary.last_restart, last_finish(status));
            let state = &status["state"];
            let terminated = &state["terminated"];
            let waiting = text(state, "/waiting/reason");
            if !waiting.is_empty() {
                reason = waiting;
            } else if terminated.is_object() {
                reason = match text(terminated, "/reason") {
                    r if r.is_empty() => exit_text(terminated, ""),
                    r => r,
                };
            } else if status["ready"] == true && state["running"].is_object() {
                has_running = true;
                summary.ready += 1;
            }
        }
        // A container still running turns a Completed pod back into Running.
        if reason == "Completed" && has_running {
            reason = match condition_is(pod, "Ready", "True") {
                true => "Running",
                false => "NotReady",
            }
            .into();
        }
    }
    let deleting = pod.pointer("/metadata/deletionTimestamp").is_some();
    if deleting && text(pod, "/status/reason") == NODE_LOST {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }
    summary.reason = reason;
    summary
}

/// `readyGates/gates` of the readiness gates whose condition is True, or `<none>`.
fn readiness_gates(pod: &Value) -> String {
    let gates: Vec<&Value> = items(pod, "/spec/readinessGates").collect();
    if gates.is_empty() {
        return "<none>".into();
    }
    let conditions: Vec<&Value> = items(pod, "/status/conditions").collect();
    let met = gates
        .iter()
        .filter(|g| {
            conditions
                .iter()
                .find(|c| c["type"] == g["conditionType"])
                .is_some_and(|c| c["status"] == "True")
        })
        .count();
    format!("{met}/{}", gates.len())
}

fn or_none(v: String) -> Value {
    super::fields::or(v, "<none>").into()
}

pub fn cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let s = summarize(pod);
    let restarts = match s.last_restart {
        Some(t) if s.restarts != 0 => {
            format!(
                "{} ({} ago)",
                s.restarts,
                human_duration(now.duration_since(t))
            )
        }
        _ => s.restarts.to_string(),
    };
    let ip = match text(pod, "/status/podIPs/0/ip") {
        ip if ip.is_empty() => text(pod, "/status/podIP"),
        ip => ip,
    };
    vec![
        text(pod, "/metadata/name").into(),
        format!("{}/{}", s.ready, s.total).into(),
        s.reason.into(),
        restarts.into(),
        age(pod, now),
        or_none(ip),
        or_none(text(pod, "/spec/nodeName")),
        or_none(text(pod, "/status/nominatedNodeName")),
        readiness_gates(pod).into(),
    ]
}

/// A finished pod's row is marked Completed, which `kubectl get` may use to hide it.
pub fn conditions(pod: &Value) -> Option<Value> {
    let message = match text(pod, "/status/phase").as_str() {
        "Succeeded" => "The pod has completed successfully.",
        "Failed" => "The pod failed.",
        _ => return None,
    };
    Some(json!([{
        "type": "Completed",
        "status": "True",
        "reason": text(pod, "/status/phase"),
        "message": message,
    }]))
}
