//! The rolling-update arithmetic, apart from any I/O so it can be checked against a
//! simple model (property tests in `controllers/tests/rolling_props.rs`).
//!
//! As Kubernetes' deployment controller, with one difference: where Kubernetes counts a
//! ReplicaSet's pods by its `spec.replicas`, this counts `max(spec.replicas, pods that
//! exist)` for the surge and `min(available pods, spec.replicas)` for availability, so a
//! ReplicaSet that has not yet caught up with a scale-down cannot push the total over
//! `replicas + maxSurge` nor the available count under `replicas - maxUnavailable`.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// maxSurge and maxUnavailable resolved to pod counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fenceposts {
    pub surge: i32,
    pub unavailable: i32,
}

/// An int, or a percentage of `total` rounded up (`round_up`) or down.
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(text) => {
            let percent: i64 = text
                .strip_suffix('%')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("{text:?} is neither an integer nor a percentage"))?;
            let product = percent * i64::from(total);
            let scaled = if round_up {
                (product + 99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(scaled).map_err(|_| format!("{text:?} of {total} is out of range"))
        }
    }
}

/// Kubernetes' ResolveFenceposts: surge rounds up, unavailable rounds down, and when both
/// come to 0 (a small Deployment with small percentages) one pod may be unavailable, or
/// the rollout could never move.
pub fn resolve(
    max_surge: &IntOrString,
    max_unavailable: &IntOrString,
    desired: i32,
) -> Result<Fenceposts, String> {
    let surge = scaled_value(max_surge, desired, true)?;
    let mut unavailable = scaled_value(max_unavailable, desired, false)?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok(Fenceposts { surge, unavailable })
}

/// One ReplicaSet as the rollout counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RsCount {
    /// `spec.replicas`.
    pub replicas: i32,
    /// Active pods that exist.
    pub pods: i32,
    /// Of those, the available ones.
    pub available: i32,
}

impl RsCount {
    /// Pods it has or will have.
    pub fn footprint(&self) -> i32 {
        self.replicas.max(self.pods)
    }

    /// Available pods it keeps once it has caught up with its replicas.
    pub fn sure_available(&self) -> i32 {
        self.available.min(self.replicas).max(0)
    }
}

/// The new ReplicaSet's replicas for the next step (Kubernetes' NewRSNewReplicas).
pub fn new_rs_replicas(desired: i32, fence: Fenceposts, new: RsCount, olds: &[RsCount]) -> i32 {
    if new.replicas >= desired {
        return desired;
    }
    let current: i32 = new.footprint() + olds.iter().map(RsCount::footprint).sum::<i32>();
    let max_total = desired + fence.surge;
    if current >= max_total {
        return new.replicas;
    }
    new.replicas + (max_total - current).min(desired - new.replicas)
}

/// The old ReplicaSets' replicas for the next step (Kubernetes' reconcileOldReplicaSets):
/// first unavailable pods go, as far as the unavailability budget allows, then available
/// ones while more than `desired - maxUnavailable` stay available. `olds` are in the
/// order to scale down (oldest first).
pub fn old_rs_replicas(
    desired: i32,
    fence: Fenceposts,
    new: RsCount,
    olds: &[RsCount],
) -> Vec<i32> {
    let mut replicas: Vec<i32> = olds.iter().map(|o| o.replicas).collect();
    if replicas.iter().all(|r| *r == 0) {
        return replicas;
    }
    let all_pods: i32 = new.footprint() + olds.iter().map(RsCount::footprint).sum::<i32>();
    let min_available = desired - fence.unavailable;
    let new_unavailable = new.replicas - new.available.min(new.replicas);
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return replicas;
    }
    // Unhealthy pods first.
    let mut cleaned = 0;
    for (i, old) in olds.iter().enumerate() {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = (old.replicas - old.sure_available()).max(0);
        let scale = unhealthy.min(max_scaled_down - cleaned);
        replicas[i] -= scale;
        cleaned += scale;
    }
    // Then available ones, keeping min_available.
    let available: i32 = new.sure_available()
        + olds
            .iter()
            .zip(&replicas)
            .map(|(o, r)| o.available.min(*r).max(0))
            .sum::<i32>();
    let mut budget = available - min_available;
    for replica in &mut replicas {
        if budget <= 0 {
            break;
        }
        let scale = (*replica).min(budget);
        *replica -= scale;
        budget -= scale;
    }
    replicas
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn percentages_round_as_kubernetes_rounds_them() {
        // 25% of 3: surge rounds up to 1, unavailable down to 0.
        assert_eq!(
            resolve(&pct("25%"), &pct("25%"), 3).unwrap(),
            Fenceposts {
                surge: 1,
                unavailable: 0
            }
        );
        assert_eq!(
            resolve(&pct("25%"), &pct("25%"), 10).unwrap(),
            Fenceposts {
                surge: 3,
                unavailable: 2
            }
        );
        // Both 0 after rounding: one may be unavailable.
        assert_eq!(
            resolve(&IntOrString::Int(0), &pct("10%"), 3).unwrap(),
            Fenceposts {
                surge: 0,
                unavailable: 1
            }
        );
        assert!(resolve(&pct("x%"), &pct("1"), 3).is_err());
    }

    #[test]
    fn three_replicas_surge_one_at_a_time() {
        let fence = resolve(&pct("25%"), &pct("25%"), 3).unwrap();
        let old = RsCount {
            replicas: 3,
            pods: 3,
            available: 3,
        };
        let new = RsCount::default();
        assert_eq!(new_rs_replicas(3, fence, new, &[old]), 1);
        // The new pod is not available: nothing old may go.
        let new = RsCount {
            replicas: 1,
            pods: 1,
            available: 0,
        };
        assert_eq!(old_rs_replicas(3, fence, new, &[old]), vec![3]);
        let new = RsCount {
            replicas: 1,
            pods: 1,
            available: 1,
        };
        assert_eq!(old_rs_replicas(3, fence, new, &[old]), vec![2]);
    }
}
