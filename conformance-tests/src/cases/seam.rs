//! Cases: the runtime seam itself — the `Runtime` handle, the blocking pool, and moving uno's
//! handles between tasks (and so, on multi-threaded backends, between threads).

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_seam {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; seam:
            runtime_clones_work_inside_spawned_tasks,
            spawn_blocking_returns_output,
            spawn_blocking_panic_is_a_value,
            spawn_blocking_does_not_stall_other_tasks,
            handles_move_between_tasks_and_keep_working,
            monotonic_clock_follows_the_timer,
        }
    };
}

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use uno_core::sync::{AsyncEvent, AsyncLock, AsyncSemaphore, CancellationToken};
use uno_core::task::yield_now;

use crate::Env;

/// A cloned `Runtime` spawns and sleeps from inside tasks, two levels deep.
pub async fn runtime_clones_work_inside_spawned_tasks(env: Env) {
    let rt = env.rt().clone();
    let outer: Vec<_> = (0..10u64)
        .map(|i| {
            let rt = rt.clone();
            env.rt().spawn(async move {
                let inner_rt = rt.clone();
                let inner = rt.spawn(async move {
                    inner_rt.sleep(Duration::from_millis(i)).await;
                    i * 2
                });
                inner.await.unwrap() + 1
            })
        })
        .collect();
    let mut total = 0;
    for task in outer {
        total += task.await.unwrap();
    }
    assert_eq!(total, (0..10).map(|i| i * 2 + 1).sum::<u64>());
}

/// `Runtime::spawn_blocking` runs a closure on the backend's blocking pool and returns its output.
pub async fn spawn_blocking_returns_output(env: Env) {
    let caller = std::thread::current().id();
    let (sum, thread) = env
        .rt()
        .spawn_blocking(move || ((1..=100u32).sum::<u32>(), std::thread::current().id()))
        .await
        .unwrap();
    assert_eq!(sum, 5050);
    assert_ne!(
        thread, caller,
        "blocking work must not run on the caller's thread"
    );
}

/// A panic in a blocking closure comes back as a panic `JoinError` with its message.
pub async fn spawn_blocking_panic_is_a_value(env: Env) {
    let result = env
        .rt()
        .spawn_blocking(|| -> u32 { panic!("blocking boom") })
        .await;
    assert_eq!(result.unwrap_err().panic_message(), Some("blocking boom"));
}

/// While a blocking closure runs, other tasks keep making progress.
pub async fn spawn_blocking_does_not_stall_other_tasks(env: Env) {
    let finished = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let blocking = {
        let (finished, release) = (finished.clone(), release.clone());
        env.rt().spawn_blocking(move || {
            // Holds its thread until the async side has shown progress (bounded, in case it never does).
            let start = std::time::Instant::now();
            while !release.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            finished.store(true, Ordering::SeqCst);
        })
    };
    let ticker = {
        let progress = progress.clone();
        env.rt().spawn(async move {
            for _ in 0..20 {
                progress.fetch_add(1, Ordering::SeqCst);
                yield_now().await;
            }
        })
    };
    ticker.await.unwrap();
    assert_eq!(progress.load(Ordering::SeqCst), 20);
    assert!(
        !finished.load(Ordering::SeqCst),
        "the ticker finished while the blocking closure still held its thread"
    );
    release.store(true, Ordering::SeqCst);
    blocking.await.unwrap();
    assert!(finished.load(Ordering::SeqCst));
}

/// Locks, semaphores, events and tokens moved into spawned tasks act on the same shared state.
pub async fn handles_move_between_tasks_and_keep_working(env: Env) {
    let lock = AsyncLock::new(0u32);
    let sem = AsyncSemaphore::new(1);
    let event = AsyncEvent::new();
    let token = CancellationToken::new();
    let task = {
        let (lock, sem, event, token) = (lock.clone(), sem.clone(), event.clone(), token.clone());
        env.rt().spawn(async move {
            let permit = sem.acquire_owned().await.unwrap();
            *lock.lock().await += 1;
            event.set();
            token.cancelled().await;
            drop(permit);
            *lock.lock().await += 1;
        })
    };
    event.wait().await;
    assert_eq!(*lock.lock().await, 1);
    assert!(sem.try_acquire().is_err(), "the task holds the only permit");
    token.cancel();
    task.await.unwrap();
    assert_eq!(*lock.lock().await, 2);
    assert_eq!(sem.available_permits(), 1);
}

/// A timer's [`MonotonicClock`](uno_core::time::MonotonicClock), if it lends one, advances with
/// its `now()`: never back on one thread, and by the same time across a sleep (to within a few
/// milliseconds: a calibrated counter may drift by parts per million, and the two clocks are not
/// read at the same instant). On virtual time there is none, so everything follows virtual time.
pub async fn monotonic_clock_follows_the_timer(env: Env) {
    let rt = env.rt();
    let Some(clock) = rt.timer().monotonic_clock() else {
        assert!(
            env.is_virtual_time(),
            "{}: a real backend lends a monotonic clock",
            env.backend()
        );
        return;
    };
    assert!(
        !env.is_virtual_time(),
        "virtual time must lend no machine clock"
    );
    let mut last = clock.now_nanos();
    for _ in 0..10_000 {
        let next = clock.now_nanos();
        assert!(next >= last, "the clock went back: {last} then {next}");
        last = next;
    }
    let t0 = rt.now();
    let m0 = clock.now_nanos();
    let t1 = rt.now();
    rt.sleep(Duration::from_millis(50)).await;
    let t2 = rt.now();
    let m1 = clock.now_nanos();
    let t3 = rt.now();
    let measured = Duration::from_nanos(m1 - m0);
    let slack = Duration::from_millis(5);
    assert!(
        measured + slack >= t2 - t1 && measured <= t3 - t0 + slack,
        "the clock measured {measured:?} where the timer measured {:?}..{:?}",
        t2 - t1,
        t3 - t0
    );
    // Readings are comparable across threads: one taken on another thread after this one is not
    // earlier by more than the cores' counter skew.
    let before = clock.now_nanos();
    let after = std::thread::spawn(move || clock.now_nanos())
        .join()
        .unwrap();
    assert!(
        after + 1_000_000 >= before,
        "another thread read {after}, after {before} here"
    );
}
