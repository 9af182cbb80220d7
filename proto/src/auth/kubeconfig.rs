//! `admin.conf` as a kubeconfig, the file kubectl, helm and client libraries read as it
//! is: one cluster, user and context named [`NAME`], the CA and the admin's certificate
//! and key inline as base64 PEM (`*-data`), `current-context` set. Reading follows
//! `current-context` to its cluster and user, takes the `*-data` fields or the file
//! paths kubectl also accepts (relative ones against the kubeconfig's directory), and
//! leaves the fields skiff has no use for (preferences, extensions, ...) alone.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::config::AdminConfig;

/// The name of the cluster, user and context skiff writes.
pub const NAME: &str = "skiff";

#[derive(Serialize, Deserialize, Default)]
struct Kubeconfig {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    clusters: Vec<NamedCluster>,
    #[serde(default, deserialize_with = "null_as_default")]
    contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default)]
    current_context: String,
    #[serde(default, deserialize_with = "null_as_default")]
    users: Vec<NamedUser>,
}

#[derive(Serialize, Deserialize)]
struct NamedCluster {
    name: String,
    cluster: Cluster,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    #[serde(default)]
    server: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    certificate_authority_data: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    certificate_authority: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    insecure_skip_tls_verify: bool,
}

#[derive(Serialize, Deserialize)]
struct NamedContext {
    name: String,
    context: Context,
}

#[derive(Serialize, Deserialize)]
struct Context {
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    user: String,
}

#[derive(Serialize, Deserialize)]
struct NamedUser {
    name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    user: User,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct User {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    client_certificate_data: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    client_key_data: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    client_certificate: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    client_key: String,
}

/// `clusters: null` (kubectl writes it for an empty config) reads as no entries.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// True when `doc` looks like a kubeconfig rather than skiff's old flat `admin.conf`
/// (`server`, `ca`, `cert`, `key`).
pub(super) fn is_kubeconfig(doc: &serde_yaml::Value) -> bool {
    ["apiVersion", "kind", "clusters", "contexts", "users"]
        .iter()
        .any(|k| doc.get(k).is_some())
}

/// The kubeconfig text for `config`.
pub(super) fn render(config: &AdminConfig) -> String {
    let doc = Kubeconfig {
        api_version: "v1".into(),
        kind: "Config".into(),
        clusters: vec![NamedCluster {
            name: NAME.into(),
            cluster: Cluster {
                server: config.server.clone(),
                certificate_authority_data: STANDARD.encode(&config.ca),
                ..Cluster::default()
            },
        }],
        contexts: vec![NamedContext {
            name: NAME.into(),
            context: Context {
                cluster: NAME.into(),
                user: NAME.into(),
            },
        }],
        current_context: NAME.into(),
        users: vec![NamedUser {
            name: NAME.into(),
            user: User {
                client_certificate_data: STANDARD.encode(&config.cert),
                client_key_data: STANDARD.encode(&config.key),
                ..User::default()
            },
        }],
    };
    serde_yaml::to_string(&doc).expect("a struct of strings always serializes")
}

/// The credentials of `doc`'s current context; `dir` is where relative file paths
/// start. The error says what is missing or wrong, for [`super::AuthError::Kubeconfig`].
pub(super) fn parse(doc: serde_yaml::Value, dir: &Path) -> Result<AdminConfig, String> {
    let doc: Kubeconfig = serde_yaml::from_value(doc).map_err(|e| e.to_string())?;
    if doc.current_context.is_empty() {
        return Err("current-context is not set".into());
    }
    let context = doc
        .contexts
        .iter()
        .find(|c| c.name == doc.current_context)
        .map(|c| &c.context)
        .ok_or_else(|| format!("context {:?} is not defined", doc.current_context))?;
    let cluster = doc
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .map(|c| &c.cluster)
        .ok_or_else(|| format!("cluster {:?} is not defined", context.cluster))?;
    let user = doc
        .users
        .iter()
        .find(|u| u.name == context.user)
        .map(|u| &u.user)
        .ok_or_else(|| format!("user {:?} is not defined", context.user))?;
    if cluster.insecure_skip_tls_verify {
        return Err(format!(
            "cluster {:?} has insecure-skip-tls-verify: skiff only talks to a server it can verify",
            context.cluster
        ));
    }
    let field = |what: &str, data: &str, file: &str| -> Result<String, String> {
        match (data.is_empty(), file.is_empty()) {
            (false, _) => decode(what, data),
            (true, false) => read(what, &dir.join(file)),
            (true, true) => Ok(String::new()),
        }
    };
    let ca = field(
        "certificate-authority",
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    )?;
    if ca.trim().is_empty() {
        return Err(format!(
            "cluster {:?} has no certificate-authority-data (skiff trusts only the cluster CA)",
            context.cluster
        ));
    }
    Ok(AdminConfig {
        server: cluster.server.clone(),
        ca,
        cert: field(
            "client-certificate",
            &user.client_certificate_data,
            &user.client_certificate,
        )?,
        key: field("client-key", &user.client_key_data, &user.client_key)?,
    })
}

fn decode(what: &str, data: &str) -> Result<String, String> {
    let bytes = STANDARD
        .decode(data.trim())
        .map_err(|e| format!("{what}-data is not base64: {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("{what}-data is not PEM text"))
}

fn read(what: &str, path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::super::AuthError;
    use super::*;

    fn sample() -> AdminConfig {
        AdminConfig {
            server: "https://127.0.0.1:6443".into(),
            ca: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n".into(),
            cert: "CERT PEM\n".into(),
            key: "KEY PEM\n".into(),
        }
    }

    fn load(text: &str) -> Result<AdminConfig, AuthError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        AdminConfig::load(&path)
    }

    #[test]
    fn written_as_a_kubeconfig_and_read_back() {
        let config = sample();
        let text = config.to_yaml();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(doc["apiVersion"], "v1");
        assert_eq!(doc["kind"], "Config");
        assert_eq!(doc["current-context"], NAME);
        assert_eq!(doc["contexts"][0]["context"]["user"], NAME);
        assert_eq!(
            doc["clusters"][0]["cluster"]["server"],
            config.server.as_str()
        );
        let ca = doc["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .unwrap();
        assert_eq!(STANDARD.decode(ca).unwrap(), config.ca.as_bytes());
        let key = doc["users"][0]["user"]["client-key-data"].as_str().unwrap();
        assert_eq!(STANDARD.decode(key).unwrap(), config.key.as_bytes());
        assert_eq!(load(&text).unwrap(), config);
    }

    #[test]
    fn follows_current_context_and_reads_files_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), "CA FILE").unwrap();
        std::fs::write(dir.path().join("me.crt"), "CERT FILE").unwrap();
        let text = format!(
            r#"apiVersion: v1
kind: Config
preferences: {{}}
clusters:
- name: other
  cluster: {{server: "https://other:6443", certificate-authority-data: {other_ca}}}
- name: lab
  cluster:
    server: https://lab:6443
    certificate-authority: ca.crt
    extensions: []
contexts:
- name: a
  context: {{cluster: other, user: other}}
- name: b
  context: {{cluster: lab, user: me, namespace: dev}}
current-context: b
users:
- name: other
  user: {{token: abc}}
- name: me
  user:
    client-certificate: me.crt
    client-key-data: {key}
"#,
            other_ca = STANDARD.encode("OTHER"),
            key = STANDARD.encode("KEY DATA"),
        );
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        let config = AdminConfig::load(&path).unwrap();
        assert_eq!(config.server, "https://lab:6443");
        assert_eq!(config.ca, "CA FILE");
        assert_eq!(config.cert, "CERT FILE");
        assert_eq!(config.key, "KEY DATA");
    }

    #[test]
    fn says_what_is_missing() {
        let ca = STANDARD.encode("CA");
        let cases = [
            ("apiVersion: v1\nkind: Config\n", "current-context is not set"),
            (
                "kind: Config\ncurrent-context: x\ncontexts: null\n",
                "context \"x\" is not defined",
            ),
            (
                "kind: Config\ncurrent-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n",
                "cluster \"c\" is not defined",
            ),
            (
                &format!("kind: Config\ncurrent-context: x\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\nclusters: [{{name: c, cluster: {{server: 'https://s', certificate-authority-data: {ca}}}}}]\n"),
                "user \"u\" is not defined",
            ),
            (
                "kind: Config\ncurrent-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://s', insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {}}]\n",
                "insecure-skip-tls-verify",
            ),
            (
                "kind: Config\ncurrent-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://s'}}]\nusers: [{name: u, user: {}}]\n",
                "no certificate-authority-data",
            ),
            (
                "kind: Config\ncurrent-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://s', certificate-authority-data: '%%%'}}]\nusers: [{name: u, user: {}}]\n",
                "certificate-authority-data is not base64",
            ),
        ];
        for (text, wanted) in cases {
            let err = load(text).unwrap_err();
            assert!(matches!(err, AuthError::Kubeconfig { .. }), "{err}");
            assert!(err.to_string().contains(wanted), "{text}: {err}");
        }
    }

    #[test]
    fn a_user_without_certificates_reads_as_anonymous() {
        let mut config = sample();
        config.cert.clear();
        config.key.clear();
        let text = config.to_yaml();
        assert!(!text.contains("client-key-data"), "{text}");
        assert_eq!(load(&text).unwrap(), config);
        // `user:` with nothing under it, as left by deleting its fields by hand.
        let emptied: String = sample()
            .to_yaml()
            .lines()
            .filter(|l| !l.contains("client-"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(load(&emptied).unwrap(), config);
    }
}
