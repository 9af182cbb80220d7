//! How an agent that has only the server URL and the node token comes to trust the
//! cluster CA, as k3s does: take the CA from an unverified connection and keep it only if
//! its sha256 is the one in the token.
//!
//! The control plane presents `[serving certificate, CA]` in its handshake, so the CA can
//! be read off the handshake itself, with no extra endpoint. Nothing else from that
//! connection is trusted, and nothing is sent over it: the agent then opens a proper
//! connection that verifies the server against the pinned CA.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::Uri;

use super::config::tls_server_name;
use super::{AuthError, NodeToken};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts any certificate chain. Only for reading the chain: the CA is then checked
/// against the token's hash, and no request travels on this connection.
#[derive(Debug)]
struct ReadChainOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for ReadChainOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The CA certificate (PEM) of the control plane at `server_url`, accepted only when
/// its sha256 is the hash in `token` (`K10<hash>::node:<secret>`). A server that
/// presents no such certificate (another cluster, or someone in the middle) is an error.
pub async fn fetch_ca_pinned(server_url: &str, token: &str) -> Result<String, AuthError> {
    super::install_crypto_provider();
    let token = NodeToken::parse(token)?;
    fetch_ca_pinned_by(server_url, &token).await
}

/// [`fetch_ca_pinned`] with a parsed token (a server token's parts too).
pub async fn fetch_ca_pinned_by(server_url: &str, token: &NodeToken) -> Result<String, AuthError> {
    super::install_crypto_provider();
    let chain = presented_chain(server_url).await?;
    let ca = chain
        .iter()
        .find(|der| token.pins(der))
        .ok_or_else(|| AuthError::CaNotPinned {
            server: server_url.to_string(),
            presented: chain.len(),
        })?;
    Ok(pem_certificate(ca))
}

/// The certificates the server presents in a TLS handshake, leaf first.
async fn presented_chain(server_url: &str) -> Result<Vec<Vec<u8>>, AuthError> {
    let failed = |reason: String| AuthError::Bootstrap {
        server: server_url.to_string(),
        reason,
    };
    let host = tls_server_name(server_url)?;
    let port = server_url
        .parse::<Uri>()
        .ok()
        .and_then(|uri| uri.port_u16())
        .unwrap_or(443);
    let name = ServerName::try_from(host.clone()).map_err(|e| failed(e.to_string()))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ReadChainOnly(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];

    let handshake = async {
        let tcp = TcpStream::connect((host.as_str(), port)).await?;
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    };
    let mut tls = tokio::time::timeout(TIMEOUT, handshake)
        .await
        .map_err(|_| failed(format!("no TLS handshake within {TIMEOUT:?}")))?
        .map_err(|e| failed(e.to_string()))?;
    let chain = tls
        .get_ref()
        .1
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|der| der.to_vec())
        .collect();
    let _ = tls.shutdown().await;
    Ok(chain)
}

/// DER to PEM (`-----BEGIN CERTIFICATE-----`, base64 in 64-column lines).
fn pem_certificate(der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut base64 = String::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                base64.push(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize] as char);
            } else {
                base64.push('=');
            }
        }
    }
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in base64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_encoding_matches_rfc4648_vectors() {
        let body = |der: &[u8]| {
            let pem = pem_certificate(der);
            pem.lines().nth(1).unwrap_or_default().to_string()
        };
        assert_eq!(body(b"f"), "Zg==");
        assert_eq!(body(b"fo"), "Zm8=");
        assert_eq!(body(b"foo"), "Zm9v");
        assert_eq!(body(b"foobar"), "Zm9vYmFy");
        let long = pem_certificate(&[0u8; 100]);
        assert!(long.lines().all(|l| l.len() <= 64));
        assert!(long.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(long.ends_with("-----END CERTIFICATE-----\n"));
    }
}
