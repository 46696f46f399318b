//! Spawn + join: uno's `Task` on tokio and smol beside each runtime's own spawn, `JoinSet`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use uno_benches::report_allocations;

#[global_allocator]
static ALLOC: uno_benches::CountingAllocator = uno_benches::CountingAllocator;

fn spawn_join_one(c: &mut Criterion) {
    let mut g = uno_benches::Group::new(c, "spawn_join_one_tokio");
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio_rt.handle().clone()).unwrap();
    g.bench_function("uno", |b| {
        b.iter(|| tokio_rt.block_on(async { rt.spawn(async { black_box(1) }).await.unwrap() }))
    });
    g.bench_function("tokio", |b| {
        b.iter(|| tokio_rt.block_on(async { tokio::spawn(async { black_box(1) }).await.unwrap() }))
    });
    g.finish();
    report_allocations("spawn_join_one_tokio/uno", 1000, || {
        tokio_rt.block_on(async {
            for _ in 0..1000 {
                rt.spawn(async { black_box(1) }).await.unwrap();
            }
        })
    });
    report_allocations("spawn_join_one_tokio/tokio", 1000, || {
        tokio_rt.block_on(async {
            for _ in 0..1000 {
                tokio::spawn(async { black_box(1) }).await.unwrap();
            }
        })
    });

    let mut g = uno_benches::Group::new(c, "spawn_join_one_smol");
    let rt = uno_smol::runtime();
    g.bench_function("uno", |b| {
        b.iter(|| smol::block_on(async { rt.spawn(async { black_box(1) }).await.unwrap() }))
    });
    g.bench_function("smol", |b| {
        b.iter(|| smol::block_on(async { smol::spawn(async { black_box(1) }).await }))
    });
    g.finish();
}

fn spawn_join_10k(c: &mut Criterion) {
    let mut g = uno_benches::Group::new(c, "spawn_join_10k_tokio");
    g.sample_size(20);
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio_rt.handle().clone()).unwrap();
    g.bench_function("uno", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let tasks: Vec<_> = (0..10_000u64).map(|i| rt.spawn(async move { i })).collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await.unwrap();
                }
                sum
            })
        })
    });
    g.bench_function("tokio", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let tasks: Vec<_> = (0..10_000u64)
                    .map(|i| tokio::spawn(async move { i }))
                    .collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await.unwrap();
                }
                sum
            })
        })
    });
    g.bench_function("tokio-joinset", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for i in 0..10_000u64 {
                    set.spawn(async move { i });
                }
                let mut sum = 0;
                while let Some(r) = set.join_next().await {
                    sum += r.unwrap();
                }
                sum
            })
        })
    });
    g.finish();

    // Structured: uno's TaskGroup (names, fail-fast, cancellation) beside tokio's JoinSet, and
    // FuturesUnordered (no spawning at all: one task polls every future).
    let mut g = uno_benches::Group::new(c, "group_join_10k_tokio");
    g.sample_size(20);
    g.bench_function("uno", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let group: uno_core::task::TaskGroup<u64, ()> = uno_core::task::TaskGroup::new(&rt);
                for i in 0..10_000u64 {
                    group.spawn("child", async move { Ok(i) });
                }
                group.join_all().await.unwrap().into_iter().sum::<u64>()
            })
        })
    });
    g.bench_function("futures-unordered", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                use futures_util::StreamExt;
                let mut set: futures_util::stream::FuturesUnordered<_> =
                    (0..10_000u64).map(|i| async move { i }).collect();
                let mut sum = 0;
                while let Some(i) = set.next().await {
                    sum += i;
                }
                sum
            })
        })
    });
    g.bench_function("tokio-joinset", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for i in 0..10_000u64 {
                    set.spawn(async move { i });
                }
                let mut sum = 0;
                while let Some(r) = set.join_next().await {
                    sum += r.unwrap();
                }
                sum
            })
        })
    });
    g.finish();
    report_allocations("group_join_10k_tokio/uno", 10_000, || {
        tokio_rt.block_on(async {
            let group: uno_core::task::TaskGroup<u64, ()> = uno_core::task::TaskGroup::new(&rt);
            for i in 0..10_000u64 {
                group.spawn("child", async move { Ok(i) });
            }
            group.join_all().await.unwrap();
        })
    });
    report_allocations("group_join_10k_tokio/tokio-joinset", 10_000, || {
        tokio_rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..10_000u64 {
                set.spawn(async move { i });
            }
            while set.join_next().await.is_some() {}
        })
    });

    let mut g = uno_benches::Group::new(c, "spawn_join_10k_smol");
    g.sample_size(20);
    let rt = uno_smol::runtime();
    g.bench_function("uno", |b| {
        b.iter(|| {
            smol::block_on(async {
                let tasks: Vec<_> = (0..10_000u64).map(|i| rt.spawn(async move { i })).collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await.unwrap();
                }
                sum
            })
        })
    });
    g.bench_function("smol", |b| {
        b.iter(|| {
            smol::block_on(async {
                let tasks: Vec<_> = (0..10_000u64)
                    .map(|i| smol::spawn(async move { i }))
                    .collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await;
                }
                sum
            })
        })
    });
    g.finish();
}

criterion_group!(benches, spawn_join_one, spawn_join_10k);
criterion_main!(benches);
