//! A joining server's data dir: the first server's shared files, checked and written.

use skiff_proto::auth::ServerToken;

use super::super::join::{already_joined, install_bundle, read_bundle, JoinError, SHARED};
use super::{load, mode, read};

const FIRST: &str = "https://192.0.2.1:6443";

fn first_server() -> (tempfile::TempDir, super::Pki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = load(dir.path());
    std::fs::write(dir.path().join("secrets-encryption.key"), "ab".repeat(32)).unwrap();
    (dir, pki)
}

fn server_token(dir: &std::path::Path) -> ServerToken {
    ServerToken::parse(&read(&dir.join("server-token"))).unwrap()
}

#[test]
fn a_joined_server_shares_the_ca_keys_and_tokens_and_has_its_own_certificates() {
    let (first_dir, first) = first_server();
    let token = server_token(first_dir.path());
    assert!(first.verify_server_token(&token.to_string()));
    assert!(
        !first.verify_server_token(&first.node_token()),
        "a node token is no server token"
    );
    let bundle = read_bundle(first_dir.path()).unwrap();

    let second_dir = tempfile::tempdir().unwrap();
    install_bundle(second_dir.path(), FIRST, &token, &bundle).unwrap();
    for (name, want) in SHARED {
        let path = second_dir.path().join(name);
        assert_eq!(read(&path), read(&first_dir.path().join(name)), "{name}");
        assert_eq!(mode(&path), want, "{name}");
    }
    let second = load(second_dir.path());
    assert_eq!(second.ca_der(), first.ca_der());
    assert_eq!(second.node_token(), first.node_token());
    assert!(second.verify_server_token(&token.to_string()));
    assert!(second.verify_token(&first.node_token()));
    let serving = |dir: &std::path::Path| read(&dir.join("pki/server.crt"));
    assert_ne!(
        serving(second_dir.path()),
        serving(first_dir.path()),
        "its own serving certificate"
    );
    // Joining again (a restart with --join still given) changes nothing, and needs no
    // fetch: the data dir already has it all.
    install_bundle(second_dir.path(), FIRST, &token, &bundle).unwrap();
    assert!(already_joined(second_dir.path(), FIRST, &token).unwrap());
    let empty = tempfile::tempdir().unwrap();
    assert!(!already_joined(empty.path(), FIRST, &token).unwrap());
}

#[test]
fn a_data_dir_with_another_ca_is_refused() {
    let (first_dir, _) = first_server();
    let token = server_token(first_dir.path());
    let bundle = read_bundle(first_dir.path()).unwrap();
    let (other_dir, _) = first_server();
    let before = read(&other_dir.path().join("node-token"));
    let err = install_bundle(other_dir.path(), FIRST, &token, &bundle).unwrap_err();
    assert!(matches!(err, JoinError::OtherCa { .. }), "{err}");
    assert!(
        err.to_string().contains("two servers with different CAs"),
        "{err}"
    );
    let err = already_joined(other_dir.path(), FIRST, &token).unwrap_err();
    assert!(matches!(err, JoinError::OtherCa { .. }), "{err}");
    assert_eq!(
        read(&other_dir.path().join("node-token")),
        before,
        "nothing written"
    );
}

#[test]
fn a_bundle_whose_ca_is_not_the_pinned_one_is_refused() {
    let (first_dir, _) = first_server();
    let (other_dir, _) = first_server();
    let wrong = server_token(other_dir.path());
    let bundle = read_bundle(first_dir.path()).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let err = install_bundle(empty.path(), FIRST, &wrong, &bundle).unwrap_err();
    assert!(matches!(err, JoinError::NotPinned { .. }), "{err}");
    assert!(!empty.path().join("pki/ca.crt").exists());
    let mut short = bundle;
    short.files.remove("pki/ca.key");
    let token = server_token(first_dir.path());
    let err = install_bundle(empty.path(), FIRST, &token, &short).unwrap_err();
    assert!(err.to_string().contains("expected"), "{err}");
}
