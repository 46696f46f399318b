//! Batcher throughput beside a hand-written channel + chunking loop, with a no-op batch operation.
//!
//! Two shapes of the same load (1000 callers, 20 000 items, batches of up to 256):
//! - `batcher_throughput`: each caller sends exactly 20 items. On tokio's multi-threaded executor
//!   the callers drift apart (woken tasks do not run in strict arrival order), so at the end the
//!   last laggards fill only partial batches, and each of those waits out `max_wait_time` (1 ms,
//!   which tokio's timer rounds up): we counted 4 to 12 such timed flushes per iteration with 2
//!   workers, 1 with a current-thread runtime. The batcher's size-or-time contract requires that
//!   wait; the channel loop, which takes whatever is there, never pays it. So this shape measures
//!   timer stalls as much as throughput, and varies with how far the callers drift.
//! - `batcher_throughput_shared_work`: the callers draw the 20 000 items from one shared counter,
//!   so every caller stays busy until the work runs out and only the very last batch is partial
//!   (it still waits `max_wait_time` once per iteration, as the contract says).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use uno_core::batch::AsyncBatcher;

#[global_allocator]
static ALLOC: uno_benches::CountingAllocator = uno_benches::CountingAllocator;

const CALLERS: u64 = 1000;
const ITEMS_PER_CALLER: u64 = 20;
const BATCH: usize = 256;

fn throughput(c: &mut Criterion) {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio_rt.handle().clone()).unwrap();
    let mut g = uno_benches::Group::new(c, "batcher_throughput");
    g.throughput(Throughput::Elements(CALLERS * ITEMS_PER_CALLER));
    g.sample_size(20);

    g.bench_function("uno", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let batcher: AsyncBatcher<u64, u64> =
                    AsyncBatcher::builder(&rt, BATCH, Duration::from_millis(1))
                        .build(|items: Vec<u64>| std::future::ready(items))
                        .unwrap();
                let callers: Vec<_> = (0..CALLERS)
                    .map(|c| {
                        let batcher = batcher.clone();
                        tokio::spawn(async move {
                            let mut sum = 0;
                            for i in 0..ITEMS_PER_CALLER {
                                sum += batcher.add_item(c * ITEMS_PER_CALLER + i).await.unwrap();
                            }
                            sum
                        })
                    })
                    .collect();
                for caller in callers {
                    caller.await.unwrap();
                }
                batcher.shutdown().await;
            })
        })
    });

    g.bench_function("channel+chunks", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<(
                    u64,
                    tokio::sync::oneshot::Sender<u64>,
                )>(BATCH * 8);
                let worker = tokio::spawn(async move {
                    let mut buf = Vec::with_capacity(BATCH);
                    while rx.recv_many(&mut buf, BATCH).await > 0 {
                        for (item, reply) in buf.drain(..) {
                            let _ = reply.send(item);
                        }
                    }
                });
                let callers: Vec<_> = (0..CALLERS)
                    .map(|c| {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let mut sum = 0;
                            for i in 0..ITEMS_PER_CALLER {
                                let (reply, answer) = tokio::sync::oneshot::channel();
                                tx.send((c * ITEMS_PER_CALLER + i, reply)).await.unwrap();
                                sum += answer.await.unwrap();
                            }
                            sum
                        })
                    })
                    .collect();
                drop(tx);
                for caller in callers {
                    caller.await.unwrap();
                }
                worker.await.unwrap();
            })
        })
    });
    g.finish();
}

/// The next item of `total` to send, if any are left: callers share the work instead of each
/// owning a fixed share of it.
fn next_item(counter: &AtomicU64, total: u64) -> Option<u64> {
    let item = counter.fetch_add(1, Ordering::Relaxed);
    (item < total).then_some(item)
}

fn throughput_shared_work(c: &mut Criterion) {
    const TOTAL: u64 = CALLERS * ITEMS_PER_CALLER;
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio_rt.handle().clone()).unwrap();
    let mut g = uno_benches::Group::new(c, "batcher_throughput_shared_work");
    g.throughput(Throughput::Elements(TOTAL));
    g.sample_size(20);

    g.bench_function("uno", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let batcher: AsyncBatcher<u64, u64> =
                    AsyncBatcher::builder(&rt, BATCH, Duration::from_millis(1))
                        .build(|items: Vec<u64>| std::future::ready(items))
                        .unwrap();
                let counter = Arc::new(AtomicU64::new(0));
                let callers: Vec<_> = (0..CALLERS)
                    .map(|_| {
                        let (batcher, counter) = (batcher.clone(), counter.clone());
                        tokio::spawn(async move {
                            let mut sum = 0;
                            while let Some(item) = next_item(&counter, TOTAL) {
                                sum += batcher.add_item(item).await.unwrap();
                            }
                            sum
                        })
                    })
                    .collect();
                for caller in callers {
                    caller.await.unwrap();
                }
                batcher.shutdown().await;
            })
        })
    });

    g.bench_function("channel+chunks", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<(
                    u64,
                    tokio::sync::oneshot::Sender<u64>,
                )>(BATCH * 8);
                let worker = tokio::spawn(async move {
                    let mut buf = Vec::with_capacity(BATCH);
                    while rx.recv_many(&mut buf, BATCH).await > 0 {
                        for (item, reply) in buf.drain(..) {
                            let _ = reply.send(item);
                        }
                    }
                });
                let counter = Arc::new(AtomicU64::new(0));
                let callers: Vec<_> = (0..CALLERS)
                    .map(|_| {
                        let (tx, counter) = (tx.clone(), counter.clone());
                        tokio::spawn(async move {
                            let mut sum = 0;
                            while let Some(item) = next_item(&counter, TOTAL) {
                                let (reply, answer) = tokio::sync::oneshot::channel();
                                tx.send((item, reply)).await.unwrap();
                                sum += answer.await.unwrap();
                            }
                            sum
                        })
                    })
                    .collect();
                drop(tx);
                for caller in callers {
                    caller.await.unwrap();
                }
                worker.await.unwrap();
            })
        })
    });
    g.finish();
}

criterion_group!(benches, throughput, throughput_shared_work);
criterion_main!(benches);
