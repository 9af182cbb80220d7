//! The API port's TLS as rustls sees it: the one listener (`frontdoor/server.rs`) does
//! the handshake itself, because it serves gRPC and the Kubernetes REST API side by side
//! and must offer both `h2` and `http/1.1` (WebSocket upgrades for exec and port-forward
//! are HTTP/1.1).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::{Pki, PkiError};

/// What the API port negotiates, in order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

impl Pki {
    /// TLS for the API port. It presents `[serving certificate, CA]`, so an agent that
    /// has only the token can take the CA from the handshake and check it against the
    /// token's hash. Client certificates are verified against the CA but optional: an
    /// agent's first `Register` has only the token, a REST client may bring a bearer
    /// token instead, and every request is then authenticated by its front door.
    pub fn server_rustls(&self) -> Result<Arc<ServerConfig>, PkiError> {
        skiff_proto::auth::install_crypto_provider();
        let corrupt = |what: &str, e: &dyn std::fmt::Display| PkiError::Corrupt {
            what: what.to_string(),
            reason: e.to_string(),
        };
        let mut chain = Vec::new();
        for pem in [&self.serving.cert_pem, &self.ca_pem] {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                chain.push(cert.map_err(|e| corrupt("the serving certificate", &e))?);
            }
        }
        let key = PrivateKeyDer::from_pem_slice(self.serving.key_pem.as_bytes())
            .map_err(|e| corrupt("the serving key", &e))?;
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.ca_der.clone()))
            .map_err(|e| corrupt("the CA certificate", &e))?;
        let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
            .allow_unauthenticated()
            .build()
            .map_err(|e| corrupt("the client certificate verifier", &e))?;
        let mut config = ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| corrupt("the serving certificate", &e))?;
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}
