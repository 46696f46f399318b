//! Cases: the bulkhead — calls in flight, queue bound, wait bound, and the RAII permit.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_bulkhead {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; bulkhead:
            never_more_than_max_concurrent_in_flight,
            rejects_at_once_when_the_queue_is_full,
            rejects_after_max_wait,
            slot_is_released_when_the_caller_is_dropped,
            clones_share_the_slots,
            invalid_bulkhead_configuration_is_a_typed_error,
        }
    };
}

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use uno_core::resilience::{Bulkhead, BulkheadRejected, ConfigError, ResilienceError};

use crate::Env;
use crate::support::{DropPoint, assert_duration, drop_waiter_at, eventually, within};

const MS: Duration = Duration::from_millis(1);

/// Six 10 ms calls through a bulkhead of two: never more than two at once.
pub async fn never_more_than_max_concurrent_in_flight(env: Env) {
    let bulkhead = Bulkhead::builder(env.rt(), 2).build().unwrap();
    let current = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let start = env.rt().now();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (bulkhead, rt) = (bulkhead.clone(), env.rt().clone());
            let (current, peak) = (current.clone(), peak.clone());
            env.rt().spawn(async move {
                bulkhead
                    .run(|| async {
                        let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        rt.sleep(10 * MS).await;
                        current.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, ()>(())
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        within(&env, "a bulkhead call", task)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    assert_duration(
        &env,
        env.rt().now() - start,
        30 * MS,
        ..,
        "six 10 ms calls, two at a time",
    );
    let stats = bulkhead.stats();
    assert_eq!((stats.in_flight, stats.queued, stats.admitted), (0, 0, 6));
}

/// With the slot taken and the queue full, a call is rejected at once without running.
pub async fn rejects_at_once_when_the_queue_is_full(env: Env) {
    let bulkhead = Bulkhead::builder(env.rt(), 1).max_queue(1).build().unwrap();
    let rt = env.rt();
    let held = bulkhead.acquire().await.unwrap();
    let queued = {
        let (bulkhead, rt) = (bulkhead.clone(), rt.clone());
        rt.clone()
            .spawn(async move { bulkhead.run(|| async { Ok::<_, ()>(1) }).await })
    };
    eventually(&env, "the waiter to queue", || bulkhead.stats().queued == 1).await;
    let mut called = false;
    let err = bulkhead
        .run(|| {
            called = true;
            async { Ok::<_, ()>(2) }
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ResilienceError::Rejected(BulkheadRejected::QueueFull { max_queue: 1, .. })
        ),
        "{err:?}"
    );
    assert!(!called);
    drop(held);
    assert_eq!(
        within(&env, "the queued call", queued).await.unwrap(),
        Ok(1)
    );
    assert_eq!(bulkhead.stats().rejected_queue_full, 1);
}

/// A call that waits `max_wait` for a slot is rejected, and leaves the queue.
pub async fn rejects_after_max_wait(env: Env) {
    let bulkhead = Bulkhead::builder(env.rt(), 1)
        .max_wait(20 * MS)
        .build()
        .unwrap();
    let rt = env.rt();
    let _held = bulkhead.acquire().await.unwrap();
    let start = rt.now();
    let err = within(&env, "a rejected acquire", bulkhead.acquire())
        .await
        .unwrap_err();
    let waited = rt.now() - start;
    assert!(
        matches!(err, BulkheadRejected::MaxWait { max_wait, .. } if max_wait == 20 * MS),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "bulkhead had no free slot within 20ms");
    assert_duration(
        &env,
        waited,
        20 * MS,
        19 * MS..Duration::from_secs(5),
        "the wait before the rejection",
    );
    let stats = bulkhead.stats();
    assert_eq!(
        (stats.queued, stats.rejected_max_wait, stats.in_flight),
        (0, 1, 1)
    );
}

/// A caller dropped at any await point — queued, or running with the slot — gives the slot back:
/// the caller behind it gets it.
pub async fn slot_is_released_when_the_caller_is_dropped(env: Env) {
    for point in DropPoint::all(3) {
        let bulkhead = Bulkhead::builder(env.rt(), 1).build().unwrap();
        let rt = env.rt().clone();
        let holder = bulkhead.acquire().await.unwrap();
        let sleeper = rt.clone();
        let victim = bulkhead.run(move || async move {
            sleeper.sleep(Duration::from_secs(3600)).await;
            Ok::<_, ()>(())
        });
        let mut behind = std::pin::pin!(bulkhead.acquire());
        let (victim_out, behind_out) =
            drop_waiter_at(point, victim, behind.as_mut(), move || drop(holder)).await;
        assert!(victim_out.is_none(), "{point:?}");
        let permit = match behind_out {
            Some(permit) => permit,
            None => within(&env, "the caller behind a dropped one", behind.as_mut()).await,
        }
        .unwrap();
        assert_eq!(bulkhead.stats().in_flight, 1, "{point:?}");
        drop(permit);
        let stats = bulkhead.stats();
        assert_eq!((stats.in_flight, stats.queued), (0, 0), "{point:?}");
        assert!(bulkhead.try_acquire().is_some(), "{point:?}: a slot leaked");
    }
}

/// Clones share the slots and the counters.
pub async fn clones_share_the_slots(env: Env) {
    let bulkhead = Bulkhead::builder(env.rt(), 2).build().unwrap();
    let clone = bulkhead.clone();
    let a = bulkhead.acquire().await.unwrap();
    let b = clone.try_acquire().unwrap();
    assert!(bulkhead.try_acquire().is_none());
    assert_eq!(clone.stats().in_flight, 2);
    drop((a, b));
    assert_eq!(bulkhead.stats().in_flight, 0);
    assert_eq!(bulkhead.max_concurrent(), 2);
}

/// Zero slots or a zero wait are typed errors.
pub async fn invalid_bulkhead_configuration_is_a_typed_error(env: Env) {
    assert!(matches!(
        Bulkhead::builder(env.rt(), 0).build(),
        Err(ConfigError::Zero { .. })
    ));
    assert!(matches!(
        Bulkhead::builder(env.rt(), 1)
            .max_wait(Duration::ZERO)
            .build(),
        Err(ConfigError::Zero { .. })
    ));
    assert!(Bulkhead::builder(env.rt(), 1).max_queue(0).build().is_ok());
}
