//! `create configmap` and `create secret generic|tls`: objects made from files and
//! literals as kubectl makes them, then created (an existing object is an error).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;

use super::Api;
use crate::args::{CreateOpts, CreateWhat, DataSources, SecretKind};

/// Keys and bytes in the order kubectl reads them: files, then literals, then env files.
type Entries = BTreeMap<String, Vec<u8>>;

/// The object to create, built before any request so `--dry-run=client` needs no cluster.
pub struct Built {
    pub(super) name: String,
    pub(super) opts: CreateOpts,
    pub(super) object: serde_json::Value,
}

pub fn build(what: CreateWhat) -> anyhow::Result<Built> {
    let (name, opts, object) = match what {
        CreateWhat::Job { from, .. } => bail!("create job --from={from} reads the cluster"),
        CreateWhat::Configmap { name, data, opts } => {
            let cm = config_map(&name, &opts.namespace, &data)?;
            (name, opts, serde_json::to_value(cm)?)
        }
        CreateWhat::Secret {
            kind:
                SecretKind::Generic {
                    name,
                    data,
                    type_,
                    opts,
                },
        } => {
            let s = secret(&name, &opts.namespace, &type_, entries(&data)?)?;
            (name, opts, serde_json::to_value(s)?)
        }
        CreateWhat::Secret {
            kind:
                SecretKind::Tls {
                    name,
                    cert,
                    key,
                    opts,
                },
        } => {
            let entries = Entries::from([
                ("tls.crt".to_string(), read(Path::new(&cert))?),
                ("tls.key".to_string(), read(Path::new(&key))?),
            ]);
            let s = secret(&name, &opts.namespace, "kubernetes.io/tls", entries)?;
            (name, opts, serde_json::to_value(s)?)
        }
    };
    Ok(Built { name, opts, object })
}

impl Built {
    pub fn is_client_dry_run(&self) -> bool {
        self.opts.dry_run.as_deref() == Some("client")
    }

    fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }

    /// What `--dry-run=client` prints: the object, or kubectl's one line.
    pub fn print_dry_run(&self) -> anyhow::Result<()> {
        match self.opts.output.as_deref() {
            Some("json") => println!("{}", serde_json::to_string_pretty(&self.object)?),
            Some(_) => print!("{}", serde_yaml::to_string(&self.object)?),
            None => println!(
                "{}/{} created (dry run)",
                self.kind().to_ascii_lowercase(),
                self.name
            ),
        }
        Ok(())
    }
}

pub async fn run(api: &mut Api, what: CreateWhat) -> anyhow::Result<()> {
    let built = match what {
        CreateWhat::Job { name, from, opts } => {
            super::create_job::from_cron_job(api, name, &from, opts).await?
        }
        other => build(other)?,
    };
    if built.is_client_dry_run() {
        return built.print_dry_run();
    }
    let Built { name, opts, object } = built;
    let kind = super::kind(object["kind"].as_str().unwrap_or_default())?;
    api.create(&kind, &opts.namespace, &object).await?;
    println!("{}/{name} created", kind.kind.to_ascii_lowercase());
    Ok(())
}

fn meta(name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        ..Default::default()
    }
}

/// A ConfigMap: UTF-8 values in `data`, anything else in `binaryData`.
pub fn config_map(name: &str, namespace: &str, sources: &DataSources) -> anyhow::Result<ConfigMap> {
    let mut data = BTreeMap::new();
    let mut binary = BTreeMap::new();
    for (key, bytes) in entries(sources)? {
        match String::from_utf8(bytes) {
            Ok(text) => {
                data.insert(key, text);
            }
            Err(e) => {
                binary.insert(key, ByteString(e.into_bytes()));
            }
        }
    }
    Ok(ConfigMap {
        metadata: meta(name, namespace),
        data: (!data.is_empty()).then_some(data),
        binary_data: (!binary.is_empty()).then_some(binary),
        ..Default::default()
    })
}

pub fn secret(
    name: &str,
    namespace: &str,
    type_: &str,
    entries: Entries,
) -> anyhow::Result<Secret> {
    let data: BTreeMap<String, ByteString> = entries
        .into_iter()
        .map(|(k, v)| (k, ByteString(v)))
        .collect();
    Ok(Secret {
        metadata: meta(name, namespace),
        type_: Some(type_.to_string()),
        data: (!data.is_empty()).then_some(data),
        ..Default::default()
    })
}

/// Reads every source; a key given twice is an error, as in kubectl.
pub fn entries(sources: &DataSources) -> anyhow::Result<Entries> {
    let mut out = Entries::new();
    let mut add = |key: String, value: Vec<u8>| -> anyhow::Result<()> {
        check_key(&key)?;
        if out.insert(key.clone(), value).is_some() {
            bail!("cannot add key {key}, another key by that name already exists");
        }
        Ok(())
    };
    for spec in &sources.from_file {
        let (key, path) = match spec.split_once('=') {
            Some((k, p)) => (Some(k.to_string()), p),
            None => (None, spec.as_str()),
        };
        let path = Path::new(path);
        if path.is_dir() {
            if key.is_some() {
                bail!("cannot give a key name for a directory path");
            }
            let mut files: Vec<_> = std::fs::read_dir(path)
                .with_context(|| format!("reading directory {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            for file in files {
                let key = file_key(&file)?;
                add(key, read(&file)?)?;
            }
        } else {
            let key = match key {
                Some(k) => k,
                None => file_key(path)?,
            };
            add(key, read(path)?)?;
        }
    }
    for literal in &sources.from_literal {
        let Some((key, value)) = literal.split_once('=') else {
            bail!("invalid literal source {literal}, expected key=value");
        };
        add(key.to_string(), value.as_bytes().to_vec())?;
    }
    for file in &sources.from_env_file {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            if key.is_empty() || key.contains(char::is_whitespace) {
                bail!("{file}:{}: {key:?} is not a valid key name", n + 1);
            }
            add(key.to_string(), value.as_bytes().to_vec())?;
        }
    }
    Ok(out)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("error reading {}", path.display()))
}

fn file_key(path: &Path) -> anyhow::Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .with_context(|| format!("{} has no usable file name for a key", path.display()))
}

/// Kubernetes' rule for ConfigMap and Secret keys.
fn check_key(key: &str) -> anyhow::Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && key != "."
        && key != ".."
        && !key.starts_with("..");
    if !ok {
        bail!(
            "{key:?} is not a valid key name: a valid config key must consist of alphanumeric \
             characters, '-', '_' or '.'"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(files: &[&str], literals: &[&str]) -> DataSources {
        DataSources {
            from_file: files.iter().map(|s| s.to_string()).collect(),
            from_literal: literals.iter().map(|s| s.to_string()).collect(),
            from_env_file: vec![],
        }
    }

    #[test]
    fn files_directories_and_literals_become_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("game.properties"), "enemies=aliens\n").unwrap();
        std::fs::write(dir.path().join("ui.properties"), "color.good=purple\n").unwrap();
        std::fs::write(dir.path().join("blob"), [0xff, 0x00]).unwrap();
        let d = dir.path().display().to_string();
        let cm = config_map("game-config", "default", &sources(&[&d], &["a=b=c"])).unwrap();
        let data = cm.data.unwrap();
        assert_eq!(data["game.properties"], "enemies=aliens\n");
        assert_eq!(data["ui.properties"], "color.good=purple\n");
        assert_eq!(data["a"], "b=c");
        assert_eq!(cm.binary_data.unwrap()["blob"].0, vec![0xff, 0x00]);

        let renamed = format!("g={d}/game.properties");
        let cm = config_map("x", "default", &sources(&[&renamed], &[])).unwrap();
        assert_eq!(cm.data.unwrap().keys().collect::<Vec<_>>(), ["g"]);
    }

    #[test]
    fn duplicate_and_invalid_keys_are_refused() {
        let err = entries(&sources(&[], &["a=1", "a=2"])).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let err = entries(&sources(&[], &["a b=1"])).unwrap_err();
        assert!(err.to_string().contains("not a valid key name"), "{err}");
        let err = entries(&sources(&[], &["novalue"])).unwrap_err();
        assert!(err.to_string().contains("key=value"), "{err}");
    }

    #[test]
    fn secrets_carry_bytes_and_type() {
        let s = secret(
            "db",
            "default",
            "Opaque",
            entries(&sources(&[], &["password=s3cr=t"])).unwrap(),
        )
        .unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["data"]["password"], "czNjcj10");
        assert_eq!(json["type"], "Opaque");
    }
}
