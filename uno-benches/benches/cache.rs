//! Cache hits and misses: uno's `AsyncCache` beside moka's `future::Cache::get_with` and
//! quick_cache's `sync::Cache::get_or_insert_async` (its coalescing async read), on one workload:
//! 1024 warm keys read round-robin for hits, a new key per iteration for misses.
//!
//! What each side does: uno checks a TTL (one hour) on every hit, moka too; quick_cache has no TTL
//! at all. `quick_cache_sync` is its plain `get`, no future and no coalescing: the floor of a hit.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use futures_lite::future::block_on;
use uno_benches::report_allocations;
use uno_core::cache::AsyncCache;

#[global_allocator]
static ALLOC: uno_benches::CountingAllocator = uno_benches::CountingAllocator;

const KEYS: u64 = 1024;

fn hit(c: &mut Criterion) {
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio_rt.handle().clone()).unwrap();
    let uno: AsyncCache<u64, Arc<str>, ()> = AsyncCache::builder(&rt)
        .max_capacity(10_000)
        .ttl(Duration::from_secs(3600))
        .build()
        .unwrap();
    let moka: moka::future::Cache<u64, Arc<str>> = moka::future::Cache::builder()
        .max_capacity(10_000)
        .time_to_live(Duration::from_secs(3600))
        .build();
    // quick_cache sizes itself for `estimated_items`; 10_000, as the others' capacity.
    let quick: quick_cache::sync::Cache<u64, Arc<str>> = quick_cache::sync::Cache::new(10_000);
    tokio_rt.block_on(async {
        for k in 0..KEYS {
            uno.get(k, || async { Ok(Arc::from("v")) }).await.unwrap();
            moka.get_with(k, async { Arc::from("v") }).await;
            quick
                .get_or_insert_async(&k, async { Ok::<_, ()>(Arc::from("v")) })
                .await
                .unwrap();
        }
    });

    let mut g = uno_benches::Group::new(c, "cache_hit");
    let mut k = 0u64;
    g.bench_function("uno", |b| {
        b.iter(|| {
            k = (k + 1) % KEYS;
            block_on(uno.get(black_box(k), || async { Ok(Arc::from("miss")) })).unwrap()
        })
    });
    g.bench_function("moka", |b| {
        b.iter(|| {
            k = (k + 1) % KEYS;
            block_on(moka.get_with(black_box(k), async { Arc::from("miss") }))
        })
    });
    g.bench_function("quick_cache", |b| {
        b.iter(|| {
            k = (k + 1) % KEYS;
            let fetch = async { Ok::<_, ()>(Arc::from("miss")) };
            block_on(quick.get_or_insert_async(&black_box(k), fetch)).unwrap()
        })
    });
    g.bench_function("quick_cache_sync", |b| {
        b.iter(|| {
            k = (k + 1) % KEYS;
            quick.get(&black_box(k)).unwrap()
        })
    });
    g.finish();
    report_allocations("cache_hit/uno", 1000, || {
        for k in 0..1000 {
            block_on(uno.get(k % KEYS, || async { Ok(Arc::from("miss")) })).unwrap();
        }
    });
    report_allocations("cache_hit/quick_cache", 1000, || {
        for k in 0..1000 {
            let fetch = async { Ok::<_, ()>(Arc::from("miss")) };
            block_on(quick.get_or_insert_async(&(k % KEYS), fetch)).unwrap();
        }
    });

    let mut g = uno_benches::Group::new(c, "cache_miss");
    g.bench_function("uno", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                k += 1;
                uno.get(KEYS + k, || async { Ok(Arc::from("v")) })
                    .await
                    .unwrap()
            })
        })
    });
    g.bench_function("moka", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                k += 1;
                moka.get_with(KEYS + k, async { Arc::from("v") }).await
            })
        })
    });
    g.bench_function("quick_cache", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                k += 1;
                let fetch = async { Ok::<_, ()>(Arc::from("v")) };
                quick.get_or_insert_async(&(KEYS + k), fetch).await.unwrap()
            })
        })
    });
    g.finish();
    // Past the first 10_000 misses every cache is full, so each miss also evicts.
    let mut miss_key = 1 << 40;
    report_allocations("cache_miss/uno", 1000, || {
        for _ in 0..1000 {
            miss_key += 1;
            let fetch = || async { Ok(Arc::from("v")) };
            tokio_rt.block_on(uno.get(miss_key, fetch)).unwrap();
        }
    });
    report_allocations("cache_miss/moka", 1000, || {
        for _ in 0..1000 {
            miss_key += 1;
            tokio_rt.block_on(moka.get_with(miss_key, async { Arc::from("v") }));
        }
    });
    report_allocations("cache_miss/quick_cache", 1000, || {
        for _ in 0..1000 {
            miss_key += 1;
            let fetch = async { Ok::<_, ()>(Arc::from("v")) };
            tokio_rt
                .block_on(quick.get_or_insert_async(&miss_key, fetch))
                .unwrap();
        }
    });
}

criterion_group!(benches, hit);
criterion_main!(benches);
