//! The patches kubectl 1.33 sends for the notes' commands, captured with a recording
//! server (method, content type and body as sent), each with the object before and what
//! kube-apiserver stores after. Files in `testdata/kubectl/`.

use serde::Deserialize;
use serde_json::Value;

use super::{json_patch, merge_patch, strategic};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fixture {
    command: String,
    content_type: String,
    kind: String,
    before: Value,
    /// The request body, byte for byte.
    patch: String,
    after: Value,
}

const FIXTURES: &[(&str, &str)] = &[
    ("annotate", include_str!("testdata/kubectl/annotate.json")),
    ("apply", include_str!("testdata/kubectl/apply.json")),
    ("apply-cm", include_str!("testdata/kubectl/apply-cm.json")),
    (
        "apply-recreate",
        include_str!("testdata/kubectl/apply-recreate.json"),
    ),
    ("apply-svc", include_str!("testdata/kubectl/apply-svc.json")),
    (
        "apply-volume",
        include_str!("testdata/kubectl/apply-volume.json"),
    ),
    ("cordon", include_str!("testdata/kubectl/cordon.json")),
    ("edit", include_str!("testdata/kubectl/edit.json")),
    (
        "label-node",
        include_str!("testdata/kubectl/label-node.json"),
    ),
    (
        "patch-sidecar",
        include_str!("testdata/kubectl/patch-sidecar.json"),
    ),
    ("pause", include_str!("testdata/kubectl/pause.json")),
    ("relabel", include_str!("testdata/kubectl/relabel.json")),
    ("restart", include_str!("testdata/kubectl/restart.json")),
    ("resume", include_str!("testdata/kubectl/resume.json")),
    ("scale", include_str!("testdata/kubectl/scale.json")),
    ("setenv", include_str!("testdata/kubectl/setenv.json")),
    ("setimage", include_str!("testdata/kubectl/setimage.json")),
    (
        "setresources",
        include_str!("testdata/kubectl/setresources.json"),
    ),
    ("taint", include_str!("testdata/kubectl/taint.json")),
    ("uncordon", include_str!("testdata/kubectl/uncordon.json")),
    ("undo", include_str!("testdata/kubectl/undo.json")),
    ("unlabel", include_str!("testdata/kubectl/unlabel.json")),
    ("untaint", include_str!("testdata/kubectl/untaint.json")),
];

fn run(name: &str) -> (Fixture, Value) {
    let raw = FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
        .1;
    let fixture: Fixture = serde_json::from_str(raw).unwrap();
    let body = fixture.patch.as_bytes();
    let out = match fixture.content_type.as_str() {
        "application/json-patch+json" => json_patch::apply(&fixture.before, body),
        "application/merge-patch+json" => merge_patch::apply(&fixture.before, body),
        "application/strategic-merge-patch+json" => {
            strategic::apply(&fixture.before, body, &fixture.kind)
        }
        other => panic!("{name}: unexpected content type {other}"),
    }
    .unwrap_or_else(|e| panic!("{name} ({}): {e}", fixture.command));
    (fixture, out)
}

#[test]
fn every_captured_kubectl_patch_gives_what_kube_apiserver_stores() {
    for (name, _) in FIXTURES {
        let (fixture, out) = run(name);
        assert_eq!(
            out,
            fixture.after,
            "{name}: `{}` stored\n{}",
            fixture.command,
            serde_json::to_string_pretty(&out).unwrap()
        );
    }
}

#[test]
fn scenario_three_set_image_then_undo_to_revision_one() {
    // set image --record changes the image and the change cause, nothing else.
    let (fixture, out) = run("setimage");
    let containers = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().unwrap().len(), 1);
    assert_eq!(containers[0]["image"], "nginx:1.11");
    assert_eq!(
        containers[0]["ports"],
        fixture.before["spec"]["template"]["spec"]["containers"][0]["ports"]
    );
    assert_eq!(
        out["metadata"]["annotations"]["kubernetes.io/change-cause"],
        "kubectl set image deployment my-nginx-deployment nginx=nginx:1.11 --record=true"
    );
    // rollout undo --to-revision=1 puts revision 1's template back.
    let (_, undone) = run("undo");
    assert_eq!(
        undone["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:latest"
    );
    assert_eq!(
        undone["metadata"]["annotations"]["kubernetes.io/change-cause"],
        "kubectl apply --filename=deployment-nginx.yaml --record=true"
    );
}

#[test]
fn apply_with_a_new_strategy_and_container_order() {
    let (_, out) = run("apply-recreate");
    assert_eq!(
        out["spec"]["strategy"],
        serde_json::json!({"type": "Recreate"})
    );
    let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sidecar", "nginx"]);
    let nginx = &out["spec"]["template"]["spec"]["containers"][1];
    assert_eq!(nginx["ports"], serde_json::json!([{"containerPort": 8080}]));
    assert_eq!(nginx["imagePullPolicy"], "Always", "server-set fields stay");
    assert!(out["metadata"]["annotations"]
        .get("kubernetes.io/change-cause")
        .is_none());
    // No directive survives into the object.
    assert!(!out.to_string().contains("\"$"), "{out}");
}

#[test]
fn every_fixture_on_disk_is_listed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/patch/testdata/kubectl");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.trim_end_matches(".json").to_string()
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<&str> = FIXTURES.iter().map(|(name, _)| *name).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}
