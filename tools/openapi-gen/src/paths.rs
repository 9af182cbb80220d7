//! `paths`: one entry per URL of a served resource, with an operation per verb the table
//! of kinds gives it, named, parameterised and tagged
//! (`x-kubernetes-action`, `x-kubernetes-group-version-kind`) as kube-apiserver does.

use serde_json::{json, Map, Value};

use crate::kinds::{KindInfo, Subresource};
use crate::{gvk, reference};

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

pub fn for_kinds(kinds: &[&KindInfo]) -> Value {
    let mut paths = Map::new();
    for kind in kinds {
        resource_paths(kind, &mut paths);
    }
    paths.sort_keys();
    Value::Object(paths)
}

/// "CoreV1", "AppsV1", "StorageV1": kube-apiserver's prefix of operation ids.
fn gv_name(kind: &KindInfo) -> String {
    let group = if kind.group.is_empty() {
        "core"
    } else {
        kind.group.split('.').next().unwrap_or(kind.group)
    };
    format!("{}{}", capital(group), capital(kind.version))
}

fn capital(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

fn schema_name(group: &str, version: &str, kind: &str) -> String {
    let package = match group {
        "" => "core".to_string(),
        g => g.split('.').next().unwrap_or(g).to_string(),
    };
    format!("io.k8s.api.{package}.{version}.{kind}")
}

struct Op<'a> {
    id: String,
    action: &'static str,
    body_gvk: (&'a str, &'a str, &'a str),
    params: Vec<Value>,
    request: Option<Value>,
    response: Value,
    description: String,
    /// Created answers (POST) also return 201 and 202.
    created: bool,
}

fn operation(kind: &KindInfo, op: Op) -> Value {
    let tag = gv_name(kind);
    let tag = format!(
        "{}_{}",
        tag[..tag.len() - 2].to_ascii_lowercase(),
        kind.version
    );
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({ "description": "OK", "content": op.response.clone() }),
    );
    if op.created {
        responses.insert(
            "201".into(),
            json!({ "description": "Created", "content": op.response.clone() }),
        );
        responses.insert(
            "202".into(),
            json!({ "description": "Accepted", "content": op.response }),
        );
    }
    responses.insert("401".into(), json!({ "description": "Unauthorized" }));
    let mut operation = json!({
        "tags": [tag],
        "description": op.description,
        "operationId": op.id,
        "responses": responses,
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": gvk(op.body_gvk.0, op.body_gvk.1, op.body_gvk.2)[0].clone(),
    });
    if !op.params.is_empty() {
        operation["parameters"] = Value::Array(op.params);
    }
    if let Some(request) = op.request {
        operation["requestBody"] = request;
    }
    operation
}

fn json_content(schema: &str) -> Value {
    let schema = reference(schema);
    json!({ "application/json": { "schema": schema }, "application/yaml": { "schema": schema } })
}

fn body(schema: &str) -> Value {
    json!({ "content": { "*/*": { "schema": reference(schema) } }, "required": true })
}

fn patch_body() -> Value {
    let schema = reference(&format!("{META}.Patch"));
    json!({
        "content": {
            "application/apply-patch+yaml": { "schema": schema },
            "application/json-patch+json": { "schema": schema },
            "application/merge-patch+json": { "schema": schema },
            "application/strategic-merge-patch+json": { "schema": schema }
        },
        "required": true
    })
}

fn resource_paths(kind: &KindInfo, paths: &mut Map<String, Value>) {
    let prefix = if kind.group.is_empty() {
        format!("/api/{}", kind.version)
    } else {
        format!("/apis/{}/{}", kind.group, kind.version)
    };
    let scope = if kind.namespaced { "Namespaced" } else { "" };
    let collection = if kind.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural)
    } else {
        format!("{prefix}/{}", kind.plural)
    };
    let item = format!("{collection}/{{name}}");
    let gv = gv_name(kind);
    let own = schema_name(kind.group, kind.version, kind.kind);
    let own_gvk = (kind.group, kind.version, kind.kind);
    let list = format!("{own}List");
    let k = kind.kind;
    let plural = kind.plural;
    let a = article(k);

    let mut coll = Map::new();
    if kind.has_verb("list") {
        coll.insert(
            "get".into(),
            operation(
                kind,
                Op {
                    id: format!("list{gv}{scope}{k}"),
                    action: "list",
                    body_gvk: own_gvk,
                    params: list_params(),
                    request: None,
                    response: json_content(&list),
                    description: format!("list or watch objects of kind {k}"),
                    created: false,
                },
            ),
        );
    }
    if kind.has_verb("create") {
        coll.insert(
            "post".into(),
            operation(
                kind,
                Op {
                    id: format!("create{gv}{scope}{k}"),
                    action: "post",
                    body_gvk: own_gvk,
                    params: write_params(false),
                    request: Some(body(&own)),
                    response: json_content(&own),
                    description: format!("create {a} {k}"),
                    created: true,
                },
            ),
        );
    }
    if kind.has_verb("deletecollection") {
        let mut params = delete_params();
        params.extend(list_params());
        coll.insert("delete".into(), operation(kind, Op {
            id: format!("deletecollection{gv}{scope}{k}"),
            action: "deletecollection",
            body_gvk: own_gvk,
            params,
            request: Some(json!({ "content": { "*/*": { "schema": reference(&format!("{META}.DeleteOptions")) } } })),
            response: json_content(&format!("{META}.Status")),
            description: format!("delete collection of {k}"),
            created: false,
        }));
    }
    if !coll.is_empty() {
        coll.insert("parameters".into(), path_params(kind.namespaced, false));
        paths.insert(collection.clone(), Value::Object(coll));
    }

    let mut one = Map::new();
    if kind.has_verb("get") {
        one.insert(
            "get".into(),
            operation(
                kind,
                Op {
                    id: format!("read{gv}{scope}{k}"),
                    action: "get",
                    body_gvk: own_gvk,
                    params: vec![],
                    request: None,
                    response: json_content(&own),
                    description: format!("read the specified {k}"),
                    created: false,
                },
            ),
        );
    }
    if kind.has_verb("update") {
        one.insert(
            "put".into(),
            operation(
                kind,
                Op {
                    id: format!("replace{gv}{scope}{k}"),
                    action: "put",
                    body_gvk: own_gvk,
                    params: write_params(false),
                    request: Some(body(&own)),
                    response: json_content(&own),
                    description: format!("replace the specified {k}"),
                    created: true,
                },
            ),
        );
    }
    if kind.has_verb("patch") {
        one.insert(
            "patch".into(),
            operation(
                kind,
                Op {
                    id: format!("patch{gv}{scope}{k}"),
                    action: "patch",
                    body_gvk: own_gvk,
                    params: write_params(true),
                    request: Some(patch_body()),
                    response: json_content(&own),
                    description: format!("partially update the specified {k}"),
                    created: true,
                },
            ),
        );
    }
    if kind.has_verb("delete") {
        one.insert("delete".into(), operation(kind, Op {
            id: format!("delete{gv}{scope}{k}"),
            action: "delete",
            body_gvk: own_gvk,
            params: delete_params(),
            request: Some(json!({ "content": { "*/*": { "schema": reference(&format!("{META}.DeleteOptions")) } } })),
            response: json_content(&format!("{META}.Status")),
            description: format!("delete {a} {k}"),
            created: false,
        }));
    }
    if !one.is_empty() {
        one.insert("parameters".into(), path_params(kind.namespaced, true));
        paths.insert(item.clone(), Value::Object(one));
    }

    if kind.namespaced && kind.has_verb("list") {
        let mut all = Map::new();
        all.insert(
            "get".into(),
            operation(
                kind,
                Op {
                    id: format!("list{gv}{k}ForAllNamespaces"),
                    action: "list",
                    body_gvk: own_gvk,
                    params: vec![],
                    request: None,
                    response: json_content(&list),
                    description: format!("list or watch objects of kind {k}"),
                    created: false,
                },
            ),
        );
        let mut params = list_params();
        params.push(pretty());
        all.insert("parameters".into(), Value::Array(params));
        paths.insert(format!("{prefix}/{plural}"), Value::Object(all));
    }

    for sub in kind.subresources {
        let path = format!("{item}/{}", sub.name);
        paths.insert(path, subresource_path(kind, sub, &gv, scope));
    }
}

fn subresource_path(kind: &KindInfo, sub: &Subresource, gv: &str, scope: &str) -> Value {
    let (group, version) = sub.group_version.unwrap_or((kind.group, kind.version));
    let body_kind = sub.kind_of(kind);
    let body_gvk = (group, version, body_kind);
    let schema = schema_name(group, version, body_kind);
    let k = kind.kind;
    let s = capital(sub.name);
    let mut item = Map::new();
    let verbs = sub.verbs;
    match sub.name {
        "log" => {
            item.insert(
                "get".into(),
                operation(
                    kind,
                    Op {
                        id: format!("read{gv}{scope}{k}Log"),
                        action: "get",
                        body_gvk,
                        params: log_params(),
                        request: None,
                        response: json!({ "text/plain": { "schema": { "type": "string" } } }),
                        description: format!("read log of the specified {k}"),
                        created: false,
                    },
                ),
            );
        }
        "exec" | "attach" | "portforward" => {
            for (method, verb) in [("get", "Get"), ("post", "Post")] {
                item.insert(
                    method.into(),
                    operation(
                        kind,
                        Op {
                            id: format!("connect{gv}{verb}{scope}{k}{}", connect_name(sub.name)),
                            action: "connect",
                            body_gvk,
                            params: vec![],
                            request: None,
                            response: json!({ "*/*": { "schema": { "type": "string" } } }),
                            description: format!(
                                "connect {method} requests to {} of {k}",
                                sub.name
                            ),
                            created: false,
                        },
                    ),
                );
            }
            let mut params = connect_params(sub.name);
            params.extend(
                path_params(kind.namespaced, true)
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            item.insert("parameters".into(), Value::Array(params));
            return Value::Object(item);
        }
        _ => {
            if verbs.contains(&"get") {
                item.insert(
                    "get".into(),
                    operation(
                        kind,
                        Op {
                            id: format!("read{gv}{scope}{k}{s}"),
                            action: "get",
                            body_gvk,
                            params: vec![],
                            request: None,
                            response: json_content(&schema),
                            description: format!("read {} of the specified {k}", sub.name),
                            created: false,
                        },
                    ),
                );
            }
            if verbs.contains(&"update") {
                item.insert(
                    "put".into(),
                    operation(
                        kind,
                        Op {
                            id: format!("replace{gv}{scope}{k}{s}"),
                            action: "put",
                            body_gvk,
                            params: write_params(false),
                            request: Some(body(&schema)),
                            response: json_content(&schema),
                            description: format!("replace {} of the specified {k}", sub.name),
                            created: true,
                        },
                    ),
                );
            }
            if verbs.contains(&"patch") {
                item.insert(
                    "patch".into(),
                    operation(
                        kind,
                        Op {
                            id: format!("patch{gv}{scope}{k}{s}"),
                            action: "patch",
                            body_gvk,
                            params: write_params(true),
                            request: Some(patch_body()),
                            response: json_content(&schema),
                            description: format!(
                                "partially update {} of the specified {k}",
                                sub.name
                            ),
                            created: true,
                        },
                    ),
                );
            }
            if verbs.contains(&"create") {
                item.insert(
                    "post".into(),
                    operation(
                        kind,
                        Op {
                            id: format!("create{gv}{scope}{k}{s}"),
                            action: "post",
                            body_gvk,
                            params: write_params(false),
                            request: Some(body(&schema)),
                            response: json_content(&schema),
                            description: format!("create {} of {a} {k}", sub.name, a = article(k)),
                            created: true,
                        },
                    ),
                );
            }
        }
    }
    item.insert("parameters".into(), path_params(kind.namespaced, true));
    Value::Object(item)
}

fn connect_name(sub: &str) -> &'static str {
    match sub {
        "exec" => "Exec",
        "attach" => "Attach",
        _ => "Portforward",
    }
}

fn article(kind: &str) -> &'static str {
    match kind.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U') => "an",
        _ => "a",
    }
}

fn param(name: &str, location: &str, description: &str, schema: Value) -> Value {
    let mut p =
        json!({ "name": name, "in": location, "description": description, "schema": schema });
    if location == "path" {
        p["required"] = true.into();
    }
    p
}

fn string() -> Value {
    json!({ "type": "string", "uniqueItems": true })
}

fn boolean() -> Value {
    json!({ "type": "boolean", "uniqueItems": true })
}

fn integer() -> Value {
    json!({ "type": "integer", "uniqueItems": true })
}

fn pretty() -> Value {
    param("pretty", "query", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).", string())
}

fn path_params(namespaced: bool, named: bool) -> Value {
    let mut params = Vec::new();
    if named {
        params.push(param("name", "path", "name of the object", string()));
    }
    if namespaced {
        params.push(param(
            "namespace",
            "path",
            "object name and auth scope, such as for teams and projects",
            string(),
        ));
    }
    params.push(pretty());
    Value::Array(params)
}

/// What POST, PUT and PATCH take; `fieldValidation` among them tells kubectl to leave
/// strict field validation to the server.
fn write_params(patch: bool) -> Vec<Value> {
    let mut params = vec![
        param("dryRun", "query", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed", string()),
        param("fieldManager", "query", if patch {
            "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch)."
        } else {
            "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint."
        }, string()),
        param("fieldValidation", "query", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.", string()),
    ];
    if patch {
        params.push(param("force", "query", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.", boolean()));
    }
    params
}

fn delete_params() -> Vec<Value> {
    vec![
        param("dryRun", "query", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed", string()),
        param("gracePeriodSeconds", "query", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.", integer()),
        param("ignoreStoreReadErrorWithClusterBreakingPotential", "query", "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from the underlying storage successfully because of a) its data can not be transformed e.g. decryption failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer constraints, skips precondition checks, and removes the object from the storage. WARNING: This may potentially break the cluster if the workload associated with the resource being unsafe-deleted relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value is false, and the user must opt in to enable it", boolean()),
        param("orphanDependents", "query", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.", boolean()),
        param("propagationPolicy", "query", "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.", string()),
    ]
}

fn list_params() -> Vec<Value> {
    vec![
        param("allowWatchBookmarks", "query", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored.", boolean()),
        param("continue", "query", "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize. If the specified continue value is no longer valid whether due to expiration (generally five to fifteen minutes) or a configuration change on the server, the server will respond with a 410 ResourceExpired error together with a continue token.", string()),
        param("fieldSelector", "query", "A selector to restrict the list of returned objects by their fields. Defaults to everything.", string()),
        param("labelSelector", "query", "A selector to restrict the list of returned objects by their labels. Defaults to everything.", string()),
        param("limit", "query", "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.", integer()),
        param("resourceVersion", "query", "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset", string()),
        param("resourceVersionMatch", "query", "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset", string()),
        param("sendInitialEvents", "query", "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic \"Bookmark\" event will be sent.", boolean()),
        param("timeoutSeconds", "query", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.", integer()),
        param("watch", "query", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.", boolean()),
    ]
}

fn log_params() -> Vec<Value> {
    vec![
        param("container", "query", "The container for which to stream logs. Defaults to only container if there is one container in the pod.", string()),
        param("follow", "query", "Follow the log stream of the pod. Defaults to false.", boolean()),
        param("insecureSkipTLSVerifyBackend", "query", "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of the serving certificate of the backend it is connecting to.  This will make the HTTPS connection between the apiserver and the backend insecure.", boolean()),
        param("limitBytes", "query", "If set, the number of bytes to read from the server before terminating the log output. This may not display a complete final line of logging, and may return slightly more or slightly less than the specified limit.", integer()),
        param("previous", "query", "Return previous terminated container logs. Defaults to false.", boolean()),
        param("sinceSeconds", "query", "A relative time in seconds before the current time from which to show logs. If this value precedes the time a pod was started, only logs since the pod start will be returned. If this value is in the future, no logs will be returned. Only one of sinceSeconds or sinceTime may be specified.", integer()),
        param("tailLines", "query", "If set, the number of lines from the end of the logs to show. If not specified, logs are shown from the creation of the container or sinceSeconds or sinceTime", integer()),
        param("timestamps", "query", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false.", boolean()),
    ]
}

fn connect_params(sub: &str) -> Vec<Value> {
    let streams = |params: &mut Vec<Value>| {
        params.push(param("container", "query", "The container in which to execute the command. Defaults to only container if there is only one container in the pod.", string()));
        params.push(param(
            "stderr",
            "query",
            "Redirect the standard error stream of the pod for this call.",
            boolean(),
        ));
        params.push(param(
            "stdin",
            "query",
            "Redirect the standard input stream of the pod for this call. Defaults to false.",
            boolean(),
        ));
        params.push(param(
            "stdout",
            "query",
            "Redirect the standard output stream of the pod for this call.",
            boolean(),
        ));
        params.push(param("tty", "query", "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false.", boolean()));
    };
    let mut params = Vec::new();
    match sub {
        "exec" => {
            params.push(param("command", "query", "Command is the remote command to execute. argv array. Not executed within a shell.", string()));
            streams(&mut params);
        }
        "attach" => streams(&mut params),
        _ => params.push(param(
            "ports",
            "query",
            "List of ports to forward Required when using WebSockets",
            integer(),
        )),
    }
    params
}
