//! A container's own environment as the kubelet computes it before the runtime sees it:
//! `env` entries in order, each `$(VAR)`-expanded against the ones before it (the kubelet
//! never knows the image's environment).
//!
//! Not resolved yet: `valueFrom` and `envFrom` (their entries are left out).

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Container;

use crate::containerd::container::expand;

/// The container's plain `env` values, expanded.
pub fn plain_env(container: &Container) -> Vec<(String, String)> {
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for var in container.env.iter().flatten() {
        let Some(raw) = var
            .value
            .as_deref()
            .or(var.value_from.is_none().then_some(""))
        else {
            continue;
        };
        let value = expand(raw, &seen);
        seen.insert(var.name.clone(), value.clone());
        out.push((var.name.clone(), value));
    }
    out
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource};

    use super::*;

    fn var(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            value_from: None,
        }
    }

    #[test]
    fn later_entries_expand_earlier_ones_only() {
        let c = Container {
            name: "c".into(),
            env: Some(vec![
                var("A", "container"),
                var("B", "$(A)-b"),
                var("C", "$(PATH)"),
                EnvVar {
                    name: "FROM_SECRET".into(),
                    value: None,
                    value_from: Some(EnvVarSource::default()),
                },
            ]),
            ..Default::default()
        };
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            plain_env(&c),
            pairs(&[("A", "container"), ("B", "container-b"), ("C", "$(PATH)")])
        );
    }
}
