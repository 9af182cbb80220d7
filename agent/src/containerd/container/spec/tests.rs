use super::*;
use k8s_openapi::api::core::v1::{Capabilities as K8sCaps, PodSpec, SecurityContext};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use oci_spec::image::{ConfigBuilder, ImageConfigurationBuilder};

fn pod() -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some("web-0".into()),
            uid: Some("uid-1".into()),
            ..Default::default()
        },
        spec: Some(PodSpec::default()),
        ..Default::default()
    }
}

fn image() -> ImageConfiguration {
    let config = ConfigBuilder::default()
        .cmd(vec!["sh".to_string()])
        .env(vec!["PATH=/bin".to_string()])
        .build()
        .unwrap();
    ImageConfigurationBuilder::default()
        .config(config)
        .build()
        .unwrap()
}

fn sandbox() -> Sandbox {
    Sandbox {
        uid: "uid-1".into(),
        net: "/s/uid-1/net".into(),
        uts: "/s/uid-1/uts".into(),
        ipc: "/s/uid-1/ipc".into(),
    }
}

fn build(pod: &Pod, container: &Container, mounts: Vec<Mount>) -> Spec {
    build_spec(SpecInput {
        container_id: "uid-1-app-0",
        pod,
        container,
        env: &crate::pods::env::plain_env(container),
        image: &image(),
        sandbox: &sandbox(),
        mounts,
    })
    .unwrap()
}

fn app() -> Container {
    Container {
        name: "app".into(),
        ..Default::default()
    }
}

fn with_sc(sc: SecurityContext) -> Container {
    Container {
        security_context: Some(sc),
        ..app()
    }
}

fn caps_of(spec: &Spec) -> Capabilities {
    let caps = spec
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .as_ref()
        .unwrap();
    assert_eq!(caps.bounding(), caps.effective());
    assert_eq!(caps.bounding(), caps.permitted());
    assert!(caps.ambient().is_none() && caps.inheritable().is_none());
    caps.bounding().clone().unwrap()
}

#[test]
fn default_spec_follows_containerd_profile() {
    let spec = build(&pod(), &app(), vec![]);
    assert!(spec.hostname().is_none());
    let process = spec.process().as_ref().unwrap();
    assert_eq!(process.args().as_ref().unwrap(), &["sh"]);
    assert_eq!(
        process.env().as_ref().unwrap(),
        &["HOSTNAME=web-0", "PATH=/bin"]
    );
    assert_eq!(process.cwd(), Path::new("/"));
    assert_eq!(process.terminal(), Some(false));
    assert_eq!(process.no_new_privileges(), Some(true));
    assert_eq!((process.user().uid(), process.user().gid()), (0, 0));
    let rlimits = process.rlimits().as_ref().unwrap();
    assert_eq!(rlimits[0].typ(), PosixRlimitType::RlimitNofile);
    assert_eq!((rlimits[0].soft(), rlimits[0].hard()), (1024, 1024));
    assert_eq!(caps_of(&spec), DEFAULT_CAPABILITIES.into_iter().collect());

    let linux = spec.linux().as_ref().unwrap();
    assert_eq!(linux.masked_paths().as_ref().unwrap().len(), 9);
    assert!(linux
        .readonly_paths()
        .as_ref()
        .unwrap()
        .contains(&"/proc/sys".to_string()));
    assert_eq!(
        linux.cgroups_path().as_deref(),
        Some(Path::new("/skiff/poduid-1/uid-1-app-0"))
    );
    let namespaces: Vec<_> = linux
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| (n.typ(), n.path().clone()))
        .collect();
    assert_eq!(
        namespaces,
        vec![
            (LinuxNamespaceType::Mount, None),
            (LinuxNamespaceType::Pid, None),
            (LinuxNamespaceType::Network, Some("/s/uid-1/net".into())),
            (LinuxNamespaceType::Uts, Some("/s/uid-1/uts".into())),
            (LinuxNamespaceType::Ipc, Some("/s/uid-1/ipc".into())),
        ]
    );
    let dests: Vec<_> = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.destination().display().to_string())
        .collect();
    assert_eq!(
        dests,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "/sys/fs/cgroup"
        ]
    );
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(false));
}

#[test]
fn spec_json_has_oci_names() {
    let spec = build(&pod(), &app(), vec![]);
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(json["linux"]["namespaces"][2]["type"], "network");
    assert_eq!(json["linux"]["namespaces"][0]["type"], "mount");
    assert_eq!(json["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
    assert!(json["process"]["capabilities"]["bounding"]
        .as_array()
        .unwrap()
        .contains(&"CAP_NET_RAW".into()));
    assert_eq!(json["root"]["path"], "rootfs");
    assert!(json.get("hostname").is_none());
}

/// The runc v2 shim groups containers by this annotation: every container of a pod names
/// the pod's uid, so a pod with sidecars or init containers runs under one shim.
#[test]
fn containers_of_a_pod_share_one_shim_group() {
    let app_spec = serde_json::to_value(build(&pod(), &app(), vec![])).unwrap();
    assert_eq!(
        app_spec["annotations"],
        serde_json::json!({"io.containerd.runc.v2.group": "uid-1"})
    );
    let sidecar = Container {
        name: "sidecar".into(),
        ..Default::default()
    };
    let sidecar_spec = serde_json::to_value(build(&pod(), &sidecar, vec![])).unwrap();
    assert_eq!(sidecar_spec["annotations"], app_spec["annotations"]);

    let mut other = sandbox();
    other.uid = "uid-2".into();
    let other_spec = build_spec(SpecInput {
        container_id: "uid-2-app-0",
        pod: &pod(),
        container: &app(),
        env: &[],
        image: &image(),
        sandbox: &other,
        mounts: vec![],
    })
    .unwrap();
    assert_eq!(
        other_spec.annotations().as_ref().unwrap()[SHIM_GROUP],
        "uid-2",
        "another pod gets a shim of its own"
    );
}

#[test]
fn capabilities_add_and_drop() {
    let caps = |add: &[&str], drop: &[&str]| {
        let sc = SecurityContext {
            capabilities: Some(K8sCaps {
                add: Some(add.iter().map(|s| s.to_string()).collect()),
                drop: Some(drop.iter().map(|s| s.to_string()).collect()),
            }),
            ..Default::default()
        };
        caps_of(&build(&pod(), &with_sc(sc), vec![]))
    };
    let got = caps(&["NET_ADMIN", "cap_sys_time"], &["MKNOD"]);
    assert!(got.contains(&Capability::NetAdmin) && got.contains(&Capability::SysTime));
    assert!(!got.contains(&Capability::Mknod));
    assert_eq!(caps(&[], &["ALL"]).len(), 0);
    assert_eq!(
        caps(&["NET_BIND_SERVICE"], &["ALL"]),
        [Capability::NetBindService].into()
    );
    let all_but_chown = caps(&["ALL"], &["CHOWN"]);
    assert_eq!(all_but_chown.len(), ALL_CAPABILITY_NAMES.len() - 1);

    let sc = SecurityContext {
        capabilities: Some(K8sCaps {
            add: Some(vec!["NOT_A_CAP".into()]),
            drop: None,
        }),
        ..Default::default()
    };
    let err = build_spec(SpecInput {
        container_id: "x",
        pod: &pod(),
        container: &with_sc(sc),
        env: &[],
        image: &image(),
        sandbox: &sandbox(),
        mounts: vec![],
    });
    assert!(matches!(err, Err(SpecError::Capability(_))));
}

#[test]
fn every_capability_name_parses() {
    assert_eq!(all_capabilities().len(), ALL_CAPABILITY_NAMES.len());
}

#[test]
fn privileged_lifts_the_profile() {
    let spec = build(
        &pod(),
        &with_sc(SecurityContext {
            privileged: Some(true),
            ..Default::default()
        }),
        vec![],
    );
    assert_eq!(caps_of(&spec).len(), ALL_CAPABILITY_NAMES.len());
    let process = spec.process().as_ref().unwrap();
    assert_eq!(process.no_new_privileges(), Some(false));
    let linux = spec.linux().as_ref().unwrap();
    assert!(linux.masked_paths().is_none() && linux.readonly_paths().is_none());
    let sys = &spec.mounts().as_ref().unwrap()[5];
    assert!(sys.options().as_ref().unwrap().contains(&"rw".to_string()));
}

#[test]
fn escalation_readonly_root_and_host_namespaces() {
    let spec = build(
        &pod(),
        &with_sc(SecurityContext {
            allow_privilege_escalation: Some(true),
            read_only_root_filesystem: Some(true),
            ..Default::default()
        }),
        vec![],
    );
    assert_eq!(
        spec.process().as_ref().unwrap().no_new_privileges(),
        Some(false)
    );
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));

    let mut host = pod();
    let ps = host.spec.as_mut().unwrap();
    ps.host_network = Some(true);
    ps.host_pid = Some(true);
    let spec = build(&host, &app(), vec![]);
    let types: Vec<_> = spec
        .linux()
        .as_ref()
        .unwrap()
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| n.typ())
        .collect();
    assert_eq!(types, [LinuxNamespaceType::Mount, LinuxNamespaceType::Ipc]);
}

#[test]
fn caller_mounts_come_last_and_replace_defaults() {
    let bind = |dest: &str| {
        MountBuilder::default()
            .destination(dest)
            .typ("bind")
            .source("/host/x")
            .options(vec!["rbind".to_string(), "ro".to_string()])
            .build()
            .unwrap()
    };
    let spec = build(&pod(), &app(), vec![bind("/etc/hosts"), bind("/dev/shm")]);
    let mounts = spec.mounts().as_ref().unwrap();
    let dests: Vec<_> = mounts.iter().map(|m| m.destination().clone()).collect();
    assert_eq!(dests.len(), 8);
    assert_eq!(dests[6], PathBuf::from("/etc/hosts"));
    assert_eq!(dests[7], PathBuf::from("/dev/shm"));
    assert_eq!(mounts[7].typ().as_deref(), Some("bind"));
}

#[test]
fn hostname_env_uses_pod_hostname() {
    let mut p = pod();
    p.spec.as_mut().unwrap().hostname = Some("custom".into());
    let spec = build(&p, &app(), vec![]);
    let env = spec.process().as_ref().unwrap().env().clone().unwrap();
    assert_eq!(env[0], "HOSTNAME=custom");
}
