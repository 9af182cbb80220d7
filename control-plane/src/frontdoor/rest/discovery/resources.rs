//! `/api/v1` and `/apis/<group>/<version>`: `APIResourceList`, one entry per resource
//! and one per subresource (`pods/log`, `deployments/scale`), sorted by name as
//! kube-apiserver sorts them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIResource, APIResourceList};
use skiff_proto::kinds::{KindInfo, Subresource};

use super::GroupVersion;

/// The resources of a served group-version.
pub fn resource_list(gv: &GroupVersion) -> APIResourceList {
    let mut resources: Vec<APIResource> = Vec::new();
    for kind in gv.kinds() {
        resources.push(resource(kind));
        resources.extend(kind.subresources.iter().map(|sub| subresource(kind, sub)));
    }
    resources.sort_by(|a, b| a.name.cmp(&b.name));
    APIResourceList {
        group_version: gv.name(),
        resources,
    }
}

fn resource(kind: &KindInfo) -> APIResource {
    APIResource {
        name: kind.plural.to_string(),
        singular_name: kind.singular.to_string(),
        namespaced: kind.namespaced,
        kind: kind.kind.to_string(),
        verbs: strings(kind.verbs),
        short_names: non_empty(kind.short_names),
        categories: non_empty(kind.categories),
        group: None,
        version: None,
        storage_version_hash: None,
    }
}

/// A subresource names its body's group and version only when they differ from the
/// resource's (autoscaling/v1 Scale, policy/v1 Eviction), as in Kubernetes.
fn subresource(kind: &KindInfo, sub: &Subresource) -> APIResource {
    let (group, version) = match sub.group_version {
        Some((group, version)) => (Some(group.to_string()), Some(version.to_string())),
        None => (None, None),
    };
    APIResource {
        name: format!("{}/{}", kind.plural, sub.name),
        singular_name: String::new(),
        namespaced: kind.namespaced,
        kind: sub.kind_of(kind).to_string(),
        verbs: strings(sub.verbs),
        short_names: None,
        categories: None,
        group,
        version,
        storage_version_hash: None,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn non_empty(items: &[&str]) -> Option<Vec<String>> {
    (!items.is_empty()).then(|| strings(items))
}

#[cfg(test)]
mod tests {
    use skiff_proto::kinds::KINDS;

    use super::super::{find, group_versions};
    use super::*;

    fn decoded(gv: &GroupVersion) -> APIResourceList {
        let json = serde_json::to_value(resource_list(gv)).unwrap();
        assert_eq!(json["kind"], "APIResourceList");
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn every_kind_appears_under_its_group_version_with_its_verbs() {
        for kind in KINDS {
            let gv = find(kind.group, kind.version).expect("served group-version");
            let list = decoded(&gv);
            assert_eq!(list.group_version, kind.api_version());
            let row = list
                .resources
                .iter()
                .find(|r| r.name == kind.plural)
                .unwrap_or_else(|| panic!("{} missing", kind.plural));
            assert_eq!(row.kind, kind.kind);
            assert_eq!(row.namespaced, kind.namespaced);
            assert_eq!(row.verbs, kind.verbs);
            assert_eq!(row.singular_name, kind.singular);
            for sub in kind.subresources {
                let name = format!("{}/{}", kind.plural, sub.name);
                assert!(list.resources.iter().any(|r| r.name == name), "{name}");
            }
        }
        let listed: usize = group_versions()
            .iter()
            .map(|gv| {
                decoded(gv)
                    .resources
                    .iter()
                    .filter(|r| !r.name.contains('/'))
                    .count()
            })
            .sum();
        assert_eq!(listed, KINDS.len());
    }

    #[test]
    fn rows_read_as_kube_apiserver_writes_them() {
        let core = decoded(&find("", "v1").unwrap());
        let pods = core.resources.iter().find(|r| r.name == "pods").unwrap();
        assert_eq!(pods.short_names.as_deref(), Some(&["po".to_string()][..]));
        assert_eq!(pods.categories.as_deref(), Some(&["all".to_string()][..]));
        let eviction = core
            .resources
            .iter()
            .find(|r| r.name == "pods/eviction")
            .unwrap();
        assert_eq!(
            (eviction.group.as_deref(), eviction.kind.as_str()),
            (Some("policy"), "Eviction")
        );
        let names: Vec<&str> = core.resources.iter().map(|r| r.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);

        let apps = decoded(&find("apps", "v1").unwrap());
        let scale = apps
            .resources
            .iter()
            .find(|r| r.name == "deployments/scale")
            .unwrap();
        assert_eq!(
            (
                scale.group.as_deref(),
                scale.version.as_deref(),
                scale.kind.as_str()
            ),
            (Some("autoscaling"), Some("v1"), "Scale")
        );
        assert_eq!(scale.verbs, ["get", "patch", "update"]);
        let json = serde_json::to_value(resource_list(&find("apps", "v1").unwrap())).unwrap();
        let deploy = &json["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments")
            .unwrap();
        assert!(deploy.get("group").is_none(), "{deploy}");

        let slices = decoded(&find("discovery.k8s.io", "v1").unwrap());
        assert_eq!(slices.resources[0].verbs, ["get", "list", "watch"]);
    }
}
