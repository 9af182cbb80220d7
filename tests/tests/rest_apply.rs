//! Server-side apply and managedFields, with clients no one here wrote, on a control
//! plane alone (no container is needed):
//! - the real kubectl: `apply --server-side -f deployment-nginx.yaml`, a second manager's
//!   conflicting apply refused with kube-apiserver's words, `--force-conflicts` taking the
//!   field over, a field dropped from the file removed from the object (one another
//!   manager still owns kept), `get -o yaml --show-managed-fields`, and client-side
//!   apply beside it;
//! - the kube crate's `Patch::Apply`: create on apply, conflict, force, dry run, and the
//!   `Update` entries of create, replace and merge patch;
//! - raw requests: `fieldManager` is required for apply, `force` only for apply.

use std::path::Path;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::rest::Rest;
use skiff_e2e::{kube_client, ClusterEnv, TestControlPlane};

const DEPLOYMENT: &str = "my-nginx-deployment";

fn control_plane() -> Option<TestControlPlane> {
    if !skiff_e2e::require_root_and_tools() {
        return None;
    }
    Some(TestControlPlane::start().expect("control plane"))
}

/// The user's `deployment-nginx.yaml`, as it is.
fn manifest() -> String {
    std::fs::read_to_string(ClusterEnv::user_manifest("deployment-nginx.yaml")).unwrap()
}

/// Writes `text` as `name` in `dir`, for `kubectl apply -f name`.
fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn deployment(k: &Kubectl) -> Value {
    serde_json::from_str(
        &k.ok(&[
            "get",
            "deployment",
            DEPLOYMENT,
            "-o",
            "json",
            "--show-managed-fields",
        ])
        .unwrap(),
    )
    .unwrap()
}

/// The `fieldsV1` of `manager`'s entry, if it has one.
fn owned(object: &Value, manager: &str) -> Option<Value> {
    object["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager)
        .map(|e| e["fieldsV1"].clone())
}

#[test]
fn kubectl_server_side_apply_conflicts_force_and_pruning() {
    let Some(cp) = control_plane() else { return };
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::for_cluster(&cp).unwrap().in_dir(dir.path());
    let original = manifest();
    write(dir.path(), "deployment-nginx.yaml", &original);

    let out = k
        .ok(&["apply", "--server-side", "-f", "deployment-nginx.yaml"])
        .unwrap();
    assert_eq!(
        out.trim(),
        "deployment.apps/my-nginx-deployment serverside-applied"
    );
    let live = deployment(&k);
    assert_eq!(live["spec"]["replicas"], 3);
    let entry = &live["metadata"]["managedFields"][0];
    assert_eq!(entry["manager"], "kubectl", "{live}");
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["apiVersion"], "apps/v1");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    let fields = &entry["fieldsV1"];
    assert_eq!(fields["f:spec"]["f:replicas"], json!({}), "{fields}");
    assert_eq!(
        fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"]
            ["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"],
        json!({".": {}, "f:containerPort": {}}),
        "{fields}"
    );

    // A second manager wanting 5 replicas is refused, as kubectl prints it.
    write(
        dir.path(),
        "other.yaml",
        &original.replace("replicas: 3", "replicas: 5"),
    );
    let refused = k
        .run(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            "other.yaml",
        ])
        .unwrap();
    assert!(!refused.success(), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--force-conflicts"),
        "{}",
        refused.stderr
    );
    assert_eq!(deployment(&k)["spec"]["replicas"], 3);

    // Forced, it wins and takes the field; the rest it applied the same is shared.
    k.ok(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        "other.yaml",
    ])
    .unwrap();
    let live = deployment(&k);
    assert_eq!(live["spec"]["replicas"], 5);
    assert_eq!(
        owned(&live, "other").unwrap()["f:spec"]["f:replicas"],
        json!({})
    );
    let first = owned(&live, "kubectl").unwrap();
    assert!(first["f:spec"].get("f:replicas").is_none(), "{first}");
    assert!(first["f:spec"].get("f:template").is_some(), "{first}");

    // The first manager drops replicas and adds a label: replicas stay (other owns
    // them), the label comes.
    let without_replicas = original.replace("  replicas: 3\n", "");
    let labelled = without_replicas.replace(
        "  name: my-nginx-deployment\n",
        "  name: my-nginx-deployment\n  labels:\n    tier: web\n",
    );
    write(dir.path(), "labelled.yaml", &labelled);
    k.ok(&["apply", "--server-side", "-f", "labelled.yaml"])
        .unwrap();
    let live = deployment(&k);
    assert_eq!(live["spec"]["replicas"], 5);
    assert_eq!(live["metadata"]["labels"]["tier"], "web", "{live}");

    // Removing the label from the file removes it from the object.
    write(dir.path(), "unlabelled.yaml", &without_replicas);
    k.ok(&["apply", "--server-side", "-f", "unlabelled.yaml"])
        .unwrap();
    let live = deployment(&k);
    assert!(
        live["metadata"]
            .get("labels")
            .and_then(|l| l.get("tier"))
            .is_none(),
        "{live}"
    );
    assert_eq!(live["spec"]["replicas"], 5);

    // `-o yaml` shows managedFields only when asked.
    let yaml = k
        .ok(&[
            "get",
            "deployment",
            DEPLOYMENT,
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .unwrap();
    for wanted in [
        "managedFields:",
        "manager: other",
        "operation: Apply",
        "fieldsType: FieldsV1",
        "f:replicas: {}",
    ] {
        assert!(yaml.contains(wanted), "{wanted} missing from:\n{yaml}");
    }
    let plain = k
        .ok(&["get", "deployment", DEPLOYMENT, "-o", "yaml"])
        .unwrap();
    assert!(!plain.contains("managedFields"), "{plain}");

    // Client-side apply still works beside it, recorded as kubectl's updater.
    write(
        dir.path(),
        "client.yaml",
        &original.replace("replicas: 3", "replicas: 2"),
    );
    k.ok(&["apply", "-f", "client.yaml"]).unwrap();
    let live = deployment(&k);
    assert_eq!(live["spec"]["replicas"], 2);
    assert!(live["metadata"]["annotations"]
        .get("kubectl.kubernetes.io/last-applied-configuration")
        .is_some());
    let csa = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "kubectl-client-side-apply")
        .unwrap_or_else(|| panic!("no client-side apply entry: {live}"));
    assert_eq!(csa["operation"], "Update");
    assert_eq!(csa["fieldsV1"]["f:spec"]["f:replicas"], json!({}), "{csa}");
    assert!(
        owned(&live, "other").is_none_or(|f| f["f:spec"].get("f:replicas").is_none()),
        "the update took replicas from other: {live}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kube_crates_patch_apply_and_update_entries() {
    let Some(cp) = control_plane() else { return };
    let client = kube_client::for_cluster(&cp).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let config = |value: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "applied"}, "data": {"k": value, "mine": "x"}})
    };

    // Create on apply.
    let created = cms
        .patch(
            "applied",
            &PatchParams::apply("kube-test"),
            &Patch::Apply(config("1")),
        )
        .await
        .unwrap();
    let managed = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].manager.as_deref(), Some("kube-test"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));

    // Another applier's different value conflicts; forced, it wins.
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "applied"}, "data": {"k": "2"}});
    let err = cms
        .patch(
            "applied",
            &PatchParams::apply("other"),
            &Patch::Apply(&theirs),
        )
        .await
        .unwrap_err();
    match &err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409, "{s:?}");
            assert_eq!(s.reason, "Conflict");
            assert_eq!(
                s.message,
                "Apply failed with 1 conflict: conflict with \"kube-test\": .data.k"
            );
        }
        other => panic!("{other:?}"),
    }
    // A dry run changes nothing.
    let dry = cms
        .patch(
            "applied",
            &PatchParams::apply("other").force().dry_run(),
            &Patch::Apply(&theirs),
        )
        .await
        .unwrap();
    assert_eq!(dry.data.unwrap()["k"], "2");
    assert_eq!(cms.get("applied").await.unwrap().data.unwrap()["k"], "1");
    let forced = cms
        .patch(
            "applied",
            &PatchParams::apply("other").force(),
            &Patch::Apply(&theirs),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["k"], "2");

    // The first applier stops setting `mine`: it goes.
    let pruned = cms
        .patch(
            "applied",
            &PatchParams::apply("kube-test"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "applied"}, "data": {}})),
        )
        .await
        .unwrap();
    assert_eq!(
        pruned.data.unwrap(),
        [("k".to_string(), "2".to_string())].into()
    );

    // Updates: create and replace record their manager; a replace without
    // managedFields keeps the entries.
    let mut cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "updated"}, "data": {"a": "1"}}))
    .unwrap();
    let made = cms
        .create(
            &PostParams {
                field_manager: Some("creator".into()),
                ..Default::default()
            },
            &cm,
        )
        .await
        .unwrap();
    let entry = &made.metadata.managed_fields.as_ref().unwrap()[0];
    assert_eq!(entry.manager.as_deref(), Some("creator"));
    assert_eq!(entry.operation.as_deref(), Some("Update"));
    cm.metadata.resource_version = made.metadata.resource_version.clone();
    cm.data = Some([("a".to_string(), "2".to_string())].into());
    let replaced = cms
        .replace(
            "updated",
            &PostParams {
                field_manager: Some("replacer".into()),
                ..Default::default()
            },
            &cm,
        )
        .await
        .unwrap();
    let managers: Vec<String> = replaced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|e| e.manager)
        .collect();
    assert_eq!(
        managers,
        ["replacer"],
        "the creator's only field changed hands"
    );
}

#[test]
fn apply_needs_a_field_manager_and_force_is_for_apply_only() {
    let Some(cp) = control_plane() else { return };
    let rest = Rest::new(&cp).unwrap();
    let path = "/api/v1/namespaces/default/configmaps/raw";
    let body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: raw\ndata:\n  a: b\n".to_vec();
    let reply = rest
        .send(
            "PATCH",
            path,
            Some(("application/apply-patch+yaml", body.clone())),
            false,
        )
        .unwrap();
    assert_eq!(reply.code, 422, "{}", reply.text);
    assert_eq!(
        reply.json()["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );

    let reply = rest
        .send(
            "PATCH",
            &format!("{path}?fieldManager=raw"),
            Some(("application/apply-patch+yaml", body)),
            false,
        )
        .unwrap();
    assert_eq!(reply.code, 201, "{}", reply.text);

    let reply = rest
        .send(
            "PATCH",
            &format!("{path}?force=true"),
            Some((
                "application/merge-patch+json",
                br#"{"data":{"a":"c"}}"#.to_vec(),
            )),
            false,
        )
        .unwrap();
    assert_eq!(reply.code, 422, "{}", reply.text);
    assert_eq!(
        reply.json()["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch"
    );
}
