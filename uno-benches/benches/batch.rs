//! Batcher throughput beside a hand-written channel + chunking loop, with a no-op batch operation.

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
    let rt = uno_tokio::runtime_from(tokio_rt.handle().clone());
    let mut g = c.benchmark_group("batcher_throughput");
    g.throughput(Throughput::Elements(CALLERS * ITEMS_PER_CALLER));
    g.sample_size(20);

    g.bench_function("uno", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let batcher: AsyncBatcher<u64, u64> = AsyncBatcher::new(
                    &rt,
                    |items: Vec<u64>| std::future::ready(items),
                    BATCH,
                    Duration::from_millis(1),
                )
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

criterion_group!(benches, throughput);
criterion_main!(benches);
