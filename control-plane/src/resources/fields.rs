//! Field selectors (`fieldSelector=spec.nodeName=n1,status.phase!=Running`) as
//! kube-apiserver supports them: `=`, `==` and `!=` on the fields each kind declares
//! selectable, every term required. An unsupported field is refused, never ignored.

use serde_json::Value;

use crate::core::Error;

/// Fields every kind can be selected by.
const COMMON: &[&str] = &["metadata.name", "metadata.namespace"];

/// The extra selectable fields of a kind, as its registry strategy lists them.
fn selectable(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "Node" => &["spec.unschedulable"],
        "Secret" => &["type"],
        "Namespace" => &["status.phase"],
        "Job" => &["status.successful"],
        "ReplicaSet" => &["status.replicas"],
        _ => &[],
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    field: String,
    equal: bool,
    value: String,
}

/// A parsed field selector; the empty one matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<Term>,
}

impl FieldSelector {
    /// Parses `text` for objects of `kind`.
    pub fn parse(kind: &str, text: &str) -> Result<FieldSelector, Error> {
        let mut terms = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(Error::Invalid(format!(
                    "invalid selector: {part:?}: a field selector term is FIELD=VALUE, FIELD==VALUE or FIELD!=VALUE"
                )));
            };
            let field = field.trim();
            if !COMMON.contains(&field) && !selectable(kind).contains(&field) {
                return Err(Error::Invalid(format!(
                    "field label not supported: {field}"
                )));
            }
            terms.push(Term {
                field: field.to_string(),
                equal,
                value: value.trim().to_string(),
            });
        }
        Ok(FieldSelector { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether the object `value` has every selected field value.
    pub fn matches(&self, value: &Value) -> bool {
        self.terms
            .iter()
            .all(|term| (field_value(value, &term.field) == term.value) == term.equal)
    }
}

/// A field's value as a selector compares it: strings as they are, numbers and booleans
/// as text, a missing field as "".
fn field_value(value: &Value, field: &str) -> String {
    let path = match field {
        "source" => "source.component",
        other => other,
    };
    let found = path.split('.').try_fold(value, |v, part| v.get(part));
    match found {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        None if field == "spec.unschedulable" || field == "spec.hostNetwork" => "false".into(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn terms_select_by_equality_and_inequality() {
        let pod = json!({"metadata": {"name": "web", "namespace": "default"},
                         "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let s = FieldSelector::parse("Pod", "spec.nodeName=n1,status.phase!=Pending").unwrap();
        assert!(s.matches(&pod));
        let s = FieldSelector::parse("Pod", "spec.nodeName==n2").unwrap();
        assert!(!s.matches(&pod));
        assert!(FieldSelector::parse("Pod", "").unwrap().matches(&pod));
        let s = FieldSelector::parse("Node", "spec.unschedulable=false").unwrap();
        assert!(s.matches(&json!({"metadata": {"name": "n"}})));
    }

    #[test]
    fn events_select_by_their_object() {
        let event = json!({"involvedObject": {"kind": "Pod", "name": "web", "uid": "u1"}, "source": {"component": "kubelet"}});
        let s = FieldSelector::parse(
            "Event",
            "involvedObject.name=web,involvedObject.kind=Pod,source=kubelet",
        )
        .unwrap();
        assert!(s.matches(&event));
    }

    #[test]
    fn unsupported_fields_and_malformed_terms_are_refused() {
        let e = FieldSelector::parse("ConfigMap", "data.x=1")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "field label not supported: data.x");
        assert!(FieldSelector::parse("Pod", "spec.nodeName").is_err());
    }
}
