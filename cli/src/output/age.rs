//! kubectl's short human durations (`5s`, `3m20s`, `2d4h`).

use jiff::{SignedDuration, Timestamp};

pub fn since(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> String {
    match t {
        Some(t) => human(Timestamp::now().duration_since(t.0)),
        None => "<unknown>".into(),
    }
}

/// Mirrors k8s.io/apimachinery/pkg/util/duration.HumanDuration.
pub fn human(d: SignedDuration) -> String {
    let secs = d.as_secs();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_kubectl() {
        let s = SignedDuration::from_secs;
        assert_eq!(human(s(5)), "5s");
        assert_eq!(human(s(119)), "119s");
        assert_eq!(human(s(200)), "3m20s");
        assert_eq!(human(s(3600)), "60m");
        assert_eq!(human(s(5 * 3600 + 60)), "5h1m");
        assert_eq!(human(s(30 * 3600)), "30h");
        assert_eq!(human(s(3 * 86400 + 3600)), "3d1h");
        assert_eq!(human(s(100 * 86400)), "100d");
    }
}
