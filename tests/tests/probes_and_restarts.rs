//! Probes and restarts of a standalone `skiff-agent`, against real containers: each probe
//! type passing and failing, liveness restarts, readiness flips, startup probes, the
//! crash-loop backoff, restart policies, init containers, native sidecars, OOM kills,
//! readiness across an agent restart and `logs --previous`. Run as root:
//!
//!     cargo build --workspace && cargo test -p skiff-e2e --test probes_and_restarts -- --test-threads=1
//!
//! Probes run every second and pods have a 1 s grace period, so scenarios take seconds.
//! The STATUS column of `skiff get pods` (what the user reads) is checked beside the JSON.

use std::time::Duration;

// The scenarios, one file per theme (a crate root looks for modules beside itself).
#[path = "probes_and_restarts/init_and_sidecars.rs"]
mod init_and_sidecars;
#[path = "probes_and_restarts/probes.rs"]
mod probes;
#[path = "probes_and_restarts/restarts.rs"]
mod restarts;

/// Generous: the first start of a pod includes a pull from the local registry.
pub const START: Duration = Duration::from_secs(90);
pub const POLL: Duration = Duration::from_millis(200);
/// Readiness flips on one result; liveness restarts after two failures.
pub const FAST: &[(&str, i64)] = &[("periodSeconds", 1), ("failureThreshold", 1)];
pub const LIVE: &[(&str, i64)] = &[("periodSeconds", 1), ("failureThreshold", 2)];
pub const BUSYBOX: &str = "busybox:latest";
/// PID 1 is a shell that ignores SIGTERM: a stop takes the grace period, then SIGKILL.
pub const SLEEP: Option<&str> = Some("sleep 1000");
pub const HEALTHY: Option<&str> = Some("touch /tmp/healthy; sleep 1000");
