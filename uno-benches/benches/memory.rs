//! Memory: heap bytes per spawned task, per cache entry and per queued batcher item, measured with
//! the counting allocator. Prints `MEM name bytes` lines for `scripts/bench-report`.

use std::sync::Arc;
use std::time::Duration;

use uno_benches::bytes_retained_by;
use uno_core::batch::AsyncBatcher;
use uno_core::cache::AsyncCache;

#[global_allocator]
static ALLOC: uno_benches::CountingAllocator = uno_benches::CountingAllocator;

const N: usize = 10_000;

fn report(name: &str, bytes: i64) {
    println!("MEM {name} {:.0}", bytes as f64 / N as f64);
}

fn main() {
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio_rt.handle().clone()).unwrap();

    // Pending tasks: the executor's task plus uno's handle and shared state.
    tokio_rt.block_on(async {
        let (tasks, bytes) = bytes_retained_by(|| {
            (0..N)
                .map(|_| rt.spawn(std::future::pending::<()>()))
                .collect::<Vec<_>>()
        });
        report(
            "task/uno-on-tokio",
            bytes - (N * size_of::<uno_core::Task<()>>()) as i64,
        );
        drop(tasks);
        let (tasks, bytes) = bytes_retained_by(|| {
            (0..N)
                .map(|_| tokio::spawn(std::future::pending::<()>()))
                .collect::<Vec<_>>()
        });
        report(
            "task/tokio",
            bytes - (N * size_of::<tokio::task::JoinHandle<()>>()) as i64,
        );
        for t in tasks {
            t.abort();
        }
    });

    // Cache entries of a u64 key and an Arc<str> value.
    tokio_rt.block_on(async {
        let value: Arc<str> = Arc::from("value");
        let cache: AsyncCache<u64, Arc<str>, ()> = AsyncCache::builder(&rt)
            .max_capacity(N * 2)
            .ttl(Duration::from_secs(3600))
            .build()
            .unwrap();
        let ((), bytes) = bytes_retained_by(|| {
            for k in 0..N as u64 {
                cache.insert(k, value.clone());
            }
        });
        report("cache_entry/uno", bytes);
        let moka: moka::future::Cache<u64, Arc<str>> = moka::future::Cache::builder()
            .max_capacity((N * 2) as u64)
            .build();
        let mut bytes = 0;
        for k in 0..N as u64 {
            let before = uno_benches::LIVE_BYTES.load(std::sync::atomic::Ordering::Relaxed);
            moka.insert(k, value.clone()).await;
            bytes += uno_benches::LIVE_BYTES.load(std::sync::atomic::Ordering::Relaxed) - before;
        }
        moka.run_pending_tasks().await;
        report("cache_entry/moka", bytes);
    });

    // Queued batcher items: a batch size and window large enough that nothing is flushed.
    tokio_rt.block_on(async {
        let batcher: AsyncBatcher<u64, u64> =
            AsyncBatcher::builder(&rt, N * 2, Duration::from_secs(3600))
                .build(|items: Vec<u64>| std::future::ready(items))
                .unwrap();
        let mut adds: Vec<_> = Vec::with_capacity(N);
        let ((), bytes) = bytes_retained_by(|| {
            for i in 0..N as u64 {
                let mut add = Box::pin(batcher.add_item(i));
                let _ = futures_lite::future::block_on(futures_lite::future::poll_once(&mut add));
                adds.push(add);
            }
        });
        report(
            "batch_item_queued/uno",
            bytes
                - (N * size_of::<uno_core::batch::AddItem<'_, u64, u64, std::convert::Infallible>>(
                )) as i64,
        );
        drop(adds);
        batcher.close();
    });
}
