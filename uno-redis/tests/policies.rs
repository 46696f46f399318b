//! The distributed limiter inside uno's own policies, against a real Redis, on every backend: a
//! `Pipeline` built with `shared_rate_limiter` and the tower `RateLimitLayer` take it as they take
//! the in-process `RateLimiter` (one `RateLimit` trait): the pipeline waits for its admission, the
//! layer waits in `poll_ready` or sheds with the typed refusal.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use common::{client, delete_prefix, on_every_backend, prefix, redis_url};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use uno_core::resilience::{Pipeline, ResilienceError};
use uno_core::tower::RateLimitLayer;
use uno_redis::RedisRateLimiter;

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_pipeline_takes_the_distributed_limiter() {
    let Some(url) = redis_url() else { return };
    on_every_backend(&url, |rt, url| {
        Box::pin(async move {
            let redis = client(&rt, &url).await;
            let prefix = prefix("pipeline");
            // Burst 2, then 20 a second: as with the in-process limiter, a pipeline's third call
            // waits for its admission (about one 50 ms interval) instead of failing.
            let limiter = RedisRateLimiter::builder(&redis, &prefix, 20, Duration::from_secs(1))
                .burst(2)
                .build()
                .unwrap();
            let pipeline = Pipeline::builder(&rt)
                .shared_rate_limiter(limiter.clone())
                .build()
                .unwrap();
            assert_eq!(pipeline.rate_limit_name(), Some(prefix.as_str()));
            let started = rt.now();
            for n in 0..3 {
                let ok = pipeline.run(|| async move { Ok::<_, ()>(n) }).await;
                assert_eq!(ok, Ok(n));
            }
            let took = rt.now() - started;
            assert!(took >= Duration::from_millis(30), "{took:?}");
            assert!(took < Duration::from_secs(10), "{took:?}");
            assert_eq!(limiter.stats().admitted, 3);

            delete_prefix(&url, &prefix).await;
        })
    });
}

#[test]
fn the_tower_layer_takes_the_distributed_limiter_and_sheds_with_retry_after() {
    let Some(url) = redis_url() else { return };
    on_every_backend(&url, |rt, url| {
        Box::pin(async move {
            let redis = client(&rt, &url).await;
            let prefix = prefix("layer");
            let limiter = RedisRateLimiter::builder(&redis, &prefix, 1, MINUTE)
                .burst(3)
                .build()
                .unwrap();
            let inner = service_fn(|n: u32| async move { Ok::<_, Infallible>(n * 2) });
            let mut service = ServiceBuilder::new()
                .layer(RateLimitLayer::new(limiter.clone()).shed())
                .service(inner);
            // Clones share the one limit in Redis (as every connection of a server would).
            let mut other = service.clone();
            assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 2);
            assert_eq!(other.ready().await.unwrap().call(2).await.unwrap(), 4);
            assert_eq!(service.ready().await.unwrap().call(3).await.unwrap(), 6);
            let shed = other.ready().await.unwrap().call(4).await.unwrap_err();
            let ResilienceError::RateLimited(refusal) = shed else {
                panic!("{shed:?}")
            };
            assert!(refusal.retry_after > Duration::ZERO && refusal.retry_after <= MINUTE);

            // Without `.shed()` the service waits in `poll_ready` until Redis admits: with a
            // limit of 20 a second (burst 1) two calls in a row take one emission interval.
            let fast = format!("{prefix}:fast");
            let pacing = RedisRateLimiter::builder(&redis, &fast, 20, Duration::from_secs(1))
                .burst(1)
                .build()
                .unwrap();
            let mut paced = ServiceBuilder::new()
                .layer(RateLimitLayer::new(pacing))
                .service(service_fn(|n: u32| async move { Ok::<_, Infallible>(n) }));
            let started = rt.now();
            for n in 0..2 {
                assert_eq!(paced.ready().await.unwrap().call(n).await.unwrap(), n);
            }
            let took = rt.now() - started;
            // At least most of one 50 ms interval (the server's clock and ours differ by the
            // round trip); generous above, for a loaded machine.
            assert!(took >= Duration::from_millis(30), "{took:?}");
            assert!(took < Duration::from_secs(10), "{took:?}");
            delete_prefix(&url, &prefix).await; // `fast` is under `prefix` too
        })
    });
}
