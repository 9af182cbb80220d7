//! A process's memory as the kernel accounts it, for bench_footprint: RSS and PSS from
//! `/proc/PID/smaps_rollup` (PSS shares each page among the processes mapping it, so
//! the shims' and containerd's shared binary pages are counted once across them), and
//! where a process's resident pages are, from `/proc/PID/smaps`.

use anyhow::Context;

/// One process's (or a group's summed) figures, in kB.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Memory {
    pub rss_kb: u64,
    pub pss_kb: u64,
    pub pss_anon_kb: u64,
    pub pss_file_kb: u64,
}

impl Memory {
    pub fn rss_mb(&self) -> f64 {
        self.rss_kb as f64 / 1024.0
    }

    pub fn pss_mb(&self) -> f64 {
        self.pss_kb as f64 / 1024.0
    }
}

impl std::ops::Add for Memory {
    type Output = Memory;

    fn add(self, other: Memory) -> Memory {
        Memory {
            rss_kb: self.rss_kb + other.rss_kb,
            pss_kb: self.pss_kb + other.pss_kb,
            pss_anon_kb: self.pss_anon_kb + other.pss_anon_kb,
            pss_file_kb: self.pss_file_kb + other.pss_file_kb,
        }
    }
}

/// RSS and PSS of `pid` from its smaps_rollup.
pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .with_context(|| format!("read /proc/{pid}/smaps_rollup"))?;
    parse_rollup(&text).with_context(|| format!("no Rss/Pss in /proc/{pid}/smaps_rollup"))
}

/// The summed figures of several processes (the shims); gone processes count nothing.
pub fn memory_of_all(pids: &[u32]) -> Memory {
    pids.iter()
        .filter_map(|pid| memory(*pid).ok())
        .fold(Memory::default(), |sum, m| sum + m)
}

fn kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn parse_rollup(text: &str) -> Option<Memory> {
    Some(Memory {
        rss_kb: kb_field(text, "Rss")?,
        pss_kb: kb_field(text, "Pss")?,
        // Older kernels (before 5.3) lack the split; it is then reported as zero.
        pss_anon_kb: kb_field(text, "Pss_Anon").unwrap_or(0),
        pss_file_kb: kb_field(text, "Pss_File").unwrap_or(0),
    })
}

/// Where a process's resident pages are, in kB, from its mappings.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Breakdown {
    /// Pages of files: the binary's code and data it touched, shared libraries.
    pub file_kb: u64,
    /// The brk heap: glibc's main malloc arena.
    pub main_arena_kb: u64,
    /// glibc's other arenas: anonymous mappings aligned to their 64 MiB reservation.
    pub other_arenas_kb: u64,
    /// Other anonymous mappings: thread stacks and allocations large enough that malloc
    /// mmaps them on their own (128 KiB and up, by default).
    pub stacks_and_large_kb: u64,
    /// Anonymous mappings of 64 MiB reservations (glibc arenas) seen.
    pub arenas: usize,
    pub threads: usize,
    /// Of `file_kb`, and of the anonymous pages, those referenced since the last
    /// [`working_set`] cleared the marks (all resident pages when none did).
    pub file_referenced_kb: u64,
    pub anon_referenced_kb: u64,
}

/// glibc reserves each non-main arena's heap as a 64 MiB-aligned mapping (HEAP_MAX_SIZE
/// on 64-bit targets).
const ARENA_ALIGN: u64 = 64 << 20;

/// [`Breakdown`] of `pid` from its smaps and task list.
pub fn breakdown(pid: u32) -> anyhow::Result<Breakdown> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps"))
        .with_context(|| format!("read /proc/{pid}/smaps"))?;
    let mut out = parse_smaps(&text);
    out.threads = std::fs::read_dir(format!("/proc/{pid}/task"))?.count();
    Ok(out)
}

/// What `pid` touches in `window`: its pages' referenced marks are cleared
/// (`/proc/PID/clear_refs`), then read back from smaps after the window. Resident pages
/// outside it (start-up code, a burst's leftovers) are what the kernel reclaims first
/// when memory is short.
pub fn working_set(pid: u32, window: std::time::Duration) -> anyhow::Result<Breakdown> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "1")
        .with_context(|| format!("clear the referenced marks of {pid}"))?;
    std::thread::sleep(window);
    breakdown(pid)
}

fn parse_smaps(text: &str) -> Breakdown {
    let mut out = Breakdown::default();
    // The mapping a `Rss:` line belongs to: (start address, path, readable/writable).
    let mut current: Option<(u64, String)> = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if let Some((start, _)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let start = u64::from_str_radix(start, 16).unwrap_or(0);
            // address perms offset dev inode [path]
            let path = words.nth(4).unwrap_or_default().to_string();
            current = Some((start, path));
            continue;
        }
        if first != "Rss:" && first != "Referenced:" {
            continue;
        }
        let kb: u64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let Some((start, path)) = &current else {
            continue;
        };
        if first == "Referenced:" {
            match path.as_str() {
                "" | "[heap]" | "[stack]" => out.anon_referenced_kb += kb,
                p if p.starts_with('[') => {}
                _ => out.file_referenced_kb += kb,
            }
            continue;
        }
        match path.as_str() {
            "[heap]" => out.main_arena_kb += kb,
            "" if start % ARENA_ALIGN == 0 => {
                out.other_arenas_kb += kb;
                out.arenas += 1;
            }
            "" | "[stack]" => out.stacks_and_large_kb += kb,
            p if p.starts_with('[') => {} // vdso, vvar, vsyscall: the kernel's
            _ => out.file_kb += kb,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollup_figures() {
        let text = "55d0-7ffe ---p 00000000 00:00 0 [rollup]\nRss:  18000 kB\nPss:  17000 kB\nPss_Anon: 12000 kB\nPss_File: 5000 kB\n";
        assert_eq!(
            parse_rollup(text),
            Some(Memory {
                rss_kb: 18000,
                pss_kb: 17000,
                pss_anon_kb: 12000,
                pss_file_kb: 5000
            })
        );
    }

    #[test]
    fn mappings_sorted_by_kind() {
        let text = "\
55d000000000-55d000100000 r-xp 00000000 08:01 42 /usr/bin/skiff-agent
Rss:  900 kB
Referenced:  120 kB
55d000200000-55d000300000 rw-p 00000000 00:00 0 [heap]
Rss:  300 kB
Referenced:  250 kB
7f0004000000-7f0004100000 rw-p 00000000 00:00 0
Rss:  200 kB
7f0004200000-7f0004400000 rw-p 00000000 00:00 0
Rss:  16 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
Rss:  8 kB
7ffd00100000-7ffd00101000 r-xp 00000000 00:00 0 [vdso]
Rss:  4 kB
";
        let b = parse_smaps(text);
        assert_eq!(
            (
                b.file_kb,
                b.main_arena_kb,
                b.other_arenas_kb,
                b.arenas,
                b.stacks_and_large_kb
            ),
            (900, 300, 200, 1, 24)
        );
        assert_eq!((b.file_referenced_kb, b.anon_referenced_kb), (120, 250));
    }
}
