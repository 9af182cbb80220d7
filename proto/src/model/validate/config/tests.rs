//! ConfigMap and Secret rules, from manifests as users write them.

use serde_json::json;

use super::{validate_config_update, MAX_CONFIG_SIZE};
use crate::model::validate::validate_object;
use crate::model::{decode_documents, default_object, Object};

fn defaulted(yaml: &str) -> Object {
    let mut object = decode_documents("test.yaml", yaml).unwrap().remove(0);
    default_object(&mut object);
    object
}

fn errors(yaml: &str) -> Vec<String> {
    match validate_object(&defaulted(yaml)) {
        Ok(()) => Vec::new(),
        Err(error) => error.errors.iter().map(ToString::to_string).collect(),
    }
}

fn secret(type_: &str, data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ntype: {type_}\nstringData: {data}\n"
    )
}

#[test]
fn string_data_becomes_data() {
    let Object::Secret(secret) = defaulted(&secret("Opaque", "{a: hello}")) else {
        unreachable!()
    };
    assert!(secret.string_data.is_none());
    let data = secret.data.unwrap();
    assert_eq!(data["a"].0, b"hello");
}

#[test]
fn each_secret_type_needs_its_keys() {
    assert_eq!(
        errors(&secret("kubernetes.io/tls", "{}")),
        [
            "data[tls.crt]: Required value",
            "data[tls.key]: Required value"
        ]
    );
    assert!(errors(&secret("kubernetes.io/tls", "{tls.crt: c, tls.key: k}")).is_empty());
    assert_eq!(
        errors(&secret("kubernetes.io/basic-auth", "{}")),
        [
            "data[username]: Required value",
            "data[password]: Required value"
        ]
    );
    assert!(errors(&secret("kubernetes.io/basic-auth", "{password: p}")).is_empty());
    assert_eq!(
        errors(&secret("kubernetes.io/ssh-auth", "{ssh-privatekey: ''}")),
        ["data[ssh-privatekey]: Required value"]
    );
    assert_eq!(
        errors(&secret("kubernetes.io/dockerconfigjson", "{}")),
        ["data[.dockerconfigjson]: Required value"]
    );
    let bad_json = errors(&secret(
        "kubernetes.io/dockerconfigjson",
        "{.dockerconfigjson: '{'}",
    ));
    assert_eq!(bad_json.len(), 1);
    assert!(
        bad_json[0].starts_with(
            "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": "
        ),
        "{bad_json:?}"
    );
    let good = r#"{.dockerconfigjson: '{"auths": {}}'}"#;
    assert!(errors(&secret("kubernetes.io/dockerconfigjson", good)).is_empty());
    assert_eq!(
        errors(&secret("kubernetes.io/service-account-token", "{}")),
        ["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
    );
    assert!(errors(&secret("example.com/custom", "{}")).is_empty());
}

#[test]
fn keys_and_size_are_limited() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: x, \"..b\": y}\nbinaryData: {a: eA==}\n";
    let found = errors(cm);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("data[..b]: Invalid value"),
        "{found:?}"
    );
    assert_eq!(
        found[1],
        "data[a]: Invalid value: \"a\": duplicate of key present in binaryData"
    );

    let big = "x".repeat(MAX_CONFIG_SIZE);
    let cm =
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{k: {big}}}\n");
    assert_eq!(
        errors(&cm),
        [format!(
            "data: Too long: must have at most {MAX_CONFIG_SIZE} bytes"
        )]
    );
    let just_fits = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{k: {}}}\n",
        &big[1..]
    );
    assert!(errors(&just_fits).is_empty());
    let secret = secret("Opaque", &format!("{{k: {big}}}"));
    assert_eq!(errors(&secret).len(), 1);
}

#[test]
fn immutable_objects_keep_their_data_and_secrets_their_type() {
    let old = json!({"immutable": true, "data": {"a": "1"}, "type": "Opaque"});
    assert!(validate_config_update("ConfigMap", &old, &old).is_empty());
    let changed = json!({"immutable": true, "data": {"a": "2"}});
    let errors: Vec<String> = validate_config_update("ConfigMap", &old, &changed)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        ["data: Forbidden: field is immutable when `immutable` is set"]
    );
    let thawed = json!({"data": {"a": "1"}, "type": "Opaque"});
    let errors = validate_config_update("Secret", &old, &thawed);
    assert_eq!(
        errors[0].to_string(),
        "immutable: Forbidden: field is immutable when `immutable` is set"
    );
    let retyped = json!({"immutable": true, "data": {"a": "1"}, "type": "kubernetes.io/tls"});
    let errors = validate_config_update("Secret", &old, &retyped);
    assert_eq!(
        errors[0].to_string(),
        "type: Invalid value: \"kubernetes.io/tls\": field is immutable"
    );
    // Mutable objects change freely; other kinds are not concerned.
    let mutable = json!({"data": {"a": "1"}});
    assert!(validate_config_update("ConfigMap", &mutable, &changed).is_empty());
    assert!(validate_config_update("Pod", &old, &changed).is_empty());
}
