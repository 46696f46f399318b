//! Cases: [`AsyncEvent`]: `set` wakes every waiter, `clear` makes waits pend again, timeouts, a
//! quick set/clear pulse still releases waiters that were waiting, and waiters dropped at every
//! await point do not take the wake-up from the others.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_event {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; event:
            set_wakes_every_waiter,
            wait_on_a_set_event_is_immediate,
            clear_makes_wait_pend,
            wait_timeout_elapses_or_succeeds,
            pulse_releases_waiters_already_waiting,
            dropped_waiter_does_not_take_the_wake_up,
            clones_share_the_event,
            set_racing_with_a_new_wait_is_never_missed,
        }
    };
}

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_lite::future::poll_once;
use uno_core::sync::AsyncEvent;

use crate::support::{
    DropPoint, assert_duration, assert_timed_out_after, drop_waiter_at, eventually, within,
};
use crate::{Env, poll_times};

/// Spawns `count` tasks that each start waiting on `event` (their first poll pends), report it in
/// `waiting`, and then finish once the wait completes.
fn spawn_waiters(
    env: &Env,
    event: &AsyncEvent,
    waiting: &Arc<AtomicUsize>,
    count: usize,
) -> Vec<uno_core::Task<()>> {
    (0..count)
        .map(|_| {
            let (event, waiting) = (event.clone(), waiting.clone());
            env.rt().spawn(async move {
                let mut wait = pin!(event.wait());
                assert!(
                    poll_once(wait.as_mut()).await.is_none(),
                    "the event was set early"
                );
                waiting.fetch_add(1, Ordering::SeqCst);
                wait.await;
            })
        })
        .collect()
}

/// One `set` wakes all of 50 waiting tasks.
pub async fn set_wakes_every_waiter(env: Env) {
    const WAITERS: usize = 50;
    let event = AsyncEvent::new();
    let waiting = Arc::new(AtomicUsize::new(0));
    let tasks = spawn_waiters(&env, &event, &waiting, WAITERS);
    eventually(&env, "every task waiting", || {
        waiting.load(Ordering::SeqCst) == WAITERS
    })
    .await;
    assert!(!event.is_set());
    event.set();
    assert!(event.is_set());
    for task in tasks {
        within(&env, "a waiter after set", task).await.unwrap();
    }
    assert!(
        event.is_set(),
        "waking the waiters does not clear the event"
    );
}

/// Waiting on a set event completes at the first poll, as often as asked; setting twice is fine.
pub async fn wait_on_a_set_event_is_immediate(_env: Env) {
    let event = AsyncEvent::new();
    event.set();
    event.set();
    assert!(event.is_set());
    for _ in 0..3 {
        assert!(
            poll_once(event.wait()).await.is_some(),
            "waited on a set event"
        );
    }
    event.wait().await;
}

/// After `clear`, a new wait pends until the next `set`.
pub async fn clear_makes_wait_pend(env: Env) {
    let event = AsyncEvent::new();
    assert!(!event.is_set(), "a new event is not set");
    event.set();
    event.clear();
    assert!(!event.is_set());
    assert!(
        poll_times(event.wait(), 5).await.is_none(),
        "a wait after clear completed"
    );
    assert!(
        event
            .wait_timeout(env.rt(), Duration::from_millis(10))
            .await
            .is_err()
    );
    event.clear();
    assert!(!event.is_set(), "clearing a clear event keeps it clear");

    let mut wait = pin!(event.wait());
    assert!(poll_once(wait.as_mut()).await.is_none());
    event.set();
    within(&env, "a wait after the next set", wait).await;
}

/// `wait_timeout` fails after the duration with `Elapsed` if nobody sets the event, and succeeds
/// when another task sets it in time.
pub async fn wait_timeout_elapses_or_succeeds(env: Env) {
    let wait = Duration::from_millis(30);
    let event = AsyncEvent::new();
    let start = env.rt().now();
    let err = event.wait_timeout(env.rt(), wait).await.unwrap_err();
    let took = env.rt().now() - start;
    assert_timed_out_after(&env, wait, err.elapsed(), took, "wait_timeout");
    assert!(!err.message().is_empty());

    let start = env.rt().now(); // before the spawn: the setter's sleep may start at once
    let rt = env.rt().clone();
    let setter = env.rt().spawn({
        let event = event.clone();
        async move {
            rt.sleep(Duration::from_millis(10)).await;
            event.set();
        }
    });
    event
        .wait_timeout(env.rt(), Duration::from_secs(10))
        .await
        .expect("the event was set in time");
    let took = env.rt().now() - start;
    assert_duration(
        &env,
        took,
        Duration::from_millis(10),
        Duration::from_millis(10)..,
        "the wait for the set (never before it)",
    );
    setter.await.unwrap();
    event
        .wait_timeout(env.rt(), Duration::ZERO)
        .await
        .expect("a set event is ready even with no time to wait");
}

/// A `set` immediately followed by `clear` still releases every waiter that was already waiting —
/// in this task and in others — while waits that begin after the pulse pend.
pub async fn pulse_releases_waiters_already_waiting(env: Env) {
    const TASKS: usize = 10;
    let event = AsyncEvent::new();
    let mut local: Vec<_> = (0..5).map(|_| Box::pin(event.wait())).collect();
    for wait in &mut local {
        assert!(poll_once(wait.as_mut()).await.is_none());
    }
    let waiting = Arc::new(AtomicUsize::new(0));
    let tasks = spawn_waiters(&env, &event, &waiting, TASKS);
    eventually(&env, "every task waiting", || {
        waiting.load(Ordering::SeqCst) == TASKS
    })
    .await;

    event.set();
    event.clear();
    assert!(!event.is_set());
    for wait in local {
        within(&env, "a local waiter after a pulse", wait).await;
    }
    for task in tasks {
        within(&env, "a waiting task after a pulse", task)
            .await
            .unwrap();
    }
    assert!(
        poll_times(event.wait(), 5).await.is_none(),
        "a wait after the pulse completed"
    );
}

/// A waiter dropped after any number of polls, with the event set (or pulsed: set then cleared)
/// before, between or after its polls, does not take the wake-up from the waiter behind it.
pub async fn dropped_waiter_does_not_take_the_wake_up(env: Env) {
    for pulse in [false, true] {
        for point in DropPoint::all(6) {
            if pulse && point.release_at == 0 && point.polls > 0 {
                // The pulse would come before `behind` starts waiting: it rightly misses it.
                continue;
            }
            let event = AsyncEvent::new();
            let mut behind = pin!(event.wait());
            let release = || {
                event.set();
                if pulse {
                    event.clear();
                }
            };
            let (_victim, woken) =
                drop_waiter_at(point, event.wait(), behind.as_mut(), release).await;
            if woken.is_none() {
                within(&env, "the waiter behind a dropped one", behind).await;
            }
            assert_eq!(event.is_set(), !pulse, "{point:?}, pulse: {pulse}");
        }
    }
    // And a dropped waiter leaves nothing behind that a later set would trip over.
    let event = AsyncEvent::new();
    for k in 0..=4 {
        assert!(poll_times(event.wait(), k).await.is_none());
    }
    let mut last = pin!(event.wait());
    assert!(poll_once(last.as_mut()).await.is_none());
    event.set();
    within(&env, "a waiter after dropped ones", last).await;
}

/// Clones are one event: setting or clearing through one is seen by waiters on the others.
pub async fn clones_share_the_event(env: Env) {
    let event = AsyncEvent::new();
    let clone = event.clone();
    let mut wait = pin!(clone.wait());
    assert!(poll_once(wait.as_mut()).await.is_none());
    event.set();
    assert!(clone.is_set());
    within(&env, "a wait on a clone", wait).await;
    clone.clear();
    assert!(!event.is_set());
}

/// A `set` racing with a wait that is just starting to listen (on real backends from another OS
/// thread, so the two really overlap) always releases it: a set that skips notifying because it
/// saw no listener is seen by the wait when it re-checks the event after listening.
pub async fn set_racing_with_a_new_wait_is_never_missed(env: Env) {
    for round in 0..300 {
        let event = AsyncEvent::new();
        let waiter = {
            let event = event.clone();
            env.rt().spawn(async move { event.wait().await })
        };
        if env.is_virtual_time() {
            uno_core::task::yield_now().await;
            event.set();
        } else {
            let setter = event.clone();
            std::thread::spawn(move || setter.set());
        }
        within(env.rt(), &format!("the wait of round {round}"), waiter)
            .await
            .unwrap();
    }
}
