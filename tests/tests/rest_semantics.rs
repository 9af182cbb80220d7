//! Object semantics through the REST API, as kube-apiserver has them, with the test
//! cluster's admin certificate and the real kubectl: a finalizer holds a deleted ConfigMap until a PUT
//! removes it (and no finalizer may join meanwhile), Foreground deletion keeps a
//! Deployment until its ReplicaSet and pods are gone, a PUT's uid is a precondition,
//! ServiceAccounts are served, EndpointSlices mirror a Service's Endpoints and are
//! read-only, and `kubectl delete ns` leaves a namespace Terminating (refusing new
//! content, its conditions naming what is left) while a finalizer holds a ConfigMap in
//! it. The control plane alone: nothing here needs a node.

use std::time::Duration;

use anyhow::{bail, ensure, Context};
use serde_json::{json, Value};
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::rest::Rest;
use skiff_e2e::{require_root_and_tools, serial, wait_for, TestControlPlane};

/// The REST API of a test control plane as the admin (codes and JSON), and kubectl.
struct Api {
    rest: Rest,
    kubectl: Kubectl,
}

impl Api {
    /// `METHOD path` with an optional JSON body: the status code and the JSON answered.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<(u16, Value)> {
        let body = match body {
            Some(body) => Some(("application/json", serde_json::to_vec(body)?)),
            None => None,
        };
        let reply = self.rest.send(method, path, body, false)?;
        Ok((reply.code, reply.json()))
    }

    /// A call that must answer `code`.
    fn expect(
        &self,
        code: u16,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let (got, value) = self.call(method, path, body)?;
        ensure!(
            got == code,
            "{method} {path}: {got} (wanted {code}): {value}"
        );
        Ok(value)
    }

    fn items(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let list = self.expect(200, "GET", path, None)?;
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }
}

fn run(body: impl FnOnce(&Api) -> anyhow::Result<()>) {
    if !require_root_and_tools() {
        return;
    }
    let _serial = serial();
    let cp = TestControlPlane::start().unwrap_or_else(|e| panic!("setting up: {e:#}"));
    let api = Api {
        rest: Rest::new(&cp).unwrap_or_else(|e| panic!("the REST client: {e:#}")),
        kubectl: Kubectl::for_cluster(&cp).unwrap_or_else(|e| panic!("kubectl: {e:#}")),
    };
    if let Err(e) = body(&api) {
        panic!("{e:#}\ncontrol plane log:\n{}", cp.log());
    }
}

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

#[test]
fn a_finalizer_holds_a_deleted_configmap_until_a_put_removes_it() {
    run(|api| {
        let held = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
            "data": {"k": "v"},
        });
        let created = api.expect(201, "POST", CONFIGMAPS, Some(&held))?;
        ensure!(
            created["metadata"].get("generation").is_none(),
            "a ConfigMap has no generation: {created}"
        );
        let path = format!("{CONFIGMAPS}/held");

        // A PUT naming another uid fails as a precondition; one without a uid is fine.
        let mut other = created.clone();
        other["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000001");
        let refused = api.expect(409, "PUT", &path, Some(&other))?;
        let message = refused["message"].as_str().unwrap_or_default();
        ensure!(
            message.starts_with("Operation cannot be fulfilled on configmaps \"held\": Precondition failed: UID in precondition"),
            "{refused}"
        );

        let marked = api.expect(200, "DELETE", &path, None)?;
        ensure!(
            marked["metadata"]["deletionTimestamp"].is_string(),
            "{marked}"
        );
        ensure!(
            marked["metadata"]["deletionGracePeriodSeconds"] == 0,
            "{marked}"
        );
        let still = api.expect(200, "GET", &path, None)?;
        ensure!(
            still["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"],
            "{still}"
        );
        // A second delete changes nothing.
        let again = api.expect(200, "DELETE", &path, None)?;
        ensure!(
            again["metadata"]["resourceVersion"] == still["metadata"]["resourceVersion"],
            "{again}"
        );

        let mut more = still.clone();
        more["metadata"]["finalizers"] = json!(["example.com/hold", "example.com/more"]);
        let refused = api.expect(422, "PUT", &path, Some(&more))?;
        ensure!(
            refused["message"]
                .as_str()
                .unwrap_or_default()
                .contains("no new finalizers can be added if the object is being deleted"),
            "{refused}"
        );

        let mut released = still.clone();
        released["metadata"]["finalizers"] = json!([]);
        api.expect(200, "PUT", &path, Some(&released))?;
        api.expect(404, "GET", &path, None)?;
        Ok(())
    });
}

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

#[test]
fn foreground_deletion_keeps_a_deployment_until_its_replicaset_and_pods_are_gone() {
    run(|api| {
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:latest"}]},
                },
            },
        });
        let created = api.expect(201, "POST", DEPLOYMENTS, Some(&deployment))?;
        ensure!(created["metadata"]["generation"] == 1, "{created}");
        let pods_path = "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb";
        let pods = wait_for(
            "the deployment's pods",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                let pods = api.items(pods_path)?;
                if pods.len() == 2 {
                    Ok(pods)
                } else {
                    bail!("{} pods", pods.len())
                }
            },
        )?;
        // One pod is held by a finalizer of its own, so the chain waits on it.
        let pod_name = pods[0]["metadata"]["name"]
            .as_str()
            .context("pod name")?
            .to_string();
        let pod_path = format!("/api/v1/namespaces/default/pods/{pod_name}");
        let mut pod = api.expect(200, "GET", &pod_path, None)?;
        pod["metadata"]["finalizers"] = json!(["example.com/hold"]);
        api.expect(200, "PUT", &pod_path, Some(&pod))?;

        let said = api.kubectl.ok(&[
            "delete",
            "deployment",
            "web",
            "--cascade=foreground",
            "--wait=false",
        ])?;
        ensure!(said.contains("\"web\" deleted"), "{said}");
        let marked = api.expect(200, "GET", &format!("{DEPLOYMENTS}/web"), None)?;
        ensure!(
            marked["metadata"]["finalizers"] == json!(["foregroundDeletion"]),
            "{marked}"
        );
        ensure!(
            marked["metadata"]["deletionTimestamp"].is_string(),
            "{marked}"
        );

        // The free pod goes; the held one stays, marked, and so do its set and the owner.
        wait_for(
            "the free pod gone",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                let pods = api.items(pods_path)?;
                if pods.len() == 1 && pods[0]["metadata"]["deletionTimestamp"].is_string() {
                    Ok(())
                } else {
                    bail!("pods: {pods:?}")
                }
            },
        )?;
        std::thread::sleep(Duration::from_secs(2));
        let sets = api.items("/apis/apps/v1/namespaces/default/replicasets")?;
        ensure!(
            sets.len() == 1,
            "the ReplicaSet is held by its pod: {sets:?}"
        );
        ensure!(
            sets[0]["metadata"]["finalizers"] == json!(["foregroundDeletion"]),
            "{}",
            sets[0]
        );
        let owner = api.expect(200, "GET", &format!("{DEPLOYMENTS}/web"), None)?;
        ensure!(
            owner["metadata"]["deletionTimestamp"].is_string(),
            "{owner}"
        );

        // Its finalizer removed, the pod goes, then the set, then the Deployment.
        let mut pod = api.expect(200, "GET", &pod_path, None)?;
        pod["metadata"]["finalizers"] = json!([]);
        api.expect(200, "PUT", &pod_path, Some(&pod))?;
        wait_for(
            "the deployment gone",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                let (code, body) = api.call("GET", &format!("{DEPLOYMENTS}/web"), None)?;
                if code == 404 {
                    Ok(())
                } else {
                    bail!("{code}: {}", body["metadata"])
                }
            },
        )?;
        ensure!(api.items(pods_path)?.is_empty());
        ensure!(api
            .items("/apis/apps/v1/namespaces/default/replicasets")?
            .is_empty());
        Ok(())
    });
}

#[test]
fn serviceaccounts_are_served_and_endpointslices_mirror_a_service_read_only() {
    run(|api| {
        let sa =
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder"}});
        api.expect(
            201,
            "POST",
            "/api/v1/namespaces/default/serviceaccounts",
            Some(&sa),
        )?;
        let got = api.expect(
            200,
            "GET",
            "/api/v1/namespaces/default/serviceaccounts/builder",
            None,
        )?;
        ensure!(got["kind"] == "ServiceAccount", "{got}");

        let service = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]},
        });
        api.expect(
            201,
            "POST",
            "/api/v1/namespaces/default/services",
            Some(&service),
        )?;
        let slices_path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb";
        let slice = wait_for(
            "the service's slice",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                let slices = api.items(slices_path)?;
                match slices.as_slice() {
                    [one] => Ok(one.clone()),
                    other => bail!("slices: {other:?}"),
                }
            },
        )?;
        ensure!(
            slice["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("web-"),
            "{slice}"
        );
        ensure!(
            slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"]
                == "endpointslice-controller.k8s.io",
            "{slice}"
        );
        ensure!(slice["addressType"] == "IPv4", "{slice}");
        let name = slice["metadata"]["name"].as_str().context("slice name")?;
        let listed = api.kubectl.ok(&["get", "endpointslices"])?;
        // (kubectl's columns for slices, ADDRESSTYPE PORTS ENDPOINTS, come with the Tables.)
        ensure!(listed.contains(name), "{listed}");

        let mine = json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "mine"}, "addressType": "IPv4", "endpoints": [],
        });
        let refused = api.expect(
            405,
            "POST",
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
            Some(&mine),
        )?;
        ensure!(refused["reason"] == "MethodNotAllowed", "{refused}");
        api.expect(
            405,
            "DELETE",
            &format!("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/{name}"),
            None,
        )?;

        api.expect(
            200,
            "DELETE",
            "/api/v1/namespaces/default/services/web",
            None,
        )?;
        wait_for(
            "the slice gone with its service",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                let slices = api.items(slices_path)?;
                if slices.is_empty() {
                    Ok(())
                } else {
                    bail!("slices: {slices:?}")
                }
            },
        )?;
        Ok(())
    });
}

#[test]
fn a_deleted_namespace_stays_terminating_until_a_finalizer_in_it_is_removed() {
    run(|api| {
        let ns = "e2e-final-ns";
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        api.expect(201, "POST", "/api/v1/namespaces", Some(&namespace))?;
        let configmaps = format!("/api/v1/namespaces/{ns}/configmaps");
        let kept = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kept", "finalizers": ["example.com/keep"]},
            "data": {"k": "v"},
        });
        api.expect(201, "POST", &configmaps, Some(&kept))?;
        let plain = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"}});
        api.expect(201, "POST", &configmaps, Some(&plain))?;

        let said = api.kubectl.ok(&["delete", "ns", ns, "--wait=false"])?;
        ensure!(
            said.contains(&format!("namespace \"{ns}\" deleted")),
            "{said}"
        );
        let listed = api.kubectl.ok(&["get", "ns", ns])?;
        ensure!(listed.contains("Terminating"), "{listed}");

        // The free ConfigMap goes; the held one stays, marked, and the conditions say why.
        let ns_path = format!("/api/v1/namespaces/{ns}");
        let reported = wait_for(
            "the namespace's conditions",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                let got = api.expect(200, "GET", &ns_path, None)?;
                let conditions = got["status"]["conditions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                match conditions
                    .iter()
                    .find(|c| c["type"] == "NamespaceFinalizersRemaining")
                {
                    Some(c) if c["status"] == "True" => Ok(got),
                    _ => bail!("{}", got["status"]),
                }
            },
        )?;
        ensure!(reported["status"]["phase"] == "Terminating", "{reported}");
        ensure!(
            reported["spec"]["finalizers"] == json!(["kubernetes"]),
            "{reported}"
        );
        let described = reported["status"]["conditions"].to_string();
        ensure!(
            described.contains("Some content in the namespace has finalizers remaining: example.com/keep in 1 resource instances"),
            "{described}"
        );
        ensure!(
            described
                .contains("Some resources are remaining: configmaps. has 1 resource instances"),
            "{described}"
        );
        let left = api.items(&configmaps)?;
        ensure!(
            left.len() == 1 && left[0]["metadata"]["name"] == "kept",
            "{left:?}"
        );
        ensure!(
            left[0]["metadata"]["deletionTimestamp"].is_string(),
            "{left:?}"
        );

        // New content is refused as kube-apiserver's namespace lifecycle admission does.
        let refused = api.expect(
            403,
            "POST",
            &configmaps,
            Some(&json!({
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"},
            })),
        )?;
        ensure!(refused["reason"] == "Forbidden", "{refused}");
        ensure!(
            refused["message"]
                == format!("configmaps \"late\" is forbidden: unable to create new content in namespace {ns} because it is being terminated"),
            "{refused}"
        );
        ensure!(
            refused["details"]["causes"][0]["reason"] == "NamespaceTerminating",
            "{refused}"
        );
        std::thread::sleep(Duration::from_secs(1));
        let still = api.kubectl.ok(&["get", "ns", ns])?;
        ensure!(still.contains("Terminating"), "{still}");

        // The finalizer's owner lets go: the ConfigMap goes, then the namespace.
        api.kubectl.ok(&[
            "patch",
            "cm",
            "kept",
            "-n",
            ns,
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ])?;
        wait_for(
            "the namespace gone",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                let (code, body) = api.call("GET", &ns_path, None)?;
                if code == 404 {
                    Ok(())
                } else {
                    bail!("{code}: {}", body["status"])
                }
            },
        )?;
        let gone = api.kubectl.run(&["get", "ns", ns])?;
        ensure!(!gone.success(), "kubectl still finds {ns}");
        Ok(())
    });
}
