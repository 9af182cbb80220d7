//! A container's own environment as the kubelet computes it before the runtime sees it
//! (kubelet's `makeEnvironmentVariables`): `envFrom` sources first, then `env` entries in
//! order, each `value` `$(VAR)`-expanded against what came before and the service
//! variables, each `valueFrom` read from a ConfigMap or Secret (through
//! [`PodObjects`]), the pod's own fields or the container's resources; last the service
//! variables (`services/catalog.rs`) the container does not set itself. The image's
//! environment is not known here: it goes beneath.
//!
//! A source that is missing and not optional stops the container from starting: the
//! worker shows the error as `CreateContainerConfigError` and tries again.

#[cfg(test)]
mod tests;

pub use crate::downward::field_value;

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVarSource, Pod, Secret};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use tracing::warn;

use super::pod_runtime::SandboxInfo;
use crate::containerd::container::{expand, expand_with};
use crate::objects::{self, ObjectsError, PodObjects};
use crate::services::catalog::NotListed;
use crate::services::ServiceCatalog;

/// What resolving a container's environment reads besides the container itself.
pub struct EnvSources<'a> {
    pub pod: &'a Pod,
    /// The pod's and the node's addresses (`status.podIP`, `status.hostIP`).
    pub sandbox: &'a SandboxInfo,
    /// The node's allocatable resources: a limit the container leaves unset reads as
    /// these, as with the kubelet.
    pub allocatable: &'a BTreeMap<String, Quantity>,
    pub objects: &'a dyn PodObjects,
    /// The node's Services: their `<NAME>_SERVICE_HOST`-style variables.
    pub services: &'a ServiceCatalog,
}

/// Why a container's environment cannot be built; the messages are the kubelet's, as
/// `kubectl get pod` shows them under `CreateContainerConfigError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyNotFound {
        key: String,
        namespace: String,
        name: String,
    },
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyNotFound {
        key: String,
        namespace: String,
        name: String,
    },
    /// The control plane refused or could not be asked.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    /// A `fieldRef` or `resourceFieldRef` that cannot be answered.
    #[error("{0}")]
    Downward(String),
    /// `subPathExpr` names variables the container does not set (or sets empty).
    #[error("missing value for {0}")]
    MissingSubPathValue(String),
    #[error(transparent)]
    ServicesNotListed(#[from] NotListed),
}

/// The container's own variables, in order; a later entry of the same name replaces an
/// earlier one in place.
pub async fn container_env(
    src: &EnvSources<'_>,
    container: &Container,
) -> Result<Vec<(String, String)>, EnvError> {
    Ok(resolve_env(src, container).await?.vars)
}

/// A resolved environment and what resolving it left out.
#[derive(Debug, Default)]
pub struct ResolvedEnv {
    pub vars: Vec<(String, String)>,
    /// The kubelet's `InvalidEnvironmentVariableNames` messages, one per `envFrom`
    /// source with keys that are not variable names.
    pub skipped: Vec<String>,
}

/// [`container_env`], with the `envFrom` keys skipped as invalid names.
pub async fn resolve_env(
    src: &EnvSources<'_>,
    container: &Container,
) -> Result<ResolvedEnv, EnvError> {
    let mut skipped = Vec::new();
    let mut r = Reader::new(src);
    let spec = src.pod.spec.as_ref();
    let links = spec.and_then(|s| s.enable_service_links).unwrap_or(true);
    let service_env = src.services.env_for(&r.namespace, links)?;
    let mut env = EnvList::default();
    // `$(VAR)` sees the service variables, as with the kubelet.
    env.values.extend(service_env.iter().cloned());
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or("");
        let (kind, name, values) = if let Some(cm) = &from.config_map_ref {
            let Some(found) = r.config_map(&cm.name, cm.optional).await? else {
                continue;
            };
            let values = found.data.clone().unwrap_or_default();
            ("configMap", &cm.name, values)
        } else if let Some(s) = &from.secret_ref {
            let Some(found) = r.secret(&s.name, s.optional).await? else {
                continue;
            };
            ("secret", &s.name, secret_values(found))
        } else {
            continue;
        };
        let mut invalid = Vec::new();
        for (key, value) in values {
            let key = format!("{prefix}{key}");
            if is_env_var_name(&key) {
                env.set(key, value);
            } else {
                invalid.push(key);
            }
        }
        if !invalid.is_empty() {
            invalid.sort();
            let message = skipped_message(&invalid, kind, &r.namespace, name);
            warn!(pod = %super::pod_key(src.pod), container = %container.name, %message, "envFrom keys skipped");
            skipped.push(message);
        }
    }
    for var in container.env.iter().flatten() {
        let value = match (var.value.as_deref(), &var.value_from) {
            (Some(v), _) if !v.is_empty() => expand(v, &env.values),
            (_, Some(from)) => match r.value_from(from, container).await? {
                Some(v) => v,
                None => continue,
            },
            _ => String::new(),
        };
        env.set(var.name.clone(), value);
    }
    let own: std::collections::HashSet<String> = env.list.iter().map(|(k, _)| k.clone()).collect();
    let mut vars = env.list;
    vars.extend(service_env.into_iter().filter(|(k, _)| !own.contains(k)));
    Ok(ResolvedEnv { vars, skipped })
}

/// The kubelet's message for `envFrom` keys skipped from `kind` (configMap or secret).
fn skipped_message(keys: &[String], kind: &str, namespace: &str, name: &str) -> String {
    format!(
        "Keys [{}] from the EnvFrom {kind} {namespace}/{name} were skipped since they are considered invalid environment variable names.",
        keys.join(", ")
    )
}

/// The env of a container with plain `value`s only, for tests that build specs.
#[cfg(test)]
pub fn plain_env(container: &Container) -> Vec<(String, String)> {
    let sources = EnvSources {
        pod: &Pod::default(),
        sandbox: &SandboxInfo::default(),
        allocatable: &BTreeMap::new(),
        objects: &crate::objects::NoObjects,
        services: &ServiceCatalog::default(),
    };
    futures::executor::block_on(container_env(&sources, container)).expect("plain env")
}

/// A volume mount's `subPathExpr` expanded from the container's resolved env (what
/// [`container_env`] returned), as the kubelet does: every variable it names must be
/// set and not empty.
pub fn expand_sub_path_expr(expr: &str, env: &[(String, String)]) -> Result<String, EnvError> {
    let mut missing = std::collections::BTreeSet::new();
    let expanded = expand_with(expr, |name| {
        let value = env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if value.is_empty() {
            missing.insert(name.to_string());
        }
        Some(value)
    });
    if missing.is_empty() {
        Ok(expanded)
    } else {
        Err(EnvError::MissingSubPathValue(
            missing.into_iter().collect::<Vec<_>>().join(", "),
        ))
    }
}

/// Kubernetes' `IsEnvVarName`: `[-._a-zA-Z][-._a-zA-Z0-9]*`, and not `.`, `..` or a
/// name starting with `..`.
pub fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '-' | '.' | '_'));
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && name != "."
        && !name.starts_with("..")
}

#[derive(Default)]
struct EnvList {
    list: Vec<(String, String)>,
    values: HashMap<String, String>,
}

impl EnvList {
    fn set(&mut self, name: String, value: String) {
        match self.list.iter_mut().find(|(k, _)| *k == name) {
            Some(entry) => entry.1 = value.clone(),
            None => self.list.push((name.clone(), value.clone())),
        }
        self.values.insert(name, value);
    }
}

/// Reads each ConfigMap and Secret at most once per resolution.
struct Reader<'s, 'a> {
    src: &'s EnvSources<'a>,
    namespace: String,
    config_maps: HashMap<String, Option<ConfigMap>>,
    secrets: HashMap<String, Option<Secret>>,
}

impl<'s, 'a> Reader<'s, 'a> {
    fn new(src: &'s EnvSources<'a>) -> Self {
        let namespace = src
            .pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        Self {
            src,
            namespace,
            config_maps: HashMap::new(),
            secrets: HashMap::new(),
        }
    }

    /// The ConfigMap; `None` when it does not exist and `optional` is set.
    async fn config_map(
        &mut self,
        name: &str,
        optional: Option<bool>,
    ) -> Result<Option<&ConfigMap>, EnvError> {
        let (objects, namespace) = (self.src.objects, self.namespace.as_str());
        let cache = &mut self.config_maps;
        read_once(cache, objects, "ConfigMap", namespace, name, optional)
            .await?
            .ok_or_else(|| EnvError::ConfigMapNotFound(name.to_string()))
    }

    /// The Secret; `None` when it does not exist and `optional` is set.
    async fn secret(
        &mut self,
        name: &str,
        optional: Option<bool>,
    ) -> Result<Option<&Secret>, EnvError> {
        let (objects, namespace) = (self.src.objects, self.namespace.as_str());
        let cache = &mut self.secrets;
        read_once(cache, objects, "Secret", namespace, name, optional)
            .await?
            .ok_or_else(|| EnvError::SecretNotFound(name.to_string()))
    }

    /// One `valueFrom`; `None` when an optional source or key is missing (the variable
    /// is then not set at all).
    async fn value_from(
        &mut self,
        from: &EnvVarSource,
        container: &Container,
    ) -> Result<Option<String>, EnvError> {
        if let Some(field) = &from.field_ref {
            if let Some(version) = field.api_version.as_deref().filter(|v| *v != "v1") {
                return Err(EnvError::Downward(format!(
                    "unsupported pod version: {version}"
                )));
            }
            return field_value(
                self.src.pod,
                self.src.sandbox.pod_ip,
                self.src.sandbox.host_ip,
                &field.field_path,
            )
            .map(Some)
            .map_err(EnvError::Downward);
        }
        if let Some(resource) = &from.resource_field_ref {
            return skiff_proto::model::container_resource_value(
                container,
                self.src.allocatable,
                &resource.resource,
                resource.divisor.as_ref(),
            )
            .map(Some)
            .map_err(EnvError::Downward);
        }
        if let Some(sel) = &from.config_map_key_ref {
            let Some(found) = self.config_map(&sel.name, sel.optional).await? else {
                return Ok(None);
            };
            return match found.data.as_ref().and_then(|d| d.get(&sel.key)) {
                Some(value) => Ok(Some(value.clone())),
                None if sel.optional == Some(true) => Ok(None),
                None => Err(EnvError::ConfigMapKeyNotFound {
                    key: sel.key.clone(),
                    namespace: self.namespace.clone(),
                    name: sel.name.clone(),
                }),
            };
        }
        if let Some(sel) = &from.secret_key_ref {
            let Some(found) = self.secret(&sel.name, sel.optional).await? else {
                return Ok(None);
            };
            return match secret_values(found).remove(&sel.key) {
                Some(value) => Ok(Some(value)),
                None if sel.optional == Some(true) => Ok(None),
                None => Err(EnvError::SecretKeyNotFound {
                    key: sel.key.clone(),
                    namespace: self.namespace.clone(),
                    name: sel.name.clone(),
                }),
            };
        }
        Ok(Some(String::new()))
    }
}

/// `name` from `cache`, or read and remembered: `Some(Some(object))` when found,
/// `Some(None)` when missing but optional, `None` when missing and required.
async fn read_once<'c, T: serde::de::DeserializeOwned>(
    cache: &'c mut HashMap<String, Option<T>>,
    objects: &dyn PodObjects,
    kind: &str,
    namespace: &str,
    name: &str,
    optional: Option<bool>,
) -> Result<Option<Option<&'c T>>, EnvError> {
    if !cache.contains_key(name) {
        let found = objects::get_typed(objects, kind, namespace, name).await?;
        cache.insert(name.to_string(), found);
    }
    Ok(match &cache[name] {
        Some(found) => Some(Some(found)),
        None if optional == Some(true) => Some(None),
        None => None,
    })
}

/// A Secret's values as text: `data`, with `stringData` over it as the API server merges
/// them (a stored Secret normally has `data` only).
fn secret_values(secret: &Secret) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    values.extend(secret.string_data.clone().unwrap_or_default());
    values
}
