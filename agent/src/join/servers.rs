//! The control-plane servers this agent may talk to: the `--server` URL first, then the
//! addresses the cluster lists in the `kubernetes` Service's Endpoints (`default`), as
//! k3s' agent load balancer learns them. The learned part is kept under
//! `<root>/join/servers`, so an agent restarted while its first server is down still
//! finds the others.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Endpoints;
use tracing::warn;

/// The `kubernetes` Service's Endpoints, whose addresses are the API servers.
pub const API_ENDPOINTS: (&str, &str) = ("default", "kubernetes");

/// `--server` and what the cluster taught us, in the order failover tries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerList {
    configured: String,
    learned: Vec<String>,
}

impl ServerList {
    pub fn new(configured: &str, learned: Vec<String>) -> ServerList {
        let mut list = ServerList {
            configured: configured.trim_end_matches('/').to_string(),
            learned: Vec::new(),
        };
        list.learn(learned);
        list
    }

    /// Every server, `--server` first, without duplicates.
    pub fn urls(&self) -> Vec<String> {
        std::iter::once(self.configured.clone())
            .chain(self.learned.iter().cloned())
            .collect()
    }

    pub fn learned(&self) -> &[String] {
        &self.learned
    }

    /// Replaces the learned servers; `true` when they changed. An empty set is ignored:
    /// an Endpoints object between two updates says nothing about which servers exist,
    /// and forgetting them all would leave nowhere to fail over to.
    pub fn learn(&mut self, urls: Vec<String>) -> bool {
        let mut learned: Vec<String> = Vec::new();
        for url in urls {
            let url = url.trim_end_matches('/').to_string();
            if url != self.configured && !learned.contains(&url) {
                learned.push(url);
            }
        }
        if learned.is_empty() || learned == self.learned {
            return false;
        }
        self.learned = learned;
        true
    }
}

/// The API server URLs an Endpoints object lists: `https://IP:PORT` for every ready
/// address, the port named `https` (or the only one).
pub fn urls_from_endpoints(endpoints: &Endpoints) -> Vec<String> {
    let mut urls = Vec::new();
    for subset in endpoints.subsets.iter().flatten() {
        let ports = subset.ports.as_deref().unwrap_or_default();
        let port = ports
            .iter()
            .find(|p| p.name.as_deref() == Some("https"))
            .or(ports.first())
            .map(|p| p.port);
        let Some(port) = port else { continue };
        for address in subset.addresses.iter().flatten() {
            let host = match address.ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
                Ok(ip) => ip.to_string(),
                Err(_) => continue,
            };
            urls.push(format!("https://{host}:{port}"));
        }
    }
    urls
}

/// `<root>/join/servers`: one learned URL a line.
pub struct ServersFile {
    path: PathBuf,
}

impl ServersFile {
    pub fn new(root: &Path) -> ServersFile {
        ServersFile {
            path: root.join("join").join("servers"),
        }
    }

    /// The saved servers; none when the file is missing or unreadable.
    pub fn load(&self) -> Vec<String> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => {
                warn!(path = %self.path.display(), %error, "cannot read the saved server list");
                Vec::new()
            }
        }
    }

    /// Written aside, fsync'd and renamed, so a crash leaves the old list or the new one.
    pub fn save(&self, urls: &[String]) -> std::io::Result<()> {
        use std::io::Write;
        let dir = self.path.parent().expect("the file lies in join/");
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(".servers.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        for url in urls {
            writeln!(f, "{url}")?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset};

    use super::*;

    fn endpoints(ips: &[&str], ports: &[(&str, i32)]) -> Endpoints {
        Endpoints {
            subsets: Some(vec![EndpointSubset {
                addresses: Some(
                    ips.iter()
                        .map(|ip| EndpointAddress {
                            ip: ip.to_string(),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ports: Some(
                    ports
                        .iter()
                        .map(|(name, port)| EndpointPort {
                            name: Some(name.to_string()),
                            port: *port,
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn endpoints_become_https_urls_on_the_https_port() {
        let eps = endpoints(
            &["10.9.0.2", "fd00::3"],
            &[("metrics", 9090), ("https", 6443)],
        );
        assert_eq!(
            urls_from_endpoints(&eps),
            ["https://10.9.0.2:6443", "https://[fd00::3]:6443"]
        );
        assert!(urls_from_endpoints(&Endpoints::default()).is_empty());
    }

    #[test]
    fn configured_server_comes_first_and_appears_once() {
        let mut list = ServerList::new(
            "https://10.9.0.2:6443/",
            vec!["https://10.9.0.3:6443".into()],
        );
        assert_eq!(
            list.urls(),
            ["https://10.9.0.2:6443", "https://10.9.0.3:6443"]
        );
        let changed = list.learn(vec![
            "https://10.9.0.4:6443".into(),
            "https://10.9.0.2:6443".into(),
            "https://10.9.0.4:6443".into(),
        ]);
        assert!(changed);
        assert_eq!(
            list.urls(),
            ["https://10.9.0.2:6443", "https://10.9.0.4:6443"]
        );
        assert!(!list.learn(vec!["https://10.9.0.4:6443".into()]));
    }

    #[test]
    fn an_empty_endpoints_update_keeps_the_known_servers() {
        let mut list = ServerList::new("https://a:6443", vec!["https://b:6443".into()]);
        assert!(!list.learn(Vec::new()));
        assert_eq!(list.learned(), ["https://b:6443"]);
    }

    #[test]
    fn the_learned_list_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = ServersFile::new(dir.path());
        assert!(file.load().is_empty());
        let urls = vec![
            "https://10.9.0.3:6443".to_string(),
            "https://10.9.0.4:6443".into(),
        ];
        file.save(&urls).unwrap();
        assert_eq!(ServersFile::new(dir.path()).load(), urls);
    }
}
