//! No one grants what they do not hold, as Kubernetes' RBAC registry checks it
//! (`pkg/registry/rbac/validation`): a Role's rules, or the rules of the role a binding
//! names, must each be covered by the writer's own rules, unless the writer may
//! `escalate` (roles) or `bind` (that role), or is in `system:masters`.

use k8s_openapi::api::rbac::v1::PolicyRule;

fn strings(field: &Option<Vec<String>>) -> &[String] {
    field.as_deref().unwrap_or_default()
}

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == item)
}

/// One verb on one resource of one group (and one name, or any), or one verb on one
/// URL: the pieces a rule is broken into to compare it.
fn atoms(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |s: &String| Some(vec![s.clone()]);
    let mut out = Vec::new();
    for verb in &rule.verbs {
        for group in strings(&rule.api_groups) {
            for resource in strings(&rule.resources) {
                let base = PolicyRule {
                    verbs: vec![verb.clone()],
                    api_groups: one(group),
                    resources: one(resource),
                    ..PolicyRule::default()
                };
                match strings(&rule.resource_names) {
                    [] => out.push(base),
                    names => out.extend(names.iter().map(|n| PolicyRule {
                        resource_names: one(n),
                        ..base.clone()
                    })),
                }
            }
        }
        for url in strings(&rule.non_resource_urls) {
            out.push(PolicyRule {
                verbs: vec![verb.clone()],
                non_resource_urls: one(url),
                ..PolicyRule::default()
            });
        }
    }
    out
}

/// Whether `owner` grants everything the single-valued `atom` does (kube's `ruleCovers`).
fn covers(owner: &PolicyRule, atom: &PolicyRule) -> bool {
    let all = |set: &[String], wanted: &[String], star: &str| {
        has(set, star) || wanted.iter().all(|w| has(set, w))
    };
    let resources = strings(&owner.resources);
    let resources_ok = has(resources, "*")
        || strings(&atom.resources).iter().all(|r| {
            has(resources, r)
                || r.find('/')
                    .is_some_and(|i| has(resources, &format!("*{}", &r[i..])))
        });
    let urls_ok = strings(&atom.non_resource_urls).iter().all(|path| {
        strings(&owner.non_resource_urls).iter().any(|o| {
            o == path
                || o.strip_suffix('*')
                    .is_some_and(|prefix| path.starts_with(prefix))
        })
    });
    let owner_names = strings(&owner.resource_names);
    let names_ok = owner_names.is_empty()
        || (!strings(&atom.resource_names).is_empty()
            && strings(&atom.resource_names)
                .iter()
                .all(|n| has(owner_names, n)));
    all(&owner.verbs, &atom.verbs, "*")
        && all(strings(&owner.api_groups), strings(&atom.api_groups), "*")
        && resources_ok
        && urls_ok
        && names_ok
}

/// The pieces of `wanted` that no rule of `held` covers (empty: no escalation).
pub fn not_held(held: &[PolicyRule], wanted: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut missing: Vec<PolicyRule> = Vec::new();
    for atom in wanted.iter().flat_map(atoms) {
        if !held.iter().any(|h| covers(h, &atom)) && !missing.contains(&atom) {
            missing.push(atom);
        }
    }
    missing
}

/// A rule as kube's `CompactString` writes it: `{APIGroups:[""], Resources:["pods"], Verbs:["create"]}`.
pub fn compact(rule: &PolicyRule) -> String {
    let list = |name: &str, items: &[String]| {
        let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
        format!("{name}:[{}]", quoted.join(" "))
    };
    let mut parts = Vec::new();
    for (name, items) in [
        ("APIGroups", strings(&rule.api_groups)),
        ("Resources", strings(&rule.resources)),
        ("ResourceNames", strings(&rule.resource_names)),
        ("NonResourceURLs", strings(&rule.non_resource_urls)),
    ] {
        if !items.is_empty() {
            parts.push(list(name, items));
        }
    }
    parts.push(list("Verbs", &rule.verbs));
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
        let own = |l: &[&str]| Some(l.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        PolicyRule {
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            api_groups: own(groups),
            resources: own(resources),
            resource_names: (!names.is_empty()).then(|| own(names)).flatten(),
            non_resource_urls: None,
        }
    }

    #[test]
    fn what_is_held_may_be_granted_and_nothing_more() {
        let held = vec![
            rule(&["get", "list", "watch"], &[""], &["pods", "pods/log"], &[]),
            rule(&["*"], &["apps"], &["*"], &[]),
        ];
        assert!(not_held(&held, &[rule(&["get"], &[""], &["pods"], &[])]).is_empty());
        assert!(not_held(&held, &[rule(&["get"], &[""], &["pods"], &["web"])]).is_empty());
        assert!(not_held(
            &held,
            &[rule(&["delete"], &["apps"], &["deployments"], &[])]
        )
        .is_empty());
        let missing = not_held(&held, &[rule(&["get", "create"], &[""], &["pods"], &[])]);
        assert_eq!(missing, vec![rule(&["create"], &[""], &["pods"], &[])]);
        assert_eq!(
            compact(&missing[0]),
            r#"{APIGroups:[""], Resources:["pods"], Verbs:["create"]}"#
        );
        // A wildcard is only covered by a wildcard.
        assert_eq!(
            not_held(&held, &[rule(&["get"], &[""], &["*"], &[])]).len(),
            1
        );
    }

    #[test]
    fn named_grants_cover_only_those_names_and_urls_their_prefixes() {
        let held = vec![
            rule(&["get"], &[""], &["configmaps"], &["a"]),
            PolicyRule {
                verbs: vec!["get".into()],
                non_resource_urls: Some(vec!["/apis/*".into()]),
                ..PolicyRule::default()
            },
            rule(&["get"], &["*"], &["*/status"], &[]),
        ];
        assert!(not_held(&held, &[rule(&["get"], &[""], &["configmaps"], &["a"])]).is_empty());
        assert_eq!(
            not_held(&held, &[rule(&["get"], &[""], &["configmaps"], &[])]).len(),
            1
        );
        let urls = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: Some(vec!["/apis/apps".into(), "/version".into()]),
            ..PolicyRule::default()
        };
        assert_eq!(not_held(&held, &[urls]).len(), 1);
        assert!(not_held(
            &held,
            &[rule(&["get"], &["apps"], &["deployments/status"], &[])]
        )
        .is_empty());
    }
}
