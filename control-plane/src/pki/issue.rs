//! Making certificates: the CA, and leaves signed by it. One place decides lifetimes,
//! key usages and serial numbers, so every certificate skiff issues looks alike.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::pem::parse_x509_pem;

use super::PkiError;

/// Subject CN of the cluster CA.
pub(super) const CA_CN: &str = "skiff-ca";
/// Long enough that nobody meets a CA rotation in a small cluster's lifetime; there is no
/// rotation yet (see the module docs).
const CA_VALIDITY: Duration = Duration::from_secs(3650 * 24 * 60 * 60);
/// Leaves are renewed by the control plane at start, so a year is plenty.
pub(super) const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// A leaf this close to expiry is replaced at the next start.
pub(super) const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Certificates start a little in the past, so a node whose clock lags the control
/// plane's by a few minutes still accepts them.
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// What a leaf certificate may be used for (extended key usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Usage {
    Server,
    Client,
    /// A node's certificate: its agent is a client of the control plane and the server
    /// of the agent API, with one key (RegisterRequest carries one CSR).
    ClientAndServer,
}

/// The CA's parameters. They double as the issuer description when signing, so they
/// must encode the same subject the stored CA certificate has: keep them constant.
pub(super) fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(CA_CN, &[]);
    // Path length 0: the CA signs leaves only, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn distinguished_name(cn: &str, organizations: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for o in organizations {
        dn.push(DnType::OrganizationName, *o);
    }
    dn.push(DnType::CommonName, cn);
    dn
}

/// A positive 128-bit random serial (RFC 5280 allows up to 20 octets); the top bits are
/// fixed so the DER integer is always 16 bytes with no sign padding.
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let now = SystemTime::now();
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + validity).into();
    params.serial_number = Some(random_serial());
}

/// Parses `name` as an IP SAN when it is an address, a DNS SAN otherwise.
pub(super) fn san(name: &str) -> Result<SanType, PkiError> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    // DNS names compare case-insensitively; anything else would only fail later, at a
    // client's handshake, with a less helpful message.
    let bad = || PkiError::ServerName(name.to_string());
    if !skiff_proto::model::is_dns1123_subdomain(&name.to_ascii_lowercase()) {
        return Err(bad());
    }
    Ok(SanType::DnsName(name.try_into().map_err(|_| bad())?))
}

/// A freshly generated CA: (certificate PEM, key).
pub(super) fn new_ca() -> Result<(String, KeyPair), PkiError> {
    let key = KeyPair::generate()?;
    let mut params = ca_params();
    set_validity(&mut params, CA_VALIDITY);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key))
}

/// Parameters of a leaf certificate.
pub(super) struct Leaf<'a> {
    pub cn: &'a str,
    pub organizations: &'a [&'a str],
    pub sans: Vec<SanType>,
    pub usage: Usage,
}

/// Signs `leaf` for `public_key` with the CA key; returns the certificate PEM.
pub(super) fn sign(
    ca_key: &KeyPair,
    leaf: Leaf<'_>,
    public_key: &impl PublicKeyData,
) -> Result<String, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(leaf.cn, leaf.organizations);
    params.subject_alt_names = leaf.sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = match leaf.usage {
        Usage::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
        Usage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        Usage::ClientAndServer => vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ],
    };
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, LEAF_VALIDITY);
    let issuer = Issuer::new(ca_params(), ca_key);
    Ok(params.signed_by(public_key, &issuer)?.pem())
}

/// A new key and a certificate for it: (certificate PEM, key PEM).
pub(super) fn issue(ca_key: &KeyPair, leaf: Leaf<'_>) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    let cert = sign(ca_key, leaf, &key)?;
    Ok((cert, key.serialize_pem()))
}

/// What the control plane checks of a stored certificate before reusing it.
#[derive(Debug)]
pub(super) struct Inspected {
    pub der: Vec<u8>,
    /// The subject as text (`CN=skiff-ca`).
    pub subject: String,
    /// Seconds since the epoch.
    pub not_after: i64,
    /// SANs as text (IPs in their usual notation), sorted.
    pub sans: BTreeSet<String>,
    /// The raw subject public key (the BIT STRING's contents).
    pub public_key: Vec<u8>,
    /// Subject key identifier (a CA has one).
    pub key_id: Option<Vec<u8>>,
    /// Authority key identifier: the `key_id` of the CA that signed it.
    pub authority_key_id: Option<Vec<u8>>,
}

impl Inspected {
    /// True when the certificate expires within `window` from now.
    pub fn expires_within(&self, window: Duration) -> bool {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        self.not_after < (now + window).as_secs() as i64
    }

    /// True when `key` is this certificate's private key.
    pub fn matches_key(&self, key: &KeyPair) -> bool {
        key.public_key_raw() == self.public_key.as_slice()
    }
}

/// Parses a PEM certificate; `what` names it in the error.
pub(super) fn inspect(pem: &str, what: &str) -> Result<Inspected, PkiError> {
    let bad = |reason: String| PkiError::Corrupt {
        what: what.to_string(),
        reason,
    };
    let (_, pem) = parse_x509_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let cert = pem.parse_x509().map_err(|e| bad(e.to_string()))?;
    let sans = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .filter_map(san_text)
            .collect(),
        Ok(None) => BTreeSet::new(),
        Err(e) => return Err(bad(e.to_string())),
    };
    let (mut key_id, mut authority_key_id) = (None, None);
    for ext in cert.iter_extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => key_id = Some(id.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                authority_key_id = aki.key_identifier.as_ref().map(|id| id.0.to_vec())
            }
            _ => {}
        }
    }
    Ok(Inspected {
        der: pem.contents.clone(),
        subject: cert.subject().to_string(),
        key_id,
        authority_key_id,
        not_after: cert.validity().not_after.timestamp(),
        sans,
        public_key: cert.public_key().subject_public_key.data.to_vec(),
    })
}

fn san_text(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(dns) => Some(dns.to_string()),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => Some(IpAddr::from(<[u8; 4]>::try_from(*bytes).ok()?).to_string()),
            16 => Some(IpAddr::from(<[u8; 16]>::try_from(*bytes).ok()?).to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// The text form of a SAN, as [`inspect`] reports it (to compare desired and stored).
pub(super) fn san_key(san: &SanType) -> String {
    match san {
        SanType::IpAddress(ip) => ip.to_string(),
        SanType::DnsName(dns) => dns.as_str().to_string(),
        other => format!("{other:?}"),
    }
}
