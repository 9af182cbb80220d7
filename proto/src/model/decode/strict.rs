//! Strict decoding of one object: nothing in the manifest may be silently dropped.
//!
//! k8s-openapi's `Deserialize` impls ignore unknown fields, which would let a typo like
//! `imagePullPolcy` vanish without a trace. So we decode, serialize the typed object back
//! and compare: any key the input has (with a non-null value) that the round trip lost is
//! a field the type does not know. Only object keys are compared, never scalar values, so
//! `IntOrString`, quantities ("500m" vs 0.5) and numbers (1 vs 1.0) cannot trip it.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Where and why one object failed to decode, relative to the object's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub path: String,
    pub message: String,
}

/// Decodes `value` into `T`, refusing unknown fields and naming the path of type errors.
pub(crate) fn decode_strict<T: DeserializeOwned + Serialize>(value: &Value) -> Result<T, Failure> {
    let value = normalize_numbers(value.clone());
    let typed: T =
        serde_json::from_value(value.clone()).map_err(|error| type_error::<T>(&value, error))?;
    let round_trip = serde_json::to_value(&typed).map_err(|error| Failure {
        path: String::new(),
        message: error.to_string(),
    })?;
    let mut unknown = Vec::new();
    find_unknown_fields("", &value, &round_trip, &mut unknown);
    let Some((path, key)) = unknown.first() else {
        return Ok(typed);
    };
    let mut message = format!("unknown field {key:?}");
    if unknown.len() > 1 {
        let others: Vec<&str> = unknown[1..].iter().map(|(path, _)| path.as_str()).collect();
        message.push_str(&format!(" (also unknown: {})", others.join(", ")));
    }
    Err(Failure {
        path: path.clone(),
        message,
    })
}

/// Collects `(path, key)` for every non-null key of `input` that `round_trip` lacks.
fn find_unknown_fields(
    path: &str,
    input: &Value,
    round_trip: &Value,
    unknown: &mut Vec<(String, String)>,
) {
    match (input, round_trip) {
        (Value::Object(input), Value::Object(round_trip)) => {
            for (key, value) in input {
                if value.is_null() {
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match round_trip.get(key) {
                    Some(kept) => find_unknown_fields(&child, value, kept, unknown),
                    None => unknown.push((child, key.clone())),
                }
            }
        }
        (Value::Array(input), Value::Array(round_trip)) => {
            for (index, (value, kept)) in input.iter().zip(round_trip).enumerate() {
                find_unknown_fields(&format!("{path}[{index}]"), value, kept, unknown);
            }
        }
        _ => {}
    }
}

/// Turns whole floats (`3.0`) into integers, as the API server's YAML-to-JSON step does,
/// so `replicas: 3.0` is accepted like in kubectl.
fn normalize_numbers(value: Value) -> Value {
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => match number.as_f64() {
            Some(float) if float.fract() == 0.0 && float.abs() < 9.0e15 => {
                Value::from(float as i64)
            }
            _ => Value::Number(number),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, normalize_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// serde_json's errors from a `Value` carry no path, but serde_yaml's deserializer tracks
/// one, so a failed decode is replayed through YAML to learn where it failed.
fn type_error<T: DeserializeOwned>(value: &Value, json_error: serde_json::Error) -> Failure {
    let fallback = Failure {
        path: String::new(),
        message: json_error.to_string(),
    };
    let Ok(yaml) = serde_yaml::to_string(value) else {
        return fallback;
    };
    match serde_yaml::from_str::<T>(&yaml) {
        Ok(_) => fallback,
        Err(yaml_error) => split_yaml_error(&yaml_error.to_string()),
    }
}

/// Splits serde_yaml's "spec.replicas: invalid type: ... at line 3 column 5" into path and
/// message; the line refers to the replayed text, not the user's file, so it is dropped.
fn split_yaml_error(text: &str) -> Failure {
    let text = match text.rfind(" at line ") {
        Some(at) if text[at + 9..].split_once(" column ").is_some() => &text[..at],
        _ => text,
    };
    // A path has no spaces; serde messages ("invalid type: ...") always do.
    match text.split_once(": ") {
        Some((path, message)) if !path.contains(' ') => Failure {
            path: path.to_string(),
            message: message.to_string(),
        },
        _ => Failure {
            path: String::new(),
            message: text.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Pod, Service};
    use serde_json::json;

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
    }

    fn failure<T: DeserializeOwned + Serialize + std::fmt::Debug>(value: Value) -> Failure {
        decode_strict::<T>(&value).expect_err("must be refused")
    }

    #[test]
    fn misspelled_container_field_is_named_with_its_path() {
        let value =
            pod(json!({"containers": [{"name": "c", "image": "i", "imagePullPolcy": "Always"}]}));
        let failure = failure::<Pod>(value);
        assert_eq!(failure.path, "spec.containers[0].imagePullPolcy");
        assert_eq!(failure.message, r#"unknown field "imagePullPolcy""#);
    }

    #[test]
    fn every_unknown_field_is_reported() {
        let mut value = pod(json!({"containers": [{"name": "c", "image": "i"}], "bogus": 1}));
        value["extra"] = json!("x");
        let failure = failure::<Pod>(value);
        assert_eq!(failure.path, "extra");
        assert!(
            failure.message.contains("also unknown: spec.bogus"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn legitimate_shapes_are_not_flagged() {
        let value = pod(json!({
            "containers": [{
                "name": "c", "image": "i", "ports": [], "env": null,
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": 0.25, "memory": 1e3}},
                "livenessProbe": {"httpGet": {"port": "http", "path": "/"}, "periodSeconds": 10.0},
                "readinessProbe": {"tcpSocket": {"port": 8080}},
                "securityContext": {},
            }],
            "nodeSelector": {"disktype": "ssd", "kubernetes.io/arch": "amd64"},
            "volumes": [{"name": "v", "emptyDir": {}}],
        }));
        let mut value = value;
        value["metadata"]["labels"] = json!({"app.kubernetes.io/name": "x", "tier": ""});
        value["metadata"]["creationTimestamp"] = Value::Null;
        value["status"] = json!({});
        decode_strict::<Pod>(&value).unwrap();
    }

    #[test]
    fn service_int_or_string_target_ports_decode() {
        let value = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "targetPort": "web"}, {"port": 81, "targetPort": 8081}]}});
        decode_strict::<Service>(&value).unwrap();
    }

    #[test]
    fn deployment_template_typo_is_found_deep_inside() {
        let value = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolcy": "Never"}]}}}});
        let failure = failure::<Deployment>(value);
        assert_eq!(
            failure.path,
            "spec.template.spec.containers[0].imagePullPolcy"
        );
    }

    #[test]
    fn type_errors_name_their_path() {
        let value = pod(
            json!({"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": "eighty"}]}]}),
        );
        let failure = failure::<Pod>(value);
        assert_eq!(failure.path, "spec.containers[0].ports[0].containerPort");
        assert!(
            failure
                .message
                .starts_with("invalid type: string \"eighty\""),
            "{}",
            failure.message
        );
    }

    #[test]
    fn missing_required_strings_decode_empty_for_validation_to_catch() {
        // k8s-openapi defaults required fields; validation reports them as required.
        let pod = decode_strict::<Pod>(&pod(json!({"containers": [{"image": "i"}]}))).unwrap();
        assert_eq!(pod.spec.unwrap().containers[0].name, "");
    }

    #[test]
    fn wrong_shapes_are_reported_with_their_path() {
        let failure = failure::<Pod>(pod(
            json!({"containers": [{"name": "c", "env": {"A": "b"}}]}),
        ));
        assert_eq!(failure.path, "spec.containers[0].env");
        assert!(
            failure.message.contains("invalid type: map"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn whole_floats_become_integers() {
        let value = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": 3.0, "selector": {}, "template": {}}});
        let deployment = decode_strict::<Deployment>(&value).unwrap();
        assert_eq!(deployment.spec.unwrap().replicas, Some(3));
    }

    #[test]
    fn yaml_error_text_is_split_into_path_and_message() {
        let failure = split_yaml_error(
            "spec.replicas: invalid type: string \"x\", expected i32 at line 3 column 5",
        );
        assert_eq!(failure.path, "spec.replicas");
        assert_eq!(failure.message, "invalid type: string \"x\", expected i32");
        let failure = split_yaml_error("invalid type: sequence, expected struct Pod");
        assert_eq!(failure.path, "");
    }
}
