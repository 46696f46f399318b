//! Misbehaving user code around `AsyncBatcher`.
//!
//! A batch operation whose future panics — in a poll or in its `Drop`, after each of its await
//! points in turn — fails every item of that batch with `Panicked` (none is lost, none hangs), and
//! the batcher goes on: later batches run, and closing still flushes what is queued.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_misbehaving_batch {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; misbehaving_batch:
            batch_future_panicking_fails_only_its_batch_at_each_await_point,
            close_flushes_queued_items_after_a_batch_panics_in_drop,
            batch_dropped_with_its_runtime_while_panicking_in_drop_answers_its_items,
        }
    };
}

use std::future::{Future, pending};
use std::pin::Pin;
use std::time::Duration;

use futures_lite::future::poll_once;
use uno_core::batch::{AsyncBatcher, BatchError};
use uno_core::rt::VirtualRuntime;
use uno_core::sync::AsyncEvent;
use uno_core::task::yield_now;

use crate::Env;
use crate::support::{eventually, panics_on_drop, within};

type Results = Pin<Box<dyn Future<Output = Vec<u32>> + Send>>;

/// The item that makes its batch misbehave.
const BAD: u32 = 13;

/// Long enough that a batch is only ever flushed because it is full (or closed).
const FOREVER: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The operation panics when called, before returning a future.
    WhenCalled,
    /// The future panics in a poll, after the given number of yields.
    InPoll(usize),
    /// The future returns its results after the given number of yields, and panics when dropped.
    InDrop(usize),
}

/// A batch operation multiplying each item by ten, except that a batch holding [`BAD`] misbehaves
/// as `fault` says.
fn operation(fault: Fault) -> impl Fn(Vec<u32>) -> Results + Send + Sync + 'static {
    move |items: Vec<u32>| {
        let bad = items.contains(&BAD);
        let (yields, in_poll) = match fault {
            Fault::WhenCalled if bad => panic!("batch called"),
            Fault::WhenCalled => (0, false),
            Fault::InPoll(k) => (k, bad),
            Fault::InDrop(k) => (k, false),
        };
        let work = async move {
            for _ in 0..yields {
                yield_now().await;
            }
            if in_poll {
                panic!("batch polled");
            }
            items.into_iter().map(|i| i * 10).collect()
        };
        if bad && matches!(fault, Fault::InDrop(_)) {
            Box::pin(panics_on_drop("batch dropped", work))
        } else {
            Box::pin(work)
        }
    }
}

/// Adds `items` from concurrent callers and returns each caller's result, in item order.
async fn add_together(
    env: &Env,
    batcher: &AsyncBatcher<u32, u32>,
    items: &[u32],
) -> Vec<Result<u32, BatchError<std::convert::Infallible>>> {
    let callers: Vec<_> = items
        .iter()
        .map(|&i| {
            let b = batcher.clone();
            env.rt().spawn(async move { b.add_item(i).await })
        })
        .collect();
    let mut results = Vec::new();
    for caller in callers {
        results.push(within(env, "a caller", caller).await.unwrap());
    }
    results
}

/// A batch operation that panics when called, or whose future panics — in a poll or in its `Drop`
/// after it finished — at each of its await points in turn, fails both items of that batch with
/// `Panicked`; the next batch works, and the stats count one failed batch.
pub async fn batch_future_panicking_fails_only_its_batch_at_each_await_point(env: Env) {
    for k in 0..=2 {
        for (fault, message) in [
            (Fault::WhenCalled, "batch called"),
            (Fault::InPoll(k), "batch polled"),
            (Fault::InDrop(k), "batch dropped"),
        ] {
            let batcher = AsyncBatcher::builder(env.rt(), 2, FOREVER)
                .build(operation(fault))
                .unwrap();
            let failed = add_together(&env, &batcher, &[BAD, 1]).await;
            let panicked = Err(BatchError::Panicked {
                name: "batcher".into(),
                message: message.into(),
            });
            assert_eq!(failed, [panicked.clone(), panicked], "{fault:?}");
            let next = add_together(&env, &batcher, &[2, 3]).await;
            assert_eq!(
                next,
                [Ok(20), Ok(30)],
                "{fault:?}: the batcher keeps working"
            );
            let stats = batcher.stats();
            assert_eq!(
                (stats.batches_started, stats.batches_failed),
                (2, 1),
                "{fault:?}"
            );
            assert!(!batcher.is_closed(), "{fault:?}");
            let report = within(&env, "shutdown", batcher.shutdown()).await;
            assert_eq!(report.cancelled_items, 0, "{fault:?}");
        }
    }
}

/// One batch at a time; the first holds the bad item and panics in `Drop` once it finishes, while the
/// others queue behind it. Closing then flushes the queue: every queued item is answered with its
/// result, and the bad batch's item with the panic. None is cancelled.
pub async fn close_flushes_queued_items_after_a_batch_panics_in_drop(env: Env) {
    let gate = AsyncEvent::new();
    let op_gate = gate.clone();
    let batcher = AsyncBatcher::builder(env.rt(), 1, FOREVER)
        .max_in_flight(1)
        .build(move |items: Vec<u32>| -> Results {
            let gate = op_gate.clone();
            let bad = items.contains(&BAD);
            let work = async move {
                gate.wait().await;
                items.into_iter().map(|i| i * 10).collect::<Vec<u32>>()
            };
            if bad {
                Box::pin(panics_on_drop("batch dropped", work))
            } else {
                Box::pin(work)
            }
        })
        .unwrap();
    let add = |item: u32| {
        let b = batcher.clone();
        env.rt().spawn(async move { b.add_item(item).await })
    };
    let bad = add(BAD);
    eventually(&env, "the bad batch runs", || {
        batcher.stats().batches_started == 1
    })
    .await;
    let queued: Vec<_> = [1, 2, 3].into_iter().map(add).collect();
    eventually(&env, "three items queue behind it", || {
        batcher.stats().queued_items == 3
    })
    .await;
    let report = batcher.close();
    assert_eq!(
        (
            report.flushed_items,
            report.flushed_batches,
            report.running_batches
        ),
        (3, 3, 1)
    );
    gate.set();
    let report = within(&env, "shutdown", batcher.shutdown()).await;
    assert_eq!(report.cancelled_items, 0);
    assert_eq!(
        within(&env, "the bad batch's caller", bad).await.unwrap(),
        Err(BatchError::Panicked {
            name: "batcher".into(),
            message: "batch dropped".into()
        })
    );
    for (i, caller) in queued.into_iter().enumerate() {
        let result = within(&env, "a queued caller", caller).await.unwrap();
        assert_eq!(result, Ok(10 * (i as u32 + 1)), "flushed after the panic");
    }
    let stats = batcher.stats();
    assert_eq!((stats.batches_started, stats.batches_failed), (4, 1));
}

/// The batcher's runtime shuts down (drops its tasks) while a batch runs whose future panics when
/// dropped: the panic stays inside the batcher — it does not unwind out of the runtime's shutdown —
/// and the batch's item is answered `Cancelled`, as for any batch the runtime dropped.
pub async fn batch_dropped_with_its_runtime_while_panicking_in_drop_answers_its_items(env: Env) {
    let doomed = VirtualRuntime::new();
    let batcher = AsyncBatcher::builder(&doomed.handle(), 1, FOREVER)
        .build(|items: Vec<u32>| -> Results {
            Box::pin(panics_on_drop(
                "batch dropped with its runtime",
                async move {
                    pending::<()>().await;
                    items
                },
            ))
        })
        .unwrap();
    let mut add = Box::pin(batcher.add_item(1));
    doomed.block_on(async {
        assert!(poll_once(add.as_mut()).await.is_none());
        for _ in 0..10 {
            yield_now().await; // the batch starts on the doomed runtime
        }
    });
    assert_eq!(batcher.stats().batches_in_flight, 1);
    drop(doomed); // shuts down mid-batch
    let result = within(&env, "the item's caller", add).await;
    assert_eq!(
        result,
        Err(BatchError::Cancelled {
            name: "batcher".into()
        })
    );
    assert!(
        batcher.is_closed(),
        "a batcher whose runtime is gone takes nothing new"
    );
}
