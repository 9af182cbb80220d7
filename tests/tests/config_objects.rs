//! ConfigMaps and Secrets in the control plane: a node reads only the secrets its own pods
//! use (GetPodObject with a node certificate got by the agent's own join code),
//! `stringData` stored and shown as base64 `data`, volume types skiff cannot mount
//! refused at apply, and secrets never readable in the SQLite files.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use anyhow::{ensure, Context};
use skiff_agent::join::bootstrap::register;
use skiff_e2e::agent::find_binary;
use skiff_e2e::{free_port, TestControlPlane};
use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::GetPodObjectRequest;
use tonic::transport::Channel;
use tonic::Code;

const VALUE: &str = "swordfish-e2e-q7Xk2";
const VALUE_BASE64: &str = "c3dvcmRmaXNoLWUyZS1xN1hrMg==";

fn secret(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\nstringData:\n  password: {VALUE}\n"
    )
}

/// A control plane, or `None` where the e2e prerequisites are missing (a failure under
/// CI=true).
fn control_plane() -> Option<TestControlPlane> {
    if !skiff_e2e::require_root_and_tools() {
        return None;
    }
    Some(TestControlPlane::start().expect("control plane"))
}

/// Joins `name` as an agent does (node token → CA pinned → CSR → node certificate) and
/// returns its Node client.
async fn join(cp: &TestControlPlane, name: &str) -> anyhow::Result<NodeClient<Channel>> {
    let creds = register(&cp.url, &cp.token()?, name, None).await?;
    let channel =
        skiff_proto::auth::node_channel(&cp.url, &creds.ca_pem, &creds.cert_pem, &creds.key_pem)
            .await?;
    Ok(NodeClient::new(channel))
}

fn ask(node: &str, kind: &str, name: &str) -> GetPodObjectRequest {
    GetPodObjectRequest {
        node_name: node.into(),
        kind: kind.into(),
        namespace: "default".into(),
        name: name.into(),
    }
}

#[test]
fn a_node_is_refused_another_nodes_secret() {
    let Some(cp) = control_plane() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let run = runtime.block_on(async {
        let mut node_a = join(&cp, "cfg-node-a").await?;
        let mut node_b = join(&cp, "cfg-node-b").await?;
        cp.apply_yaml("db.yaml", &secret("db-pass"))?;
        cp.apply_yaml("other.yaml", &secret("unused-pass"))?;
        // Bound to node a by name, using the secret through an env entry.
        let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  nodeName: cfg-node-a\n  containers:\n  - name: c\n    image: busybox\n    env:\n    - name: PW\n      valueFrom:\n        secretKeyRef: {name: db-pass, key: password}\n";
        cp.apply_yaml("web.yaml", pod)?;

        let object = node_a
            .get_pod_object(ask("cfg-node-a", "Secret", "db-pass"))
            .await
            .context("node a reading its pod's secret")?
            .into_inner();
        let secret: serde_json::Value = serde_json::from_slice(&object.json)?;
        ensure!(
            secret["data"]["password"] == VALUE_BASE64,
            "node a got {secret}"
        );

        let refused = node_b
            .get_pod_object(ask("cfg-node-b", "Secret", "db-pass"))
            .await
            .expect_err("node b read node a's secret");
        ensure!(refused.code() == Code::PermissionDenied, "{refused:?}");
        ensure!(
            refused.message().contains("cfg-node-b") && refused.message().contains("db-pass"),
            "the refusal names neither node nor secret: {}",
            refused.message()
        );
        // Node b's certificate does not pass for node a.
        let posing = node_b
            .get_pod_object(ask("cfg-node-a", "Secret", "db-pass"))
            .await
            .expect_err("node b posed as node a");
        ensure!(posing.code() == Code::PermissionDenied, "{posing:?}");
        // A secret no pod of node a uses, existing or not, is refused alike.
        for name in ["unused-pass", "no-such-secret"] {
            let err = node_a
                .get_pod_object(ask("cfg-node-a", "Secret", name))
                .await
                .expect_err("node a read a secret its pods do not use");
            ensure!(err.code() == Code::PermissionDenied, "{name}: {err:?}");
        }

        // Once the pod is gone (deletion is immediate), node a loses the secret too.
        cp.skiff(&["delete", "pod", "web"])?;
        let after = node_a
            .get_pod_object(ask("cfg-node-a", "Secret", "db-pass"))
            .await
            .expect_err("node a read the secret after its pod was deleted");
        ensure!(after.code() == Code::PermissionDenied, "{after:?}");
        Ok::<_, anyhow::Error>(())
    });
    run.unwrap_or_else(|e| panic!("{e:#}"));
}

#[test]
fn string_data_is_stored_and_shown_as_base64_data() {
    let Some(cp) = control_plane() else { return };
    let run = || -> anyhow::Result<()> {
        cp.apply_yaml("db.yaml", &secret("db"))?;
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: game-config}\ndata:\n  a: '1'\n  b: '2'\n";
        cp.apply_yaml("cm.yaml", cm)?;

        let yaml = cp.skiff(&["get", "secret", "db", "-o", "yaml"])?;
        ensure!(
            yaml.contains(&format!("password: {VALUE_BASE64}")),
            "get -o yaml does not show base64 data:\n{yaml}"
        );
        let shown: serde_yaml::Value = serde_yaml::from_str(&yaml)?;
        ensure!(
            shown.get("stringData").is_none(),
            "stringData kept:\n{yaml}"
        );
        ensure!(shown["type"] == "Opaque", "type not defaulted:\n{yaml}");

        let tables = cp.skiff(&["get", "cm,secret"])?;
        let lines: Vec<Vec<&str>> = tables
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        ensure!(
            lines.contains(&vec!["NAME", "DATA", "AGE"])
                && lines.contains(&vec!["NAME", "TYPE", "DATA", "AGE"]),
            "kubectl's headers missing:\n{tables}"
        );
        ensure!(
            lines
                .iter()
                .any(|l| l[..2] == ["configmap/game-config", "2"])
                && lines
                    .iter()
                    .any(|l| l.starts_with(&["secret/db", "Opaque", "1"])),
            "rows differ from kubectl's:\n{tables}"
        );

        // describe shows sizes, never the value (nor the last-applied stringData).
        let described = cp.skiff(&["describe", "secret", "db"])?;
        ensure!(
            described.contains("password:  19 bytes") && !described.contains(VALUE),
            "describe secret:\n{described}"
        );

        // A TLS secret without its key is refused with the field path.
        let tls = "apiVersion: v1\nkind: Secret\nmetadata: {name: cert}\ntype: kubernetes.io/tls\nstringData: {tls.crt: x}\n";
        let path = cp.scratch().join("tls.yaml");
        std::fs::write(&path, tls)?;
        let out = cp.skiff_output(&["apply", "-f", path.to_str().unwrap_or_default()])?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            !out.status.success() && stderr.contains("data[tls.key]: Required value"),
            "a TLS secret without tls.key: {stderr}"
        );
        Ok(())
    };
    run().unwrap_or_else(|e| panic!("{e:#}"));
}

#[test]
fn volume_types_skiff_cannot_mount_are_refused_at_apply() {
    let Some(cp) = control_plane() else { return };
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: nfs-user}\nspec:\n  containers:\n  - {name: c, image: busybox, volumeMounts: [{name: share, mountPath: /share}]}\n  volumes:\n  - name: share\n    nfs: {server: 10.0.0.1, path: /exports}\n";
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: iscsi-user}\nspec:\n  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: x}}\n    spec:\n      containers: [{name: c, image: busybox}]\n      volumes:\n      - {name: disk, iscsi: {targetPortal: '10.0.0.1:3260', iqn: 'iqn.2001-04.com.example:disk', lun: 0}}\n";
    for (file, yaml, path, kind, name) in [
        ("nfs.yaml", pod, "spec.volumes[0].nfs", "pod", "nfs-user"),
        (
            "iscsi.yaml",
            deployment,
            "spec.template.spec.volumes[0].iscsi",
            "deployment",
            "iscsi-user",
        ),
    ] {
        let manifest = cp.scratch().join(file);
        std::fs::write(&manifest, yaml).unwrap();
        let out = cp
            .skiff_output(&["apply", "-f", manifest.to_str().unwrap()])
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file} was accepted");
        assert!(
            stderr.contains(&format!("{path}: Forbidden: volume type"))
                && stderr.contains("is not supported by skiff")
                && stderr.contains(
                    "configMap, downwardAPI, emptyDir, hostPath, persistentVolumeClaim, projected, secret"
                ),
            "{file}: {stderr}"
        );
        let get = cp.skiff_output(&["get", kind, name]).unwrap();
        assert!(!get.status.success(), "{kind} {name} was created anyway");
    }
}

#[test]
fn secrets_are_not_readable_in_the_sqlite_files() {
    let Some(mut cp) = control_plane() else {
        return;
    };
    let run = |cp: &mut TestControlPlane| -> anyhow::Result<()> {
        cp.apply_yaml("db.yaml", &secret("db"))?;
        let data = cp.data();
        let key = std::fs::metadata(data.join("secrets-encryption.key"))?;
        ensure!(
            key.permissions().mode() & 0o777 == 0o600,
            "the key file is not 0600"
        );
        let leaks = || -> anyhow::Result<Vec<String>> {
            let mut found = Vec::new();
            for file in ["store.db", "store.db-wal"] {
                let bytes = std::fs::read(data.join(file)).unwrap_or_default();
                for needle in [VALUE, VALUE_BASE64] {
                    if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                        found.push(format!("{file} holds {needle:?}"));
                    }
                }
            }
            Ok(found)
        };
        let found = leaks()?;
        ensure!(found.is_empty(), "{found:?}");
        // The API still serves it, also after a kill -9 and restart (same key file).
        cp.restart()?;
        let secret = cp.get_json("secret", "db")?;
        ensure!(
            secret["data"]["password"] == VALUE_BASE64,
            "after a restart: {secret}"
        );
        let found = leaks()?;
        ensure!(found.is_empty(), "after a restart: {found:?}");

        // Another key, or none: start-up stops and names the key file; nothing is lost.
        cp.kill9();
        let key_file = data.join("secrets-encryption.key");
        let original = std::fs::read(&key_file)?;
        for (what, replacement) in [("another key", Some("ab".repeat(32))), ("no key", None)] {
            match &replacement {
                Some(text) => std::fs::write(&key_file, text)?,
                None => std::fs::remove_file(&key_file)?,
            }
            let out = Command::new(find_binary("skiff-control-plane")?)
                .arg("--data-dir")
                .arg(&data)
                .args(["--listen", &format!("127.0.0.1:{}", free_port()?)])
                .output()?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            ensure!(
                !out.status.success() && stderr.contains("secrets-encryption.key"),
                "{what}: start-up did not stop naming the key file: {stderr}"
            );
            ensure!(
                replacement.is_some() || !key_file.exists(),
                "{what}: a new key was made over sealed secrets"
            );
        }
        std::fs::write(&key_file, &original)?;
        cp.restart()?;
        let secret = cp.get_json("secret", "db")?;
        ensure!(
            secret["data"]["password"] == VALUE_BASE64,
            "with the key restored: {secret}"
        );
        Ok(())
    };
    run(&mut cp).unwrap_or_else(|e| panic!("{e:#}"));
}
