//! What a pod asks of a node: cpu (millicores) and memory (bytes), computed as the
//! Kubernetes scheduler does.
//!
//! - A container's request is its `requests`, or its `limits` when it has no request
//!   (the API server defaults requests to limits).
//! - App containers run together: their requests add up. Init containers run one at a
//!   time before them, so the pod needs the largest of them; sidecars (init containers
//!   with `restartPolicy: Always`) keep running and add up with everything after them.
//! - `spec.overhead` (RuntimeClass overhead) comes on top.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use skiff_proto::model::{to_bytes, to_millicores};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    pub cpu: u64,
    pub memory: u64,
}

impl Requests {
    pub fn plus(self, other: Requests) -> Requests {
        Requests {
            cpu: self.cpu.saturating_add(other.cpu),
            memory: self.memory.saturating_add(other.memory),
        }
    }

    fn max(self, other: Requests) -> Requests {
        Requests {
            cpu: self.cpu.max(other.cpu),
            memory: self.memory.max(other.memory),
        }
    }

    fn of(map: &BTreeMap<String, Quantity>) -> Requests {
        Requests {
            cpu: map.get("cpu").and_then(to_millicores).unwrap_or(0),
            memory: map.get("memory").and_then(to_bytes).unwrap_or(0),
        }
    }
}

fn container_requests(container: &Container) -> Requests {
    let Some(resources) = &container.resources else {
        return Requests::default();
    };
    let requests = resources
        .requests
        .as_ref()
        .map(Requests::of)
        .unwrap_or_default();
    let limits = resources
        .limits
        .as_ref()
        .map(Requests::of)
        .unwrap_or_default();
    Requests {
        cpu: if requests.cpu > 0 {
            requests.cpu
        } else {
            limits.cpu
        },
        memory: if requests.memory > 0 {
            requests.memory
        } else {
            limits.memory
        },
    }
}

/// What `pod` needs of a node to be scheduled there.
pub fn pod_requests(pod: &Pod) -> Requests {
    let Some(spec) = &pod.spec else {
        return Requests::default();
    };
    let mut sidecars = Requests::default();
    let mut init_peak = Requests::default();
    for init in spec.init_containers.iter().flatten() {
        let wanted = container_requests(init);
        if init.restart_policy.as_deref() == Some("Always") {
            sidecars = sidecars.plus(wanted);
            init_peak = init_peak.max(sidecars);
        } else {
            init_peak = init_peak.max(sidecars.plus(wanted));
        }
    }
    let apps = spec
        .containers
        .iter()
        .map(container_requests)
        .fold(Requests::default(), Requests::plus);
    let overhead = spec.overhead.as_ref().map(Requests::of).unwrap_or_default();
    apps.plus(sidecars).max(init_peak).plus(overhead)
}
