//! First start, later starts, and what makes a start reissue or refuse.

use std::fs;

use skiff_proto::auth::{AdminConfig, Caller};

use super::super::issue::{self, inspect};
use super::super::{admin_conf_path, node_token_path, Pki, PkiError};
use super::{der_of, load, mode, read, API_URL};

const KEYS: [&str; 4] = ["ca.key", "server.key", "admin.key", "control-plane.key"];
const CERTS: [&str; 4] = ["ca.crt", "server.crt", "admin.crt", "control-plane.crt"];

#[test]
fn first_start_makes_everything_with_private_modes_and_later_starts_reuse_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = load(dir.path());
    let pki_dir = dir.path().join("pki");
    assert_eq!(mode(&pki_dir), 0o700);
    for key in KEYS {
        assert_eq!(mode(&pki_dir.join(key)), 0o600, "{key}");
    }
    for cert in CERTS {
        assert_eq!(mode(&pki_dir.join(cert)), 0o644, "{cert}");
    }
    assert_eq!(mode(&admin_conf_path(dir.path())), 0o600);
    assert_eq!(mode(&node_token_path(dir.path())), 0o600);
    let leftovers: Vec<_> = fs::read_dir(&pki_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let before: Vec<String> = KEYS
        .iter()
        .chain(&CERTS)
        .map(|f| read(&pki_dir.join(f)))
        .collect();
    let admin_conf = read(&admin_conf_path(dir.path()));
    let second = load(dir.path());
    let after: Vec<String> = KEYS
        .iter()
        .chain(&CERTS)
        .map(|f| read(&pki_dir.join(f)))
        .collect();
    assert_eq!(before, after, "a second start must not regenerate anything");
    assert_eq!(read(&admin_conf_path(dir.path())), admin_conf);
    assert_eq!(first.ca_pem(), second.ca_pem());
    assert_eq!(first.node_token(), second.node_token());
    assert_eq!(
        read(&node_token_path(dir.path())).trim(),
        second.node_token()
    );
}

#[test]
fn admin_conf_holds_the_ca_and_an_admin_identity() {
    let dir = tempfile::tempdir().unwrap();
    let pki = load(dir.path());
    let config = AdminConfig::load(&admin_conf_path(dir.path())).unwrap();
    assert_eq!(&config, pki.admin_config());
    assert_eq!(config.server, API_URL);
    assert_eq!(config.ca, pki.ca_pem());
    assert_eq!(
        Caller::from_certificate(&der_of(&config.cert)),
        Caller::Admin
    );
    let key = rcgen::KeyPair::from_pem(&config.key).unwrap();
    assert!(inspect(&config.cert, "admin").unwrap().matches_key(&key));

    // A new URL rewrites admin.conf and nothing else.
    let ca = pki.ca_pem().to_string();
    let moved = Pki::load_or_create(dir.path(), &[], "https://10.0.0.1:6443").unwrap();
    assert_eq!(moved.ca_pem(), ca);
    assert_eq!(moved.admin_config().cert, config.cert);
    let reread = AdminConfig::load(&admin_conf_path(dir.path())).unwrap();
    assert_eq!(reread.server, "https://10.0.0.1:6443");
}

#[test]
fn serving_certificate_names_follow_the_caller_and_the_ca_stays() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["10.0.0.5".to_string(), "cp.example".to_string()];
    let pki = Pki::load_or_create(dir.path(), &names, API_URL).unwrap();
    let server_crt = dir.path().join("pki/server.crt");
    let sans = inspect(&read(&server_crt), "server").unwrap().sans;
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for want in [
        "localhost",
        "127.0.0.1",
        "10.0.0.5",
        "cp.example",
        hostname.trim(),
    ] {
        assert!(sans.contains(want), "{want} missing from {sans:?}");
    }
    assert_eq!(
        Caller::from_certificate(&der_of(&read(&server_crt))),
        Caller::User {
            name: "skiff-apiserver".into(),
            groups: vec![]
        },
        "the serving certificate is nobody's client identity"
    );

    let before = read(&server_crt);
    Pki::load_or_create(dir.path(), &names, API_URL).unwrap();
    assert_eq!(read(&server_crt), before, "same names: reused");

    let moved = Pki::load_or_create(dir.path(), &["10.0.0.6".to_string()], API_URL).unwrap();
    let sans = inspect(&read(&server_crt), "server").unwrap().sans;
    assert!(
        sans.contains("10.0.0.6") && !sans.contains("10.0.0.5"),
        "{sans:?}"
    );
    assert_eq!(moved.ca_pem(), pki.ca_pem());
    assert_eq!(moved.node_token(), pki.node_token());
}

#[test]
fn stale_leaves_are_reissued() {
    let dir = tempfile::tempdir().unwrap();
    let pki = load(dir.path());
    let pki_dir = dir.path().join("pki");

    // Expiring in 10 days, signed by the right CA: reissued for another year.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.use_authority_key_identifier_extension = true;
    params.not_after = (std::time::SystemTime::now() + issue::RENEW_BEFORE / 3).into();
    let issuer = rcgen::Issuer::new(issue::ca_params(), &pki.ca_key);
    let short = params.signed_by(&key, &issuer).unwrap();
    fs::write(pki_dir.join("admin.crt"), short.pem()).unwrap();
    fs::write(pki_dir.join("admin.key"), key.serialize_pem()).unwrap();

    // Certificate and key that don't belong together.
    fs::copy(pki_dir.join("admin.key"), pki_dir.join("control-plane.key")).unwrap();
    // Signed by another cluster's CA.
    let other = tempfile::tempdir().unwrap();
    load(other.path());
    for f in ["server.crt", "server.key"] {
        fs::copy(other.path().join("pki").join(f), pki_dir.join(f)).unwrap();
    }

    load(dir.path());
    for name in ["admin", "control-plane", "server"] {
        let cert = inspect(&read(&pki_dir.join(format!("{name}.crt"))), name).unwrap();
        let key = rcgen::KeyPair::from_pem(&read(&pki_dir.join(format!("{name}.key")))).unwrap();
        assert!(cert.matches_key(&key), "{name}");
        assert!(!cert.expires_within(issue::RENEW_BEFORE * 10), "{name}");
        assert_eq!(
            cert.authority_key_id.as_deref(),
            Some(&*inspect(pki.ca_pem(), "ca").unwrap().key_id.unwrap()),
            "{name}"
        );
    }
    let config = AdminConfig::load(&admin_conf_path(dir.path())).unwrap();
    assert_eq!(
        config.cert,
        read(&pki_dir.join("admin.crt")),
        "admin.conf follows"
    );
}

#[test]
fn a_lost_ca_key_is_an_error_never_a_new_ca() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path());
    let ca_crt = dir.path().join("pki/ca.crt");
    let before = read(&ca_crt);
    fs::remove_file(dir.path().join("pki/ca.key")).unwrap();
    let err = Pki::load_or_create(dir.path(), &[], API_URL).unwrap_err();
    assert!(matches!(err, PkiError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("never regenerated"), "{err}");
    assert_eq!(read(&ca_crt), before);

    // Another CA's key next to this certificate is refused as well.
    let other = tempfile::tempdir().unwrap();
    load(other.path());
    fs::copy(
        other.path().join("pki/ca.key"),
        dir.path().join("pki/ca.key"),
    )
    .unwrap();
    assert!(Pki::load_or_create(dir.path(), &[], API_URL).is_err());
}

#[test]
fn loose_permissions_are_tightened_and_bad_urls_refused() {
    use std::os::unix::fs::PermissionsExt;
    const FILES: [&str; 5] = [
        "pki/ca.key",
        "pki/admin.key",
        "admin.conf",
        "admin-token",
        "node-token",
    ];
    let dir = tempfile::tempdir().unwrap();
    load(dir.path());
    for f in FILES {
        fs::set_permissions(dir.path().join(f), fs::Permissions::from_mode(0o644)).unwrap();
    }
    load(dir.path());
    for f in FILES {
        assert_eq!(mode(&dir.path().join(f)), 0o600, "{f}");
    }
    let err = Pki::load_or_create(dir.path(), &[], "http://127.0.0.1:6443").unwrap_err();
    assert!(matches!(err, PkiError::ServerUrl(_)), "{err}");
    let err = Pki::load_or_create(dir.path(), &["bad name!".into()], API_URL).unwrap_err();
    assert!(matches!(err, PkiError::ServerName(_)), "{err}");
}

#[test]
fn node_token_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let pki = load(dir.path());
    let token = pki.node_token();
    let (hash, secret) = token
        .strip_prefix("K10")
        .and_then(|t| t.split_once("::node:"))
        .expect("K10<hash>::node:<secret>");
    use sha2::Digest;
    assert_eq!(hash, hex::encode(sha2::Sha256::digest(pki.ca_der())));
    assert_eq!(secret.len(), 64);
    assert!(pki.verify_token(&token));
    assert!(
        pki.verify_token(&format!("{token}\n")),
        "a token file's newline is fine"
    );

    let mut wrong_secret = token.clone();
    wrong_secret.replace_range(
        token.len() - 1..,
        if token.ends_with('0') { "1" } else { "0" },
    );
    assert!(!pki.verify_token(&wrong_secret));
    let other = tempfile::tempdir().unwrap();
    let other_hash = load(other.path()).node_token()[3..67].to_string();
    assert!(
        !pki.verify_token(&token.replace(hash, &other_hash)),
        "another CA's hash"
    );
    assert!(!pki.verify_token(secret), "a bare secret can't pin the CA");
    assert!(!pki.verify_token(""));
    assert!(!pki.verify_token(&format!("{token}x")));

    // A token file for another CA is replaced.
    fs::write(node_token_path(dir.path()), load(other.path()).node_token()).unwrap();
    let again = load(dir.path());
    assert!(again.verify_token(&again.node_token()));
    assert!(again.node_token().starts_with(&format!("K10{hash}::node:")));
}
