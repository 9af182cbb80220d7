//! The object verbs against `MemoryStore`: no TLS, no files. The REST layer (auth, codes
//! on the wire) is covered by `tests/api_server.rs` against the real binary.

use std::sync::Arc;
use std::time::Duration;

use crate::resources::Object as WireObject;
use serde_json::Value;

use super::*;
use crate::core::kinds::SYSTEM_NAMESPACES;
use crate::core::{Error, Kind, SystemClock};
use crate::store::{MemoryStore, Store};

mod apply;
mod config;
mod finalizers;
mod jobs;
mod namespaces;
mod nodes;
mod read;
mod watch;
mod write;

/// Sets one label as `skiff label --overwrite` does (the CLI edits the object).
async fn set_label(
    store: &dyn Store,
    kind: &'static str,
    namespace: &str,
    name: &str,
    key: &str,
    value: &str,
) {
    let key_of = Kind::of(kind).key(namespace, name);
    edit(
        store,
        &SystemClock,
        &crate::core::Ranges::default(),
        &key_of,
        None,
        |v, _| {
            v["metadata"]["labels"][key] = value.into();
            Ok(true)
        },
    )
    .await
    .unwrap();
}

/// Generous: a case that needs it is broken, not slow.
const TIMEOUT: Duration = Duration::from_secs(10);

const NGINX_POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: my-nginx-pod
spec:
  containers:
    - name: my-nginx-container
      image: nginx:latest
      ports:
        - containerPort: 80
          protocol: TCP
";

/// A bootstrapped memory store: namespaces default and kube-system exist.
async fn store() -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    bootstrap(store.as_ref(), &SystemClock).await.unwrap();
    store
}

/// Applies `manifest` (no -n) and returns each object's action.
async fn apply_ok(store: &dyn Store, manifest: &str) -> Vec<Action> {
    apply(store, &SystemClock, "test.yaml", manifest, "")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect()
}

async fn apply_err(store: &dyn Store, manifest: &str) -> Error {
    apply(store, &SystemClock, "test.yaml", manifest, "")
        .await
        .unwrap_err()
}

fn json(object: &WireObject) -> Value {
    serde_json::from_slice(&object.json).unwrap()
}

fn config_map(name: &str, namespace: &str, data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels: {{app: {name}}}\ndata:\n  key: {data:?}\n"
    )
}

fn code(e: Error) -> tonic::Code {
    tonic::Status::from(e).code()
}
