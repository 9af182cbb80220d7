//! Kubeconfigs for people other than the administrator (`skiff-control-plane kubeconfig
//! --user NAME --group G`): a client certificate signed by the cluster CA with CN the
//! user and an O per group, which the REST API reads as that user in those groups
//! (RBAC then says what they may do), in a kubeconfig like admin.conf's. Nothing is
//! recorded: the certificate is the credential, valid for a year, and there is no
//! revocation yet (see the module docs). One group at most: rcgen keeps one value per
//! subject attribute, so several O's would silently become the last one.

use std::path::Path;

use rcgen::KeyPair;
use skiff_proto::auth::{AdminConfig, CONTROL_PLANE_CN, NODES_GROUP, NODE_CN_PREFIX};

use super::files;
use super::issue::{self, Leaf, Usage};
use super::{admin_conf_path, PkiError};

/// A kubeconfig for `name` in `groups`, for the cluster whose data is in `data_dir` (its
/// CA signs the certificate; its admin.conf gives the server URL).
pub fn user_config(
    data_dir: &Path,
    name: &str,
    groups: &[String],
) -> Result<AdminConfig, PkiError> {
    let refuse = |reason: &str| PkiError::Csr(format!("user {name:?}: {reason}"));
    if name.trim().is_empty() {
        return Err(refuse("a user name is required"));
    }
    // rcgen writes one value per attribute type, so a subject holds one O.
    if groups.len() > 1 {
        return Err(refuse(
            "one --group at most for now (a certificate carries one O); bind the others' roles to the user",
        ));
    }
    if name == CONTROL_PLANE_CN
        || name.starts_with(NODE_CN_PREFIX)
        || groups.iter().any(|g| g == NODES_GROUP)
    {
        return Err(refuse(
            "that name belongs to the control plane or a node; nodes join with the node token",
        ));
    }
    let pki = data_dir.join("pki");
    let missing = |path: &Path| PkiError::Corrupt {
        what: path.display().to_string(),
        reason: "missing: start skiff-control-plane with this --data-dir once first".into(),
    };
    let (cert_path, key_path) = (pki.join("ca.crt"), pki.join("ca.key"));
    let ca_pem = files::read_optional(&cert_path)?.ok_or_else(|| missing(&cert_path))?;
    let key_pem = files::read_optional(&key_path)?.ok_or_else(|| missing(&key_path))?;
    let ca_key = KeyPair::from_pem(&key_pem).map_err(|e| PkiError::Corrupt {
        what: key_path.display().to_string(),
        reason: e.to_string(),
    })?;
    let admin_conf = admin_conf_path(data_dir);
    let server = AdminConfig::load(&admin_conf)
        .map_err(|e| PkiError::Corrupt {
            what: admin_conf.display().to_string(),
            reason: e.to_string(),
        })?
        .server;
    let organizations: Vec<&str> = groups.iter().map(String::as_str).collect();
    let (cert, key) = issue::issue(
        &ca_key,
        Leaf {
            cn: name,
            organizations: &organizations,
            sans: Vec::new(),
            usage: Usage::Client,
        },
    )?;
    Ok(AdminConfig {
        server,
        ca: ca_pem,
        cert,
        key,
    })
}
