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
//! - `batcher_throughput_idle_flush`: the first shape with `flush_when_idle()`, the batcher's
//!   greedy mode (a batch starts with whatever is queued as soon as the runner is free, as the
//!   channel loop's `recv_many` does), which has no timed flushes to wait out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use uno_core::batch::AsyncBatcher;

#[global_allocator]
static ALLOC: uno_benches::CountingAllocator = uno_benches::CountingAllocator;

const CALLERS: u64 = 1000;
const ITEMS_PER_CALLER: u64 = 20;
const TOTAL: u64 = CALLERS * ITEMS_PER_CALLER;
const BATCH: usize = 256;

/// How the callers get their items.
#[derive(Clone, Copy)]
enum Shape {
    /// Caller `c` sends its own 20 items.
    PerCaller,
    /// Every caller draws from one shared counter until the 20 000 items run out.
    SharedWork,
}

/// The items caller `c` sends, one at a time, in `shape`.
fn items(shape: Shape, c: u64, counter: Arc<AtomicU64>) -> impl FnMut() -> Option<u64> {
    let mut i = 0;
    move || match shape {
        Shape::PerCaller => {
            i += 1;
            (i <= ITEMS_PER_CALLER).then_some(c * ITEMS_PER_CALLER + i - 1)
        }
        Shape::SharedWork => {
            let item = counter.fetch_add(1, Ordering::Relaxed);
            (item < TOTAL).then_some(item)
        }
    }
}

/// One iteration through uno's batcher (no-op operation): every caller awaits each item's result.
async fn through_uno(rt: &uno_core::Runtime, shape: Shape, flush_when_idle: bool) {
    let builder = AsyncBatcher::builder(rt, BATCH, Duration::from_millis(1));
    let builder = if flush_when_idle {
        builder.flush_when_idle()
    } else {
        builder
    };
    let batcher: AsyncBatcher<u64, u64> = builder
        .build(|items: Vec<u64>| std::future::ready(items))
        .unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let batcher = batcher.clone();
            let mut next = items(shape, c, counter.clone());
            tokio::spawn(async move {
                let mut sum = 0;
                while let Some(item) = next() {
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
}

/// The same load through a bounded channel drained `BATCH` at a time by one worker, each item
/// answered on its own oneshot.
async fn through_channel(shape: Shape) {
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<(u64, tokio::sync::oneshot::Sender<u64>)>(BATCH * 8);
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
        .map(|c| {
            let tx = tx.clone();
            let mut next = items(shape, c, counter.clone());
            tokio::spawn(async move {
                let mut sum = 0;
                while let Some(item) = next() {
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
}

fn throughput(c: &mut Criterion) {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio_rt.handle().clone()).unwrap();
    let groups = [
        ("batcher_throughput", Shape::PerCaller, false),
        ("batcher_throughput_shared_work", Shape::SharedWork, false),
        ("batcher_throughput_idle_flush", Shape::PerCaller, true),
    ];
    for (name, shape, flush_when_idle) in groups {
        let mut g = uno_benches::Group::new(c, name);
        g.throughput(Throughput::Elements(TOTAL));
        g.sample_size(20);
        g.bench_function("uno", |b| {
            b.iter(|| tokio_rt.block_on(through_uno(&rt, shape, flush_when_idle)))
        });
        g.bench_function("channel+chunks", |b| {
            b.iter(|| tokio_rt.block_on(through_channel(shape)))
        });
        g.finish();
    }
}

criterion_group!(benches, throughput);
criterion_main!(benches);
