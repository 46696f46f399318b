//! With the `metrics` feature, the cache and the batcher report what they count: a known workload
//! on `VirtualRuntime`, under a recorder installed while they are built, gives exact values.
//! Run with `cargo test -p uno-core --features metrics` (`cargo test --workspace` turns it on).

#![cfg(feature = "metrics")]

mod common {
    pub(crate) mod recorder;
    pub(crate) mod workload;
}

use std::time::Duration;

use metrics_util::debugging::DebugValue;
use uno_core::batch::{AsyncBatcher, BatchError, OverflowPolicy};
use uno_core::cache::AsyncCache;

use common::recorder::{build_recorded, counter, gauge, metrics, seconds};
use common::workload::lookup;

#[test]
fn cache_reports_hits_misses_loads_refreshes_evictions_invalidations_and_entries() {
    let (vrt, mut seen, cache) = build_recorded(|rt| {
        AsyncCache::<u32, u32, &'static str>::builder(rt)
            .name("quotes")
            .max_capacity(2)
            .ttl(Duration::from_secs(10))
            .refresh_after(Duration::from_secs(5))
            .build()
            .unwrap()
    });
    let rt = vrt.handle();
    vrt.block_on(async {
        let slow_rt = rt.clone();
        let slow = || async move {
            slow_rt.sleep(Duration::from_millis(100)).await;
            Ok(10)
        };
        assert_eq!(cache.get(1, slow).await, Ok(10)); // miss, a 100 ms load
        assert_eq!(cache.get(1, || async { Ok(0) }).await, Ok(10)); // hit
        assert!(cache.get(2, || async { Err("down") }).await.is_err()); // miss, failed load
        assert_eq!(cache.get(3, || async { Ok(30) }).await, Ok(30)); // miss
        assert_eq!(cache.get(4, || async { Ok(40) }).await, Ok(40)); // miss, evicts key 1
        rt.sleep(Duration::from_secs(6)).await; // inside the refresh window
        assert_eq!(cache.get(3, || async { Ok(31) }).await, Ok(30)); // hit, refresh ok
        assert_eq!(cache.get(4, || async { Err("stale") }).await, Ok(40)); // hit, refresh fails
        rt.sleep(Duration::from_millis(1)).await; // the refreshes run
        assert_eq!(cache.peek(&3), Some(31));
        assert!(cache.invalidate(&3));
        assert!(!cache.invalidate(&3)); // nothing removed: not counted
        cache.clear(); // removes key 4
    });

    let ms = Duration::from_millis;
    let want = metrics([
        ("uno_cache_hits_total{name=quotes}", counter(3)),
        ("uno_cache_misses_total{name=quotes}", counter(4)),
        ("uno_cache_loads_total{name=quotes,outcome=ok}", counter(3)),
        (
            "uno_cache_loads_total{name=quotes,outcome=error}",
            counter(1),
        ),
        (
            "uno_cache_load_duration_seconds{name=quotes}",
            seconds(&[ms(100), ms(0), ms(0), ms(0)]),
        ),
        (
            "uno_cache_refreshes_total{name=quotes,outcome=ok}",
            counter(1),
        ),
        (
            "uno_cache_refreshes_total{name=quotes,outcome=error}",
            counter(1),
        ),
        ("uno_cache_evictions_total{name=quotes}", counter(1)),
        ("uno_cache_invalidations_total{name=quotes}", counter(2)),
        ("uno_cache_entries{name=quotes}", gauge(0.0)),
    ]);
    assert_eq!(seen.take_changes(), want);
    // The same workload, as the cache's own statistics see it.
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.loads), (3, 4, 4));
    assert_eq!(
        (stats.refreshes, stats.refresh_failures, stats.evictions),
        (2, 1, 1)
    );
}

#[test]
fn cache_entries_gauge_follows_inserts_evictions_and_removals() {
    let (_vrt, mut seen, cache) = build_recorded(|rt| {
        AsyncCache::<u32, u32, ()>::builder(rt)
            .max_capacity(3)
            .build()
            .unwrap()
    });
    for key in 0..5 {
        cache.insert(key, key); // the last two evict
    }
    // A snapshot drains the recorder (it swaps each value to zero), so each reading is the
    // change since the previous one.
    let mut first = seen.take_changes();
    assert_eq!(
        first.remove("uno_cache_entries{name=cache}"),
        Some(gauge(3.0))
    );
    assert_eq!(
        first.remove("uno_cache_evictions_total{name=cache}"),
        Some(counter(2))
    );
    let mut entries = || seen.take_changes().remove("uno_cache_entries{name=cache}");
    cache.insert(4, 40); // an overwrite: no new entry
    assert_eq!(entries(), Some(gauge(0.0)));
    assert!(cache.invalidate(&4));
    assert_eq!(entries(), Some(gauge(-1.0)));
    cache.clear();
    assert_eq!(entries(), Some(gauge(-2.0)));
    assert_eq!(cache.entry_count(), 0);
}

#[test]
fn batcher_reports_items_flushes_sizes_durations_failures_and_gauges() {
    let (vrt, mut seen, batcher) = build_recorded(|rt| {
        let op_rt = rt.clone();
        AsyncBatcher::builder(rt, 3, Duration::from_millis(10))
            .name("lookups")
            .max_queued(3)
            .when_full(OverflowPolicy::Reject)
            .build(move |items| lookup(op_rt.clone(), Duration::from_millis(5), |i| i * 2, items))
            .unwrap()
    });
    let rt = vrt.handle();
    vrt.block_on(async {
        let spawn = |item: u32| {
            let batcher = batcher.clone();
            rt.spawn(async move { batcher.add_item(item).await })
        };
        // [1, 2, 3] is full and runs at once; [4, 5, 6] fills the queue behind it; 7 is rejected.
        let mut callers: Vec<_> = (1..=3).map(spawn).collect();
        rt.sleep(Duration::from_millis(1)).await;
        callers.extend((4..=6).map(spawn));
        rt.sleep(Duration::from_millis(1)).await;
        assert!(matches!(
            batcher.add_item(7).await,
            Err(BatchError::Rejected { .. })
        ));
        for (caller, item) in callers.into_iter().zip(1..) {
            assert_eq!(caller.await.unwrap(), Ok(item * 2));
        }
        // Alone, each waits out the 10 ms window: a batch-wide error, a wrong count, a panic.
        assert!(batcher.add_item(0).await.unwrap_err().is_operation());
        let wrong = batcher.add_item(50).await;
        assert!(matches!(wrong, Err(BatchError::ResultCount { .. })));
        let panicked = batcher.add_item(99).await;
        assert!(matches!(panicked, Err(BatchError::Panicked { .. })));
        // Closing flushes a queued item at once.
        let last = spawn(8);
        rt.sleep(Duration::from_millis(1)).await;
        let report = batcher.shutdown().await;
        assert_eq!(report.flushed_items, 1);
        assert_eq!(last.await.unwrap(), Ok(16));
    });

    let op = Duration::from_millis(5);
    let want = metrics([
        ("uno_batch_items_added_total{name=lookups}", counter(10)),
        ("uno_batch_items_rejected_total{name=lookups}", counter(1)),
        (
            "uno_batch_flushes_total{name=lookups,reason=full}",
            counter(2),
        ),
        (
            "uno_batch_flushes_total{name=lookups,reason=timed}",
            counter(3),
        ),
        (
            "uno_batch_flushes_total{name=lookups,reason=idle}",
            counter(0),
        ),
        (
            "uno_batch_flushes_total{name=lookups,reason=close}",
            counter(1),
        ),
        (
            "uno_batch_size{name=lookups}",
            DebugValue::Histogram(
                [3.0, 3.0, 1.0, 1.0, 1.0, 1.0]
                    .into_iter()
                    .map(Into::into)
                    .collect(),
            ),
        ),
        (
            "uno_batch_operation_duration_seconds{name=lookups}",
            seconds(&[op; 6]),
        ),
        (
            "uno_batch_failures_total{name=lookups,reason=operation}",
            counter(1),
        ),
        (
            "uno_batch_failures_total{name=lookups,reason=result_count}",
            counter(1),
        ),
        (
            "uno_batch_failures_total{name=lookups,reason=panic}",
            counter(1),
        ),
        (
            "uno_batch_failures_total{name=lookups,reason=cancelled}",
            counter(0),
        ),
        ("uno_batch_queued_items{name=lookups}", gauge(0.0)),
        ("uno_batch_in_flight{name=lookups}", gauge(0.0)),
    ]);
    assert_eq!(seen.take_changes(), want);
    let stats = batcher.stats();
    assert_eq!((stats.items_added, stats.items_rejected), (10, 1));
    assert_eq!((stats.batches_started, stats.batches_failed), (6, 3));
}

#[test]
fn batcher_gauges_show_queued_items_and_batches_in_flight() {
    let (vrt, mut seen, batcher) = build_recorded(|rt| {
        let op_rt = rt.clone();
        AsyncBatcher::builder(rt, 2, Duration::from_secs(60))
            .max_in_flight(1)
            .build(move |items: Vec<u32>| {
                let rt = op_rt.clone();
                async move {
                    rt.sleep(Duration::from_secs(1)).await;
                    items
                }
            })
            .unwrap()
    });
    let rt = vrt.handle();
    // A snapshot drains the recorder; these gauges are set (not moved) at every change, so a
    // reading is the value last set since the previous reading.
    let mut gauges = || {
        let mut now = seen.take_changes();
        (
            now.remove("uno_batch_queued_items{name=batcher}").unwrap(),
            now.remove("uno_batch_in_flight{name=batcher}").unwrap(),
        )
    };
    vrt.block_on(async {
        let callers: Vec<_> = (0..5)
            .map(|item| {
                let batcher = batcher.clone();
                rt.spawn(async move { batcher.add_item(item).await })
            })
            .collect();
        rt.sleep(Duration::from_millis(1)).await;
        // [0, 1] runs; [2, 3] waits for the slot; 4 waits for company.
        assert_eq!(gauges(), (gauge(3.0), gauge(1.0)));
        rt.sleep(Duration::from_secs(1)).await;
        assert_eq!(gauges(), (gauge(1.0), gauge(1.0))); // [2, 3] runs now
        batcher.close(); // [4] is flushed behind it
        for caller in callers {
            caller.await.unwrap().unwrap();
        }
        assert_eq!(gauges(), (gauge(0.0), gauge(0.0)));
    });
}
