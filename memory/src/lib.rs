//! Process-wide memory settings shared by the agent and the control plane: a node on a
//! 512 MB Raspberry Pi cannot spare what glibc's defaults and a default tokio runtime
//! hold (docs/architecture.md, What the agent's memory is; What costs what).
//!
//! - glibc gives every thread that allocates an arena of its own, up to eight per core;
//!   tokio's blocking pool has many threads, each leaving a partly used arena behind.
//! - Freed memory stays in the arenas until a `malloc_trim`, so a burst (100 pods
//!   starting, a list of 5,000 objects) would keep the resident size at its peak.
//! - glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB):
//!   after one multi-megabyte list body, later ones come from the heap and leave holes
//!   there. A fixed threshold keeps big buffers in their own mappings, returned on free.
//! - The runtime: one worker per core and a small blocking pool whose idle threads exit
//!   soon. Thread stacks stay tokio's 2 MiB: only the pages a thread touched are
//!   resident, and debug builds need the depth.

use std::time::Duration;

/// How often freed memory is returned to the system.
pub const TRIM_PERIOD: Duration = Duration::from_secs(5);

/// Blocks at least this large get a mapping of their own (glibc's initial threshold).
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// An idle blocking thread exits after this (tokio's default is 10 s).
const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(2);

/// Sets malloc's arena count and a fixed mmap threshold. Call it first thing in `main`,
/// before any thread starts.
pub fn configure_malloc(arenas: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc parameters; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = arenas;
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

/// A runtime with a worker per core (at least one) and at most `max_blocking_threads`
/// in the blocking pool: a burst of blocking calls queues rather than growing a thread
/// (and its stack and malloc cache) per call.
pub fn runtime(max_blocking_threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .max_blocking_threads(max_blocking_threads.max(1))
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
        let cap = 4;
        let rt = runtime(cap).expect("runtime");
        let n = cap * 4;
        let done = rt.block_on(async {
            let calls: Vec<_> = (0..n)
                .map(|i| tokio::task::spawn_blocking(move || i))
                .collect();
            let mut sum = 0;
            for c in calls {
                sum += c.await.expect("blocking call");
            }
            sum
        });
        assert_eq!(done, n * (n - 1) / 2);
    }

    #[test]
    fn a_trim_returns_the_holes_a_freed_burst_left_in_the_heap() {
        configure_malloc(1);
        // 16 MB in blocks below the mmap threshold, each followed by a small block that
        // stays: freeing the big ones leaves holes inside the heap (not at its top, which
        // free() gives back by itself), and only a trim returns their pages.
        let (big, keep): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (0..256)
            .map(|i| (vec![i as u8; 64 * 1024], vec![i as u8; 64]))
            .unzip();
        drop(big);
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        assert!(trim(), "malloc_trim released none of the 16 MB freed");
        drop(keep);
    }
}
