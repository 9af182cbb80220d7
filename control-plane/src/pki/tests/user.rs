//! User kubeconfigs: signed by the cluster's CA, read back as that user and groups.

use skiff_proto::auth::Caller;

use super::super::{user_config, PkiError};
use super::{der_of, load, API_URL};

#[test]
fn a_user_certificate_names_the_user_and_its_groups() {
    let dir = tempfile::tempdir().unwrap();
    let pki = load(dir.path());
    let groups = vec!["devs".to_string()];
    let config = user_config(dir.path(), "alice", &groups).unwrap();
    assert_eq!(config.server, API_URL);
    assert_eq!(config.ca, pki.ca_pem());
    assert_eq!(
        Caller::from_certificate(&der_of(&config.cert)),
        Caller::User {
            name: "alice".into(),
            groups
        }
    );
    // In system:masters, a user certificate is an administrator's, as in Kubernetes.
    let root = user_config(dir.path(), "root", &["system:masters".into()]).unwrap();
    assert_eq!(Caller::from_certificate(&der_of(&root.cert)), Caller::Admin);
}

#[test]
fn node_and_control_plane_names_and_a_missing_ca_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        user_config(dir.path(), "alice", &[]),
        Err(PkiError::Corrupt { .. })
    ));
    load(dir.path());
    for (name, groups) in [
        ("system:node:n1", vec![]),
        ("skiff-control-plane", vec![]),
        ("bob", vec!["system:nodes".to_string()]),
        ("", vec![]),
        ("carol", vec!["a".to_string(), "b".to_string()]),
    ] {
        assert!(user_config(dir.path(), name, &groups).is_err(), "{name}");
    }
}
