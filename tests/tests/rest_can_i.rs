//! `kubectl auth can-i` against a control plane (no agent), as a user asks it: `yes` with
//! exit 0 or `no` with exit 1, for the admin (`system:masters`: everything) and for a
//! user made by `skiff-control-plane kubeconfig --user` before and after a RoleBinding
//! grants them `view` in one namespace; `--list` prints the rules kubectl reads from a
//! SelfSubjectRulesReview.

use skiff_e2e::kubectl::{user_kubeconfig, Kubectl, KubectlOutput};
use skiff_e2e::TestControlPlane;

fn control_plane() -> Option<TestControlPlane> {
    if !skiff_e2e::require_root_and_tools() {
        return None;
    }
    Some(TestControlPlane::start().expect("control plane"))
}

/// `kubectl auth can-i ARGS`, whatever its exit code.
fn can_i(kubectl: &Kubectl, args: &[&str]) -> KubectlOutput {
    kubectl
        .run(&[&["auth", "can-i"], args].concat())
        .expect("kubectl auth can-i")
}

/// Asserts kubectl's answer: `yes` and exit 0, or `no` and exit 1.
fn assert_answer(kubectl: &Kubectl, args: &[&str], yes: bool) {
    let out = can_i(kubectl, args);
    let (word, code) = if yes { ("yes", 0) } else { ("no", 1) };
    assert_eq!(
        (out.stdout.trim(), out.code),
        (word, Some(code)),
        "can-i {args:?}: {out:?}"
    );
}

/// The rows of `can-i --list` as (resource, verbs), from kubectl's table.
fn rules(kubectl: &Kubectl, args: &[&str]) -> Vec<(String, String)> {
    let out = can_i(kubectl, &[&["--list"], args].concat());
    assert!(out.success(), "can-i --list {args:?}: {out:?}");
    let mut lines = out.stdout.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "Resources",
            "Non-Resource",
            "URLs",
            "Resource",
            "Names",
            "Verbs"
        ],
        "{}",
        out.stdout
    );
    lines
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let verbs = l.rfind('[').map(|i| &l[i..]).unwrap_or_default();
            (words.first().unwrap_or(&"").to_string(), verbs.to_string())
        })
        .collect()
}

#[test]
fn the_admin_may_do_everything() {
    let Some(cp) = control_plane() else { return };
    let admin = Kubectl::for_cluster(&cp).unwrap();
    assert_answer(&admin, &["create", "deployments"], true);
    assert_answer(&admin, &["delete", "nodes"], true);
    assert_answer(&admin, &["list", "secrets", "-n", "kube-system"], true);
    assert_answer(&admin, &["*", "*", "--all-namespaces"], true);
    assert_answer(&admin, &["get", "/healthz"], true);
    let listed = rules(&admin, &[]);
    assert!(
        listed.contains(&("*.*".to_string(), "[*]".to_string())),
        "{listed:?}"
    );
}

#[test]
fn a_user_may_what_a_role_binding_grants_and_kubectl_says_so() {
    let Some(cp) = control_plane() else { return };
    let admin = Kubectl::for_cluster(&cp).unwrap();
    let conf = user_kubeconfig(&cp, "erin", &["testers"]).unwrap();
    let erin = Kubectl::new(&conf, cp.scratch()).unwrap();

    // Nothing bound: no to everything but asking (system:basic-user) and discovery.
    assert_answer(&erin, &["list", "pods"], false);
    assert_answer(&erin, &["get", "configmaps", "-n", "default"], false);
    assert_answer(&erin, &["create", "deployments.apps"], false);
    assert_answer(
        &erin,
        &["create", "selfsubjectaccessreviews.authorization.k8s.io"],
        true,
    );
    assert_answer(&erin, &["get", "/version"], true);
    let before = rules(&erin, &[]);
    assert!(
        before.contains(&(
            "selfsubjectaccessreviews.authorization.k8s.io".to_string(),
            "[create]".to_string()
        )),
        "{before:?}"
    );
    assert!(
        !before.iter().any(|(resource, _)| resource == "pods"),
        "{before:?}"
    );

    // view in default, bound to erin's group.
    let binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: testers-view\n  namespace: default\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: view\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: Group\n  name: testers\n";
    let bound = admin
        .run_with_stdin(&["apply", "-f", "-"], Some(binding))
        .unwrap();
    assert!(bound.success(), "{bound:?}");

    assert_answer(&erin, &["list", "pods"], true);
    assert_answer(&erin, &["get", "configmaps", "-n", "default"], true);
    assert_answer(&erin, &["watch", "deployments.apps"], true);
    // Not elsewhere, not writing, not secrets (view has none).
    assert_answer(&erin, &["list", "pods", "-n", "kube-system"], false);
    assert_answer(&erin, &["list", "pods", "--all-namespaces"], false);
    assert_answer(&erin, &["delete", "pods"], false);
    assert_answer(&erin, &["get", "secrets"], false);
    // The admin asks for erin only by asking as erin; the admin's own answer is unchanged.
    assert_answer(&admin, &["delete", "pods", "-n", "kube-system"], true);

    let after = rules(&erin, &[]);
    let pods = after.iter().find(|(resource, _)| resource == "pods");
    assert_eq!(
        pods.map(|(_, verbs)| verbs.as_str()),
        Some("[get list watch]"),
        "{after:?}"
    );
    let elsewhere = rules(&erin, &["-n", "kube-system"]);
    assert!(
        !elsewhere.iter().any(|(resource, _)| resource == "pods"),
        "{elsewhere:?}"
    );
}
