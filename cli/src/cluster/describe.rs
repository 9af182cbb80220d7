//! `describe KIND NAME` against the control plane: the object and what describes it
//! (events, its pods or replica sets, a Service's endpoints), printed by `output::describe`.

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::{list, Api};
use crate::args::Scope;
use crate::kinds;
use crate::output::describe::{
    describe_claim, describe_class, describe_config_map, describe_cron_job, describe_daemon_set,
    describe_deployment, describe_node, describe_pod, describe_replica_set, describe_secret,
    describe_stateful_set, describe_volume, events_section,
};
use crate::output::services::describe_service;

pub async fn run(api: &mut Api, kind: &str, name: &str, scope: &Scope) -> anyhow::Result<()> {
    let kind = kinds::resolve(kind)?;
    let obj = api.get(&kind, &scope.namespace, name).await?;
    let text = match kind.kind {
        "Pod" => {
            let pod: Pod = serde_json::from_value(obj.clone())?;
            let events = object_events(api, scope, kind.kind, &obj).await;
            format!(
                "{}{}",
                describe_pod(&pod),
                events_or_error(events, "Pod", name)
            )
        }
        "Node" => {
            let all = Scope {
                all_namespaces: true,
                ..scope.clone()
            };
            let pods = list(api, "Pod", &all, None).await?;
            let events = object_events(api, &all, kind.kind, &obj).await;
            format!(
                "{}{}",
                describe_node(&obj, &pods),
                events_or_error(events, "Node", name)
            )
        }
        "Service" => {
            let endpoints = super::get(api, "Endpoints", &scope.namespace, name)
                .await
                .ok();
            let events = object_events(api, scope, kind.kind, &obj).await;
            format!(
                "{}{}",
                describe_service(&obj, endpoints.as_ref()),
                events_or_error(events, "Service", name)
            )
        }
        // workloads
        "Deployment" => {
            let sets = list(api, "ReplicaSet", scope, None).await?;
            let events = object_events(api, scope, kind.kind, &obj)
                .await
                .unwrap_or_default();
            describe_deployment(&obj, &sets, &events)
        }
        "DaemonSet" => {
            let pods = list(api, "Pod", scope, None).await?;
            let events = object_events(api, scope, kind.kind, &obj)
                .await
                .unwrap_or_default();
            describe_daemon_set(&obj, &pods, &events)
        }
        "ReplicaSet" => {
            let pods = list(api, "Pod", scope, None).await?;
            let events = object_events(api, scope, kind.kind, &obj)
                .await
                .unwrap_or_default();
            describe_replica_set(&obj, &pods, &events)
        }
        "CronJob" => {
            let events = object_events(api, scope, kind.kind, &obj)
                .await
                .unwrap_or_default();
            describe_cron_job(&obj, &events)
        }
        "StatefulSet" => {
            let pods = list(api, "Pod", scope, None).await?;
            let events = object_events(api, scope, kind.kind, &obj)
                .await
                .unwrap_or_default();
            describe_stateful_set(&obj, &pods, &events)
        }
        // storage
        "PersistentVolumeClaim" => {
            let pods = list(api, "Pod", scope, None).await?;
            let events = object_events(api, scope, kind.kind, &obj)
                .await
                .unwrap_or_default();
            describe_claim(&obj, &pods, &events)
        }
        "PersistentVolume" | "StorageClass" => {
            let all = Scope {
                all_namespaces: true,
                ..scope.clone()
            };
            let events = object_events(api, &all, kind.kind, &obj)
                .await
                .unwrap_or_default();
            match kind.kind {
                "PersistentVolume" => describe_volume(&obj, &events),
                _ => describe_class(&obj, &events),
            }
        }
        // kubectl shows events for a ConfigMap, none for a Secret.
        "Secret" => describe_secret(&obj),
        "ConfigMap" => {
            let events = object_events(api, scope, kind.kind, &obj).await;
            let text = describe_config_map(&obj);
            format!("{text}{}", events_or_error(events, "ConfigMap", name))
        }
        _ => serde_yaml::to_string(&obj)?,
    };
    print!("{text}");
    Ok(())
}

/// The events in `scope`, less those about an earlier object of the same kind and name
/// (a pod recreated under its name, as a StatefulSet does): kubectl selects by
/// `involvedObject.uid` too.
async fn object_events(
    api: &mut Api,
    scope: &Scope,
    kind: &str,
    obj: &Value,
) -> anyhow::Result<Vec<Value>> {
    Ok(not_earlier(
        list(api, "Event", scope, None).await?,
        kind,
        obj,
    ))
}

fn not_earlier(mut events: Vec<Value>, kind: &str, obj: &Value) -> Vec<Value> {
    let field = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (name, uid) = (field(obj, "/metadata/name"), field(obj, "/metadata/uid"));
    events.retain(|e| {
        let about = field(e, "/involvedObject/uid");
        let same_name =
            field(e, "/involvedObject/kind") == kind && field(e, "/involvedObject/name") == name;
        !same_name || uid.is_empty() || about.is_empty() || about == uid
    });
    events
}

/// The events section, or why the server could not list events.
fn events_or_error(events: anyhow::Result<Vec<Value>>, kind: &str, name: &str) -> String {
    match events {
        Ok(events) => events_section(&events, kind, name),
        Err(e) => format!("Events:            <unavailable: {e}>\n"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn events_of_an_earlier_object_of_the_name_are_left_out() {
        let pod = json!({"metadata": {"name": "web-0", "uid": "new"}});
        let event = |uid: &str, reason: &str| json!({"reason": reason, "involvedObject": {"kind": "Pod", "name": "web-0", "uid": uid}});
        let other = json!({"reason": "Other", "involvedObject": {"kind": "Node", "name": "web-0", "uid": "n"}});
        let events = vec![
            event("old", "Killing"),
            event("new", "Started"),
            event("", "Legacy"),
            other,
        ];
        let kept: Vec<String> = not_earlier(events, "Pod", &pod)
            .iter()
            .map(|e| e["reason"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kept, ["Started", "Legacy", "Other"]);
    }
}
