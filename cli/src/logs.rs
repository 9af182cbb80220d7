//! What `skiff logs` shares whether the control plane (`pods/log`) or a node's agent
//! serves the logs: the flags read as kubectl reads them, and the agent's stream copied
//! to stdout.

use std::io::Write;

use skiff_proto::v1::{LogChunk, LogsRequest};

use crate::args::{LogFlags, Scope};

pub fn request(pod: &str, flags: &LogFlags, scope: &Scope) -> anyhow::Result<LogsRequest> {
    let since_seconds = match flags.since.as_deref() {
        Some(s) => since_seconds(s)?,
        None => 0,
    };
    if let Some(t) = &flags.since_time {
        t.parse::<jiff::Timestamp>()
            .map_err(|_| anyhow::anyhow!("--since-time {t:?} is not an RFC3339 time"))?;
    }
    Ok(LogsRequest {
        namespace: scope.namespace.clone(),
        pod: pod.to_string(),
        container: flags.container.clone().unwrap_or_default(),
        follow: flags.follow,
        previous: flags.previous,
        tail_lines: flags.tail,
        since_seconds,
        since_time: flags.since_time.clone().unwrap_or_default(),
        timestamps: flags.timestamps,
        ..Default::default()
    })
}

/// The `pods/log` query of the flags.
pub fn params(flags: &LogFlags) -> anyhow::Result<kube::api::LogParams> {
    let since_seconds = flags.since.as_deref().map(since_seconds).transpose()?;
    let since_time = match &flags.since_time {
        Some(t) => Some(
            t.parse::<jiff::Timestamp>()
                .map_err(|_| anyhow::anyhow!("--since-time {t:?} is not an RFC3339 time"))?,
        ),
        None => None,
    };
    Ok(kube::api::LogParams {
        container: flags.container.clone(),
        follow: flags.follow,
        previous: flags.previous,
        tail_lines: Some(flags.tail).filter(|t| *t >= 0),
        since_seconds,
        since_time,
        timestamps: flags.timestamps,
        ..Default::default()
    })
}

/// `--since` as kubectl takes it (a Go duration: `5s`, `2m`, `1h30m`), in whole seconds,
/// rounded up as kubectl does.
fn since_seconds(s: &str) -> anyhow::Result<i64> {
    let bad = || anyhow::anyhow!("--since {s:?}: not a duration (try 5s, 2m, 1h30m)");
    let mut rest = s;
    let mut millis: u64 = 0;
    while !rest.is_empty() {
        let at = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..at].parse().map_err(|_| bad())?;
        let unit_end = rest[at..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |i| at + i);
        let per = match &rest[at..unit_end] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        millis = n
            .checked_mul(per)
            .and_then(|m| millis.checked_add(m))
            .ok_or_else(bad)?;
        rest = &rest[unit_end..];
    }
    if millis == 0 {
        return Err(bad());
    }
    i64::try_from(millis.div_ceil(1000)).map_err(|_| bad())
}

/// Writes every chunk as it arrives (`-f` shows lines live); `error` words a failed stream.
pub async fn print(
    mut stream: tonic::Streaming<LogChunk>,
    error: fn(tonic::Status) -> anyhow::Error,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = stream.message().await.map_err(error)? {
        out.write_all(&chunk.data)?;
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::since_seconds;

    #[test]
    fn since_takes_go_durations() {
        assert_eq!(since_seconds("5s").unwrap(), 5);
        assert_eq!(since_seconds("2m").unwrap(), 120);
        assert_eq!(since_seconds("1h30m").unwrap(), 5400);
        assert_eq!(since_seconds("1500ms").unwrap(), 2);
        for bad in ["", "5", "m", "5d", "0s", "-5s"] {
            assert!(since_seconds(bad).is_err(), "{bad}");
        }
    }
}
