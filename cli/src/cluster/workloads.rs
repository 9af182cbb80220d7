//! `scale` (a merge patch of the `scale` subresource, `--resource-version` as its
//! precondition, as kubectl's scaler sends it) and `set image` (the containers' images
//! edited client-side and written on the resourceVersion read).

use std::collections::HashMap;

use anyhow::{bail, Context};
use kube::api::{Patch, PatchParams};
use serde_json::{json, Value};
use skiff_proto::kinds::KindInfo;

use super::Api;
use crate::args::Scope;
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
    let scalable = KindInfo::lookup(kind.kind).is_some_and(|k| k.subresource("scale").is_some());
    if !scalable {
        let all: Vec<&str> = skiff_proto::kinds::KINDS
            .iter()
            .filter(|k| k.subresource("scale").is_some())
            .map(|k| k.kind)
            .collect();
        bail!(
            "{} cannot be scaled (scalable kinds: {})",
            kind.kind,
            all.join(", ")
        );
    }
    let mut patch = json!({"spec": {"replicas": replicas}});
    if let Some(rv) = resource_version.filter(|rv| !rv.is_empty()) {
        patch["metadata"] = json!({"resourceVersion": rv});
    }
    api.api(&kind, Some(&scope.namespace))
        .patch_scale(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| api.error(e))?;
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
    let spec_path = pod_spec_path(&kind)?;
    api.edit(&kind, &scope.namespace, &name, |object| {
        set_images(object, spec_path, &images, &kind, &name)
    })
    .await?;
    println!("{} image updated", ref_name(kind.kind, &name));
    Ok(())
}

/// Where the kind keeps the pod spec whose containers `set image` changes.
fn pod_spec_path(kind: &Kind) -> anyhow::Result<&'static str> {
    Ok(match kind.kind {
        "Pod" => "/spec",
        "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet" | "Job" => "/spec/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        other => bail!("{other} has no containers to set images of"),
    })
}

/// Sets the images (`*` for every container); whether anything changed. A container
/// named that is not there is an error, as kubectl's.
fn set_images(
    object: &mut Value,
    spec_path: &str,
    images: &HashMap<String, String>,
    kind: &Kind,
    name: &str,
) -> anyhow::Result<bool> {
    let Some(spec) = object.pointer_mut(spec_path) else {
        bail!("{} {name:?} has no pod template", kind.kind);
    };
    let mut found: Vec<&str> = Vec::new();
    let mut changed = false;
    for list in ["initContainers", "containers"] {
        for container in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let container_name = container["name"].as_str().unwrap_or_default().to_string();
            if let Some((key, image)) = images
                .get_key_value(&container_name)
                .or_else(|| images.get_key_value("*"))
            {
                found.push(key);
                if container["image"].as_str() != Some(image) {
                    container["image"] = Value::String(image.clone());
                    changed = true;
                }
            }
        }
    }
    if let Some(missing) = images
        .keys()
        .find(|c| c.as_str() != "*" && !found.contains(&c.as_str()))
    {
        bail!("unable to find container named {missing:?}");
    }
    Ok(changed)
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

    #[test]
    fn images_are_set_by_container_name() {
        let deploy = kinds::resolve("deploy").unwrap();
        let mut object = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1"}, {"name": "side", "image": "busybox"}
        ]}}}});
        let images = parse_images(&["web=nginx:2".into()]).unwrap();
        let path = pod_spec_path(&deploy).unwrap();
        assert!(set_images(&mut object, path, &images, &deploy, "d").unwrap());
        assert_eq!(
            object["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
        assert_eq!(
            object["spec"]["template"]["spec"]["containers"][1]["image"],
            "busybox"
        );
        assert!(!set_images(&mut object, path, &images, &deploy, "d").unwrap());
        let missing = parse_images(&["nope=x".into()]).unwrap();
        let err = set_images(&mut object, path, &missing, &deploy, "d").unwrap_err();
        assert_eq!(err.to_string(), r#"unable to find container named "nope""#);
    }
}
