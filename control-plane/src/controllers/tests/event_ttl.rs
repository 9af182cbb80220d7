//! Events expire an hour (the TTL) after their last write, on the manual clock.

use k8s_openapi::api::core::v1::ObjectReference;

use super::*;
use crate::controllers::runtime::Action;
use crate::controllers::EventTtlController;
use crate::core::events::record;

async fn event_count(store: &dyn Store) -> usize {
    store.list("Event", None).await.unwrap().0.len()
}

#[tokio::test]
async fn an_event_is_deleted_an_hour_after_its_last_write() {
    let h = Harness::new().await;
    let ctx = Arc::new(ControllerContext {
        store: h.store.clone(),
        clock: Arc::new(h.clock.clone()),
    });
    let ttl = Duration::from_secs(3600);
    let controller = EventTtlController::new(ctx.clone(), ttl);
    let pod = ObjectReference {
        kind: Some("Pod".into()),
        namespace: Some("default".into()),
        name: Some("web".into()),
        uid: Some("uid-web".into()),
        ..Default::default()
    };
    record(
        ctx.as_ref(),
        pod.clone(),
        "Warning",
        "BackOff",
        "m",
        "kubelet",
    )
    .await
    .unwrap();
    let (items, _) = h.store.list("Event", None).await.unwrap();
    let key = items[0].key.clone();

    h.clock.advance(Duration::from_secs(50 * 60));
    // Repeated 50 minutes in: the hour counts from here.
    record(ctx.as_ref(), pod, "Warning", "BackOff", "m", "kubelet")
        .await
        .unwrap();
    h.clock.advance(Duration::from_secs(30 * 60));
    let action = controller.reconcile(&key).await.unwrap();
    assert!(
        matches!(action, Action::Requeue(d) if d == Duration::from_secs(30 * 60)),
        "{action:?}"
    );
    assert_eq!(event_count(h.store.as_ref()).await, 1);

    h.clock.advance(Duration::from_secs(30 * 60));
    controller.reconcile(&key).await.unwrap();
    assert_eq!(event_count(h.store.as_ref()).await, 0);
}
