//! The last message of an exec or attach session, on the error channel: a `Status` as the
//! kubelet writes it (no kind or apiVersion). kubectl and client-go read a non-zero exit
//! from the `ExitCode` cause of a `NonZeroExitCode` failure and exit with that code.

use serde_json::{json, Value};

/// The process exited with 0 (or an attach ended).
pub fn success() -> Value {
    json!({"metadata": {}, "status": "Success"})
}

/// The process exited with `code`; `command` words the message as containerd's CRI does.
pub fn exit_code(code: i32, command: &[String]) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
    })
}

/// The session broke (the node went away, the process could not start).
pub fn failure(message: &str) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "InternalError",
        "code": 500
    })
}

/// The session's outcome as the error channel carries it.
pub fn for_exit(code: i32, command: &[String]) -> Value {
    if code == 0 {
        success()
    } else {
        exit_code(code, command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_zero_exit_names_its_code_as_the_cause() {
        let status = for_exit(3, &["sh".into(), "-c".into(), "exit 3".into()]);
        assert_eq!(status["status"], "Failure");
        assert_eq!(status["reason"], "NonZeroExitCode");
        assert_eq!(
            status["details"]["causes"],
            json!([{"reason": "ExitCode", "message": "3"}])
        );
        assert_eq!(
            status["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
        assert_eq!(
            for_exit(0, &[]),
            json!({"metadata": {}, "status": "Success"})
        );
    }
}
