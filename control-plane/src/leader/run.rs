//! The election loop and what runs while leading.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};
use tracing::{debug, info, warn};

use super::Elector;

/// Tries for the lease until it is won, then renews it, publishing on `leading` whether
/// this server leads. Leadership ends when a renewal is refused (another server holds
/// the lease) or none succeeded for the renew deadline; then it tries again. Runs until
/// the task is aborted (release the lease after that, on a clean stop).
pub async fn keep_electing(elector: Arc<Elector>, leading: watch::Sender<bool>) {
    let config = elector.config().clone();
    let _follower = Running(vec![tokio::spawn(follow(elector.clone()))]);
    loop {
        loop {
            match elector.try_acquire_or_renew().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => warn!(error = %e, "trying for the leader lease"),
            }
            // Again at the next retry, or the moment the holder's lease runs out (the
            // follower keeps that moment current as renewals commit).
            let deadline = Instant::now() + config.retry_period;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match elector.expires_in() {
                    Some(expiry) if expiry < left => {
                        if expiry.is_zero() {
                            break;
                        }
                        sleep(expiry.min(RECHECK)).await;
                    }
                    _ if left.is_zero() => break,
                    _ => sleep(left.min(RECHECK)).await,
                }
            }
        }
        info!(identity = %config.identity, "leading: starting the controllers");
        leading.send_replace(true);
        let mut renewed = Instant::now();
        loop {
            sleep(config.retry_period).await;
            let started = Instant::now();
            let left = config.renew_deadline.saturating_sub(renewed.elapsed());
            match timeout(left, elector.try_acquire_or_renew()).await {
                Ok(Ok(true)) => renewed = started,
                Ok(Ok(false)) => {
                    warn!(identity = %config.identity, "another server holds the leader lease");
                    break;
                }
                Ok(Err(e)) => warn!(error = %e, "renewing the leader lease"),
                Err(_) => warn!("renewing the leader lease timed out"),
            }
            if renewed.elapsed() >= config.renew_deadline {
                warn!(deadline = ?config.renew_deadline, "could not renew the leader lease in time");
                break;
            }
        }
        leading.send_replace(false);
        warn!(identity = %config.identity, "not leading: controllers stopped");
    }
}

/// How often a waiting server re-reads the expiry its follower keeps current.
const RECHECK: Duration = Duration::from_millis(250);

/// Follows the lease through the store's watch for as long as the election runs,
/// starting again after a failed watch.
async fn follow(elector: Arc<Elector>) {
    loop {
        if let Err(e) = elector.follow().await {
            debug!(error = %e, "following the leader lease; watching again");
        }
        sleep(elector.config().retry_period).await;
    }
}

/// Runs what `start` spawns while `leading` says so: started when leadership begins,
/// aborted (and waited for) the moment it ends or the sender goes away.
pub async fn run_while_leading<F>(mut leading: watch::Receiver<bool>, mut start: F)
where
    F: FnMut() -> Vec<JoinHandle<()>>,
{
    loop {
        if leading.wait_for(|lead| *lead).await.is_err() {
            return;
        }
        let mut tasks = Running(start());
        let gone = leading.wait_for(|lead| !*lead).await.is_err();
        tasks.0.iter().for_each(JoinHandle::abort);
        for task in std::mem::take(&mut tasks.0) {
            let _ = task.await;
        }
        if gone {
            return;
        }
    }
}

/// The singletons while they run: aborted when dropped, so aborting the supervisor
/// (a stop) stops them too.
struct Running(Vec<JoinHandle<()>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}
