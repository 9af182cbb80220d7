//! `apply -f` and `delete -f`: manifests from files, directories or stdin.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::Value;
use skiff_proto::model::decode_documents;

use super::apply_object::{self, Prepared};
use super::Api;
use crate::args::Scope;
use crate::kinds::ref_name;

/// A manifest's text and where it came from.
pub struct Source {
    pub name: String,
    pub text: String,
}

/// Reads every `-f` argument: a file, `-` (stdin), or a directory's `*.yaml|*.yml|*.json`, sorted.
pub fn read_sources(args: &[String]) -> anyhow::Result<Vec<Source>> {
    let mut out = Vec::new();
    for arg in args {
        if arg == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading stdin")?;
            out.push(Source {
                name: "-".into(),
                text,
            });
            continue;
        }
        let path = Path::new(arg);
        if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(path)
                .with_context(|| format!("reading directory {arg}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_manifest(p))
                .collect();
            files.sort();
            if files.is_empty() {
                bail!("no *.yaml, *.yml or *.json files in {arg}");
            }
            for f in files {
                out.push(read_file(&f)?);
            }
        } else {
            out.push(read_file(path)?);
        }
    }
    Ok(out)
}

fn is_manifest(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn read_file(p: &Path) -> anyhow::Result<Source> {
    let text = std::fs::read_to_string(p).with_context(|| {
        format!(
            "the path {:?} does not exist or cannot be read",
            p.display().to_string()
        )
    })?;
    Ok(Source {
        name: p.display().to_string(),
        text,
    })
}

/// Applies every source and prints `kind/name action` lines. Every document of every
/// source is decoded, defaulted and validated before anything is written.
pub async fn apply(api: &mut Api, files: &[String], namespace: Option<&str>) -> anyhow::Result<()> {
    let mut prepared: Vec<(String, Vec<Prepared>)> = Vec::new();
    for source in read_sources(files)? {
        let name = if source.name.is_empty() {
            "manifest".to_string()
        } else {
            source.name.clone()
        };
        let objects = decode_documents(&name, &source.text)?;
        if objects.is_empty() {
            bail!("{name}: no objects to apply");
        }
        let objects = objects
            .into_iter()
            .map(|o| apply_object::prepare(&name, o, namespace))
            .collect::<anyhow::Result<Vec<_>>>()?;
        prepared.push((name, objects));
    }
    for (source, objects) in prepared {
        let mut done: Vec<String> = Vec::new();
        for object in &objects {
            let line = match apply_object::write(api, object).await {
                Ok(action) => format!("{} {action}", ref_name(object.kind.kind, &object.name)),
                Err(e) if done.is_empty() => return Err(e),
                Err(e) => {
                    return Err(e.context(format!("{source}: already applied: {}", done.join(", "))))
                }
            };
            println!("{line}");
            done.push(line);
        }
    }
    Ok(())
}

/// (kind, namespace, name) of every document in `text`.
pub fn objects_of(source: &Source) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(&source.text).enumerate() {
        let v = Value::deserialize(doc)
            .with_context(|| format!("{}: document {}", source.name, i + 1))?;
        if v.is_null() {
            continue;
        }
        let field = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (kind, name) = (field("/kind"), field("/metadata/name"));
        if kind.is_empty() || name.is_empty() {
            bail!(
                "{}: document {}: needs kind and metadata.name",
                source.name,
                i + 1
            );
        }
        out.push((kind, field("/metadata/namespace"), name));
    }
    Ok(out)
}

/// Deletes the objects the manifests name.
pub async fn delete_files(
    api: &mut Api,
    files: &[String],
    scope: &Scope,
    propagation: &str,
) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for source in read_sources(files)? {
        for (kind, ns, name) in objects_of(&source)? {
            let namespace = if ns.is_empty() {
                scope.namespace.clone()
            } else {
                ns
            };
            let result = match super::kind(&kind) {
                Ok(k) => api
                    .delete(&k, &namespace, &name, Some(propagation), None)
                    .await
                    .map_err(anyhow::Error::from),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => println!("{} deleted", super::edit::quoted(&kind, &name)),
                Err(e) => failed.push(e.to_string()),
            }
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("\nerror: "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        let s = Source {
            name: "x.yaml".into(),
            text: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\n---\nkind: Namespace\nmetadata:\n  name: b\n"
                .into(),
        };
        let objs = objects_of(&s).unwrap();
        assert_eq!(
            objs,
            [
                ("Pod".into(), "".into(), "a".into()),
                ("Namespace".into(), "".into(), "b".into())
            ]
        );
    }
}
