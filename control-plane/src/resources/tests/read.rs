use tonic::Code;

use super::*;

#[tokio::test]
async fn get_and_list_with_namespaces_and_selectors() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(
        store,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n",
    )
    .await;
    for (name, namespace) in [("a", "default"), ("b", "default"), ("c", "other")] {
        apply_ok(store, &config_map(name, namespace, "v")).await;
    }
    let names = |items: Vec<WireObject>| -> Vec<String> {
        items
            .into_iter()
            .map(|o| format!("{}/{}", o.namespace, o.name))
            .collect()
    };
    let scope =
        |ns: &str, all: bool, selector: &str| Scope::new("configmap", ns, all, selector).unwrap();

    let (items, revision) = list(store, &scope("", false, "")).await.unwrap();
    assert_eq!(names(items), ["default/a", "default/b"]);
    assert_eq!(revision, store.current_revision().await.unwrap());
    let (items, _) = list(store, &scope("", true, "")).await.unwrap();
    assert_eq!(names(items), ["default/a", "default/b", "other/c"]);
    let (items, _) = list(store, &scope("", true, "app in (a,c)")).await.unwrap();
    assert_eq!(names(items), ["default/a", "other/c"]);
    let (items, _) = list(store, &scope("other", false, "app!=c")).await.unwrap();
    assert!(items.is_empty());
    let err = Scope::new("ConfigMap", "", false, "app in (a").unwrap_err();
    assert_eq!(code(err), Code::InvalidArgument);

    // Cluster-scoped kinds ignore the namespace.
    let (items, _) = list(store, &Scope::new("Namespace", "x", false, "").unwrap())
        .await
        .unwrap();
    assert_eq!(
        items.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["default", "kube-node-lease", "kube-system", "other"]
    );

    let object = get(store, "ConfigMap", "other", "c").await.unwrap();
    assert_eq!(
        json(&object)["metadata"]["resourceVersion"],
        object.resource_version
    );
    let err = get(store, "ConfigMap", "default", "c").await.unwrap_err();
    assert_eq!(code(err.clone()), Code::NotFound);
    assert_eq!(
        err.to_string(),
        "ConfigMap \"c\" not found in namespace \"default\""
    );
    let err = get(store, "Ingress", "", "x").await.unwrap_err();
    assert_eq!(code(err), Code::InvalidArgument);
}

#[tokio::test]
async fn delete_returns_the_last_state_and_not_found_is_clear() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(store, NGINX_POD).await;
    let deleted = delete(store, &SystemClock, "Pod", "", "my-nginx-pod", "")
        .await
        .unwrap();
    assert_eq!(deleted.name, "my-nginx-pod");
    assert_eq!(
        deleted.resource_version,
        store.current_revision().await.unwrap().to_string()
    );
    let err = delete(store, &SystemClock, "Pod", "", "my-nginx-pod", "Orphan")
        .await
        .unwrap_err();
    assert_eq!(code(err.clone()), Code::NotFound);
    assert_eq!(
        err.to_string(),
        "Pod \"my-nginx-pod\" not found in namespace \"default\""
    );
    let err = delete(store, &SystemClock, "Pod", "", "x", "Sometimes")
        .await
        .unwrap_err();
    assert_eq!(code(err), Code::InvalidArgument);
    // Re-created, it is a new object.
    assert_eq!(apply_ok(store, NGINX_POD).await, [Action::Created]);
    let again = get(store, "Pod", "", "my-nginx-pod").await.unwrap();
    assert_ne!(again.uid, deleted.uid);
}
