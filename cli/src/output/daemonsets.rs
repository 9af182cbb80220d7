//! kubectl's columns for DaemonSets: NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE
//! NODE SELECTOR AGE (and with `-o wide` CONTAINERS IMAGES SELECTOR), from the status.

use serde_json::Value;

use super::tables::{age_at, s};

pub const HEADER: &[&str] = &[
    "NAME",
    "DESIRED",
    "CURRENT",
    "READY",
    "UP-TO-DATE",
    "AVAILABLE",
    "NODE SELECTOR",
    "AGE",
];
pub const WIDE_HEADER: &[&str] = &[
    "NAME",
    "DESIRED",
    "CURRENT",
    "READY",
    "UP-TO-DATE",
    "AVAILABLE",
    "NODE SELECTOR",
    "AGE",
    "CONTAINERS",
    "IMAGES",
    "SELECTOR",
];

/// The narrow columns; the caller adds the template's for `-o wide`.
pub fn row(o: &Value) -> Vec<String> {
    let n = |field: &str| {
        o.pointer(&format!("/status/{field}"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .to_string()
    };
    vec![
        s(o, "/metadata/name"),
        n("desiredNumberScheduled"),
        n("currentNumberScheduled"),
        n("numberReady"),
        n("updatedNumberScheduled"),
        n("numberAvailable"),
        node_selector(o),
        age_at(o, "/metadata/creationTimestamp"),
    ]
}

/// The template's nodeSelector as `k=v,...`, or `<none>`.
pub fn node_selector(o: &Value) -> String {
    let pairs: Vec<String> = o
        .pointer("/spec/template/spec/nodeSelector")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// What kubectl's status viewer says of a DaemonSet: the message, and whether the
/// rollout is done. Only RollingUpdate DaemonSets have a rollout to watch.
pub fn rollout_status(o: &Value) -> anyhow::Result<(String, bool)> {
    let name = s(o, "/metadata/name");
    let strategy = s(o, "/spec/updateStrategy/type");
    if !strategy.is_empty() && strategy != "RollingUpdate" {
        anyhow::bail!("rollout status is only available for RollingUpdate strategy type");
    }
    let n = |ptr: &str| o.pointer(ptr).and_then(Value::as_i64).unwrap_or(0);
    if n("/metadata/generation") > n("/status/observedGeneration") {
        return Ok((
            "Waiting for daemon set spec update to be observed...".into(),
            false,
        ));
    }
    let desired = n("/status/desiredNumberScheduled");
    let updated = n("/status/updatedNumberScheduled");
    let available = n("/status/numberAvailable");
    let waiting = |what: String| {
        (
            format!("Waiting for daemon set {name:?} rollout to finish: {what}..."),
            false,
        )
    };
    Ok(if updated < desired {
        waiting(format!(
            "{updated} out of {desired} new pods have been updated"
        ))
    } else if available < desired {
        waiting(format!(
            "{available} of {desired} updated pods are available"
        ))
    } else {
        (format!("daemon set {name:?} successfully rolled out"), true)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn columns_come_from_the_status_and_the_templates_node_selector() {
        let ds = json!({
            "metadata": {"name": "agent", "creationTimestamp": jiff::Timestamp::now().to_string()},
            "spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd", "zone": "a"}}}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 2,
                       "numberReady": 1, "updatedNumberScheduled": 2, "numberAvailable": 1},
        });
        assert_eq!(
            row(&ds),
            ["agent", "3", "2", "1", "2", "1", "disk=ssd,zone=a", "0s"]
        );
        let fresh = json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {}}}});
        assert_eq!(&row(&fresh)[1..7], ["0", "0", "0", "0", "0", "<none>"]);
    }

    #[test]
    fn get_ds_prints_kubectls_headers_and_wide_columns() {
        let ds = json!({
            "metadata": {"name": "agent", "namespace": "kube-system"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
        });
        let narrow =
            crate::output::tables::rows("DaemonSet", std::slice::from_ref(&ds), false, false);
        assert_eq!(narrow[0], HEADER);
        let wide = crate::output::tables::rows("DaemonSet", &[ds], true, true);
        assert_eq!(wide[0][0], "NAMESPACE");
        assert_eq!(wide[0][1..], *WIDE_HEADER);
        assert_eq!(wide[1][9..], ["c", "busybox", "app=agent"]);
    }

    #[test]
    fn rollout_status_reads_as_kubectl() {
        let ds = |generation: i64, observed: i64, updated: i64, available: i64| {
            json!({
                "metadata": {"name": "agent", "generation": generation},
                "spec": {"updateStrategy": {"type": "RollingUpdate"}},
                "status": {"observedGeneration": observed, "desiredNumberScheduled": 2,
                           "updatedNumberScheduled": updated, "numberAvailable": available},
            })
        };
        let msg = |o| rollout_status(&o).unwrap().0;
        assert_eq!(
            msg(ds(2, 1, 2, 2)),
            "Waiting for daemon set spec update to be observed..."
        );
        assert_eq!(
            msg(ds(2, 2, 1, 2)),
            "Waiting for daemon set \"agent\" rollout to finish: 1 out of 2 new pods have been updated..."
        );
        assert_eq!(
            msg(ds(2, 2, 2, 1)),
            "Waiting for daemon set \"agent\" rollout to finish: 1 of 2 updated pods are available..."
        );
        assert_eq!(
            rollout_status(&ds(2, 2, 2, 2)).unwrap(),
            ("daemon set \"agent\" successfully rolled out".into(), true)
        );
        let mut on_delete = ds(1, 1, 0, 0);
        on_delete["spec"]["updateStrategy"]["type"] = json!("OnDelete");
        assert!(rollout_status(&on_delete).is_err());
    }
}
