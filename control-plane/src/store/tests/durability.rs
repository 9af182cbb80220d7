//! SQLite only: what is acknowledged stays, across a reopen and across `kill -9`.
//!
//! The kill test re-executes this test binary as the child (selected by an environment
//! variable, running only `kill9_child_helper`), so it needs nothing but `cargo test`.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::json as j;

use super::{json, pod, take};
use crate::store::{Key, SqliteStore, Store, StoreError};

/// Set to a database path, it turns `kill9_child_helper` into the writer child.
const CHILD_ENV: &str = "SKIFF_STORE_KILL9_CHILD_DB";
const WRITERS: usize = 4;
const KEYS_PER_WRITER: usize = 8;
/// The parent kills the child after this many acknowledgements.
const KILL_AFTER: usize = 400;
/// SIGKILL without a libc dependency: 9 on every Linux architecture.
const SIGKILL: i32 = 9;

#[test]
fn writes_are_fsyncd_through_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("store.db")).unwrap();
    assert_eq!(store.writer_pragma::<String>("journal_mode"), "wal");
    assert_eq!(
        store.writer_pragma::<i64>("synchronous"),
        2,
        "FULL: the WAL is fsync'd at each commit"
    );
    assert_eq!(store.writer_pragma::<i64>("busy_timeout"), 5_000);
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let (a, b, gone) = {
        let store = SqliteStore::open(&path).unwrap();
        let a = store
            .create(pod("ns", "a"), "uid-a".into(), json(j!({"v": 1})))
            .await
            .unwrap();
        let b = store
            .create(pod("ns", "b"), "uid-b".into(), json(j!({"v": 1})))
            .await
            .unwrap();
        let b = store
            .update(b.key, json(j!({"v": 2})), Some(b.revision))
            .await
            .unwrap();
        store
            .create(pod("ns", "c"), "uid-c".into(), json(j!({})))
            .await
            .unwrap();
        let gone = store.delete(&pod("ns", "c"), None).await.unwrap();
        store.compact(2).await.unwrap();
        (a, b, gone)
    };

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.get(&pod("ns", "a")).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.list("Pod", None).await.unwrap(),
        (vec![a, b.clone()], 5)
    );
    assert_eq!(store.compacted_revision().await.unwrap(), 2);
    let mut watch = store.watch(None, 2).await.unwrap();
    let events = take(&mut watch, 3).await;
    assert_eq!(
        events.iter().map(|e| e.revision()).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert_eq!(events[2].object, gone);
    // The optimistic-concurrency token read before the restart is still valid after it.
    let b2 = store
        .update(pod("ns", "b"), json(j!({"v": 3})), Some(b.revision))
        .await
        .unwrap();
    assert_eq!(b2.revision, 6, "the counter continues, never reused");
}

#[tokio::test]
async fn revision_is_never_reused_after_compacting_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .create(pod("ns", "a"), "uid-a".into(), json(j!({})))
            .await
            .unwrap();
        store.delete(&pod("ns", "a"), None).await.unwrap();
        store.compact(2).await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), 2);
    let again = store
        .create(pod("ns", "a"), "uid-a2".into(), json(j!({})))
        .await
        .unwrap();
    assert_eq!(again.revision, 3);
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::tests::durability::kill9_child_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // (writer, seq) -> revision, for every write the child reported as acknowledged,
    // including those that reached the pipe between the kill and the child's death.
    let mut acks: HashMap<(usize, usize), i64> = HashMap::new();
    let mut killed = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let Some(ack) = line.strip_prefix("ACK ") else {
            continue;
        };
        let fields: Vec<usize> = ack.split(' ').map(|f| f.parse().unwrap()).collect();
        acks.insert((fields[0], fields[1]), fields[2] as i64);
        if acks.len() == KILL_AFTER && !killed {
            child.kill().unwrap(); // SIGKILL on unix
            killed = true;
        }
    }
    let status = child.wait().unwrap();
    assert!(
        killed,
        "the child stopped after {} acknowledgements without being killed: {status}",
        acks.len()
    );
    assert_eq!(
        status.signal(),
        Some(SIGKILL),
        "the child died of the kill, not on its own: {status}"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        let current = store.current_revision().await.unwrap();
        let max_ack = acks.values().copied().max().unwrap();
        assert!(
            current >= max_ack,
            "revision {current} is behind the acknowledged {max_ack}"
        );

        // Every acknowledged write is in the log, at its revision, with its content.
        let mut watch = store.watch(None, 0).await.unwrap();
        let log: HashMap<i64, _> = take(&mut watch, current as usize)
            .await
            .into_iter()
            .map(|e| (e.revision(), e))
            .collect();
        for ((writer, seq), revision) in &acks {
            let event = log
                .get(revision)
                .unwrap_or_else(|| panic!("acknowledged revision {revision} lost"));
            assert_eq!(event.object.key, child_key(*writer, *seq));
            assert_eq!(event.object.json, child_json(*writer, *seq));
        }

        // And every object is at least at its last acknowledged write.
        let mut last_acked: BTreeMap<Key, usize> = BTreeMap::new();
        for (writer, seq) in acks.keys() {
            let entry = last_acked.entry(child_key(*writer, *seq)).or_default();
            *entry = (*entry).max(*seq);
        }
        for (key, seq) in last_acked {
            let object = store
                .get(&key)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{key} lost"));
            let stored: serde_json::Value = serde_json::from_slice(&object.json).unwrap();
            assert!(
                stored["seq"].as_u64().unwrap() as usize >= seq,
                "{key} went back to {stored} from seq {seq}"
            );
        }

        // The store is writable after the crash, and continues the counter.
        let next = store
            .create(pod("ns", "after-crash"), "uid".into(), json(j!({})))
            .await
            .unwrap();
        assert_eq!(next.revision, current + 1);
    });
}

/// The child: `WRITERS` concurrent writers, each cycling over its keys, print `ACK writer
/// seq revision` after each acknowledged write, until the parent kills them. Without the
/// environment variable (a normal test run) it does nothing.
#[test]
fn kill9_child_helper() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let store = Arc::new(SqliteStore::open(path).unwrap());
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = store.clone();
                tokio::spawn(async move {
                    // Bounded so a child whose parent died cannot run forever.
                    for seq in 0..1_000_000 {
                        let (key, json) = (child_key(writer, seq), child_json(writer, seq));
                        let written = if seq < KEYS_PER_WRITER {
                            store.create(key, format!("uid-{writer}-{seq}"), json).await
                        } else {
                            store.update(key, json, None).await
                        };
                        let revision = written.unwrap().revision;
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACK {writer} {seq} {revision}").unwrap();
                        out.flush().unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
    });
}

fn child_key(writer: usize, seq: usize) -> Key {
    pod("crash", &format!("w{writer}-k{}", seq % KEYS_PER_WRITER))
}

fn child_json(writer: usize, seq: usize) -> Vec<u8> {
    json(j!({"writer": writer, "seq": seq, "padding": "x".repeat(200)}))
}

/// A database written before events kept the object they replaced (schema 1) opens, and
/// a read at a revision that needs such an old event answers as if it were compacted.
#[tokio::test]
async fn a_schema_1_log_reads_at_a_revision_as_far_as_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE objects (
                kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
                uid TEXT NOT NULL, revision INTEGER NOT NULL, json BLOB NOT NULL,
                PRIMARY KEY (kind, namespace, name)
            ) WITHOUT ROWID;
            CREATE TABLE events (
                revision INTEGER PRIMARY KEY, type TEXT NOT NULL,
                kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
                uid TEXT NOT NULL, json BLOB NOT NULL
            );
            CREATE INDEX events_by_kind ON events (kind, revision);
            CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            INSERT INTO meta (key, value) VALUES ('revision', 2), ('compacted', 0);
            INSERT INTO objects VALUES ('Pod', 'ns', 'a', 'uid-a', 2, CAST('{\"v\":2}' AS BLOB));
            INSERT INTO events VALUES (1, 'ADDED', 'Pod', 'ns', 'a', 'uid-a', CAST('{\"v\":1}' AS BLOB));
            INSERT INTO events VALUES (2, 'MODIFIED', 'Pod', 'ns', 'a', 'uid-a', CAST('{\"v\":2}' AS BLOB));
            PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.writer_pragma::<i64>("user_version"), 2);
    assert_eq!(
        store.list_at("Pod", None, 1).await,
        Err(StoreError::Compacted {
            requested: 1,
            oldest: 2
        })
    );
    // Before the create, nothing; writes after the upgrade keep what they replace.
    assert!(store.list_at("Pod", None, 0).await.unwrap().is_empty());
    let (before, at) = store.list("Pod", None).await.unwrap();
    store
        .update(Key::new("Pod", "ns", "a"), br#"{"v":3}"#.to_vec(), None)
        .await
        .unwrap();
    assert_eq!(store.list_at("Pod", None, at).await.unwrap(), before);
}
