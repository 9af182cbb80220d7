//! The object model: manifests in, validated and defaulted k8s-openapi objects out.
//!
//! The pipeline mirrors the API server's: [`decode_documents`] (strict: unknown fields
//! are errors), then [`default_object`], then [`validate_object`].

mod decode;
mod defaults;
mod downward;
mod job_selector;
mod object;
mod quantity;
mod selector;
mod validate;

pub use decode::{decode_documents, prune_unknown_fields, DecodeError};
pub use defaults::{
    default_deployment, default_image_pull_policy, default_object, default_pod, default_pod_spec,
    default_pod_template, default_secret, default_service, static_pod_uid, uuid,
};
pub use downward::container_resource_value;
pub use job_selector::{
    generate_job_selector, generated_job_labels, manual_selector, JOB_CONTROLLER_UID_LABELS,
    JOB_NAME_LABELS, JOB_SELECTOR_LABEL,
};
pub use object::{supported_kinds_list, Object, SUPPORTED_KINDS};
pub use quantity::{parse_quantity, to_bytes, to_millicores, QuantityError};
pub use selector::{map_selects, selector_is_empty, selector_matches};
pub use validate::{
    is_dns1123_label, is_dns1123_subdomain, validate_annotations, validate_config_key,
    validate_config_update, validate_dns1035_label, validate_dns1123_label,
    validate_dns1123_subdomain, validate_job_update, validate_label_selector, validate_label_value,
    validate_labels, validate_object, validate_object_meta, validate_pod, validate_pod_spec,
    validate_port_name, validate_port_number, validate_qualified_name, validate_role_ref_update,
    validate_service_spec, FieldError, NameRule, ValidationError, DNS1123_LABEL_MAX_LEN,
    DNS1123_SUBDOMAIN_MAX_LEN, MAX_CONFIG_SIZE,
};
