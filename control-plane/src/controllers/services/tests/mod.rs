//! Services against `MemoryStore`: allocation through apply, the endpoints rules, the
//! controller driven by store writes, and the nodes' watches.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::core::Ranges;
use crate::core::{Error, SystemClock};
use crate::resources::{apply_with, bootstrap, delete, get};
use crate::store::{MemoryStore, Store};

mod allocation;
mod controller;
mod rules;
mod slices;

/// Generous: a case that needs it is broken, not slow.
const TIMEOUT: Duration = Duration::from_secs(10);

async fn store() -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    bootstrap(store.as_ref(), &SystemClock).await.unwrap();
    store
}

fn small_ranges() -> Ranges {
    Ranges {
        service_cidr: "10.43.0.0/29".parse().unwrap(),
        node_ports: 30000..=30002,
    }
}

async fn apply_svc(store: &dyn Store, ranges: &Ranges, manifest: &str) -> Result<Value, Error> {
    let applied = apply_with(store, &SystemClock, ranges, "svc.yaml", manifest, "").await?;
    Ok(serde_json::from_slice(&applied[0].object.json).unwrap())
}

async fn get_json(store: &dyn Store, kind: &str, name: &str) -> Option<Value> {
    get(store, kind, "default", name)
        .await
        .ok()
        .map(|o| serde_json::from_slice(&o.json).unwrap())
}

async fn delete_svc(store: &dyn Store, name: &str) {
    delete(store, &SystemClock, "Service", "default", name, "")
        .await
        .unwrap();
}

/// A Service manifest: `extra` is appended to `spec` (YAML at two spaces' indent).
fn service(name: &str, spec_type: &str, ports: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  type: {spec_type}\n  selector:\n    app: web\n  ports:\n{ports}{extra}"
    )
}

const PORT_8080: &str = "    - name: web\n      port: 8080\n      targetPort: 80\n";

fn node_port(port: u16) -> String {
    format!("    - name: web\n      port: 8080\n      targetPort: 80\n      nodePort: {port}\n")
}

/// Polls `read` until `check` accepts what it returns, and returns that; after
/// [`TIMEOUT`] panics with the last value read.
async fn poll_until<T, F>(what: &str, read: impl Fn() -> F, check: impl Fn(&T) -> bool) -> T
where
    T: std::fmt::Debug,
    F: std::future::Future<Output = T>,
{
    let mut last = None;
    let found = tokio::time::timeout(TIMEOUT, async {
        loop {
            let value = read().await;
            if check(&value) {
                return value;
            }
            last = Some(value);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("{what} never got as expected: {last:?}"))
}
