//! The write pipeline the verbs other than apply share (`write.rs`).

use super::*;
use crate::core::Ranges;
use crate::resources::allocation::PORT_CLAIM;
use crate::resources::write::edit;
use crate::store::Key;

const CLUSTER_IP_SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - port: 8080
      targetPort: 80
";

/// An edit outside apply that makes a Service need a NodePort gets one, claimed like
/// apply's (it used to be written without one: the edit skipped allocation).
#[tokio::test]
async fn an_edit_that_makes_a_service_a_node_port_gets_a_claimed_port() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(store, CLUSTER_IP_SERVICE).await;
    let key = Key::new("Service", "default", "web");
    let edited = edit(
        store,
        &SystemClock,
        &Ranges::default(),
        &key,
        None,
        |value, _| {
            value["spec"]["type"] = "NodePort".into();
            Ok(true)
        },
    )
    .await
    .unwrap();
    let value = json(&edited);
    let port = value["spec"]["ports"][0]["nodePort"].as_u64();
    assert!(
        port.is_some_and(|p| (30000..=32767).contains(&p)),
        "no node port: {value}"
    );
    let claim = Key::new(PORT_CLAIM, "", port.unwrap().to_string());
    assert!(
        store.get(&claim).await.unwrap().is_some(),
        "port not claimed"
    );
}
