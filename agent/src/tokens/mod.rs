//! The node's one token manager (kubelet's `pkg/kubelet/token`): bound service account
//! tokens for projected `serviceAccountToken` volumes, cached by pod uid, audiences
//! and expiration, so the volume resync (`volumes/resync.rs`) rewrites a token only when
//! it needs refreshing: once 80% of its life has passed or it is older than 24 h. A
//! failed refresh keeps the cached token while it is still valid. A pod's tokens are
//! dropped at its volumes' teardown; expired ones whenever the cache is used.

#[cfg(test)]
pub mod fake;
mod source;
#[cfg(test)]
mod tests;

pub use source::{IssuedToken, NoTokens, RemoteTokens, TokenFuture, TokenRequest, TokenSource};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::{debug, warn};

/// A token is refreshed once it is this old, whatever its expiration (kubelet's maxTTL).
pub const MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No control plane to ask, or it could not be reached.
    #[error("{0}")]
    Unavailable(String),
    /// The control plane refused (the pod is not bound to this node).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The pod's service account does not exist.
    #[error("{0}")]
    NotFound(String),
}

/// The time, behind a trait so tests move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

struct Cached {
    token: String,
    issued: SystemTime,
    expires: SystemTime,
}

impl Cached {
    /// Kubelet's `requiresRefresh`: past 24 h since issue, or within the last 20% of
    /// the token's life.
    fn needs_refresh(&self, now: SystemTime) -> bool {
        let life = self.expires.duration_since(self.issued).unwrap_or_default();
        now >= self.issued + MAX_TTL || now >= self.expires - life / 5
    }
}

pub struct TokenManager {
    source: Arc<dyn TokenSource>,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<TokenRequest, Cached>>,
}

impl TokenManager {
    pub fn new(source: Arc<dyn TokenSource>, clock: Arc<dyn Clock>) -> Self {
        Self {
            source,
            clock,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A standalone agent's: every request fails, saying why.
    pub fn standalone() -> Self {
        Self::new(Arc::new(NoTokens), Arc::new(SystemClock))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<TokenRequest, Cached>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pod's token for `request`: the cached one unless it needs refreshing.
    pub async fn token(&self, request: &TokenRequest) -> Result<String, TokenError> {
        let now = self.clock.now();
        {
            let mut cache = self.cache();
            cache.retain(|_, c| c.expires > now);
            if let Some(c) = cache.get(request).filter(|c| !c.needs_refresh(now)) {
                return Ok(c.token.clone());
            }
        }
        match self.source.request(request).await {
            Ok(issued) => {
                let expires =
                    UNIX_EPOCH + Duration::from_secs(issued.expiration_unix_seconds.max(0) as u64);
                debug!(pod_uid = %request.pod_uid, expires_in = ?expires.duration_since(now).unwrap_or_default(), "service account token issued");
                self.cache().insert(
                    request.clone(),
                    Cached {
                        token: issued.token.clone(),
                        issued: now,
                        expires,
                    },
                );
                Ok(issued.token)
            }
            Err(error) => match self.cache().get(request).filter(|c| c.expires > now) {
                Some(c) => {
                    warn!(pod_uid = %request.pod_uid, %error, "service account token not refreshed; the current one is still valid");
                    Ok(c.token.clone())
                }
                None => Err(error),
            },
        }
    }

    /// Drops the tokens of a pod that is gone.
    pub fn forget_pod(&self, pod_uid: &str) {
        self.cache().retain(|k, _| k.pod_uid != pod_uid);
    }

    /// How many tokens are cached, for tests.
    #[cfg(test)]
    pub fn cached(&self) -> usize {
        self.cache().len()
    }
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager").finish_non_exhaustive()
    }
}
