//! A list's Table from the stored bytes: of each object only what its kind's printers
//! read is decoded (`skiff_proto::printers::light`), and a row's `PartialObjectMetadata`
//! is the stored `metadata` copied with its resourceVersion spliced in, so a Table of
//! 5,000 pods is not 5,000 whole decodes and re-encodes (docs/architecture.md, What costs
//! what). The rows are the ones [`Tables::list_bytes`] makes of the decoded objects
//! (`tests.rs` compares them).

use serde_json::{json, Value};
use skiff_proto::printers::{self, light};

use super::{Include, Tables};
use crate::core::Error;
use crate::resources;
use crate::store::Stored;

impl Tables {
    /// The Table of stored objects with the list's `metadata`; kinds without a light
    /// form, and `includeObject=Object`, decode each object whole.
    pub fn list_stored(
        &self,
        items: &[Stored],
        metadata: Value,
        now: jiff::Timestamp,
    ) -> Result<Vec<u8>, Error> {
        let part = match self.include {
            Include::Object => None,
            Include::None | Include::Metadata => light::reads(self.kind),
        };
        let Some(part) = part else {
            return self.list_bytes(items.iter().map(resources::served_value), metadata, now);
        };
        self.encode_rows(items, metadata, |out, stored| {
            self.light_row(out, stored, part, now)
        })
    }

    fn light_row(
        &self,
        out: &mut Vec<u8>,
        stored: &Stored,
        part: light::Part,
        now: jiff::Timestamp,
    ) -> Result<(), Error> {
        let object = light::decode(&stored.json, part).map_err(|e| {
            Error::Internal(format!("{} is stored as invalid JSON: {e}", stored.key))
        })?;
        let mut row = json!({ "cells": printers::cells(self.kind, &object, now) });
        if let Some(conditions) = printers::conditions(self.kind, &object) {
            row["conditions"] = conditions;
        }
        if self.include == Include::None {
            row["object"] = Value::Null;
            serde_json::to_writer(&mut *out, &row).expect("a JSON value always serializes");
            return Ok(());
        }
        // `object` sorts after `cells` and `conditions`: it goes last, as in `row`.
        let start = out.len();
        serde_json::to_writer(&mut *out, &row).expect("a JSON value always serializes");
        out.pop();
        out.extend_from_slice(br#","object":{"apiVersion":""#);
        out.extend_from_slice(self.version.api_version().as_bytes());
        out.extend_from_slice(br#"","kind":"PartialObjectMetadata","metadata":"#);
        if !resources::write_served_metadata(out, stored) {
            out.truncate(start);
            let row = self.row(&resources::served_value(stored)?, now);
            serde_json::to_writer(&mut *out, &row).expect("a JSON value always serializes");
            return Ok(());
        }
        out.extend_from_slice(b"}}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::frontdoor::rest::route::Query;
    use crate::store::Key;

    const KUBECTL: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

    fn now() -> jiff::Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    /// Pods as the store holds them (no resourceVersion), in the states the pod printer
    /// tells apart, each with what the columns never read (managedFields, a full spec).
    fn corpus() -> Vec<Stored> {
        let spec = json!({
            "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
                "resources": {"requests": {"cpu": "10m"}}, "imagePullPolicy": "Always"},
                {"name": "d", "image": "busybox"}],
            "initContainers": [{"name": "init", "image": "busybox"},
                {"name": "side", "image": "busybox", "restartPolicy": "Always"}],
            "nodeName": "n1", "schedulerName": "default-scheduler",
            "readinessGates": [{"conditionType": "example.com/gate"}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}],
        });
        let managed = json!([{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:containers": {
                "k:{\"name\":\"c\"}": {".": {}, "f:image": {}}}}}}]);
        let statuses = [
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable", "message": "0/1 nodes are available"}]}),
            json!({"phase": "Running", "podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}],
                "conditions": [{"type": "Initialized", "status": "True"},
                    {"type": "Ready", "status": "True"},
                    {"type": "example.com/gate", "status": "True"}],
                "initContainerStatuses": [
                    {"name": "init", "restartCount": 0, "state": {"terminated": {"exitCode": 0}}},
                    {"name": "side", "restartCount": 2, "ready": true, "started": true,
                     "state": {"running": {}},
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-03-01T11:00:00Z"}}}],
                "containerStatuses": [
                    {"name": "c", "ready": true, "restartCount": 1, "state": {"running": {}}},
                    {"name": "d", "ready": false, "restartCount": 0,
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
            json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "init", "restartCount": 3, "state": {"terminated": {"exitCode": 1, "signal": 9}}}]}),
            json!({"phase": "Succeeded", "nominatedNodeName": "n2"}),
            json!({"phase": "Failed", "reason": "Evicted"}),
        ];
        let mut pods = Vec::new();
        for (i, status) in statuses.into_iter().enumerate() {
            for deleting in [false, true] {
                let name = format!("p{i}-{deleting}");
                let mut metadata = json!({"name": name, "namespace": "default", "uid": "u",
                    "labels": {"app": "web"}, "creationTimestamp": "2026-03-01T11:59:30Z",
                    "managedFields": managed});
                if deleting {
                    metadata["deletionTimestamp"] = json!("2026-03-01T11:59:50Z");
                }
                let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                    "spec": spec, "status": status});
                pods.push(Stored {
                    key: Key::new("Pod", "default", &name),
                    uid: "u".into(),
                    revision: 10 + i as i64,
                    json: serde_json::to_vec(&pod).unwrap(),
                });
            }
        }
        pods
    }

    #[test]
    fn the_light_rows_are_the_whole_decodes_rows() {
        let items = corpus();
        let metadata = json!({"resourceVersion": "40"});
        for (accept, query) in [
            (KUBECTL, ""),
            (KUBECTL, "includeObject=None"),
            (KUBECTL, "includeObject=Object"),
            ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", ""),
        ] {
            let t = Tables::for_accept("Pod", accept, &Query::parse(Some(query)))
                .unwrap()
                .unwrap();
            let whole = items.iter().map(resources::served_value);
            let whole: Value =
                serde_json::from_slice(&t.list_bytes(whole, metadata.clone(), now()).unwrap())
                    .unwrap();
            let light = t.list_stored(&items, metadata.clone(), now()).unwrap();
            let light: Value = serde_json::from_slice(&light).unwrap();
            assert_eq!(light, whole, "{accept} {query}");
            for (a, b) in light["rows"]
                .as_array()
                .unwrap()
                .iter()
                .zip(whole["rows"].as_array().unwrap())
            {
                let bytes = |v: &Value| serde_json::to_vec(&v["cells"]).unwrap();
                assert_eq!(bytes(a), bytes(b), "the cells byte for byte");
            }
        }
    }

    #[test]
    fn a_stored_object_that_is_not_json_fails_the_list() {
        let t = Tables::for_accept("Pod", KUBECTL, &Query::parse(None))
            .unwrap()
            .unwrap();
        let mut items = corpus();
        items[1].json = b"{\"metadata\":".to_vec();
        assert!(t.list_stored(&items, json!({}), now()).is_err());
    }
}
