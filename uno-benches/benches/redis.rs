//! uno-redis beside naive Redis baselines, on one multiplexed connection.
//!
//! - `redis_limiter_check`: a distributed limiter check with 64 concurrent callers: uno's
//!   `RedisRateLimiter` (one `EVALSHA` of the GCRA script per check: 1 round trip) beside a naive
//!   fixed window (`INCR` then `EXPIRE ... NX`: 2 round trips, and a window that admits twice
//!   its limit across a boundary). Each iteration is one check; the time per iteration divided
//!   into one second is checks/s.
//!
//! Skipped (with a message) when `UNO_TEST_REDIS_URL` is unset.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use uno_redis::{Redis, RedisRateLimiter};

const CALLERS: u64 = 64;

fn url() -> Option<String> {
    let url = std::env::var("UNO_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        println!("redis benchmarks: skipped, UNO_TEST_REDIS_URL is not set");
    }
    url
}

/// Runs `iters` checks split over 64 concurrent callers, and returns the wall time.
fn concurrent<F, Fut>(tokio: &tokio::runtime::Runtime, iters: u64, check: F) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let check = Arc::new(check);
    tokio.block_on(async {
        let start = Instant::now();
        let mut callers = Vec::new();
        for caller in 0..CALLERS {
            let share = iters / CALLERS + u64::from(caller < iters % CALLERS);
            let check = check.clone();
            callers.push(tokio::spawn(async move {
                for _ in 0..share {
                    check().await;
                }
            }));
        }
        for caller in callers {
            caller.await.unwrap();
        }
        start.elapsed()
    })
}

fn limiter_check(c: &mut Criterion) {
    let Some(url) = url() else { return };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio.handle().clone()).unwrap();
    let prefix = format!("uno-bench:limiter:{}", std::process::id());
    let (redis, raw) = tokio.block_on(async {
        let redis = Redis::builder(&rt, &url).build().await.unwrap();
        let raw = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        (redis, raw)
    });
    // A limit far above what the benchmark reaches: every check does the full work and admits.
    let limiter = RedisRateLimiter::builder(&redis, &prefix, 1_000_000, Duration::from_secs(1))
        .build()
        .unwrap();

    let mut g = c.benchmark_group("redis_limiter_check");
    g.throughput(Throughput::Elements(1));
    g.bench_function("uno_gcra_script_64_callers", |b| {
        b.iter_custom(|iters| {
            let limiter = limiter.clone();
            concurrent(&tokio, iters, move || {
                let check = limiter.try_acquire("tenant");
                async move { check.await.unwrap() }
            })
        })
    });
    let window_key = format!("{prefix}:window");
    g.bench_function("naive_fixed_window_incr_expire_64_callers", |b| {
        b.iter_custom(|iters| {
            let (raw, key) = (raw.clone(), window_key.clone());
            concurrent(&tokio, iters, move || {
                let (mut raw, key) = (raw.clone(), key.clone());
                async move {
                    let count: i64 = redis::cmd("INCR")
                        .arg(&key)
                        .query_async(&mut raw)
                        .await
                        .unwrap();
                    let _: i64 = redis::cmd("EXPIRE")
                        .arg(&key)
                        .arg(1)
                        .arg("NX")
                        .query_async(&mut raw)
                        .await
                        .unwrap();
                    std::hint::black_box(count <= 1_000_000);
                }
            })
        })
    });
    g.finish();

    // ---- L2 hit vs plain GET: reserved for the two-level cache (helper `redis-cache`). ----
    // A `redis_l2_hit` group belongs here: `TwoLevelCache` L2 hit (L1 cleared) beside a plain
    // GET on the same connection, 64 callers, as above with `concurrent`.
    // ---- end of the reserved place ----

    tokio.block_on(async {
        let mut raw = raw.clone();
        let keys = [format!("{prefix}:tenant"), window_key.clone()];
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut raw)
            .await
            .unwrap();
    });
}

criterion_group!(benches, limiter_check);
criterion_main!(benches);
