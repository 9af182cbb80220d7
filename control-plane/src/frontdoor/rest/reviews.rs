//! `authorization.k8s.io/v1` SelfSubjectAccessReview and SelfSubjectRulesReview: a
//! caller asks what they may do (`kubectl auth can-i`), the authorizer answers, nothing
//! is stored. 201 with the review and its `status`, as kube-apiserver answers.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use k8s_openapi::api::authorization::v1::{
    NonResourceRule, ResourceRule, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReview, SubjectAccessReviewStatus, SubjectRulesReviewStatus,
};
use serde_json::{json, Value};

use super::body;
use super::reply::{self, Body};
use super::status::RestError;
use super::Ctx;
use crate::rbac::{Attributes, Decision};

async fn review_body<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
    kind: &str,
) -> Result<T, RestError> {
    let value = body::read_kind(req, "authorization.k8s.io/v1", kind).await?;
    serde_json::from_value(value)
        .map_err(|e| RestError::bad_request(format!("decoding the {kind}: {e}")))
}

/// The attributes a review's spec asks about, for the caller.
fn attributes(ctx: &Ctx, spec: &SelfSubjectAccessReviewSpec) -> Result<Attributes, RestError> {
    let base = Attributes {
        user: ctx.user.name.clone(),
        groups: ctx.user.groups.clone(),
        ..Attributes::default()
    };
    match (&spec.resource_attributes, &spec.non_resource_attributes) {
        (Some(r), None) => Ok(Attributes {
            verb: r.verb.clone().unwrap_or_default(),
            resource_request: true,
            namespace: r.namespace.clone().unwrap_or_default(),
            api_group: r.group.clone().unwrap_or_default(),
            resource: r.resource.clone().unwrap_or_default(),
            subresource: r.subresource.clone().unwrap_or_default(),
            name: r.name.clone().unwrap_or_default(),
            ..base
        }),
        (None, Some(n)) => Ok(Attributes {
            verb: n.verb.clone().unwrap_or_default(),
            path: n.path.clone().unwrap_or_default(),
            ..base
        }),
        (r, _) => Err(RestError::invalid(
            "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
            vec![json!({
                "reason": "FieldValueInvalid",
                "message": "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
                "field": if r.is_some() { "spec.nonResourceAttributes" } else { "spec.resourceAttributes" },
            })],
        )),
    }
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`.
pub async fn access(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<Body>, RestError> {
    let mut review: SelfSubjectAccessReview = review_body(req, "SelfSubjectAccessReview").await?;
    let attrs = attributes(ctx, &review.spec)?;
    let (allowed, reason) = match ctx.authorizer.authorize(&attrs) {
        Decision::Allow(reason) => (true, reason),
        Decision::Deny(reason) => (false, reason),
    };
    review.status = Some(SubjectAccessReviewStatus {
        allowed,
        reason: (!reason.is_empty()).then_some(reason),
        ..SubjectAccessReviewStatus::default()
    });
    Ok(reply::json(StatusCode::CREATED, &created(review)?))
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews`: every rule the caller
/// holds in `spec.namespace`.
pub async fn rules(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<Body>, RestError> {
    let mut review: SelfSubjectRulesReview = review_body(req, "SelfSubjectRulesReview").await?;
    let namespace = review.spec.namespace.clone().unwrap_or_default();
    let held = ctx
        .authorizer
        .rules_for(&ctx.user.name, &ctx.user.groups, &namespace);
    let (mut resource_rules, mut non_resource_rules) = (Vec::new(), Vec::new());
    for rule in held {
        match rule.non_resource_urls {
            Some(urls) if !urls.is_empty() => non_resource_rules.push(NonResourceRule {
                verbs: rule.verbs,
                non_resource_urls: Some(urls),
            }),
            _ => resource_rules.push(ResourceRule {
                verbs: rule.verbs,
                api_groups: rule.api_groups,
                resources: rule.resources,
                resource_names: rule.resource_names,
            }),
        }
    }
    review.status = Some(SubjectRulesReviewStatus {
        resource_rules,
        non_resource_rules,
        incomplete: false,
        evaluation_error: None,
    });
    Ok(reply::json(StatusCode::CREATED, &created(review)?))
}

/// The review as answered: its metadata as a create leaves an unstored object's.
fn created(review: impl serde::Serialize) -> Result<Value, RestError> {
    let mut value =
        serde_json::to_value(review).map_err(|e| RestError::bad_request(e.to_string()))?;
    value["metadata"]["creationTimestamp"] = Value::Null;
    Ok(value)
}
