//! Cache hits and misses: uno's `AsyncCache` beside moka's `future::Cache::get_with`.

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
    tokio_rt.block_on(async {
        for k in 0..KEYS {
            uno.get(k, || async { Ok(Arc::from("v")) }).await.unwrap();
            moka.get_with(k, async { Arc::from("v") }).await;
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
    g.finish();
    report_allocations("cache_hit/uno", 1000, || {
        for k in 0..1000 {
            block_on(uno.get(k % KEYS, || async { Ok(Arc::from("miss")) })).unwrap();
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
    g.finish();
}

criterion_group!(benches, hit);
criterion_main!(benches);
