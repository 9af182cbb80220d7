//! A recording [`TokenSource`] and a clock tests move, for unit tests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Clock, IssuedToken, TokenError, TokenFuture, TokenRequest, TokenSource};

#[derive(Debug)]
pub struct FakeClock(Mutex<SystemTime>);

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock(Mutex::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000)))
    }
}

impl FakeClock {
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// Issues `token-N` valid for the requested seconds from the clock's now; refuses while
/// `refuse` is set.
pub struct FakeTokens {
    clock: Arc<FakeClock>,
    pub requests: Mutex<Vec<TokenRequest>>,
    pub refuse: AtomicBool,
}

impl FakeTokens {
    pub fn new(clock: Arc<FakeClock>) -> Self {
        Self {
            clock,
            requests: Mutex::new(Vec::new()),
            refuse: AtomicBool::new(false),
        }
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl TokenSource for FakeTokens {
    fn request<'a>(&'a self, request: &'a TokenRequest) -> TokenFuture<'a> {
        let answer = if self.refuse.load(Ordering::SeqCst) {
            Err(TokenError::Forbidden(
                "pod is not bound to this node".into(),
            ))
        } else {
            let mut requests = self.requests.lock().unwrap();
            requests.push(request.clone());
            let now = self.clock.now().duration_since(UNIX_EPOCH).unwrap();
            Ok(IssuedToken {
                token: format!("token-{}", requests.len()),
                expiration_unix_seconds: now.as_secs() as i64 + request.expiration_seconds,
            })
        };
        Box::pin(async move { answer })
    }
}
