//! The verbs' neutral results (`resources::served`) as gRPC messages, and the agents'
//! objects the other way.

use skiff_proto::v1;

use crate::resources::{Object, WatchEvent};

impl From<Object> for v1::Object {
    fn from(o: Object) -> Self {
        v1::Object {
            kind: o.kind,
            namespace: o.namespace,
            name: o.name,
            uid: o.uid,
            resource_version: o.resource_version,
            json: o.json,
        }
    }
}

impl From<v1::Object> for Object {
    fn from(o: v1::Object) -> Self {
        Object {
            kind: o.kind,
            namespace: o.namespace,
            name: o.name,
            uid: o.uid,
            resource_version: o.resource_version,
            json: o.json,
        }
    }
}

impl From<WatchEvent> for v1::WatchEvent {
    fn from(e: WatchEvent) -> Self {
        v1::WatchEvent {
            r#type: e.r#type,
            object: e.object.map(Into::into),
            resource_version: e.resource_version,
        }
    }
}
