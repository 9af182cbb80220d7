//! A container's `env` and `envFrom`, and the downward API's field paths, as the API
//! server checks them: what the agent cannot resolve is refused at apply rather than
//! leaving the container in CreateContainerConfigError (agent/src/pods/env/).

use k8s_openapi::api::core::v1::{
    Container, EnvFromSource, EnvVar, ObjectFieldSelector, ResourceFieldSelector,
};

use super::{validate_config_key, validate_dns1123_subdomain, FieldError};
use crate::model::quantity::parse_quantity;

/// What `env[].valueFrom.fieldRef.fieldPath` may name (Kubernetes' list, minus
/// nothing: the agent resolves each).
pub const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// What a `downwardAPI` volume item's `fieldRef.fieldPath` may name.
pub const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];

pub const RESOURCE_FIELDS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

pub(super) fn validate_env(path: &str, c: &Container, errors: &mut Vec<FieldError>) {
    for (i, var) in c.env.iter().flatten().enumerate() {
        validate_env_var(&format!("{path}.env[{i}]"), var, errors);
    }
    for (i, source) in c.env_from.iter().flatten().enumerate() {
        validate_env_from(&format!("{path}.envFrom[{i}]"), source, errors);
    }
}

/// Kubernetes' relaxed rule: any printable ASCII but '='.
fn validate_env_name(path: &str, name: &str, errors: &mut Vec<FieldError>) {
    if name.is_empty() {
        errors.push(FieldError::required(path, ""));
    } else if !name
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'=')
    {
        errors.push(FieldError::invalid(
            path,
            name,
            "a valid environment variable name must consist only of printable ASCII \
             characters other than '='",
        ));
    }
}

fn validate_env_var(at: &str, var: &EnvVar, errors: &mut Vec<FieldError>) {
    validate_env_name(&format!("{at}.name"), &var.name, errors);
    let Some(from) = &var.value_from else {
        return;
    };
    let here = format!("{at}.valueFrom");
    if var.value.as_deref().is_some_and(|v| !v.is_empty()) {
        errors.push(FieldError::invalid(
            &here,
            "",
            "may not be specified when `value` is not empty",
        ));
    }
    let set = [
        from.field_ref.is_some(),
        from.resource_field_ref.is_some(),
        from.config_map_key_ref.is_some(),
        from.secret_key_ref.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count();
    match set {
        0 => errors.push(FieldError::invalid(
            &here,
            "",
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or \
             `secretKeyRef`",
        )),
        1 => {}
        _ => errors.push(FieldError::invalid(
            &here,
            "",
            "may not have more than one field specified at a time",
        )),
    }
    if let Some(field) = &from.field_ref {
        validate_field_ref(&format!("{here}.fieldRef"), field, ENV_FIELD_PATHS, errors);
    }
    if let Some(resource) = &from.resource_field_ref {
        validate_resource_ref(&format!("{here}.resourceFieldRef"), resource, false, errors);
    }
    let key_refs = [
        (
            "configMapKeyRef",
            from.config_map_key_ref.as_ref().map(|r| (&r.name, &r.key)),
        ),
        (
            "secretKeyRef",
            from.secret_key_ref.as_ref().map(|r| (&r.name, &r.key)),
        ),
    ];
    for (field, names) in key_refs {
        let Some((name, key)) = names else { continue };
        let sub = format!("{here}.{field}");
        if name.is_empty() {
            errors.push(FieldError::required(&format!("{sub}.name"), ""));
        }
        if key.is_empty() {
            errors.push(FieldError::required(&format!("{sub}.key"), ""));
        } else {
            errors.extend(validate_config_key(&format!("{sub}.key"), key));
        }
    }
}

fn validate_env_from(at: &str, source: &EnvFromSource, errors: &mut Vec<FieldError>) {
    if let Some(prefix) = source.prefix.as_deref().filter(|p| !p.is_empty()) {
        validate_env_name(&format!("{at}.prefix"), prefix, errors);
    }
    let refs = [
        (
            "configMapRef",
            source.config_map_ref.as_ref().map(|r| &r.name),
        ),
        ("secretRef", source.secret_ref.as_ref().map(|r| &r.name)),
    ];
    let set: Vec<_> = refs.iter().filter(|(_, r)| r.is_some()).collect();
    match set.len() {
        0 => errors.push(FieldError::invalid(
            at,
            "",
            "must specify one of: `configMapRef` or `secretRef`",
        )),
        1 => {}
        _ => errors.push(FieldError::invalid(
            at,
            "",
            "may not have more than one field specified at a time",
        )),
    }
    for (field, name) in set {
        let Some(name) = name else { continue };
        let here = format!("{at}.{field}.name");
        if name.is_empty() {
            errors.push(FieldError::required(&here, ""));
        } else {
            errors.extend(validate_dns1123_subdomain(&here, name));
        }
    }
}

/// `metadata.labels['k']` and `metadata.annotations['k']` name one entry; the rest must
/// be in `supported`.
pub(super) fn validate_field_ref(
    at: &str,
    field: &ObjectFieldSelector,
    supported: &[&str],
    errors: &mut Vec<FieldError>,
) {
    if let Some(version) = field.api_version.as_deref().filter(|v| !v.is_empty()) {
        if version != "v1" {
            errors.push(FieldError::unsupported(
                &format!("{at}.apiVersion"),
                version,
                &["v1"],
            ));
        }
    }
    let path = field.field_path.as_str();
    let here = format!("{at}.fieldPath");
    if path.is_empty() {
        errors.push(FieldError::required(&here, ""));
        return;
    }
    let subscripted = ["metadata.labels", "metadata.annotations"]
        .iter()
        .any(|prefix| {
            path.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix("['"))
                .and_then(|rest| rest.strip_suffix("']"))
                .is_some_and(|key| !key.is_empty())
        });
    if !subscripted && !supported.contains(&path) {
        errors.push(FieldError::unsupported(&here, path, supported));
    }
}

/// A volume item must name its container; an env var may (it defaults to its own).
pub(super) fn validate_resource_ref(
    at: &str,
    resource: &ResourceFieldSelector,
    container_required: bool,
    errors: &mut Vec<FieldError>,
) {
    if container_required && resource.container_name.as_deref().is_none_or(str::is_empty) {
        errors.push(FieldError::required(&format!("{at}.containerName"), ""));
    }
    if resource.resource.is_empty() {
        errors.push(FieldError::required(&format!("{at}.resource"), ""));
    } else if !RESOURCE_FIELDS.contains(&resource.resource.as_str()) {
        errors.push(FieldError::unsupported(
            &format!("{at}.resource"),
            &resource.resource,
            RESOURCE_FIELDS,
        ));
    }
    if let Some(divisor) = &resource.divisor {
        if !matches!(parse_quantity(&divisor.0), Ok(v) if v > 0) {
            errors.push(FieldError::invalid(
                &format!("{at}.divisor"),
                divisor.0.as_str(),
                "must be a positive quantity",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ConfigMapEnvSource, ConfigMapKeySelector, EnvVarSource};

    use super::*;

    fn errors_of(c: &Container) -> Vec<String> {
        let mut errors = Vec::new();
        validate_env("spec.containers[0]", c, &mut errors);
        errors.iter().map(ToString::to_string).collect()
    }

    fn field(path: &str) -> EnvVar {
        EnvVar {
            name: "X".into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: path.into(),
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn supported_sources_pass() {
        let c = Container {
            env: Some(vec![
                field("metadata.name"),
                field("metadata.labels['app']"),
                field("status.podIPs"),
                EnvVar {
                    name: "K".into(),
                    value: None,
                    value_from: Some(EnvVarSource {
                        config_map_key_ref: Some(ConfigMapKeySelector {
                            name: "cm".into(),
                            key: "game.properties".into(),
                            optional: None,
                        }),
                        ..Default::default()
                    }),
                },
            ]),
            env_from: Some(vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: "cm".into(),
                    optional: None,
                }),
                prefix: Some("CM_".into()),
                secret_ref: None,
            }]),
            ..Default::default()
        };
        assert_eq!(errors_of(&c), Vec::<String>::new());
    }

    #[test]
    fn what_the_agent_cannot_resolve_is_refused_with_its_path() {
        let c = Container {
            env: Some(vec![
                field("spec.hostname"),
                EnvVar {
                    name: "A=B".into(),
                    value: Some("x".into()),
                    value_from: Some(EnvVarSource::default()),
                },
            ]),
            env_from: Some(vec![EnvFromSource::default()]),
            ..Default::default()
        };
        let errors = errors_of(&c);
        assert!(
            errors[0].starts_with(
                "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: \
                 \"spec.hostname\""
            ),
            "{errors:?}"
        );
        assert!(errors[1].starts_with("spec.containers[0].env[1].name: Invalid value"));
        assert!(errors[2].contains("may not be specified when `value` is not empty"));
        assert!(errors[3].contains("must specify one of: `fieldRef`"));
        assert!(errors[4].starts_with("spec.containers[0].envFrom[0]: Invalid value"));
        assert_eq!(errors.len(), 5, "{errors:?}");
    }
}
