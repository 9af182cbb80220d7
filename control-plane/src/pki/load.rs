//! [`Pki::load_or_create`]: reuse what `<data-dir>` holds, make what is missing or stale.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rand::RngCore;
use rcgen::{KeyPair, SanType};
use sha2::Digest;
use skiff_proto::auth::{AdminConfig, NodeToken, ADMIN_CN, ADMIN_GROUP, CONTROL_PLANE_CN};
use tracing::{info, warn};

use super::files::{self, DIR, PUBLIC, SECRET};
use super::issue::{self, Inspected, Leaf, Usage, CA_CN, RENEW_BEFORE};
use super::{admin_conf_path, node_token_path, KeyedCert, Pki, PkiError};

/// CN of the API serving certificate. Not `skiff-control-plane`: that names the control
/// plane as a client of agents.
const SERVING_CN: &str = "skiff-apiserver";
/// A CA this close to expiry is worth a warning at every start (there is no rotation).
const CA_WARN_BEFORE: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The CA as loaded: its certificate, parsed, and its key.
struct Ca {
    pem: String,
    key: KeyPair,
    cert: Inspected,
}

impl Pki {
    /// Loads the PKI from `data_dir`, creating what is missing (see the module docs).
    ///
    /// `server_names` are extra DNS names and IPs for the serving certificate (the listen
    /// IP, the node IPs agents dial); `localhost`, `127.0.0.1` and the hostname are always
    /// in it. `api_url` (`https://HOST:PORT`) goes into `admin.conf` as the server the
    /// CLI talks to; its host must be one of the serving certificate's names.
    pub fn load_or_create(
        data_dir: &Path,
        server_names: &[String],
        api_url: &str,
    ) -> Result<Pki, PkiError> {
        if !api_url.starts_with("https://") {
            return Err(PkiError::ServerUrl(api_url.to_string()));
        }
        std::fs::create_dir_all(data_dir).map_err(|source| PkiError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let pki_dir = data_dir.join("pki");
        files::ensure_dir(&pki_dir, DIR)?;

        let ca = load_or_create_ca(&pki_dir)?;
        let leaf = |name: &str, spec: Leaf<'_>| load_or_issue(&pki_dir, name, &ca, spec);
        let serving = leaf(
            "server",
            Leaf {
                cn: SERVING_CN,
                organizations: &[],
                sans: serving_sans(server_names)?,
                usage: Usage::Server,
            },
        )?;
        let admin = leaf(
            "admin",
            Leaf {
                cn: ADMIN_CN,
                organizations: &[ADMIN_GROUP],
                sans: Vec::new(),
                usage: Usage::Client,
            },
        )?;
        let control_plane = leaf(
            "control-plane",
            Leaf {
                cn: CONTROL_PLANE_CN,
                organizations: &[],
                sans: Vec::new(),
                usage: Usage::Client,
            },
        )?;
        let token = load_or_create_token(data_dir, &ca.cert.der)?;
        let server_token = super::server_token::load_or_create(data_dir, &ca.cert.der)?;
        let admin_token = super::admin_token::load_or_create(data_dir)?;
        let service_account = super::service_account::ServiceAccountKey::load_or_create(&pki_dir)?;

        let admin_config = AdminConfig {
            server: api_url.to_string(),
            ca: ca.pem.clone(),
            cert: admin.cert_pem,
            key: admin.key_pem,
        };
        let admin_conf = admin_conf_path(data_dir);
        if files::write_if_changed(&admin_conf, &admin_config.to_yaml(), SECRET)? {
            info!(path = %admin_conf.display(), server = api_url, "admin.conf written");
        }
        Ok(Pki {
            data_dir: data_dir.to_path_buf(),
            ca_der: ca.cert.der,
            ca_pem: ca.pem,
            ca_key: ca.key,
            serving,
            control_plane,
            admin_config,
            admin_token,
            token,
            server_token,
            service_account,
        })
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> PkiError {
    PkiError::Corrupt {
        what: path.display().to_string(),
        reason: reason.into(),
    }
}

/// The stored CA, or a new one when there is none. `ca.crt` is written last, so its
/// presence means the CA was completely made; after that it is never replaced.
fn load_or_create_ca(dir: &Path) -> Result<Ca, PkiError> {
    let (cert_path, key_path) = (dir.join("ca.crt"), dir.join("ca.key"));
    let Some(pem) = files::read_optional(&cert_path)? else {
        let (pem, key) = issue::new_ca()?;
        files::write_atomic(&key_path, key.serialize_pem().as_bytes(), SECRET)?;
        files::write_atomic(&cert_path, pem.as_bytes(), PUBLIC)?;
        let cert = issue::inspect(&pem, "the new CA")?;
        info!(path = %cert_path.display(), sha256 = %hex::encode(sha2::Sha256::digest(&cert.der)), "cluster CA created");
        return Ok(Ca { pem, key, cert });
    };
    let never_regenerated =
        "the CA is never regenerated because agents pinned it; restore it from a backup";
    let key_pem = files::read_optional(&key_path)?.ok_or_else(|| {
        corrupt(
            &key_path,
            format!("missing next to ca.crt: {never_regenerated}"),
        )
    })?;
    let key = KeyPair::from_pem(&key_pem).map_err(|e| corrupt(&key_path, e.to_string()))?;
    let cert = issue::inspect(&pem, &cert_path.display().to_string())?;
    if !cert.matches_key(&key) {
        return Err(corrupt(
            &key_path,
            format!("it is not ca.crt's key: {never_regenerated}"),
        ));
    }
    if cert.subject != format!("CN={CA_CN}") || cert.key_id.is_none() {
        return Err(corrupt(
            &cert_path,
            format!("not a skiff CA (subject {:?})", cert.subject),
        ));
    }
    if cert.expires_within(CA_WARN_BEFORE) {
        warn!(path = %cert_path.display(), not_after = cert.not_after, "cluster CA expires within a year and skiff can't rotate it yet");
    }
    files::tighten(&key_path, SECRET)?;
    Ok(Ca { pem, key, cert })
}

/// Why a stored leaf can't be reused, or `None` when it can.
fn stale(cert_pem: &str, key_pem: &str, ca: &Ca, spec: &Leaf<'_>) -> Option<String> {
    let Ok(key) = KeyPair::from_pem(key_pem) else {
        return Some("key unreadable".into());
    };
    let cert = match issue::inspect(cert_pem, "") {
        Ok(cert) => cert,
        Err(e) => return Some(e.to_string()),
    };
    let wanted: std::collections::BTreeSet<String> = spec.sans.iter().map(issue::san_key).collect();
    if !cert.matches_key(&key) {
        Some("certificate and key do not match".into())
    } else if cert.authority_key_id.is_none() || cert.authority_key_id != ca.cert.key_id {
        Some("signed by another CA".into())
    } else if cert.expires_within(RENEW_BEFORE) {
        Some("expires within 30 days".into())
    } else if cert.sans != wanted {
        Some(format!("names changed from {:?} to {wanted:?}", cert.sans))
    } else {
        None
    }
}

/// `<dir>/<name>.crt` and `.key` if still good, else a new pair signed by `ca`.
fn load_or_issue(dir: &Path, name: &str, ca: &Ca, spec: Leaf<'_>) -> Result<KeyedCert, PkiError> {
    let (cert_path, key_path) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let stored = (
        files::read_optional(&cert_path)?,
        files::read_optional(&key_path)?,
    );
    if let (Some(cert_pem), Some(key_pem)) = stored {
        match stale(&cert_pem, &key_pem, ca, &spec) {
            None => {
                files::tighten(&key_path, SECRET)?;
                return Ok(KeyedCert { cert_pem, key_pem });
            }
            Some(reason) => info!(certificate = name, reason, "reissuing certificate"),
        }
    }
    let (cert_pem, key_pem) = issue::issue(&ca.key, spec)?;
    // Key first: a crash in between leaves a pair that does not match, which the next
    // start reissues.
    files::write_atomic(&key_path, key_pem.as_bytes(), SECRET)?;
    files::write_atomic(&cert_path, cert_pem.as_bytes(), PUBLIC)?;
    info!(certificate = name, path = %cert_path.display(), "certificate issued");
    Ok(KeyedCert { cert_pem, key_pem })
}

/// `localhost`, `127.0.0.1`, the hostname and `extra`, deduplicated in a stable order.
/// A hostname that is no DNS name (`My_Laptop`) is left out with a warning rather than
/// stopping the control plane; a bad name from the caller is an error.
fn serving_sans(extra: &[String]) -> Result<Vec<SanType>, PkiError> {
    let mut sans = BTreeMap::new();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    match issue::san(hostname.trim()) {
        Ok(san) => {
            sans.insert(issue::san_key(&san), san);
        }
        Err(e) => warn!(error = %e, "hostname left out of the serving certificate"),
    }
    let names = ["localhost", "127.0.0.1"]
        .into_iter()
        .chain(extra.iter().map(|s| s.trim()));
    for name in names {
        let san = issue::san(name)?;
        sans.insert(issue::san_key(&san), san);
    }
    Ok(sans.into_values().collect())
}

/// The stored node token if it pins this CA, else a new one with a fresh 32-byte secret.
fn load_or_create_token(data_dir: &Path, ca_der: &[u8]) -> Result<NodeToken, PkiError> {
    let path = node_token_path(data_dir);
    if let Some(text) = files::read_optional(&path)? {
        match NodeToken::parse(&text) {
            Ok(token) if token.pins(ca_der) => {
                files::tighten(&path, SECRET)?;
                return Ok(token);
            }
            Ok(_) => warn!(path = %path.display(), "node token pins another CA, making a new one"),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "node token unreadable, making a new one")
            }
        }
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = NodeToken::new(ca_der, hex::encode(secret));
    files::write_atomic(&path, format!("{token}\n").as_bytes(), SECRET)?;
    info!(path = %path.display(), "node token created");
    Ok(token)
}
