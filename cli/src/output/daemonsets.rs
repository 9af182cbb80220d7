//! kubectl's rollout status of a DaemonSet.

use serde_json::Value;

use super::tables::s;

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
