//! Cases: [`AsyncBatcher`]: size and time flushes, per-item results, batch-wide failures (error,
//! wrong result count, panic), cancelled waiters, backpressure and rejection, the bound on batches
//! in flight, closing, dropping, invalid configuration, and flushing when idle.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_batch {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; batch:
            full_batch_is_flushed_at_once,
            partial_batch_is_flushed_when_its_oldest_item_has_waited,
            each_caller_gets_its_own_items_result,
            wrong_result_count_fails_every_item_of_the_batch,
            batch_error_reaches_every_waiter,
            panic_in_batch_operation_is_an_error_for_each_waiter,
            cancelled_waiter_does_not_disturb_the_others,
            full_queue_makes_callers_wait,
            full_queue_rejects_when_configured,
            batches_in_flight_never_exceed_the_bound,
            shutdown_flushes_everything_queued,
            shutdown_waits_for_running_batches,
            add_after_close_is_an_error,
            dropping_the_last_handle_flushes_queued_items,
            invalid_configuration_is_an_error,
            many_callers_on_many_threads_are_each_answered_once,
            flush_when_idle_starts_at_once_and_gathers_while_busy,
        }
    };
}

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::future::zip;

use uno_core::batch::{AsyncBatcher, BatchConfigError, BatchError, OverflowPolicy};
use uno_core::sync::AsyncEvent;
use uno_core::task::yield_now;

use crate::support::{PATIENCE, assert_duration, within};
use crate::{Env, poll_times};

/// A window no case ever waits out: flushes under test must come from something else.
const FOREVER: Duration = Duration::from_secs(3600);

/// Lets spawned tasks run until `condition` holds. Only yields (no sleep), so virtual time does
/// not move while waiting.
async fn settle(env: &Env, what: &str, condition: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < PATIENCE,
            "{what}: still false after {PATIENCE:?} on {}",
            env.backend()
        );
        yield_now().await;
    }
}

type Log = Arc<Mutex<Vec<Vec<u32>>>>;

/// A batch operation that doubles each item and logs each batch it gets.
fn doubling(
    log: &Log,
) -> impl Fn(Vec<u32>) -> std::future::Ready<Vec<u32>> + Send + Sync + 'static {
    let log = log.clone();
    move |items: Vec<u32>| {
        log.lock().unwrap().push(items.clone());
        std::future::ready(items.into_iter().map(|x| x * 2).collect())
    }
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

/// Items that reach `max_batch_size` go to the operation together, without waiting for the window.
pub async fn full_batch_is_flushed_at_once(env: Env) {
    let log = Log::default();
    let batcher = AsyncBatcher::builder(env.rt(), 4, FOREVER)
        .build(doubling(&log))
        .unwrap();
    let start = env.rt().now();
    let callers: Vec<_> = (0..4u32)
        .map(|i| {
            let b = batcher.clone();
            env.rt().spawn(async move { b.add_item(i).await })
        })
        .collect();
    for (i, caller) in (0..4u32).zip(callers) {
        assert_eq!(within(&env, "a caller", caller).await.unwrap(), Ok(i * 2));
    }
    assert_duration(
        &env,
        env.rt().now() - start,
        Duration::ZERO,
        ..,
        "a full batch must not wait for the window",
    );
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 1, "one batch expected, got {log:?}");
    assert_eq!(sorted(log[0].clone()), vec![0, 1, 2, 3]);
    let stats = batcher.stats();
    assert_eq!((stats.full_flushes, stats.timed_flushes), (1, 0));
}

/// A batch that does not fill up goes out when its *oldest* item has waited `max_wait_time`: an
/// item that joins later does not extend the window.
pub async fn partial_batch_is_flushed_when_its_oldest_item_has_waited(env: Env) {
    let window = Duration::from_millis(200);
    let gap = Duration::from_millis(20);
    let log = Log::default();
    let batcher = AsyncBatcher::builder(env.rt(), 100, window)
        .build(doubling(&log))
        .unwrap();
    let timed = |i: u32| {
        let (b, rt) = (batcher.clone(), env.rt().clone());
        env.rt().spawn(async move {
            let start = rt.now();
            let result = b.add_item(i).await;
            (result, rt.now() - start)
        })
    };
    let first = timed(1);
    settle(&env, "first item queued", || {
        batcher.stats().items_added == 1
    })
    .await;
    env.rt().sleep(gap).await;
    let second = timed(2);
    let (r1, waited1) = within(&env, "the oldest item", first).await.unwrap();
    let (r2, waited2) = within(&env, "the newer item", second).await.unwrap();
    assert_eq!((r1, r2), (Ok(2), Ok(4)));
    assert_duration(
        &env,
        waited1,
        window,
        window.mul_f32(0.9)..window + PATIENCE,
        "the oldest item's wait for its batch",
    );
    assert_duration(
        &env,
        waited2,
        window - gap,
        ..waited1,
        "the newer item's wait (never longer than the oldest's)",
    );
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 1, "one batch expected, got {log:?}");
    assert_eq!(batcher.stats().timed_flushes, 1);
}

/// Per-item results: with a `Vec<Result<_, _>>`, each caller gets its own item's `Ok` or `Err`,
/// even when the items of a batch arrive in any order from many tasks.
pub async fn each_caller_gets_its_own_items_result(env: Env) {
    let batcher = AsyncBatcher::builder(env.rt(), 8, Duration::from_millis(5))
        .build(|items: Vec<u32>| async move {
            items
                .into_iter()
                .map(|x| {
                    if x.is_multiple_of(3) {
                        Err(format!("{x} is a multiple of 3"))
                    } else {
                        Ok(x * 10)
                    }
                })
                .collect::<Vec<_>>()
        })
        .unwrap();
    let callers: Vec<_> = (0..50u32)
        .map(|i| {
            let b = batcher.clone();
            env.rt().spawn(async move { (i, b.add_item(i).await) })
        })
        .collect();
    for caller in callers {
        let (i, result) = within(&env, "a caller", caller).await.unwrap();
        let expected = if i.is_multiple_of(3) {
            Err(format!("{i} is a multiple of 3"))
        } else {
            Ok(i * 10)
        };
        assert_eq!(result, Ok(expected), "item {i} got another item's result");
    }
    assert_eq!(batcher.stats().items_added, 50);
}

/// An operation that returns one result too few fails every item of that batch with
/// `ResultCount`; the next batch is unaffected.
pub async fn wrong_result_count_fails_every_item_of_the_batch(env: Env) {
    let batcher = AsyncBatcher::builder(env.rt(), 3, FOREVER)
        .build(|items: Vec<u32>| async move {
            let short = items.contains(&0);
            let mut out: Vec<u32> = items;
            if short {
                out.pop();
            }
            out
        })
        .unwrap();
    let callers: Vec<_> = (0..3u32)
        .map(|i| {
            let b = batcher.clone();
            env.rt().spawn(async move { b.add_item(i).await })
        })
        .collect();
    for caller in callers {
        assert_eq!(
            within(&env, "a caller", caller).await.unwrap(),
            Err(BatchError::ResultCount {
                name: "batcher".into(),
                expected: 3,
                actual: 2
            })
        );
    }
    let callers: Vec<_> = (10..13u32)
        .map(|i| {
            let b = batcher.clone();
            env.rt().spawn(async move { b.add_item(i).await })
        })
        .collect();
    for (i, caller) in (10..13u32).zip(callers) {
        assert_eq!(within(&env, "a caller", caller).await.unwrap(), Ok(i));
    }
    assert_eq!(batcher.stats().batches_failed, 1);
}

/// A batch-wide `Err` reaches every waiter of that batch, and only that batch.
pub async fn batch_error_reaches_every_waiter(env: Env) {
    let batcher = AsyncBatcher::builder(env.rt(), 4, FOREVER)
        .build(|items: Vec<u32>| async move {
            if items.iter().any(|&x| x >= 100) {
                Err(Arc::new(String::from("backend unavailable")))
            } else {
                Ok(items)
            }
        })
        .unwrap();
    let spawn_batch = |base: u32| -> Vec<_> {
        (base..base + 4)
            .map(|i| {
                let b = batcher.clone();
                env.rt().spawn(async move { b.add_item(i).await })
            })
            .collect()
    };
    for caller in spawn_batch(100) {
        match within(&env, "a caller", caller).await.unwrap() {
            Err(BatchError::Operation { error, .. }) => assert_eq!(*error, "backend unavailable"),
            other => panic!("expected the batch error, got {other:?}"),
        }
    }
    for (i, caller) in (0..4u32).zip(spawn_batch(0)) {
        assert_eq!(within(&env, "a caller", caller).await.unwrap(), Ok(i));
    }
    assert_eq!(batcher.stats().batches_failed, 1);
}

/// A panic in the batch operation — while calling it or while polling its future — becomes
/// `Panicked` for each waiter of that batch, never a panic in a caller; the batcher keeps working.
pub async fn panic_in_batch_operation_is_an_error_for_each_waiter(env: Env) {
    let batcher = AsyncBatcher::builder(env.rt(), 2, FOREVER)
        .build(|items: Vec<u32>| {
            if items.contains(&7) {
                panic!("panicked while building the future");
            }
            async move {
                if items.contains(&13) {
                    panic!("panicked while running");
                }
                items
            }
        })
        .unwrap();
    for (pair, message) in [
        ([7u32, 8], "panicked while building the future"),
        ([13, 14], "panicked while running"),
    ] {
        let callers: Vec<_> = pair
            .into_iter()
            .map(|i| {
                let b = batcher.clone();
                env.rt().spawn(async move { b.add_item(i).await })
            })
            .collect();
        for caller in callers {
            let result = within(&env, "a caller", caller).await;
            assert_eq!(
                result.unwrap(),
                Err(BatchError::Panicked {
                    name: "batcher".into(),
                    message: message.into()
                }),
                "the caller must get the panic as a value"
            );
        }
    }
    let (a, b) = (batcher.clone(), batcher.clone());
    let ok = env.rt().spawn(async move { a.add_item(1).await });
    assert_eq!(within(&env, "after the panics", b.add_item(2)).await, Ok(2));
    assert_eq!(within(&env, "after the panics", ok).await.unwrap(), Ok(1));
    assert_eq!(batcher.stats().batches_failed, 2);
}

/// A caller dropped at any await point — even the one whose item opened the batch — neither
/// cancels the batch nor strands the others: the window's timer is the batcher's, not a caller's.
/// A queued item is still processed; only its result is dropped.
pub async fn cancelled_waiter_does_not_disturb_the_others(env: Env) {
    let window = Duration::from_millis(50);
    for k in 0..4 {
        let log = Log::default();
        let batcher = AsyncBatcher::builder(env.rt(), 10, window)
            .build(doubling(&log))
            .unwrap();
        let start = env.rt().now();
        assert!(poll_times(batcher.add_item(100), k).await.is_none());
        let others: Vec<_> = (1..=2u32)
            .map(|i| {
                let b = batcher.clone();
                env.rt().spawn(async move { b.add_item(i).await })
            })
            .collect();
        for (i, caller) in (1..=2u32).zip(others) {
            assert_eq!(
                within(&env, "a remaining caller", caller).await.unwrap(),
                Ok(i * 2)
            );
        }
        assert_duration(
            &env,
            env.rt().now() - start,
            window,
            ..,
            format_args!("k = {k}: the batch's window"),
        );
        let processed: Vec<u32> = log.lock().unwrap().concat();
        let expected = if k == 0 { vec![1, 2] } else { vec![1, 2, 100] };
        assert_eq!(
            sorted(processed),
            expected,
            "k = {k}: the dropped caller's item"
        );
    }
}

/// With a bounded queue and `OverflowPolicy::Wait`, a caller finding the queue full waits (its item
/// is not queued) until a batch starts and makes room; then everyone is answered.
pub async fn full_queue_makes_callers_wait(env: Env) {
    let gate = AsyncEvent::new();
    let op_gate = gate.clone();
    // Only size flushes: with a timed window, a caller scheduled late on a loaded machine would
    // see its partner flushed alone and the queue would never hold the two items the case expects.
    let batcher = AsyncBatcher::builder(env.rt(), 2, FOREVER)
        .max_in_flight(1)
        .max_queued(2)
        .when_full(OverflowPolicy::Wait)
        .build(move |items: Vec<u32>| {
            let gate = op_gate.clone();
            async move {
                gate.wait().await;
                items
            }
        })
        .unwrap();
    // Two items run (blocked on the gate), two more fill the queue.
    let callers: Vec<_> = (0..4u32)
        .map(|i| {
            let b = batcher.clone();
            env.rt().spawn(async move { b.add_item(i).await })
        })
        .collect();
    settle(&env, "queue full", || {
        let s = batcher.stats();
        s.items_added == 4 && s.batches_in_flight == 1 && s.queued_items == 2
    })
    .await;
    let mut fifth = batcher.add_item(4);
    assert!(
        poll_times(&mut fifth, 5).await.is_none(),
        "a full queue must make the caller wait"
    );
    assert_eq!(
        batcher.stats().items_added,
        4,
        "the waiting item must not be queued yet"
    );
    gate.set();
    // The waiting caller's item needs a partner to fill its batch.
    assert_eq!(
        within(&env, "the waiting caller", zip(fifth, batcher.add_item(5))).await,
        (Ok(4), Ok(5))
    );
    for (i, caller) in (0..4u32).zip(callers) {
        assert_eq!(
            within(&env, "a queued caller", caller).await.unwrap(),
            Ok(i)
        );
    }
    assert_eq!(batcher.stats().items_rejected, 0);
}

/// With `OverflowPolicy::Reject`, a caller finding the queue full gets `Rejected` at once.
pub async fn full_queue_rejects_when_configured(env: Env) {
    let gate = AsyncEvent::new();
    let op_gate = gate.clone();
    // Only size flushes, as in `full_queue_makes_callers_wait`.
    let batcher = AsyncBatcher::builder(env.rt(), 2, FOREVER)
        .max_in_flight(1)
        .max_queued(2)
        .when_full(OverflowPolicy::Reject)
        .build(move |items: Vec<u32>| {
            let gate = op_gate.clone();
            async move {
                gate.wait().await;
                items
            }
        })
        .unwrap();
    let spawn = |i: u32| {
        let b = batcher.clone();
        env.rt().spawn(async move { b.add_item(i).await })
    };
    // One batch at a time, so no caller finds the queue momentarily full while setting up.
    let mut callers = vec![spawn(0), spawn(1)];
    settle(&env, "first batch running", || {
        let s = batcher.stats();
        s.batches_in_flight == 1 && s.queued_items == 0
    })
    .await;
    callers.extend([spawn(2), spawn(3)]);
    settle(&env, "queue full", || {
        let s = batcher.stats();
        s.items_added == 4 && s.queued_items == 2
    })
    .await;
    let rejected = poll_times(batcher.add_item(4), 1).await;
    assert!(
        matches!(rejected, Some(Err(BatchError::Rejected { .. }))),
        "{rejected:?}"
    );
    assert_eq!(batcher.stats().items_rejected, 1);
    gate.set();
    for (i, caller) in (0..4u32).zip(callers) {
        assert_eq!(
            within(&env, "a queued caller", caller).await.unwrap(),
            Ok(i)
        );
    }
    // Room again: accepted.
    assert_eq!(
        within(
            &env,
            "later callers",
            zip(batcher.add_item(5), batcher.add_item(6))
        )
        .await,
        (Ok(5), Ok(6))
    );
}

/// No more than `max_in_flight` batch operations ever run at once (and, with enough work, that
/// many do).
pub async fn batches_in_flight_never_exceed_the_bound(env: Env) {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p, rt) = (running.clone(), peak.clone(), env.rt().clone());
    let batcher = AsyncBatcher::builder(env.rt(), 2, FOREVER)
        .max_in_flight(2)
        .build(move |items: Vec<u32>| {
            let (running, peak, rt) = (r.clone(), p.clone(), rt.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                rt.sleep(Duration::from_millis(10)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                items
            }
        })
        .unwrap();
    let callers: Vec<_> = (0..12u32)
        .map(|i| {
            let b = batcher.clone();
            env.rt().spawn(async move { b.add_item(i).await })
        })
        .collect();
    for (i, caller) in (0..12u32).zip(callers) {
        assert_eq!(within(&env, "a caller", caller).await.unwrap(), Ok(i));
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= 2, "{peak} batches ran at once, the bound is 2");
    if env.is_virtual_time() {
        assert_eq!(peak, 2);
    }
    assert_eq!(batcher.stats().batches_started, 6);
}

/// `shutdown` flushes the batch being filled at once (no window wait), waits for it, and reports
/// what it flushed; every queued caller is answered.
pub async fn shutdown_flushes_everything_queued(env: Env) {
    let log = Log::default();
    let batcher = AsyncBatcher::builder(env.rt(), 10, FOREVER)
        .build(doubling(&log))
        .unwrap();
    let callers: Vec<_> = (0..3u32)
        .map(|i| {
            let b = batcher.clone();
            env.rt().spawn(async move { b.add_item(i).await })
        })
        .collect();
    settle(&env, "items queued", || batcher.stats().items_added == 3).await;
    let start = env.rt().now();
    let report = within(&env, "shutdown", batcher.shutdown()).await;
    assert_eq!((report.flushed_items, report.flushed_batches), (3, 1));
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "the flushed batch must have run"
    );
    assert_duration(
        &env,
        env.rt().now() - start,
        Duration::ZERO,
        ..,
        "closing must not wait for the window",
    );
    for (i, caller) in (0..3u32).zip(callers) {
        assert_eq!(within(&env, "a caller", caller).await.unwrap(), Ok(i * 2));
    }
    let stats = batcher.stats();
    assert_eq!(
        (
            stats.close_flushes,
            stats.queued_items,
            stats.batches_in_flight
        ),
        (1, 0, 0)
    );
    // A second shutdown reports the same and returns at once.
    assert_eq!(
        within(&env, "second shutdown", batcher.shutdown()).await,
        report
    );
}

/// `shutdown` waits for batches already running, and reports them.
pub async fn shutdown_waits_for_running_batches(env: Env) {
    let gate = AsyncEvent::new();
    let op_gate = gate.clone();
    let batcher = AsyncBatcher::builder(env.rt(), 1, FOREVER)
        .build(move |items: Vec<u32>| {
            let gate = op_gate.clone();
            async move {
                gate.wait().await;
                items
            }
        })
        .unwrap();
    let b = batcher.clone();
    let caller = env.rt().spawn(async move { b.add_item(9).await });
    settle(&env, "batch running", || {
        batcher.stats().batches_in_flight == 1
    })
    .await;
    let mut shutdown = Box::pin(batcher.shutdown());
    assert!(
        poll_times(&mut shutdown, 5).await.is_none(),
        "shutdown returned while a batch ran"
    );
    gate.set();
    let report = within(&env, "shutdown", shutdown).await;
    assert_eq!((report.flushed_items, report.running_batches), (0, 1));
    assert_eq!(within(&env, "the caller", caller).await.unwrap(), Ok(9));
}

/// After `close`, `add_item` fails with `Closed` (on every handle) and the item is not processed.
pub async fn add_after_close_is_an_error(env: Env) {
    let log = Log::default();
    let batcher = AsyncBatcher::builder(env.rt(), 10, Duration::from_millis(5))
        .name("orders")
        .build(doubling(&log))
        .unwrap();
    let other = batcher.clone();
    assert!(!batcher.is_closed());
    let report = batcher.close();
    assert_eq!(report.flushed_items, 0);
    assert!(batcher.is_closed() && other.is_closed());
    let closed = Err(BatchError::Closed {
        name: "orders".into(),
    });
    assert_eq!(within(&env, "add", batcher.add_item(1)).await, closed);
    let err = within(&env, "add", other.add_item(2)).await.unwrap_err();
    assert!(err.is_not_queued());
    assert_eq!(err.name(), "orders");
    assert_eq!(err.to_string(), r#"batcher "orders" is closed"#);
    within(&env, "shutdown", batcher.shutdown()).await;
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(batcher.stats().items_added, 0);
}

/// Dropping the last handle flushes what is queued — here, items whose callers have gone — at
/// once, without waiting for the window: no item is lost silently.
pub async fn dropping_the_last_handle_flushes_queued_items(env: Env) {
    let log = Log::default();
    let ran = AsyncEvent::new();
    let (l, r) = (log.clone(), ran.clone());
    let batcher = AsyncBatcher::builder(env.rt(), 10, FOREVER)
        .build(move |items: Vec<u32>| {
            l.lock().unwrap().push(items.clone());
            r.set();
            std::future::ready(items)
        })
        .unwrap();
    let second = batcher.clone();
    for i in 0..3u32 {
        // Polled once: queued; then the caller goes away.
        assert!(poll_times(batcher.add_item(i), 1).await.is_none());
    }
    let start = env.rt().now();
    drop(batcher);
    assert!(!second.is_closed(), "a handle is still alive");
    drop(second);
    within(&env, "the flushed batch", ran.wait()).await;
    assert_eq!(sorted(log.lock().unwrap().concat()), vec![0, 1, 2]);
    assert_duration(
        &env,
        env.rt().now() - start,
        Duration::ZERO,
        ..,
        "dropping must not wait for the window",
    );
}

/// A configuration that cannot work is a typed error from the constructor and the builder.
pub async fn invalid_configuration_is_an_error(env: Env) {
    let op = |v: Vec<u32>| std::future::ready(v);
    let wait = Duration::from_millis(1);
    assert_eq!(
        AsyncBatcher::builder(env.rt(), 0, wait).build(op).map(drop),
        Err(BatchConfigError::ZeroBatchSize)
    );
    assert_eq!(
        AsyncBatcher::builder(env.rt(), 4, wait)
            .max_in_flight(0)
            .build(op)
            .map(drop),
        Err(BatchConfigError::ZeroInFlight)
    );
    assert_eq!(
        AsyncBatcher::builder(env.rt(), 4, wait)
            .max_queued(0)
            .build(op)
            .map(drop),
        Err(BatchConfigError::ZeroQueue)
    );
    assert_eq!(
        AsyncBatcher::builder(env.rt(), 4, wait)
            .max_queued(3)
            .build(op)
            .map(drop),
        Err(BatchConfigError::QueueSmallerThanBatch {
            max_queued: 3,
            max_batch_size: 4
        })
    );
    let ok = AsyncBatcher::builder(env.rt(), 4, Duration::ZERO)
        .max_queued(4)
        .unbounded_queue()
        .build(op)
        .unwrap();
    assert_eq!(within(&env, "zero window", ok.add_item(3)).await, Ok(3));
    assert!(!BatchConfigError::ZeroBatchSize.to_string().is_empty());
}

/// Many callers from many tasks (threads, on multi-threaded backends), batches both full and
/// timed, several in flight: every caller gets exactly its own result, and no item is processed
/// twice.
pub async fn many_callers_on_many_threads_are_each_answered_once(env: Env) {
    const N: u32 = 2_000;
    let log = Log::default();
    let batcher = AsyncBatcher::builder(env.rt(), 16, Duration::from_millis(1))
        .max_in_flight(3)
        .max_queued(64)
        .build(doubling(&log))
        .unwrap();
    let callers: Vec<_> = (0..N)
        .map(|i| {
            let b = batcher.clone();
            env.rt().spawn(async move { (i, b.add_item(i).await) })
        })
        .collect();
    for caller in callers {
        let (i, result) = within(&env, "a caller", caller).await.unwrap();
        assert_eq!(result, Ok(i * 2));
    }
    let processed = sorted(log.lock().unwrap().concat());
    assert_eq!(
        processed,
        (0..N).collect::<Vec<_>>(),
        "an item was lost or processed twice"
    );
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .all(|b| !b.is_empty() && b.len() <= 16)
    );
    let report = within(&env, "shutdown", batcher.shutdown()).await;
    assert_eq!(report.flushed_items, 0);
    assert_eq!(batcher.stats().items_added, u64::from(N));
}

/// With `flush_when_idle`, a lone item starts a batch at once (no window waited out), items that
/// arrive while the batch runs go out together when it ends, and `max_batch_size` still splits
/// them: batches of 1, then 3 (full, queued while busy), then the 2 left.
pub async fn flush_when_idle_starts_at_once_and_gathers_while_busy(env: Env) {
    let log = Log::default();
    let gate = AsyncEvent::new();
    let (op_log, op_gate) = (log.clone(), gate.clone());
    let batcher = AsyncBatcher::builder(env.rt(), 3, FOREVER)
        .flush_when_idle()
        .build(move |items: Vec<u32>| {
            let first = {
                let mut log = op_log.lock().unwrap();
                log.push(items.clone());
                log.len() == 1
            };
            let gate = op_gate.clone();
            async move {
                if first {
                    gate.wait().await;
                }
                items.into_iter().map(|x| x * 2).collect::<Vec<_>>()
            }
        })
        .unwrap();
    let start = env.rt().now();
    let call = |i: u32| {
        let b = batcher.clone();
        env.rt().spawn(async move { b.add_item(i).await })
    };
    let first = call(0);
    settle(&env, "the lone item's batch running", || {
        log.lock().unwrap().len() == 1
    })
    .await;
    let rest: Vec<_> = (1..6u32).map(call).collect();
    settle(&env, "five more items queued", || {
        batcher.stats().items_added == 6
    })
    .await;
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "no batch may start while the slot is busy"
    );
    gate.set();
    assert_eq!(
        within(&env, "the first caller", first).await.unwrap(),
        Ok(0)
    );
    for (i, caller) in (1..6u32).zip(rest) {
        assert_eq!(within(&env, "a caller", caller).await.unwrap(), Ok(i * 2));
    }
    assert_duration(
        &env,
        env.rt().now() - start,
        Duration::ZERO,
        ..,
        "flushing when idle must not wait for the window",
    );
    let log = log.lock().unwrap().clone();
    let sizes: Vec<usize> = log.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![1, 3, 2], "batches {log:?}");
    assert_eq!(sorted(log.concat()), vec![0, 1, 2, 3, 4, 5]);
    let stats = batcher.stats();
    assert_eq!(
        (stats.idle_flushes, stats.full_flushes, stats.timed_flushes),
        (2, 1, 0),
        "{stats:?}"
    );
}
