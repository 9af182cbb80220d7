//! Wall-clock time behind a trait.
//!
//! Leases, condition transitions and events carry wall-clock timestamps (they are stored
//! and compared across restarts), so the lifecycle controller's decisions depend on "now".
//! Tests move a [`ManualClock`] forward instead of sleeping through grace periods.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;

/// The one way the control plane reads the wall clock: controllers read their context's
/// clock, the object verbs (`resources/`) the one their caller passes; only the wiring
/// (`main.rs`, the services' and controllers' constructors) picks [`SystemClock`].
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;

    /// Now with whole seconds, as Kubernetes writes metadata times.
    fn now_seconds(&self) -> Timestamp {
        let now = self.now();
        Timestamp::from_second(now.as_second()).unwrap_or(now)
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until told to move. Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now = now.saturating_add(by).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How long ago `then` was at `now`; zero when `then` is in the future (a clock step
/// backwards must not make a node look older than it is).
pub fn elapsed(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_whole_seconds() {
        let now = SystemClock.now_seconds().to_string();
        assert!(now.ends_with('Z') && !now.contains('.'), "{now}");
    }
}
