//! `/api`, `/apis` and `/apis/<group>` in their legacy (meta/v1) form: the versions of
//! the core group and the named groups with their preferred version. One version per
//! group here, so it is always the preferred one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIVersions, GroupVersionForDiscovery, ServerAddressByClientCIDR,
};

use super::{group_versions, GroupVersion};

/// `/api`: `APIVersions` of the core group. `server_address` is the host:port clients
/// reach the server on, as kube-apiserver advertises for every client network.
pub fn core_versions(server_address: &str) -> APIVersions {
    APIVersions {
        versions: group_versions()
            .iter()
            .filter(|gv| gv.group.is_empty())
            .map(|gv| gv.version.to_string())
            .collect(),
        server_address_by_client_cidrs: vec![ServerAddressByClientCIDR {
            client_cidr: "0.0.0.0/0".to_string(),
            server_address: server_address.to_string(),
        }],
    }
}

/// `/apis`: every named group.
pub fn group_list() -> APIGroupList {
    let mut groups: Vec<APIGroup> = Vec::new();
    for gv in group_versions()
        .into_iter()
        .filter(|gv| !gv.group.is_empty())
    {
        let version = for_discovery(&gv);
        match groups.iter_mut().find(|g| g.name == gv.group) {
            Some(group) => group.versions.push(version),
            None => groups.push(APIGroup {
                name: gv.group.to_string(),
                preferred_version: Some(version.clone()),
                versions: vec![version],
                server_address_by_client_cidrs: None,
            }),
        }
    }
    APIGroupList { groups }
}

/// `/apis/<group>`: the group, if served.
pub fn group(name: &str) -> Option<APIGroup> {
    group_list().groups.into_iter().find(|g| g.name == name)
}

fn for_discovery(gv: &GroupVersion) -> GroupVersionForDiscovery {
    GroupVersionForDiscovery {
        group_version: gv.name(),
        version: gv.version.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_versions_are_v1_with_the_server_address() {
        let json = serde_json::to_value(core_versions("10.0.0.1:6443")).unwrap();
        assert_eq!(json["kind"], "APIVersions");
        assert_eq!(json["versions"], serde_json::json!(["v1"]));
        assert_eq!(
            json["serverAddressByClientCIDRs"][0]["serverAddress"],
            "10.0.0.1:6443"
        );
        let _: APIVersions = serde_json::from_value(json).unwrap();
    }

    #[test]
    fn group_list_names_each_group_once_with_its_preferred_version() {
        let json = serde_json::to_value(group_list()).unwrap();
        assert_eq!(json["kind"], "APIGroupList");
        let decoded: APIGroupList = serde_json::from_value(json).unwrap();
        let names: Vec<&str> = decoded.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "apps",
                "batch",
                "storage.k8s.io",
                "coordination.k8s.io",
                "discovery.k8s.io",
                "authorization.k8s.io",
                "rbac.authorization.k8s.io"
            ]
        );
        let apps = group("apps").unwrap();
        assert_eq!(apps.preferred_version.unwrap().group_version, "apps/v1");
        assert_eq!(apps.versions.len(), 1);
        assert!(group("policy").is_none());
    }
}
