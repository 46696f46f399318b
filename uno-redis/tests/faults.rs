//! Redis stopped mid-run (a private redis-server, never the shared one): fail-open keeps
//! serving within its fallback rate, fail-closed answers typed errors, both recover, nothing
//! hangs; the GCRA script is reloaded after the restart (NOSCRIPT). On every backend.

mod common;

use std::error::Error;
use std::time::Duration;

use common::{PrivateRedis, on_every_backend, redis_url};
use uno_core::resilience::{Backoff, LimitError, Retry};
use uno_redis::{FailurePolicy, Redis, RedisError, RedisRateLimiter};

#[test]
fn redis_down_and_back_fail_open_and_fail_closed() {
    // The shared server is not used, but CI's variable says Redis tests are wanted here.
    let Some(url) = redis_url() else { return };
    on_every_backend(&url, |rt, _| {
        Box::pin(async move {
            let mut server = PrivateRedis::start(); // killed on every path, by its Drop
            let reconnect = Retry::builder(&rt)
                .max_attempts(3)
                .backoff(Backoff::constant(Duration::from_millis(20)))
                .build()
                .unwrap();
            let redis = Redis::builder(&rt, &server.url())
                .call_timeout(Duration::from_millis(300))
                .connect_timeout(Duration::from_millis(300))
                .reconnect(reconnect)
                .build()
                .await
                .unwrap();
            let second = Duration::from_secs(1);
            let closed = RedisRateLimiter::builder(&redis, "faults:closed", 100, second)
                .burst(10)
                .build()
                .unwrap();
            let open = RedisRateLimiter::builder(&redis, "faults:open", 100, second)
                .burst(10)
                .failure_policy(FailurePolicy::FailOpen)
                .fallback_share(0.5)
                .recheck_after(Duration::from_millis(300))
                .build()
                .unwrap();
            closed.try_acquire(()).await.unwrap();
            open.try_acquire(()).await.unwrap();
            assert_eq!(redis.stats().scripts_loaded, 1); // a fresh server: NOSCRIPT, loaded once

            server.stop();

            // Fail-closed: a typed error, quickly, every time.
            for _ in 0..5 {
                let started = rt.now();
                let err = closed.try_acquire(()).await.unwrap_err();
                assert!(rt.now() - started < Duration::from_secs(3));
                let LimitError::Unavailable(unavailable) = &err else {
                    panic!("{err:?}")
                };
                assert_eq!(unavailable.name(), "faults:closed");
                let cause = err.source().unwrap().downcast_ref::<RedisError>().unwrap();
                assert!(cause.is_unavailable(), "{cause:?}");
            }
            let started = rt.now();
            assert!(closed.acquire(()).await.is_err()); // a waiting acquire does not hang
            assert!(rt.now() - started < Duration::from_secs(3));
            assert!(closed.stats().unavailable >= 6);

            // Fail-open: keeps admitting, at most half the rate and burst (50/s, burst 5).
            let started = rt.now();
            let mut admitted = 0;
            while rt.now() - started < second {
                let call = rt.now();
                if open.try_acquire(()).await.is_ok() {
                    admitted += 1;
                }
                assert!(rt.now() - call < Duration::from_secs(3));
                rt.sleep(Duration::from_millis(2)).await;
            }
            let over = (rt.now() - started).as_secs_f64();
            let most = 5.0 + 50.0 * over + 1.0;
            assert!(
                admitted > 0 && f64::from(admitted) <= most,
                "{admitted} > {most}"
            );
            assert!(open.stats().fallbacks > 0);

            server.restart();

            // Both recover (the client reconnects; the script is loaded again on the new server).
            let deadline = rt.now() + Duration::from_secs(15);
            while closed.try_acquire(()).await.is_err() {
                assert!(rt.now() < deadline, "fail-closed did not recover");
                rt.sleep(Duration::from_millis(50)).await;
            }
            while open.stats().recoveries == 0 {
                assert!(rt.now() < deadline, "fail-open did not recover");
                let _ = open.try_acquire(()).await;
                rt.sleep(Duration::from_millis(50)).await;
            }
            let stats = redis.stats();
            assert_eq!(stats.scripts_loaded, 2, "{stats:?}");
            assert!(
                stats.connects >= 2 && stats.failed_connects >= 1,
                "{stats:?}"
            );
        })
    });
}
