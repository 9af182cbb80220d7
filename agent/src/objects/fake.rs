//! A [`PodObjects`] holding objects in memory, for unit tests.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{ObjectFuture, PodObjects};

#[derive(Default)]
pub struct FakeObjects {
    objects: Mutex<HashMap<(String, String, String), serde_json::Value>>,
}

impl FakeObjects {
    /// Stores `object` (its JSON) under its kind, namespace and name.
    pub fn put(&self, kind: &str, namespace: &str, name: &str, object: impl serde::Serialize) {
        let value = serde_json::to_value(object).expect("serializable object");
        self.objects.lock().unwrap().insert(
            (kind.to_string(), namespace.to_string(), name.to_string()),
            value,
        );
    }

    pub fn remove(&self, kind: &str, namespace: &str, name: &str) {
        self.objects.lock().unwrap().remove(&(
            kind.to_string(),
            namespace.to_string(),
            name.to_string(),
        ));
    }
}

impl PodObjects for FakeObjects {
    fn get<'a>(&'a self, kind: &'a str, namespace: &'a str, name: &'a str) -> ObjectFuture<'a> {
        let found = self
            .objects
            .lock()
            .unwrap()
            .get(&(kind.to_string(), namespace.to_string(), name.to_string()))
            .cloned();
        Box::pin(async move { Ok(found) })
    }
}
