//! RBAC defaults, as Kubernetes' `rbac/v1` `SetDefaults_*`: a binding's `roleRef.apiGroup`
//! and a subject's `apiGroup` ("" for ServiceAccounts, the RBAC group for users and
//! groups), so stored bindings always name them.

use k8s_openapi::api::rbac::v1::{RoleRef, Subject};

/// The group of Roles and ClusterRoles, and of User and Group subjects.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

pub(super) fn default_binding(role_ref: &mut RoleRef, subjects: Option<&mut Vec<Subject>>) {
    if role_ref.api_group.is_empty() {
        role_ref.api_group = RBAC_GROUP.to_string();
    }
    for subject in subjects.into_iter().flatten() {
        if subject.api_group.is_none() {
            subject.api_group = Some(match subject.kind.as_str() {
                "ServiceAccount" => String::new(),
                "User" | "Group" => RBAC_GROUP.to_string(),
                _ => continue,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_get_their_group() {
        let mut role_ref = RoleRef {
            api_group: String::new(),
            kind: "ClusterRole".into(),
            name: "view".into(),
        };
        let subject = |kind: &str| Subject {
            kind: kind.into(),
            name: "x".into(),
            ..Subject::default()
        };
        let mut subjects = vec![subject("User"), subject("ServiceAccount"), subject("Group")];
        default_binding(&mut role_ref, Some(&mut subjects));
        assert_eq!(role_ref.api_group, RBAC_GROUP);
        let groups: Vec<_> = subjects.iter().map(|s| s.api_group.as_deref()).collect();
        assert_eq!(groups, [Some(RBAC_GROUP), Some(""), Some(RBAC_GROUP)]);
    }
}
