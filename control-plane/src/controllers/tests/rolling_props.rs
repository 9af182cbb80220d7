//! Property tests of the rolling-update arithmetic against a simple model: a rollout
//! from an old ReplicaSet to a new one, where in each step the controller decides from
//! the counts, the ReplicaSets catch up, and an arbitrary subset of new pods becomes
//! available. At every moment the total stays within `replicas + maxSurge` and the
//! available pods at or above `replicas - maxUnavailable`, and the rollout finishes.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;

use crate::controllers::deployment::rolling::{
    new_rs_replicas, old_rs_replicas, resolve, scaled_value, RsCount,
};

fn int_or_percent() -> impl Strategy<Value = IntOrString> {
    prop_oneof![
        (0..6_i32).prop_map(IntOrString::Int),
        (0..101_i32).prop_map(|p| IntOrString::String(format!("{p}%"))),
    ]
}

/// The model: pods exist exactly as the ReplicaSet says once it catches up; the new
/// ones become available when `ready` says, deleting removes not-available ones first.
#[derive(Debug, Clone, Copy)]
struct Model {
    old: RsCount,
    new: RsCount,
}

impl Model {
    fn catch_up(rs: &mut RsCount) {
        if rs.pods > rs.replicas {
            let surplus = rs.pods - rs.replicas;
            let unavailable = rs.pods - rs.available;
            rs.available -= (surplus - unavailable.min(surplus)).max(0);
            rs.pods = rs.replicas;
        } else {
            rs.pods = rs.replicas;
        }
    }
}

proptest! {
    #[test]
    fn percentages_round_up_for_surge_and_down_for_unavailable(p in 0..200_i32, total in 0..500_i32) {
        let value = IntOrString::String(format!("{p}%"));
        let up = scaled_value(&value, total, true).unwrap();
        let down = scaled_value(&value, total, false).unwrap();
        prop_assert_eq!(i64::from(up), (i64::from(p) * i64::from(total) + 99) / 100);
        prop_assert_eq!(i64::from(down), i64::from(p) * i64::from(total) / 100);
        prop_assert!(down <= up && up - down <= 1);
    }

    #[test]
    fn a_rollout_stays_within_its_bounds_and_finishes(
        desired in 1..40_i32,
        surge in int_or_percent(),
        unavailable in int_or_percent(),
        readiness in proptest::collection::vec(0..4_i32, 1..200),
    ) {
        let fence = resolve(&surge, &unavailable, desired).unwrap();
        prop_assume!(!(fence.surge == 0 && fence.unavailable == 0));
        let max_total = desired + fence.surge;
        let min_available = (desired - fence.unavailable).max(0);
        let mut m = Model {
            old: RsCount { replicas: desired, pods: desired, available: desired },
            new: RsCount::default(),
        };
        let mut steps = readiness.into_iter().chain(std::iter::repeat(4));
        for _ in 0..10_000 {
            // The controller decides.
            m.new.replicas = new_rs_replicas(desired, fence, m.new, &[m.old]);
            m.old.replicas = old_rs_replicas(desired, fence, m.new, &[m.old])[0];
            // The ReplicaSets catch up, one after the other (either order is possible).
            Model::catch_up(&mut m.old);
            Model::catch_up(&mut m.new);
            let total = m.old.pods + m.new.pods;
            let available = m.old.available + m.new.available;
            prop_assert!(total <= max_total, "{m:?}: {total} pods > {max_total}");
            prop_assert!(available >= min_available, "{m:?}: {available} available < {min_available}");
            if m.new.available == desired && m.old.pods == 0 {
                return Ok(());
            }
            // Some new pods become available.
            let ready = steps.next().unwrap_or(4);
            m.new.available = (m.new.available + ready).min(m.new.pods);
        }
        prop_assert!(false, "the rollout never finished: {m:?}");
    }
}
