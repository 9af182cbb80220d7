//! Defaulting as the API server does it, so that what skiff stores (and what `get -o yaml`
//! shows) is what Kubernetes would have stored, and the agent and controllers never have
//! to guess at an unset field.
//!
//! Pods and pod specs are here; other kinds in `defaults/workloads.rs`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodTemplateSpec, Probe, Secret, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use sha2::{Digest, Sha256};

use super::object::Object;

mod discovery;
mod rbac;
mod storage;
mod workloads;

pub use workloads::{default_deployment, default_service};

/// Mode of files projected from ConfigMaps and Secrets (0644).
const DEFAULT_FILE_MODE: i32 = 0o644;

/// Sets a string field when it is unset or empty (Go's zero value means "unset").
pub(crate) fn set(field: &mut Option<String>, value: &str) {
    if field.as_deref().is_none_or(str::is_empty) {
        *field = Some(value.to_string());
    }
}

/// Namespaced objects without a namespace go to "default".
pub(crate) fn default_namespace(meta: &mut ObjectMeta) {
    set(&mut meta.namespace, "default");
}

/// Applies the API server's defaults to a pod, including its namespace.
pub fn default_pod(pod: &mut Pod) {
    default_namespace(&mut pod.metadata);
    default_pod_spec(pod.spec.get_or_insert_with(Default::default));
}

/// Applies pod-spec defaults to a workload's pod template.
pub fn default_pod_template(template: &mut PodTemplateSpec) {
    default_pod_spec(template.spec.get_or_insert_with(Default::default));
}

/// Pod-spec defaults: restartPolicy Always, 30s grace, ClusterFirst DNS, the default
/// scheduler, then every container (init ones too) and volume.
pub fn default_pod_spec(spec: &mut PodSpec) {
    set(&mut spec.restart_policy, "Always");
    spec.termination_grace_period_seconds.get_or_insert(30);
    set(&mut spec.dns_policy, "ClusterFirst");
    set(&mut spec.scheduler_name, "default-scheduler");
    spec.enable_service_links.get_or_insert(true);
    spec.security_context.get_or_insert_with(Default::default);
    for container in spec
        .init_containers
        .iter_mut()
        .flatten()
        .chain(spec.containers.iter_mut())
    {
        default_container(container);
    }
    for volume in spec.volumes.iter_mut().flatten() {
        default_volume(volume);
    }
}

/// `Always` for `:latest` or untagged images (the tag may move), else `IfNotPresent`.
/// An image pinned by digest never moves.
pub fn default_image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    // The tag is after the last ':' of the last path segment ("host:5000/app" has none).
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    match last_segment.split_once(':') {
        None | Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn default_container(container: &mut Container) {
    let policy = default_image_pull_policy(container.image.as_deref().unwrap_or_default());
    set(&mut container.image_pull_policy, policy);
    set(
        &mut container.termination_message_path,
        "/dev/termination-log",
    );
    set(&mut container.termination_message_policy, "File");
    // Go's `Resources` is a struct, not a pointer: `resources: {}` and no resources are
    // the same object, so a template kubectl sends back (rollout undo) hashes the same.
    if container.resources.as_ref().is_some_and(|r| {
        r.limits.as_ref().is_none_or(|l| l.is_empty())
            && r.requests.as_ref().is_none_or(|q| q.is_empty())
            && r.claims.as_ref().is_none_or(|c| c.is_empty())
    }) {
        container.resources = None;
    }
    for port in container.ports.iter_mut().flatten() {
        set(&mut port.protocol, "TCP");
    }
    for probe in [
        &mut container.liveness_probe,
        &mut container.readiness_probe,
        &mut container.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        default_probe(probe);
    }
    for env in container.env.iter_mut().flatten() {
        if let Some(field_ref) = env
            .value_from
            .as_mut()
            .and_then(|from| from.field_ref.as_mut())
        {
            set(&mut field_ref.api_version, "v1");
        }
    }
    // A limit without a request requests the limit, so scheduling accounts for it.
    if let Some(resources) = container.resources.as_mut() {
        if let Some(limits) = resources.limits.clone() {
            let requests = resources.requests.get_or_insert_with(BTreeMap::new);
            for (name, limit) in limits {
                requests.entry(name).or_insert(limit);
            }
        }
    }
}

/// Probe defaults: 1s timeout, every 10s, 1 success, 3 failures; HTTP GET on "/".
fn default_probe(probe: &mut Probe) {
    probe.timeout_seconds.get_or_insert(1);
    probe.period_seconds.get_or_insert(10);
    probe.success_threshold.get_or_insert(1);
    probe.failure_threshold.get_or_insert(3);
    if let Some(http) = probe.http_get.as_mut() {
        set(&mut http.path, "/");
        set(&mut http.scheme, "HTTP");
    }
}

/// A volume with no source is an emptyDir; projected files get mode 0644.
fn default_volume(volume: &mut Volume) {
    let has_source = match serde_json::to_value(&*volume) {
        Ok(serde_json::Value::Object(fields)) => fields.keys().any(|key| key != "name"),
        _ => true,
    };
    if !has_source {
        volume.empty_dir = Some(Default::default());
    }
    if let Some(config_map) = volume.config_map.as_mut() {
        config_map.default_mode.get_or_insert(DEFAULT_FILE_MODE);
    }
    if let Some(secret) = volume.secret.as_mut() {
        secret.default_mode.get_or_insert(DEFAULT_FILE_MODE);
    }
}

/// Applies the defaults of the object's kind; namespaced kinds get namespace "default".
pub fn default_object(object: &mut Object) {
    if object.is_namespaced() {
        default_namespace(object.metadata_mut());
    }
    match object {
        Object::Pod(pod) => default_pod(pod),
        Object::ReplicaSet(rs) => workloads::default_replica_set(rs),
        Object::Deployment(deployment) => default_deployment(deployment),
        Object::DaemonSet(ds) => workloads::default_daemon_set(ds),
        Object::StatefulSet(sts) => workloads::default_stateful_set(sts),
        Object::Job(job) => workloads::default_job(job),
        Object::CronJob(cron_job) => workloads::default_cron_job(cron_job),
        Object::Service(service) => default_service(service),
        Object::Secret(secret) => default_secret(secret),
        Object::PersistentVolume(pv) => storage::default_persistent_volume(pv),
        Object::PersistentVolumeClaim(pvc) => storage::default_persistent_volume_claim(pvc),
        Object::StorageClass(class) => storage::default_storage_class(class),
        Object::EndpointSlice(slice) => discovery::default_endpoint_slice(slice),
        Object::RoleBinding(b) => rbac::default_binding(&mut b.role_ref, b.subjects.as_mut()),
        Object::ClusterRoleBinding(b) => {
            rbac::default_binding(&mut b.role_ref, b.subjects.as_mut())
        }
        Object::Endpoints(_)
        | Object::ConfigMap(_)
        | Object::Namespace(_)
        | Object::Node(_)
        | Object::ServiceAccount(_)
        | Object::Role(_)
        | Object::ClusterRole(_) => {}
    }
}

/// Type `Opaque`, and `stringData` merged into `data` and dropped, as the API server does
/// on every write: a stringData key wins over the same key in data.
pub fn default_secret(secret: &mut Secret) {
    set(&mut secret.type_, "Opaque");
    if let Some(strings) = secret.string_data.take() {
        let data = secret.data.get_or_insert_with(BTreeMap::new);
        for (key, value) in strings {
            data.insert(key, ByteString(value.into_bytes()));
        }
    }
}

/// A stable UUID for a pod read from a static manifest file: the same file content at the
/// same source always gets the same uid (so restarts of the agent do not look like a new
/// pod), and a changed file gets a new one.
///
/// It is the first 128 bits of sha256(source, 0, pod_json), marked as a version-8 (custom)
/// RFC 9562 UUID.
pub fn static_pod_uid(source: &str, pod_json: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(source.as_bytes());
    hasher.update([0]);
    hasher.update(pod_json);
    let digest = hasher.finalize();
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid(bytes, 8)
}

/// 128 bits as an RFC 9562 UUID of `version` (version and variant bits set), in the
/// usual 8-4-4-4-12 spelling that Kubernetes uids have.
pub fn uuid(mut bytes: [u8; 16], version: u8) -> String {
    bytes[6] = (bytes[6] & 0x0f) | (version << 4);
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests;
