//! Roles, ClusterRoles and their bindings, as the API server validates them
//! (`pkg/apis/rbac/validation`): names are path segments (RBAC names such as
//! `system:basic-user` are no DNS names), every rule has verbs and either resources with
//! API groups or, in ClusterRoles only, non-resource URLs; a binding refers to a role
//! of a kind it may name and to subjects of the three kinds.

use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject};

use super::{validate_dns1123_subdomain, validate_label_selector, FieldError};

/// The group a roleRef and User or Group subjects name.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// What a name that is a path segment may not be or contain, in the API server's words.
pub(super) fn validate_path_segment(path: &str, name: &str) -> Vec<FieldError> {
    if name == "." || name == ".." {
        return vec![FieldError::invalid(
            path,
            name,
            format!("may not be '{name}'"),
        )];
    }
    ["/", "%"]
        .iter()
        .filter(|bad| name.contains(**bad))
        .map(|bad| FieldError::invalid(path, name, format!("may not contain '{bad}'")))
        .collect()
}

/// The rules of a Role (`namespaced`) or ClusterRole, under `path` ("rules").
pub(super) fn validate_rules(
    path: &str,
    rules: Option<&Vec<PolicyRule>>,
    namespaced: bool,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, rule) in rules.into_iter().flatten().enumerate() {
        let at = |field: &str| format!("{path}[{i}].{field}");
        let has = |list: &Option<Vec<String>>| list.as_ref().is_some_and(|l| !l.is_empty());
        if rule.verbs.is_empty() {
            errors.push(FieldError::required(
                &at("verbs"),
                "verbs must contain at least one value",
            ));
        }
        if let Some(urls) = rule.non_resource_urls.as_ref().filter(|u| !u.is_empty()) {
            if namespaced {
                errors.push(FieldError::invalid(
                    &at("nonResourceURLs"),
                    urls.clone(),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if has(&rule.api_groups) || has(&rule.resources) || has(&rule.resource_names) {
                errors.push(FieldError::invalid(
                    &at("nonResourceURLs"),
                    urls.clone(),
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if !has(&rule.api_groups) {
            errors.push(FieldError::required(
                &at("apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if !has(&rule.resources) {
            errors.push(FieldError::required(
                &at("resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    errors
}

/// A ClusterRole's `aggregationRule`: its selectors are label selectors.
pub(super) fn validate_aggregation(
    rule: Option<&k8s_openapi::api::rbac::v1::AggregationRule>,
) -> Vec<FieldError> {
    rule.and_then(|r| r.cluster_role_selectors.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
        .flat_map(|(i, s)| {
            validate_label_selector(&format!("aggregationRule.clusterRoleSelectors[{i}]"), s)
        })
        .collect()
}

/// A binding's roleRef and subjects; a RoleBinding (`namespaced`) may name a Role or a
/// ClusterRole, a ClusterRoleBinding only a ClusterRole and namespaced subjects only.
pub(super) fn validate_binding(
    role_ref: &RoleRef,
    subjects: Option<&Vec<Subject>>,
    namespaced: bool,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if role_ref.api_group != RBAC_GROUP {
        errors.push(FieldError::unsupported(
            "roleRef.apiGroup",
            &role_ref.api_group,
            &[RBAC_GROUP],
        ));
    }
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&role_ref.kind.as_str()) {
        errors.push(FieldError::unsupported(
            "roleRef.kind",
            &role_ref.kind,
            kinds,
        ));
    }
    if role_ref.name.is_empty() {
        errors.push(FieldError::required("roleRef.name", ""));
    } else {
        errors.extend(validate_path_segment("roleRef.name", &role_ref.name));
    }
    for (i, subject) in subjects.into_iter().flatten().enumerate() {
        errors.extend(validate_subject(
            &format!("subjects[{i}]"),
            subject,
            namespaced,
        ));
    }
    errors
}

fn validate_subject(path: &str, subject: &Subject, namespaced: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let at = |field: &str| format!("{path}.{field}");
    if subject.name.is_empty() {
        errors.push(FieldError::required(&at("name"), ""));
    }
    let group = subject.api_group.as_deref().unwrap_or_default();
    match subject.kind.as_str() {
        "ServiceAccount" => {
            if !subject.name.is_empty() {
                errors.extend(validate_dns1123_subdomain(&at("name"), &subject.name));
            }
            if !group.is_empty() {
                errors.push(FieldError::unsupported(&at("apiGroup"), group, &[""]));
            }
            if !namespaced && subject.namespace.as_deref().unwrap_or_default().is_empty() {
                errors.push(FieldError::required(&at("namespace"), ""));
            }
        }
        "User" | "Group" => {
            if group != RBAC_GROUP {
                errors.push(FieldError::unsupported(
                    &at("apiGroup"),
                    group,
                    &[RBAC_GROUP],
                ));
            }
        }
        other => errors.push(FieldError::unsupported(
            &at("kind"),
            other,
            &["ServiceAccount", "User", "Group"],
        )),
    }
    errors
}

/// A binding's `roleRef` is fixed once made (delete and recreate the binding instead),
/// as the API server's `ValidateRoleBindingUpdate` has it. Other kinds pass.
pub fn validate_role_ref_update(
    kind: &str,
    old: &serde_json::Value,
    new: &serde_json::Value,
) -> Vec<FieldError> {
    if !matches!(kind, "RoleBinding" | "ClusterRoleBinding") {
        return Vec::new();
    }
    match (old.get("roleRef"), new.get("roleRef")) {
        (Some(before), Some(after)) if before != after => vec![FieldError::invalid(
            "roleRef",
            after.clone(),
            "cannot change roleRef",
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{decode_documents, default_object, validate_object};

    fn errors(yaml: &str) -> String {
        let mut object = decode_documents("t", yaml).unwrap().remove(0);
        default_object(&mut object);
        validate_object(&object)
            .map(|()| String::new())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn roles_with_colons_in_their_names_and_good_rules_pass() {
        let yaml = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: system:reader\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n- nonResourceURLs: [\"/healthz\"]\n  verbs: [get]\n";
        assert_eq!(errors(yaml), "");
    }

    #[test]
    fn rules_need_verbs_groups_and_resources() {
        let yaml = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\n  namespace: a\nrules:\n- resources: [pods]\n  verbs: []\n- nonResourceURLs: [\"/x\"]\n  verbs: [get]\n";
        let text = errors(yaml);
        assert!(
            text.contains("rules[0].verbs: Required value: verbs must contain at least one value"),
            "{text}"
        );
        assert!(text.contains("rules[0].apiGroups: Required value: resource rules must supply at least one api group"), "{text}");
        assert!(text.contains("rules[1].nonResourceURLs: Invalid value: [\"/x\"]: namespaced rules cannot apply to non-resource URLs"), "{text}");
    }

    #[test]
    fn bindings_name_a_role_of_a_kind_they_may_name_and_known_subjects() {
        let yaml = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: b\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: x/y\nsubjects:\n- kind: ServiceAccount\n  name: default\n- kind: Robot\n  name: r2\n";
        let text = errors(yaml);
        assert!(
            text.contains(
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""
            ),
            "{text}"
        );
        assert!(
            text.contains("roleRef.name: Invalid value: \"x/y\": may not contain '/'"),
            "{text}"
        );
        assert!(
            text.contains("subjects[0].namespace: Required value"),
            "{text}"
        );
        assert!(
            text.contains("subjects[1].kind: Unsupported value: \"Robot\""),
            "{text}"
        );
        let ok = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: b\n  namespace: a\nroleRef:\n  kind: ClusterRole\n  name: view\nsubjects:\n- kind: User\n  name: alice\n";
        assert_eq!(errors(ok), "");
    }
}
