//! One read per object for the length of a pass: the volume resync asks for the same
//! ConfigMap once however many pods mount it, instead of once per pod.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{ObjectFuture, ObjectsError, PodObjects};

type Key = (String, String, String);

pub struct Memo<'a> {
    inner: &'a dyn PodObjects,
    seen: Mutex<HashMap<Key, Result<Option<serde_json::Value>, ObjectsError>>>,
}

impl<'a> Memo<'a> {
    pub fn new(inner: &'a dyn PodObjects) -> Self {
        Self {
            inner,
            seen: Mutex::new(HashMap::new()),
        }
    }
}

impl PodObjects for Memo<'_> {
    fn get<'b>(&'b self, kind: &'b str, namespace: &'b str, name: &'b str) -> ObjectFuture<'b> {
        Box::pin(async move {
            let key = (kind.to_string(), namespace.to_string(), name.to_string());
            if let Some(found) = self
                .seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
            {
                return found.clone();
            }
            let found = self.inner.get(kind, namespace, name).await;
            self.seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, found.clone());
            found
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl PodObjects for Counting {
        fn get<'a>(&'a self, _: &'a str, _: &'a str, name: &'a str) -> ObjectFuture<'a> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let found = (name != "missing").then(|| serde_json::json!({"name": name}));
            Box::pin(async move { Ok(found) })
        }
    }

    #[tokio::test]
    async fn each_object_is_read_once_per_memo() {
        let inner = Counting::default();
        let memo = Memo::new(&inner);
        for _ in 0..3 {
            assert!(memo.get("ConfigMap", "ns", "a").await.unwrap().is_some());
            assert!(memo
                .get("ConfigMap", "ns", "missing")
                .await
                .unwrap()
                .is_none());
        }
        memo.get("Secret", "ns", "a").await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 3);
        // A new pass reads again.
        Memo::new(&inner).get("ConfigMap", "ns", "a").await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 4);
    }
}
