//! The decision for one request, as kube-apiserver's authorizers make it: members of
//! `system:masters` may do anything; anyone else needs a rule of a role bound to them,
//! by a ClusterRoleBinding (everywhere) or a RoleBinding (in its namespace). Nothing
//! granted is denied.

use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject};

use super::index::{Index, Snapshot};
use super::rules::{allows, applies_to, Attributes};
use skiff_proto::auth::ADMIN_GROUP;

/// Allowed or not, and why (what SelfSubjectAccessReview's `status.reason` says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(String),
    Deny(String),
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }
}

/// Judges requests against the watched RBAC objects.
pub struct Authorizer {
    index: Arc<Index>,
}

/// One binding that applies to the caller: where it is, what it says, the role's rules.
struct Grant<'a> {
    /// `ClusterRoleBinding "x"` or `RoleBinding "x/ns"`, as kube's reasons name them.
    binding: String,
    role_ref: &'a RoleRef,
    subject: &'a Subject,
    rules: &'a [PolicyRule],
}

impl Authorizer {
    pub fn new(index: Arc<Index>) -> Authorizer {
        Authorizer { index }
    }

    pub fn index(&self) -> &Arc<Index> {
        &self.index
    }

    pub fn authorize(&self, attrs: &Attributes) -> Decision {
        if attrs.groups.iter().any(|g| g == ADMIN_GROUP) {
            return Decision::Allow(String::new());
        }
        let snapshot = self.index.snapshot();
        let mut missing = Vec::new();
        let found = grants(
            &snapshot,
            &attrs.user,
            &attrs.groups,
            &attrs.namespace,
            &mut missing,
        )
        .into_iter()
        .find(|grant| grant.rules.iter().any(|rule| allows(rule, attrs)));
        match found {
            Some(grant) => Decision::Allow(format!(
                "RBAC: allowed by {} of {} {:?} to {} {:?}",
                grant.binding,
                grant.role_ref.kind,
                grant.role_ref.name,
                grant.subject.kind,
                grant.subject.name
            )),
            None if missing.is_empty() => Decision::Deny(String::new()),
            None => Decision::Deny(format!("RBAC: [{}]", missing.join(", "))),
        }
    }

    /// Every rule granted to the caller in `namespace` ("" for cluster-wide ones only):
    /// what SelfSubjectRulesReview lists and what escalation checks compare against.
    pub fn rules_for(&self, user: &str, groups: &[String], namespace: &str) -> Vec<PolicyRule> {
        let snapshot = self.index.snapshot();
        let mut missing = Vec::new();
        let mut rules: Vec<PolicyRule> = Vec::new();
        for grant in grants(&snapshot, user, groups, namespace, &mut missing) {
            for rule in grant.rules {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
        rules
    }
}

/// The bindings that name the caller, cluster-wide first, then those of `namespace`,
/// with their roles' rules; a binding to a missing role adds to `missing` (kube's
/// reason) and grants nothing.
fn grants<'a>(
    snapshot: &'a Snapshot,
    user: &str,
    groups: &[String],
    namespace: &str,
    missing: &mut Vec<String>,
) -> Vec<Grant<'a>> {
    let mut found = Vec::new();
    for (name, binding) in &snapshot.cluster_role_bindings {
        let Some(subject) = binding
            .subjects
            .iter()
            .flatten()
            .find(|s| applies_to(s, user, groups, ""))
        else {
            continue;
        };
        match cluster_role_rules(snapshot, &binding.role_ref.name) {
            Some(rules) => found.push(Grant {
                binding: format!("ClusterRoleBinding {name:?}"),
                role_ref: &binding.role_ref,
                subject,
                rules,
            }),
            None => missing.push(format!(
                "clusterrole.rbac.authorization.k8s.io {:?} not found",
                binding.role_ref.name
            )),
        }
    }
    if !namespace.is_empty() {
        for ((ns, name), binding) in snapshot
            .role_bindings
            .range((namespace.to_string(), String::new())..)
            .take_while(|((ns, _), _)| ns == namespace)
        {
            let Some(subject) = binding
                .subjects
                .iter()
                .flatten()
                .find(|s| applies_to(s, user, groups, ns))
            else {
                continue;
            };
            let role = &binding.role_ref;
            let rules = match role.kind.as_str() {
                "ClusterRole" => cluster_role_rules(snapshot, &role.name),
                _ => snapshot
                    .roles
                    .get(&(ns.clone(), role.name.clone()))
                    .map(|r| r.rules.as_deref().unwrap_or_default()),
            };
            match rules {
                Some(rules) => found.push(Grant {
                    binding: format!("RoleBinding \"{name}/{ns}\""),
                    role_ref: role,
                    subject,
                    rules,
                }),
                None => missing.push(format!(
                    "{}.rbac.authorization.k8s.io {:?} not found",
                    role.kind.to_ascii_lowercase(),
                    role.name
                )),
            }
        }
    }
    found
}

fn cluster_role_rules<'a>(snapshot: &'a Snapshot, name: &str) -> Option<&'a [PolicyRule]> {
    snapshot
        .cluster_roles
        .get(name)
        .map(|r| r.rules.as_deref().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    use serde_json::json;

    use super::*;

    fn from<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
        serde_json::from_value(value).unwrap()
    }

    fn authorizer() -> Authorizer {
        let mut s = Snapshot::default();
        let reader: ClusterRole = from(json!({"metadata": {"name": "reader"}, "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}));
        s.cluster_roles.insert("reader".into(), reader);
        let writer: Role = from(
            json!({"metadata": {"name": "writer", "namespace": "a"}, "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}]}),
        );
        s.roles.insert(("a".into(), "writer".into()), writer);
        let devs: ClusterRoleBinding = from(json!({"metadata": {"name": "devs-read"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
            "subjects": [{"kind": "Group", "name": "devs"}]}));
        s.cluster_role_bindings.insert("devs-read".into(), devs);
        for (name, kind, role) in [("w", "Role", "writer"), ("gone", "Role", "missing")] {
            let binding: RoleBinding = from(json!({"metadata": {"name": name, "namespace": "a"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                "subjects": [{"kind": "User", "name": "alice"}]}));
            s.role_bindings.insert(("a".into(), name.into()), binding);
        }
        Authorizer::new(Arc::new(Index::fixed(s)))
    }

    fn ask(user: &str, groups: &[&str], verb: &str, resource: &str, ns: &str) -> Decision {
        authorizer().authorize(&Attributes {
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            verb: verb.into(),
            resource_request: true,
            namespace: ns.into(),
            resource: resource.into(),
            ..Attributes::default()
        })
    }

    #[test]
    fn masters_may_do_anything_and_others_what_bindings_grant() {
        assert!(ask("root", &["system:masters"], "delete", "nodes", "").allowed());
        assert_eq!(
            ask("bob", &["devs"], "list", "pods", "z"),
            Decision::Allow(
                r#"RBAC: allowed by ClusterRoleBinding "devs-read" of ClusterRole "reader" to Group "devs""#
                    .into()
            )
        );
        assert!(ask("alice", &[], "create", "configmaps", "a").allowed());
        // The RoleBinding grants in its namespace only.
        assert!(!ask("alice", &[], "create", "configmaps", "b").allowed());
        assert!(!ask("bob", &["devs"], "create", "configmaps", "a").allowed());
    }

    #[test]
    fn a_binding_to_a_missing_role_grants_nothing_and_says_so() {
        assert_eq!(
            ask("alice", &[], "delete", "pods", "a"),
            Decision::Deny(r#"RBAC: [role.rbac.authorization.k8s.io "missing" not found]"#.into())
        );
        let rules = authorizer().rules_for("alice", &[], "a");
        assert_eq!(rules.len(), 1);
        assert_eq!(
            rules[0].resources.as_deref(),
            Some(&["configmaps".to_string()][..])
        );
    }
}
