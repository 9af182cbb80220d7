//! Keeps the node's lease alive: a Heartbeat every quarter of the lease, so three can be
//! lost before the node goes NotReady.

use std::time::Duration;

use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::HeartbeatRequest;
use tonic::transport::Channel;
use tracing::{debug, warn};

/// Until the server tells us its lease: the default 40 s.
const DEFAULT_LEASE: Duration = Duration::from_secs(40);
const RETRY: Duration = Duration::from_secs(2);

/// The wait before the next heartbeat for a lease of `lease_seconds` (0 = unknown).
pub fn interval(lease_seconds: i64) -> Duration {
    let lease = u64::try_from(lease_seconds)
        .ok()
        .filter(|s| *s > 0)
        .map_or(DEFAULT_LEASE, Duration::from_secs);
    (lease / 4).max(Duration::from_secs(1))
}

pub async fn run(channel: Channel, node_name: String) {
    let mut client = NodeClient::new(channel);
    loop {
        let req = HeartbeatRequest {
            node_name: node_name.clone(),
        };
        let wait = match client.heartbeat(req).await {
            Ok(resp) => {
                let lease = resp.into_inner().lease_seconds;
                debug!(lease, "heartbeat");
                interval(lease)
            }
            Err(status) => {
                warn!(code = ?status.code(), message = status.message(), "heartbeat failed");
                RETRY
            }
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_of_the_lease() {
        assert_eq!(interval(40), Duration::from_secs(10));
        assert_eq!(interval(0), Duration::from_secs(10));
        assert_eq!(interval(2), Duration::from_secs(1));
    }
}
