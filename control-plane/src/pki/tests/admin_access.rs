//! admin.conf as a kubeconfig (also rewritten from the old flat form) and the admin's
//! bearer token.

use std::fs;

use skiff_proto::auth::AdminConfig;

use super::super::{admin_conf_path, admin_token_path};
use super::{load, mode, read, API_URL};

#[test]
fn admin_conf_is_a_kubeconfig_naming_skiff() {
    let dir = tempfile::tempdir().unwrap();
    let pki = load(dir.path());
    let text = read(&admin_conf_path(dir.path()));
    for line in [
        "apiVersion: v1",
        "kind: Config",
        "current-context: skiff",
        &format!("server: {API_URL}"),
        "certificate-authority-data: ",
        "client-certificate-data: ",
        "client-key-data: ",
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim_start_matches("- ").trim().starts_with(line)),
            "{line:?} in {text}"
        );
    }
    assert_eq!(
        &AdminConfig::load(&admin_conf_path(dir.path())).unwrap(),
        pki.admin_config()
    );
}

#[test]
fn an_old_flat_admin_conf_is_rewritten_as_a_kubeconfig_with_the_same_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let first = load(dir.path());
    let old = first.admin_config();
    let flat = format!(
        "server: {}\nca: {:?}\ncert: {:?}\nkey: {:?}\n",
        old.server, old.ca, old.cert, old.key
    );
    fs::write(admin_conf_path(dir.path()), &flat).unwrap();
    assert_eq!(
        &AdminConfig::load(&admin_conf_path(dir.path())).unwrap(),
        old
    );

    let second = load(dir.path());
    let text = read(&admin_conf_path(dir.path()));
    assert!(text.contains("kind: Config"), "{text}");
    assert_eq!(mode(&admin_conf_path(dir.path())), 0o600);
    let reread = AdminConfig::load(&admin_conf_path(dir.path())).unwrap();
    assert_eq!(&reread, old, "same CA, certificate and key");
    assert_eq!(second.admin_config(), old);
}

#[test]
fn admin_token_is_made_once_private_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let pki = load(dir.path());
    let path = admin_token_path(dir.path());
    assert_eq!(mode(&path), 0o600);
    let token = read(&path).trim().to_string();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    assert!(pki.admin_token_matches(&token));
    for wrong in ["", &token[..63], &format!("{token}0"), &"0".repeat(64)] {
        assert!(!pki.admin_token_matches(wrong), "{wrong:?} matched");
    }
    assert!(!pki.admin_token_matches(&pki.node_token()));

    let again = load(dir.path());
    assert_eq!(read(&path).trim(), token, "a restart keeps the token");
    assert!(again.admin_token_matches(&token));
}

#[test]
fn an_unusable_admin_token_is_replaced_and_an_operators_own_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path());
    let path = admin_token_path(dir.path());
    fs::write(&path, "\n").unwrap();
    let pki = load(dir.path());
    let made = read(&path).trim().to_string();
    assert_eq!(made.len(), 64);
    assert!(pki.admin_token_matches(&made));

    fs::write(&path, "my-own.token\n").unwrap();
    let pki = load(dir.path());
    assert!(pki.admin_token_matches("my-own.token"));
    assert!(!pki.admin_token_matches(&made));
}
