//! A steady stream of writes for HA tests: ConfigMaps created through the REST API at a
//! fixed rate, each to the next server in turn, retried on another when a server does
//! not answer (refused, reset, 5xx), as a client with several API endpoints would. What
//! was acknowledged is recorded, so the test can check that every acknowledged write is
//! readable afterwards.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::rest::Rest;

pub const NAMESPACE: &str = "default";
pub const LABEL: &str = "skiff-e2e/ha-writes";

/// What the writer saw.
#[derive(Debug, Default, Clone)]
pub struct Writes {
    /// Names whose create a server acknowledged (201, or 409 on a retry of our own).
    pub acked: Vec<String>,
    /// Names no server acknowledged within the retry budget.
    pub lost: Vec<String>,
    /// Writes that needed more than one attempt: name, when it started (since the
    /// writer did), attempts, and what the first attempt got.
    pub retried: Vec<(String, Duration, u32, String)>,
    /// Answers other than 201/409/5xx, with their text: a bug, not an outage.
    pub refused: Vec<String>,
}

/// The running writer; [`Writer::stop`] returns what it saw.
pub struct Writer {
    stop: Arc<AtomicBool>,
    writes: Arc<Mutex<Writes>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    started: Instant,
}

/// Writer threads.
pub const WORKERS: u32 = 4;

impl Writer {
    /// Starts writing `per_second` ConfigMaps a second to `servers` in turn, from
    /// [`WORKERS`] threads (one request at a time could not keep the rate while a server
    /// takes tens of milliseconds per write).
    pub fn start(servers: Vec<Rest>, per_second: u32, prefix: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(Mutex::new(Writes::default()));
        let started = Instant::now();
        let servers = Arc::new(servers);
        let period = Duration::from_secs(1) * WORKERS / per_second.max(1);
        let threads = (0..WORKERS)
            .map(|w| {
                let (stop, writes, servers) = (stop.clone(), writes.clone(), servers.clone());
                let prefix = format!("{prefix}-{w}");
                std::thread::spawn(move || {
                    // Staggered, so the requests spread over the period.
                    std::thread::sleep(period * w / WORKERS);
                    run(
                        &servers, period, w as usize, &prefix, &stop, &writes, started,
                    )
                })
            })
            .collect();
        Writer {
            stop,
            writes,
            threads,
            started,
        }
    }

    /// Time since the writer started (to place events against `retried`).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A copy of what it saw so far.
    pub fn snapshot(&self) -> Writes {
        self.writes.lock().expect("writes lock").clone()
    }

    pub fn stop(mut self) -> Writes {
        self.halt();
        self.snapshot()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// How long one write may keep trying before it counts as lost: longer than a leader
/// lease, so a server's death alone never loses a write.
const RETRY_BUDGET: Duration = Duration::from_secs(40);

fn run(
    servers: &[Rest],
    period: Duration,
    first_turn: usize,
    prefix: &str,
    stop: &AtomicBool,
    writes: &Mutex<Writes>,
    started: Instant,
) {
    let mut next = Instant::now();
    let mut turn = first_turn;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let name = format!("{prefix}-{n}");
        n += 1;
        let began = started.elapsed();
        let outcome = create(servers, &mut turn, &name);
        let mut w = writes.lock().expect("writes lock");
        match outcome {
            Outcome::Acked {
                attempts,
                first_error,
            } => {
                if attempts > 1 {
                    w.retried.push((name.clone(), began, attempts, first_error));
                }
                w.acked.push(name);
            }
            Outcome::Lost => w.lost.push(name),
            Outcome::Refused(text) => w.refused.push(format!("{name}: {text}")),
        }
        drop(w);
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        } else {
            next = Instant::now();
        }
    }
}

enum Outcome {
    Acked { attempts: u32, first_error: String },
    Lost,
    Refused(String),
}

/// One create, moving to the next server after every failure to answer.
fn create(servers: &[Rest], turn: &mut usize, name: &str) -> Outcome {
    let body = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {LABEL: "yes"}},
        "data": {"n": name},
    });
    let path = format!("/api/v1/namespaces/{NAMESPACE}/configmaps");
    let deadline = Instant::now() + RETRY_BUDGET;
    let mut attempts = 0;
    let mut first_error = String::new();
    loop {
        attempts += 1;
        let rest = &servers[*turn % servers.len()];
        *turn += 1;
        let error = match rest.post(&path, &body) {
            Ok(reply) if reply.code == 201 => {
                return Outcome::Acked {
                    attempts,
                    first_error,
                }
            }
            // An earlier attempt of ours went through without our hearing of it.
            Ok(reply) if reply.code == 409 && attempts > 1 => {
                return Outcome::Acked {
                    attempts,
                    first_error,
                }
            }
            Ok(reply) if reply.code >= 500 || reply.code == 429 => {
                format!("{}: {} {}", rest.url(""), reply.code, reply.text)
            }
            Ok(reply) => return Outcome::Refused(format!("{} {}", reply.code, reply.text)),
            Err(e) => format!("{}: {e:#}", rest.url("")),
        };
        if first_error.is_empty() {
            first_error = error;
        }
        if Instant::now() >= deadline {
            return Outcome::Lost;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
