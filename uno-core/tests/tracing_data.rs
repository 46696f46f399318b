//! With the `tracing` feature, the cache and the batcher emit the events their module docs list:
//! names, levels and fields, captured on one thread with `VirtualRuntime`. Run with
//! `cargo test -p uno-core --features tracing` (`cargo test --workspace` turns it on).

#![cfg(feature = "tracing")]

mod common {
    pub(crate) mod capture;
    pub(crate) mod workload;
}

use std::time::Duration;

use tracing::Level;
use uno_core::batch::AsyncBatcher;
use uno_core::cache::AsyncCache;
use uno_core::rt::VirtualRuntime;

use common::capture::{capture, capture_on_virtual_runtime, of_target};
use common::workload::lookup;

#[test]
fn cache_loads_and_refreshes_are_events_with_name_outcome_and_duration() {
    let events = capture_on_virtual_runtime(|rt| async move {
        let cache: AsyncCache<&str, u32, &str> = AsyncCache::builder(&rt)
            .name("quotes")
            .max_capacity(10)
            .ttl(Duration::from_secs(10))
            .refresh_after(Duration::from_secs(5))
            .build()
            .unwrap();
        let slow_rt = rt.clone();
        let slow = || async move {
            slow_rt.sleep(Duration::from_millis(250)).await;
            Ok(1)
        };
        assert_eq!(cache.get("secret-key", slow).await, Ok(1));
        assert!(cache.get("other", || async { Err("down") }).await.is_err());
        assert!(
            cache
                .get("bug", || async { panic!("loader bug") })
                .await
                .is_err()
        );
        rt.sleep(Duration::from_secs(6)).await;
        assert_eq!(cache.get("secret-key", || async { Ok(2) }).await, Ok(1));
        rt.sleep(Duration::from_millis(1)).await; // the refresh succeeds
        rt.sleep(Duration::from_secs(5)).await; // refresh window again
        assert_eq!(cache.get("secret-key", || async { Err("x") }).await, Ok(2));
        rt.sleep(Duration::from_millis(1)).await; // the refresh fails
    });
    let events = of_target(events, "uno_core::cache");

    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.level, e.message.as_str(), e.field("outcome")))
        .collect();
    assert_eq!(
        summary,
        [
            (Level::DEBUG, "cache load finished", "ok"),
            (Level::DEBUG, "cache load finished", "error"),
            (Level::DEBUG, "cache load finished", "panic"),
            (Level::DEBUG, "cache refresh finished", "ok"),
            (Level::WARN, "cache refresh failed", "error"),
        ]
    );
    for event in &events {
        assert_eq!(event.field("name"), "quotes", "{event:?}");
        let names: Vec<_> = event.fields.keys().map(String::as_str).collect();
        assert_eq!(names, ["duration", "name", "outcome"], "no key, no value");
        assert!(
            !event.fields.values().any(|v| v.contains("secret-key")),
            "keys are never logged: {event:?}"
        );
    }
    assert_eq!(events[0].field("duration"), "250ms");
    assert_eq!(events[1].field("duration"), "0ns");
}

#[test]
fn batch_flushes_runs_and_failures_are_events_with_name_size_and_reason() {
    let events = capture_on_virtual_runtime(|rt| async move {
        let op_rt = rt.clone();
        let batcher = AsyncBatcher::builder(&rt, 2, Duration::from_millis(10))
            .name("lookups")
            .build(move |items| lookup(op_rt.clone(), Duration::from_millis(3), |i| i, items))
            .unwrap();
        let pair: Vec<_> = [1, 2]
            .map(|item| {
                let batcher = batcher.clone();
                rt.spawn(async move { batcher.add_item(item).await })
            })
            .into();
        for caller in pair {
            caller.await.unwrap().unwrap();
        }
        assert!(batcher.add_item(0).await.is_err());
        assert!(batcher.add_item(50).await.is_err());
        assert!(batcher.add_item(99).await.is_err());
        let last = {
            let batcher = batcher.clone();
            rt.spawn(async move { batcher.add_item(3).await })
        };
        rt.sleep(Duration::from_millis(1)).await;
        batcher.shutdown().await;
        assert_eq!(last.await.unwrap(), Ok(3));
    });
    let events = of_target(events, "uno_core::batch");

    let summary: Vec<_> = events
        .iter()
        .map(|e| {
            let reason = e.fields.get("reason").map_or("", String::as_str);
            (e.level, e.message.as_str(), e.field("size"), reason)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Level::DEBUG, "batch flushed", "2", "full"),
            (Level::DEBUG, "batch finished", "2", ""),
            (Level::DEBUG, "batch flushed", "1", "timed"),
            (Level::WARN, "batch failed", "1", "operation"),
            (Level::DEBUG, "batch flushed", "1", "timed"),
            (Level::WARN, "batch failed", "1", "result_count"),
            (Level::DEBUG, "batch flushed", "1", "timed"),
            (Level::WARN, "batch operation panicked", "1", "panic"),
            (Level::DEBUG, "batch flushed", "1", "close"),
            (Level::DEBUG, "batch finished", "1", ""),
        ]
    );
    for event in &events {
        assert_eq!(event.field("name"), "lookups", "{event:?}");
        if event.message != "batch flushed" {
            assert_eq!(event.field("duration"), "3ms", "{event:?}");
        }
    }
    assert_eq!(events[7].field("panic"), "lookup bug");
}

#[test]
fn a_batch_dropped_by_its_runtime_is_a_warning() {
    let events = capture(|| {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let op_rt = rt.clone();
        let batcher = AsyncBatcher::builder(&rt, 1, Duration::ZERO)
            .name("doomed")
            .build(move |items: Vec<u32>| {
                let rt = op_rt.clone();
                async move {
                    rt.sleep(Duration::from_secs(3600)).await;
                    items
                }
            })
            .unwrap();
        let (running, queued) = {
            let (a, b) = (batcher.clone(), batcher.clone());
            (
                rt.spawn(async move { a.add_item(1).await }),
                rt.spawn(async move { b.add_item(2).await }),
            )
        };
        vrt.block_on(async {
            for _ in 0..10 {
                uno_core::task::yield_now().await;
            }
        });
        running.detach();
        queued.detach();
        drop(vrt); // drops the running batch and the worker
    });
    let events = of_target(events, "uno_core::batch");
    // The executor drops the runner and the worker in an order of its own.
    let mut warnings: Vec<_> = events
        .iter()
        .filter(|e| e.level == Level::WARN)
        .map(|e| (e.message.as_str(), e.field("name")))
        .collect();
    warnings.sort_unstable();
    assert_eq!(
        warnings,
        [
            ("batch dropped before it finished", "doomed"),
            (
                "batcher abandoned by its runtime; queued items are cancelled",
                "doomed"
            ),
        ],
        "{events:?}"
    );
    let abandoned = events
        .iter()
        .find(|e| e.message.starts_with("batcher abandoned"));
    assert_eq!(abandoned.unwrap().field("cancelled_items"), "1");
}
