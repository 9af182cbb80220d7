//! The cluster's PKI, made on first start the way k3s does it, so a fresh cluster is
//! secure without anyone running openssl.
//!
//! Under `<data-dir>`:
//!
//! | file                      | what                                                 | mode |
//! |---------------------------|------------------------------------------------------|------|
//! | `pki/ca.crt`, `ca.key`    | CA, ECDSA P-256, CN `skiff-ca`, 10 years             | 0600 key |
//! | `pki/server.crt`, `.key`  | API serving certificate, 1 year, SANs below          | 0600 key |
//! | `pki/admin.crt`, `.key`   | CN `admin`, O `system:masters`, 1 year               | 0600 key |
//! | `pki/control-plane.crt`…  | CN `skiff-control-plane`: calls to agents, 1 year    | 0600 key |
//! | `admin.conf`              | kubeconfig for kubectl and the CLI ([`AdminConfig`]) | 0600 |
//! | `pki/service-account.key` | signs service-account tokens, ES256                  | 0600 |
//! | `admin-token`             | bearer token of the admin, 32 random bytes hex       | 0600 |
//! | `node-token`              | `K10<sha256 of the CA DER>::node:<secret>`           | 0600 |
//! | `server-token`            | `K10<sha256 of the CA DER>::server:<secret>`: joins a server | 0600 |
//!
//! Later starts reuse all of it. The CA is never regenerated: agents pinned it through the
//! token, so a missing key next to an existing CA certificate is an error to fix by hand,
//! not something to paper over. A leaf is reissued when it is missing, unreadable, does
//! not match its key, was not signed by this CA, expires within 30 days, or (the serving
//! certificate) its SANs differ from `localhost`, `127.0.0.1`, the hostname and the
//! caller's names. Every write is atomic (temporary file, fsync, rename, fsync of the
//! directory), with the final mode from the first byte.
//!
//! Not done yet: CA rotation, revocation of a node's certificate (a removed node keeps a
//! valid certificate until it expires), and renewal of node certificates (an agent
//! registers again to get a new one).

mod admin_token;
pub(crate) mod files;
mod issue;
pub mod join;
mod load;
mod node;
mod server_token;
mod service_account;
mod serving;
#[cfg(test)]
mod tests;
mod user;

use std::path::{Path, PathBuf};

use rcgen::KeyPair;
use skiff_proto::auth::{constant_time_eq, AdminConfig, NodeToken, ServerToken};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

pub use admin_token::admin_token_path;
pub use server_token::server_token_path;
pub use service_account::ServiceAccountKey;
pub use user::user_config;

/// Errors of creating, loading and using the PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} is unusable: {reason}")]
    Corrupt { what: String, reason: String },
    #[error("making a certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("{0:?} can't be a certificate name (a DNS name or an IP address is needed)")]
    ServerName(String),
    #[error("API server URL {0:?} must be https://HOST:PORT")]
    ServerUrl(String),
    #[error("certificate signing request refused: {0}")]
    Csr(String),
}

/// A certificate and its key, PEM.
#[derive(Clone)]
struct KeyedCert {
    cert_pem: String,
    key_pem: String,
}

/// The control plane's CA, its own certificates and the node token, loaded or made by
/// [`Pki::load_or_create`].
pub struct Pki {
    data_dir: PathBuf,
    ca_pem: String,
    ca_der: Vec<u8>,
    ca_key: KeyPair,
    serving: KeyedCert,
    control_plane: KeyedCert,
    admin_config: AdminConfig,
    admin_token: String,
    token: NodeToken,
    server_token: ServerToken,
    service_account: ServiceAccountKey,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("data_dir", &self.data_dir)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// `<data-dir>/admin.conf`.
pub fn admin_conf_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.conf")
}

/// `<data-dir>/node-token`.
pub fn node_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("node-token")
}

impl Pki {
    /// PEM of the CA certificate (what agents and the CLI trust).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// DER of the CA certificate; the node token carries its sha256.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The node join token, secret included, as written to `<data-dir>/node-token`.
    pub fn node_token(&self) -> String {
        self.token.to_string()
    }

    /// True when `presented` is this cluster's server token (what `--join` presents),
    /// in constant time.
    pub fn verify_server_token(&self, presented: &str) -> bool {
        let Ok(presented) = ServerToken::parse(presented) else {
            return false;
        };
        let (mine, theirs) = (&self.server_token.0, &presented.0);
        let hash_ok = constant_time_eq(theirs.ca_hash.as_bytes(), mine.ca_hash.as_bytes());
        let secret_ok = constant_time_eq(theirs.secret.as_bytes(), mine.secret.as_bytes());
        hash_ok & secret_ok
    }

    /// `<data-dir>`, where the files a joining server gets are read from.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The CLI's credentials, as written to `<data-dir>/admin.conf`.
    pub fn admin_config(&self) -> &AdminConfig {
        &self.admin_config
    }

    /// True when `presented` is the admin's bearer token (`<data-dir>/admin-token`):
    /// whoever holds it is the cluster administrator, as with admin.conf's certificate
    /// (O `system:masters`). Constant time, like [`Pki::verify_token`].
    pub fn admin_token_matches(&self, presented: &str) -> bool {
        !presented.is_empty() && constant_time_eq(presented.as_bytes(), self.admin_token.as_bytes())
    }

    /// The key that signs and verifies service-account tokens.
    pub fn service_account_key(&self) -> &ServiceAccountKey {
        &self.service_account
    }

    /// True when `presented` is this cluster's node token: the CA hash and the secret
    /// both match, compared in constant time so timing gives a guesser nothing.
    pub fn verify_token(&self, presented: &str) -> bool {
        let Ok(presented) = NodeToken::parse(presented) else {
            return false;
        };
        let hash_ok = constant_time_eq(presented.ca_hash.as_bytes(), self.token.ca_hash.as_bytes());
        let secret_ok = constant_time_eq(presented.secret.as_bytes(), self.token.secret.as_bytes());
        hash_ok & secret_ok
    }

    /// TLS for the API server. It presents `[serving certificate, CA]`, so an agent that
    /// has only the token can take the CA from the handshake and check it against the
    /// token's hash. Client certificates are verified against the CA but optional: an
    /// agent's first `Register` has only the token, and every other method checks the
    /// certificate with `skiff_proto::auth::require_*`.
    pub fn server_tls(&self) -> ServerTlsConfig {
        skiff_proto::auth::install_crypto_provider();
        let chain = format!("{}{}", self.serving.cert_pem, self.ca_pem);
        ServerTlsConfig::new()
            .identity(Identity::from_pem(chain, &self.serving.key_pem))
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
            .client_auth_optional(true)
    }

    /// TLS for calling the agent at `node_address` (its IP, as in its certificate's
    /// SANs): trusts only the cluster CA and presents the control plane's certificate.
    pub fn agent_client_tls(&self, node_address: &str) -> ClientTlsConfig {
        skiff_proto::auth::install_crypto_provider();
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(
                &self.control_plane.cert_pem,
                &self.control_plane.key_pem,
            ))
            .domain_name(node_address)
    }
}
