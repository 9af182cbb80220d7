//! A request's path and query as kube-apiserver reads them (its `RequestInfoFactory`):
//! `/api/v1/...` (the core group) or `/apis/GROUP/VERSION/...`, then
//! `[namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]]`, with the old `watch/` prefix too.

use super::status::RestError;

/// Subresources of a namespace itself (`/api/v1/namespaces/NAME/status`), which are not
/// a namespace's contents.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// A request for a resource (everything under a group-version but discovery).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Route {
    /// "" for the core group.
    pub group: String,
    pub version: String,
    /// The namespace the path names (`None` for cluster-wide requests).
    pub namespace: Option<String>,
    /// The plural resource ("pods").
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The path started with the deprecated `watch/` segment.
    pub watch_path: bool,
}

impl Route {
    /// The route of `path`, or `None` when it names no resource (discovery, `/version`,
    /// health, unknown prefixes).
    pub fn parse(path: &str) -> Option<Route> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, version, rest) = match parts.as_slice() {
            ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
            ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
            _ => return None,
        };
        let mut route = Route {
            group: group.to_string(),
            version: version.to_string(),
            ..Route::default()
        };
        let mut rest = rest;
        if rest.first() == Some(&"watch") {
            route.watch_path = true;
            rest = &rest[1..];
        }
        if rest.len() > 2 && rest[0] == "namespaces" && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            route.namespace = Some(rest[1].to_string());
            rest = &rest[2..];
        }
        match rest {
            [resource] => route.resource = resource.to_string(),
            [resource, name] => {
                route.resource = resource.to_string();
                route.name = Some(name.to_string());
            }
            [resource, name, subresource] => {
                route.resource = resource.to_string();
                route.name = Some(name.to_string());
                route.subresource = Some(subresource.to_string());
            }
            _ => return None,
        }
        if rest.iter().any(|part| part.is_empty()) {
            return None;
        }
        Some(route)
    }

    /// `resource[.group]`, as kube-apiserver names a resource in messages
    /// (`deployments.apps "web" not found`).
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// The query string's parameters, decoded, in order (`command` repeats for exec).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name` ("" counts as given).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A boolean parameter as Go's `strconv.ParseBool` reads it; absent is `false`.
    pub fn flag(&self, name: &str) -> Result<bool, RestError> {
        match self.get(name) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(other) => Err(RestError::bad_request(format!(
                "invalid value {other:?} for query parameter {name:?}: not a boolean"
            ))),
        }
    }

    /// An integer parameter; absent or empty is `None`.
    pub fn int(&self, name: &str) -> Result<Option<i64>, RestError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| {
                RestError::bad_request(format!(
                    "invalid value {text:?} for query parameter {name:?}: not an integer"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> Route {
        Route::parse(path).unwrap_or_else(|| panic!("{path} has no route"))
    }

    #[test]
    fn paths_parse_as_kube_apiserver_reads_them() {
        let r = route("/api/v1/namespaces/default/pods/web/log");
        assert_eq!(
            (r.group.as_str(), r.version.as_str(), r.namespace.as_deref()),
            ("", "v1", Some("default"))
        );
        assert_eq!(
            (
                r.resource.as_str(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            ("pods", Some("web"), Some("log"))
        );
        let r = route("/apis/apps/v1/deployments");
        assert_eq!(
            (r.group.as_str(), r.resource.as_str()),
            ("apps", "deployments")
        );
        assert_eq!(r.namespace, None);
        let r = route("/api/v1/namespaces/kube-system");
        assert_eq!(
            (r.resource.as_str(), r.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let r = route("/api/v1/namespaces/gone/finalize");
        assert_eq!(r.subresource.as_deref(), Some("finalize"));
        assert_eq!(r.namespace, None);
        let r = route("/api/v1/watch/namespaces/default/pods");
        assert!(r.watch_path);
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(
            route("/apis/apps/v1/namespaces/a/deployments/d").qualified_resource(),
            "deployments.apps"
        );
    }

    #[test]
    fn discovery_and_odd_paths_are_not_resources() {
        for path in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/version",
            "/api/v1/pods/a/b/c",
            "/api/v1//x",
        ] {
            assert_eq!(Route::parse(path), None, "{path}");
        }
    }

    #[test]
    fn queries_decode_and_repeat() {
        let q = Query::parse(Some(
            "command=sh&command=-c&command=echo%20hi&watch=1&limit=5",
        ));
        assert_eq!(
            q.all("command").collect::<Vec<_>>(),
            ["sh", "-c", "echo hi"]
        );
        assert!(q.flag("watch").unwrap());
        assert_eq!(q.int("limit").unwrap(), Some(5));
        assert!(q.flag("x").is_ok_and(|v| !v));
        assert!(Query::parse(Some("watch=yes")).flag("watch").is_err());
    }
}
