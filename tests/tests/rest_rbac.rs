//! RBAC against a control plane (no agent): a user made by `skiff-control-plane
//! kubeconfig` is refused with kube-apiserver's words until a binding grants them
//! something, in the namespace it grants it in; the default roles are there, `view`
//! grows with what is labelled aggregate-to-view, no one grants more than they hold,
//! and SelfSubjectAccessReview answers through the kube crate.

use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
};
use kube::api::{Api, PostParams};
use skiff_e2e::kubectl::{user_kubeconfig, Kubectl};
use skiff_e2e::{wait_for, TestControlPlane};

fn control_plane() -> Option<TestControlPlane> {
    if !skiff_e2e::require_root_and_tools() {
        return None;
    }
    Some(TestControlPlane::start().expect("control plane"))
}

fn apply(kubectl: &Kubectl, yaml: &str) -> skiff_e2e::kubectl::KubectlOutput {
    kubectl
        .run_with_stdin(&["apply", "-f", "-"], Some(yaml))
        .expect("kubectl apply")
}

fn binding(name: &str, namespace: &str, role: &str, user: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {name}\n  namespace: {namespace}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {role}\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: {user}\n"
    )
}

fn configmap(name: &str, namespace: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n  k: v\n")
}

#[test]
fn a_user_gets_what_bindings_grant_where_they_grant_it() {
    let Some(cp) = control_plane() else { return };
    let admin = Kubectl::for_cluster(&cp).unwrap();
    let alice = Kubectl::new(
        &user_kubeconfig(&cp, "alice", &["devs"]).unwrap(),
        cp.scratch(),
    )
    .unwrap();
    for ns in ["team-a", "team-b"] {
        assert!(apply(
            &admin,
            &format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {}\n",
                ns
            )
        )
        .success());
    }

    // Nothing bound yet: kube-apiserver's 403, word for word.
    let refused = alice.run(&["get", "pods", "-n", "team-a"]).unwrap();
    assert!(!refused.success(), "{refused:?}");
    assert!(
        refused.stderr.contains(
            r#"Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team-a""#
        ),
        "{refused:?}"
    );

    // view in team-a: reading there, nowhere else, and no writing.
    let bound = apply(&admin, &binding("alice-view", "team-a", "view", "alice"));
    assert!(bound.success(), "{bound:?}");
    let listed = alice.run(&["get", "pods", "-n", "team-a"]).unwrap();
    assert!(listed.success(), "{listed:?}");
    assert!(
        listed
            .stderr
            .contains("No resources found in team-a namespace."),
        "{listed:?}"
    );
    let elsewhere = alice.run(&["get", "pods", "-n", "team-b"]).unwrap();
    assert!(
        elsewhere.stderr.contains(
            r#"pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team-b""#
        ),
        "{elsewhere:?}"
    );
    let write = apply(&alice, &configmap("settings", "team-a"));
    assert!(!write.success(), "{write:?}");
    assert!(
        write.stderr.contains(
            r#"configmaps is forbidden: User "alice" cannot create resource "configmaps" in API group "" in the namespace "team-a""#
        ),
        "{write:?}"
    );
    let secrets = alice.run(&["get", "secrets", "-n", "team-a"]).unwrap();
    assert!(!secrets.success(), "view reads no secrets: {secrets:?}");

    // A binding's role is fixed once made.
    let changed = apply(&admin, &binding("alice-view", "team-a", "edit", "alice"));
    assert!(!changed.success(), "{changed:?}");
    assert!(
        changed
            .stderr
            .contains(r#"rolebindings "alice-view" is invalid"#),
        "{changed:?}"
    );

    // edit in team-a: now it writes.
    let bound = apply(&admin, &binding("alice-edit", "team-a", "edit", "alice"));
    assert!(bound.success(), "{bound:?}");
    let write = apply(&alice, &configmap("settings", "team-a"));
    assert!(write.success(), "{write:?}");
    assert!(
        write.stdout.contains("configmap/settings created"),
        "{write:?}"
    );

    // The bindings print kubectl's columns.
    let table = admin
        .ok(&["get", "rolebindings", "-n", "team-a", "-o", "wide"])
        .unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"],
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("alice-view")
            && l.contains("ClusterRole/view")
            && l.contains("alice")),
        "{table}"
    );

    // A ClusterRoleBinding to alice's group: reading everywhere.
    let cluster = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: devs-view\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: view\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: Group\n  name: devs\n";
    let bound = apply(&admin, cluster);
    assert!(bound.success(), "{bound:?}");
    let everywhere = alice.run(&["get", "pods", "-A"]).unwrap();
    assert!(everywhere.success(), "{everywhere:?}");
    let listed = alice.run(&["get", "configmaps", "-n", "team-b"]).unwrap();
    assert!(listed.success(), "{listed:?}");
    // ... but no nodes (view is namespaced objects only).
    let nodes = alice.run(&["get", "nodes"]).unwrap();
    assert!(
        nodes.stderr.contains(
            r#"nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope"#
        ),
        "{nodes:?}"
    );

    // The defaults are there, as kubectl lists ClusterRoles (NAME, CREATED AT).
    let roles = admin.ok(&["get", "clusterroles"]).unwrap();
    let names: Vec<&str> = roles
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names.first(), Some(&"NAME"), "{roles}");
    for wanted in [
        "admin",
        "cluster-admin",
        "edit",
        "system:aggregate-to-view",
        "system:basic-user",
        "system:discovery",
        "system:public-info-viewer",
        "view",
    ] {
        assert!(names.contains(&wanted), "{wanted} missing:\n{roles}");
    }
    assert!(
        roles.lines().next().unwrap().contains("CREATED AT"),
        "{roles}"
    );
}

#[test]
fn no_one_grants_more_than_they_hold() {
    let Some(cp) = control_plane() else { return };
    let admin = Kubectl::for_cluster(&cp).unwrap();
    let bob = Kubectl::new(&user_kubeconfig(&cp, "bob", &[]).unwrap(), cp.scratch()).unwrap();
    assert!(apply(
        &admin,
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {}\n",
            "team-c"
        )
    )
    .success());
    let bound = apply(&admin, &binding("bob-admin", "team-c", "admin", "bob"));
    assert!(bound.success(), "{bound:?}");

    // admin in team-c may make a Role of what it holds there...
    let held = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: reader\n  namespace: team-c\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get, list]\n";
    let made = apply(&bob, held);
    assert!(made.success(), "{made:?}");
    // ... but not one that reads nodes, nor a binding to cluster-admin.
    let more = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: nodes\n  namespace: team-c\nrules:\n- apiGroups: [\"\"]\n  resources: [nodes]\n  verbs: [list]\n";
    let refused = apply(&bob, more);
    assert!(!refused.success(), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains(r#"roles.rbac.authorization.k8s.io "nodes" is forbidden: user "bob""#)
            && refused
                .stderr
                .contains("is attempting to grant RBAC permissions not currently held")
            && refused
                .stderr
                .contains(r#"{APIGroups:[""], Resources:["nodes"], Verbs:["list"]}"#),
        "{refused:?}"
    );
    let root = apply(&bob, &binding("bob-root", "team-c", "cluster-admin", "bob"));
    assert!(!root.success(), "{root:?}");
    assert!(
        root.stderr
            .contains(r#"rolebindings.rbac.authorization.k8s.io "bob-root" is forbidden"#),
        "{root:?}"
    );
    // Binding a role one holds all of is fine.
    let fine = apply(&bob, &binding("carol-view", "team-c", "view", "carol"));
    assert!(fine.success(), "{fine:?}");
}

async fn can(
    client: &kube::Client,
    verb: &str,
    group: &str,
    resource: &str,
    ns: &str,
) -> (bool, String) {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                namespace: Some(ns.into()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answered = reviews
        .create(&PostParams::default(), &review)
        .await
        .expect("SelfSubjectAccessReview");
    let status = answered.status.expect("an answered review has a status");
    (status.allowed, status.reason.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_reviews_answer_and_view_aggregates_new_rules() {
    let Some(cp) = control_plane() else { return };
    let admin = Kubectl::for_cluster(&cp).unwrap();
    let dana_conf = user_kubeconfig(&cp, "dana", &[]).unwrap();
    let dana = skiff_e2e::kube_client::from_kubeconfig(&dana_conf)
        .await
        .unwrap();
    assert!(apply(
        &admin,
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {}\n",
            "team-d"
        )
    )
    .success());

    assert!(!can(&dana, "list", "", "pods", "team-d").await.0);
    let bound = apply(&admin, &binding("dana-view", "team-d", "view", "dana"));
    assert!(bound.success(), "{bound:?}");
    let (allowed, reason) = can(&dana, "list", "", "pods", "team-d").await;
    assert!(allowed);
    assert_eq!(
        reason,
        r#"RBAC: allowed by RoleBinding "dana-view/team-d" of ClusterRole "view" to User "dana""#
    );
    assert!(!can(&dana, "delete", "", "pods", "team-d").await.0);
    assert!(!can(&dana, "list", "", "pods", "default").await.0);

    // A new ClusterRole labelled aggregate-to-view: view (and so dana) gets its rules.
    assert!(
        !can(&dana, "list", "example.com", "widgets", "team-d")
            .await
            .0
    );
    let widgets = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: widgets-view\n  labels:\n    rbac.authorization.k8s.io/aggregate-to-view: \"true\"\nrules:\n- apiGroups: [example.com]\n  resources: [widgets]\n  verbs: [get, list, watch]\n";
    let made = apply(&admin, widgets);
    assert!(made.success(), "{made:?}");
    wait_for(
        "view to aggregate widgets",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            let view = admin.ok(&["get", "clusterrole", "view", "-o", "json"])?;
            anyhow::ensure!(view.contains("\"widgets\""), "view has no widgets rule yet");
            Ok(())
        },
    )
    .unwrap();
    // edit and admin aggregate view in turn.
    wait_for(
        "admin to aggregate widgets",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            let role = admin.ok(&["get", "clusterrole", "admin", "-o", "json"])?;
            anyhow::ensure!(
                role.contains("\"widgets\""),
                "admin has no widgets rule yet"
            );
            Ok(())
        },
    )
    .unwrap();
    let mut allowed = false;
    for _ in 0..50 {
        allowed = can(&dana, "list", "example.com", "widgets", "team-d")
            .await
            .0;
        if allowed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(allowed, "dana may list widgets through view");

    // The rules review lists what dana holds there.
    let rules: Api<SelfSubjectRulesReview> = Api::all(dana.clone());
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some("team-d".into()),
        },
        ..SelfSubjectRulesReview::default()
    };
    let answered = rules.create(&PostParams::default(), &review).await.unwrap();
    let status = answered.status.unwrap();
    assert!(
        status
            .resource_rules
            .iter()
            .any(|r| r.resources.iter().flatten().any(|x| x == "widgets")),
        "{:?}",
        status.resource_rules
    );
    assert!(status.non_resource_rules.iter().any(|r| r
        .non_resource_urls
        .iter()
        .flatten()
        .any(|u| u == "/version")));
}
