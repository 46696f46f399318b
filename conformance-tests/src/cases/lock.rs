//! Cases: [`AsyncLock`], the named async mutex: exclusion, `try_lock`, timeouts, wake-ups, fairness,
//! owned guards, and waiters dropped at every await point.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_lock {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; lock:
            lock_excludes_under_contention,
            try_lock_fails_while_held,
            lock_timeout_elapses_naming_the_lock,
            lock_timeout_succeeds_when_released_in_time,
            dropping_guard_wakes_waiter,
            waiter_dropped_at_every_point_leaves_lock_usable,
            waiter_dropped_while_holder_releases_concurrently,
            every_waiter_gets_the_lock,
            owned_guard_moves_into_task,
            clones_share_the_lock,
        }
    };
}

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use uno_core::sync::AsyncLock;
use uno_core::task::yield_now;

use crate::support::{
    DropPoint, assert_duration, assert_timed_out_after, drop_waiter_at, eventually, within,
};
use crate::{Env, poll_times};

/// Many tasks incrementing a counter, yielding inside the critical section, never overlap.
pub async fn lock_excludes_under_contention(env: Env) {
    const TASKS: usize = 16;
    const ROUNDS: usize = 50;
    let lock = AsyncLock::new(0usize);
    let inside = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (lock, inside) = (lock.clone(), inside.clone());
            env.rt().spawn(async move {
                for _ in 0..ROUNDS {
                    let mut guard = lock.lock().await;
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two tasks inside");
                    let seen = *guard;
                    yield_now().await;
                    *guard = seen + 1;
                    assert_eq!(inside.fetch_sub(1, Ordering::SeqCst), 1, "two tasks inside");
                }
            })
        })
        .collect();
    for task in tasks {
        within(&env, "a contending task", task).await.unwrap();
    }
    assert_eq!(*lock.lock().await, TASKS * ROUNDS, "an increment was lost");
}

/// `try_lock` (and `try_lock_owned`) fail while the lock is held and succeed once it is released.
pub async fn try_lock_fails_while_held(_env: Env) {
    let lock = AsyncLock::new(1);
    let guard = lock.try_lock().expect("a free lock is taken by try_lock");
    assert!(lock.try_lock().is_none());
    assert!(lock.try_lock_owned().is_none());
    drop(guard);
    let owned = lock.try_lock_owned().expect("released lock");
    assert!(lock.try_lock().is_none());
    drop(owned);
    assert_eq!(*lock.try_lock().expect("released lock"), 1);
}

/// `lock_timeout` on a held lock fails after the duration with an `Elapsed` naming the lock, and
/// leaves the lock as it was.
pub async fn lock_timeout_elapses_naming_the_lock(env: Env) {
    let wait = Duration::from_millis(30);
    let lock = AsyncLock::named("accounts", ());
    let holder = lock.lock().await;

    let start = env.rt().now();
    let err = lock.lock_timeout(env.rt(), wait).await.unwrap_err();
    let took = env.rt().now() - start;
    assert!(
        err.message().contains("accounts"),
        "message: {:?}",
        err.message()
    );
    assert!(err.to_string().contains("accounts"), "display: {err}");
    assert_timed_out_after(&env, wait, err.elapsed(), took, "lock_timeout");

    let anonymous = AsyncLock::new(());
    let _held = anonymous.lock().await;
    let err = anonymous.lock_timeout(env.rt(), wait).await.unwrap_err();
    assert!(
        err.message().contains("lock"),
        "message: {:?}",
        err.message()
    );

    assert!(lock.try_lock().is_none(), "the holder still holds the lock");
    drop(holder);
    assert!(
        lock.try_lock().is_some(),
        "a timed-out waiter left the lock stuck"
    );
}

/// `lock_timeout` gets the lock when the holder releases it before the deadline.
pub async fn lock_timeout_succeeds_when_released_in_time(env: Env) {
    let hold = Duration::from_millis(20);
    let lock = AsyncLock::new(0);
    let holder = lock.lock_owned().await;
    let start = env.rt().now();
    let rt = env.rt().clone();
    let releaser = env.rt().spawn(async move {
        let mut holder = holder;
        rt.sleep(hold).await;
        *holder = 7;
    });
    let guard = lock
        .lock_timeout(env.rt(), Duration::from_secs(10))
        .await
        .expect("the lock was released well before the deadline");
    let took = env.rt().now() - start;
    assert_eq!(*guard, 7);
    assert_duration(
        &env,
        took,
        hold,
        hold..,
        "the wait for the lock (never before its release)",
    );
    drop(guard);
    releaser.await.unwrap();
}

/// A task waiting in `lock()` is woken when the guard is dropped.
pub async fn dropping_guard_wakes_waiter(env: Env) {
    let lock = AsyncLock::new(Vec::new());
    let mut guard = lock.lock().await;
    let mut waiter = env.rt().spawn({
        let lock = lock.clone();
        async move { lock.lock().await.push("waiter") }
    });
    assert!(
        poll_times(&mut waiter, 5).await.is_none(),
        "the waiter got a held lock"
    );
    guard.push("holder");
    drop(guard);
    within(&env, "the waiter", waiter).await.unwrap();
    assert_eq!(*lock.lock().await, ["holder", "waiter"]);
}

/// A waiter dropped after any number of polls, with the holder releasing before, between or after
/// those polls, never leaves the lock stuck, and never swallows the wake-up of the waiter queued
/// behind it.
pub async fn waiter_dropped_at_every_point_leaves_lock_usable(env: Env) {
    for point in DropPoint::all(6) {
        let lock = AsyncLock::new(0);
        let holder = lock.lock().await;
        let mut behind = pin!(lock.lock());
        let (victim, queued) =
            drop_waiter_at(point, lock.lock(), behind.as_mut(), move || drop(holder)).await;
        if let Some(mut guard) = victim {
            *guard += 1;
        }
        let mut guard = match queued {
            Some(guard) => guard,
            None => within(&env, "the waiter behind the dropped one", behind).await,
        };
        *guard += 1;
        drop(guard);
        let guard = lock
            .try_lock()
            .unwrap_or_else(|| panic!("{point:?}: the lock is stuck"));
        assert!(*guard >= 1, "{point:?}");
    }
}

/// Waiters dropped after k polls while the holder releases from another task: the lock stays
/// usable and a second waiter (in its own task) is still woken.
pub async fn waiter_dropped_while_holder_releases_concurrently(env: Env) {
    for k in 0..=8 {
        let lock = AsyncLock::new(0);
        let holder = lock.lock_owned().await;
        let second = env.rt().spawn({
            let lock = lock.clone();
            async move { *lock.lock().await += 1 }
        });
        let releaser = env.rt().spawn(async move {
            for _ in 0..k / 2 {
                yield_now().await;
            }
            drop(holder);
        });
        if let Some(mut guard) = poll_times(lock.lock(), k).await {
            *guard += 1;
        }
        within(&env, "the releasing task", releaser).await.unwrap();
        within(&env, "the second waiter", second).await.unwrap();
        let guard = lock
            .try_lock()
            .unwrap_or_else(|| panic!("k = {k}: the lock is stuck"));
        assert!(*guard >= 1);
    }
}

/// Every one of many queued waiters eventually gets the lock, once each.
pub async fn every_waiter_gets_the_lock(env: Env) {
    const WAITERS: usize = 20;
    let lock = AsyncLock::new(Vec::new());
    let guard = lock.lock().await;
    let started = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..WAITERS)
        .map(|id| {
            let (lock, started) = (lock.clone(), started.clone());
            env.rt().spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                let mut guard = lock.lock().await;
                guard.push(id);
                yield_now().await;
            })
        })
        .collect();
    eventually(&env, "all waiters started", || {
        started.load(Ordering::SeqCst) == WAITERS
    })
    .await;
    assert!(guard.is_empty());
    drop(guard);
    for task in tasks {
        within(&env, "a queued waiter", task).await.unwrap();
    }
    let mut got = lock.lock().await.clone();
    got.sort_unstable();
    assert_eq!(got, (0..WAITERS).collect::<Vec<_>>());
}

/// An owned guard (`lock_owned`) moves into a spawned task, which releases it there.
pub async fn owned_guard_moves_into_task(env: Env) {
    let lock = AsyncLock::new(String::new());
    let mut guard = lock.lock_owned().await;
    let rt = env.rt().clone();
    let task = env.rt().spawn(async move {
        guard.push_str("written in a task");
        rt.sleep(Duration::from_millis(10)).await;
        drop(guard);
        "released"
    });
    // The task holds the lock until it drops the guard, so this only succeeds after the write.
    let seen = within(&env, "the lock held by a task", lock.lock())
        .await
        .clone();
    assert_eq!(seen, "written in a task");
    assert_eq!(task.await.unwrap(), "released");

    let in_task = env.rt().spawn({
        let lock = lock.clone();
        async move {
            let mut guard = lock.lock_owned().await;
            guard.push('!');
        }
    });
    within(&env, "a task taking an owned guard", in_task)
        .await
        .unwrap();
    assert_eq!(*lock.lock().await, "written in a task!");
}

/// Clones are handles to one lock: holding it through one blocks the others, and they share the
/// name and the value.
pub async fn clones_share_the_lock(env: Env) {
    let lock = AsyncLock::named("shared", 0);
    let clone = lock.clone();
    assert_eq!(clone.name(), Some("shared"));
    let guard = lock.lock().await;
    assert!(clone.try_lock().is_none());
    assert!(
        clone
            .lock_timeout(env.rt(), Duration::from_millis(10))
            .await
            .is_err()
    );
    drop(guard);
    *clone.lock().await = 5;
    assert_eq!(*lock.lock().await, 5);
}
