use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::fake::{FakeClock, FakeTokens};
use super::*;

fn request(uid: &str, expiration_seconds: i64) -> TokenRequest {
    TokenRequest {
        namespace: "ns".into(),
        pod_name: "p".into(),
        pod_uid: uid.into(),
        audiences: vec![],
        expiration_seconds,
    }
}

fn manager() -> (TokenManager, Arc<FakeTokens>, Arc<FakeClock>) {
    let clock = Arc::new(FakeClock::default());
    let source = Arc::new(FakeTokens::new(clock.clone()));
    (
        TokenManager::new(source.clone(), clock.clone()),
        source,
        clock,
    )
}

#[tokio::test]
async fn a_token_is_reused_until_80_percent_of_its_life_has_passed() {
    let (tokens, source, clock) = manager();
    let r = request("u1", 600);
    assert_eq!(tokens.token(&r).await.unwrap(), "token-1");
    clock.advance(Duration::from_secs(479));
    assert_eq!(tokens.token(&r).await.unwrap(), "token-1");
    assert_eq!(source.count(), 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(tokens.token(&r).await.unwrap(), "token-2");
    assert_eq!(source.count(), 2);
}

#[tokio::test]
async fn a_long_lived_token_is_refreshed_after_24_hours() {
    let (tokens, _, clock) = manager();
    let r = request("u1", 7 * 24 * 3600);
    assert_eq!(tokens.token(&r).await.unwrap(), "token-1");
    clock.advance(MAX_TTL - Duration::from_secs(1));
    assert_eq!(tokens.token(&r).await.unwrap(), "token-1");
    clock.advance(Duration::from_secs(1));
    assert_eq!(tokens.token(&r).await.unwrap(), "token-2");
}

#[tokio::test]
async fn each_audience_and_expiration_has_its_own_token() {
    let (tokens, source, _) = manager();
    let mut other = request("u1", 3600);
    other.audiences = vec!["vault".into()];
    assert_eq!(tokens.token(&request("u1", 3600)).await.unwrap(), "token-1");
    assert_eq!(tokens.token(&other).await.unwrap(), "token-2");
    assert_eq!(tokens.token(&request("u1", 600)).await.unwrap(), "token-3");
    assert_eq!(tokens.token(&request("u2", 3600)).await.unwrap(), "token-4");
    assert_eq!(tokens.token(&other).await.unwrap(), "token-2");
    assert_eq!(source.count(), 4);
}

#[tokio::test]
async fn a_failed_refresh_keeps_a_valid_token_and_fails_once_it_expired() {
    let (tokens, source, clock) = manager();
    let r = request("u1", 600);
    tokens.token(&r).await.unwrap();
    source.refuse.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(500));
    assert_eq!(tokens.token(&r).await.unwrap(), "token-1");
    clock.advance(Duration::from_secs(100));
    let error = tokens.token(&r).await.unwrap_err();
    assert!(error.to_string().contains("not bound"), "{error}");
    assert_eq!(tokens.cached(), 0, "the expired token is dropped");
}

#[tokio::test]
async fn a_gone_pod_s_tokens_are_dropped() {
    let (tokens, _, _) = manager();
    tokens.token(&request("u1", 600)).await.unwrap();
    tokens.token(&request("u1", 3600)).await.unwrap();
    tokens.token(&request("u2", 600)).await.unwrap();
    tokens.forget_pod("u1");
    assert_eq!(tokens.cached(), 1);
}

#[tokio::test]
async fn a_standalone_agent_says_it_has_no_control_plane() {
    let error = TokenManager::standalone()
        .token(&request("u1", 600))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("not joined to a control plane"),
        "{error}"
    );
}
