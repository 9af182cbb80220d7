//! The messages: Kubernetes' own generated.proto files compiled into a descriptor set
//! (`proto/k8s/k8s.fds`, made by `tools/k8s-protobuf/vendor.sh`), and what Go's JSON
//! encoding does with each of their fields, which the .proto files do not say
//! (`proto/k8s/go-fields.tsv`, from the Go types' struct tags).

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(include_bytes!("../../k8s/k8s.fds").as_slice())
        .expect("the vendored descriptor set decodes")
});

/// One field of a Go type as `encoding/json` treats it.
#[derive(Debug, Clone, Copy)]
pub struct GoField {
    pub json: &'static str,
    /// A Go pointer: set (even to a zero value) when present on the wire.
    pub pointer: bool,
    pub omitempty: bool,
    /// An embedded struct (`json:",inline"`): its fields are the parent's in JSON.
    pub inline: bool,
}

#[derive(Default)]
struct GoTable {
    fields: HashMap<(&'static str, u32), GoField>,
    by_json: HashMap<(&'static str, &'static str), u32>,
    /// Messages standing for a Go slice type (`type Verbs []string`): JSON arrays.
    slices: HashSet<&'static str>,
}

static GO: LazyLock<GoTable> = LazyLock::new(|| {
    let mut table = GoTable::default();
    for line in include_str!("../../k8s/go-fields.tsv").lines() {
        let cols: Vec<&'static str> = line.split('\t').collect();
        let [message, number, json, flags] = cols[..] else {
            continue;
        };
        if flags == "slice" {
            table.slices.insert(message);
            continue;
        }
        let Ok(number) = number.parse() else { continue };
        let flags: Vec<&str> = flags.split(',').collect();
        table.fields.insert(
            (message, number),
            GoField {
                json,
                pointer: flags.contains(&"ptr"),
                omitempty: flags.contains(&"omitempty"),
                inline: flags.contains(&"inline"),
            },
        );
        table.by_json.insert((message, json), number);
    }
    table
});

pub fn message(full_name: &str) -> Option<MessageDescriptor> {
    POOL.get_message_by_name(full_name)
}

pub fn go_field(message: &str, number: u32) -> Option<GoField> {
    GO.fields.get(&(message, number)).copied()
}

/// The field of a JSON member name (Go's name where it differs from the .proto's).
pub fn field_of_json(desc: &MessageDescriptor, json: &str) -> Option<FieldDescriptor> {
    GO.by_json
        .get(&(desc.full_name(), json))
        .and_then(|n| desc.get_field(*n))
        .or_else(|| desc.get_field_by_name(json))
        .filter(|f| !is_inline(desc, f))
}

pub fn is_inline(desc: &MessageDescriptor, field: &FieldDescriptor) -> bool {
    go_field(desc.full_name(), field.number()).is_some_and(|g| g.inline)
}

/// The embedded fields of a message, with their messages.
pub fn inline_fields(desc: &MessageDescriptor) -> Vec<(FieldDescriptor, MessageDescriptor)> {
    desc.fields()
        .filter(|f| is_inline(desc, f))
        .filter_map(|f| match f.kind() {
            Kind::Message(d) => Some((f, d)),
            _ => None,
        })
        .collect()
}

pub fn is_slice(message: &str) -> bool {
    GO.slices.contains(message)
}

pub const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";
/// Kinds kube-apiserver serves in every group-version (`metav1.AddToGroupVersion`).
const META_KINDS: &[&str] = &[
    "Status",
    "DeleteOptions",
    "WatchEvent",
    "ListOptions",
    "GetOptions",
    "CreateOptions",
    "UpdateOptions",
    "PatchOptions",
];

/// The message of a kind: `k8s.io.api.<group's first label>.<version>.<Kind>`, core as
/// `core`, `meta.k8s.io` (and the meta kinds of every group) from apimachinery.
pub fn message_for(api_version: &str, kind: &str) -> Option<MessageDescriptor> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let package = match group {
        "" => format!("k8s.io.api.core.{version}"),
        "meta.k8s.io" => META.to_string(),
        group => format!("k8s.io.api.{}.{version}", group.split('.').next()?),
    };
    message(&format!("{package}.{kind}")).or_else(|| {
        (META_KINDS.contains(&kind) || (kind == "List" && group.is_empty()))
            .then(|| message(&format!("{META}.{kind}")))
            .flatten()
    })
}
