//! k3s-style `registries.yaml`: mirrors tried in order before the upstream registry, and
//! per-host credentials and TLS settings.
//!
//! ```yaml
//! mirrors:
//!   docker.io:
//!     endpoint: ["http://127.0.0.1:5000"]
//! configs:
//!   "127.0.0.1:5000":
//!     auth: {username: u, password: p}
//!     tls: {insecure_skip_verify: true}
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_client::secrets::RegistryAuth;
use serde::Deserialize;
use tracing::warn;

use super::super::RuntimeError;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Registries {
    #[serde(default)]
    mirrors: HashMap<String, Mirror>,
    #[serde(default)]
    configs: HashMap<String, HostConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Mirror {
    #[serde(default)]
    endpoint: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct HostConfig {
    #[serde(default)]
    auth: Option<AuthConfig>,
    #[serde(default)]
    tls: Option<TlsConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct AuthConfig {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    /// base64 of `username:password`, as in a Docker config.json.
    #[serde(default)]
    auth: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct TlsConfig {
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    insecure_skip_verify: bool,
}

/// One place to fetch an image from, with everything needed to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host[:port]`, for messages and as a client cache key.
    pub url: String,
    pub host: String,
    pub plain_http: bool,
    /// True for a configured mirror; false for the registry named in the reference.
    pub mirror: bool,
    pub insecure_skip_verify: bool,
    pub ca_file: Option<PathBuf>,
    pub auth: Auth,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Anonymous,
    Basic { username: String, password: String },
}

impl Auth {
    pub fn to_registry_auth(&self) -> RegistryAuth {
        match self {
            Auth::Anonymous => RegistryAuth::Anonymous,
            Auth::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
        }
    }
}

impl Registries {
    pub fn from_yaml(text: &str) -> Result<Self, RuntimeError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml::from_str(text)
            .map_err(|e| RuntimeError::InvalidArgument(format!("registries config: {e}")))
    }

    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RuntimeError::io(format!("read {}", path.display()), e))?;
        Self::from_yaml(&text)
    }

    /// Where to look for images of `registry`, in order: its mirrors (or the `*` mirrors),
    /// then the registry itself, as k3s does.
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mirrors = self
            .mirrors
            .get(registry)
            .or_else(|| self.mirrors.get("*"))
            .map(|m| m.endpoint.as_slice())
            .unwrap_or_default();
        let mut out: Vec<Endpoint> = Vec::new();
        for raw in mirrors {
            match parse_endpoint(raw) {
                Some((plain_http, host)) => {
                    let ep = self.endpoint(host, plain_http, true, None);
                    if !out.iter().any(|e| e.url == ep.url) {
                        out.push(ep);
                    }
                }
                None => warn!(registry, endpoint = %raw, "ignoring unusable mirror endpoint"),
            }
        }
        let (host, plain_http) = upstream(registry);
        let upstream = self.endpoint(host, plain_http, false, Some(registry));
        if !out.iter().any(|e| e.url == upstream.url) {
            out.push(upstream);
        }
        out
    }

    fn endpoint(
        &self,
        host: String,
        plain_http: bool,
        mirror: bool,
        alias: Option<&str>,
    ) -> Endpoint {
        let config = self
            .config_for(&host)
            .or_else(|| alias.and_then(|a| self.config_for(a)))
            .cloned()
            .unwrap_or_default();
        let tls = config.tls.unwrap_or_default();
        let scheme = if plain_http { "http" } else { "https" };
        Endpoint {
            url: format!("{scheme}://{host}"),
            auth: config.auth.map(auth_of).unwrap_or(Auth::Anonymous),
            host,
            plain_http,
            mirror,
            insecure_skip_verify: tls.insecure_skip_verify,
            ca_file: tls.ca_file,
        }
    }

    /// Looks up `configs` by host, accepting keys written with a scheme as well.
    fn config_for(&self, host: &str) -> Option<&HostConfig> {
        self.configs.get(host).or_else(|| {
            self.configs
                .iter()
                .find(|(k, _)| parse_endpoint(k).is_some_and(|(_, h)| h == host))
                .map(|(_, v)| v)
        })
    }
}

/// The registry's own endpoint: Docker Hub lives elsewhere, and loopback registries are
/// plain HTTP as containerd assumes.
fn upstream(registry: &str) -> (String, bool) {
    if registry == "docker.io" {
        return ("registry-1.docker.io".to_string(), false);
    }
    let hostname = registry
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(registry, |(h, _)| h);
    let loopback = hostname == "localhost"
        || hostname == "[::1]"
        || hostname
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    (registry.to_string(), loopback)
}

/// `http://host:port[/v2][/]` → (plain http, host:port); a bare host means https.
fn parse_endpoint(raw: &str) -> Option<(bool, String)> {
    let raw = raw.trim();
    let (plain_http, rest) = if let Some(r) = raw.strip_prefix("http://") {
        (true, r)
    } else if let Some(r) = raw.strip_prefix("https://") {
        (false, r)
    } else {
        (false, raw)
    };
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix("/v2").unwrap_or(rest);
    if rest.is_empty() || rest.contains('/') {
        // A path prefix can't be expressed to the registry client.
        return None;
    }
    Some((plain_http, rest.to_string()))
}

fn auth_of(a: AuthConfig) -> Auth {
    match (a.username, a.password, a.auth) {
        (Some(username), password, _) if !username.is_empty() => Auth::Basic {
            username,
            password: password.unwrap_or_default(),
        },
        (_, _, Some(encoded)) => match decode_base64(&encoded)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            }) {
            Some((username, password)) => Auth::Basic { username, password },
            None => {
                warn!("ignoring undecodable registry auth");
                Auth::Anonymous
            }
        },
        _ => Auth::Anonymous,
    }
}

/// Standard base64 with optional padding; enough for `auth:` fields without another crate.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim().trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
mirrors:
  docker.io:
    endpoint:
      - "http://127.0.0.1:5000"
      - "https://mirror.example.com:8443/v2/"
  "*":
    endpoint: ["https://all.example.com"]
configs:
  "127.0.0.1:5000":
    auth: {username: alice, password: secret}
  "mirror.example.com:8443":
    tls: {insecure_skip_verify: true, ca_file: /etc/ca.pem}
  "https://private.example.com":
    auth: {auth: "Ym9iOnB3"}
"#;

    fn urls(eps: &[Endpoint]) -> Vec<&str> {
        eps.iter().map(|e| e.url.as_str()).collect()
    }

    #[test]
    fn mirrors_come_first_then_upstream() {
        let r = Registries::from_yaml(YAML).unwrap();
        let eps = r.endpoints("docker.io");
        assert_eq!(
            urls(&eps),
            [
                "http://127.0.0.1:5000",
                "https://mirror.example.com:8443",
                "https://registry-1.docker.io"
            ]
        );
        assert!(eps[0].plain_http && eps[0].mirror);
        assert_eq!(
            eps[0].auth,
            Auth::Basic {
                username: "alice".into(),
                password: "secret".into()
            }
        );
        assert!(eps[1].insecure_skip_verify);
        assert_eq!(eps[1].ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert!(!eps[2].mirror && !eps[2].plain_http);
        assert_eq!(eps[2].auth, Auth::Anonymous);
    }

    #[test]
    fn wildcard_mirror_applies_to_unlisted_registries() {
        let r = Registries::from_yaml(YAML).unwrap();
        let eps = r.endpoints("private.example.com");
        assert_eq!(
            urls(&eps),
            ["https://all.example.com", "https://private.example.com"]
        );
        assert_eq!(
            eps[1].auth,
            Auth::Basic {
                username: "bob".into(),
                password: "pw".into()
            }
        );
    }

    #[test]
    fn no_config_means_upstream_only_and_loopback_is_plain_http() {
        let r = Registries::default();
        assert_eq!(urls(&r.endpoints("quay.io")), ["https://quay.io"]);
        assert_eq!(
            urls(&r.endpoints("127.0.0.1:5123")),
            ["http://127.0.0.1:5123"]
        );
        assert_eq!(
            urls(&r.endpoints("localhost:5000")),
            ["http://localhost:5000"]
        );
        assert_eq!(
            urls(&r.endpoints("docker.io")),
            ["https://registry-1.docker.io"]
        );
        assert!(Registries::from_yaml("  \n").unwrap().mirrors.is_empty());
    }

    #[test]
    fn mirror_equal_to_upstream_is_not_tried_twice() {
        let r = Registries::from_yaml(
            "mirrors: {\"127.0.0.1:5000\": {endpoint: [\"http://127.0.0.1:5000\"]}}",
        )
        .unwrap();
        assert_eq!(
            urls(&r.endpoints("127.0.0.1:5000")),
            ["http://127.0.0.1:5000"]
        );
    }

    #[test]
    fn endpoints_with_paths_are_skipped() {
        assert_eq!(parse_endpoint("https://h/v2/"), Some((false, "h".into())));
        assert_eq!(parse_endpoint("h:1"), Some((false, "h:1".into())));
        assert_eq!(parse_endpoint("https://h/prefix"), None);
    }

    #[test]
    fn bad_yaml_is_an_invalid_argument() {
        assert!(matches!(
            Registries::from_yaml("mirrors: [1, 2"),
            Err(RuntimeError::InvalidArgument(_))
        ));
    }

    #[test]
    fn base64_decodes() {
        assert_eq!(decode_base64("Ym9iOnB3").unwrap(), b"bob:pw");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        assert!(decode_base64("!!").is_none());
    }
}
