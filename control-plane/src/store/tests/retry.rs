//! The one conflict-retry loop (`modify.rs`): it does what the decision asks, and a
//! write that keeps losing gives up after the attempt limit with the caller's error.

use super::super::{
    read_decide_write, Done, Key, MemoryStore, Step, Store, StoreError, CAS_ATTEMPTS,
};

#[derive(Debug, PartialEq)]
enum TestError {
    Store(String),
    Contended,
}

impl From<StoreError> for TestError {
    fn from(e: StoreError) -> Self {
        TestError::Store(e.to_string())
    }
}

fn key() -> Key {
    Key::new("ConfigMap", "default", "retry")
}

#[tokio::test]
async fn creates_updates_and_deletes_as_decided() {
    let store = MemoryStore::new();
    let create = |current: Option<&super::super::Stored>| {
        Ok::<_, TestError>(match current {
            None => Step::Create {
                uid: "u1".into(),
                bytes: b"{\"v\":1}".to_vec(),
                then: "created",
            },
            Some(_) => Step::Update {
                bytes: b"{\"v\":2}".to_vec(),
                then: "updated",
            },
        })
    };
    let first = read_decide_write(&store, &key(), create, || TestError::Contended).await;
    assert!(matches!(first, Ok(Done::Written("created", _))));
    let second = read_decide_write(&store, &key(), create, || TestError::Contended).await;
    let Ok(Done::Written("updated", written)) = second else {
        panic!("not updated");
    };
    assert_eq!(written.json, b"{\"v\":2}");
    let deleted = read_decide_write(
        &store,
        &key(),
        |_| Ok(Step::Delete(())),
        || TestError::Contended,
    )
    .await;
    assert!(matches!(deleted, Ok(Done::Deleted((), _))));
    assert_eq!(store.get(&key()).await.unwrap(), None);
}

#[tokio::test]
async fn a_write_that_keeps_losing_gives_up_with_the_callers_error() {
    let store = MemoryStore::new();
    store
        .create(key(), "u1".into(), b"{}".to_vec())
        .await
        .unwrap();
    let mut tries = 0;
    // Creating what exists loses like a conflict does, on every attempt.
    let result = read_decide_write(
        &store,
        &key(),
        |_| {
            tries += 1;
            Ok(Step::Create {
                uid: "u2".into(),
                bytes: b"{}".to_vec(),
                then: (),
            })
        },
        || TestError::Contended,
    )
    .await;
    assert!(matches!(result, Err(TestError::Contended)));
    assert_eq!(tries, CAS_ATTEMPTS);
}
