//! The admin's credentials as clients no one here wrote read them: the real kubectl and
//! the kube crate take `<data-dir>/admin.conf` as a kubeconfig, the skiff CLI finds it
//! through `$KUBECONFIG`, an admin.conf in skiff's old flat form is rewritten as a
//! kubeconfig at start with the same certificate, and `<data-dir>/admin-token` is made
//! private. (Requests over REST with these credentials: `rest_kubectl.rs`.)

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use anyhow::{ensure, Context};
use skiff_e2e::agent::find_binary;
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::{kube_client, TestControlPlane};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What kubectl makes of admin.conf: its current context, server, CA and certificate.
fn kubectl_view(kubectl: &Kubectl) -> anyhow::Result<[String; 4]> {
    let view = |path: &str| {
        kubectl.ok(&[
            "config",
            "view",
            "--raw",
            "--minify",
            "-o",
            &format!("jsonpath={{{path}}}"),
        ])
    };
    Ok([
        kubectl
            .ok(&["config", "current-context"])?
            .trim()
            .to_string(),
        view(".clusters[0].cluster.server")?,
        view(".clusters[0].cluster.certificate-authority-data")?,
        view(".users[0].user.client-certificate-data")?,
    ])
}

fn base64_of_file(path: &std::path::Path) -> anyhow::Result<String> {
    let out = Command::new("base64").args(["-w0"]).arg(path).output()?;
    ensure!(out.status.success(), "base64 {}", path.display());
    Ok(text(&out.stdout))
}

/// `skiff get namespaces` with only `$KUBECONFIG` (and an empty HOME) to find admin.conf.
fn skiff_through_kubeconfig(
    cp: &TestControlPlane,
    home: &std::path::Path,
) -> anyhow::Result<String> {
    let out = Command::new(find_binary("skiff")?)
        .env_remove("SKIFF_CONFIG")
        .env("HOME", home)
        .env(
            "KUBECONFIG",
            format!(
                "/nonexistent/config:{}",
                cp.data().join("admin.conf").display()
            ),
        )
        .args(["get", "namespaces"])
        .output()
        .context("run skiff")?;
    ensure!(
        out.status.success(),
        "skiff get namespaces: {}",
        text(&out.stderr)
    );
    Ok(text(&out.stdout))
}

#[test]
fn kubectl_the_kube_crate_and_the_cli_read_admin_conf_as_a_kubeconfig() {
    let mut cp = TestControlPlane::start().expect("control plane");
    let data = cp.data();
    let kubectl = Kubectl::for_cluster(&cp).unwrap();
    let [context, server, ca, cert] = kubectl_view(&kubectl).unwrap();
    assert_eq!(context, "skiff");
    assert_eq!(server, cp.url);
    assert_eq!(ca, base64_of_file(&data.join("pki/ca.crt")).unwrap());
    assert_eq!(cert, base64_of_file(&data.join("pki/admin.crt")).unwrap());
    assert_eq!(
        std::fs::metadata(data.join("admin.conf"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // The kube crate: a client for this server, with the admin identity.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let kube_config = runtime
        .block_on(async {
            let file = kube::config::Kubeconfig::read_from(data.join("admin.conf"))?;
            let options = kube::config::KubeConfigOptions::default();
            anyhow::Ok(kube::Config::from_custom_kubeconfig(file, &options).await?)
        })
        .unwrap();
    assert_eq!(
        kube_config.cluster_url.to_string().trim_end_matches('/'),
        cp.url
    );
    assert!(kube_config.auth_info.client_certificate_data.is_some());
    runtime.block_on(kube_client::for_cluster(&cp)).unwrap();

    // The CLI through $KUBECONFIG, its first existing entry.
    let home = tempfile::tempdir().unwrap();
    let listed = skiff_through_kubeconfig(&cp, home.path()).unwrap();
    assert!(listed.contains("default"), "{listed}");

    // The admin token: private, 64 hex digits, kept across restarts.
    let token_path = data.join("admin-token");
    let token = std::fs::read_to_string(&token_path).unwrap();
    assert_eq!(
        std::fs::metadata(&token_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(token.trim().len() == 64 && token.trim().bytes().all(|b| b.is_ascii_hexdigit()));

    // An admin.conf in skiff's old flat form (as skiff wrote it before) is rewritten as
    // a kubeconfig at the next start, with the same certificate and key.
    let admin = skiff_proto::auth::AdminConfig::load(&data.join("admin.conf")).unwrap();
    let flat = format!(
        "server: {}\nca: {:?}\ncert: {:?}\nkey: {:?}\n",
        admin.server, admin.ca, admin.cert, admin.key
    );
    std::fs::write(data.join("admin.conf"), flat).unwrap();
    cp.restart().unwrap();
    let rewritten = std::fs::read_to_string(data.join("admin.conf")).unwrap();
    assert!(rewritten.contains("kind: Config"), "{rewritten}");
    let [context, _, _, cert_after] = kubectl_view(&kubectl).unwrap();
    assert_eq!((context.as_str(), cert_after), ("skiff", cert));
    assert_eq!(std::fs::read_to_string(&token_path).unwrap(), token);
    skiff_through_kubeconfig(&cp, home.path()).unwrap();
}
