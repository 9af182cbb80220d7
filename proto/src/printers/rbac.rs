//! RoleBindings and ClusterRoleBindings: the role they grant and, wide, who to. (Roles
//! and ClusterRoles print NAME, CREATED AT: the default table, as in kube-apiserver.)

use jiff::Timestamp;
use serde_json::Value;

use super::age::age;
use super::fields::{items, text};
use super::Column;

const ROLE_BINDING_ROLE: &str = "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.";
const CLUSTER_ROLE_BINDING_ROLE: &str = "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.";

const fn binding_columns(role: &'static str) -> [Column; 6] {
    [
        Column::name(),
        Column::text("Role", role),
        Column::age(),
        Column::text("Users", "Users in the roleBinding").wide(),
        Column::text("Groups", "Groups in the roleBinding").wide(),
        Column::text("ServiceAccounts", "ServiceAccounts in the roleBinding").wide(),
    ]
}

pub const ROLE_BINDING: &[Column] = &binding_columns(ROLE_BINDING_ROLE);
pub const CLUSTER_ROLE_BINDING: &[Column] = &binding_columns(CLUSTER_ROLE_BINDING_ROLE);

/// The cells of either binding: `Kind/name` of the role, then users, groups and
/// service accounts (`namespace/name`) joined as kubectl joins them.
pub fn binding(o: &Value, now: Timestamp) -> Vec<Value> {
    let of = |kind: &str| {
        items(o, "/subjects")
            .filter(|s| text(s, "/kind") == kind)
            .map(|s| match kind {
                "ServiceAccount" => format!("{}/{}", text(s, "/namespace"), text(s, "/name")),
                _ => text(s, "/name"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        text(o, "/metadata/name").into(),
        format!("{}/{}", text(o, "/roleRef/kind"), text(o, "/roleRef/name")).into(),
        age(o, now),
        of("User").into(),
        of("Group").into(),
        of("ServiceAccount").into(),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bindings_print_their_role_and_subjects() {
        let o = json!({
            "metadata": {"name": "read", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "User", "name": "alice"},
                {"kind": "User", "name": "bob"},
                {"kind": "Group", "name": "devs"},
                {"kind": "ServiceAccount", "name": "default", "namespace": "a"},
            ],
        });
        let now: Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        let cells = binding(&o, now);
        assert_eq!(cells[1], "ClusterRole/view");
        assert_eq!(cells[2], "5m");
        assert_eq!(cells[3], "alice, bob");
        assert_eq!(cells[4], "devs");
        assert_eq!(cells[5], "a/default");
        assert_eq!(ROLE_BINDING.len(), 6);
        assert_eq!(ROLE_BINDING[3].priority, 1);
    }
}
