//! The two-level cache's L2 hit (`uno_redis::cache::TwoLevelCache::get` answered from Redis)
//! beside a plain `GET` of the same bytes through redis-rs on the same server, and an L1 hit for
//! scale. Needs `UNO_TEST_REDIS_URL`; skipped with a message without it.
//!
//! An L2 hit is forced on every read by an L1 of capacity 1 and two keys read in turn: each read
//! misses L1 (the other key evicted it), which single-flights a load in its own task, `GET`s
//! the value and decodes it (JSON). So the ratio is what the L1 miss, the load task and the
//! decode add to the round trip.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use redis::AsyncCommands as _;
use uno_redis::cache::TwoLevelCache;
use uno_redis::{JsonCodec, Redis};

fn l2_hit_vs_get(c: &mut Criterion) {
    let Some(url) = std::env::var("UNO_TEST_REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        println!("skipped: UNO_TEST_REDIS_URL is not set");
        return;
    };
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio_rt.handle().clone()).unwrap();
    let name = format!("uno-bench:cache:{}", std::process::id());
    let (l2_cache, l1_cache, mut conn) = tokio_rt.block_on(async {
        let redis = Redis::builder(&rt, &url).build().await.unwrap();
        let build = |capacity| {
            TwoLevelCache::<str, String, (), _>::builder(&redis, &name, JsonCodec)
                .max_capacity(capacity)
                .ttl(Duration::from_secs(600))
                .build()
        };
        let (l2, l1) = (build(1).await.unwrap(), build(16).await.unwrap());
        let value = "a cached value of some forty bytes ......".to_owned();
        for key in ["a", "b"] {
            let value = value.clone();
            l2.get(key, move || async move { Ok(value) }).await.unwrap();
            l1.get(key, || async { unreachable!() }).await.unwrap();
        }
        let conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        (l2, l1, conn)
    });

    let mut g = c.benchmark_group("redis_cache_read");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    let mut turn = false;
    g.bench_function("plain_get", |b| {
        let key = format!("{name}:v:a");
        b.iter(|| {
            let bytes: Vec<u8> = tokio_rt.block_on(conn.get(&key)).unwrap();
            black_box(bytes)
        })
    });
    g.bench_function("uno_l2_hit", |b| {
        b.iter(|| {
            turn = !turn;
            let key = if turn { "a" } else { "b" };
            let value = tokio_rt.block_on(l2_cache.get(key, || async { unreachable!() }));
            black_box(value.unwrap())
        })
    });
    g.bench_function("uno_l1_hit", |b| {
        b.iter(|| {
            let value = tokio_rt.block_on(l1_cache.get("a", || async { unreachable!() }));
            black_box(value.unwrap())
        })
    });
    g.finish();
    let stats = l2_cache.stats();
    assert_eq!(stats.fetches, 2, "every measured read was an L2 hit: {stats:?}");
    tokio_rt.block_on(async {
        let _: () = conn.del(&[format!("{name}:v:a"), format!("{name}:v:b")]).await.unwrap();
    });
}

criterion_group!(benches, l2_hit_vs_get);
criterion_main!(benches);
