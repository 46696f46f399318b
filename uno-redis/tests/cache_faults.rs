//! Redis dying mid-run, on every runtime: a `redis-server` of the test's own (never the shared
//! one; `tests/common`'s `PrivateRedis`) is killed while the cache serves. Fail-open keeps serving (L1 hits, direct fetches,
//! counted as fallbacks), fail-closed answers typed errors; nothing hangs; both recover when the
//! server is back (fills reach Redis again, the subscription is re-made and L1 cleared).

mod cache_support;
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cache_support::{Ctx, PrivateRedis, connect_within, eventually, raw};
use redis::AsyncCommands as _;
use uno_redis::cache::TwoLevelCache;
use uno_redis::{FailurePolicy, JsonCodec};

type Cache = TwoLevelCache<str, String, String, JsonCodec>;

/// Generous on a loaded machine: a call timeout is 500 ms; nothing may take much longer.
const PROMPT: Duration = Duration::from_secs(5);

async fn redis_dies_and_returns(ctx: Ctx, policy: FailurePolicy) {
    let mut server = PrivateRedis::start();
    let url = server.url();
    let redis = connect_within(&ctx.rt, &url, Duration::from_millis(500)).await;
    let cache = Cache::builder(&redis, "uno-test:faults", JsonCodec)
        .failure_policy(policy)
        .recheck_after(Duration::from_millis(100))
        .lease_ttl(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    eventually(&ctx.rt, "subscribed", Duration::from_secs(10), || {
        std::future::ready(cache.is_subscribed())
    })
    .await;
    let calls = Arc::new(AtomicU32::new(0));
    let fetch = |value: &str| {
        let (calls, value) = (calls.clone(), value.to_owned());
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(value)
        }
    };
    assert_eq!(cache.get("warm", fetch("w")).await.unwrap(), "w");

    server.stop();

    // An L1 hit never asks Redis: served under either policy.
    assert_eq!(cache.get("warm", fetch("x")).await.unwrap(), "w");
    // Misses: fail-open fetches directly, fail-closed says Redis is unavailable; promptly.
    for round in 0..20 {
        let key = format!("cold{round}");
        let start = ctx.rt.now();
        let got = cache.get(&key, fetch("c")).await;
        let took = ctx.rt.now() - start;
        assert!(took < PROMPT, "a miss with Redis down took {took:?}");
        match policy {
            FailurePolicy::FailOpen => assert_eq!(got.unwrap(), "c"),
            _ => {
                let err = got.unwrap_err();
                let redis_err = err.redis_error().unwrap_or_else(|| panic!("{err:?}"));
                assert!(redis_err.is_unavailable(), "{redis_err:?}");
            }
        }
        ctx.rt.sleep(Duration::from_millis(10)).await;
    }
    let err = cache.invalidate("warm").await.unwrap_err();
    assert!(
        err.redis_error().is_some_and(|e| e.is_unavailable()),
        "{err:?}"
    );
    let stats = cache.stats();
    match policy {
        FailurePolicy::FailOpen => assert_eq!(stats.fallbacks, 20),
        _ => assert_eq!(stats.fallbacks, 0),
    }
    assert!(stats.redis_errors >= 1);
    assert_eq!(cache.keys_waited_on(), 0);

    server.restart();

    // Recovery: a miss goes through Redis again (its fill is in the new server), and the
    // subscription is re-made (which clears L1).
    let mut conn = raw(&url).await;
    eventually(
        &ctx.rt,
        "loads use Redis again",
        Duration::from_secs(20),
        || {
            let cache = cache.clone();
            let mut conn = conn.clone();
            let fetch = fetch("r");
            async move {
                let fetches = cache.stats().fetches;
                let ok = cache.get("recovered", fetch).await.is_ok_and(|v| v == "r");
                let stored: Option<String> = conn.get("uno-test:faults:v:recovered").await.unwrap();
                ok && cache.stats().fetches == fetches + 1 && stored.is_some() || {
                    let _ = cache.invalidate("recovered").await;
                    false
                }
            }
        },
    )
    .await;
    eventually(&ctx.rt, "resubscribed", Duration::from_secs(20), || {
        std::future::ready(cache.is_subscribed() && cache.stats().resubscribes >= 1)
    })
    .await;
    let _: () = conn.del("uno-test:faults:v:recovered").await.unwrap();
}

cache_test!(fail_open_serves_while_redis_is_down_and_recovers, |ctx| {
    redis_dies_and_returns(ctx, FailurePolicy::FailOpen).await;
});

cache_test!(fail_closed_answers_typed_errors_and_recovers, |ctx| {
    redis_dies_and_returns(ctx, FailurePolicy::FailClosed).await;
});
