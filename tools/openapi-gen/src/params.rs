//! The parameters of the operations, with kube-apiserver's names, types and
//! descriptions: what a client may put in the query of each verb.

use serde_json::{json, Value};

/// (name, type, description) of a query parameter.
type Param = (&'static str, &'static str, &'static str);

/// POST and PUT: `fieldValidation` among them tells kubectl to leave strict field
/// validation to the server.
pub const WRITE: &[Param] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
/// PATCH, with `force` for server-side apply.
pub const PATCH: &[Param] = &[DRY_RUN, FIELD_MANAGER_PATCH, FIELD_VALIDATION, FORCE];
pub const DELETE: &[Param] = &[
    DRY_RUN,
    GRACE_PERIOD_SECONDS,
    IGNORE_STORE_READ_ERROR_WITH_CLUSTER_BREAKING_POTENTIAL,
    ORPHAN_DEPENDENTS,
    PROPAGATION_POLICY,
];
pub const LIST: &[Param] = &[
    ALLOW_WATCH_BOOKMARKS,
    CONTINUE,
    FIELD_SELECTOR,
    LABEL_SELECTOR,
    LIMIT,
    RESOURCE_VERSION,
    RESOURCE_VERSION_MATCH,
    SEND_INITIAL_EVENTS,
    TIMEOUT_SECONDS,
    WATCH,
];
pub const LOG: &[Param] = &[
    CONTAINER,
    FOLLOW,
    INSECURE_SKIP_TLS_VERIFY_BACKEND,
    LIMIT_BYTES,
    PREVIOUS,
    SINCE_SECONDS,
    TAIL_LINES,
    TIMESTAMPS,
];
pub const EXEC: &[Param] = &[COMMAND, EXEC_CONTAINER, STDERR, STDIN, STDOUT, TTY];
pub const ATTACH: &[Param] = &[EXEC_CONTAINER, STDERR, STDIN, STDOUT, TTY];
pub const PORTFORWARD: &[Param] = &[PORTS];

const PRETTY: Param = ("pretty", "string", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).");
const NAME: Param = ("name", "string", "name of the object");
const NAMESPACE: Param = (
    "namespace",
    "string",
    "object name and auth scope, such as for teams and projects",
);

/// The query parameters `params`, in the form of an operation's `parameters`.
pub fn query(params: &[Param]) -> Vec<Value> {
    params.iter().map(|p| param(p, "query")).collect()
}

/// `pretty` alone, as a path's own parameter.
pub fn pretty() -> Value {
    param(&PRETTY, "query")
}

/// A path's own parameters: its `name` and `namespace` segments, and `pretty`.
pub fn path(namespaced: bool, named: bool) -> Vec<Value> {
    let mut params = Vec::new();
    if named {
        params.push(param(&NAME, "path"));
    }
    if namespaced {
        params.push(param(&NAMESPACE, "path"));
    }
    params.push(pretty());
    params
}

fn param((name, ty, description): &Param, location: &str) -> Value {
    let mut p = json!({
        "name": name,
        "in": location,
        "description": description,
        "schema": { "type": ty, "uniqueItems": true }
    });
    if location == "path" {
        p["required"] = true.into();
    }
    p
}

const DRY_RUN: Param = ("dryRun", "string", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed");
const FIELD_MANAGER_PATCH: Param = ("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).");
const FIELD_MANAGER: Param = ("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.");
const FIELD_VALIDATION: Param = ("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.");
const FORCE: Param = ("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.");
const GRACE_PERIOD_SECONDS: Param = ("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.");
const IGNORE_STORE_READ_ERROR_WITH_CLUSTER_BREAKING_POTENTIAL: Param = ("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean", "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from the underlying storage successfully because of a) its data can not be transformed e.g. decryption failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer constraints, skips precondition checks, and removes the object from the storage. WARNING: This may potentially break the cluster if the workload associated with the resource being unsafe-deleted relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value is false, and the user must opt in to enable it");
const ORPHAN_DEPENDENTS: Param = ("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.");
const PROPAGATION_POLICY: Param = ("propagationPolicy", "string", "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.");
const ALLOW_WATCH_BOOKMARKS: Param = ("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored.");
const CONTINUE: Param = ("continue", "string", "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize. If the specified continue value is no longer valid whether due to expiration (generally five to fifteen minutes) or a configuration change on the server, the server will respond with a 410 ResourceExpired error together with a continue token.");
const FIELD_SELECTOR: Param = (
    "fieldSelector",
    "string",
    "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
);
const LABEL_SELECTOR: Param = (
    "labelSelector",
    "string",
    "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
);
const LIMIT: Param = ("limit", "integer", "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.");
const RESOURCE_VERSION: Param = ("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset");
const RESOURCE_VERSION_MATCH: Param = ("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset");
const SEND_INITIAL_EVENTS: Param = ("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic \"Bookmark\" event will be sent.");
const TIMEOUT_SECONDS: Param = ("timeoutSeconds", "integer", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.");
const WATCH: Param = ("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.");
const CONTAINER: Param = ("container", "string", "The container for which to stream logs. Defaults to only container if there is one container in the pod.");
const FOLLOW: Param = (
    "follow",
    "boolean",
    "Follow the log stream of the pod. Defaults to false.",
);
const INSECURE_SKIP_TLS_VERIFY_BACKEND: Param = ("insecureSkipTLSVerifyBackend", "boolean", "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of the serving certificate of the backend it is connecting to.  This will make the HTTPS connection between the apiserver and the backend insecure.");
const LIMIT_BYTES: Param = ("limitBytes", "integer", "If set, the number of bytes to read from the server before terminating the log output. This may not display a complete final line of logging, and may return slightly more or slightly less than the specified limit.");
const PREVIOUS: Param = (
    "previous",
    "boolean",
    "Return previous terminated container logs. Defaults to false.",
);
const SINCE_SECONDS: Param = ("sinceSeconds", "integer", "A relative time in seconds before the current time from which to show logs. If this value precedes the time a pod was started, only logs since the pod start will be returned. If this value is in the future, no logs will be returned. Only one of sinceSeconds or sinceTime may be specified.");
const TAIL_LINES: Param = ("tailLines", "integer", "If set, the number of lines from the end of the logs to show. If not specified, logs are shown from the creation of the container or sinceSeconds or sinceTime");
const TIMESTAMPS: Param = ("timestamps", "boolean", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false.");
const EXEC_CONTAINER: Param = ("container", "string", "The container in which to execute the command. Defaults to only container if there is only one container in the pod.");
const STDERR: Param = (
    "stderr",
    "boolean",
    "Redirect the standard error stream of the pod for this call.",
);
const STDIN: Param = (
    "stdin",
    "boolean",
    "Redirect the standard input stream of the pod for this call. Defaults to false.",
);
const STDOUT: Param = (
    "stdout",
    "boolean",
    "Redirect the standard output stream of the pod for this call.",
);
const TTY: Param = (
    "tty",
    "boolean",
    "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false.",
);
const COMMAND: Param = (
    "command",
    "string",
    "Command is the remote command to execute. argv array. Not executed within a shell.",
);
const PORTS: Param = (
    "ports",
    "integer",
    "List of ports to forward Required when using WebSockets",
);
