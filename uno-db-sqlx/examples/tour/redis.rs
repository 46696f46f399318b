//! The Redis section of uno's tour (`main.rs` calls [`tour_section`]): state shared by every
//! instance of a service. Runs when Redis is reachable (`UNO_TEST_REDIS_URL`, else
//! `redis://127.0.0.1:6379` with a short connect timeout) and says so when it is not.

use std::time::Duration;

use uno_core::Runtime;
use uno_core::lifecycle::AsyncManager;
use uno_core::resilience::{LimitError, Retry};
use uno_core::sync::AsyncEvent;
use uno_redis::{FailurePolicy, LeaseConfig, Redis, RedisRateLimiter, leader_task};

/// A shared limiter and a lease on this runtime; the limiter's key is deleted afterwards, the
/// lease's expires or is released.
pub(crate) async fn tour_section(rt: &Runtime) {
    let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    let once = Retry::builder(rt)
        .max_attempts(1)
        .build()
        .expect("one attempt");
    let connected = Redis::builder(rt, &url)
        .name("tour")
        .connect_timeout(Duration::from_millis(300))
        .reconnect(once)
        .build()
        .await;
    let redis = match connected {
        Ok(redis) => redis,
        Err(error) => {
            println!("  redis: skipped, no Redis at {url} ({error})");
            return;
        }
    };
    let prefix = format!("uno-tour:{}", std::process::id());

    // A limit every replica shares: 5 per second per tenant, burst 2, failing open at a quarter.
    let limiter =
        RedisRateLimiter::builder(&redis, &format!("{prefix}:api"), 5, Duration::from_secs(1))
            .burst(2)
            .failure_policy(FailurePolicy::FailOpen)
            .fallback_share(0.25)
            .build()
            .expect("a valid limit");
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(match limiter.try_acquire("acme").await {
            Ok(()) => "admitted".to_owned(),
            Err(LimitError::RateLimited(wait)) => format!("retry after {:?}", wait.retry_after),
            Err(other) => other.to_string(),
        });
    }
    println!("  redis: shared limit for tenant acme, three calls -> {outcomes:?}");
    let start = rt.now();
    let _ = limiter.acquire("acme").await;
    println!(
        "  redis: a waiting acquire slept {:?} on uno's timer, as the script said",
        rt.now() - start
    );

    // A leader-only job: runs while this instance holds the lease, with a fencing token.
    let manager = AsyncManager::new(rt);
    // One fixed key: its fencing counter (`uno-tour:leader:fence`) must outlive every holder.
    let config = LeaseConfig::builder(&redis, "uno-tour:leader")
        .ttl(Duration::from_secs(2))
        .build()
        .expect("a valid lease");
    let leading = AsyncEvent::new();
    let signal = leading.clone();
    leader_task(&manager, "nightly-report", config, move |term| {
        let signal = signal.clone();
        async move {
            println!(
                "  redis: leader job running with fencing token {}",
                term.token()
            );
            signal.set();
            term.ended().cancelled().await;
        }
    })
    .expect("a fresh manager");
    let _ = rt
        .timeout(Duration::from_secs(5), "leader", leading.wait())
        .await;
    let report = manager.shutdown(Duration::from_secs(2)).await;
    println!(
        "  redis: shutdown stopped {:?} and released the lease",
        report.tasks.stopped
    );

    let _ = limiter.reset("acme").await;
    super::redis_cache::tour_section(rt).await;
}
