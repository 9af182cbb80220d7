//! `paths`: one entry per URL of a served resource, with an operation per verb the table
//! of kinds gives it, named, parameterised and tagged
//! (`x-kubernetes-action`, `x-kubernetes-group-version-kind`) as kube-apiserver does.

use serde_json::{json, Map, Value};

use crate::kinds::{KindInfo, Subresource};
use crate::{gvk, params, reference};

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
                    params: params::query(params::LIST),
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
                    params: params::query(params::WRITE),
                    request: Some(body(&own)),
                    response: json_content(&own),
                    description: format!("create {a} {k}"),
                    created: true,
                },
            ),
        );
    }
    if kind.has_verb("deletecollection") {
        let mut params = params::query(params::DELETE);
        params.extend(params::query(params::LIST));
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
        coll.insert(
            "parameters".into(),
            Value::Array(params::path(kind.namespaced, false)),
        );
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
                    params: params::query(params::WRITE),
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
                    params: params::query(params::PATCH),
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
            params: params::query(params::DELETE),
            request: Some(json!({ "content": { "*/*": { "schema": reference(&format!("{META}.DeleteOptions")) } } })),
            response: json_content(&format!("{META}.Status")),
            description: format!("delete {a} {k}"),
            created: false,
        }));
    }
    if !one.is_empty() {
        one.insert(
            "parameters".into(),
            Value::Array(params::path(kind.namespaced, true)),
        );
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
        let mut params = params::query(params::LIST);
        params.push(params::pretty());
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
                        params: params::query(params::LOG),
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
            let mut params = params::query(match sub.name {
                "exec" => params::EXEC,
                "attach" => params::ATTACH,
                _ => params::PORTFORWARD,
            });
            params.extend(params::path(kind.namespaced, true));
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
                            params: params::query(params::WRITE),
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
                            params: params::query(params::PATCH),
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
                            params: params::query(params::WRITE),
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
    item.insert(
        "parameters".into(),
        Value::Array(params::path(kind.namespaced, true)),
    );
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
