//! Tests for `names.rs`: the shared name, label and port-name rules.

use std::collections::BTreeMap;

use super::*;

fn messages(errors: Vec<FieldError>) -> Vec<String> {
    errors.into_iter().map(|e| e.to_string()).collect()
}

#[test]
fn dns1123_labels() {
    for good in ["a", "my-name", "123-abc", &"a".repeat(63)] {
        assert!(validate_dns1123_label("f", good).is_empty(), "{good}");
        assert!(is_dns1123_label(good));
    }
    for bad in ["", "-a", "a-", "My", "a.b", "a_b", &"a".repeat(64)] {
        assert!(!validate_dns1123_label("f", bad).is_empty(), "{bad}");
        assert!(!is_dns1123_label(bad));
    }
    let errors = messages(validate_dns1123_label("spec.containers[0].name", "Web"));
    assert_eq!(
        errors,
        [
            r#"spec.containers[0].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"#
        ]
    );
    let errors = messages(validate_dns1123_label("f", &"a".repeat(64)));
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].ends_with("must be no more than 63 characters"),
        "{errors:?}"
    );
}

#[test]
fn dns1123_subdomains() {
    let long_ok = format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61)
    );
    assert_eq!(long_ok.len(), 253);
    for good in ["example.com", "my-pod", "a.b-c.d", long_ok.as_str()] {
        assert!(validate_dns1123_subdomain("f", good).is_empty(), "{good}");
        assert!(is_dns1123_subdomain(good));
    }
    for bad in [
        "",
        "a..b",
        ".a",
        "a.",
        "My_Pod",
        "a.-b",
        &format!("{long_ok}x"),
    ] {
        assert!(!validate_dns1123_subdomain("f", bad).is_empty(), "{bad}");
    }
    let errors = messages(validate_dns1123_subdomain("metadata.name", "My_Pod"));
    assert!(
        errors[0].starts_with(r#"metadata.name: Invalid value: "My_Pod": a lowercase RFC 1123 subdomain must consist of"#),
        "{errors:?}"
    );
}

#[test]
fn dns1035_labels_start_with_a_letter() {
    assert!(validate_dns1035_label("f", "web-svc").is_empty());
    assert!(!validate_dns1035_label("f", "1web").is_empty());
    assert!(!validate_dns1035_label("f", "Web").is_empty());
}

#[test]
fn label_keys() {
    for good in [
        "app",
        "app.kubernetes.io/name",
        "My_Key.x",
        "example.com/a-b",
        &"k".repeat(63),
    ] {
        assert!(validate_qualified_name("f", good).is_empty(), "{good}");
    }
    let cases = [
        ("", "name part must be non-empty"),
        ("/name", "prefix part must be non-empty"),
        ("a/b/c", "a qualified name must consist of"),
        (
            "Example.com/name",
            "prefix part a lowercase RFC 1123 subdomain",
        ),
        ("example.com/-name", "name part must consist of"),
        ("_key", "name part must consist of"),
    ];
    for (key, expected) in cases {
        let errors = messages(validate_qualified_name("metadata.labels", key));
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{key}: {errors:?}"
        );
    }
    let errors = messages(validate_qualified_name("f", &"k".repeat(64)));
    assert!(
        errors[0].ends_with("name part must be no more than 63 characters"),
        "{errors:?}"
    );
    let long_prefix = format!("{}/a", "p".repeat(254));
    assert!(messages(validate_qualified_name("f", &long_prefix))[0]
        .contains("prefix part must be no more than 253"));
}

#[test]
fn label_values() {
    for good in ["", "v1", "my_value", "1.2.3", &"v".repeat(63)] {
        assert!(validate_label_value("f", good).is_empty(), "{good:?}");
    }
    for bad in ["-v", "v-", "a b", "ü", &"v".repeat(64)] {
        assert!(!validate_label_value("f", bad).is_empty(), "{bad:?}");
    }
}

#[test]
fn label_maps_report_key_and_value_on_the_map_path() {
    let labels = BTreeMap::from([
        ("bad key".to_string(), "ok".to_string()),
        ("ok".to_string(), "bad value".to_string()),
    ]);
    let errors = messages(validate_labels("metadata.labels", &labels));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0]
        .starts_with(r#"metadata.labels: Invalid value: "bad key": name part must consist"#));
    assert!(
        errors[1].starts_with(r#"metadata.labels: Invalid value: "bad value": a valid label must"#)
    );
}

#[test]
fn annotation_keys_and_size() {
    let ok = BTreeMap::from([(
        "kubernetes.io/change-cause".to_string(),
        "anything at all: ok!".to_string(),
    )]);
    assert!(validate_annotations("metadata.annotations", &ok).is_empty());
    let bad = BTreeMap::from([("bad/key/x".to_string(), String::new())]);
    assert_eq!(validate_annotations("metadata.annotations", &bad).len(), 1);
    let huge = BTreeMap::from([("big".to_string(), "x".repeat(300 * 1024))]);
    let errors = messages(validate_annotations("metadata.annotations", &huge));
    assert_eq!(
        errors,
        ["metadata.annotations: Too long: must have at most 262144 bytes"]
    );
}

#[test]
fn config_keys() {
    for good in ["game.properties", "KEY_NAME", "key-name", ".hidden"] {
        assert!(validate_config_key("data[k]", good).is_empty(), "{good}");
    }
    for bad in ["", "a/b", "..", "..x", "sp ace"] {
        assert!(!validate_config_key("data[k]", bad).is_empty(), "{bad}");
    }
}

#[test]
fn port_names_follow_iana_svc_name() {
    for good in ["http", "web-port", "h2c", "a1", "abcdefghijklmno"] {
        assert!(validate_port_name("f", good).is_empty(), "{good}");
    }
    let cases = [
        ("abcdefghijklmnop", "must be no more than 15 characters"),
        (
            "Http",
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        ),
        ("8080", "must contain at least one letter (a-z)"),
        ("web--port", "must not contain consecutive hyphens"),
        ("-web", "must not begin or end with a hyphen"),
        ("web-", "must not begin or end with a hyphen"),
    ];
    for (name, expected) in cases {
        let errors = messages(validate_port_name("ports[0].name", name));
        assert!(
            errors.iter().any(|e| e.ends_with(expected)),
            "{name}: {errors:?}"
        );
    }
}

#[test]
fn port_numbers() {
    assert!(validate_port_number("p", 1).is_empty());
    assert!(validate_port_number("p", 65535).is_empty());
    assert_eq!(
        messages(validate_port_number("spec.containers[0].ports[0].containerPort", 0)),
        ["spec.containers[0].ports[0].containerPort: Invalid value: 0: must be between 1 and 65535, inclusive"]
    );
    assert_eq!(validate_port_number("p", 65536).len(), 1);
}
