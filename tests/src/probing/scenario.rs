//! One pod whose containers each show one probe outcome, checked together: the probe-type
//! scenarios (exec, httpGet, tcpSocket, grpc) differ only in their containers.

use std::time::Duration;

use anyhow::ensure;
use serde_json::Value;

use super::{container, is_ready, is_running, last_terminated, pod, pod_ready};
use crate::agent::TestAgent;
use crate::pods::restart_count;

/// What a container of a probe scenario must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Readiness passes: ready, never restarted.
    Ready,
    /// Readiness fails: running but not ready, never restarted.
    NotReady,
    /// Liveness passes: never restarted.
    Lives,
    /// Liveness fails: restarted, with the killed attempt in lastState.
    Restarted,
}

/// One container of a probe scenario and what it must show.
pub struct Case {
    pub name: String,
    pub yaml: String,
    pub expect: Expect,
}

/// A container running `script` (None: the image's command) with `probes` (probe YAML).
pub fn case(name: &str, image: &str, script: Option<&str>, probes: &str, expect: Expect) -> Case {
    Case {
        name: name.into(),
        yaml: container(name, image, script, probes),
        expect,
    }
}

/// Runs the pod and checks every expectation once each failing liveness probe has
/// restarted its container: by then every probe has run several times, so "not ready"
/// and "not restarted" are observations, not "not yet".
pub fn probe_scenario(
    a: &TestAgent,
    name: &str,
    timeout: Duration,
    cases: &[Case],
) -> anyhow::Result<Value> {
    let containers: Vec<String> = cases.iter().map(|c| c.yaml.clone()).collect();
    a.write_manifest(name, &pod(name, "", &[], &containers))?;
    let what = format!("{name}'s probes to settle");
    let pod = crate::wait_for(&what, timeout, Duration::from_millis(200), || {
        let pod = a.pod(name)?;
        for Case {
            name: c, expect, ..
        } in cases
        {
            let settled = match expect {
                Expect::Ready | Expect::Lives => is_ready(&pod, c),
                Expect::NotReady => is_running(&pod, c),
                Expect::Restarted => restart_count(&pod, c) >= Some(1),
            };
            ensure!(settled, "{c} ({expect:?}) not yet: {}", statuses(&pod));
        }
        Ok(pod)
    })?;
    for Case {
        name: c, expect, ..
    } in cases
    {
        let restarts = restart_count(&pod, c);
        let ok = match expect {
            Expect::Ready | Expect::Lives => is_ready(&pod, c) && restarts == Some(0),
            Expect::NotReady => !is_ready(&pod, c) && is_running(&pod, c) && restarts == Some(0),
            Expect::Restarted => last_terminated(&pod, c).is_some(),
        };
        ensure!(ok, "{c} is not {expect:?}: {}", statuses(&pod));
    }
    if cases.iter().any(|c| c.expect == Expect::NotReady) {
        ensure!(!pod_ready(&pod), "pod Ready with a failing readiness probe");
    }
    println!("{name}: {}", statuses(&pod));
    Ok(pod)
}

/// `name: ready=.. restarts=.. state=..` for every app container, for messages.
pub fn statuses(pod: &Value) -> String {
    let all = pod["status"]["containerStatuses"].as_array().cloned();
    let parts: Vec<String> = all
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let state = s["state"]
                .as_object()
                .and_then(|o| o.keys().next().cloned());
            format!(
                "{}: ready={} restarts={} state={}",
                s["name"].as_str().unwrap_or("?"),
                s["ready"],
                s["restartCount"],
                state.unwrap_or_default()
            )
        })
        .collect();
    parts.join(", ")
}
