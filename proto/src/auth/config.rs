//! Client credentials and TLS channels: `admin.conf` for the CLI, the node's certificate
//! for the agent, and the agent's own server configuration.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig, Uri,
};

use super::{kubeconfig, AuthError};

/// Environment variable naming the CLI's config file (like `$KUBECONFIG`).
pub const CONFIG_ENV: &str = "SKIFF_CONFIG";
/// kubectl's variable: a `:`-separated list of kubeconfigs.
pub const KUBECONFIG_ENV: &str = "KUBECONFIG";
/// `admin.conf` under the control plane's conventional `--data-dir`: root on the
/// control-plane host finds it without copying it anywhere (the file is 0600).
pub const CONTROL_PLANE_ADMIN_CONF: &str = "/var/lib/skiff/admin.conf";
/// The user's config, relative to `$HOME`.
const HOME_CONFIG: &str = ".skiff/config";
/// kubectl's default config, relative to `$HOME`.
const HOME_KUBECONFIG: &str = ".kube/config";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `admin.conf`: where the control plane is and how to prove being its administrator.
/// The control plane writes it on first start as a kubeconfig (see `kubeconfig.rs`); the
/// CLI reads that, or the flat YAML of these four fields that skiff wrote before.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// `https://HOST:PORT` of the control plane's API.
    pub server: String,
    /// PEM of the cluster CA, the only authority the CLI trusts for the server.
    pub ca: String,
    /// PEM client certificate (O `system:masters`).
    pub cert: String,
    /// PEM private key of `cert`.
    pub key: String,
}

/// Debug leaves the key out: configs end up in `?config` log fields.
impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("server", &self.server)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl AdminConfig {
    /// Reads a config file: a kubeconfig (its `current-context`) or the old flat form.
    pub fn load(path: &Path) -> Result<AdminConfig, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let yaml_error = |source| AuthError::Yaml {
            path: path.to_path_buf(),
            source,
        };
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(yaml_error)?;
        if !kubeconfig::is_kubeconfig(&doc) {
            return serde_yaml::from_value(doc).map_err(yaml_error);
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        kubeconfig::parse(doc, dir).map_err(|reason| AuthError::Kubeconfig {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Finds the config the way [`config_path`] says, then loads it.
    pub fn discover(explicit: Option<&Path>) -> Result<(PathBuf, AdminConfig), AuthError> {
        let path = config_path(explicit)?;
        let config = AdminConfig::load(&path)?;
        Ok((path, config))
    }

    /// The kubeconfig text of this config, as the control plane writes it.
    pub fn to_yaml(&self) -> String {
        kubeconfig::render(self)
    }

    /// An endpoint for the server that trusts only the cluster CA and presents the admin
    /// certificate; connecting is left to the caller (`connect_lazy` and so on). A config
    /// without a certificate or key connects anonymously, so the server's refusal
    /// ("a client certificate is required") is what the user reads.
    pub fn endpoint(&self) -> Result<Endpoint, AuthError> {
        let has_identity = !self.cert.trim().is_empty() && !self.key.trim().is_empty();
        let identity = has_identity.then_some((self.cert.as_str(), self.key.as_str()));
        endpoint(&self.server, &self.ca, identity)
    }

    /// A connected channel, so a wrong CA or an unreachable server is reported here
    /// rather than at the first call.
    pub async fn channel(&self) -> Result<Channel, AuthError> {
        Ok(self.endpoint()?.connect().await?)
    }
}

/// Which config file the CLI uses, first match wins:
/// 1. `explicit` (`--config PATH`), which must exist;
/// 2. `$SKIFF_CONFIG`, which must exist when set;
/// 3. `$KUBECONFIG`: its first entry that exists (kubectl merges the list; skiff takes
///    one file), one of which must exist when it is set;
/// 4. `~/.skiff/config`, then `~/.kube/config`, if they exist;
/// 5. `/var/lib/skiff/admin.conf`, if it exists and is readable (root on the
///    control-plane host, with the default data dir).
///
/// An explicit choice that is missing is an error rather than a fall-through, so a typo
/// never silently talks to another cluster with other credentials.
pub fn config_path(explicit: Option<&Path>) -> Result<PathBuf, AuthError> {
    resolve_config_path(
        explicit,
        [CONFIG_ENV, KUBECONFIG_ENV].map(std::env::var_os),
        std::env::var_os("HOME").map(PathBuf::from),
        |p| std::fs::File::open(p).is_ok(),
    )
}

/// [`config_path`] with its environment (`$SKIFF_CONFIG`, `$KUBECONFIG`) passed in, for
/// tests.
fn resolve_config_path(
    explicit: Option<&Path>,
    [env, kube_env]: [Option<OsString>; 2],
    home: Option<PathBuf>,
    readable: impl Fn(&Path) -> bool,
) -> Result<PathBuf, AuthError> {
    let unreadable = |path: PathBuf| AuthError::Io {
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "cannot open it"),
        path,
    };
    let chosen = explicit
        .map(Path::to_path_buf)
        .or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from));
    if let Some(path) = chosen {
        return match readable(&path) {
            true => Ok(path),
            false => Err(unreadable(path)),
        };
    }
    if let Some(list) = kube_env.filter(|v| !v.is_empty()) {
        let list = list.to_string_lossy().into_owned();
        let mut entries = std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty());
        return entries
            .find(|p| readable(p))
            .ok_or_else(|| unreadable(PathBuf::from(list)));
    }
    let candidates: Vec<PathBuf> = home
        .map(|h| [h.join(HOME_CONFIG), h.join(HOME_KUBECONFIG)])
        .into_iter()
        .flatten()
        .chain([PathBuf::from(CONTROL_PLANE_ADMIN_CONF)])
        .collect();
    candidates
        .iter()
        .find(|p| readable(p))
        .cloned()
        .ok_or_else(|| AuthError::NoConfig {
            searched: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The host of an `https://` URL, as the name its certificate must carry (brackets of an
/// IPv6 literal removed). Plain `http://` is refused: skiff speaks only TLS.
pub(super) fn tls_server_name(server: &str) -> Result<String, AuthError> {
    let bad = |reason: &str| AuthError::ServerUrl {
        url: server.to_string(),
        reason: reason.to_string(),
    };
    let uri: Uri = server.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("https") {
        return Err(bad("must start with https://"));
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host"))?;
    Ok(host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string())
}

/// An endpoint for `server` that trusts only `ca_pem` and, with `identity` (certificate
/// and key PEM), authenticates with it. Without an identity the server sees an anonymous
/// caller, which is enough for the node token's Register and nothing else.
pub fn endpoint(
    server: &str,
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<Endpoint, AuthError> {
    super::install_crypto_provider();
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name(tls_server_name(server)?);
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let endpoint = Endpoint::from_shared(server.to_string())
        .map_err(|e| AuthError::ServerUrl {
            url: server.to_string(),
            reason: e.to_string(),
        })?
        .connect_timeout(CONNECT_TIMEOUT)
        .tls_config(tls)?;
    Ok(endpoint)
}

/// The agent's channel to the control plane once it holds its node certificate.
pub async fn node_channel(
    server: &str,
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Channel, AuthError> {
    Ok(endpoint(server, ca_pem, Some((cert_pem, key_pem)))?
        .connect()
        .await?)
}

/// TLS for the agent's API on the node IP: it presents the node certificate and accepts
/// only clients with a certificate from the cluster CA (methods then call
/// [`super::require_control_plane`]), so nothing anonymous gets past the handshake.
pub fn node_server_tls(ca_pem: &str, cert_pem: &str, key_pem: &str) -> ServerTlsConfig {
    super::install_crypto_provider();
    ServerTlsConfig::new()
        .identity(Identity::from_pem(cert_pem, key_pem))
        .client_ca_root(Certificate::from_pem(ca_pem))
        .client_auth_optional(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(
        explicit: Option<&str>,
        env: Option<&str>,
        existing: &[&str],
    ) -> Result<PathBuf, AuthError> {
        resolve_kube(explicit, env, None, existing)
    }

    fn resolve_kube(
        explicit: Option<&str>,
        env: Option<&str>,
        kube_env: Option<&str>,
        existing: &[&str],
    ) -> Result<PathBuf, AuthError> {
        resolve_config_path(
            explicit.map(Path::new),
            [env.map(OsString::from), kube_env.map(OsString::from)],
            Some(PathBuf::from("/home/u")),
            |p| existing.iter().any(|e| Path::new(e) == p),
        )
    }

    #[test]
    fn lookup_order() {
        let all = [
            "/x",
            "/env",
            "/home/u/.skiff/config",
            CONTROL_PLANE_ADMIN_CONF,
        ];
        assert_eq!(
            resolve(Some("/x"), Some("/env"), &all).unwrap(),
            Path::new("/x")
        );
        assert_eq!(
            resolve(None, Some("/env"), &all).unwrap(),
            Path::new("/env")
        );
        assert_eq!(
            resolve(None, None, &all).unwrap(),
            Path::new("/home/u/.skiff/config")
        );
        assert_eq!(
            resolve(None, Some(""), &[CONTROL_PLANE_ADMIN_CONF]).unwrap(),
            Path::new(CONTROL_PLANE_ADMIN_CONF)
        );
    }

    #[test]
    fn kubeconfig_comes_after_skiff_config_and_before_home() {
        let all = [
            "/env",
            "/kube/b",
            "/home/u/.skiff/config",
            "/home/u/.kube/config",
            CONTROL_PLANE_ADMIN_CONF,
        ];
        let found = |env, kube, existing: &[&str]| resolve_kube(None, env, kube, existing);
        assert_eq!(
            found(Some("/env"), Some("/kube/b"), &all).unwrap(),
            Path::new("/env")
        );
        // The first entry of the list that exists.
        assert_eq!(
            found(None, Some("/kube/a:/kube/b"), &all).unwrap(),
            Path::new("/kube/b")
        );
        assert!(found(None, Some("/kube/a:/kube/c"), &all).is_err());
        assert_eq!(
            found(None, Some(""), &all).unwrap(),
            Path::new("/home/u/.skiff/config")
        );
        assert_eq!(
            found(None, None, &all[3..]).unwrap(),
            Path::new("/home/u/.kube/config")
        );
    }

    #[test]
    fn explicit_choices_do_not_fall_through() {
        let all = ["/home/u/.skiff/config", CONTROL_PLANE_ADMIN_CONF];
        assert!(matches!(
            resolve(Some("/typo"), None, &all),
            Err(AuthError::Io { .. })
        ));
        assert!(matches!(
            resolve(None, Some("/typo"), &all),
            Err(AuthError::Io { .. })
        ));
        let err = resolve(None, None, &[]).unwrap_err().to_string();
        assert!(
            err.contains("/home/u/.skiff/config") && err.contains("--config"),
            "{err}"
        );
    }

    #[test]
    fn server_names_come_from_https_urls_only() {
        assert_eq!(
            tls_server_name("https://10.0.0.1:6443").unwrap(),
            "10.0.0.1"
        );
        assert_eq!(tls_server_name("https://[::1]:6443").unwrap(), "::1");
        assert_eq!(tls_server_name("https://cp.lan").unwrap(), "cp.lan");
        assert!(tls_server_name("http://10.0.0.1:6443").is_err());
        assert!(tls_server_name("10.0.0.1:6443").is_err());
    }

    #[test]
    fn old_flat_admin_conf_still_loads_strictly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.conf");
        std::fs::write(&path, "server: https://s:1\nca: c\ncert: ce\nkey: k\n").unwrap();
        let config = AdminConfig::load(&path).unwrap();
        assert_eq!(
            (
                config.server.as_str(),
                config.ca.as_str(),
                config.cert.as_str()
            ),
            ("https://s:1", "c", "ce")
        );
        assert!(!format!("{config:?}").contains("\"k\""));
        std::fs::write(&path, "server: s\nca: c\ncert: c\nkey: k\nkeys: k\n").unwrap();
        assert!(matches!(
            AdminConfig::load(&path),
            Err(AuthError::Yaml { .. })
        ));
    }
}
