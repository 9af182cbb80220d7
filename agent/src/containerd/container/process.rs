//! The container's process as Kubernetes defines it: argv from command/args over the
//! image's Entrypoint/Cmd, environment with `$(VAR)` expansion, working directory, user.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, PodSecurityContext};
use oci_spec::image::Config as ImageConfig;

use super::spec::SpecError;

/// What containerd puts in PATH when the image sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The environment, in order: HOSTNAME, the image's, then the container's own (`env`,
/// resolved by the pod worker; overriding same-named entries in place).
pub(crate) fn environment(
    image: Option<&ImageConfig>,
    container_env: &[(String, String)],
    hostname: &str,
) -> Vec<String> {
    let mut env: Vec<(String, String)> = vec![("HOSTNAME".into(), hostname.into())];
    let image_env = image.and_then(|c| c.env().as_ref());
    for entry in image_env.into_iter().flatten() {
        let (k, v) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
        upsert(&mut env, k, v.to_string());
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    for (k, v) in container_env {
        upsert(&mut env, k, v.clone());
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn upsert(env: &mut Vec<(String, String)>, key: &str, value: String) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => env.push((key.to_string(), value)),
    }
}

/// argv per Kubernetes: `command` replaces Entrypoint, `args` replace Cmd, and a command
/// without args drops the image's Cmd. `$(VAR)` in both expands from the container's own
/// variables (`container_env`).
pub(crate) fn argv(
    image: Option<&ImageConfig>,
    container: &Container,
    container_env: &[(String, String)],
) -> Result<Vec<String>, SpecError> {
    let vars: HashMap<String, String> = container_env.iter().cloned().collect();
    let expand_all = |v: &Vec<String>| v.iter().map(|s| expand(s, &vars)).collect::<Vec<_>>();
    let command = container.command.as_ref().filter(|c| !c.is_empty());
    let args = container.args.as_ref().filter(|a| !a.is_empty());
    let entrypoint = image
        .and_then(|c| c.entrypoint().clone())
        .unwrap_or_default();
    let cmd = image.and_then(|c| c.cmd().clone()).unwrap_or_default();
    let argv = match (command, args) {
        (Some(command), Some(args)) => [expand_all(command), expand_all(args)].concat(),
        (Some(command), None) => expand_all(command),
        (None, Some(args)) => [entrypoint, expand_all(args)].concat(),
        (None, None) => [entrypoint, cmd].concat(),
    };
    if argv.is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(argv)
}

pub(crate) fn working_dir(image: Option<&ImageConfig>, container: &Container) -> String {
    container
        .working_dir
        .clone()
        .filter(|d| !d.is_empty())
        .or_else(|| image.and_then(|c| c.working_dir().clone()))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/".into())
}

/// The resolved process identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// runAsUser/runAsGroup (container over pod) over the image's `User`. Only numeric ids and
/// `root` are understood: resolving names needs the image's /etc/passwd, which lives in
/// the snapshot and is not read here. Without a group the gid is 0.
pub(crate) fn identity(
    image: Option<&ImageConfig>,
    container: &Container,
    pod_sc: Option<&PodSecurityContext>,
) -> Result<Identity, SpecError> {
    let sc = container.security_context.as_ref();
    let run_as_user = sc
        .and_then(|s| s.run_as_user)
        .or(pod_sc.and_then(|p| p.run_as_user));
    let run_as_group = sc
        .and_then(|s| s.run_as_group)
        .or(pod_sc.and_then(|p| p.run_as_group));
    let non_root = sc
        .and_then(|s| s.run_as_non_root)
        .or(pod_sc.and_then(|p| p.run_as_non_root));

    let image_user = image.and_then(|c| c.user().clone()).unwrap_or_default();
    let (mut uid, mut gid) = (0u32, 0u32);
    match run_as_user {
        Some(u) => uid = id_from_i64(u, "runAsUser")?,
        None if !image_user.is_empty() => {
            let (u, g) = image_user
                .split_once(':')
                .unwrap_or((image_user.as_str(), ""));
            uid = parse_id(u).ok_or_else(|| SpecError::User(image_user.clone()))?;
            if !g.is_empty() {
                gid = parse_id(g).ok_or_else(|| SpecError::User(image_user.clone()))?;
            }
        }
        None => {}
    }
    if let Some(g) = run_as_group {
        gid = id_from_i64(g, "runAsGroup")?;
    }
    if non_root == Some(true) && uid == 0 {
        return Err(SpecError::RunsAsRoot);
    }
    let mut additional_gids = Vec::new();
    let pod_groups = pod_sc
        .and_then(|p| p.supplemental_groups.clone())
        .unwrap_or_default();
    let fs_group = pod_sc.and_then(|p| p.fs_group);
    for g in pod_groups.into_iter().chain(fs_group) {
        let g = id_from_i64(g, "supplementalGroups")?;
        if !additional_gids.contains(&g) {
            additional_gids.push(g);
        }
    }
    Ok(Identity {
        uid,
        gid,
        additional_gids,
    })
}

fn parse_id(s: &str) -> Option<u32> {
    if s == "root" {
        return Some(0);
    }
    s.parse().ok()
}

fn id_from_i64(v: i64, field: &str) -> Result<u32, SpecError> {
    u32::try_from(v).map_err(|_| SpecError::Invalid(format!("{field} {v} out of range")))
}

/// Kubernetes' `$(VAR)` expansion: defined references are replaced, undefined ones kept
/// verbatim, `$$` escapes a `$`, any other `$` is literal.
pub fn expand(input: &str, vars: &HashMap<String, String>) -> String {
    expand_with(input, |name| vars.get(name).cloned())
}

/// [`expand`] with a lookup of its own (`None` keeps the reference verbatim), for callers
/// that must know which names were referenced (`subPathExpr`).
pub fn expand_with(input: &str, mut lookup: impl FnMut(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 == bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes[i + 1] {
            b'$' => {
                out.push(b'$');
                i += 2;
            }
            b'(' => match bytes[i + 2..].iter().position(|&b| b == b')') {
                Some(len) => {
                    let name = &input[i + 2..i + 2 + len];
                    match lookup(name) {
                        Some(v) => out.extend_from_slice(v.as_bytes()),
                        None => out.extend_from_slice(&bytes[i..i + 3 + len]),
                    }
                    i += 3 + len;
                }
                None => {
                    out.extend_from_slice(b"$(");
                    i += 2;
                }
            },
            _ => {
                out.push(b'$');
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::SecurityContext;
    use oci_spec::image::ConfigBuilder;

    fn image(entrypoint: &[&str], cmd: &[&str]) -> ImageConfig {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ConfigBuilder::default()
            .entrypoint(strings(entrypoint))
            .cmd(strings(cmd))
            .env(vec!["PATH=/bin".to_string(), "A=image".to_string()])
            .build()
            .unwrap()
    }

    fn container(command: &[&str], args: &[&str]) -> Container {
        let strings =
            |v: &[&str]| (!v.is_empty()).then(|| v.iter().map(|s| s.to_string()).collect());
        Container {
            name: "c".into(),
            command: strings(command),
            args: strings(args),
            ..Default::default()
        }
    }

    #[test]
    fn argv_follows_kubernetes_rules() {
        let img = image(&["/entry"], &["cmd-arg"]);
        let run = |c: &[&str], a: &[&str]| argv(Some(&img), &container(c, a), &[]).unwrap();
        assert_eq!(run(&[], &[]), ["/entry", "cmd-arg"]);
        assert_eq!(run(&["/bin/sh"], &[]), ["/bin/sh"]);
        assert_eq!(run(&[], &["x"]), ["/entry", "x"]);
        assert_eq!(
            run(&["/bin/sh"], &["-c", "true"]),
            ["/bin/sh", "-c", "true"]
        );
        let empty = image(&[], &[]);
        assert!(matches!(
            argv(Some(&empty), &container(&[], &[]), &[]),
            Err(SpecError::NoCommand)
        ));
    }

    #[test]
    fn argv_expands_container_env() {
        let c = container(&["echo", "$(GREETING)", "$$(GREETING)", "$(MISSING)"], &[]);
        let env = [("GREETING".to_string(), "hi".to_string())];
        assert_eq!(
            argv(None, &c, &env).unwrap(),
            ["echo", "hi", "$(GREETING)", "$(MISSING)"]
        );
    }

    #[test]
    fn expansion_edge_cases() {
        let vars: HashMap<String, String> = [("A".to_string(), "1".to_string())].into();
        assert_eq!(expand("$(A)$(A)", &vars), "11");
        assert_eq!(expand("$A $", &vars), "$A $");
        assert_eq!(expand("$(A", &vars), "$(A");
        assert_eq!(expand("$$$(A)", &vars), "$1");
        assert_eq!(expand("é$(A)é", &vars), "é1é");
    }

    #[test]
    fn env_image_then_container() {
        let img = image(&[], &["sh"]);
        let own = [
            ("A".to_string(), "container".to_string()),
            ("B".to_string(), "container-b".to_string()),
        ];
        let env = environment(Some(&img), &own, "pod-0");
        assert_eq!(
            env,
            [
                "HOSTNAME=pod-0",
                "PATH=/bin",
                "A=container",
                "B=container-b"
            ]
        );
        let bare = environment(None, &[], "p");
        assert_eq!(bare, ["HOSTNAME=p", &format!("PATH={DEFAULT_PATH}")]);
    }

    #[test]
    fn working_dir_precedence() {
        let mut img = image(&[], &["sh"]);
        let mut c = container(&[], &[]);
        assert_eq!(working_dir(Some(&img), &c), "/");
        img.set_working_dir(Some("/app".into()));
        assert_eq!(working_dir(Some(&img), &c), "/app");
        c.working_dir = Some("/work".into());
        assert_eq!(working_dir(Some(&img), &c), "/work");
    }

    #[test]
    fn identity_from_image_and_security_context() {
        let mut img = image(&[], &["sh"]);
        let c = container(&[], &[]);
        let id = |img: &ImageConfig, c: &Container, p: Option<&PodSecurityContext>| {
            identity(Some(img), c, p)
        };
        assert_eq!(id(&img, &c, None).unwrap().uid, 0);
        img.set_user(Some("1000:2000".into()));
        let got = id(&img, &c, None).unwrap();
        assert_eq!((got.uid, got.gid), (1000, 2000));
        img.set_user(Some("root".into()));
        assert_eq!(id(&img, &c, None).unwrap().uid, 0);
        img.set_user(Some("nobody".into()));
        assert!(matches!(id(&img, &c, None), Err(SpecError::User(_))));

        let pod = PodSecurityContext {
            run_as_user: Some(5),
            run_as_group: Some(6),
            supplemental_groups: Some(vec![7, 8]),
            fs_group: Some(7),
            ..Default::default()
        };
        let got = id(&img, &c, Some(&pod)).unwrap();
        assert_eq!((got.uid, got.gid, got.additional_gids), (5, 6, vec![7, 8]));

        let mut c2 = container(&[], &[]);
        c2.security_context = Some(SecurityContext {
            run_as_user: Some(9),
            run_as_non_root: Some(true),
            ..Default::default()
        });
        assert_eq!(id(&img, &c2, Some(&pod)).unwrap().uid, 9);
        c2.security_context.as_mut().unwrap().run_as_user = Some(0);
        assert!(matches!(id(&img, &c2, None), Err(SpecError::RunsAsRoot)));
    }
}
