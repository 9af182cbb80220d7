//! Which state a list reads, as kube-apiserver over etcd decides it:
//!
//! - no `continue`: the current state, unless `resourceVersion` with
//!   `resourceVersionMatch=Exact` names a past revision (read as it was then); a
//!   `resourceVersion` the store has not reached yet is refused with kube-apiserver's 504
//!   "Too large resource version";
//! - `continue`: the first page's revision, which the token carries, so every page shows
//!   the same state (the store rebuilds it from its event log, `store/history.rs`). Once
//!   that revision is compacted away: 410 Expired, with a token in the Status's
//!   `metadata.continue` that goes on from the same key at the current state (revision
//!   -1), for a client that accepts an inconsistent list.

use http::StatusCode;
use serde_json::json;

use super::super::route::Query;
use super::super::status::RestError;
use crate::core::Error;
use crate::resources::{self, Scope};
use crate::store::{Store, Stored};

/// kube-apiserver's words for a continue token whose revision is compacted.
const INCONSISTENT_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// kube-apiserver's words for an `Exact` list at a compacted revision.
const EXPIRED: &str = "The resourceVersion for the provided list is too old.";

/// Where a page starts: after this namespace and name, at the first page's revision
/// (-1: at the current state, after an expired token).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Continue {
    pub rv: i64,
    pub ns: String,
    pub name: String,
}

impl Continue {
    pub fn encode(&self) -> String {
        hex::encode(serde_json::to_vec(self).expect("a token always serializes"))
    }

    fn decode(text: &str) -> Result<Continue, RestError> {
        hex::decode(text)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| {
                RestError::bad_request(format!(
                    "continue key is not valid: {text:?} was not returned by this server"
                ))
            })
    }
}

/// A list's objects in scope, sorted, the revision they are at, and the key the page
/// starts after.
pub(super) struct Snapshot {
    pub items: Vec<Stored>,
    pub revision: i64,
    pub after: Option<(String, String)>,
}

impl Snapshot {
    /// The objects after the token's key.
    pub fn rest(&self) -> &[Stored] {
        let start = match &self.after {
            Some((ns, name)) => self.items.partition_point(|o| {
                (o.key.namespace.as_str(), o.key.name.as_str()) <= (ns.as_str(), name.as_str())
            }),
            None => 0,
        };
        &self.items[start..]
    }
}

/// Reads the state a list request asks for (see the module docs).
pub(super) async fn read(
    store: &dyn Store,
    scope: &Scope,
    query: &Query,
) -> Result<Snapshot, RestError> {
    let token = query.get("continue").filter(|t| !t.is_empty());
    let version = query.get("resourceVersion").unwrap_or_default();
    let matching = query.get("resourceVersionMatch").unwrap_or_default();
    validate(query, version, matching, token.is_some())?;
    if let Some(token) = token.map(Continue::decode).transpose()? {
        if !version.is_empty() && version != "0" {
            return Err(RestError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        return continued(store, scope, token).await;
    }
    let wanted = resources::objects::parse_revision(version).map_err(RestError::from)?;
    let (items, revision) = match (wanted, matching) {
        (Some(at), "Exact") => {
            let current = store.current_revision().await.map_err(internal)?;
            if at > current {
                return Err(too_large(at, current));
            }
            match resources::list_at(store, scope, at).await {
                Ok(items) => (items, at),
                Err(Error::Expired(_)) => {
                    return Err(RestError::new(StatusCode::GONE, "Expired", EXPIRED))
                }
                Err(e) => return Err(e.into()),
            }
        }
        (wanted, _) => {
            let (items, revision) = resources::list_stored(store, scope).await?;
            match wanted {
                Some(at) if at > revision => return Err(too_large(at, revision)),
                _ => (items, revision),
            }
        }
    };
    Ok(Snapshot {
        items,
        revision,
        after: None,
    })
}

/// A later page: the first page's state, or 410 once it is compacted away.
async fn continued(
    store: &dyn Store,
    scope: &Scope,
    token: Continue,
) -> Result<Snapshot, RestError> {
    let after = Some((token.ns.clone(), token.name.clone()));
    if token.rv < 0 {
        let (items, revision) = resources::list_stored(store, scope).await?;
        return Ok(Snapshot {
            items,
            revision,
            after,
        });
    }
    match resources::list_at(store, scope, token.rv).await {
        Ok(items) => Ok(Snapshot {
            items,
            revision: token.rv,
            after,
        }),
        Err(Error::Expired(_)) => {
            let inconsistent = Continue { rv: -1, ..token };
            Err(
                RestError::new(StatusCode::GONE, "Expired", INCONSISTENT_CONTINUE)
                    .with_continue(inconsistent.encode()),
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// kube-apiserver's `ValidateListOptions`: a 422 about `ListOptions` naming each field.
fn validate(
    query: &Query,
    version: &str,
    matching: &str,
    continued: bool,
) -> Result<(), RestError> {
    let mut errors: Vec<(&str, &str, String)> = vec![];
    let forbidden = "FieldValueForbidden";
    if !matching.is_empty() {
        if version.is_empty() {
            errors.push((
                "resourceVersionMatch",
                forbidden,
                "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
                    .into(),
            ));
        }
        if continued {
            errors.push((
                "resourceVersionMatch",
                forbidden,
                "Forbidden: resourceVersionMatch is forbidden when continue is provided".into(),
            ));
        }
        if !matches!(matching, "Exact" | "NotOlderThan") {
            errors.push((
                "resourceVersionMatch",
                "FieldValueNotSupported",
                format!(
                    "Unsupported value: {matching:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""
                ),
            ));
        }
        if matching == "Exact" && version == "0" {
            errors.push((
                "resourceVersionMatch",
                forbidden,
                "Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""
                    .into(),
            ));
        }
    }
    if query.get("sendInitialEvents").is_some() {
        errors.push((
            "sendInitialEvents",
            forbidden,
            "Forbidden: sendInitialEvents is forbidden for list".into(),
        ));
    }
    if errors.is_empty() {
        return Ok(());
    }
    let described: Vec<String> = errors
        .iter()
        .map(|(field, _, message)| format!("{field}: {message}"))
        .collect();
    let message = match described.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    let causes = errors
        .into_iter()
        .map(|(field, reason, message)| json!({"reason": reason, "message": message, "field": field}))
        .collect();
    Err(RestError::invalid(
        format!("ListOptions.meta.k8s.io \"\" is invalid: {message}"),
        causes,
    )
    .about("meta.k8s.io", "ListOptions", ""))
}

/// The watch cache's answer to a revision it has not reached (clients retry).
fn too_large(wanted: i64, current: i64) -> RestError {
    let mut e = RestError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "Timeout",
        format!("Too large resource version: {wanted}, current: {current}"),
    );
    e.details = Some(json!({
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": 1,
    }));
    e
}

fn internal(e: crate::store::StoreError) -> RestError {
    RestError::from(Error::from(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_foreign_ones_are_refused() {
        let token = Continue {
            rv: 7,
            ns: "default".into(),
            name: "web-3".into(),
        };
        assert_eq!(Continue::decode(&token.encode()).unwrap(), token);
        let e = Continue::decode("nonsense").unwrap_err();
        assert_eq!(e.code, 400);
    }

    #[test]
    fn list_options_are_validated_as_kube_apiserver_does() {
        let check = |q: &str| {
            let query = Query::parse(Some(q));
            let version = query.get("resourceVersion").unwrap_or_default().to_string();
            let matching = query
                .get("resourceVersionMatch")
                .unwrap_or_default()
                .to_string();
            let continued = query.get("continue").is_some();
            validate(&query, &version, &matching, continued)
        };
        assert!(check("resourceVersion=5&resourceVersionMatch=Exact").is_ok());
        assert!(check("resourceVersion=5&resourceVersionMatch=NotOlderThan").is_ok());
        let e = check("resourceVersionMatch=Exact").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
        );
        let e = check("resourceVersion=0&resourceVersionMatch=Exact").unwrap_err();
        assert!(
            e.message.contains("forbidden for resourceVersion \"0\""),
            "{}",
            e.message
        );
        let e = check("resourceVersion=3&resourceVersionMatch=Sometime&continue=x").unwrap_err();
        let causes = e.to_status()["details"]["causes"].clone();
        assert_eq!(causes.as_array().unwrap().len(), 2, "{causes}");
        assert!(e
            .message
            .starts_with("ListOptions.meta.k8s.io \"\" is invalid: ["));
        assert_eq!(check("sendInitialEvents=true").unwrap_err().code, 422);
    }

    #[test]
    fn an_expired_token_offers_an_inconsistent_one_in_the_status() {
        let e = RestError::new(StatusCode::GONE, "Expired", INCONSISTENT_CONTINUE)
            .with_continue("abc".into());
        let status = e.to_status();
        assert_eq!(status["code"], 410);
        assert_eq!(status["metadata"]["continue"], "abc");
    }
}
