//! Handing freed memory back to the system. The control plane's work comes in bursts: a
//! list of thousands of objects, a scheduler pass over every pod. glibc's malloc keeps
//! what a burst freed in its arenas (one per thread that allocated, up to eight per
//! core, and tokio's blocking pool has many threads), so the resident size would stay
//! at the largest burst's. Fewer arenas and a periodic `malloc_trim` keep it near what
//! is live (docs/architecture.md, What costs what).

use std::time::Duration;

/// How often freed memory is returned.
pub const TRIM_PERIOD: Duration = Duration::from_secs(5);

/// At most two malloc arenas. Call it first thing in `main`, before threads start.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; nothing else is running yet.
    unsafe {
        nix::libc::mallopt(nix::libc::M_ARENA_MAX, 2);
    }
}

/// Returns the free pages of every arena to the system; whether any were.
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes malloc's own locks; it only releases free memory.
    unsafe {
        nix::libc::malloc_trim(0) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// Trims every `period` on the blocking pool (a trim walks every arena) until aborted.
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
