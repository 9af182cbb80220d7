//! The kubelet's prober: liveness, readiness and startup probes of one container.
//!
//! `check` runs one probe attempt (exec, httpGet, tcpSocket, grpc); `worker` schedules the
//! three probes of a container, counts results against their thresholds and reports
//! transitions to the pod worker; `store` keeps that state on disk so an agent restart
//! neither flaps readiness nor resets failure counts.

mod check;
mod http;
mod state;
pub mod store;
mod worker;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod real_tests;
#[cfg(test)]
mod tests;

pub use check::{check, resolve_port, ExecRunner, ProbeOutcome, ProbeTarget, USER_AGENT};
pub use state::{Counters, Failed, ProbeState, Timing};
pub use worker::{spawn_prober, ProbeEvent, ProbeSpec, ProberHandle};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Liveness => "Liveness",
            Self::Readiness => "Readiness",
            Self::Startup => "Startup",
        }
    }
}

impl std::fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
