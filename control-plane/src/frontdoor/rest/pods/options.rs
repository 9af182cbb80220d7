//! The query parameters of pods/log, pods/exec and pods/attach (`PodLogOptions`,
//! `PodExecOptions`, `PodAttachOptions`), and the container check kube-apiserver makes
//! before it calls the node.

use k8s_openapi::api::core::v1::Pod;

/// A refusal of the request as asked: kube-apiserver answers 400 (`bad`) or, for a
/// `PodLogOptions` value out of range, 422 naming the field (`invalid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionsError {
    Bad(String),
    Invalid {
        field: &'static str,
        message: String,
    },
}

/// `PodLogOptions` as skiff serves them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub tail_lines: Option<i64>,
    pub limit_bytes: Option<i64>,
    pub since_seconds: Option<i64>,
    pub since_time: Option<String>,
    pub timestamps: bool,
}

/// `PodExecOptions` (with an empty command: `PodAttachOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOptions {
    pub container: Option<String>,
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl LogOptions {
    pub fn parse<'a>(
        query: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, OptionsError> {
        let mut o = LogOptions::default();
        for (key, value) in query {
            match key {
                "container" => o.container = Some(value.to_string()).filter(|c| !c.is_empty()),
                "follow" => o.follow = boolean(key, value)?,
                "previous" => o.previous = boolean(key, value)?,
                "timestamps" => o.timestamps = boolean(key, value)?,
                "tailLines" => o.tail_lines = Some(integer(key, value)?),
                "limitBytes" => o.limit_bytes = Some(integer(key, value)?),
                "sinceSeconds" => o.since_seconds = Some(integer(key, value)?),
                "sinceTime" => {
                    value.parse::<jiff::Timestamp>().map_err(|_| {
                        OptionsError::Bad(format!("sinceTime: {value:?} is not an RFC3339 time"))
                    })?;
                    o.since_time = Some(value.to_string());
                }
                // The kubelet's certificate is not checked through skiff's relay anyway.
                "insecureSkipTLSVerifyBackend" => {
                    boolean(key, value)?;
                }
                _ => {}
            }
        }
        o.validate()?;
        Ok(o)
    }

    /// kube-apiserver's `ValidatePodLogOptions`.
    fn validate(&self) -> Result<(), OptionsError> {
        let invalid = |field, message: String| Err(OptionsError::Invalid { field, message });
        if let Some(n) = self.tail_lines.filter(|n| *n < 0) {
            return invalid(
                "tailLines",
                format!("Invalid value: {n}: must be greater than or equal to 0"),
            );
        }
        if let Some(n) = self.limit_bytes.filter(|n| *n < 1) {
            return invalid(
                "limitBytes",
                format!("Invalid value: {n}: must be greater than 0"),
            );
        }
        if let Some(n) = self.since_seconds.filter(|n| *n < 1) {
            return invalid(
                "sinceSeconds",
                format!("Invalid value: {n}: must be greater than 0"),
            );
        }
        if self.since_seconds.is_some() && self.since_time.is_some() {
            return invalid(
                "",
                "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified".into(),
            );
        }
        Ok(())
    }
}

impl StreamOptions {
    /// Parses exec's (`attach` false) or attach's parameters.
    pub fn parse<'a>(
        query: impl IntoIterator<Item = (&'a str, &'a str)>,
        attach: bool,
    ) -> Result<Self, OptionsError> {
        let mut o = StreamOptions::default();
        for (key, value) in query {
            match key {
                "container" => o.container = Some(value.to_string()).filter(|c| !c.is_empty()),
                "command" if !attach => o.command.push(value.to_string()),
                "stdin" => o.stdin = boolean(key, value)?,
                "stdout" => o.stdout = boolean(key, value)?,
                "stderr" => o.stderr = boolean(key, value)?,
                "tty" => o.tty = boolean(key, value)?,
                _ => {}
            }
        }
        if !(o.stdin || o.stdout || o.stderr) {
            return Err(OptionsError::Bad(
                "you must specify at least 1 of stdin, stdout, stderr".into(),
            ));
        }
        if !attach && o.command.is_empty() {
            return Err(OptionsError::Bad(
                "you must specify at least one command for the container".into(),
            ));
        }
        Ok(o)
    }
}

/// Go's `strconv.ParseBool`, which query parameters go through.
fn boolean(key: &str, value: &str) -> Result<bool, OptionsError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(OptionsError::Bad(format!(
            "{key}: strconv.ParseBool: parsing {value:?}: invalid syntax"
        ))),
    }
}

fn integer(key: &str, value: &str) -> Result<i64, OptionsError> {
    value.parse().map_err(|_| {
        OptionsError::Bad(format!(
            "{key}: strconv.ParseInt: parsing {value:?}: invalid syntax"
        ))
    })
}

/// The container a request means, checked as kube-apiserver checks it: the named one
/// must exist in the pod, none named is the pod's only container. `init_hint` words the
/// multi-container refusal as exec/attach do (init containers listed apart); pods/log
/// lists every container together.
pub fn pick_container(
    pod: &Pod,
    name: Option<&str>,
    init_hint: bool,
) -> Result<String, OptionsError> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let names = |list: Option<&Vec<k8s_openapi::api::core::v1::Container>>| -> Vec<String> {
        list.into_iter().flatten().map(|c| c.name.clone()).collect()
    };
    let init = names(spec.and_then(|s| s.init_containers.as_ref()));
    let app = names(spec.map(|s| &s.containers));
    let ephemeral: Vec<String> = spec
        .and_then(|s| s.ephemeral_containers.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.name.clone())
        .collect();
    if let Some(name) = name {
        let known = init.iter().chain(&app).chain(&ephemeral).any(|c| c == name);
        return if known {
            Ok(name.to_string())
        } else {
            Err(OptionsError::Bad(format!(
                "container {name} is not valid for pod {pod_name}"
            )))
        };
    }
    match app.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(OptionsError::Bad(format!(
            "a container name must be specified for pod {pod_name}"
        ))),
        _ if init_hint => {
            let mut message = format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                app.join(" ")
            );
            if !init.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            Err(OptionsError::Bad(message))
        }
        _ => {
            let all: Vec<String> = init.into_iter().chain(app).chain(ephemeral).collect();
            Err(OptionsError::Bad(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                all.join(" ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(containers: &[&str], init: &[&str]) -> Pod {
        let list = |names: &[&str]| -> Vec<serde_json::Value> {
            names
                .iter()
                .map(|n| json!({"name": n, "image": "busybox"}))
                .collect()
        };
        serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"containers": list(containers), "initContainers": list(init)}
        }))
        .unwrap()
    }

    fn bad(message: &str) -> OptionsError {
        OptionsError::Bad(message.into())
    }

    #[test]
    fn log_options_as_kubectl_sends_them() {
        let q = [
            ("container", "c"),
            ("follow", "true"),
            ("tailLines", "10"),
            ("limitBytes", "500"),
            ("insecureSkipTLSVerifyBackend", "true"),
        ];
        let o = LogOptions::parse(q).unwrap();
        assert_eq!(o.container.as_deref(), Some("c"));
        assert!(o.follow && !o.previous);
        assert_eq!((o.tail_lines, o.limit_bytes), (Some(10), Some(500)));
    }

    #[test]
    fn log_options_out_of_range_name_their_field() {
        let e = LogOptions::parse([("tailLines", "-1")]).unwrap_err();
        assert!(
            matches!(
                e,
                OptionsError::Invalid {
                    field: "tailLines",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = LogOptions::parse([("limitBytes", "0")]).unwrap_err();
        assert!(
            matches!(
                e,
                OptionsError::Invalid {
                    field: "limitBytes",
                    ..
                }
            ),
            "{e:?}"
        );
        let both = [("sinceSeconds", "5"), ("sinceTime", "2026-01-02T03:04:05Z")];
        assert!(matches!(
            LogOptions::parse(both),
            Err(OptionsError::Invalid { .. })
        ));
        assert!(matches!(
            LogOptions::parse([("follow", "yes")]),
            Err(OptionsError::Bad(_))
        ));
        assert!(matches!(
            LogOptions::parse([("sinceTime", "yesterday")]),
            Err(OptionsError::Bad(_))
        ));
    }

    #[test]
    fn time_options_are_taken() {
        let o = LogOptions::parse([("sinceSeconds", "60"), ("timestamps", "true")]).unwrap();
        assert_eq!((o.since_seconds, o.timestamps), (Some(60), true));
        let o = LogOptions::parse([("sinceTime", "2026-01-02T03:04:05Z")]).unwrap();
        assert_eq!(o.since_time.as_deref(), Some("2026-01-02T03:04:05Z"));
    }

    #[test]
    fn exec_options_keep_the_commands_order() {
        let q = [
            ("command", "sh"),
            ("command", "-c"),
            ("command", "exit 3"),
            ("stdin", "true"),
            ("stdout", "true"),
            ("tty", "1"),
        ];
        let o = StreamOptions::parse(q, false).unwrap();
        assert_eq!(o.command, ["sh", "-c", "exit 3"]);
        assert!(o.stdin && o.stdout && !o.stderr && o.tty);
        assert_eq!(
            StreamOptions::parse([("command", "ls")], false).unwrap_err(),
            bad("you must specify at least 1 of stdin, stdout, stderr")
        );
        assert!(StreamOptions::parse([("stdout", "true")], false).is_err());
        // Attach runs no command.
        let o = StreamOptions::parse([("stdout", "true"), ("command", "x")], true).unwrap();
        assert!(o.command.is_empty());
    }

    #[test]
    fn containers_are_checked_as_kube_apiserver_does() {
        let one = pod(&["c"], &[]);
        assert_eq!(pick_container(&one, None, false).unwrap(), "c");
        let two = pod(&["a", "b"], &["i"]);
        assert_eq!(
            pick_container(&two, None, false).unwrap_err(),
            bad("a container name must be specified for pod web, choose one of: [i a b]")
        );
        assert_eq!(
            pick_container(&two, None, true).unwrap_err(),
            bad("a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [i]")
        );
        assert_eq!(
            pick_container(&two, Some("c"), false).unwrap_err(),
            bad("container c is not valid for pod web")
        );
        assert_eq!(pick_container(&two, Some("i"), true).unwrap(), "i");
    }
}
