//! Each kind's cells against what kube-apiserver's printers give for the same object
//! (cases from Kubernetes' `pkg/printers/internalversion/printers_test.go`).

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::{cell_text, cells, columns, conditions, light};

mod cluster;
mod pods;
mod services;
mod storage;
mod workloads;

/// The moment the tests print at.
fn now() -> Timestamp {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

/// The time `secs` seconds before `now()`, as the API writes times.
fn ago(secs: i64) -> String {
    let t = now() - SignedDuration::from_secs(secs);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The cells of `object` as kubectl prints them; for a kind with a light form, also
/// that the light decode of the object prints the same cells byte for byte (every case
/// of these tests is then a case of the light form's too).
fn row(kind: &str, object: &Value) -> Vec<String> {
    let cells = cells(kind, object, now());
    assert_eq!(
        cells.len(),
        columns(kind).len(),
        "{kind}: a cell per column"
    );
    if let Some(part) = light::reads(kind) {
        let bytes = serde_json::to_vec(object).unwrap();
        let light = light::decode(&bytes, part).unwrap();
        let encoded = |cells: &Vec<Value>| serde_json::to_vec(cells).unwrap();
        assert_eq!(
            encoded(&super::cells(kind, &light, now())),
            encoded(&cells),
            "{kind}: the light decode prints the same cells"
        );
        assert_eq!(conditions(kind, &light), conditions(kind, object));
    }
    cells.iter().map(cell_text).collect()
}

/// Only the cells `kubectl get` shows without `-o wide`.
fn narrow(kind: &str, object: &Value) -> Vec<String> {
    row(kind, object)
        .into_iter()
        .zip(columns(kind))
        .filter(|(_, c)| c.priority == 0)
        .map(|(cell, _)| cell)
        .collect()
}

/// The header `kubectl get` prints, wide or not.
fn header(kind: &str, wide: bool) -> Vec<String> {
    columns(kind)
        .iter()
        .filter(|c| wide || c.priority == 0)
        .map(|c| c.name.to_uppercase())
        .collect()
}

#[test]
fn headers_read_as_kubectl_prints_them() {
    let cases: &[(&str, &str, &str)] = &[
        ("Pod", "NAME READY STATUS RESTARTS AGE", "IP NODE NOMINATED NODE READINESS GATES"),
        ("ReplicaSet", "NAME DESIRED CURRENT READY AGE", "CONTAINERS IMAGES SELECTOR"),
        ("Deployment", "NAME READY UP-TO-DATE AVAILABLE AGE", "CONTAINERS IMAGES SELECTOR"),
        (
            "DaemonSet",
            "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE",
            "CONTAINERS IMAGES SELECTOR",
        ),
        ("StatefulSet", "NAME READY AGE", "CONTAINERS IMAGES"),
        ("Job", "NAME STATUS COMPLETIONS DURATION AGE", "CONTAINERS IMAGES SELECTOR"),
        (
            "CronJob",
            "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE",
            "CONTAINERS IMAGES SELECTOR",
        ),
        ("Service", "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE", "SELECTOR"),
        ("Endpoints", "NAME ENDPOINTS AGE", ""),
        ("EndpointSlice", "NAME ADDRESSTYPE PORTS ENDPOINTS AGE", ""),
        ("ConfigMap", "NAME DATA AGE", ""),
        ("Secret", "NAME TYPE DATA AGE", ""),
        ("ServiceAccount", "NAME SECRETS AGE", ""),
        ("Namespace", "NAME STATUS AGE", ""),
        (
            "Node",
            "NAME STATUS ROLES AGE VERSION",
            "INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME",
        ),
        ("Lease", "NAME HOLDER AGE", ""),
        (
            "PersistentVolume",
            "NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE",
            "VOLUMEMODE",
        ),
        (
            "PersistentVolumeClaim",
            "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE",
            "VOLUMEMODE",
        ),
        (
            "StorageClass",
            "NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE",
            "",
        ),
        ("Role", "NAME CREATED AT", ""),
        ("ClusterRole", "NAME CREATED AT", ""),
        ("RoleBinding", "NAME ROLE AGE", "USERS GROUPS SERVICEACCOUNTS"),
        ("ClusterRoleBinding", "NAME ROLE AGE", "USERS GROUPS SERVICEACCOUNTS"),
        ("Widget", "NAME CREATED AT", ""),
    ];
    for (kind, narrow, wide) in cases {
        assert_eq!(header(kind, false).join(" "), *narrow, "{kind}");
        let wide_only: Vec<String> = header(kind, true)
            .into_iter()
            .skip(header(kind, false).len())
            .collect();
        assert_eq!(wide_only.join(" "), *wide, "{kind} -o wide");
    }
    let event: Vec<String> = header("Event", true);
    assert_eq!(
        event.join(","),
        "LAST SEEN,TYPE,REASON,OBJECT,SUBOBJECT,SOURCE,MESSAGE,FIRST SEEN,COUNT,NAME"
    );
    assert_eq!(
        header("Event", false).join(","),
        "LAST SEEN,TYPE,REASON,OBJECT,MESSAGE"
    );
}

#[test]
fn every_column_has_a_type_and_a_description_and_one_names_the_object() {
    for info in crate::kinds::KINDS {
        // Reviews are answered, never listed; roles print the default table in
        // kube-apiserver too (NAME, CREATED AT).
        if crate::kinds::REVIEW_KINDS.contains(&info.kind)
            || matches!(info.kind, "Role" | "ClusterRole")
        {
            continue;
        }
        let columns = columns(info.kind);
        assert_ne!(columns, super::DEFAULT, "{} has a printer", info.kind);
        for c in columns {
            assert!(
                ["string", "integer", "boolean", "date"].contains(&c.type_),
                "{}",
                c.name
            );
            assert!(!c.description.is_empty(), "{} {}", info.kind, c.name);
        }
        assert_eq!(
            columns.iter().filter(|c| c.format == "name").count(),
            1,
            "{}",
            info.kind
        );
    }
}

#[test]
fn column_definitions_serialize_as_the_table_api_names_them() {
    let json = serde_json::to_value(columns("Pod")[5]).unwrap();
    assert_eq!(json["name"], "IP");
    assert_eq!(json["type"], "string");
    assert_eq!(json["format"], "");
    assert_eq!(json["priority"], 1);
    assert!(json["description"].as_str().unwrap().starts_with("podIP"));
}

#[test]
fn cells_print_as_kubectl_prints_them() {
    assert_eq!(cell_text(&Value::from(3)), "3");
    assert_eq!(cell_text(&Value::from(false)), "false");
    assert_eq!(cell_text(&Value::from("two\nlines")), "two...");
    assert_eq!(cell_text(&Value::Null), "");
}

#[test]
fn a_kind_without_a_printer_shows_its_name_and_creation_time() {
    let widget =
        serde_json::json!({"metadata": {"name": "w", "creationTimestamp": "2026-01-01T00:00:00Z"}});
    assert_eq!(row("Widget", &widget), ["w", "2026-01-01T00:00:00Z"]);
}

#[test]
fn ages_read_as_human_durations() {
    use super::human_duration;
    let s = SignedDuration::from_secs;
    let cases = [
        (-2, "<invalid>"),
        (-1, "0s"),
        (5, "5s"),
        (119, "119s"),
        (200, "3m20s"),
        (600, "10m"),
        (3600, "60m"),
        (5 * 3600 + 60, "5h1m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 3600, "3d1h"),
        (100 * 86400, "100d"),
        (3 * 365 * 86400 + 86400, "3y1d"),
        (9 * 365 * 86400, "9y"),
    ];
    for (secs, text) in cases {
        assert_eq!(human_duration(s(secs)), text, "{secs}s");
    }
}
