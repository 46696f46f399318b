//! `AsyncBatcher` properties on the deterministic `VirtualRuntime`: whatever the item count, batch
//! size, bounds, timing and cancellations, every caller that stays is answered exactly once with
//! its own item's result, no item is processed twice, and no queued item is lost.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::future::{block_on, poll_once};
use proptest::prelude::*;
use uno_core::batch::{
    AddItem, AsyncBatcher, BatchConfigError, BatchError, BatcherBuilder, BatcherStats,
    OverflowPolicy, ShutdownReport,
};
use uno_core::rt::VirtualRuntime;
use uno_core::task::yield_now;

/// Polls `future` `k` times, yielding in between, then drops it (a caller that gives up).
async fn poll_then_drop<F: Future>(future: F, k: usize) -> Option<F::Output> {
    let mut future = pin!(future);
    for _ in 0..k {
        if let Some(output) = poll_once(future.as_mut()).await {
            return Some(output);
        }
        yield_now().await;
    }
    None
}

#[derive(Debug, Clone)]
struct Caller {
    /// Virtual milliseconds before the caller adds its item.
    delay_ms: u64,
    /// `Some(k)`: the caller gives up after `k` polls.
    cancel_after: Option<usize>,
}

#[derive(Debug, Clone)]
struct Scenario {
    batch_size: usize,
    window_ms: u64,
    in_flight: usize,
    /// Extra queue room beyond one batch; `None`: unbounded.
    extra_queue: Option<usize>,
    reject: bool,
    /// Virtual milliseconds each batch operation takes.
    op_ms: u64,
    /// `flush_when_idle`: greedy batching.
    idle: bool,
    callers: Vec<Caller>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let caller =
        (0u64..20, prop::option::weighted(0.3, 0usize..4)).prop_map(|(delay_ms, cancel_after)| {
            Caller {
                delay_ms,
                cancel_after,
            }
        });
    (
        1usize..12,
        0u64..10,
        1usize..4,
        prop::option::of(0usize..30),
        any::<bool>(),
        0u64..5,
        any::<bool>(),
        prop::collection::vec(caller, 0..120),
    )
        .prop_map(
            |(batch_size, window_ms, in_flight, extra_queue, reject, op_ms, idle, callers)| {
                Scenario {
                    batch_size,
                    window_ms,
                    in_flight,
                    extra_queue,
                    reject,
                    op_ms,
                    idle,
                    callers,
                }
            },
        )
}

/// The item's own result: even items are doubled, multiples of 5 fail on their own, and a batch
/// holding a multiple of 17 fails as a whole.
fn expected(item: u32) -> Result<u32, String> {
    if item.is_multiple_of(5) {
        Err(format!("{item} refused"))
    } else {
        Ok(item * 2)
    }
}

fn run(s: Scenario) {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let processed: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
    let log = processed.clone();
    let op_rt = rt.clone();
    let op_ms = s.op_ms;
    let mut builder = AsyncBatcher::builder(&rt, s.batch_size, Duration::from_millis(s.window_ms))
        .name("props")
        .max_in_flight(s.in_flight)
        .when_full(if s.reject {
            OverflowPolicy::Reject
        } else {
            OverflowPolicy::Wait
        });
    if s.idle {
        builder = builder.flush_when_idle();
    }
    builder = match s.extra_queue {
        Some(extra) => builder.max_queued(s.batch_size + extra),
        None => builder.unbounded_queue(),
    };
    let batcher = builder
        .build(move |items: Vec<u32>| {
            log.lock().unwrap().push(items.clone());
            let rt = op_rt.clone();
            async move {
                rt.sleep(Duration::from_millis(op_ms)).await;
                if items.iter().any(|i| i.is_multiple_of(17)) {
                    return Err(Arc::new(String::from("batch refused")));
                }
                Ok(items.into_iter().map(expected).collect::<Vec<_>>())
            }
        })
        .unwrap();

    let (answers, report, stats) = vrt.block_on(async {
        let tasks: Vec<_> = s
            .callers
            .iter()
            .enumerate()
            .map(|(i, caller)| {
                let (b, rt, caller) = (batcher.clone(), rt.clone(), caller.clone());
                let item = u32::try_from(i).unwrap() + 1;
                rt.clone().spawn(async move {
                    rt.sleep(Duration::from_millis(caller.delay_ms)).await;
                    match caller.cancel_after {
                        None => Some(b.add_item(item).await),
                        Some(k) => poll_then_drop(b.add_item(item), k).await,
                    }
                })
            })
            .collect();
        let mut answers = HashMap::new();
        for (i, task) in tasks.into_iter().enumerate() {
            if let Some(answer) = task.await.expect("a caller task failed") {
                answers.insert(u32::try_from(i).unwrap() + 1, answer);
            }
        }
        let report = batcher.shutdown().await;
        (answers, report, batcher.stats())
    });

    let batches = processed.lock().unwrap().clone();
    let mut seen = HashMap::new();
    for (b, batch) in batches.iter().enumerate() {
        assert!(
            !batch.is_empty() && batch.len() <= s.batch_size,
            "bad batch {batch:?}"
        );
        for &item in batch {
            assert!(
                seen.insert(item, b).is_none(),
                "item {item} processed twice"
            );
        }
    }
    // Nothing queued was lost: everything accepted was processed, and vice versa.
    assert_eq!(stats.items_added, seen.len() as u64, "{stats:?}");
    assert_eq!((stats.queued_items, stats.batches_in_flight), (0, 0));
    assert_eq!(report.cancelled_items, 0);
    assert_eq!(stats.batches_started, batches.len() as u64);

    for (i, caller) in s.callers.iter().enumerate() {
        let item = u32::try_from(i).unwrap() + 1;
        let answer = answers.get(&item);
        match (caller.cancel_after, answer) {
            (None, None) => panic!("caller {item} got no answer"),
            (_, None) => {} // gave up
            (_, Some(Err(BatchError::Rejected { name }))) => {
                assert_eq!(&**name, "props");
                assert!(
                    s.reject && s.extra_queue.is_some(),
                    "rejected without a bound"
                );
                assert!(!seen.contains_key(&item), "a rejected item was processed");
            }
            (_, Some(answer)) => {
                let batch = &batches[*seen.get(&item).expect("answered but never processed")];
                let want = if batch.iter().any(|i| i.is_multiple_of(17)) {
                    Err(BatchError::Operation {
                        name: Arc::from("props"),
                        error: Arc::new(String::from("batch refused")),
                    })
                } else {
                    Ok(expected(item))
                };
                assert_eq!(answer, &want, "item {item} got someone else's answer");
            }
        }
    }
    let rejected = answers
        .values()
        .filter(|a| matches!(a, Err(BatchError::Rejected { .. })))
        .count();
    assert_eq!(stats.items_rejected, rejected as u64);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_remaining_caller_is_answered_once_with_its_own_result(s in scenario()) {
        run(s);
    }
}

/// When the runtime goes away with items queued, each of them is answered `Cancelled` — nobody
/// waits forever — and the batcher refuses new items.
#[test]
fn runtime_shutdown_answers_queued_items_cancelled() {
    let vrt = VirtualRuntime::new();
    let batcher = AsyncBatcher::builder(&vrt.handle(), 10, Duration::from_secs(60))
        .build(|v: Vec<u32>| async move { v })
        .unwrap();
    let cancelled = || {
        Err(BatchError::Cancelled {
            name: Arc::from("batcher"),
        })
    };
    // Let the worker start, then queue two items (polled from outside the runtime).
    vrt.block_on(yield_now());
    let mut first = batcher.add_item(1);
    let mut second = batcher.add_item(2);
    assert!(block_on(poll_once(&mut first)).is_none());
    assert!(block_on(poll_once(&mut second)).is_none());
    assert_eq!(batcher.stats().queued_items, 2);
    drop(vrt); // drops the worker task
    assert_eq!(block_on(first), cancelled());
    assert_eq!(block_on(second), cancelled());
    assert!(batcher.is_closed());
    let closed = block_on(batcher.add_item(3));
    assert!(
        matches!(closed, Err(BatchError::Closed { .. })),
        "{closed:?}"
    );
    let report = block_on(batcher.shutdown());
    assert_eq!(report.cancelled_items, 2);
}

/// A batch running when the runtime goes away answers its callers `Cancelled`, and so do the
/// batches queued behind it.
#[test]
fn runtime_shutdown_mid_batch_answers_cancelled() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let op_rt = rt.clone();
    let batcher = AsyncBatcher::builder(&rt, 1, Duration::from_secs(60))
        .name("mid-batch")
        .build(move |v: Vec<u32>| {
            let rt = op_rt.clone();
            async move {
                rt.sleep(Duration::from_secs(3600)).await;
                v
            }
        })
        .unwrap();
    let mut running = batcher.add_item(1);
    let mut queued = batcher.add_item(2);
    assert!(block_on(poll_once(&mut running)).is_none());
    assert!(block_on(poll_once(&mut queued)).is_none());
    vrt.block_on(async {
        for _ in 0..10 {
            yield_now().await;
        }
    });
    assert_eq!(batcher.stats().batches_in_flight, 1);
    drop(vrt);
    let cancelled = Err(BatchError::Cancelled {
        name: Arc::from("mid-batch"),
    });
    assert_eq!(block_on(running), cancelled);
    assert_eq!(block_on(queued), cancelled);
    let stats = block_on(async {
        batcher.shutdown().await;
        batcher.stats()
    });
    assert_eq!((stats.batches_in_flight, stats.queued_items), (0, 0));
}

/// Public types are `Send`/`Sync`, and the `add_item` future is `Send` and `Unpin`.
#[test]
fn public_types_are_send_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send_unpin<T: Send + Unpin>() {}
    send_sync::<AsyncBatcher<String, Vec<u8>, Arc<std::io::Error>>>();
    send_sync::<BatchError<String>>();
    send_sync::<BatchConfigError>();
    send_sync::<BatcherBuilder<String, u32, String>>();
    // Whatever the item types: a builder holds none.
    send_sync::<BatcherBuilder<std::rc::Rc<u8>, std::rc::Rc<u8>, std::rc::Rc<u8>>>();
    send_sync::<BatcherStats>();
    send_sync::<ShutdownReport>();
    send_unpin::<AddItem<'static, String, u32, String>>();
    // `!Unpin` items still make an `Unpin` future.
    send_unpin::<AddItem<'static, std::marker::PhantomPinned, u32, String>>();
}
