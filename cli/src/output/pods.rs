//! Printing pods and aligning tables as kubectl's tabwriter does.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::tables;

pub fn print_table(pods: &[Pod], wide: bool, with_namespace: bool) {
    let items: Vec<Value> = pods
        .iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect();
    print!(
        "{}",
        align(&tables::rows("Pod", &items, wide, with_namespace))
    );
}

/// Left-aligned columns, three spaces apart, as kubectl's tabwriter prints them.
pub fn align(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == r.len() {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i] + 2)
                }
            })
            .collect();
        out.push_str(line.join(" ").trim_end());
        out.push('\n');
    }
    out
}

pub fn to_list(pods: &[Pod]) -> Value {
    json!({ "apiVersion": "v1", "kind": "List", "items": pods, "metadata": { "resourceVersion": "" } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(pod: Value) -> Vec<String> {
        tables::rows("Pod", &[pod], false, false).remove(1)
    }

    #[test]
    fn waiting_reason_wins() {
        let p = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending",
            "containerStatuses": [{"name": "a", "image": "", "imageID": "", "ready": false, "restartCount": 0,
              "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}});
        assert_eq!(status(p)[1..3], ["0/1", "ImagePullBackOff"]);
    }

    #[test]
    fn running_and_completed() {
        let p = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
              {"name": "a", "image": "", "imageID": "", "ready": true, "restartCount": 2, "state": {"running": {}}},
              {"name": "b", "image": "", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        assert_eq!(status(p)[1..4], ["1/2", "NotReady", "2"]);
    }

    #[test]
    fn init_progress() {
        let p = json!({"metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
              {"name": "i1", "image": "", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
              {"name": "i2", "image": "", "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {}}}]}});
        assert_eq!(status(p)[2], "Init:1/2");
    }

    #[test]
    fn columns_align() {
        let rows = vec![
            vec!["NAME".into(), "READY".into()],
            vec!["my-nginx-pod".into(), "1/1".into()],
        ];
        assert_eq!(align(&rows), "NAME           READY\nmy-nginx-pod   1/1\n");
    }
}
