//! `<data-dir>/pki/service-account.key`: the key that signs service-account tokens (JWTs),
//! as kube-apiserver's `--service-account-signing-key-file`. ES256 (ECDSA P-256, SHA-256)
//! rather than kube's usual RS256: the CA is P-256 already and `ring`, which signs here,
//! cannot make RSA keys; JWT libraries and client-go's callers accept either.
//!
//! Made on first start (PKCS#8 PEM, 0600) and kept: replacing it invalidates every token
//! handed out, which is what an operator who deletes it wants.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair as _, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde_json::{json, Value};
use sha2::Digest;
use tracing::info;

use super::files::{self, SECRET};
use super::PkiError;

/// The JWS algorithm of every token this key signs.
pub const ALGORITHM: &str = "ES256";

/// The service-account signing key, loaded once: signing and verifying need no file.
pub struct ServiceAccountKey {
    pair: EcdsaKeyPair,
    public: Vec<u8>,
    /// The JWS `kid`: sha256 of the public key, base64url, as kube derives its key ids.
    key_id: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// The stored key under `pki_dir`, or a new one when there is none.
    pub(super) fn load_or_create(pki_dir: &Path) -> Result<ServiceAccountKey, PkiError> {
        let path = pki_dir.join("service-account.key");
        let pem = match files::read_optional(&path)? {
            Some(pem) => {
                files::tighten(&path, SECRET)?;
                pem
            }
            None => {
                let pem = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?.serialize_pem();
                files::write_atomic(&path, pem.as_bytes(), SECRET)?;
                info!(path = %path.display(), algorithm = ALGORITHM, "service account signing key created");
                pem
            }
        };
        let corrupt = |reason: String| PkiError::Corrupt {
            what: path.display().to_string(),
            reason,
        };
        let der = KeyPair::from_pem(&pem)
            .map_err(|e| corrupt(e.to_string()))?
            .serialize_der();
        Self::from_pkcs8(&der).map_err(|e| corrupt(format!("not an ECDSA P-256 key: {e}")))
    }

    /// The key from its PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<ServiceAccountKey, ring::error::KeyRejected> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)?;
        let public = pair.public_key().as_ref().to_vec();
        let key_id = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&public));
        Ok(ServiceAccountKey {
            pair,
            public,
            key_id,
            rng,
        })
    }

    /// A new random key (tests).
    #[cfg(test)]
    pub fn generate() -> ServiceAccountKey {
        let der = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .expect("P-256 key")
            .serialize_der();
        Self::from_pkcs8(&der).expect("a key just made")
    }

    /// `claims` as a compact JWS signed with this key.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": ALGORITHM, "kid": self.key_id});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&self.rng, signing_input.as_bytes())
            .expect("ECDSA signing fails only without randomness");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }

    /// The claims of `token` if this key signed it (header `alg` ES256), else `None`.
    /// Says nothing of expiry, issuer or audience: the caller checks the claims.
    pub fn verify(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header["alg"] != ALGORITHM {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let signing_input = &token[..token.len() - parts_len(token)];
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.public)
            .verify(signing_input.as_bytes(), &signature)
            .ok()?;
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
        claims.is_object().then_some(claims)
    }
}

/// The length of `.signature` at the end of a compact JWS.
fn parts_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_and_a_changed_one_does_not() {
        let key = ServiceAccountKey::generate();
        let token = key.sign(&json!({"sub": "system:serviceaccount:a:b"}));
        assert_eq!(
            key.verify(&token),
            Some(json!({"sub": "system:serviceaccount:a:b"}))
        );
        let (input, _) = token.rsplit_once('.').unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"system:serviceaccount:a:admin"}"#);
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
        assert_eq!(key.verify(&forged), None);
        assert_eq!(key.verify(input), None);
        assert_eq!(key.verify(&format!("{token}.x")), None);
        let other = ServiceAccountKey::generate();
        assert_eq!(other.verify(&token), None);
        let none_alg = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts[1]
        );
        assert_eq!(key.verify(&none_alg), None);
    }

    #[test]
    fn the_key_is_made_once_with_mode_0600_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = ServiceAccountKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join("service-account.key");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let token = first.sign(&json!({"a": 1}));
        let again = ServiceAccountKey::load_or_create(dir.path()).unwrap();
        assert_eq!(again.verify(&token), Some(json!({"a": 1})));
        std::fs::write(&path, "not a key").unwrap();
        assert!(ServiceAccountKey::load_or_create(dir.path()).is_err());
    }
}
