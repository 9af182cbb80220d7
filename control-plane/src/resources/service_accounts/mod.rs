//! Service accounts as kube-apiserver serves them (docs/architecture.md, Service
//! accounts): bound tokens (`tokens.rs`: TokenRequest and the kubelet's requests, signed
//! with `pki`'s service-account key), who a presented token is (`authenticate.rs`, as
//! kube's service-account token validator) and the admission of new pods (`admission.rs`,
//! as kube's ServiceAccount admission plugin).

mod admission;
mod authenticate;
#[cfg(test)]
mod tests;
mod tokens;

pub use admission::{admit_pod, ensure_default_account};
pub use authenticate::{authenticate, ServiceAccountUser};
pub use tokens::{issue, BoundObject, Issued, TokenSpec};

/// Tokens' `iss`, as kube-apiserver's `--service-account-issuer` in a cluster whose
/// domain is `cluster.local`.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The API's own audience (kube's `--api-audiences` defaults to the issuer): a token
/// without it is for someone else and does not authenticate here.
pub const API_AUDIENCE: &str = ISSUER;
/// The account every namespace has and pods get when they name none.
pub const DEFAULT_ACCOUNT: &str = "default";
/// The ConfigMap with the cluster CA that every namespace has.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";
/// Where the admission mounts a pod's token, CA and namespace.
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The prefix of the projected volume the admission adds.
pub const VOLUME_PREFIX: &str = "kube-api-access-";
/// Groups of every service account (and `system:serviceaccounts:<namespace>`).
pub const ACCOUNTS_GROUP: &str = "system:serviceaccounts";
/// A user name's prefix: `system:serviceaccount:<namespace>:<name>`.
pub const USER_PREFIX: &str = "system:serviceaccount:";

/// The shortest, default and longest token lifetimes a TokenRequest gets (kube's
/// validation minimum, default, and a cap as `--service-account-max-token-expiration`).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
pub const MAX_EXPIRATION_SECONDS: i64 = 48 * 60 * 60;
