//! The `skiff` binary against the real `skiff-control-plane` on 127.0.0.1 (docs/architecture.md, CLI):
//! apply, get, describe (scheduler events), label, delete, errors and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The user's manifest, verbatim.
const NGINX_POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: my-nginx-pod
spec:
  containers:
    - name: my-nginx-container
      image: nginx:latest
      ports:
        - containerPort: 80
          protocol: TCP
";

/// A running control plane, killed (by pid) when dropped.
struct ControlPlane {
    child: Child,
    admin_conf: PathBuf,
    log: PathBuf,
}

impl ControlPlane {
    fn start(dir: &Path) -> ControlPlane {
        let bin = control_plane_binary();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data_dir = dir.join("data");
        let log = dir.join("control-plane.log");
        let child = Command::new(&bin)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        ControlPlane {
            child,
            admin_conf: data_dir.join("admin.conf"),
            log,
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `skiff get ns` succeeds through admin.conf.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("control plane exited ({status}):\n{}", self.logs());
            }
            if self.admin_conf.exists() && skiff(&self.admin_conf, &["get", "ns"]).status.success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "control plane not ready:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `skiff-control-plane` next to this test's binary (target/<profile>/).
fn control_plane_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join("skiff-control-plane");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace` first",
        bin.display()
    );
    bin
}

fn skiff(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .env("SKIFF_CONFIG", config)
        .env_remove("SKIFF_AGENT")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs skiff, asserts success, returns stdout.
fn ok(config: &Path, args: &[&str]) -> String {
    let out = skiff(config, args);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "skiff {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// Runs skiff, asserts exit code 1, returns stderr: `error: ...`, or a server's refusal
/// as kubectl prints it (`Error from server (Reason): ...`).
fn fails(config: &Path, args: &[&str]) -> String {
    let (_, stderr) = exits_1(config, args);
    assert!(
        stderr.starts_with("error: ") || stderr.starts_with("Error from server ("),
        "{stderr}"
    );
    stderr
}

/// Runs skiff, asserts exit code 1, returns stdout and stderr.
fn exits_1(config: &Path, args: &[&str]) -> (String, String) {
    let out = skiff(config, args);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "skiff {args:?}:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// Runs `skiff get` of a missing object: exit code 1 and kubectl's line, nothing else.
fn not_found(config: &Path, args: &[&str], line: &str) {
    let (stdout, stderr) = exits_1(config, args);
    assert_eq!((stdout.as_str(), stderr.trim_end()), ("", line));
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_against_the_control_plane() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = ControlPlane::start(dir.path());
    cp.wait_ready();
    let conf = cp.admin_conf.clone();
    let manifest = dir.path().join("nginx-pod.yaml");
    std::fs::write(&manifest, NGINX_POD).unwrap();
    let m = manifest.to_str().unwrap();

    assert_eq!(ok(&conf, &["apply", "-f", m]), "pod/my-nginx-pod created\n");
    assert_eq!(
        ok(&conf, &["apply", "-f", m]),
        "pod/my-nginx-pod unchanged\n"
    );

    let pods = ok(&conf, &["get", "pods"]);
    assert!(pods.starts_with("NAME"), "{pods}");
    let line = pods
        .lines()
        .find(|l| l.starts_with("my-nginx-pod"))
        .expect(&pods);
    assert!(line.contains("Pending") && line.contains("0/1"), "{pods}");

    let json: serde_json::Value =
        serde_json::from_str(&ok(&conf, &["get", "po", "my-nginx-pod", "-o", "json"])).unwrap();
    assert_eq!(json["metadata"]["name"], "my-nginx-pod");

    // The scheduler records FailedScheduling: there are no nodes.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = ok(&conf, &["describe", "pod", "my-nginx-pod"]);
        assert!(text.contains("Events:"), "{text}");
        if text.contains("FailedScheduling") {
            break;
        }
        if text.contains("<unavailable:") {
            // The server cannot list Events yet: the scheduler's verdict is in the status.
            let pod = ok(&conf, &["get", "pod", "my-nginx-pod", "-o", "json"]);
            if pod.contains("Unschedulable") {
                eprintln!("note: the control plane does not list Events yet:\n{text}");
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no FailedScheduling event:\n{text}\n{}",
            cp.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let typo = dir.path().join("typo.yaml");
    std::fs::write(
        &typo,
        NGINX_POD.replace("image: nginx", "imagePullPolcy: Always\n      image: nginx"),
    )
    .unwrap();
    let err = fails(&conf, &["apply", "-f", typo.to_str().unwrap()]);
    assert!(
        err.contains("imagePullPolcy") && err.contains("typo.yaml"),
        "{err}"
    );

    let err = fails(&conf, &["get", "ingress"]);
    assert!(err.contains("ingress") && err.contains("pods"), "{err}");

    // Words after the kind are names, as kubectl reads them: found ones print, the
    // others are reported after them.
    let (stdout, stderr) = exits_1(&conf, &["get", "pods", "my-nginx-pod", "nope"]);
    assert!(
        stdout.starts_with("NAME ") && stdout.contains("\nmy-nginx-pod "),
        "{stdout}"
    );
    assert_eq!(
        stderr.trim_end(),
        r#"Error from server (NotFound): pods "nope" not found"#
    );

    assert_eq!(
        ok(&conf, &["label", "pod", "my-nginx-pod", "tier=web"]),
        "pod/my-nginx-pod labeled\n"
    );
    let names = ok(&conf, &["get", "pods", "-l", "tier=web", "-o", "name"]);
    assert_eq!(names, "pod/my-nginx-pod\n");
    assert_eq!(
        ok(&conf, &["label", "pod", "my-nginx-pod", "tier-"]),
        "pod/my-nginx-pod labeled\n"
    );
    assert_eq!(
        ok(&conf, &["get", "pods", "-l", "tier=web", "-o", "name"]),
        ""
    );

    fails(&conf, &["exec", "my-nginx-pod", "--", "ls"]);
    assert_eq!(
        ok(&conf, &["delete", "pod", "my-nginx-pod"]),
        "pod \"my-nginx-pod\" deleted\n"
    );
    not_found(
        &conf,
        &["get", "pod", "my-nginx-pod"],
        r#"Error from server (NotFound): pods "my-nginx-pod" not found"#,
    );
    let manifests = dir.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    std::fs::copy(&manifest, manifests.join("nginx-pod.yaml")).unwrap();
    std::fs::write(manifests.join("notes.txt"), "not a manifest").unwrap();
    let d = manifests.to_str().unwrap();
    assert_eq!(ok(&conf, &["apply", "-f", d]), "pod/my-nginx-pod created\n");
    assert_eq!(
        ok(&conf, &["delete", "-f", d]),
        "pod \"my-nginx-pod\" deleted\n"
    );

    // Without the client certificate (admin.conf is a kubeconfig): rejected, exit 1.
    let admin = std::fs::read_to_string(&conf).unwrap();
    let bare: String = admin
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            !l.starts_with("client-certificate-data:") && !l.starts_with("client-key-data:")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(bare, admin, "no client certificate found in {admin}");
    let bare_conf = dir.path().join("no-cert.conf");
    std::fs::write(&bare_conf, bare).unwrap();
    fails(&bare_conf, &["get", "pods"]);

    let missing = dir.path().join("missing.conf");
    let err = fails(&missing, &["get", "pods"]);
    assert!(err.contains("missing.conf"), "{err}");
}

/// `create configmap|secret` as the user's notes run them before scenario 6.
#[test]
fn create_configmap_and_secret_from_files_and_literals() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = ControlPlane::start(dir.path());
    cp.wait_ready();
    let conf = cp.admin_conf.clone();
    let props = dir.path().join("game.properties");
    std::fs::write(&props, "enemies=aliens\nlives=3\n").unwrap();
    let from_file = format!("--from-file={}", props.display());

    assert_eq!(
        ok(&conf, &["create", "configmap", "game-config", &from_file]),
        "configmap/game-config created\n"
    );
    let cm: serde_json::Value =
        serde_json::from_str(&ok(&conf, &["get", "cm", "game-config", "-o", "json"])).unwrap();
    assert_eq!(cm["data"]["game.properties"], "enemies=aliens\nlives=3\n");
    let err = fails(&conf, &["create", "configmap", "game-config", &from_file]);
    assert_eq!(
        err.trim_end(),
        r#"Error from server (AlreadyExists): configmaps "game-config" already exists"#
    );

    assert_eq!(
        ok(
            &conf,
            &[
                "create",
                "secret",
                "generic",
                "db",
                "--from-literal=password=s3cret"
            ]
        ),
        "secret/db created\n"
    );
    let secret: serde_json::Value =
        serde_json::from_str(&ok(&conf, &["get", "secret", "db", "-o", "json"])).unwrap();
    assert_eq!(secret["data"]["password"], "czNjcmV0");
    assert_eq!(secret["type"], "Opaque");

    // A dry run sends nothing.
    let yaml = ok(
        &conf,
        &[
            "create",
            "cm",
            "other",
            "--from-literal=a=b",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
    );
    assert!(
        yaml.contains("kind: ConfigMap") && yaml.contains("a: b"),
        "{yaml}"
    );
    not_found(
        &conf,
        &["get", "cm", "other"],
        r#"Error from server (NotFound): configmaps "other" not found"#,
    );
}

/// `get all` as kubectl prints it: one table per kind of the `all` category, in its order.
#[test]
fn get_all_lists_every_workload_kind_in_kubectls_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = ControlPlane::start(dir.path());
    cp.wait_ready();
    let conf = cp.admin_conf.clone();
    let manifest = dir.path().join("web.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - {name: web, image: nginx}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - {port: 80}\n",
    )
    .unwrap();
    ok(&conf, &["apply", "-f", manifest.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let all = loop {
        let all = ok(&conf, &["get", "all"]);
        if all.contains("pod/web-") {
            break all;
        }
        assert!(Instant::now() < deadline, "no pod in get all:\n{all}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let at = |needle: &str| {
        all.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing:\n{all}"))
    };
    assert!(at("pod/web-") < at("service/web"), "{all}");
    assert!(at("service/web") < at("deployment.apps/web"), "{all}");
    assert!(
        at("deployment.apps/web") < at("replicaset.apps/web-"),
        "{all}"
    );
    assert!(all.lines().next().unwrap().starts_with("NAME"), "{all}");

    let out = skiff(&conf, &["get", "all", "-n", "empty"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(stderr.trim(), "No resources found in empty namespace.");
}
