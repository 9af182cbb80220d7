use serde_json::json;

use super::{ago, narrow, now, row};
use crate::printers::cells;

fn template() -> serde_json::Value {
    json!({"spec": {"containers": [
        {"name": "fake-container1", "image": "fake-image1"},
        {"name": "fake-container2", "image": "fake-image2"}]}})
}

#[test]
fn deployments_show_ready_of_desired_and_wide_the_template() {
    let d = json!({
        "metadata": {"name": "test1", "creationTimestamp": ago(0)},
        "spec": {"replicas": 5, "template": template(), "selector": {"matchLabels": {"foo": "bar"}}},
        "status": {"replicas": 10, "updatedReplicas": 2, "availableReplicas": 1, "unavailableReplicas": 4},
    });
    assert_eq!(
        row("Deployment", &d),
        [
            "test1",
            "0/5",
            "2",
            "1",
            "0s",
            "fake-container1,fake-container2",
            "fake-image1,fake-image2",
            "foo=bar"
        ]
    );
    // Integer cells travel as JSON numbers.
    assert_eq!(cells("Deployment", &d, now())[2], json!(2));
}

#[test]
fn replica_sets_and_daemon_sets_count_from_the_status() {
    let rs = json!({
        "metadata": {"name": "test1", "creationTimestamp": ago(0)},
        "spec": {"replicas": 5, "template": template(),
                 "selector": {"matchLabels": {"foo": "bar"},
                              "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]}},
        "status": {"replicas": 5, "readyReplicas": 2},
    });
    assert_eq!(
        row("ReplicaSet", &rs),
        [
            "test1",
            "5",
            "5",
            "2",
            "0s",
            "fake-container1,fake-container2",
            "fake-image1,fake-image2",
            "env in (dev,prod),foo=bar"
        ]
    );
    let ds = json!({
        "metadata": {"name": "test1", "creationTimestamp": ago(0)},
        "spec": {"template": template(), "selector": {"matchLabels": {"foo": "bar"}}},
        "status": {"currentNumberScheduled": 2, "desiredNumberScheduled": 3, "numberReady": 1,
                   "updatedNumberScheduled": 2, "numberAvailable": 0},
    });
    assert_eq!(
        row("DaemonSet", &ds),
        [
            "test1",
            "3",
            "2",
            "1",
            "2",
            "0",
            "<none>",
            "0s",
            "fake-container1,fake-container2",
            "fake-image1,fake-image2",
            "foo=bar"
        ]
    );
    let mut selected = ds.clone();
    selected["spec"]["template"]["spec"]["nodeSelector"] = json!({"zone": "a", "disk": "ssd"});
    assert_eq!(narrow("DaemonSet", &selected)[6], "disk=ssd,zone=a");
}

#[test]
fn stateful_sets_show_ready_of_desired() {
    let sts = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(3600)},
        "spec": {"replicas": 3, "template": template()},
        "status": {"readyReplicas": 2},
    });
    assert_eq!(
        row("StatefulSet", &sts),
        [
            "web",
            "2/3",
            "60m",
            "fake-container1,fake-container2",
            "fake-image1,fake-image2"
        ]
    );
    assert_eq!(narrow("StatefulSet", &json!({"spec": {}}))[1], "0/1");
}

#[test]
fn jobs_show_status_completions_and_duration() {
    let job = |spec: serde_json::Value, status: serde_json::Value| {
        narrow(
            "Job",
            &json!({"metadata": {"name": "job1", "creationTimestamp": ago(0)}, "spec": spec, "status": status}),
        )
    };
    assert_eq!(
        job(json!({"completions": 2}), json!({"succeeded": 1})),
        ["job1", "Running", "1/2", "", "0s"]
    );
    assert_eq!(
        job(
            json!({"parallelism": 2}),
            json!({"succeeded": 0, "startTime": ago(600)})
        ),
        ["job1", "Running", "0/1 of 2", "10m", "0s"]
    );
    assert_eq!(
        job(
            json!({"completions": 1}),
            json!({"succeeded": 1, "startTime": ago(600), "completionTime": ago(590),
                   "conditions": [{"type": "Complete", "status": "True"}]})
        ),
        ["job1", "Complete", "1/1", "10s", "0s"]
    );
    let status = |conditions: serde_json::Value| {
        job(json!({}), json!({"conditions": conditions}))[1].clone()
    };
    assert_eq!(
        status(json!([{"type": "Failed", "status": "True"}])),
        "Failed"
    );
    assert_eq!(
        status(json!([{"type": "Suspended", "status": "True"}])),
        "Suspended"
    );
    assert_eq!(
        status(json!([{"type": "FailureTarget", "status": "True"}])),
        "FailureTarget"
    );
    assert_eq!(
        status(json!([{"type": "Complete", "status": "False"}])),
        "Running"
    );
    let deleting = json!({"metadata": {"name": "j", "deletionTimestamp": ago(1)}});
    assert_eq!(narrow("Job", &deleting)[1], "Terminating");
}

#[test]
fn cron_jobs_show_schedule_suspend_and_the_last_run() {
    let cj = json!({
        "metadata": {"name": "cronjob1", "creationTimestamp": ago(0)},
        "spec": {"schedule": "0/5 * * * ?", "suspend": false, "jobTemplate": {"spec": {
            "template": template(), "selector": {"matchLabels": {"a": "b"}}}}},
        "status": {"lastScheduleTime": ago(10)},
    });
    assert_eq!(
        row("CronJob", &cj),
        [
            "cronjob1",
            "0/5 * * * ?",
            "<none>",
            "False",
            "0",
            "10s",
            "0s",
            "fake-container1,fake-container2",
            "fake-image1,fake-image2",
            "a=b"
        ]
    );
    let zoned = json!({
        "metadata": {"name": "cronjob2"},
        "spec": {"schedule": "@hourly", "timeZone": "Europe/Berlin",
                 "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
        "status": {"active": [{"name": "a"}, {"name": "b"}]},
    });
    assert_eq!(
        row("CronJob", &zoned),
        [
            "cronjob2",
            "@hourly",
            "Europe/Berlin",
            "<unset>",
            "2",
            "<none>",
            "<unknown>",
            "",
            "",
            "<none>"
        ]
    );
}
