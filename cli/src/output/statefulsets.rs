//! kubectl's columns for StatefulSets: NAME READY AGE (READY `ready/desired`), and with
//! `-o wide` CONTAINERS IMAGES.

use serde_json::Value;

use super::tables::{age_at, s, template_columns};

pub const HEADER: &[&str] = &["NAME", "READY", "AGE"];
pub const WIDE_HEADER: &[&str] = &["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"];

pub fn row(o: &Value, wide: bool) -> Vec<String> {
    let n = |ptr: &str, default| o.pointer(ptr).and_then(Value::as_i64).unwrap_or(default);
    let mut cols = vec![
        s(o, "/metadata/name"),
        format!(
            "{}/{}",
            n("/status/readyReplicas", 0),
            n("/spec/replicas", 1)
        ),
        age_at(o, "/metadata/creationTimestamp"),
    ];
    if wide {
        cols.extend(template_columns(o));
    }
    cols
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ready_is_ready_over_desired() {
        let sts = json!({
            "metadata": {"name": "web", "creationTimestamp": jiff::Timestamp::now().to_string()},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "nginx", "image": "nginx:1"}, {"name": "log", "image": "busybox"},
            ]}}},
            "status": {"readyReplicas": 2},
        });
        assert_eq!(row(&sts, false), ["web", "2/3", "0s"]);
        assert_eq!(
            row(&sts, true),
            ["web", "2/3", "0s", "nginx,log", "nginx:1,busybox"]
        );
        assert_eq!(row(&json!({"spec": {}}), false)[1], "0/1");
    }
}
