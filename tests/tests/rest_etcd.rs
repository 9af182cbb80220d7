//! The control plane on a real etcd (`--store etcd://`), through the REST API: objects
//! round-trip with etcd's revisions as resourceVersions, a dead etcd answers 503 with a
//! Status and the server recovers by itself when etcd is back, and `migrate` carries a
//! SQLite cluster's objects over. The control plane alone: nothing here needs a node.

use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::json;
use skiff_control_plane::store::etcd::process::{require_etcd, EtcdProcess};
use skiff_e2e::agent::find_binary;
use skiff_e2e::rest::Rest;
use skiff_e2e::{serial, wait_for, TestControlPlane};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

fn store_flag(etcd: &EtcdProcess) -> String {
    format!(
        "--store=etcd://{}",
        etcd.client_url().trim_start_matches("http://")
    )
}

#[test]
fn the_api_answers_503_while_etcd_is_down_and_recovers_by_itself() {
    if !require_etcd() {
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut etcd = EtcdProcess::start_single(dir.path()).unwrap();
    let cp = TestControlPlane::start_with_args(&[&store_flag(&etcd)]).unwrap();
    let result = (|| -> anyhow::Result<()> {
        let rest = Rest::new(&cp)?;
        let created = rest.post(
            CONFIGMAPS,
            &json!({"metadata": {"name": "a"}, "data": {"k": "v"}}),
        )?;
        ensure!(
            created.code == 201,
            "create: {} {}",
            created.code,
            created.text
        );
        let got = rest.get(&format!("{CONFIGMAPS}/a"))?;
        ensure!(got.json()["data"]["k"] == "v", "{}", got.text);
        ensure!(
            got.json()["metadata"]["resourceVersion"]
                == created.json()["metadata"]["resourceVersion"],
            "the resourceVersion is the write's etcd revision"
        );

        etcd.kill();
        let refused = rest.post(CONFIGMAPS, &json!({"metadata": {"name": "b"}}))?;
        ensure!(
            refused.code == 503,
            "without etcd: {} {}",
            refused.code,
            refused.text
        );
        ensure!(
            refused.json()["kind"] == "Status" && refused.json()["reason"] == "ServiceUnavailable",
            "{}",
            refused.text
        );

        let member = etcd.member.clone();
        etcd = member.spawn()?;
        etcd.wait_healthy(Duration::from_secs(30))?;
        wait_for(
            "the API on etcd again",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                let reply = rest.post(CONFIGMAPS, &json!({"metadata": {"name": "c"}}))?;
                ensure!(reply.code == 201, "{} {}", reply.code, reply.text);
                Ok(())
            },
        )?;
        let list = rest.get(CONFIGMAPS)?.json();
        let names: Vec<&str> = list["items"]
            .as_array()
            .context("items")?
            .iter()
            .filter_map(|i| i["metadata"]["name"].as_str())
            .collect();
        ensure!(names.contains(&"a") && names.contains(&"c"), "{names:?}");
        Ok(())
    })();
    if let Err(e) = result {
        panic!("{e:#}\ncontrol plane log:\n{}", cp.log());
    }
}

#[test]
fn migrate_carries_a_sqlite_cluster_to_etcd() {
    if !require_etcd() {
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdProcess::start_single(dir.path()).unwrap();
    let mut on_sqlite = TestControlPlane::start().unwrap();
    let rest = Rest::new(&on_sqlite).unwrap();
    for i in 0..20 {
        let body = json!({"metadata": {"name": format!("cm-{i}")}, "data": {"i": i.to_string()}});
        assert_eq!(rest.post(CONFIGMAPS, &body).unwrap().code, 201);
    }
    let uid = rest.get(&format!("{CONFIGMAPS}/cm-7")).unwrap().json()["metadata"]["uid"].clone();
    on_sqlite.kill9();

    let to = store_flag(&etcd).replace("--store=", "");
    let out = Command::new(find_binary("skiff-control-plane").unwrap())
        .args(["migrate", "--from"])
        .arg(format!("sqlite:{}", on_sqlite.data().display()))
        .args(["--to", &to])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config_maps: usize = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("ConfigMap: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(config_maps >= 20, "ours and the root CA's: {stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("copied ")), "{stdout}");

    // Into a non-empty etcd only with --force.
    let again = Command::new(find_binary("skiff-control-plane").unwrap())
        .args(["migrate", "--from"])
        .arg(format!("sqlite:{}", on_sqlite.data().display()))
        .args(["--to", &to])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let on_etcd = TestControlPlane::start_with_args(&[&store_flag(&etcd)]).unwrap();
    let rest = Rest::new(&on_etcd).unwrap();
    let got = rest.get(&format!("{CONFIGMAPS}/cm-7")).unwrap().json();
    assert_eq!(got["data"]["i"], "7");
    assert_eq!(got["metadata"]["uid"], uid, "the uid came along");
}
