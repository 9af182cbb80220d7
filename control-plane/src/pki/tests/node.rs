//! Node certificates from CSRs.

use std::net::IpAddr;

use skiff_proto::auth::Caller;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::*;

use super::super::issue::inspect;
use super::super::PkiError;
use super::{der_of, load, node_csr};

const IP: &str = "10.0.0.7";

#[test]
fn a_csr_becomes_a_node_certificate_for_both_roles() {
    let dir = tempfile::tempdir().unwrap();
    let pki = load(dir.path());
    let (key, csr) = node_csr(None);
    let ip: IpAddr = IP.parse().unwrap();
    let pem = pki.sign_node_csr(&csr, "n1", &[ip]).unwrap();

    let der = der_of(&pem);
    assert_eq!(Caller::from_certificate(&der), Caller::Node("n1".into()));
    let cert = inspect(&pem, "node").unwrap();
    assert!(cert.matches_key(&key), "issued for the CSR's key");
    let ca = inspect(pki.ca_pem(), "ca").unwrap();
    assert_eq!(cert.authority_key_id, ca.key_id);
    assert_eq!(
        cert.sans.iter().map(String::as_str).collect::<Vec<_>>(),
        [IP, "n1"]
    );
    let (_, parsed) = X509Certificate::from_der(&der).unwrap();
    let lifetime =
        parsed.validity().not_after.timestamp() - parsed.validity().not_before.timestamp();
    assert!(
        (365 * 86400..=366 * 86400).contains(&lifetime),
        "{lifetime}"
    );
    let eku = parsed
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::ExtendedKeyUsage(eku) => Some((eku.client_auth, eku.server_auth)),
            _ => None,
        })
        .unwrap();
    assert_eq!(eku, (true, true));
    assert!(!parsed.is_ca());
}

#[test]
fn the_csr_may_name_the_node_but_not_another_one() {
    let dir = tempfile::tempdir().unwrap();
    let pki = load(dir.path());
    let (_, own) = node_csr(Some("system:node:n1"));
    assert!(pki.sign_node_csr(&own, "n1", &[]).is_ok());
    let (_, other) = node_csr(Some("system:node:n2"));
    let err = pki.sign_node_csr(&other, "n1", &[]).unwrap_err();
    assert!(err.to_string().contains("system:node:n2"), "{err}");
    let (_, admin) = node_csr(Some("admin"));
    assert!(pki.sign_node_csr(&admin, "n1", &[]).is_err());
}

#[test]
fn garbage_and_bad_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = load(dir.path());
    let (_, csr) = node_csr(None);
    for bad_name in ["", "N1", "n1,O=system:masters", "a_b", &"x".repeat(254)] {
        let err = pki.sign_node_csr(&csr, bad_name, &[]).unwrap_err();
        assert!(matches!(err, PkiError::Csr(_)), "{bad_name:?}: {err}");
    }
    for garbage in ["", "not pem", pki.ca_pem()] {
        let err = pki.sign_node_csr(garbage, "n1", &[]).unwrap_err();
        assert!(matches!(err, PkiError::Csr(_)), "{garbage:?}: {err}");
    }
    // A truncated CSR body.
    let cut = csr.replacen("\n", "\nAAAA", 1);
    assert!(pki.sign_node_csr(&cut, "n1", &[]).is_err());
}

#[test]
fn a_csr_whose_signature_does_not_verify_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = load(dir.path());
    let (_, csr) = node_csr(None);
    // The last base64 line lies inside the signature: change one character of it.
    let mut lines: Vec<String> = csr.lines().map(str::to_string).collect();
    let last = lines.len() - 2;
    let mid = lines[last].len() / 2;
    let old = lines[last].as_bytes()[mid];
    let new = if old == b'A' { "B" } else { "A" };
    lines[last].replace_range(mid..=mid, new);
    let tampered = lines.join("\n");
    let err = pki.sign_node_csr(&tampered, "n1", &[]).unwrap_err();
    assert!(
        err.to_string().contains("signature does not verify"),
        "{err}"
    );
    assert!(pki.sign_node_csr(&csr, "n1", &[]).is_ok());
}
