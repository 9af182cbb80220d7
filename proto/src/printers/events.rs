//! Events: LAST SEEN TYPE REASON OBJECT MESSAGE (wide: SUBOBJECT SOURCE FIRST SEEN COUNT
//! NAME, in the order kube-apiserver defines them).

use jiff::Timestamp;
use serde_json::Value;

use super::age::{since, time};
use super::fields::{int, is_set, or, text};
use super::{docs, Column};

pub const COLUMNS: &[Column] = &[
    Column::text("Last Seen", docs::EV_LAST),
    Column::text("Type", docs::EV_TYPE),
    Column::text("Reason", docs::EV_REASON),
    Column::text("Object", docs::EV_OBJECT),
    Column::text("Subobject", docs::EV_FIELD_PATH).wide(),
    Column::text("Source", docs::EV_SOURCE).wide(),
    Column::text("Message", docs::EV_MESSAGE),
    Column::text("First Seen", docs::EV_FIRST).wide(),
    Column::text("Count", docs::EV_COUNT).wide(),
    Column {
        format: "name",
        ..Column::text("Name", docs::NAME).wide()
    },
];

/// `component, host`: where the event comes from, the reporting controller and instance
/// standing in for an empty source.
fn source(o: &Value) -> String {
    let component = or(
        text(o, "/source/component"),
        &text(o, "/reportingComponent"),
    );
    let instance = or(text(o, "/source/host"), &text(o, "/reportingInstance"));
    match instance.is_empty() {
        true => component,
        false => format!("{component}, {instance}"),
    }
}

pub fn cells(o: &Value, now: Timestamp) -> Vec<Value> {
    let first = match time(o, "/firstTimestamp") {
        Some(_) => since(o, "/firstTimestamp", now),
        None => since(o, "/eventTime", now),
    };
    let mut last = match time(o, "/lastTimestamp") {
        Some(_) => since(o, "/lastTimestamp", now),
        None => first.clone(),
    };
    let mut count = int(o, "/count");
    if is_set(o, "/series") {
        last = since(o, "/series/lastObservedTime", now);
        count = int(o, "/series/count");
    } else if count == 0 {
        // Events of the events.k8s.io API that happened once carry no count.
        count = 1;
    }
    let kind = text(o, "/involvedObject/kind").to_lowercase();
    let object = match text(o, "/involvedObject/name") {
        name if name.is_empty() => kind,
        name => format!("{kind}/{name}"),
    };
    vec![
        last.into(),
        text(o, "/type").into(),
        text(o, "/reason").into(),
        object.into(),
        text(o, "/involvedObject/fieldPath").into(),
        source(o).into(),
        text(o, "/message").trim().into(),
        first.into(),
        count.into(),
        text(o, "/metadata/name").into(),
    ]
}
