//! Cases: [`CancellationToken`] trees, [`cancellable`], drop guards, and `cancelled()` waiters
//! dropped at every await point.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_cancel {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; cancel:
            cancel_wakes_every_waiter,
            parent_cancels_its_descendants,
            cancelling_a_child_leaves_the_parent,
            child_of_a_cancelled_parent_starts_cancelled,
            grandchild_is_cancelled_through_a_dropped_intermediate,
            cancellable_drops_the_future_when_cancelled,
            cancellable_returns_ok_when_the_future_completes,
            cancelled_before_first_poll_never_polls,
            drop_guard_cancels_on_drop,
            disarmed_drop_guard_does_not_cancel,
            dropped_waiter_does_not_disturb_others,
            many_dropped_children_do_not_break_cancel,
            children_created_during_cancel_are_cancelled,
            cancelled_owned_wakes_a_spawned_waiter,
            run_until_cancelled_gives_some_or_none,
            run_until_cancelled_owned_stops_a_spawned_future,
        }
    };
}

use std::future::{self, Future};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures_lite::future::poll_once;
use uno_core::sync::{CancellationToken, Cancelled, cancellable};
use uno_core::task::Task;
use uno_core::task::yield_now;

use crate::support::{DropPoint, assert_duration, drop_waiter_at, eventually, within};
use crate::{Env, poll_times};

/// Sets its flag when dropped: tells whether a future (which owns one) was dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A future that never completes, records that it was polled, and owns a [`DropFlag`].
fn pending_forever(polled: Arc<AtomicBool>, dropped: Arc<AtomicBool>) -> impl Future<Output = ()> {
    let flag = DropFlag(dropped);
    future::poll_fn(move |_| {
        let _owned = &flag;
        polled.store(true, Ordering::SeqCst);
        Poll::Pending
    })
}

/// `cancel` wakes every task waiting in `cancelled()`; later waits return at once.
pub async fn cancel_wakes_every_waiter(env: Env) {
    const WAITERS: usize = 20;
    let token = CancellationToken::new();
    let waiting = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (token, waiting) = (token.clone(), waiting.clone());
            env.rt().spawn(async move {
                let mut cancelled = pin!(token.cancelled());
                assert!(
                    poll_once(cancelled.as_mut()).await.is_none(),
                    "cancelled early"
                );
                waiting.fetch_add(1, Ordering::SeqCst);
                cancelled.await;
                assert!(token.is_cancelled());
            })
        })
        .collect();
    eventually(&env, "every task waiting", || {
        waiting.load(Ordering::SeqCst) == WAITERS
    })
    .await;
    assert!(!token.is_cancelled());
    token.cancel();
    assert!(token.is_cancelled());
    for task in tasks {
        within(&env, "a task waiting for cancellation", task)
            .await
            .unwrap();
    }
    assert!(poll_once(token.cancelled()).await.is_some());
    token.cancel(); // twice is fine
    assert!(token.clone().is_cancelled());
}

/// Cancelling a parent cancels its children and grandchildren and wakes their waiters.
pub async fn parent_cancels_its_descendants(env: Env) {
    let parent = CancellationToken::new();
    let child = parent.child_token();
    let grandchild = child.child_token();
    let sibling = parent.child_token();
    let mut waiter = env.rt().spawn({
        let grandchild = grandchild.clone();
        async move { grandchild.cancelled().await }
    });
    assert!(poll_times(&mut waiter, 3).await.is_none());
    assert!(!child.is_cancelled() && !grandchild.is_cancelled() && !sibling.is_cancelled());

    parent.cancel();
    assert!(child.is_cancelled());
    assert!(grandchild.is_cancelled());
    assert!(sibling.is_cancelled());
    within(&env, "a grandchild's waiter", waiter).await.unwrap();
    assert!(poll_once(child.cancelled()).await.is_some());
}

/// Cancelling a child cancels it and its own children, but not its parent or its siblings.
pub async fn cancelling_a_child_leaves_the_parent(_env: Env) {
    let parent = CancellationToken::new();
    let child = parent.child_token();
    let grandchild = child.child_token();
    let sibling = parent.child_token();
    child.cancel();
    assert!(child.is_cancelled() && grandchild.is_cancelled());
    assert!(!parent.is_cancelled(), "a child cancelled its parent");
    assert!(!sibling.is_cancelled(), "a child cancelled its sibling");
    assert!(poll_times(parent.cancelled(), 3).await.is_none());
    assert!(poll_times(sibling.cancelled(), 3).await.is_none());

    // The parent still works: a new child is live, and cancelling the parent reaches it.
    let late = parent.child_token();
    assert!(!late.is_cancelled());
    parent.cancel();
    assert!(late.is_cancelled() && sibling.is_cancelled());
}

/// A child made from a cancelled token is cancelled from the start, and so are its children.
pub async fn child_of_a_cancelled_parent_starts_cancelled(_env: Env) {
    let parent = CancellationToken::new();
    parent.cancel();
    let child = parent.child_token();
    assert!(child.is_cancelled());
    assert!(child.child_token().is_cancelled());
    assert!(poll_once(child.cancelled()).await.is_some());
    assert_eq!(cancellable(&child, async { 1 }).await, Err(Cancelled));

    // Also when the parent was cancelled through its own parent.
    let root = CancellationToken::new();
    let middle = root.child_token();
    root.cancel();
    assert!(middle.child_token().is_cancelled());
}

/// Grandchildren are cancelled through an intermediate child even after every handle to that
/// intermediate was dropped: the grandchild keeps its ancestors alive, so the signal still flows.
pub async fn grandchild_is_cancelled_through_a_dropped_intermediate(env: Env) {
    let root = CancellationToken::new();
    let middle = root.child_token();
    let grandchild = middle.child_token();
    drop(middle);
    let waiter = env.rt().spawn({
        let grandchild = grandchild.clone();
        async move { grandchild.cancelled().await }
    });
    root.cancel();
    assert!(
        grandchild.is_cancelled(),
        "the dropped intermediate cut the tree"
    );
    within(&env, "the grandchild's waiter", waiter)
        .await
        .unwrap();

    // A longer chain with every intermediate handle dropped.
    let root = CancellationToken::new();
    let mut leaf = root.child_token();
    for _ in 0..100 {
        leaf = leaf.child_token(); // drops the previous handle
    }
    let other_leaf = {
        let middle = root.child_token();
        middle.child_token()
    };
    assert!(!leaf.is_cancelled() && !other_leaf.is_cancelled());
    root.cancel();
    assert!(leaf.is_cancelled() && other_leaf.is_cancelled());
    assert!(poll_once(leaf.cancelled()).await.is_some());
}

/// `cancellable` returns `Err(Cancelled)` when another task cancels the token while the future is
/// part-way through, and the future has been dropped by then.
pub async fn cancellable_drops_the_future_when_cancelled(env: Env) {
    let delay = Duration::from_millis(20);
    let token = CancellationToken::new();
    let started = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let start = env.rt().now(); // before the spawn: the canceller's sleep may start at once
    let rt = env.rt().clone();
    let canceller = env.rt().spawn({
        let token = token.clone();
        async move {
            rt.sleep(delay).await;
            token.cancel();
        }
    });
    let work = {
        let (started, flag) = (started.clone(), DropFlag(dropped.clone()));
        let rt = env.rt().clone();
        async move {
            let _flag = flag;
            started.store(true, Ordering::SeqCst);
            rt.sleep(Duration::from_secs(60)).await;
            "finished"
        }
    };
    let mut guarded = pin!(cancellable(&token, work));
    let outcome = within(&env, "a cancellable future", guarded.as_mut()).await;
    let took = env.rt().now() - start;
    assert_eq!(outcome, Err(Cancelled));
    assert!(started.load(Ordering::SeqCst), "the future never ran");
    // Checked while the `Cancellable` still exists: the inner future goes as soon as it fires.
    assert!(
        dropped.load(Ordering::SeqCst),
        "the future was not dropped on cancellation"
    );
    assert_duration(
        &env,
        took,
        delay,
        delay..Duration::from_secs(10),
        "the cancelled future",
    );
    canceller.await.unwrap();
    assert!(!Cancelled.to_string().is_empty());
}

/// `cancellable` (and `run_until_cancelled`) return `Ok` with the output of a future that
/// completes, at once or after waiting, when the token is not cancelled.
pub async fn cancellable_returns_ok_when_the_future_completes(env: Env) {
    let token = CancellationToken::new();
    assert_eq!(cancellable(&token, async { 7 }).await, Ok(7));
    let rt = env.rt().clone();
    let slow = async move {
        rt.sleep(Duration::from_millis(10)).await;
        "slow"
    };
    assert_eq!(
        within(&env, "a slow future", cancellable(&token, slow)).await,
        Ok("slow")
    );
    let child = token.child_token();
    assert_eq!(child.run_until_cancelled(async { 'c' }).await.unwrap(), 'c');
    assert!(!token.is_cancelled());
    // A completed future's token may be cancelled afterwards without affecting anything.
    token.cancel();
    assert!(child.is_cancelled());
}

/// A token cancelled before the first poll means the future is never polled, only dropped.
pub async fn cancelled_before_first_poll_never_polls(_env: Env) {
    let token = CancellationToken::new();
    token.cancel();
    let polled = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let outcome = cancellable(&token, pending_forever(polled.clone(), dropped.clone())).await;
    assert_eq!(outcome, Err(Cancelled));
    assert!(
        !polled.load(Ordering::SeqCst),
        "the future was polled after cancellation"
    );
    assert!(dropped.load(Ordering::SeqCst));

    // Also when the token is cancelled between creating the future and its first poll.
    let token = CancellationToken::new();
    let polled = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let guarded = token.run_until_cancelled(pending_forever(polled.clone(), dropped.clone()));
    token.cancel();
    assert_eq!(guarded.await, None);
    assert!(
        !polled.load(Ordering::SeqCst),
        "the future was polled after cancellation"
    );
    assert!(dropped.load(Ordering::SeqCst));
}

/// A drop guard cancels its token when dropped, waking waiters and children.
pub async fn drop_guard_cancels_on_drop(env: Env) {
    let token = CancellationToken::new();
    let child = token.child_token();
    let waiter = env.rt().spawn({
        let child = child.clone();
        async move { child.cancelled().await }
    });
    let guard = token.clone().drop_guard();
    assert!(!token.is_cancelled());
    drop(guard);
    assert!(token.is_cancelled() && child.is_cancelled());
    within(&env, "a waiter on a child", waiter).await.unwrap();

    // The guard cancels when its owner unwinds too, e.g. a task that panics.
    let token = CancellationToken::new();
    let task = env.rt().spawn({
        let guard = token.clone().drop_guard();
        async move {
            let _guard = guard;
            panic!("the task holding the guard panics");
        }
    });
    assert!(within(&env, "a panicking task", task).await.is_err());
    assert!(token.is_cancelled());
}

/// A disarmed drop guard gives its token back without cancelling it.
pub async fn disarmed_drop_guard_does_not_cancel(_env: Env) {
    let token = CancellationToken::new();
    let guard = token.clone().drop_guard();
    let back = guard.disarm();
    assert!(!token.is_cancelled() && !back.is_cancelled());
    drop(back);
    assert!(
        !token.is_cancelled(),
        "dropping the disarmed token cancelled it"
    );
    assert!(poll_times(token.cancelled(), 3).await.is_none());

    // The returned token is the same token.
    let back = token.clone().drop_guard().disarm();
    back.cancel();
    assert!(token.is_cancelled());
}

/// A `cancelled()` waiter (or a `cancellable` future) dropped after any number of polls, with the
/// token (or its parent) cancelled before, between or after its polls, does not disturb the waiter
/// behind it.
pub async fn dropped_waiter_does_not_disturb_others(env: Env) {
    for through_parent in [false, true] {
        for point in DropPoint::all(6) {
            let parent = CancellationToken::new();
            let token = parent.child_token();
            let release = || {
                if through_parent {
                    parent.cancel();
                } else {
                    token.cancel();
                }
            };
            let mut behind = pin!(token.cancelled());
            let (_, woken) =
                drop_waiter_at(point, token.cancelled(), behind.as_mut(), release).await;
            if woken.is_none() {
                within(&env, "a waiter behind a dropped one", behind).await;
            }
            assert!(token.is_cancelled());
            assert_eq!(parent.is_cancelled(), through_parent, "{point:?}");
        }
    }

    for point in DropPoint::all(6) {
        let token = CancellationToken::new();
        let dropped = Arc::new(AtomicBool::new(false));
        let victim = cancellable(&token, pending_forever(Arc::default(), dropped.clone()));
        let mut behind = pin!(cancellable(&token, future::pending::<()>()));
        let (victim, woken) =
            drop_waiter_at(point, victim, behind.as_mut(), || token.cancel()).await;
        if let Some(victim) = victim {
            assert_eq!(victim, Err(Cancelled), "{point:?}");
        }
        assert!(
            dropped.load(Ordering::SeqCst),
            "{point:?}: the inner future was not dropped"
        );
        let behind = match woken {
            Some(outcome) => outcome,
            None => within(&env, "a cancellable behind a dropped one", behind).await,
        };
        assert_eq!(behind, Err(Cancelled), "{point:?}");
    }
}

/// Creating and dropping a thousand children leaves the parent working: cancelling it still
/// reaches the children that are alive and wakes their waiters.
pub async fn many_dropped_children_do_not_break_cancel(env: Env) {
    let parent = CancellationToken::new();
    let mut kept = Vec::new();
    for i in 0..1000 {
        let child = parent.child_token();
        let grandchild = child.child_token();
        if i % 100 == 0 {
            kept.push(grandchild);
        }
        // `child` dropped here; every hundredth one lives on through its grandchild.
    }
    for _ in 0..1000 {
        parent.child_token().cancel(); // cancelled and dropped: the parent is unaffected
    }
    assert!(!parent.is_cancelled());
    let waiters: Vec<_> = kept
        .iter()
        .map(|token| {
            let token = token.clone();
            env.rt().spawn(async move { token.cancelled().await })
        })
        .collect();
    yield_now().await;
    parent.cancel();
    assert!(kept.iter().all(CancellationToken::is_cancelled));
    for waiter in waiters {
        within(&env, "a waiter on a kept child", waiter)
            .await
            .unwrap();
    }
}

/// Children created by other tasks while the parent is being cancelled all end up cancelled:
/// each was either reached by `cancel` or started cancelled.
pub async fn children_created_during_cancel_are_cancelled(env: Env) {
    const TASKS: usize = 4;
    let parent = CancellationToken::new();
    let made = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (parent, made) = (parent.clone(), made.clone());
            env.rt().spawn(async move {
                let mut children = Vec::new();
                let mut after = 0;
                while after < 20 {
                    if parent.is_cancelled() {
                        after += 1;
                    }
                    children.push(parent.child_token());
                    made.fetch_add(1, Ordering::SeqCst);
                    yield_now().await;
                }
                children
            })
        })
        .collect();
    // Yield rather than sleep: the tasks never idle, so a virtual clock would not move.
    while made.load(Ordering::SeqCst) < 50 {
        yield_now().await;
    }
    parent.cancel();
    for task in tasks {
        let children = within(&env, "a task making children", task).await.unwrap();
        assert!(
            children.iter().all(CancellationToken::is_cancelled),
            "a child missed the cancel"
        );
    }
}

/// `cancelled_owned` is a `'static` future: moved into a spawned task, it wakes that task when the
/// token is cancelled from the outside, and returns at once for a token already cancelled.
pub async fn cancelled_owned_wakes_a_spawned_waiter(env: Env) {
    let rt = env.rt();
    let token = CancellationToken::new();
    let waiter: Task<&str> = {
        let stopped = token.child_token().cancelled_owned();
        rt.spawn(async move {
            stopped.await;
            "stopped"
        })
    };
    yield_now().await;
    assert!(!waiter.is_finished(), "woke before the cancellation");
    token.cancel();
    assert_eq!(
        within(&env, "the owned waiter", waiter).await.unwrap(),
        "stopped"
    );
    within(
        &env,
        "an owned wait on a cancelled token",
        token.cancelled_owned(),
    )
    .await;
}

/// `run_until_cancelled` is tokio-util's shape: `Some(output)` when the future finishes first,
/// `None` once the token is cancelled, and the future is then dropped without another poll.
pub async fn run_until_cancelled_gives_some_or_none(env: Env) {
    let rt = env.rt();
    let token = CancellationToken::new();
    assert_eq!(token.run_until_cancelled(async { 7 }).await, Some(7));
    let (polled, dropped) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let canceller = {
        let (token, rt2) = (token.clone(), rt.clone());
        rt.spawn(async move {
            rt2.sleep(Duration::from_millis(10)).await;
            token.cancel();
        })
    };
    let run = token.run_until_cancelled(pending_forever(polled.clone(), dropped.clone()));
    assert_eq!(within(&env, "run_until_cancelled", run).await, None);
    assert!(
        polled.load(Ordering::SeqCst),
        "the future ran until the cancel"
    );
    assert!(dropped.load(Ordering::SeqCst), "the future was dropped");
    within(&env, "the canceller", canceller).await.unwrap();
    // Cancelled already: the future is never polled.
    let (polled, dropped) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let run = token.run_until_cancelled(pending_forever(polled.clone(), dropped.clone()));
    assert_eq!(run.await, None);
    assert!(!polled.load(Ordering::SeqCst));
    assert!(dropped.load(Ordering::SeqCst));
}

/// `run_until_cancelled_owned` owns its token, so the race itself can be spawned; cancelling the
/// token from outside stops the task's future and the task returns `None`.
pub async fn run_until_cancelled_owned_stops_a_spawned_future(env: Env) {
    let rt = env.rt();
    let token = CancellationToken::new();
    let (polled, dropped) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let worker = rt.spawn(
        token
            .clone()
            .run_until_cancelled_owned(pending_forever(polled.clone(), dropped.clone())),
    );
    eventually(rt, "the worker to start", || polled.load(Ordering::SeqCst)).await;
    token.cancel();
    assert_eq!(within(&env, "the worker", worker).await.unwrap(), None);
    assert!(dropped.load(Ordering::SeqCst));
    let quick = rt.spawn(CancellationToken::new().run_until_cancelled_owned(async { 3 }));
    assert_eq!(
        within(&env, "a quick worker", quick).await.unwrap(),
        Some(3)
    );
}
