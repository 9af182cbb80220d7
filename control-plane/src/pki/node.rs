//! Certificates for nodes, from the CSR an agent sends with `Register`.
//!
//! One CSR, one certificate for both of the agent's roles: CN `system:node:<name>`, O
//! `system:nodes`, extended key usage clientAuth (calls to the control plane) and
//! serverAuth (the agent API on the node IP, which the control plane calls and checks
//! against the node's IP SANs). `RegisterRequest` carries a single CSR, and one key per
//! node is one key to keep safe. The control plane, not the CSR, decides the subject and
//! the SANs; a CSR that asks for another node's name is refused.

use std::net::IpAddr;

use rcgen::{PublicKeyData, SanType, SignatureAlgorithm};
use skiff_proto::auth::{NODES_GROUP, NODE_CN_PREFIX};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::FromDer;

use super::issue::{self, Leaf, Usage};
use super::{Pki, PkiError};

/// The public key of a CSR, in the form rcgen signs for.
struct RequestedKey {
    raw: Vec<u8>,
    algorithm: &'static SignatureAlgorithm,
}

impl PublicKeyData for RequestedKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";
const ED25519: &str = "1.3.101.112";

fn refuse(reason: impl Into<String>) -> PkiError {
    PkiError::Csr(reason.into())
}

/// Parses a PEM CSR, checks its subject and key type, and returns its key.
fn requested_key(csr_pem: &str, node_name: &str) -> Result<RequestedKey, PkiError> {
    let (_, pem) = parse_x509_pem(csr_pem.as_bytes()).map_err(|e| refuse(e.to_string()))?;
    if pem.label != "CERTIFICATE REQUEST" {
        return Err(refuse(format!(
            "PEM block is {:?}, not a CERTIFICATE REQUEST",
            pem.label
        )));
    }
    let (_, csr) =
        X509CertificationRequest::from_der(&pem.contents).map_err(|e| refuse(e.to_string()))?;
    // Proof that the requester holds the key it wants certified.
    csr.verify_signature()
        .map_err(|e| refuse(format!("its signature does not verify: {e}")))?;

    let info = &csr.certification_request_info;
    let wanted_cn = format!("{NODE_CN_PREFIX}{node_name}");
    for cn in info.subject.iter_common_name() {
        let cn = cn.as_str().map_err(|e| refuse(e.to_string()))?;
        if cn != wanted_cn {
            return Err(refuse(format!(
                "it asks for {cn:?}, the node registers as {wanted_cn:?}"
            )));
        }
    }

    let spki = &info.subject_pki;
    let key_oid = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|oid| oid.to_id_string());
    let algorithm = match (key_oid.as_str(), curve.as_deref()) {
        (EC_PUBLIC_KEY, Some(P256)) => &rcgen::PKCS_ECDSA_P256_SHA256,
        (EC_PUBLIC_KEY, Some(P384)) => &rcgen::PKCS_ECDSA_P384_SHA384,
        (ED25519, _) => &rcgen::PKCS_ED25519,
        (key, curve) => {
            return Err(refuse(format!(
                "key type {key} (parameters {curve:?}) not supported: use ECDSA P-256, P-384 or Ed25519"
            )))
        }
    };
    Ok(RequestedKey {
        raw: spki.subject_public_key.data.to_vec(),
        algorithm,
    })
}

impl Pki {
    /// Issues the certificate of node `node_name` for the key in `csr_pem` (PEM), valid
    /// for a year, with `node_ips` (and the node name, when it is a DNS name) as SANs for
    /// the agent API. See the module docs for why one certificate serves both roles.
    pub fn sign_node_csr(
        &self,
        csr_pem: &str,
        node_name: &str,
        node_ips: &[IpAddr],
    ) -> Result<String, PkiError> {
        if !skiff_proto::model::is_dns1123_subdomain(node_name) {
            return Err(refuse(format!(
                "node name {node_name:?} is not a DNS-1123 subdomain"
            )));
        }
        let key = requested_key(csr_pem, node_name)?;
        let mut sans: Vec<SanType> = node_ips.iter().copied().map(SanType::IpAddress).collect();
        sans.push(issue::san(node_name)?);
        let cn = format!("{NODE_CN_PREFIX}{node_name}");
        let leaf = Leaf {
            cn: &cn,
            organizations: &[NODES_GROUP],
            sans,
            usage: Usage::ClientAndServer,
        };
        let cert = issue::sign(&self.ca_key, leaf, &key)?;
        tracing::info!(node = node_name, ips = ?node_ips, "node certificate issued");
        Ok(cert)
    }
}
