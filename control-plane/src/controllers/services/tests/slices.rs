//! The EndpointSlice controller, driven by store writes beside the Endpoints controller:
//! what Kubernetes' EndpointSlice controller would make, and refused to users.

use serde_json::json;

use super::controller::{context, put_pod};
use super::*;
use crate::controllers::services::slices::{CONTROLLER, MANAGED_BY, SERVICE_NAME};
use crate::controllers::services::{EndpointSliceController, EndpointsController};
use crate::core::Clock;

/// Waits until the Service `name` has slices that satisfy `check`, returning them.
async fn slices_until(
    store: &dyn Store,
    name: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let read = || async {
        let (items, _) = store.list("EndpointSlice", Some("default")).await.unwrap();
        items
            .iter()
            .map(|s| serde_json::from_slice::<Value>(&s.json).unwrap())
            .filter(|v| v["metadata"]["labels"][SERVICE_NAME] == name)
            .collect::<Vec<_>>()
    };
    let what = format!("the slices of {name}");
    poll_until(&what, read, |s: &Vec<Value>| check(s)).await
}

#[tokio::test]
async fn a_services_endpoints_are_mirrored_into_one_slice_that_goes_with_it() {
    let store = store().await;
    let ranges = Ranges::default();
    put_pod(store.as_ref(), "a", "10.42.0.5", true, "web").await;
    put_pod(store.as_ref(), "b", "10.42.0.6", false, "web").await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let controllers = [
        tokio::spawn(EndpointsController::new(context(store.clone())).run()),
        tokio::spawn(EndpointSliceController::new(store.clone(), clock).run()),
    ];
    apply_svc(
        store.as_ref(),
        &ranges,
        &service("web", "ClusterIP", PORT_8080, ""),
    )
    .await
    .unwrap();
    let slices = slices_until(store.as_ref(), "web", |s| {
        s.len() == 1 && s[0]["endpoints"].as_array().is_some_and(|e| e.len() == 2)
    })
    .await;
    let slice = &slices[0];
    assert!(slice["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("web-"));
    assert_eq!(slice["metadata"]["labels"][MANAGED_BY], CONTROLLER);
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
    assert_eq!(slice["metadata"]["generation"], 1);
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(
        slice["ports"],
        json!([{"name": "web", "port": 80, "protocol": "TCP"}])
    );
    assert_eq!(
        slice["endpoints"][0],
        json!({
            "addresses": ["10.42.0.5"],
            "conditions": {"ready": true, "serving": true, "terminating": false},
            "nodeName": "n1",
            "targetRef": slice["endpoints"][0]["targetRef"].clone(),
        })
    );
    assert_eq!(slice["endpoints"][0]["targetRef"]["name"], "a");
    assert_eq!(slice["endpoints"][1]["conditions"]["ready"], false);

    // A change of the backends is an update of the same slice, with a new generation.
    put_pod(store.as_ref(), "b", "10.42.0.6", true, "web").await;
    let slices = slices_until(store.as_ref(), "web", |s| {
        s.len() == 1 && s[0]["endpoints"][1]["conditions"]["ready"] == true
    })
    .await;
    assert_eq!(slices[0]["metadata"]["name"], slice["metadata"]["name"]);
    assert_eq!(slices[0]["metadata"]["generation"], 2);

    // Users may read slices but not write them.
    let name = slice["metadata"]["name"].as_str().unwrap();
    let err = delete(
        store.as_ref(),
        &SystemClock,
        "EndpointSlice",
        "default",
        name,
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        Error::Unimplemented(
            "delete is not supported on resources of kind \"endpointslices.discovery.k8s.io\""
                .into()
        )
    );
    let manifest = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: mine\naddressType: IPv4\nendpoints: []\n";
    let err = apply_with(
        store.as_ref(),
        &SystemClock,
        &ranges,
        "s.yaml",
        manifest,
        "",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Unimplemented(_)), "{err:?}");

    delete(
        store.as_ref(),
        &SystemClock,
        "Service",
        "default",
        "web",
        "",
    )
    .await
    .unwrap();
    slices_until(store.as_ref(), "web", <[Value]>::is_empty).await;
    for c in controllers {
        c.abort();
    }
}
