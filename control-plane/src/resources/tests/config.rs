//! ConfigMaps and Secrets through apply: stringData, type rules, `immutable`.

use super::*;

const SECRET: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: s3cret
data:
  user: YWRtaW4=
";

#[tokio::test]
async fn string_data_is_stored_as_base64_data_and_dropped() {
    let store = store().await;
    assert_eq!(apply_ok(store.as_ref(), SECRET).await, [Action::Created]);
    let value = json(&get(store.as_ref(), "Secret", "", "db").await.unwrap());
    assert_eq!(value["type"], "Opaque");
    assert_eq!(value["data"]["password"], "czNjcmV0");
    assert_eq!(value["data"]["user"], "YWRtaW4=");
    assert!(value.get("stringData").is_none(), "{value}");

    // The same manifest again changes nothing; a new stringData value replaces data's.
    assert_eq!(apply_ok(store.as_ref(), SECRET).await, [Action::Unchanged]);
    let changed = SECRET.replace("s3cret", "other");
    assert_eq!(
        apply_ok(store.as_ref(), &changed).await,
        [Action::Configured]
    );
    let value = json(&get(store.as_ref(), "Secret", "", "db").await.unwrap());
    assert_eq!(value["data"]["password"], "b3RoZXI=");
    assert!(value.get("stringData").is_none(), "{value}");
}

#[tokio::test]
async fn type_rules_are_checked_with_field_paths() {
    let store = store().await;
    let tls = "apiVersion: v1\nkind: Secret\nmetadata: {name: cert}\ntype: kubernetes.io/tls\nstringData: {tls.crt: x}\n";
    let err = apply_err(store.as_ref(), tls).await;
    assert_eq!(code(err.clone()), tonic::Code::InvalidArgument);
    assert!(
        err.to_string()
            .contains(r#"Secret "cert" is invalid: data[tls.key]: Required value"#),
        "{err}"
    );
    let bad_key = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {\"a b\": x}\n";
    let err = apply_err(store.as_ref(), bad_key).await.to_string();
    assert!(err.contains("data[a b]: Invalid value"), "{err}");

    // A secret's type stays what it was created with.
    apply_ok(store.as_ref(), SECRET).await;
    let retyped = SECRET.replace(
        "kind: Secret\n",
        "kind: Secret\ntype: kubernetes.io/basic-auth\n",
    );
    let err = apply_err(store.as_ref(), &retyped).await.to_string();
    assert!(
        err.contains("type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable"),
        "{err}"
    );
}

#[tokio::test]
async fn immutable_objects_refuse_data_changes_but_take_labels() {
    let store = store().await;
    let frozen =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nimmutable: true\ndata: {k: one}\n";
    apply_ok(store.as_ref(), frozen).await;
    let err = apply_err(store.as_ref(), &frozen.replace("one", "two")).await;
    assert_eq!(code(err.clone()), tonic::Code::InvalidArgument);
    assert!(
        err.to_string().contains(
            r#"ConfigMap "c" is invalid: data: Forbidden: field is immutable when `immutable` is set"#
        ),
        "{err}"
    );
    let thawed = frozen.replace("immutable: true", "immutable: false");
    let err = apply_err(store.as_ref(), &thawed).await.to_string();
    assert!(
        err.contains("immutable: Forbidden: field is immutable"),
        "{err}"
    );
    let labelled = frozen.replace("{name: c}", "{name: c, labels: {a: b}}");
    assert_eq!(
        apply_ok(store.as_ref(), &labelled).await,
        [Action::Configured]
    );
    let value = json(&get(store.as_ref(), "ConfigMap", "", "c").await.unwrap());
    assert_eq!(value["data"]["k"], "one");
}
