//! A probe's timing with Kubernetes defaults, and the prober state that outlives the
//! agent: current results and consecutive counts.

use std::time::Duration;

use k8s_openapi::api::core::v1::Probe;
use serde::{Deserialize, Serialize};

use super::ProbeKind;

/// A probe's schedule and thresholds, defaults applied where the spec leaves them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Timing {
    pub fn of(probe: &Probe) -> Self {
        let secs = |v: Option<i32>, default: i32, min: i32| {
            Duration::from_secs(v.unwrap_or(default).max(min) as u64)
        };
        let count = |v: Option<i32>, default: i32| v.unwrap_or(default).max(1) as u32;
        Self {
            initial_delay: secs(probe.initial_delay_seconds, 0, 0),
            period: secs(probe.period_seconds, 10, 1),
            timeout: secs(probe.timeout_seconds, 1, 1),
            success_threshold: count(probe.success_threshold, 1),
            failure_threshold: count(probe.failure_threshold, 3),
        }
    }
}

/// Consecutive results of one probe. Each run is capped at its threshold, so a probe that
/// keeps giving the same answer leaves the record unchanged (and unsaved).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub successes: u32,
    pub failures: u32,
}

impl Counters {
    /// Counts one result; true when the run of that result has reached its threshold.
    pub fn record(&mut self, passed: bool, timing: &Timing) -> bool {
        if passed {
            self.failures = 0;
            self.successes = (self.successes + 1).min(timing.success_threshold);
            self.successes >= timing.success_threshold
        } else {
            self.successes = 0;
            self.failures = (self.failures + 1).min(timing.failure_threshold);
            self.failures >= timing.failure_threshold
        }
    }
}

/// Liveness or startup gave up on the container: it must be restarted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failed {
    pub kind: ProbeKind,
    pub message: String,
}

/// What the prober knows about one container attempt. Saved on every change; restored
/// after an agent restart so readiness does not flap and thresholds keep counting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeState {
    /// The container's `ready`: started, and its readiness probe passing (or absent).
    pub ready: bool,
    /// The container's `started`: its startup probe passed (or it has none).
    pub started: bool,
    #[serde(default)]
    pub liveness: Counters,
    #[serde(default)]
    pub readiness: Counters,
    #[serde(default)]
    pub startup: Counters,
    /// Set once liveness or startup failed; the prober has stopped.
    #[serde(default)]
    pub failed: Option<Failed>,
}

impl ProbeState {
    /// A container that just started: not started until its startup probe passes, not
    /// ready until started and its readiness probe passes.
    pub fn fresh(has_readiness: bool, has_startup: bool) -> Self {
        Self {
            ready: !has_readiness && !has_startup,
            started: !has_startup,
            liveness: Counters::default(),
            readiness: Counters::default(),
            startup: Counters::default(),
            failed: None,
        }
    }

    pub fn counters_mut(&mut self, kind: ProbeKind) -> &mut Counters {
        match kind {
            ProbeKind::Liveness => &mut self.liveness,
            ProbeKind::Readiness => &mut self.readiness,
            ProbeKind::Startup => &mut self.startup,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_defaults() {
        let t = Timing::of(&Probe::default());
        assert_eq!(
            t,
            Timing {
                initial_delay: Duration::ZERO,
                period: Duration::from_secs(10),
                timeout: Duration::from_secs(1),
                success_threshold: 1,
                failure_threshold: 3,
            }
        );
        let t = Timing::of(&Probe {
            initial_delay_seconds: Some(-5),
            period_seconds: Some(0),
            timeout_seconds: Some(7),
            success_threshold: Some(2),
            failure_threshold: Some(0),
            ..Default::default()
        });
        assert_eq!(t.initial_delay, Duration::ZERO);
        assert_eq!(t.period, Duration::from_secs(1));
        assert_eq!(t.timeout, Duration::from_secs(7));
        assert_eq!((t.success_threshold, t.failure_threshold), (2, 1));
    }

    #[test]
    fn counters_reach_thresholds_and_stay_put() {
        let t = Timing {
            success_threshold: 2,
            failure_threshold: 3,
            ..Timing::of(&Probe::default())
        };
        let mut c = Counters::default();
        assert!(!c.record(false, &t));
        assert!(!c.record(false, &t));
        assert!(c.record(false, &t));
        let before = c;
        assert!(c.record(false, &t));
        assert_eq!(c, before, "capped");
        assert!(!c.record(true, &t));
        assert_eq!(c.failures, 0);
        assert!(c.record(true, &t));
    }

    #[test]
    fn fresh_states() {
        let s = ProbeState::fresh(false, false);
        assert!(s.ready && s.started);
        let s = ProbeState::fresh(true, false);
        assert!(!s.ready && s.started);
        let s = ProbeState::fresh(false, true);
        assert!(!s.ready && !s.started);
    }
}
