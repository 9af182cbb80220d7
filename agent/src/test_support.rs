//! Gates for tests that need the real system (containerd, a registry, root).
//!
//! On a developer machine a missing prerequisite skips the test with a "skipped: ..."
//! line. Under `CI=true` it fails the test instead: CI must never pass by silently
//! skipping. `deploy/with-test-runtime.sh` provides everything these tests need.

/// The value of `var`, or `None` (after saying why) when it is unset and the caller
/// should return without testing anything. Panics instead under `CI=true`.
#[track_caller]
pub(crate) fn test_env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) => Some(value),
        Err(_) => {
            skip(&format!("{var} is not set"));
            None
        }
    }
}

/// Reports a test as skipped for `reason`; under `CI=true` panics instead.
#[track_caller]
fn skip(reason: &str) {
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!(
            "{reason}, and CI=true does not allow skipping: run the tests through \
             deploy/with-test-runtime.sh (as root)"
        );
    }
    eprintln!("skipped: {reason}; deploy/with-test-runtime.sh provides it");
}
