//! Similar events combined as client-go's event correlator combines the kubelet's: once a
//! container (or pod) has had ten events of one type and reason with different messages,
//! the next ones all read `(combined from similar events): ...` with the message of the
//! tenth, so the control plane folds them into one counted Event. A probe whose output
//! changes at every attempt then adds one Event, not one per attempt.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use super::events::{EventType, PodEvent};

/// Distinct messages before the rest are combined (client-go's default).
pub const THRESHOLD: usize = 10;
/// A quiet spell this long starts the count again.
pub const WINDOW: Duration = Duration::from_secs(10 * 60);
/// Kinds of events remembered at once; more forget the quiet ones first.
pub const MAX_KEYS: usize = 4096;

type Key = (String, String, EventType, String);

struct Seen {
    last: Instant,
    /// Hashes of the distinct messages so far (at most [`THRESHOLD`]).
    messages: HashSet<u64>,
    combined: Option<String>,
}

/// What has been seen lately, bounded by [`MAX_KEYS`] × [`THRESHOLD`] hashes.
#[derive(Default)]
pub struct SimilarEvents {
    seen: HashMap<Key, Seen>,
}

impl SimilarEvents {
    /// `event` as it should be sent: as is, or with the combined message.
    pub fn observe(&mut self, mut event: PodEvent, now: Instant) -> PodEvent {
        let key = (
            event.pod_uid.clone(),
            event.field_path.clone(),
            event.type_,
            event.reason.clone(),
        );
        if self.seen.len() >= MAX_KEYS && !self.seen.contains_key(&key) {
            self.forget(now);
        }
        let seen = self.seen.entry(key).or_insert_with(|| Seen {
            last: now,
            messages: HashSet::new(),
            combined: None,
        });
        if now.saturating_duration_since(seen.last) > WINDOW {
            seen.messages.clear();
            seen.combined = None;
        }
        seen.last = now;
        if let Some(combined) = &seen.combined {
            event.message = combined.clone();
            return event;
        }
        let mut hasher = DefaultHasher::new();
        event.message.hash(&mut hasher);
        seen.messages.insert(hasher.finish());
        if seen.messages.len() >= THRESHOLD {
            let combined = format!("(combined from similar events): {}", event.message);
            seen.messages.clear();
            seen.combined = Some(combined.clone());
            event.message = combined;
        }
        event
    }

    /// Drops what went quiet; everything when nothing did, so the map never outgrows
    /// [`MAX_KEYS`].
    fn forget(&mut self, now: Instant) {
        self.seen
            .retain(|_, s| now.saturating_duration_since(s.last) <= WINDOW);
        if self.seen.len() >= MAX_KEYS {
            self.seen.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::events::test_event;

    fn unhealthy(uid: &str, message: &str) -> PodEvent {
        test_event(uid, "Unhealthy", message)
    }

    #[test]
    fn the_tenth_different_message_and_all_after_it_are_combined() {
        let mut similar = SimilarEvents::default();
        let now = Instant::now();
        let mut sent = Vec::new();
        for i in 0..15 {
            let e = unhealthy("u1", &format!("Readiness probe failed: at {i}"));
            sent.push(similar.observe(e, now).message);
        }
        assert_eq!(sent[8], "Readiness probe failed: at 8");
        let combined = "(combined from similar events): Readiness probe failed: at 9";
        assert!(sent[9..].iter().all(|m| m == combined), "{sent:?}");
        // Another pod, and the same pod after a quiet spell, count afresh.
        let other = similar.observe(unhealthy("u2", "x"), now);
        assert_eq!(other.message, "x");
        let later = similar.observe(unhealthy("u1", "y"), now + WINDOW * 2);
        assert_eq!(later.message, "y");
    }

    #[test]
    fn repeats_of_one_message_are_never_combined() {
        let mut similar = SimilarEvents::default();
        let now = Instant::now();
        for _ in 0..50 {
            let e = similar.observe(unhealthy("u1", "same"), now);
            assert_eq!(e.message, "same");
        }
    }

    #[test]
    fn the_memory_stays_bounded() {
        let mut similar = SimilarEvents::default();
        let now = Instant::now();
        for i in 0..(MAX_KEYS * 2) {
            similar.observe(unhealthy(&format!("u{i}"), "m"), now);
        }
        assert!(similar.seen.len() <= MAX_KEYS);
    }
}
