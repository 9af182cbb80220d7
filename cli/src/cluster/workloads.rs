//! `scale` and `set image` against the control plane.

use std::collections::HashMap;

use anyhow::{bail, Context};
use skiff_proto::v1::{ScaleRequest, SetImageRequest};

use super::Api;
use crate::args::Scope;
use crate::client::status_error;
use crate::kinds::{self, ref_name, Kind};

/// `deploy/NAME`, `deployment.apps/NAME`, or `deploy` with the name as the next word.
pub fn target(target: &str, name: Option<&str>) -> anyhow::Result<(Kind, String)> {
    match (target.split_once('/'), name) {
        (Some((kind, name)), None) if !name.is_empty() => {
            Ok((kinds::resolve(kind)?, name.to_string()))
        }
        (Some(_), Some(extra)) => {
            bail!("give either TYPE/NAME or TYPE NAME, not both (got {target:?} and {extra:?})")
        }
        (None, Some(name)) => Ok((kinds::resolve(target)?, name.to_string())),
        _ => bail!(
            "expected TYPE/NAME (like deploy/my-nginx-deployment) or TYPE NAME, got {target:?}"
        ),
    }
}

pub async fn scale(
    api: &mut Api,
    what: &str,
    name: Option<&str>,
    replicas: i64,
    resource_version: Option<&str>,
    scope: &Scope,
) -> anyhow::Result<()> {
    let (kind, name) = target(what, name)?;
    let replicas = i32::try_from(replicas)
        .with_context(|| format!("--replicas {replicas} is out of range"))?;
    let req = ScaleRequest {
        kind: kind.kind.into(),
        namespace: scope.namespace.clone(),
        name: name.clone(),
        replicas,
        resource_version: resource_version.unwrap_or_default().into(),
    };
    api.scale(req).await.map_err(status_error)?;
    println!("{} scaled", ref_name(kind.kind, &name));
    Ok(())
}

/// `set image deploy/NAME C=IMG...` and `set image deployment NAME C=IMG...`.
pub async fn set(
    api: &mut Api,
    what: &str,
    first: &str,
    rest: &[String],
    scope: &Scope,
) -> anyhow::Result<()> {
    if what != "image" {
        bail!("skiff set {what:?} is not supported; only `set image`");
    }
    let (target_name, assignments): (Option<&str>, &[String]) = match (first.contains('/'), rest.split_first()) {
        (true, _) => (None, rest),
        (false, Some((name, assignments))) if !name.contains('=') => (Some(name.as_str()), assignments),
        _ => bail!("expected `set image TYPE/NAME CONTAINER=IMAGE` or `set image TYPE NAME CONTAINER=IMAGE`"),
    };
    let (kind, name) = target(first, target_name)?;
    let images = parse_images(assignments)?;
    let req = SetImageRequest {
        kind: kind.kind.into(),
        namespace: scope.namespace.clone(),
        name: name.clone(),
        images,
    };
    api.set_image(req).await.map_err(status_error)?;
    println!("{} image updated", ref_name(kind.kind, &name));
    Ok(())
}

fn parse_images(assignments: &[String]) -> anyhow::Result<HashMap<String, String>> {
    if assignments.is_empty() {
        bail!("at least one CONTAINER=IMAGE is required");
    }
    assignments
        .iter()
        .map(|a| match a.split_once('=') {
            Some((c, i)) if !c.is_empty() && !i.is_empty() => Ok((c.to_string(), i.to_string())),
            _ => bail!("{a:?} is not CONTAINER=IMAGE"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_take_both_spellings() {
        let (kind, name) = target("deploy/web", None).unwrap();
        assert_eq!((kind.kind, name.as_str()), ("Deployment", "web"));
        let (kind, name) = target("deployment", Some("my-nginx-deployment")).unwrap();
        assert_eq!(
            (kind.kind, name.as_str()),
            ("Deployment", "my-nginx-deployment")
        );
        let (kind, _) = target("rs/x", None).unwrap();
        assert_eq!(kind.kind, "ReplicaSet");
        assert!(target("deploy", None).is_err());
        assert!(target("deploy/x", Some("y")).is_err());
    }

    #[test]
    fn images_are_container_equals_image() {
        let images = parse_images(&["nginx=nginx:1.11".into()]).unwrap();
        assert_eq!(images["nginx"], "nginx:1.11");
        assert!(parse_images(&["nginx".into()]).is_err());
        assert!(parse_images(&[]).is_err());
    }
}
