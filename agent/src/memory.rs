//! The agent's process-wide memory settings: a node on a 512 MB Raspberry Pi cannot
//! spare what glibc's defaults and a default tokio runtime hold (docs/architecture.md,
//! What the agent's memory is).
//!
//! - glibc gives every thread that allocates an arena of its own, up to eight per core;
//!   tokio's blocking pool (file and netns work) has many threads, each leaving a
//!   partly used arena behind. One arena: the agent's allocations are small and its
//!   threads rarely contend on malloc.
//! - Freed memory stays in the arenas until a `malloc_trim`, so a burst (100 pods
//!   starting, an image unpacked) would keep the resident size at its peak.
//! - The runtime: one worker per core and a small blocking pool whose idle threads exit
//!   soon. Thread stacks stay tokio's 2 MiB: only the pages a thread touched are
//!   resident, and debug builds need the depth.

use std::time::Duration;

/// How often freed memory is returned to the system.
pub const TRIM_PERIOD: Duration = Duration::from_secs(5);

/// glibc malloc arenas for the whole process.
const ARENAS: i32 = 1;

/// Threads of the blocking pool at most: mounts, netns entries, files, DNS lookups.
/// A burst of pod starts queues on it rather than growing a thread per call.
pub const MAX_BLOCKING_THREADS: usize = 16;

/// An idle blocking thread exits after this (tokio's default is 10 s).
const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(2);

/// Sets malloc's arena count. Call it first thing in `main`, before any thread starts.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Returns the free pages of every arena to the system; whether any were.
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes malloc's own locks; it only releases free memory.
    unsafe {
        libc::malloc_trim(0) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// Trims every `period` on the blocking pool (a trim walks the arenas) until aborted.
pub fn spawn_trimmer(period: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    })
}

/// The agent's runtime: a worker per core (at least one), the blocking pool capped.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_runs_blocking_work_beyond_its_cap() {
        // More blocking calls than threads: they queue and all complete.
        let rt = runtime().expect("runtime");
        let done = rt.block_on(async {
            let calls: Vec<_> = (0..MAX_BLOCKING_THREADS * 2)
                .map(|i| tokio::task::spawn_blocking(move || i))
                .collect();
            let mut sum = 0;
            for c in calls {
                sum += c.await.expect("blocking call");
            }
            sum
        });
        let n = MAX_BLOCKING_THREADS * 2;
        assert_eq!(done, n * (n - 1) / 2);
    }
}
