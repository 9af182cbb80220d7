//! The merge metadata of the kinds skiff serves: which lists merge, by which key, and
//! which structs reach them. Transcribed from the `patchStrategy`/`patchMergeKey` Go
//! struct tags of kubernetes/api v0.33 (`core/v1/types.go`, `apps/v1/types.go`,
//! `batch/v1/types.go`) and apimachinery's `ObjectMeta`. A field missing here has no
//! tag: its maps merge and its lists are replaced whole, as Kubernetes does. Lists
//! without a strategy are atomic, so the types of their items need no entry.

/// A struct: the fields that carry a strategy or lead to one.
#[derive(Debug)]
pub(super) struct Type {
    pub(super) fields: &'static [Field],
}

/// One field of a [`Type`].
#[derive(Debug)]
pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) strategy: Strategy,
    /// The struct this field holds, or the item type of its list.
    pub(super) ty: Option<&'static Type>,
    /// How server-side apply treats the field, where its `+listType`, `+listMapKey`,
    /// `+mapType` or `+structType` tags say more than its patch strategy.
    pub(super) apply: Apply,
}

/// A field's server-side apply tags (`proto/src/apply/`), beside its patch strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    /// As the strategy says: a merge key makes a `map` list keyed by it, a merged list
    /// of scalars a `set`; every other list is `atomic`, every other map granular.
    Derived,
    /// `+listType=map` with these `+listMapKey`s (more than the one merge key).
    MapKeys(&'static [&'static str]),
    /// `+structType=atomic` or `+mapType=atomic`: owned and replaced whole.
    Atomic,
}

/// The `patchStrategy` and `patchMergeKey` tags of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strategy {
    /// `patchStrategy:"merge"`: a list merged item by item (by `merge_key` for lists of
    /// objects; a set union for lists of scalars such as `finalizers`).
    pub merge: bool,
    /// `patchStrategy:"retainKeys"`: clients send `$retainKeys` with the keys to keep
    /// (a volume's source, a Deployment's strategy). The server honours `$retainKeys`
    /// wherever it appears, so this only tells clients where to send it.
    pub retain_keys: bool,
    pub merge_key: Option<&'static str>,
}

const NONE: Strategy = Strategy {
    merge: false,
    retain_keys: false,
    merge_key: None,
};

const fn merge_by(key: &'static str) -> Strategy {
    Strategy {
        merge: true,
        retain_keys: false,
        merge_key: Some(key),
    }
}

const fn merge_retain_by(key: &'static str) -> Strategy {
    Strategy {
        merge: true,
        retain_keys: true,
        merge_key: Some(key),
    }
}

const MERGE_SCALARS: Strategy = Strategy {
    merge: true,
    retain_keys: false,
    merge_key: None,
};

const RETAIN_KEYS: Strategy = Strategy {
    merge: false,
    retain_keys: true,
    merge_key: None,
};

const fn field(name: &'static str, strategy: Strategy) -> Field {
    Field {
        name,
        strategy,
        ty: None,
        apply: Apply::Derived,
    }
}

/// A merged list whose apply keys are more than its merge key.
const fn keyed(name: &'static str, strategy: Strategy, keys: &'static [&'static str]) -> Field {
    Field {
        name,
        strategy,
        ty: None,
        apply: Apply::MapKeys(keys),
    }
}

/// A field apply owns whole (no patch strategy).
const fn atomic(name: &'static str) -> Field {
    Field {
        name,
        strategy: NONE,
        ty: None,
        apply: Apply::Atomic,
    }
}

const fn nested(name: &'static str, strategy: Strategy, ty: &'static Type) -> Field {
    Field {
        name,
        strategy,
        ty: Some(ty),
        apply: Apply::Derived,
    }
}

/// `metav1.ObjectMeta`.
static OBJECT_META: Type = Type {
    fields: &[
        field("ownerReferences", merge_by("uid")),
        field("finalizers", MERGE_SCALARS),
    ],
};

/// `Container` and `EphemeralContainer` (its `EphemeralContainerCommon` is inlined).
static CONTAINER: Type = Type {
    fields: &[
        keyed(
            "ports",
            merge_by("containerPort"),
            &["containerPort", "protocol"],
        ),
        field("env", merge_by("name")),
        field("volumeMounts", merge_by("mountPath")),
        field("volumeDevices", merge_by("devicePath")),
    ],
};

static POD_SPEC: Type = Type {
    fields: &[
        field("volumes", merge_retain_by("name")),
        nested("initContainers", merge_by("name"), &CONTAINER),
        nested("containers", merge_by("name"), &CONTAINER),
        nested("ephemeralContainers", merge_by("name"), &CONTAINER),
        field("imagePullSecrets", merge_by("name")),
        field("hostAliases", merge_by("ip")),
        keyed(
            "topologySpreadConstraints",
            merge_by("topologyKey"),
            &["topologyKey", "whenUnsatisfiable"],
        ),
        atomic("nodeSelector"),
        field("schedulingGates", merge_by("name")),
        field("resourceClaims", merge_retain_by("name")),
    ],
};

static POD_STATUS: Type = Type {
    fields: &[
        field("conditions", merge_by("type")),
        field("hostIPs", merge_by("ip")),
        field("podIPs", merge_by("ip")),
        field("resourceClaimStatuses", merge_retain_by("name")),
    ],
};

static POD: Type = Type {
    fields: &[
        nested("metadata", NONE, &OBJECT_META),
        nested("spec", NONE, &POD_SPEC),
        nested("status", NONE, &POD_STATUS),
    ],
};

static POD_TEMPLATE_SPEC: Type = Type {
    fields: &[
        nested("metadata", NONE, &OBJECT_META),
        nested("spec", NONE, &POD_SPEC),
    ],
};

/// A workload's status: only its `conditions` merge (by type).
static CONDITIONS_STATUS: Type = Type {
    fields: &[field("conditions", merge_by("type"))],
};

/// The spec of a ReplicaSet, DaemonSet, StatefulSet or Job: its pod template.
static TEMPLATE_SPEC: Type = Type {
    fields: &[
        nested("template", NONE, &POD_TEMPLATE_SPEC),
        atomic("selector"),
    ],
};

/// ReplicaSet, DaemonSet, StatefulSet and Job.
static WORKLOAD: Type = Type {
    fields: &[
        nested("metadata", NONE, &OBJECT_META),
        nested("spec", NONE, &TEMPLATE_SPEC),
        nested("status", NONE, &CONDITIONS_STATUS),
    ],
};

static DEPLOYMENT_SPEC: Type = Type {
    fields: &[
        nested("template", NONE, &POD_TEMPLATE_SPEC),
        field("strategy", RETAIN_KEYS),
        atomic("selector"),
    ],
};

static DEPLOYMENT: Type = Type {
    fields: &[
        nested("metadata", NONE, &OBJECT_META),
        nested("spec", NONE, &DEPLOYMENT_SPEC),
        nested("status", NONE, &CONDITIONS_STATUS),
    ],
};

static JOB_TEMPLATE_SPEC: Type = Type {
    fields: &[
        nested("metadata", NONE, &OBJECT_META),
        nested("spec", NONE, &TEMPLATE_SPEC),
    ],
};

static CRON_JOB_SPEC: Type = Type {
    fields: &[nested("jobTemplate", NONE, &JOB_TEMPLATE_SPEC)],
};

static CRON_JOB: Type = Type {
    fields: &[
        nested("metadata", NONE, &OBJECT_META),
        nested("spec", NONE, &CRON_JOB_SPEC),
    ],
};

static SERVICE_SPEC: Type = Type {
    fields: &[
        keyed("ports", merge_by("port"), &["port", "protocol"]),
        atomic("selector"),
    ],
};

static SERVICE: Type = Type {
    fields: &[
        nested("metadata", NONE, &OBJECT_META),
        nested("spec", NONE, &SERVICE_SPEC),
        nested("status", NONE, &CONDITIONS_STATUS),
    ],
};

static NODE_SPEC: Type = Type {
    fields: &[field("podCIDRs", MERGE_SCALARS)],
};

static NODE_STATUS: Type = Type {
    fields: &[
        field("conditions", merge_by("type")),
        field("addresses", merge_by("type")),
    ],
};

static NODE: Type = Type {
    fields: &[
        nested("metadata", NONE, &OBJECT_META),
        nested("spec", NONE, &NODE_SPEC),
        nested("status", NONE, &NODE_STATUS),
    ],
};

/// Namespace and PersistentVolumeClaim: metadata and status conditions.
static WITH_CONDITIONS: Type = Type {
    fields: &[
        nested("metadata", NONE, &OBJECT_META),
        nested("status", NONE, &CONDITIONS_STATUS),
    ],
};

static SERVICE_ACCOUNT: Type = Type {
    fields: &[
        nested("metadata", NONE, &OBJECT_META),
        field("secrets", merge_by("name")),
    ],
};

/// Kinds whose only merging lists are their metadata's.
static METADATA_ONLY: Type = Type {
    fields: &[nested("metadata", NONE, &OBJECT_META)],
};

/// The merge metadata of a kind (as `kind` in manifests), or `None` for a kind with no
/// Go struct tags, which strategic merge patch cannot serve.
pub(super) fn kind(kind: &str) -> Option<&'static Type> {
    Some(match kind {
        "Pod" => &POD,
        "ReplicaSet" | "DaemonSet" | "StatefulSet" | "Job" => &WORKLOAD,
        "Deployment" => &DEPLOYMENT,
        "CronJob" => &CRON_JOB,
        "Service" => &SERVICE,
        "Node" => &NODE,
        "Namespace" | "PersistentVolumeClaim" => &WITH_CONDITIONS,
        "ServiceAccount" => &SERVICE_ACCOUNT,
        "Endpoints" | "ConfigMap" | "Secret" | "PersistentVolume" | "StorageClass" | "Event"
        | "Lease" | "EndpointSlice" => &METADATA_ONLY,
        // rbac.authorization.k8s.io/v1 has no patchStrategy tags (rules and subjects are
        // replaced whole), and the reviews are only ever created.
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => &METADATA_ONLY,
        "SelfSubjectAccessReview" | "SelfSubjectRulesReview" => &METADATA_ONLY,
        // autoscaling/v1 Scale, the scale subresource's object.
        "Scale" => &METADATA_ONLY,
        _ => return None,
    })
}

/// Where a patch is in a kind's structure; `None` past fields without metadata.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schema(pub(super) Option<&'static Type>);

impl Schema {
    /// The strategy of field `name` and the schema of its value (or of its items).
    pub(super) fn field(self, name: &str) -> (Schema, Strategy) {
        match self
            .0
            .and_then(|ty| ty.fields.iter().find(|f| f.name == name))
        {
            Some(f) => (Schema(f.ty), f.strategy),
            None => (Schema(None), NONE),
        }
    }
}

impl Schema {
    /// The root of `kind` (nothing known for a kind outside the table).
    pub(crate) fn of_kind(name: &str) -> Schema {
        Schema(kind(name))
    }

    /// How server-side apply treats field `name` here, and the schema of its value (or
    /// of its items).
    pub(crate) fn apply_field(self, name: &str) -> (Schema, ApplyShape) {
        let Some(f) = self
            .0
            .and_then(|ty| ty.fields.iter().find(|f| f.name == name))
        else {
            return (Schema(None), ApplyShape::Default);
        };
        let shape = match f.apply {
            Apply::Atomic => ApplyShape::Atomic,
            Apply::MapKeys(keys) => ApplyShape::Map(keys),
            Apply::Derived => match &f.strategy.merge_key {
                Some(key) if f.strategy.merge => ApplyShape::Map(std::slice::from_ref(key)),
                None if f.strategy.merge => ApplyShape::Set,
                _ => ApplyShape::Default,
            },
        };
        (Schema(f.ty), shape)
    }
}

/// A value's shape for server-side apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApplyShape {
    /// A granular map (or struct), or an atomic list.
    Default,
    /// Owned and replaced whole.
    Atomic,
    /// `+listType=set`: items are their own keys.
    Set,
    /// `+listType=map` keyed by these fields.
    Map(&'static [&'static str]),
}

/// The strategy of the field at `path` (JSON names; list items are passed through, so
/// `["spec", "template", "spec", "containers", "env"]`) in `kind`, for clients that
/// build patches. `None` for an unknown kind.
pub fn field_strategy(kind_name: &str, path: &[&str]) -> Option<Strategy> {
    let mut schema = Schema(Some(kind(kind_name)?));
    let mut strategy = NONE;
    for name in path {
        (schema, strategy) = schema.field(name);
    }
    Some(strategy)
}
