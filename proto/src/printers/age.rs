//! kubectl's short human durations (`5s`, `3m20s`, `2d4h`) and ages.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// Kubernetes' `duration.HumanDuration`: two significant units at most, coarser as the
/// duration grows.
pub fn human_duration(d: SignedDuration) -> String {
    let secs = d.as_secs();
    // A clock a second ahead of the object's reads as now.
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    let (minutes, hours) = (secs / 60, secs / 3600);
    if secs < 120 {
        format!("{secs}s")
    } else if minutes < 10 {
        match secs % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        }
    } else if minutes < 180 {
        format!("{minutes}m")
    } else if hours < 8 {
        match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        }
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            d => format!("{}y{d}d", hours / 24 / 365),
        }
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// The time at a JSON pointer, when set and valid.
pub fn time(o: &Value, ptr: &str) -> Option<Timestamp> {
    o.pointer(ptr)?.as_str()?.parse().ok()
}

/// Kubernetes' `translateTimestampSince`: how long ago the time at `ptr` was, or
/// `<unknown>` when it is not set.
pub fn since(o: &Value, ptr: &str, now: Timestamp) -> String {
    match time(o, ptr) {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".into(),
    }
}

/// The AGE cell: how long ago the object was created.
pub fn age(o: &Value, now: Timestamp) -> Value {
    since(o, "/metadata/creationTimestamp", now).into()
}
