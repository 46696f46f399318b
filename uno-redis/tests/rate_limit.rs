//! The distributed limiter's semantics against a real Redis, on every backend.

mod common;

use std::time::Duration;

use common::{client, delete_prefix, on_every_backend, prefix, raw, redis_url};
use uno_core::resilience::{LimitError, RateLimit};
use uno_redis::RedisRateLimiter;

#[test]
fn burst_then_retry_after_like_the_in_process_limiter() {
    let Some(url) = redis_url() else { return };
    on_every_backend(&url, |rt, url| {
        Box::pin(async move {
            let redis = client(&rt, &url).await;
            let prefix = prefix("burst");
            // 1/s sustained, so the ten calls of the burst never see a new admission accrue.
            let limiter = RedisRateLimiter::builder(&redis, &prefix, 60, Duration::from_secs(60))
                .burst(10)
                .build()
                .unwrap();
            for _ in 0..10 {
                limiter.try_acquire(()).await.unwrap();
            }
            let refused = limiter.try_acquire(()).await.unwrap_err();
            let LimitError::RateLimited(refused) = refused else {
                panic!("{refused:?}")
            };
            assert!(refused.retry_after > Duration::ZERO);
            assert!(refused.retry_after <= Duration::from_secs(1), "{refused:?}");
            assert_eq!(&*refused.name, prefix.as_str());
            rt.sleep(refused.retry_after).await;
            limiter.try_acquire(()).await.unwrap();
            let stats = limiter.stats();
            assert_eq!(
                (stats.admitted, stats.rejected, stats.unavailable),
                (11, 1, 0)
            );
            delete_prefix(&url, &prefix).await;
        })
    });
}

#[test]
fn keyed_limits_hold_per_key_and_idle_keys_expire() {
    let Some(url) = redis_url() else { return };
    on_every_backend(&url, |rt, url| {
        Box::pin(async move {
            let redis = client(&rt, &url).await;
            let prefix = prefix("keyed");
            let minute = Duration::from_secs(60);
            let limiter = RedisRateLimiter::builder(&redis, &prefix, 2, minute)
                .build()
                .unwrap();
            for tenant in ["acme", "globex"] {
                limiter.try_acquire(tenant).await.unwrap();
                limiter.try_acquire(tenant).await.unwrap();
                assert!(limiter.try_acquire(tenant).await.is_err());
            }
            // The key expires when its limit is full again: two intervals of 30 s from now.
            let mut conn = raw(&url).await;
            let pttl: i64 = redis::cmd("PTTL")
                .arg(format!("{prefix}:acme"))
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!((50_000..=60_000).contains(&pttl), "pttl {pttl}");

            // A fast limit: its key is gone soon after its last use.
            let fast = RedisRateLimiter::builder(&redis, &prefix, 100, Duration::from_secs(1))
                .burst(2)
                .build()
                .unwrap();
            fast.try_acquire(7u64).await.unwrap();
            let key = format!("{prefix}:7");
            let pttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!((1..=10).contains(&pttl), "pttl {pttl}");
            rt.sleep(Duration::from_millis(60)).await;
            let exists: i64 = redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(exists, 0);
            delete_prefix(&url, &prefix).await;
        })
    });
}

async fn admit_through_the_trait<L: RateLimit<String>>(limiter: &L, key: &str) {
    limiter.acquire(key.to_owned()).await.unwrap();
    limiter.try_acquire(key.to_owned()).await.unwrap_err();
}

#[test]
fn acquire_waits_in_order_on_uno_timer_and_the_trait_forwards() {
    let Some(url) = redis_url() else { return };
    on_every_backend(&url, |rt, url| {
        Box::pin(async move {
            let redis = client(&rt, &url).await;
            let prefix = prefix("acquire");
            let limiter = RedisRateLimiter::builder(&redis, &prefix, 20, Duration::from_secs(1))
                .burst(1)
                .build()
                .unwrap();
            admit_through_the_trait(&limiter, "t").await;
            assert_eq!(RateLimit::<()>::name(&limiter), prefix.as_str());

            // Six waiters at once: admitted 50 ms apart, in arrival order (FIFO-ish).
            let start = rt.now();
            let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut tasks = Vec::new();
            for i in 0..6 {
                let (limiter, order) = (limiter.clone(), order.clone());
                tasks.push(rt.spawn(async move {
                    limiter.acquire(()).await.unwrap();
                    order.lock().unwrap().push(i);
                }));
                rt.sleep(Duration::from_millis(15)).await; // arrivals well apart
            }
            for task in tasks {
                task.await.unwrap();
            }
            let elapsed = rt.now() - start;
            assert!(elapsed >= Duration::from_millis(240), "{elapsed:?}");
            assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
            // FIFO-ish: async-lock's mutex turns fair only under starvation, so neighbours may
            // swap; the first comer goes first and everyone is served.
            let mut order = order.lock().unwrap().clone();
            assert_eq!(order[0], 0, "{order:?}");
            order.sort();
            assert_eq!(order, [0, 1, 2, 3, 4, 5]);
            assert_eq!(limiter.stats().rejected, 1); // the trait's try_acquire; waits are not refusals

            // A dropped waiter consumes nothing: the next caller is admitted at the same time.
            let waiter = limiter.acquire(());
            drop(rt.timeout(Duration::from_millis(5), "w", waiter).await);
            let start = rt.now();
            limiter.acquire(()).await.unwrap();
            assert!(rt.now() - start < Duration::from_millis(60));
            delete_prefix(&url, &prefix).await;
        })
    });
}
