//! Name, label and annotation rules shared by every kind, with the API server's messages.
//!
//! Users compare our errors with what kubectl printed for them before, so the wording
//! (including its quirks, like the double space in ",  or") is copied from apimachinery.

use std::collections::BTreeMap;

use super::FieldError;

pub const DNS1123_LABEL_MAX_LEN: usize = 63;
pub const DNS1123_SUBDOMAIN_MAX_LEN: usize = 253;
const QUALIFIED_NAME_MAX_LEN: usize = 63;
const LABEL_VALUE_MAX_LEN: usize = 63;
const PORT_NAME_MAX_LEN: usize = 15;
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

fn max_len(limit: usize) -> String {
    format!("must be no more than {limit} characters")
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, any length.
fn matches_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    matches!((bytes.first(), bytes.last()), (Some(&first), Some(&last)) if is_lower_alnum(first) && is_lower_alnum(last))
        && bytes.iter().all(|&b| is_lower_alnum(b) || b == b'-')
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, any length.
fn matches_qualified_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    matches!((bytes.first(), bytes.last()), (Some(first), Some(last)) if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Whether `s` is a DNS-1123 label: lowercase alphanumerics and '-', at most 63.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= DNS1123_LABEL_MAX_LEN && matches_label(s)
}

/// Whether `s` is a DNS-1123 subdomain: dot-separated labels, at most 253.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= DNS1123_SUBDOMAIN_MAX_LEN && s.split('.').all(matches_label)
}

/// The problems with `value` as a DNS-1123 label, in the API server's words.
fn dns1123_label_problems(value: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LEN {
        problems.push(max_len(DNS1123_LABEL_MAX_LEN));
    }
    if !matches_label(value) {
        problems.push(DNS1123_LABEL_MSG.to_string());
    }
    problems
}

fn dns1123_subdomain_problems(value: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        problems.push(max_len(DNS1123_SUBDOMAIN_MAX_LEN));
    }
    if !value.split('.').all(matches_label) {
        problems.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    problems
}

fn invalid_all(path: &str, value: &str, problems: Vec<String>) -> Vec<FieldError> {
    problems
        .into_iter()
        .map(|problem| FieldError::invalid(path, value, problem))
        .collect()
}

/// Validates a DNS-1123 label (namespaces, container and port-less names).
pub fn validate_dns1123_label(path: &str, value: &str) -> Vec<FieldError> {
    invalid_all(path, value, dns1123_label_problems(value))
}

/// Validates a DNS-1123 subdomain (most object names).
pub fn validate_dns1123_subdomain(path: &str, value: &str) -> Vec<FieldError> {
    invalid_all(path, value, dns1123_subdomain_problems(value))
}

/// Validates a DNS-1035 label: a DNS-1123 label that starts with a letter (Service names,
/// which become DNS names and environment variables).
pub fn validate_dns1035_label(path: &str, value: &str) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LEN {
        problems.push(max_len(DNS1123_LABEL_MAX_LEN));
    }
    if !matches_label(value) || !value.starts_with(|c: char| c.is_ascii_lowercase()) {
        problems.push(DNS1035_LABEL_MSG.to_string());
    }
    invalid_all(path, value, problems)
}

/// The problems with `key` as a qualified name: `[prefix/]name` (label and annotation keys).
fn qualified_name_problems(key: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let name = match key.split('/').collect::<Vec<_>>()[..] {
        [name] => name,
        [prefix, name] => {
            if prefix.is_empty() {
                problems.push("prefix part must be non-empty".to_string());
            } else {
                let prefix_problems = dns1123_subdomain_problems(prefix);
                problems.extend(
                    prefix_problems
                        .into_iter()
                        .map(|p| format!("prefix part {p}")),
                );
            }
            name
        }
        _ => {
            return vec![format!("a qualified name {QUALIFIED_NAME_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")];
        }
    };
    if name.is_empty() {
        problems.push("name part must be non-empty".to_string());
    } else {
        if name.len() > QUALIFIED_NAME_MAX_LEN {
            problems.push(format!("name part {}", max_len(QUALIFIED_NAME_MAX_LEN)));
        }
        if !matches_qualified_part(name) {
            problems.push(format!("name part {QUALIFIED_NAME_MSG}"));
        }
    }
    problems
}

/// Validates a qualified name such as a label key (`app.kubernetes.io/name`).
pub fn validate_qualified_name(path: &str, key: &str) -> Vec<FieldError> {
    invalid_all(path, key, qualified_name_problems(key))
}

/// Validates a label value: empty, or at most 63 of `[A-Za-z0-9._-]` starting and ending
/// alphanumeric.
pub fn validate_label_value(path: &str, value: &str) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LEN {
        problems.push(max_len(LABEL_VALUE_MAX_LEN));
    }
    if !value.is_empty() && !matches_qualified_part(value) {
        problems.push(LABEL_VALUE_MSG.to_string());
    }
    invalid_all(path, value, problems)
}

/// Validates label keys and values (metadata.labels, nodeSelector, selectors). Errors sit
/// on the map's path and quote the offending key or value, as the API server does.
pub fn validate_labels(path: &str, labels: &BTreeMap<String, String>) -> Vec<FieldError> {
    labels
        .iter()
        .flat_map(|(key, value)| {
            let mut errors = validate_qualified_name(path, key);
            errors.extend(validate_label_value(path, value));
            errors
        })
        .collect()
}

/// Validates annotation keys (qualified names) and the total size (256 KiB).
pub fn validate_annotations(path: &str, annotations: &BTreeMap<String, String>) -> Vec<FieldError> {
    let mut errors: Vec<FieldError> = annotations
        .keys()
        .flat_map(|key| invalid_all(path, key, qualified_name_problems(&key.to_lowercase())))
        .collect();
    let total: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > ANNOTATIONS_MAX_BYTES {
        errors.push(FieldError::too_long(path, ANNOTATIONS_MAX_BYTES));
    }
    errors
}

/// Validates a ConfigMap/Secret data key (it becomes a file name in volumes).
pub fn validate_config_key(path: &str, key: &str) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if key.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        problems.push(max_len(DNS1123_SUBDOMAIN_MAX_LEN));
    }
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        problems.push(CONFIG_KEY_MSG.to_string());
    } else if key == "." || key == ".." || key.starts_with("..") {
        problems.push("must not be '.' or '..' or start with '..'".to_string());
    }
    invalid_all(path, key, problems)
}

/// Validates a port name (IANA_SVC_NAME): at most 15 lowercase alphanumerics and '-', at
/// least one letter, no leading, trailing or doubled '-'.
pub fn validate_port_name(path: &str, name: &str) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if name.len() > PORT_NAME_MAX_LEN {
        problems.push(max_len(PORT_NAME_MAX_LEN));
    }
    if !name.bytes().all(|b| is_lower_alnum(b) || b == b'-') {
        problems.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
        );
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        problems.push("must contain at least one letter (a-z)".to_string());
    }
    if name.contains("--") {
        problems.push("must not contain consecutive hyphens".to_string());
    }
    if name.starts_with('-') || name.ends_with('-') {
        problems.push("must not begin or end with a hyphen".to_string());
    }
    invalid_all(path, name, problems)
}

/// Validates a port number: 1..=65535.
pub fn validate_port_number(path: &str, port: i32) -> Vec<FieldError> {
    if (1..=65535).contains(&port) {
        return Vec::new();
    }
    vec![FieldError::invalid(
        path,
        port,
        "must be between 1 and 65535, inclusive",
    )]
}

#[cfg(test)]
mod tests;
