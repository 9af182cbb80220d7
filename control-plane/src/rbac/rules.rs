//! Whether one RBAC rule grants one request, as Kubernetes' RBAC authorizer matches them
//! (`pkg/apis/rbac/v1/evaluation_helpers.go`): `*` for any verb, group, resource or URL,
//! `*/sub` for a subresource of any resource, `resourceNames` narrowing to named
//! objects, a trailing `*` on a non-resource URL matching a prefix.

use k8s_openapi::api::rbac::v1::{PolicyRule, Subject};

/// What a request asks to do, as kube-apiserver's `authorizer.Attributes` say it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub user: String,
    pub groups: Vec<String>,
    /// get, list, watch, create, update, patch, delete, deletecollection (resources);
    /// the HTTP method in lower case (non-resource paths).
    pub verb: String,
    /// `false` for non-resource paths (`/version`, `/api`, `/healthz`).
    pub resource_request: bool,
    /// "" for cluster-wide requests.
    pub namespace: String,
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The request path, for non-resource requests.
    pub path: String,
}

impl Attributes {
    /// `pods/log`, or `pods`.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

fn has_or_star(list: &[String], wanted: &str) -> bool {
    list.iter().any(|item| item == "*" || item == wanted)
}

fn list(field: &Option<Vec<String>>) -> &[String] {
    field.as_deref().unwrap_or_default()
}

/// `true` when `rule` grants the request described by `attrs`.
pub fn allows(rule: &PolicyRule, attrs: &Attributes) -> bool {
    if !has_or_star(&rule.verbs, &attrs.verb) {
        return false;
    }
    if !attrs.resource_request {
        return list(&rule.non_resource_urls)
            .iter()
            .any(|url| url_matches(url, &attrs.path));
    }
    has_or_star(list(&rule.api_groups), &attrs.api_group)
        && resource_matches(list(&rule.resources), attrs)
        && name_matches(list(&rule.resource_names), &attrs.name)
}

fn resource_matches(resources: &[String], attrs: &Attributes) -> bool {
    let combined = attrs.combined_resource();
    resources.iter().any(|r| {
        r == "*"
            || *r == combined
            || (!attrs.subresource.is_empty()
                && r.strip_prefix("*/") == Some(attrs.subresource.as_str()))
    })
}

/// No names: any object; else only those (a list, with no name, matches none).
fn name_matches(names: &[String], name: &str) -> bool {
    names.is_empty() || names.iter().any(|n| n == name)
}

fn url_matches(rule: &str, path: &str) -> bool {
    rule == "*"
        || rule == path
        || rule
            .strip_suffix('*')
            .is_some_and(|prefix| path.starts_with(prefix))
}

/// The user name of a service account, as its tokens authenticate.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Whether a binding's `subject` is the caller; a ServiceAccount subject without a
/// namespace means one in the binding's own (`namespace`).
pub fn applies_to(subject: &Subject, user: &str, groups: &[String], namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => subject.name == user,
        "Group" => groups.contains(&subject.name),
        "ServiceAccount" => {
            let ns = subject
                .namespace
                .as_deref()
                .filter(|ns| !ns.is_empty())
                .unwrap_or(namespace);
            !ns.is_empty() && service_account_user(ns, &subject.name) == user
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
        let own = |l: &[&str]| Some(l.iter().map(|s| s.to_string()).collect());
        PolicyRule {
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            api_groups: own(groups),
            resources: own(resources),
            resource_names: (!names.is_empty()).then(|| own(names)).flatten(),
            non_resource_urls: None,
        }
    }

    fn request(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            user: "alice".into(),
            verb: verb.into(),
            resource_request: true,
            namespace: "default".into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            ..Attributes::default()
        }
    }

    #[test]
    fn verbs_groups_and_resources_match_exactly_or_by_star() {
        let read_pods = rule(&["get", "list"], &[""], &["pods"], &[]);
        assert!(allows(&read_pods, &request("list", "", "pods", "", "")));
        assert!(!allows(&read_pods, &request("create", "", "pods", "", "")));
        assert!(!allows(
            &read_pods,
            &request("list", "apps", "pods", "", "")
        ));
        assert!(!allows(
            &read_pods,
            &request("get", "", "pods", "log", "web")
        ));
        assert!(!allows(
            &read_pods,
            &request("list", "", "services", "", "")
        ));
        let everything = rule(&["*"], &["*"], &["*"], &[]);
        assert!(allows(
            &everything,
            &request("delete", "apps", "deployments", "scale", "d")
        ));
    }

    #[test]
    fn subresources_match_by_name_or_star_slash() {
        let logs = rule(&["get"], &[""], &["pods/log"], &[]);
        assert!(allows(&logs, &request("get", "", "pods", "log", "web")));
        assert!(!allows(&logs, &request("get", "", "pods", "", "web")));
        let any_status = rule(&["get"], &["*"], &["*/status"], &[]);
        assert!(allows(
            &any_status,
            &request("get", "apps", "deployments", "status", "d")
        ));
        assert!(!allows(
            &any_status,
            &request("get", "apps", "deployments", "scale", "d")
        ));
    }

    #[test]
    fn resource_names_narrow_to_named_objects() {
        let one = rule(&["get", "list"], &[""], &["configmaps"], &["settings"]);
        assert!(allows(
            &one,
            &request("get", "", "configmaps", "", "settings")
        ));
        assert!(!allows(
            &one,
            &request("get", "", "configmaps", "", "other")
        ));
        assert!(!allows(&one, &request("list", "", "configmaps", "", "")));
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_prefix() {
        let discovery = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: Some(vec!["/apis/*".into(), "/version".into()]),
            ..PolicyRule::default()
        };
        let path = |verb: &str, path: &str| Attributes {
            verb: verb.into(),
            path: path.into(),
            ..Attributes::default()
        };
        assert!(allows(&discovery, &path("get", "/apis/apps/v1")));
        assert!(allows(&discovery, &path("get", "/version")));
        assert!(!allows(&discovery, &path("get", "/version/x")));
        assert!(!allows(&discovery, &path("post", "/version")));
        assert!(!allows(&discovery, &path("get", "/healthz")));
        // A resource rule never grants a path, nor a URL rule a resource.
        assert!(!allows(
            &rule(&["*"], &["*"], &["*"], &[]),
            &path("get", "/version")
        ));
        assert!(!allows(&discovery, &request("get", "", "pods", "", "")));
    }

    #[test]
    fn subjects_are_users_groups_and_service_accounts() {
        let subject = |kind: &str, name: &str, ns: Option<&str>| Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: ns.map(str::to_string),
            api_group: None,
        };
        let groups = vec!["devs".to_string(), "system:authenticated".to_string()];
        assert!(applies_to(
            &subject("User", "alice", None),
            "alice",
            &groups,
            "a"
        ));
        assert!(!applies_to(
            &subject("User", "bob", None),
            "alice",
            &groups,
            "a"
        ));
        assert!(applies_to(
            &subject("Group", "devs", None),
            "alice",
            &groups,
            "a"
        ));
        let sa = "system:serviceaccount:a:builder";
        assert!(applies_to(
            &subject("ServiceAccount", "builder", None),
            sa,
            &[],
            "a"
        ));
        assert!(applies_to(
            &subject("ServiceAccount", "builder", Some("a")),
            sa,
            &[],
            ""
        ));
        assert!(!applies_to(
            &subject("ServiceAccount", "builder", None),
            sa,
            &[],
            ""
        ));
    }
}
