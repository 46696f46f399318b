//! uno-redis beside naive Redis baselines, on one multiplexed connection.
//!
//! - `redis_limiter_check`: a distributed limiter check with 64 concurrent callers: uno's
//!   `RedisRateLimiter` (one `EVALSHA` of the GCRA script per check: 1 round trip) beside a naive
//!   fixed window (`INCR` then `EXPIRE ... NX`: 2 round trips, and a window that admits twice
//!   its limit across a boundary). Each iteration is one check; the time per iteration divided
//!   into one second is checks/s.
//! - `redis_l2_hit`: the two-level cache's L2 hit (`TwoLevelCache::get` answered from Redis,
//!   L1 missed) beside a plain `GET` of the same bytes, with 1 and 64 callers.
//!
//! Skipped (with a message) when `UNO_TEST_REDIS_URL` is unset.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use uno_redis::cache::TwoLevelCache;
use uno_redis::{JsonCodec, Redis, RedisRateLimiter};

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

    let mut g = uno_benches::Group::new(c, "redis_limiter_check");
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

    // ---- L2 hit vs plain GET (helper `redis-cache`) ----
    // `TwoLevelCache::get` answered from Redis beside a plain GET of the same bytes. An L1 of
    // capacity 1 over `L2_KEYS` keys read in turn makes (nearly) every read an L1 miss: the load
    // runs in its own task (L1's single-flight), GETs and decodes the JSON. One caller measures
    // the latency, 64 the throughput on the one multiplexed connection.
    const L2_KEYS: usize = 256;
    let cache_name = format!("{prefix}:cache");
    let cache = tokio.block_on(async {
        let cache = TwoLevelCache::<str, String, (), _>::builder(&redis, &cache_name, JsonCodec)
            .max_capacity(1)
            .ttl(Duration::from_secs(600))
            .build()
            .await
            .unwrap();
        for k in 0..L2_KEYS {
            let value = "a cached value of some forty bytes ......".to_owned();
            cache
                .get(&k.to_string(), move || async move { Ok(value) })
                .await
                .unwrap();
        }
        cache
    });
    let value_key = |k: usize| format!("{cache_name}:v:{k}");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let turn = move || next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % L2_KEYS;
    // One caller, or `CALLERS` through `concurrent`.
    fn run<F, Fut>(tokio: &tokio::runtime::Runtime, callers: u64, iters: u64, read: F) -> Duration
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if callers == CALLERS {
            return concurrent(tokio, iters, read);
        }
        tokio.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                read().await;
            }
            start.elapsed()
        })
    }
    let mut g = uno_benches::Group::new(c, "redis_l2_hit");
    g.throughput(Throughput::Elements(1));
    for callers in [1, CALLERS] {
        let (raw, turn) = (raw.clone(), turn.clone());
        g.bench_function(&format!("plain_get_{callers}_callers"), |b| {
            b.iter_custom(|iters| {
                let (raw, turn) = (raw.clone(), turn.clone());
                let keys: Arc<Vec<String>> = Arc::new((0..L2_KEYS).map(value_key).collect());
                run(&tokio, callers, iters, move || {
                    let (mut raw, key) = (raw.clone(), keys[turn()].clone());
                    async move {
                        let bytes: Vec<u8> = redis::cmd("GET")
                            .arg(&key)
                            .query_async(&mut raw)
                            .await
                            .unwrap();
                        std::hint::black_box(bytes);
                    }
                })
            })
        });
        let (cache, turn) = (cache.clone(), turn.clone());
        g.bench_function(&format!("uno_two_level_l2_hit_{callers}_callers"), |b| {
            b.iter_custom(|iters| {
                let (cache, turn) = (cache.clone(), turn.clone());
                run(&tokio, callers, iters, move || {
                    let (cache, key) = (cache.clone(), turn().to_string());
                    async move {
                        let value = cache.get(&key, || async { unreachable!() }).await;
                        std::hint::black_box(value.unwrap());
                    }
                })
            })
        });
    }
    g.finish();
    let stats = cache.stats();
    println!(
        "redis_l2_hit: {} L2 hits, {} L1 hits (reads the L1 answered), {} fetches",
        stats.l2_hits, stats.l1.hits, stats.fetches
    );
    tokio.block_on(async {
        let mut raw = raw.clone();
        let keys: Vec<String> = (0..L2_KEYS).map(value_key).collect();
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut raw)
            .await
            .unwrap();
    });
    // ---- end of the two-level cache's place ----

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
