//! ClusterRole aggregation, as Kubernetes' clusterrole-aggregation controller: a
//! ClusterRole with an `aggregationRule` gets as its `rules` those of every other
//! ClusterRole its selectors match, in name order, each rule once. That is how the
//! default `admin`, `edit` and `view` (`rbac/policy.rs`) grow with what is labelled
//! `rbac.authorization.k8s.io/aggregate-to-*`.
//!
//! Keys are aggregated ClusterRoles; any ClusterRole event triggers all of them (a
//! changed label or rule may concern any).

use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use skiff_proto::model::selector_matches;
use tracing::info;

use super::runtime::{Action, Reconciler};
use super::ControllerContext;
use crate::core::objects::{decode_all, modify, Modified};
use crate::core::Error;
use crate::store::{Event, Key};

pub struct AggregationController {
    ctx: Arc<ControllerContext>,
}

impl AggregationController {
    pub fn new(ctx: Arc<ControllerContext>) -> Self {
        AggregationController { ctx }
    }
}

/// The rules `role` should have: those of the roles its selectors pick (itself
/// excluded), in name order, without repeats. `None` when it aggregates nothing.
pub fn aggregated_rules(role: &ClusterRole, all: &[ClusterRole]) -> Option<Vec<PolicyRule>> {
    let selectors = role
        .aggregation_rule
        .as_ref()?
        .cluster_role_selectors
        .as_ref()?;
    let mut sorted: Vec<&ClusterRole> = all.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut rules: Vec<PolicyRule> = Vec::new();
    for other in sorted {
        if other.metadata.name == role.metadata.name {
            continue;
        }
        let labels = other.metadata.labels.clone().unwrap_or_default();
        if !selectors.iter().any(|s| selector_matches(s, &labels)) {
            continue;
        }
        for rule in other.rules.iter().flatten() {
            if !rules.contains(rule) {
                rules.push(rule.clone());
            }
        }
    }
    Some(rules)
}

impl Reconciler for AggregationController {
    const NAME: &'static str = "clusterrole-aggregation";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["ClusterRole"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["ClusterRole"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        if event.object.key.kind != "ClusterRole" {
            return Vec::new();
        }
        let Ok((stored, _)) = self.ctx.store.list("ClusterRole", None).await else {
            // Listing failed: reconcile the changed role at least; a resync covers the rest.
            return vec![event.object.key.clone()];
        };
        stored
            .iter()
            .zip(decode_all::<ClusterRole>(&stored))
            .filter(|(_, role)| role.aggregation_rule.is_some())
            .map(|(s, _)| s.key.clone())
            .collect()
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let (stored, _) = self.ctx.store.list("ClusterRole", None).await?;
        let all = decode_all::<ClusterRole>(&stored);
        let Some(role) = all
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(&key.name))
        else {
            return Ok(Action::AwaitChange);
        };
        let Some(wanted) = aggregated_rules(role, &all) else {
            return Ok(Action::AwaitChange);
        };
        if role.rules.as_deref().unwrap_or_default() == wanted.as_slice() {
            return Ok(Action::AwaitChange);
        }
        let uid = role.metadata.uid.clone();
        let written =
            modify::<ClusterRole, _>(self.ctx.store.as_ref(), key, uid.as_deref(), |current| {
                if current.rules.as_deref().unwrap_or_default() == wanted.as_slice() {
                    return Ok(false);
                }
                current.rules = Some(wanted.clone());
                Ok(true)
            })
            .await?;
        if let Modified::Written(_) = written {
            info!(cluster_role = %key.name, rules = wanted.len(), "aggregated rules updated");
        }
        Ok(Action::AwaitChange)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::rbac::v1::AggregationRule;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    use super::*;

    fn role(name: &str, label: Option<&str>, verbs: &[&str]) -> ClusterRole {
        let mut role = ClusterRole::default();
        role.metadata.name = Some(name.into());
        role.metadata.labels = label.map(|l| BTreeMap::from([(l.to_string(), "true".to_string())]));
        role.rules = Some(
            verbs
                .iter()
                .map(|v| PolicyRule {
                    verbs: vec![v.to_string()],
                    api_groups: Some(vec![String::new()]),
                    resources: Some(vec!["pods".into()]),
                    ..PolicyRule::default()
                })
                .collect(),
        );
        role
    }

    fn aggregating(name: &str, label: &str) -> ClusterRole {
        let mut role = role(name, None, &[]);
        role.aggregation_rule = Some(AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_labels: Some(BTreeMap::from([(label.to_string(), "true".to_string())])),
                ..LabelSelector::default()
            }]),
        });
        role
    }

    #[test]
    fn selected_roles_rules_in_name_order_once_each() {
        let view = aggregating("view", "to-view");
        let all = vec![
            view.clone(),
            role("z-extra", Some("to-view"), &["list", "get"]),
            role("a-base", Some("to-view"), &["get"]),
            role("unrelated", Some("to-edit"), &["delete"]),
        ];
        let rules = aggregated_rules(&view, &all).unwrap();
        let verbs: Vec<&str> = rules.iter().map(|r| r.verbs[0].as_str()).collect();
        assert_eq!(verbs, ["get", "list"]);
        assert_eq!(aggregated_rules(&all[1], &all), None);
    }

    #[test]
    fn a_role_never_aggregates_itself() {
        let mut selfish = aggregating("selfish", "me");
        selfish.metadata.labels = Some(BTreeMap::from([("me".into(), "true".into())]));
        selfish.rules = Some(vec![PolicyRule {
            verbs: vec!["stale".into()],
            ..PolicyRule::default()
        }]);
        assert_eq!(aggregated_rules(&selfish, &[selfish.clone()]), Some(vec![]));
    }
}
