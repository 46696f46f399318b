//! With the `test-util` feature, uno follows tokio's paused test time everywhere, rate limiters
//! included: the timer lends no monotonic clock, so they read tokio's `now()`.
//!
//! Built only with the feature (see Cargo.toml); `.ci/run` runs it.

use std::time::Duration;

use uno_core::resilience::RateLimiter;

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_follows_paused_time() {
    let rt = uno_tokio::runtime().unwrap();
    assert!(
        rt.timer().monotonic_clock().is_none(),
        "with test-util the timer lends no machine clock"
    );
    let limiter = RateLimiter::builder(&rt, 1, Duration::from_secs(3600))
        .build()
        .unwrap();
    assert!(limiter.try_acquire().is_ok());
    let refused = limiter.try_acquire().unwrap_err();
    assert_eq!(refused.retry_after, Duration::from_secs(3600));
    // An hour passes in no time: only tokio's paused clock moved.
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert!(limiter.try_acquire().is_ok());
    // And a waiting acquire is woken by tokio's auto-advance.
    let start = rt.now();
    limiter.acquire().await;
    assert_eq!(rt.now() - start, Duration::from_secs(3600));
}
