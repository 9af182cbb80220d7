//! A container's environment from every source, on a joined node with a real container:
//! `envFrom` (ConfigMap, Secret with a prefix), `env` values with `$(VAR)`, ConfigMap and
//! Secret keys, pod fields and resources, all printed by `env` into the container's log.
//! A pod whose ConfigMap does not exist yet waits in CreateContainerConfigError and runs
//! once `skiff apply` creates it.

use std::time::Duration;

use anyhow::{bail, ensure};
use serde_json::Value;
use skiff_e2e::pods::{container_status, phase};
use skiff_e2e::{wait_for, ClusterEnv, TestControlPlane};

const SOURCES: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: env-settings
data:
  MODE: fast
  LEVEL: "3"
  1st: skipped-not-an-env-name
---
apiVersion: v1
kind: Secret
metadata:
  name: env-creds
type: Opaque
data:
  password: czNjcmV0    # s3cret
  user: YWRtaW4=        # admin
---
# The pod's account: a pod naming one that does not exist is refused, as in Kubernetes.
apiVersion: v1
kind: ServiceAccount
metadata:
  name: builder
"#;

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: env-all
  labels:
    app: shop
  annotations:
    owner: team-a
spec:
  restartPolicy: Never
  serviceAccountName: builder
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "env | sort; echo env-done; sleep 3600"]
    resources:
      limits:
        cpu: 250m
        memory: 64Mi
    envFrom:
    - configMapRef:
        name: env-settings
    - prefix: DB_
      secretRef:
        name: env-creds
    env:
    - name: MODE
      value: slow
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: GREETING
      value: "$(POD_NAME) in $(MODE) mode as $(DB_user)"
    - name: LEVEL_KEY
      valueFrom:
        configMapKeyRef:
          name: env-settings
          key: LEVEL
    - name: PASSWORD
      valueFrom:
        secretKeyRef:
          name: env-creds
          key: password
    - name: OPTIONAL_GONE
      valueFrom:
        configMapKeyRef:
          name: env-nowhere
          key: k
          optional: true
    - name: POD_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    - name: POD_UID
      valueFrom:
        fieldRef:
          fieldPath: metadata.uid
    - name: APP
      valueFrom:
        fieldRef:
          fieldPath: metadata.labels['app']
    - name: OWNER
      valueFrom:
        fieldRef:
          fieldPath: metadata.annotations['owner']
    - name: NODE
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
    - name: SA
      valueFrom:
        fieldRef:
          fieldPath: spec.serviceAccountName
    - name: POD_IP
      valueFrom:
        fieldRef:
          fieldPath: status.podIP
    - name: POD_IPS
      valueFrom:
        fieldRef:
          fieldPath: status.podIPs
    - name: HOST_IP
      valueFrom:
        fieldRef:
          fieldPath: status.hostIP
    - name: CPU_MILLI
      valueFrom:
        resourceFieldRef:
          resource: limits.cpu
          divisor: 1m
    - name: MEM_MI
      valueFrom:
        resourceFieldRef:
          resource: limits.memory
          divisor: 1Mi
    - name: MEM_REQUEST
      valueFrom:
        resourceFieldRef:
          resource: requests.memory
"#;

const LATE_POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: env-late
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo color=$COLOR; sleep 3600"]
    env:
    - name: COLOR
      valueFrom:
        configMapKeyRef:
          name: env-late-settings
          key: color
"#;

const LATE_CONFIG: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: env-late-settings
data:
  color: teal
"#;

fn wait_running(cp: &TestControlPlane, name: &str) -> anyhow::Result<Value> {
    wait_for(
        &format!("{name} Running"),
        Duration::from_secs(90),
        Duration::from_millis(300),
        || {
            let pod = cp.get_json("pod", name)?;
            if phase(&pod) == "Running" {
                Ok(pod)
            } else {
                bail!("status: {}", pod["status"])
            }
        },
    )
}

/// The container's log once `marker` shows in it.
fn logs_with(cp: &TestControlPlane, pod: &str, marker: &str) -> anyhow::Result<String> {
    wait_for(
        &format!("{marker} in the log of {pod}"),
        Duration::from_secs(30),
        Duration::from_millis(300),
        || {
            let logs = cp.skiff(&["logs", pod])?;
            if logs.contains(marker) {
                Ok(logs)
            } else {
                bail!("logs: {logs:?}")
            }
        },
    )
}

#[test]
fn every_env_source_reaches_the_container() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        cp.apply_yaml("sources.yaml", SOURCES)?;
        cp.apply_yaml("env-all.yaml", POD)?;
        let pod = wait_running(cp, "env-all")?;
        let logs = logs_with(cp, "env-all", "env-done")?;
        let vars: Vec<&str> = logs.lines().collect();

        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
        let pod_ip = pod["status"]["podIP"].as_str().unwrap_or_default();
        ensure!(!pod_ip.is_empty(), "no pod IP: {}", pod["status"]);
        let expected = [
            // envFrom, with `env` overriding MODE.
            "MODE=slow".to_string(),
            "LEVEL=3".into(),
            "DB_password=s3cret".into(),
            "DB_user=admin".into(),
            // `$(VAR)` against earlier entries and envFrom.
            "GREETING=env-all in slow mode as admin".into(),
            "LEVEL_KEY=3".into(),
            "PASSWORD=s3cret".into(),
            "POD_NAME=env-all".into(),
            "POD_NAMESPACE=default".into(),
            format!("POD_UID={uid}"),
            "APP=shop".into(),
            "OWNER=team-a".into(),
            format!("NODE={node}"),
            "SA=builder".into(),
            format!("POD_IP={pod_ip}"),
            format!("POD_IPS={pod_ip}"),
            "HOST_IP=127.0.0.1".into(),
            "CPU_MILLI=250".into(),
            "MEM_MI=64".into(),
            // The API server defaults the request to the limit.
            format!("MEM_REQUEST={}", 64 * 1024 * 1024),
        ];
        for want in &expected {
            ensure!(
                vars.contains(&want.as_str()),
                "{want} not in the container's env:\n{logs}"
            );
        }
        for absent in ["1st=", "OPTIONAL_GONE="] {
            ensure!(
                !vars.iter().any(|v| v.starts_with(absent)),
                "{absent} should not be set:\n{logs}"
            );
        }

        let described = cp.skiff(&["describe", "pod", "env-all"])?;
        for want in [
            "env-settings  ConfigMap",
            "env-creds     Secret with prefix 'DB_'",
            "<set to the key 'LEVEL' of config map 'env-settings'>  Optional: false",
            "<set to the key 'password' in secret 'env-creds'>",
            "env-all (v1:metadata.name)",
        ] {
            ensure!(
                described.contains(want),
                "describe lacks {want:?}:\n{described}"
            );
        }
        ensure!(
            !described.contains("s3cret"),
            "describe shows a secret value:\n{described}"
        );
        Ok(())
    });
}

#[test]
fn a_missing_config_map_holds_the_pod_until_it_is_created() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        cp.apply_yaml("env-late.yaml", LATE_POD)?;
        wait_for(
            "CreateContainerConfigError in get pod",
            Duration::from_secs(60),
            Duration::from_millis(300),
            || {
                let listed = cp.skiff(&["get", "pod", "env-late"])?;
                if listed.contains("CreateContainerConfigError") {
                    Ok(())
                } else {
                    bail!("get pod: {listed}")
                }
            },
        )?;
        let pod = cp.get_json("pod", "env-late")?;
        ensure!(phase(&pod) == "Pending", "phase: {}", pod["status"]);
        let waiting =
            &container_status(&pod, "main").cloned().unwrap_or_default()["state"]["waiting"];
        ensure!(
            waiting["message"] == "configmap \"env-late-settings\" not found",
            "waiting: {waiting}"
        );
        let described = cp.skiff(&["describe", "pod", "env-late"])?;
        ensure!(
            described.contains("CreateContainerConfigError"),
            "describe:\n{described}"
        );

        cp.apply_yaml("env-late-settings.yaml", LATE_CONFIG)?;
        wait_running(cp, "env-late")?;
        let logs = logs_with(cp, "env-late", "color=")?;
        ensure!(logs.contains("color=teal"), "logs: {logs:?}");
        let pod = cp.get_json("pod", "env-late")?;
        let restarts = container_status(&pod, "main")
            .map(|s| s["restartCount"].clone())
            .unwrap_or_default();
        ensure!(restarts == 0, "restartCount: {restarts}");
        Ok(())
    });
}
