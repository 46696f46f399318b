//! Cases: [`AsyncSemaphore`]: permits come back, `try_*` errors, timeouts, `close`, fairness for
//! multi-permit requests, owned permits, `add_permits`, `forget`, and waiters dropped at every
//! await point without leaking a permit.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_semaphore {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; semaphore:
            acquire_and_release_restore_permits,
            acquire_many_waits_for_enough_permits,
            try_acquire_reports_no_permits_and_closed,
            acquire_timeout_elapses,
            close_wakes_every_waiter,
            permits_held_across_close_are_returned,
            dropped_waiter_never_leaks_a_permit,
            timed_out_waiter_returns_partial_permits,
            large_request_is_served_first_in_order,
            large_request_is_not_starved_by_churn,
            limits_concurrency_of_tasks,
            owned_permit_moves_into_task,
            add_permits_wakes_waiters,
            add_permits_beyond_max_is_rejected,
            permits_in_use_count_toward_max,
            acquire_zero_permits_succeeds_at_once,
            forget_shrinks_the_semaphore,
            zero_permit_semaphore_waits_for_add_permits,
        }
    };
}

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures_lite::future::poll_once;
use uno_core::sync::{
    AcquireTimeoutError, AsyncSemaphore, MAX_PERMITS, TooManyPermits, TryAcquireError,
};
use uno_core::task::yield_now;

use crate::support::{DropPoint, assert_timed_out_after, drop_waiter_at, eventually, within};
use crate::{Env, poll_times};

/// Acquiring takes permits and dropping a permit gives them back, one or many at a time.
pub async fn acquire_and_release_restore_permits(_env: Env) {
    let sem = AsyncSemaphore::new(3);
    assert_eq!(sem.available_permits(), 3);
    let one = sem.acquire().await.unwrap();
    assert_eq!(one.num_permits(), 1);
    assert_eq!(sem.available_permits(), 2);
    let two = sem.acquire_many(2).await.unwrap();
    assert_eq!(two.num_permits(), 2);
    assert_eq!(sem.available_permits(), 0);
    drop(one);
    assert_eq!(sem.available_permits(), 1);
    drop(two);
    assert_eq!(sem.available_permits(), 3);
    let owned = sem.acquire_many_owned(3).await.unwrap();
    assert_eq!((owned.num_permits(), sem.available_permits()), (3, 0));
    drop(owned);
    assert_eq!(sem.available_permits(), 3);
}

/// `acquire_many(n)` waits until n permits are free together, then takes them all.
pub async fn acquire_many_waits_for_enough_permits(env: Env) {
    let sem = AsyncSemaphore::new(3);
    let first = sem.acquire().await.unwrap();
    let second = sem.acquire().await.unwrap();
    let mut three = pin!(sem.acquire_many(3));
    assert!(
        poll_once(three.as_mut()).await.is_none(),
        "only one permit was free"
    );
    drop(first);
    assert!(
        poll_once(three.as_mut()).await.is_none(),
        "only two permits were free"
    );
    drop(second);
    let permit = within(&env, "acquire_many(3)", three).await.unwrap();
    assert_eq!((permit.num_permits(), sem.available_permits()), (3, 0));
    drop(permit);
    assert_eq!(sem.available_permits(), 3);
}

/// `try_acquire*` never waits: `NoPermits` when too few are free, `Closed` once closed.
pub async fn try_acquire_reports_no_permits_and_closed(_env: Env) {
    let sem = AsyncSemaphore::new(2);
    let permit = sem.try_acquire().unwrap();
    assert_eq!(
        sem.try_acquire_many(2).unwrap_err(),
        TryAcquireError::NoPermits
    );
    let other = sem.try_acquire_owned().unwrap();
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    assert_eq!(
        sem.try_acquire_owned().unwrap_err(),
        TryAcquireError::NoPermits
    );
    drop((permit, other));
    assert_eq!(sem.try_acquire_many_owned(2).unwrap().num_permits(), 2);

    sem.close();
    assert!(sem.is_closed());
    assert_eq!(sem.available_permits(), 2, "closing keeps the count");
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert_eq!(
        sem.try_acquire_many(1).unwrap_err(),
        TryAcquireError::Closed
    );
    assert_eq!(
        sem.try_acquire_owned().unwrap_err(),
        TryAcquireError::Closed
    );
    assert!(sem.acquire().await.is_err());
    assert!(sem.acquire_many_owned(2).await.is_err());
    assert!(!TryAcquireError::Closed.to_string().is_empty());
}

/// `acquire_timeout` fails with `Elapsed` after the duration, `Closed` on a closed semaphore, and
/// succeeds when a permit comes back in time; a timed-out waiter takes nothing.
pub async fn acquire_timeout_elapses(env: Env) {
    let wait = Duration::from_millis(30);
    let sem = AsyncSemaphore::new(1);
    let held = sem.acquire_owned().await.unwrap();
    let start = env.rt().now();
    let err = sem.acquire_timeout(env.rt(), wait).await.unwrap_err();
    let took = env.rt().now() - start;
    let AcquireTimeoutError::Elapsed(elapsed) = &err else {
        panic!("expected Elapsed, got {err:?}");
    };
    assert_timed_out_after(&env, wait, elapsed.elapsed(), took, "acquire_timeout");
    assert!(!elapsed.message().is_empty());
    assert!(!err.to_string().is_empty());
    assert_eq!(sem.available_permits(), 0);

    let rt = env.rt().clone();
    let releaser = env.rt().spawn(async move {
        rt.sleep(Duration::from_millis(10)).await;
        drop(held);
    });
    let permit = sem
        .acquire_many_timeout(env.rt(), 1, Duration::from_secs(10))
        .await
        .expect("the permit came back in time");
    releaser.await.unwrap();
    drop(permit);
    assert_eq!(sem.available_permits(), 1);

    sem.close();
    let err = sem.acquire_timeout(env.rt(), wait).await.unwrap_err();
    assert_eq!(err, AcquireTimeoutError::Closed);
}

/// `close` wakes every waiter — in this task and in others — with an error; later acquires fail.
pub async fn close_wakes_every_waiter(env: Env) {
    const TASKS: usize = 10;
    let sem = AsyncSemaphore::new(0);

    let mut local: Vec<Pin<Box<_>>> = (1..=5).map(|n| Box::pin(sem.acquire_many(n))).collect();
    for waiter in &mut local {
        assert!(poll_once(waiter.as_mut()).await.is_none());
    }
    let waiting = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (sem, waiting) = (sem.clone(), waiting.clone());
            env.rt().spawn(async move {
                let mut acquire = pin!(sem.acquire());
                assert!(poll_once(acquire.as_mut()).await.is_none());
                waiting.fetch_add(1, Ordering::SeqCst);
                acquire.await.is_err()
            })
        })
        .collect();
    eventually(&env, "every task queued", || {
        waiting.load(Ordering::SeqCst) == TASKS
    })
    .await;

    sem.close();
    for waiter in local {
        assert!(within(&env, "a local waiter", waiter).await.is_err());
    }
    for task in tasks {
        let failed = within(&env, "a waiting task", task).await.unwrap();
        assert!(failed, "a waiter got a permit from a closed semaphore");
    }
    assert!(sem.acquire().await.is_err());
    assert!(sem.acquire_owned().await.is_err());
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    sem.add_permits(1).unwrap();
    assert!(sem.acquire().await.is_err(), "closed is for good");
}

/// Permits held when the semaphore closes still count and come back when dropped, including
/// permits handed part-way to a waiter that the close rejects.
pub async fn permits_held_across_close_are_returned(env: Env) {
    let sem = AsyncSemaphore::new(4);
    let a = sem.acquire_many(2).await.unwrap();
    let b = sem.acquire().await.unwrap();
    let c = sem.acquire_owned().await.unwrap();
    let mut waiter = pin!(sem.acquire_many(2));
    assert!(poll_once(waiter.as_mut()).await.is_none());
    drop(b); // handed to the waiter, which still needs one more
    assert_eq!(sem.available_permits(), 0);

    sem.close();
    assert!(within(&env, "the waiter", waiter).await.is_err());
    assert_eq!(sem.available_permits(), 1, "the part-way grant came back");
    drop(a);
    assert_eq!(sem.available_permits(), 3);
    drop(c);
    assert_eq!(sem.available_permits(), 4);
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
}

/// A waiter dropped after any number of polls, whether the permits came back before, between or
/// after its polls (all of them, or only some), never leaks a permit and never swallows the
/// wake-up of the waiter queued behind it.
pub async fn dropped_waiter_never_leaks_a_permit(env: Env) {
    for partial in [false, true] {
        for point in DropPoint::all(6) {
            let sem = AsyncSemaphore::new(2);
            let first = sem.acquire().await.unwrap();
            let second = sem.acquire_owned().await.unwrap();
            // `partial`: only one permit comes back, so the victim holds a part-way grant.
            let mut kept = None;
            let release = || {
                drop(first);
                if partial {
                    kept = Some(second);
                } else {
                    drop(second);
                }
            };
            let mut behind = pin!(sem.acquire());
            let (victim, queued) =
                drop_waiter_at(point, sem.acquire_many(2), behind.as_mut(), release).await;
            drop(victim);
            let permit = match queued {
                Some(permit) => permit,
                None => within(&env, "the waiter behind the dropped one", behind).await,
            }
            .unwrap_or_else(|e| panic!("{point:?}, partial: {partial}: {e}"));
            drop(permit);
            drop(kept);
            assert_eq!(
                sem.available_permits(),
                2,
                "{point:?}, partial: {partial}: a permit leaked"
            );
            assert!(
                sem.try_acquire_many(2).is_ok(),
                "{point:?}: nobody is queued"
            );
        }
    }
}

/// A waiter that times out after being handed some of its permits gives them back.
pub async fn timed_out_waiter_returns_partial_permits(env: Env) {
    let sem = AsyncSemaphore::new(2);
    let first = sem.acquire_owned().await.unwrap();
    let second = sem.acquire().await.unwrap();
    let rt = env.rt().clone();
    let releaser = env.rt().spawn(async move {
        rt.sleep(Duration::from_millis(10)).await;
        drop(first);
    });
    let err = sem
        .acquire_many_timeout(env.rt(), 2, Duration::from_millis(60))
        .await
        .unwrap_err();
    assert!(matches!(err, AcquireTimeoutError::Elapsed(_)), "{err:?}");
    within(&env, "the releasing task", releaser).await.unwrap();
    assert_eq!(sem.available_permits(), 1, "the part-way grant leaked");
    drop(second);
    assert_eq!(sem.available_permits(), 2);
}

/// Waiters are served in arrival order: a request for 3 queued before requests for 1 gets the
/// permits first, even as they come back one at a time, and `try_acquire` does not overtake it.
pub async fn large_request_is_served_first_in_order(env: Env) {
    let sem = AsyncSemaphore::new(3);
    let permits: Vec<_> = (0..3).map(|_| sem.try_acquire().unwrap()).collect();
    let mut large = pin!(sem.acquire_many(3));
    let mut small_a = pin!(sem.acquire());
    let mut small_b = pin!(sem.acquire());
    assert!(poll_once(large.as_mut()).await.is_none());
    assert!(poll_once(small_a.as_mut()).await.is_none());
    assert!(poll_once(small_b.as_mut()).await.is_none());

    for permit in permits {
        drop(permit);
        assert!(
            poll_once(small_a.as_mut()).await.is_none(),
            "a later waiter overtook"
        );
        assert!(
            poll_once(small_b.as_mut()).await.is_none(),
            "a later waiter overtook"
        );
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    }
    let large = within(&env, "the first waiter", large).await.unwrap();
    assert_eq!(large.num_permits(), 3);
    drop(large);
    let a = within(&env, "the second waiter", small_a).await.unwrap();
    let b = within(&env, "the third waiter", small_b).await.unwrap();
    assert_eq!(sem.available_permits(), 1);
    drop((a, b));
    assert_eq!(sem.available_permits(), 3);
}

/// Tasks taking and returning single permits in a tight loop do not starve a request for all of
/// them: once it queues, returned permits go to it.
pub async fn large_request_is_not_starved_by_churn(env: Env) {
    const CHURNERS: usize = 4;
    let sem = AsyncSemaphore::new(3);
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let churners: Vec<_> = (0..CHURNERS)
        .map(|_| {
            let (sem, stop, rounds) = (sem.clone(), stop.clone(), rounds.clone());
            let rt = env.rt().clone();
            env.rt().spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let permit = sem.acquire().await.unwrap();
                    rounds.fetch_add(1, Ordering::SeqCst);
                    // A sleep, not a yield: on virtual time the clock only moves when all idle.
                    rt.sleep(Duration::from_millis(1)).await;
                    drop(permit);
                    yield_now().await;
                }
            })
        })
        .collect();
    eventually(&env, "churners running", || {
        rounds.load(Ordering::SeqCst) >= 20
    })
    .await;

    let all = within(&env, "a request for every permit", sem.acquire_many(3))
        .await
        .unwrap();
    assert_eq!(sem.available_permits(), 0);
    stop.store(true, Ordering::SeqCst);
    drop(all);
    for churner in churners {
        within(&env, "a churning task", churner).await.unwrap();
    }
    assert_eq!(sem.available_permits(), 3);
}

/// With n permits, at most n of many tasks are inside at once, and every task gets in.
pub async fn limits_concurrency_of_tasks(env: Env) {
    const LIMIT: usize = 3;
    const TASKS: usize = 20;
    let sem = AsyncSemaphore::new(LIMIT as u32);
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
            let rt = env.rt().clone();
            env.rt().spawn(async move {
                let _permit = sem.acquire_owned().await.unwrap();
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                rt.sleep(Duration::from_millis(2)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for task in tasks {
        within(&env, "a limited task", task).await.unwrap();
    }
    let most = most.load(Ordering::SeqCst);
    assert!((1..=LIMIT).contains(&most), "{most} tasks inside at once");
    assert_eq!(sem.available_permits(), LIMIT);
}

/// An owned permit moves into a spawned task and comes back when the task drops it.
pub async fn owned_permit_moves_into_task(env: Env) {
    let sem = AsyncSemaphore::new(2);
    let permit = sem.acquire_many_owned(2).await.unwrap();
    let rt = env.rt().clone();
    let task = env.rt().spawn(async move {
        rt.sleep(Duration::from_millis(10)).await;
        permit.num_permits()
    });
    assert_eq!(sem.available_permits(), 0);
    let both = within(&env, "permits held by a task", sem.acquire_many(2))
        .await
        .unwrap();
    assert_eq!(task.await.unwrap(), 2);
    drop(both);
    assert_eq!(sem.available_permits(), 2);
}

/// `add_permits` hands new permits to waiters in order and wakes them, in this task and in others.
pub async fn add_permits_wakes_waiters(env: Env) {
    let sem = AsyncSemaphore::new(0);
    let mut first = pin!(sem.acquire());
    let mut second = pin!(sem.acquire_many(2));
    assert!(poll_once(first.as_mut()).await.is_none());
    assert!(poll_once(second.as_mut()).await.is_none());
    sem.add_permits(2).unwrap();
    let first = within(&env, "the first waiter", first).await.unwrap();
    assert!(
        poll_once(second.as_mut()).await.is_none(),
        "only one permit was left"
    );
    sem.add_permits(1).unwrap();
    let second = within(&env, "the second waiter", second).await.unwrap();
    assert_eq!(sem.available_permits(), 0);
    drop((first, second));
    assert_eq!(sem.available_permits(), 3);

    let sem = AsyncSemaphore::new(0);
    let waiting = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let (sem, waiting) = (sem.clone(), waiting.clone());
            env.rt().spawn(async move {
                let mut acquire = pin!(sem.acquire_owned());
                assert!(poll_once(acquire.as_mut()).await.is_none());
                waiting.fetch_add(1, Ordering::SeqCst);
                acquire.await.unwrap().forget();
            })
        })
        .collect();
    eventually(&env, "every task queued", || {
        waiting.load(Ordering::SeqCst) == 5
    })
    .await;
    sem.add_permits(5).unwrap();
    for task in tasks {
        within(&env, "a task woken by add_permits", task)
            .await
            .unwrap();
    }
    assert_eq!(sem.available_permits(), 0, "each task forgot its permit");
}

/// Adding permits past `MAX_PERMITS` is `Err(TooManyPermits)` and adds nothing; up to it is fine.
pub async fn add_permits_beyond_max_is_rejected(_env: Env) {
    let sem = AsyncSemaphore::new(5);
    let err = sem.add_permits(MAX_PERMITS).unwrap_err();
    let err: TooManyPermits = err;
    assert_eq!((err.total, err.requested), (5, MAX_PERMITS));
    assert!(!err.to_string().is_empty());
    assert_eq!(
        sem.available_permits(),
        5,
        "a rejected add changed the count"
    );
    assert!(sem.add_permits(usize::MAX).is_err());
    assert_eq!(sem.available_permits(), 5);

    sem.add_permits(MAX_PERMITS - 5).unwrap();
    assert_eq!(sem.available_permits(), MAX_PERMITS);
    assert!(sem.add_permits(1).is_err());
    sem.add_permits(0).unwrap();
    assert_eq!(sem.available_permits(), MAX_PERMITS);
    let permit = sem.try_acquire_many(1000).unwrap();
    assert_eq!(sem.available_permits(), MAX_PERMITS - 1000);
    drop(permit);
    assert_eq!(sem.available_permits(), MAX_PERMITS);
}

/// Permits out on loan count toward `MAX_PERMITS`: once they come back the semaphore still holds
/// no more than `MAX_PERMITS`, and adding one past the maximum is an error, not a panic.
pub async fn permits_in_use_count_toward_max(_env: Env) {
    let sem = AsyncSemaphore::new(5);
    let out = sem.acquire_many(5).await.unwrap();
    // Whether this is accepted is up to the semaphore; what follows must hold either way.
    let _ = sem.add_permits(MAX_PERMITS);
    drop(out);
    let available = sem.available_permits();
    assert!(
        available <= MAX_PERMITS,
        "the semaphore holds {available} permits, more than MAX_PERMITS = {MAX_PERMITS}"
    );
    assert!(sem.add_permits(MAX_PERMITS - available + 1).is_err());
    assert_eq!(sem.available_permits(), available);
}

/// Acquiring zero permits succeeds at once, even with none free and others queued.
pub async fn acquire_zero_permits_succeeds_at_once(_env: Env) {
    let sem = AsyncSemaphore::new(0);
    let mut queued = pin!(sem.acquire());
    assert!(poll_once(queued.as_mut()).await.is_none());
    let none = poll_once(sem.acquire_many(0))
        .await
        .expect("acquire_many(0) waited")
        .unwrap();
    assert_eq!(none.num_permits(), 0);
    assert_eq!(sem.try_acquire_many(0).unwrap().num_permits(), 0);
    drop(none);
    assert_eq!(
        sem.available_permits(),
        0,
        "a zero permit returned something"
    );
    assert!(poll_once(queued.as_mut()).await.is_none());
}

/// `forget` drops a permit without returning it: the semaphore shrinks for good.
pub async fn forget_shrinks_the_semaphore(env: Env) {
    let sem = AsyncSemaphore::new(4);
    sem.acquire_many(2).await.unwrap().forget();
    assert_eq!(sem.available_permits(), 2);
    sem.acquire_owned().await.unwrap().forget();
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(
        sem.try_acquire_many(2).unwrap_err(),
        TryAcquireError::NoPermits
    );
    let err = sem
        .acquire_many_timeout(env.rt(), 2, Duration::from_millis(10))
        .await
        .unwrap_err();
    assert!(matches!(err, AcquireTimeoutError::Elapsed(_)));
    assert_eq!(sem.available_permits(), 1);
}

/// A semaphore created with zero permits makes every acquirer wait until `add_permits`.
pub async fn zero_permit_semaphore_waits_for_add_permits(env: Env) {
    let sem = AsyncSemaphore::new(0);
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    let mut task = env.rt().spawn({
        let sem = sem.clone();
        async move { sem.acquire().await.unwrap().num_permits() }
    });
    assert!(
        poll_times(&mut task, 5).await.is_none(),
        "got a permit from nothing"
    );
    assert!(poll_times(sem.acquire(), 3).await.is_none());
    sem.add_permits(1).unwrap();
    assert_eq!(within(&env, "the waiting task", task).await.unwrap(), 1);
    assert_eq!(sem.available_permits(), 1);
}
