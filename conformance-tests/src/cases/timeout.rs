//! Cases: [`timeout`] and [`timeout_at`] — the message and elapsed time of [`Elapsed`], and the
//! inner future dropped (cancelled) at expiry.
//!
//! [`timeout`]: uno_core::time::timeout
//! [`timeout_at`]: uno_core::time::timeout_at
//! [`Elapsed`]: uno_core::time::Elapsed

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_timeout {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; timeout:
            ready_future_is_ok_even_with_zero_duration,
            future_finishing_in_time_is_ok_without_waiting_for_deadline,
            expiry_gives_elapsed_with_message,
            inner_future_dropped_at_expiry,
            timeout_at_past_deadline_ready_future_is_ok,
            timeout_at_past_deadline_polls_pending_future_once,
            max_duration_never_fires,
            elapsed_display_includes_message,
            nested_inner_shorter_fires_first,
            nested_outer_shorter_fires_first,
            timeout_on_task_handle_cancels_task,
            timeout_on_borrowed_task_keeps_it_running,
            concurrent_timeouts_in_tasks,
            timeout_deadline_is_start_plus_duration,
            elapsed_carries_the_limit_and_shows_it,
        }
    };
}

use std::error::Error;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures_lite::future;
use uno_core::sync::AsyncEvent;
use uno_core::task::JoinError;
use uno_core::time::{Elapsed, FAR_FUTURE, timeout, timeout_at};

use crate::support::{DropProbe, assert_duration, within};
use crate::{Env, assert_send_sync, poll_times};

const MS: Duration = Duration::from_millis(1);

/// A loose upper bound for real clocks: only catches a timeout that hangs or fires far too late.
const LOOSE: Duration = Duration::from_secs(10);

/// A future that is ready at its first poll succeeds even with a zero duration: the inner future
/// is polled before the clock is checked.
pub async fn ready_future_is_ok_even_with_zero_duration(env: Env) {
    let rt = env.rt();
    assert_eq!(
        rt.timeout(Duration::ZERO, "instant", async { 5 }).await,
        Ok(5)
    );
    assert_eq!(
        timeout(rt, Duration::ZERO, "instant", future::ready("ready")).await,
        Ok("ready")
    );
    let past = rt.now();
    rt.sleep(MS * 2).await;
    assert_eq!(rt.timeout_at(past, "instant", async { 6 }).await, Ok(6));
}

/// A future that completes before the deadline returns `Ok` as soon as it completes; the timeout
/// adds no wait of its own.
pub async fn future_finishing_in_time_is_ok_without_waiting_for_deadline(env: Env) {
    let rt = env.rt();
    let start = rt.now();
    let out = rt
        .timeout(Duration::from_secs(5), "slow", async {
            rt.sleep(MS * 10).await;
            "on time"
        })
        .await;
    assert_eq!(out, Ok("on time"));
    let elapsed = rt.now() - start;
    assert_duration(
        &env,
        elapsed,
        MS * 10,
        MS * 10..Duration::from_secs(5),
        "the timed future (did it wait for the timeout's deadline?)",
    );
}

/// An expired timeout gives `Elapsed` with the exact message and an elapsed time of at least the
/// duration (exactly the duration on virtual time).
pub async fn expiry_gives_elapsed_with_message(env: Env) {
    let rt = env.rt();
    let d = MS * 20;
    let err = rt
        .timeout(d, "loading the profile", future::pending::<()>())
        .await
        .unwrap_err();
    assert_eq!(err.message(), "loading the profile");
    assert_duration(&env, err.elapsed(), d, d..LOOSE, "the elapsed time");
    // An owned message works the same way.
    let err = timeout(rt, MS * 5, format!("job {}", 12), future::pending::<()>())
        .await
        .unwrap_err();
    assert_eq!(err.message(), "job 12");
    assert!(err.elapsed() >= MS * 5);
}

/// At expiry the inner future is dropped before the error is returned: the drop flag is already
/// set while the `Timeout` itself is still alive.
pub async fn inner_future_dropped_at_expiry(env: Env) {
    let rt = env.rt();
    let probe = DropProbe::new();
    let resumed = Arc::new(AtomicBool::new(false));
    let inner = {
        let (guard, resumed) = (probe.guard(), resumed.clone());
        async move {
            let _guard = guard;
            future::pending::<()>().await;
            resumed.store(true, Ordering::SeqCst);
        }
    };
    // Pinned in place and awaited by reference, so the `Timeout` outlives the check below: the
    // flag proves the timeout dropped its future, not that the `Timeout` was dropped.
    let mut timed = pin!(rt.timeout(MS * 15, "inner", inner));
    assert!(!probe.is_dropped());
    let err = timed.as_mut().await.unwrap_err();
    assert!(probe.is_dropped(), "the inner future outlived its timeout");
    assert!(!resumed.load(Ordering::SeqCst));
    assert_eq!(err.message(), "inner");
    assert!(timed.deadline() <= rt.now());
}

/// `timeout_at` with a deadline that has passed still polls the inner future: one that is ready
/// gives `Ok`.
pub async fn timeout_at_past_deadline_ready_future_is_ok(env: Env) {
    let rt = env.rt();
    let past = rt.now();
    rt.sleep(MS * 10).await;
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = {
        let polls = polls.clone();
        future::poll_fn(move |_| {
            polls.fetch_add(1, Ordering::SeqCst);
            Poll::Ready(11)
        })
    };
    assert_eq!(timeout_at(rt, past, "late", counted).await, Ok(11));
    assert_eq!(polls.load(Ordering::SeqCst), 1);
}

/// `timeout_at` with a deadline that has passed polls a pending inner future exactly once, then
/// gives `Elapsed` with its message.
pub async fn timeout_at_past_deadline_polls_pending_future_once(env: Env) {
    let rt = env.rt();
    let past = rt.now();
    rt.sleep(MS * 10).await;
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = {
        let polls = polls.clone();
        future::poll_fn(move |_| {
            polls.fetch_add(1, Ordering::SeqCst);
            Poll::<()>::Pending
        })
    };
    let start = rt.now();
    let err = rt
        .timeout_at(past, "already late", counted)
        .await
        .unwrap_err();
    assert_eq!(
        polls.load(Ordering::SeqCst),
        1,
        "inner future polled more than once"
    );
    assert_eq!(err.message(), "already late");
    assert_duration(
        &env,
        rt.now() - start,
        Duration::ZERO,
        ..,
        "a past deadline made the timeout wait",
    );
    assert_duration(
        &env,
        err.elapsed(),
        Duration::ZERO,
        ..LOOSE,
        "the elapsed time",
    );
}

/// `Duration::MAX` does not overflow: the deadline saturates about `FAR_FUTURE` away, a pending
/// future stays pending, and a future that completes after a short sleep returns `Ok`.
pub async fn max_duration_never_fires(env: Env) {
    let rt = env.rt();
    let before = rt.now();
    let timed = rt.timeout(Duration::MAX, "never", future::pending::<()>());
    let deadline = timed.deadline();
    let slack = Duration::from_secs(1);
    assert!(deadline + slack >= before + FAR_FUTURE && deadline <= rt.now() + FAR_FUTURE + slack);
    assert!(poll_times(timed, 3).await.is_none());

    let out = rt
        .timeout(Duration::MAX, "never", async {
            rt.sleep(MS * 20).await;
            7
        })
        .await;
    assert_eq!(out, Ok(7));
}

/// `Elapsed` is a proper error: its `Display` includes the message and the limit, an
/// empty message still reads well, and it is `Send + Sync + 'static`.
pub async fn elapsed_display_includes_message(env: Env) {
    assert_send_sync::<Elapsed>();
    let rt = env.rt();
    let err = rt
        .timeout(MS * 10, "fetching user 7", future::pending::<()>())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("fetching user 7"), "{text:?}");
    assert!(text.contains("timed out"), "{text:?}");
    assert_eq!(text, "fetching user 7: timed out after 10ms");
    let boxed: Box<dyn Error + Send + Sync> = Box::new(err.clone());
    assert_eq!(boxed.to_string(), text);

    let unnamed = Elapsed::new(MS * 3);
    assert_eq!(unnamed.to_string(), "timed out after 3ms");
    let renamed = unnamed.with_message("renamed");
    assert_eq!(renamed.message(), "renamed");
    assert_eq!(renamed.elapsed(), MS * 3);
    assert_eq!(renamed.limit(), MS * 3);
    assert_eq!(renamed.to_string(), "renamed: timed out after 3ms");
    assert!(renamed.to_string().contains("renamed"));
}

/// Nested timeouts: when the inner one is shorter it fires first, with its own message, and the
/// outer one returns `Ok(Err(inner))`.
pub async fn nested_inner_shorter_fires_first(env: Env) {
    let rt = env.rt();
    let probe = DropProbe::new();
    let guard = probe.guard();
    let inner = rt.timeout(MS * 20, "inner", async move {
        let _guard = guard;
        future::pending::<u8>().await
    });
    let out = rt.timeout(Duration::from_secs(5), "outer", inner).await;
    let inner_err = out.expect("the outer timeout fired first").unwrap_err();
    assert_eq!(inner_err.message(), "inner");
    assert_duration(
        &env,
        inner_err.elapsed(),
        MS * 20,
        MS * 20..Duration::from_secs(5),
        "the inner timeout's elapsed time",
    );
    assert!(probe.is_dropped());
}

/// Nested timeouts: when the outer one is shorter it fires first, with its message, and drops
/// the inner timeout together with its future.
pub async fn nested_outer_shorter_fires_first(env: Env) {
    let rt = env.rt();
    let probe = DropProbe::new();
    let guard = probe.guard();
    let inner = rt.timeout(Duration::from_secs(5), "inner", async move {
        let _guard = guard;
        future::pending::<u8>().await
    });
    let err = rt.timeout(MS * 20, "outer", inner).await.unwrap_err();
    assert_eq!(err.message(), "outer");
    assert_duration(
        &env,
        err.elapsed(),
        MS * 20,
        MS * 20..Duration::from_secs(5),
        "the outer timeout's elapsed time",
    );
    assert!(probe.is_dropped());
}

/// A timeout around a task handle owns the handle: at expiry the handle is dropped, so the task
/// is cancelled and its side effect never happens.
pub async fn timeout_on_task_handle_cancels_task(env: Env) {
    let rt = env.rt();
    let probe = DropProbe::new();
    let ran = Arc::new(AtomicBool::new(false));
    let task = rt.spawn({
        let (guard, ran, rt2) = (probe.guard(), ran.clone(), rt.clone());
        async move {
            let _guard = guard;
            rt2.sleep(Duration::from_secs(30)).await;
            ran.store(true, Ordering::SeqCst);
        }
    });
    let err = rt.timeout(MS * 20, "slow task", task).await.unwrap_err();
    assert_eq!(err.message(), "slow task");
    probe.wait_dropped(rt).await;
    assert!(!ran.load(Ordering::SeqCst), "the timed-out task ran on");
}

/// A timeout around `&mut task` only stops the wait: the task keeps running and its output can
/// still be awaited through the handle.
pub async fn timeout_on_borrowed_task_keeps_it_running(env: Env) {
    let rt = env.rt();
    let go = AsyncEvent::new();
    let mut task = rt.spawn({
        let go = go.clone();
        async move {
            go.wait().await;
            9
        }
    });
    let err = rt.timeout(MS * 10, "peek", &mut task).await.unwrap_err();
    assert_eq!(err.message(), "peek");
    assert!(!task.is_finished());
    go.set();
    assert_eq!(
        within(rt, "the task after the timeout", task)
            .await
            .unwrap(),
        9
    );
}

/// Fifty timeouts in concurrent tasks each decide on their own: the fast half succeed, the slow
/// half expire with their own message, and every slow inner future is dropped.
pub async fn concurrent_timeouts_in_tasks(env: Env) {
    let rt = env.rt();
    let probes: Vec<DropProbe> = (0..50).map(|_| DropProbe::new()).collect();
    let tasks: Vec<_> = probes
        .iter()
        .enumerate()
        .map(|(i, probe)| {
            let (rt2, rt3, guard) = (rt.clone(), rt.clone(), probe.guard());
            rt.spawn(async move {
                if i % 2 == 0 {
                    rt2.timeout(Duration::from_secs(5), format!("fast {i}"), async move {
                        let _guard = guard;
                        rt3.sleep(MS * 10).await;
                        i
                    })
                    .await
                } else {
                    rt2.timeout(MS * 20, format!("slow {i}"), async move {
                        let _guard = guard;
                        future::pending::<usize>().await
                    })
                    .await
                }
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let out: Result<Result<usize, Elapsed>, JoinError> =
            within(rt, "a task with a timeout", task).await;
        match out.unwrap() {
            Ok(v) => assert!(i % 2 == 0 && v == i, "task {i} returned {v}"),
            Err(e) => {
                assert!(i % 2 == 1, "fast task {i} timed out");
                assert_eq!(e.message(), format!("slow {i}"));
                assert!(e.elapsed() >= MS * 20);
            }
        }
    }
    assert!(probes.iter().all(DropProbe::is_dropped));
}

/// A timeout's deadline is the instant it was created plus its duration; `timeout_at` keeps the
/// deadline it was given.
pub async fn timeout_deadline_is_start_plus_duration(env: Env) {
    let rt = env.rt();
    let d = MS * 25;
    let before = rt.now();
    let timed = rt.timeout(d, "deadline", future::pending::<()>());
    let after = rt.now();
    assert!(timed.deadline() >= before + d && timed.deadline() <= after + d);
    if env.is_virtual_time() {
        assert_eq!(timed.deadline(), before + d);
    }
    let deadline = timed.deadline();
    let err = timed.await.unwrap_err();
    assert!(rt.now() >= deadline);
    assert!(err.elapsed() >= d);

    let at = rt.now() + MS * 15;
    let timed = timeout_at(rt, at, "at", future::pending::<()>());
    assert_eq!(timed.deadline(), at);
    timed.await.unwrap_err();
    assert!(rt.now() >= at);
}

/// `Elapsed` carries the configured limit beside the time waited, and its `Display` shows the
/// limit after the message: the same on every backend, however late the executor was.
pub async fn elapsed_carries_the_limit_and_shows_it(env: Env) {
    let rt = env.rt();
    let err = rt
        .timeout(MS * 100, "fetching the quote", future::pending::<()>())
        .await
        .unwrap_err();
    assert_eq!(err.limit(), MS * 100);
    assert!(err.elapsed() >= err.limit(), "{err:?}");
    assert_eq!(err.to_string(), "fetching the quote: timed out after 100ms");
    assert!(err.source().is_none(), "Elapsed has no cause");
    // `timeout_at`: the limit is the time from the call to the deadline.
    // (On a real clock the call comes a little after `now()`: the limit is a little shorter.)
    let deadline = rt.now() + MS * 30;
    let err = timeout_at(rt, deadline, "", future::pending::<()>())
        .await
        .unwrap_err();
    assert_duration(&env, err.limit(), MS * 30, MS * 20..=MS * 30, "the limit");
    assert_eq!(
        err.to_string(),
        format!("timed out after {:?}", err.limit())
    );
}
