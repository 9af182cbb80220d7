//! Secrets sealed below, plaintext above; start-up sealing and key failures.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use futures::StreamExt;

use super::{key_path, open, EncryptedStore, EncryptionError, SecretsKey};
use crate::store::{EventType, Key, MemoryStore, SqliteStore, Store, StoreError};

const VALUE: &str = "hunter2-correct-horse";

fn secret_json(name: &str) -> Vec<u8> {
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "stringValueForTest": VALUE,
    });
    serde_json::to_vec(&secret).unwrap()
}

fn secret(name: &str) -> Key {
    Key::new("Secret", "default", name)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn store() -> (Arc<MemoryStore>, EncryptedStore) {
    let inner = Arc::new(MemoryStore::new());
    let (key, _) = SecretsKey::generate();
    let store = EncryptedStore::new(inner.clone(), key);
    (inner, store)
}

#[tokio::test]
async fn secrets_are_sealed_below_and_plain_above() {
    let (inner, store) = store();
    let mut events = store.watch(None, 0).await.unwrap();
    let created = store
        .create(secret("a"), "uid-a".into(), secret_json("a"))
        .await
        .unwrap();
    assert_eq!(created.json, secret_json("a"));
    let cm = Key::new("ConfigMap", "default", "c");
    store
        .create(
            cm.clone(),
            "uid-c".into(),
            b"{\"data\":{\"k\":\"plain\"}}".to_vec(),
        )
        .await
        .unwrap();

    let below = inner.get(&secret("a")).await.unwrap().unwrap();
    assert!(!contains(&below.json, VALUE));
    assert!(below.json.starts_with(b"skiff:enc:chacha20poly1305:v1:"));
    let cm_below = inner.get(&cm).await.unwrap().unwrap();
    assert!(contains(&cm_below.json, "plain"), "only Secrets are sealed");

    let read = store.get(&secret("a")).await.unwrap().unwrap();
    assert_eq!(read.json, secret_json("a"));
    let (listed, _) = store.list("Secret", None).await.unwrap();
    assert_eq!(listed[0].json, secret_json("a"));
    let updated = store
        .update(secret("a"), secret_json("a"), Some(read.revision))
        .await
        .unwrap();
    assert_eq!(updated.json, secret_json("a"));
    let deleted = store.delete(&secret("a"), None).await.unwrap();
    assert_eq!(deleted.json, secret_json("a"));

    let kinds = [
        EventType::Added,
        EventType::Added,
        EventType::Modified,
        EventType::Deleted,
    ];
    for kind in kinds {
        let event = events.next().await.unwrap().unwrap();
        assert_eq!(event.kind, kind);
        if event.object.key.kind == "Secret" {
            assert_eq!(event.object.json, secret_json("a"));
        }
    }
}

#[tokio::test]
async fn a_sealed_value_moved_to_another_secret_does_not_open() {
    let (inner, store) = store();
    store
        .create(secret("a"), "uid-a".into(), secret_json("a"))
        .await
        .unwrap();
    let sealed = inner.get(&secret("a")).await.unwrap().unwrap().json;
    inner
        .create(secret("b"), "uid-b".into(), sealed)
        .await
        .unwrap();
    let err = store.get(&secret("b")).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(m) if m.contains("damaged")),
        "{err:?}"
    );
}

#[tokio::test]
async fn start_up_seals_plain_secrets_and_checks_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn Store> = Arc::new(MemoryStore::new());
    inner
        .create(secret("old"), "uid-old".into(), secret_json("old"))
        .await
        .unwrap();

    let (store, sealed) = open(inner.clone(), dir.path()).await.unwrap();
    assert_eq!((sealed.rewritten, sealed.already), (1, 0));
    let mode = std::fs::metadata(key_path(dir.path()))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let below = inner.get(&secret("old")).await.unwrap().unwrap();
    assert!(!contains(&below.json, VALUE));
    // The plaintext create event is compacted away.
    let current = inner.current_revision().await.unwrap();
    assert_eq!(inner.compacted_revision().await.unwrap(), current);
    let read = store.get(&secret("old")).await.unwrap().unwrap();
    assert_eq!(read.json, secret_json("old"));

    // A restart with the same key: nothing to do.
    let (_, sealed) = open(inner.clone(), dir.path()).await.unwrap();
    assert_eq!((sealed.rewritten, sealed.already), (0, 1));

    // Another key: refused at start-up, naming the key file; the data stays.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(key_path(other.path()), format!("{}\n", "ab".repeat(32))).unwrap();
    let err = open(inner.clone(), other.path()).await.unwrap_err();
    assert!(matches!(err, EncryptionError::WrongKey { .. }), "{err}");
    assert!(err.to_string().contains("secrets-encryption.key"), "{err}");
    // No key at all: refused rather than a new key made over unreadable data.
    let empty = tempfile::tempdir().unwrap();
    let err = open(inner.clone(), empty.path()).await.unwrap_err();
    assert!(
        matches!(err, EncryptionError::MissingKey { count: 1, .. }),
        "{err}"
    );
    assert!(!key_path(empty.path()).exists());
    // A damaged key file.
    std::fs::write(key_path(empty.path()), "not hex").unwrap();
    let err = open(inner.clone(), empty.path()).await.unwrap_err();
    assert!(matches!(err, EncryptionError::KeyFile { .. }), "{err}");
    assert_eq!(
        store.get(&secret("old")).await.unwrap().unwrap().json,
        secret_json("old")
    );
}

#[tokio::test]
async fn the_sqlite_files_never_hold_a_secret_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let sqlite = SqliteStore::open(&db).unwrap();
    // Written before encryption existed, then sealed at start-up and scrubbed.
    sqlite
        .create(secret("old"), "uid-old".into(), secret_json("old"))
        .await
        .unwrap();
    let (store, sealed) = open(Arc::new(sqlite.clone()), dir.path()).await.unwrap();
    assert_eq!(sealed.rewritten, 1);
    sqlite.scrub().unwrap();
    let created = store
        .create(secret("new"), "uid-new".into(), secret_json("new"))
        .await
        .unwrap();
    store
        .update(secret("new"), secret_json("new"), Some(created.revision))
        .await
        .unwrap();
    for file in ["store.db", "store.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(
            !contains(&bytes, VALUE),
            "{file} holds the secret in plaintext"
        );
    }
    let read = store.get(&secret("new")).await.unwrap().unwrap();
    assert!(contains(&read.json, VALUE));
}
