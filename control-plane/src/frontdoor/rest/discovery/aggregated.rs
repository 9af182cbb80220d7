//! The aggregated discovery form (apidiscovery.k8s.io/v2 `APIGroupDiscoveryList`):
//! `/api` and `/apis` answer with every resource of every version at once when the
//! client asks for it in `Accept`, so kubectl needs two requests instead of one per
//! group-version. A client that does not ask gets the legacy form (`groups.rs`) and
//! tells them apart by the response's Content-Type. k8s-openapi has no types for this
//! group, hence the structs here.

use serde::Serialize;
use skiff_proto::kinds::{KindInfo, Subresource};

use super::{group_versions, GroupVersion};

/// The Content-Type of an aggregated answer; clients match it exactly.
pub const CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an `Accept` header asks for the aggregated form (v2; v2beta1 is not served).
pub fn wanted(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let params: Vec<String> = range
            .split(';')
            .skip(1)
            .map(|p| p.trim().to_ascii_lowercase())
            .collect();
        let base = range.split(';').next().unwrap_or("").trim();
        base == "application/json"
            && params.iter().any(|p| p == "g=apidiscovery.k8s.io")
            && params.iter().any(|p| p == "v=v2")
            && params.iter().any(|p| p == "as=apigroupdiscoverylist")
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupDiscoveryList {
    kind: &'static str,
    api_version: &'static str,
    metadata: Empty,
    items: Vec<GroupDiscovery>,
}

#[derive(Debug, Serialize)]
struct Empty {}

#[derive(Debug, Serialize)]
struct GroupDiscovery {
    metadata: GroupName,
    versions: Vec<VersionDiscovery>,
}

#[derive(Debug, Serialize)]
struct GroupName {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'static str,
}

#[derive(Debug, Serialize)]
struct VersionDiscovery {
    version: &'static str,
    resources: Vec<ResourceDiscovery>,
    freshness: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceDiscovery {
    resource: &'static str,
    response_kind: Gvk,
    scope: &'static str,
    singular_resource: &'static str,
    verbs: &'static [&'static str],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    short_names: &'static [&'static str],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    categories: &'static [&'static str],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subresources: Vec<SubresourceDiscovery>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SubresourceDiscovery {
    subresource: &'static str,
    response_kind: Gvk,
    verbs: &'static [&'static str],
}

#[derive(Debug, Serialize)]
struct Gvk {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
}

/// `/api` (`core` true: the core group alone) or `/apis` (every named group).
pub fn list(core: bool) -> GroupDiscoveryList {
    let mut items: Vec<GroupDiscovery> = Vec::new();
    for gv in group_versions()
        .into_iter()
        .filter(|gv| gv.group.is_empty() == core)
    {
        let version = version(&gv);
        match items.iter_mut().find(|g| g.metadata.name == gv.group) {
            Some(group) => group.versions.push(version),
            None => items.push(GroupDiscovery {
                metadata: GroupName { name: gv.group },
                versions: vec![version],
            }),
        }
    }
    GroupDiscoveryList {
        kind: "APIGroupDiscoveryList",
        api_version: "apidiscovery.k8s.io/v2",
        metadata: Empty {},
        items,
    }
}

fn version(gv: &GroupVersion) -> VersionDiscovery {
    let mut resources: Vec<ResourceDiscovery> = gv.kinds().map(resource).collect();
    resources.sort_by_key(|r| r.resource);
    VersionDiscovery {
        version: gv.version,
        resources,
        freshness: "Current",
    }
}

fn resource(kind: &'static KindInfo) -> ResourceDiscovery {
    ResourceDiscovery {
        resource: kind.plural,
        response_kind: Gvk {
            group: kind.group,
            version: kind.version,
            kind: kind.kind,
        },
        scope: if kind.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        },
        singular_resource: kind.singular,
        verbs: kind.verbs,
        short_names: kind.short_names,
        categories: kind.categories,
        subresources: kind
            .subresources
            .iter()
            .map(|sub| subresource(kind, sub))
            .collect(),
    }
}

fn subresource(kind: &'static KindInfo, sub: &'static Subresource) -> SubresourceDiscovery {
    let (group, version) = sub.group_version.unwrap_or((kind.group, kind.version));
    SubresourceDiscovery {
        subresource: sub.name,
        response_kind: Gvk {
            group,
            version,
            kind: sub.kind_of(kind),
        },
        verbs: sub.verbs,
    }
}

#[cfg(test)]
mod tests {
    use skiff_proto::kinds::KINDS;

    use super::*;

    #[test]
    fn kubectl_s_accept_header_asks_for_it_and_plain_json_does_not() {
        assert!(wanted("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"));
        assert!(!wanted("application/json, */*"));
        assert!(!wanted(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        ));
    }

    #[test]
    fn every_kind_is_listed_once_with_its_scope_and_subresources() {
        let core = serde_json::to_value(list(true)).unwrap();
        let named = serde_json::to_value(list(false)).unwrap();
        assert_eq!(core["kind"], "APIGroupDiscoveryList");
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        assert!(core["items"][0]["metadata"].get("name").is_none());
        for kind in KINDS {
            let doc = if kind.group.is_empty() { &core } else { &named };
            let group = doc["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["metadata"]["name"].as_str().unwrap_or("") == kind.group)
                .unwrap();
            let resources = group["versions"][0]["resources"].as_array().unwrap();
            let found: Vec<_> = resources
                .iter()
                .filter(|r| r["resource"] == kind.plural)
                .collect();
            assert_eq!(found.len(), 1, "{}", kind.plural);
            let row = found[0];
            assert_eq!(row["responseKind"]["kind"], kind.kind);
            assert_eq!(
                row["scope"],
                if kind.namespaced {
                    "Namespaced"
                } else {
                    "Cluster"
                }
            );
            assert_eq!(row["verbs"].as_array().unwrap().len(), kind.verbs.len());
        }
        let apps = &named["items"][0];
        assert_eq!(apps["metadata"]["name"], "apps");
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(deploy["subresources"][0]["subresource"], "scale");
        assert_eq!(
            deploy["subresources"][0]["responseKind"]["group"],
            "autoscaling"
        );
    }
}
