//! `skiff-control-plane migrate --from sqlite:DIR --to etcd://...`: copies a stopped
//! SQLite store into an empty etcd, object by object, keeping keys, uids and bytes (a
//! sealed Secret is copied sealed: the data dir's `secrets-encryption.key` must go with
//! it to the servers on etcd). Revisions are not kept: etcd numbers the copies, in the
//! order the objects were last written, and clients relist.

use tracing::info;

use super::{EtcdStore, Key, SqliteStore, Store, StoreError};

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub copied: usize,
    /// Objects per kind, sorted by kind.
    pub kinds: Vec<(String, usize)>,
    /// etcd's revision after the copy.
    pub revision: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("the target etcd already holds {0} skiff objects; migrate into an empty etcd, or pass --force to overwrite them")]
    NotEmpty(usize),
    #[error("reading the SQLite store: {0}")]
    Source(StoreError),
    #[error("writing {key} to etcd: {source}")]
    Target { key: Key, source: StoreError },
}

/// Copies every object of `from` into `to`, calling `progress(copied, total)` now and then.
/// `to` must hold no skiff objects unless `force`, in which case objects present in both
/// are replaced (and the others in `to` left alone).
pub async fn migrate(
    from: &SqliteStore,
    to: &EtcdStore,
    force: bool,
    mut progress: impl FnMut(usize, usize),
) -> Result<Summary, MigrateError> {
    let existing = to
        .count_all()
        .await
        .map_err(|source| MigrateError::Target {
            key: Key::new("*", "", "*"),
            source,
        })?;
    if existing > 0 && !force {
        return Err(MigrateError::NotEmpty(existing));
    }
    let objects = from.dump().await.map_err(MigrateError::Source)?;
    let total = objects.len();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for (i, object) in objects.into_iter().enumerate() {
        let target = |source| MigrateError::Target {
            key: object.key.clone(),
            source,
        };
        let created = to
            .create(object.key.clone(), object.uid.clone(), object.json.clone())
            .await;
        match created {
            Ok(_) => {}
            Err(StoreError::AlreadyExists(_)) if force => {
                // Replaced whole, so the uid is the source's too.
                to.delete(&object.key, None).await.map_err(target)?;
                to.create(object.key.clone(), object.uid.clone(), object.json.clone())
                    .await
                    .map_err(target)?;
            }
            Err(e) => return Err(target(e)),
        }
        *kinds.entry(object.key.kind.clone()).or_default() += 1;
        if (i + 1) % 500 == 0 || i + 1 == total {
            progress(i + 1, total);
        }
    }
    let revision = to
        .current_revision()
        .await
        .map_err(|source| MigrateError::Target {
            key: Key::new("*", "", "*"),
            source,
        })?;
    info!(
        copied = total,
        revision, "migrated the SQLite store to etcd"
    );
    Ok(Summary {
        copied: total,
        kinds: kinds.into_iter().collect(),
        revision,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::encryption::{self, is_sealed};
    use crate::store::etcd::process::{require_etcd, EtcdProcess};

    /// A server's store as `run` opens it: SQLite under the data dir, Secrets sealed.
    async fn populate(data_dir: &std::path::Path) -> SqliteStore {
        let sqlite = SqliteStore::open(data_dir.join("store.db")).unwrap();
        let (store, _) = encryption::open(Arc::new(sqlite.clone()), data_dir)
            .await
            .unwrap();
        for i in 0..1100 {
            let key = match i % 4 {
                0 => Key::new("Pod", format!("ns-{}", i % 7), format!("p-{i}")),
                1 => Key::new("ConfigMap", "default", format!("c-{i}")),
                2 => Key::new("Secret", "default", format!("s-{i}")),
                _ => Key::new("Node", "", format!("n-{i}")),
            };
            let json = serde_json::to_vec(&serde_json::json!({"i": i, "data": "hunter2"})).unwrap();
            store.create(key, format!("uid-{i}"), json).await.unwrap();
        }
        // Updated and deleted objects: the copy holds the last state, and no ghosts.
        store
            .update(
                Key::new("ConfigMap", "default", "c-1"),
                b"{\"v\":2}".to_vec(),
                None,
            )
            .await
            .unwrap();
        store
            .delete(&Key::new("Pod", "ns-0", "p-0"), None)
            .await
            .unwrap();
        sqlite
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_object_is_copied_with_its_uid_and_sealed_bytes() {
        if !require_etcd() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        let sqlite = populate(&data_dir).await;
        let etcd = EtcdProcess::start_single(&dir.path().join("etcd")).unwrap();
        let target = EtcdStore::connect(&[etcd.client_url().to_string()], None)
            .await
            .unwrap();

        let mut reports = vec![];
        let summary = migrate(&sqlite, &target, false, |n, of| reports.push((n, of)))
            .await
            .unwrap();
        assert_eq!(summary.copied, 1099);
        assert_eq!(reports.first(), Some(&(500, 1099)));
        assert_eq!(reports.last(), Some(&(1099, 1099)));
        assert_eq!(
            summary.kinds,
            [
                ("ConfigMap".to_string(), 275),
                ("Node".to_string(), 275),
                ("Pod".to_string(), 274),
                ("Secret".to_string(), 275)
            ]
        );

        // Every object, byte for byte with its uid; Secrets still sealed.
        let source = sqlite.dump().await.unwrap();
        for kind in ["Pod", "ConfigMap", "Secret", "Node"] {
            let mut expected: Vec<_> = source
                .iter()
                .filter(|o| o.key.kind == kind)
                .map(|o| (o.key.clone(), o.uid.clone(), o.json.clone()))
                .collect();
            expected.sort();
            let (copied, _) = target.list(kind, None).await.unwrap();
            let copied: Vec<_> = copied.into_iter().map(|o| (o.key, o.uid, o.json)).collect();
            assert_eq!(copied, expected, "{kind}");
        }
        let (secrets, _) = target.list("Secret", None).await.unwrap();
        assert!(secrets.iter().all(|s| is_sealed(&s.json)));
        // ...and they open with the key file carried with the data dir.
        let (opened, _) = encryption::open(Arc::new(target.clone()), &data_dir)
            .await
            .unwrap();
        let secret = opened
            .get(&Key::new("Secret", "default", "s-2"))
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&secret.json).contains("hunter2"));

        // A second run finds the etcd in use and refuses, unless forced.
        let again = migrate(&sqlite, &target, false, |_, _| {}).await;
        assert!(
            matches!(again, Err(MigrateError::NotEmpty(1099))),
            "{again:?}"
        );
        let forced = migrate(&sqlite, &target, true, |_, _| {}).await.unwrap();
        assert_eq!(forced.copied, 1099);
        assert_eq!(target.count_all().await.unwrap(), 1099);
    }
}
