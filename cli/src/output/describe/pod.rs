//! `describe pod`, in kubectl's layout: the same text from the control plane and an agent.

use std::fmt::Write;

use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Pod};

pub fn describe_pod(pod: &Pod) -> String {
    let m = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let mut s = String::new();
    let field = |s: &mut String, k: &str, v: &str| {
        let _ = writeln!(
            s,
            "{:<14}{}",
            format!("{k}:"),
            if v.is_empty() { "<none>" } else { v }
        );
    };
    field(&mut s, "Name", m.name.as_deref().unwrap_or(""));
    field(
        &mut s,
        "Namespace",
        m.namespace.as_deref().unwrap_or("default"),
    );
    field(&mut s, "Node", spec.node_name.as_deref().unwrap_or(""));
    field(
        &mut s,
        "Start Time",
        &status
            .start_time
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
    );
    field(&mut s, "Labels", &pairs(m.labels.as_ref()));
    field(&mut s, "Annotations", &pairs(m.annotations.as_ref()));
    field(&mut s, "Status", status.phase.as_deref().unwrap_or(""));
    field(&mut s, "IP", status.pod_ip.as_deref().unwrap_or(""));
    field(&mut s, "UID", m.uid.as_deref().unwrap_or(""));
    let statuses: Vec<ContainerStatus> = status.container_statuses.clone().unwrap_or_default();
    let _ = writeln!(s, "Containers:");
    for c in &spec.containers {
        let st = statuses.iter().find(|x| x.name == c.name);
        let _ = writeln!(s, "  {}:", c.name);
        let _ = writeln!(
            s,
            "    Container ID:  {}",
            st.and_then(|x| x.container_id.clone()).unwrap_or_default()
        );
        let _ = writeln!(s, "    Image:         {}", c.image.as_deref().unwrap_or(""));
        let _ = writeln!(
            s,
            "    Image ID:      {}",
            st.map(|x| x.image_id.clone()).unwrap_or_default()
        );
        if let Some(state) = st.and_then(|x| x.state.as_ref()) {
            let _ = write!(s, "{}", state_lines("State", state));
        }
        if let Some(last) = st.and_then(|x| x.last_state.as_ref()) {
            let _ = write!(s, "{}", state_lines("Last State", last));
        }
        let _ = writeln!(
            s,
            "    Ready:         {}",
            st.map(|x| x.ready).unwrap_or(false)
        );
        let _ = writeln!(
            s,
            "    Restart Count: {}",
            st.map(|x| x.restart_count).unwrap_or(0)
        );
        s.push_str(&super::env::env_lines(pod, c));
    }
    let _ = writeln!(s, "Conditions:\n  Type              Status");
    for c in status.conditions.iter().flatten() {
        let _ = writeln!(s, "  {:<17} {}", c.type_, c.status);
    }
    s
}

fn state_lines(label: &str, st: &ContainerState) -> String {
    let mut s = String::new();
    let head = format!("    {label}:");
    if let Some(r) = &st.running {
        let _ = writeln!(s, "{head:<19}Running");
        let _ = writeln!(
            s,
            "      Started:     {}",
            r.started_at
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default()
        );
    } else if let Some(w) = &st.waiting {
        let _ = writeln!(s, "{head:<19}Waiting");
        let _ = writeln!(
            s,
            "      Reason:      {}",
            w.reason.as_deref().unwrap_or("")
        );
        if let Some(msg) = &w.message {
            let _ = writeln!(s, "      Message:     {msg}");
        }
    } else if let Some(t) = &st.terminated {
        let _ = writeln!(s, "{head:<19}Terminated");
        let _ = writeln!(
            s,
            "      Reason:      {}",
            t.reason.as_deref().unwrap_or("")
        );
        let _ = writeln!(s, "      Exit Code:   {}", t.exit_code);
        let _ = writeln!(
            s,
            "      Finished:    {}",
            t.finished_at
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default()
        );
    }
    s
}

pub fn pairs(map: Option<&std::collections::BTreeMap<String, String>>) -> String {
    map.map(|m| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n              ")
    })
    .unwrap_or_default()
}
