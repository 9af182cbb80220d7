//! Tests of the PKI: files and reuse, the token, node certificates, and real TLS servers
//! that check callers the way the control plane and the agent will.

mod admin_access;
mod join;
mod load;
mod node;
mod tls;
mod user;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rcgen::{CertificateParams, KeyPair};

use super::Pki;

const API_URL: &str = "https://127.0.0.1:6443";

fn load(dir: &Path) -> Pki {
    Pki::load_or_create(dir, &[], API_URL).expect("load_or_create")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// A node's key and a CSR for it, as an agent would make them.
fn node_csr(cn: Option<&str>) -> (KeyPair, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(cn) = cn {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
    }
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    (key, csr)
}

/// The first certificate in `pem`, DER.
fn der_of(pem: &str) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .unwrap()
        .1
        .contents
}
