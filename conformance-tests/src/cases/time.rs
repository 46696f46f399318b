//! Cases: the [`Timer`] half of the runtime seam — `now`, sleeps, deadlines and `Sleep::reset`.
//!
//! On real clocks a sleep is only checked to last *at least* its duration (a loaded host may wake
//! it late); on virtual time the cases assert exact instants.
//!
//! [`Timer`]: uno_core::time::Timer

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_time {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; time:
            sleep_waits_at_least_its_duration,
            sleep_deadline_is_now_plus_duration,
            sleeps_complete_in_deadline_order,
            sleep_until_past_deadline_is_ready_at_first_poll,
            zero_duration_sleep_is_ready,
            reset_to_later_deadline_extends,
            reset_to_earlier_deadline_shortens,
            reset_to_past_deadline_is_ready_at_next_poll,
            reset_after_completion_rearms,
            now_is_monotonic_across_sleeps,
            max_duration_sleep_saturates_and_stays_pending,
            many_sleeping_tasks_all_wake,
            sleep_moved_to_another_task_wakes_it,
            dropped_sleep_does_not_disturb_others,
        }
    };
}

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::future::poll_once;
use uno_core::rt::Runtime;
use uno_core::task::yield_now;
use uno_core::time::{FAR_FUTURE, Sleep};

use crate::support::{assert_duration, within};
use crate::{Env, assert_send_sync, poll_times};

const MS: Duration = Duration::from_millis(1);

/// A loose upper bound for real clocks: only catches a sleep that hangs or ignores its deadline.
const LOOSE: Duration = Duration::from_secs(10);

/// `sleep(d)` lasts at least `d` on the runtime's clock (exactly `d` on virtual time).
pub async fn sleep_waits_at_least_its_duration(env: Env) {
    let rt = env.rt();
    for d in [MS * 10, MS * 35] {
        let start = rt.now();
        rt.sleep(d).await;
        let elapsed = rt.now() - start;
        assert_duration(&env, elapsed, d, d..LOOSE, format_args!("a sleep of {d:?}"));
    }
}

/// A sleep's `deadline()` is the instant it was created plus its duration, and it wakes at or
/// after that instant.
pub async fn sleep_deadline_is_now_plus_duration(env: Env) {
    let rt = env.rt();
    let d = MS * 20;
    let before = rt.now();
    let sleep = rt.sleep(d);
    let after = rt.now();
    let deadline = sleep.deadline();
    assert!(
        deadline >= before + d && deadline <= after + d + MS,
        "deadline {:?} after creation, asked {d:?}",
        deadline - before
    );
    if env.is_virtual_time() {
        assert_eq!(deadline, before + d);
    }
    sleep.await;
    assert!(rt.now() >= deadline);

    let target = rt.now() + MS * 15;
    let sleep = rt.sleep_until(target);
    assert_eq!(sleep.deadline(), target);
    sleep.await;
    assert!(rt.now() >= target);
}

/// Sleeps spawned in reverse order of their deadlines complete in deadline order, each at or
/// after its own deadline.
pub async fn sleeps_complete_in_deadline_order(env: Env) {
    let rt = env.rt();
    let order = Arc::new(Mutex::new(Vec::new()));
    let start = rt.now();
    let tasks: Vec<_> = [90_u64, 60, 30]
        .into_iter()
        .map(|ms| {
            let deadline = start + MS * ms as u32;
            let (rt2, order) = (rt.clone(), order.clone());
            rt.spawn(async move {
                rt2.sleep_until(deadline).await;
                let woke = rt2.now();
                order.lock().unwrap().push(ms);
                (woke, deadline)
            })
        })
        .collect();
    for task in tasks {
        let (woke, deadline) = within(rt, "a sleeping task", task).await.unwrap();
        assert!(woke >= deadline, "woke {:?} early", deadline - woke);
        if env.is_virtual_time() {
            assert_eq!(woke, deadline);
        }
    }
    assert_eq!(*order.lock().unwrap(), [30, 60, 90]);
}

/// `sleep_until` an instant that has already passed is ready at its first poll.
pub async fn sleep_until_past_deadline_is_ready_at_first_poll(env: Env) {
    let rt = env.rt();
    let past = rt.now();
    rt.sleep(MS * 10).await;
    let mut sleep = rt.sleep_until(past);
    assert!(
        poll_once(&mut sleep).await.is_some(),
        "a sleep until a past instant was pending"
    );
    let mut sleep = rt.sleep_until(past + MS * 5);
    assert!(poll_once(&mut sleep).await.is_some());
}

/// A zero-duration sleep is ready at its first poll and takes no time on a virtual clock.
pub async fn zero_duration_sleep_is_ready(env: Env) {
    let rt = env.rt();
    let start = rt.now();
    let mut sleep = rt.sleep(Duration::ZERO);
    assert!(
        poll_once(&mut sleep).await.is_some(),
        "sleep(Duration::ZERO) was pending at its first poll"
    );
    rt.sleep(Duration::ZERO).await;
    assert_duration(
        &env,
        rt.now() - start,
        Duration::ZERO,
        ..,
        "two zero sleeps",
    );
}

/// `Sleep::reset` to a later deadline extends a pending sleep: it no longer fires at the old
/// deadline, only at the new one.
pub async fn reset_to_later_deadline_extends(env: Env) {
    let rt = env.rt();
    let start = rt.now();
    let old = start + MS * 20;
    let new = start + MS * 80;
    let mut sleep = rt.sleep_until(old);
    let first = poll_once(&mut sleep).await;
    if env.is_virtual_time() {
        assert!(first.is_none());
    }
    sleep.as_mut().reset(new);
    assert_eq!(sleep.deadline(), new);
    if env.is_virtual_time() {
        // Past the old deadline, the reset sleep is still pending.
        rt.sleep_until(start + MS * 40).await;
        assert!(
            poll_once(&mut sleep).await.is_none(),
            "fired at the old deadline"
        );
    }
    (&mut sleep).await;
    let now = rt.now();
    assert!(now >= new, "woke {:?} before the new deadline", new - now);
    assert_duration(
        &env,
        now - start,
        new - start,
        ..LOOSE,
        "the extended sleep",
    );
}

/// `Sleep::reset` to an earlier deadline shortens a pending sleep: it wakes at the new deadline
/// without waiting for the old one.
pub async fn reset_to_earlier_deadline_shortens(env: Env) {
    let rt = env.rt();
    let start = rt.now();
    let mut sleep = rt.sleep_until(start + Duration::from_secs(3600));
    assert!(poll_once(&mut sleep).await.is_none());
    let new = start + MS * 30;
    sleep.as_mut().reset(new);
    assert_eq!(sleep.deadline(), new);
    (&mut sleep).await;
    let now = rt.now();
    assert!(now >= new);
    assert_duration(
        &env,
        now - start,
        new - start,
        ..LOOSE,
        "the shortened sleep (did the old deadline still hold?)",
    );
}

/// `Sleep::reset` to an instant that has passed makes a pending sleep ready at its next poll.
pub async fn reset_to_past_deadline_is_ready_at_next_poll(env: Env) {
    let rt = env.rt();
    let start = rt.now();
    let mut sleep = rt.sleep_until(start + Duration::from_secs(3600));
    assert!(poll_once(&mut sleep).await.is_none());
    rt.sleep(MS * 5).await;
    sleep.as_mut().reset(start);
    assert!(
        poll_once(&mut sleep).await.is_some(),
        "reset to a past instant, still pending"
    );
}

/// A sleep that has completed can be reset and awaited again (quinn reuses one timer this way):
/// it is pending until the new deadline, then ready.
pub async fn reset_after_completion_rearms(env: Env) {
    let rt = env.rt();
    let mut sleep = rt.sleep(MS * 5);
    (&mut sleep).await;
    sleep.as_mut().reset(rt.now() + Duration::from_secs(3600));
    assert!(
        poll_once(&mut sleep).await.is_none(),
        "a re-armed sleep was ready at once"
    );
    let rearmed = rt.now();
    sleep.as_mut().reset(rearmed + MS * 10);
    (&mut sleep).await;
    assert_duration(
        &env,
        rt.now() - rearmed,
        MS * 10,
        MS * 10..,
        "the re-armed sleep",
    );
}

/// `now()` never goes backwards — across sleeps, yields, and when read from another task — and
/// moves forward by at least the time slept.
pub async fn now_is_monotonic_across_sleeps(env: Env) {
    let rt = env.rt();
    let start = rt.now();
    let mut last = start;
    for i in 0..5_u32 {
        rt.sleep(MS * (i + 1)).await;
        let now = rt.now();
        assert!(now >= last, "now() went back after a sleep");
        last = now;
        yield_now().await;
        let now = rt.now();
        assert!(now >= last, "now() went back after a yield");
        last = now;
    }
    assert_duration(
        &env,
        last - start,
        MS * 15,
        MS * 15..,
        "sleeps of 1 to 5 ms",
    );
    let before = rt.now();
    let rt2 = rt.clone();
    let seen = within(
        rt,
        "a task reading now()",
        rt.spawn(async move { rt2.now() }),
    )
    .await
    .unwrap();
    assert!(seen >= before, "another task saw an earlier now()");
    assert!(rt.now() >= seen);
}

/// `sleep(Duration::MAX)` does not panic (no `Instant` overflow): its deadline saturates about
/// `FAR_FUTURE` away and it stays pending.
pub async fn max_duration_sleep_saturates_and_stays_pending(env: Env) {
    let rt = env.rt();
    let before = rt.now();
    let sleep = rt.sleep(Duration::MAX);
    let after = rt.now();
    let deadline = sleep.deadline();
    let slack = Duration::from_secs(1);
    assert!(
        deadline + slack >= before + FAR_FUTURE && deadline <= after + FAR_FUTURE + slack,
        "deadline {:?} away, expected about FAR_FUTURE ({FAR_FUTURE:?})",
        deadline.saturating_duration_since(before)
    );
    assert!(poll_times(sleep, 3).await.is_none());
    // Sleeping until a far instant is just as pending.
    assert!(
        poll_times(rt.sleep_until(after + FAR_FUTURE), 2)
            .await
            .is_none()
    );
    // Dropping those sleeps left nothing behind: time still behaves.
    let start = rt.now();
    rt.sleep(MS * 5).await;
    let elapsed = rt.now() - start;
    assert!(elapsed >= MS * 5 && elapsed < LOOSE);
}

/// A hundred tasks sleeping concurrently (with ten distinct deadlines) all wake, each at or after
/// its deadline.
pub async fn many_sleeping_tasks_all_wake(env: Env) {
    let rt = env.rt();
    let woken = Arc::new(AtomicUsize::new(0));
    let start = rt.now();
    let tasks: Vec<_> = (0..100_u32)
        .map(|i| {
            let (rt2, woken) = (rt.clone(), woken.clone());
            let deadline = start + MS * (5 * (i % 10 + 1));
            rt.spawn(async move {
                rt2.sleep_until(deadline).await;
                woken.fetch_add(1, Ordering::SeqCst);
                rt2.now() >= deadline
            })
        })
        .collect();
    for task in tasks {
        assert!(
            within(rt, "a sleeping task", task).await.unwrap(),
            "woke early"
        );
    }
    assert_eq!(woken.load(Ordering::SeqCst), 100);
    assert_duration(&env, rt.now() - start, MS * 50, .., "the last deadline");
}

/// A sleep first polled by one task and then moved to another wakes the task that polls it last
/// (the timer keeps the latest waker, not the first).
pub async fn sleep_moved_to_another_task_wakes_it(env: Env) {
    assert_send_sync::<std::pin::Pin<Box<dyn Sleep>>>();
    let rt = env.rt();
    let mut sleep = rt.sleep(MS * 30);
    let deadline = sleep.deadline();
    let first = poll_once(&mut sleep).await;
    if env.is_virtual_time() {
        assert!(first.is_none());
    }
    let rt2 = rt.clone();
    let task = rt.spawn(async move {
        sleep.await;
        rt2.now()
    });
    let woke = within(rt, "the task awaiting the moved sleep", task)
        .await
        .unwrap();
    assert!(woke >= deadline);
    if env.is_virtual_time() {
        assert_eq!(woke, deadline);
    }
}

/// Dropping pending sleeps (some earlier, some later than a live one) neither fires nor delays
/// the live sleep.
pub async fn dropped_sleep_does_not_disturb_others(env: Env) {
    let rt = env.rt();
    let start = rt.now();
    for d in [MS * 5, MS * 100, Duration::from_secs(3600)] {
        let mut sleep = rt.sleep(d);
        let first = poll_once(&mut sleep).await;
        // On a real clock a loaded host may already be past 5 ms here; that is not the point.
        assert!(first.is_none() || !env.is_virtual_time());
    }
    let live = start + MS * 20;
    sleep_until_checked(rt, live).await;
    assert_duration(&env, rt.now() - start, live - start, .., "the live sleep");
}

async fn sleep_until_checked(rt: &Runtime, deadline: Instant) {
    rt.sleep_until(deadline).await;
    let now = rt.now();
    assert!(now >= deadline);
    assert!(now - deadline < LOOSE);
}
