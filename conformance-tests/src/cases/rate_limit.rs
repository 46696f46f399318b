//! Cases: the rate limiter — burst, sustained rate, `try_acquire`, idle behaviour, FIFO order and
//! cancelled waiters.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_rate_limit {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; rate_limit:
            burst_goes_at_once_then_the_sustained_rate,
            try_acquire_says_when_to_try_again,
            idle_limiter_saves_no_more_than_its_burst,
            waiters_are_admitted_in_arrival_order,
            cancelled_waiter_consumes_nothing_and_stalls_nobody,
            clones_share_one_limit,
            try_run_refuses_without_calling_the_operation,
            invalid_rate_limiter_configuration_is_a_typed_error,
            long_period_admits_its_whole_burst,
            huge_clock_jumps_keep_the_limiter_exact,
        }
    };
}

use std::ops::Bound::{Excluded, Included};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uno_core::resilience::{ConfigError, RateLimiter, ResilienceError};
use uno_core::rt::{BoxFuture, Runtime, Spawner};
use uno_core::time::VirtualClock;

use crate::Env;
use crate::support::{assert_duration, eventually, poll_times, within};

const MS: Duration = Duration::from_millis(1);

#[track_caller]
fn assert_took(env: &Env, took: Duration, expected: Duration) {
    // A real clock may start the interval a little before our `start` was read.
    let early = expected.saturating_sub(2 * MS);
    assert_duration(
        env,
        took,
        expected,
        early..expected + Duration::from_secs(5),
        "the admissions",
    );
}

/// `burst` admissions go at once; later ones come one interval apart.
pub async fn burst_goes_at_once_then_the_sustained_rate(env: Env) {
    let limiter = RateLimiter::builder(env.rt(), 1, 20 * MS)
        .burst(3)
        .build()
        .unwrap();
    assert_eq!(limiter.interval(), 20 * MS);
    let rt = env.rt();
    let start = rt.now();
    for _ in 0..3 {
        within(&env, "a burst admission", limiter.acquire()).await;
    }
    assert_took(&env, rt.now() - start, Duration::ZERO);
    for _ in 0..2 {
        within(&env, "a paced admission", limiter.acquire()).await;
    }
    assert_took(&env, rt.now() - start, 40 * MS);
    let stats = limiter.stats();
    assert_eq!(stats.admitted, 5);
}

/// A refused `try_acquire` says how long until an admission; after that wait it succeeds.
pub async fn try_acquire_says_when_to_try_again(env: Env) {
    let limiter = RateLimiter::builder(env.rt(), 1, 50 * MS)
        .burst(1)
        .build()
        .unwrap();
    let rt = env.rt();
    limiter.try_acquire().unwrap();
    let refused = limiter.try_acquire().unwrap_err();
    assert_duration(
        &env,
        refused.retry_after,
        50 * MS,
        Duration::from_nanos(1)..=50 * MS,
        "the refusal's retry_after",
    );
    assert!(
        refused
            .to_string()
            .starts_with("rate limiter refused the call")
    );
    rt.sleep(refused.retry_after).await;
    limiter.try_acquire().unwrap();
    assert_eq!(limiter.stats().rejected, 1);
}

/// However long a limiter idles, it admits at most `burst` at once afterwards.
pub async fn idle_limiter_saves_no_more_than_its_burst(env: Env) {
    let limiter = RateLimiter::builder(env.rt(), 1, 10 * MS)
        .burst(2)
        .build()
        .unwrap();
    let rt = env.rt();
    limiter.try_acquire().unwrap();
    rt.sleep(Duration::from_millis(100)).await; // ten intervals
    let admitted = (0..5).filter(|_| limiter.try_acquire().is_ok()).count();
    assert_eq!(admitted, 2);
}

/// Queued waiters are admitted in the order they arrived, one interval apart.
pub async fn waiters_are_admitted_in_arrival_order(env: Env) {
    let limiter = RateLimiter::builder(env.rt(), 1, 10 * MS)
        .burst(1)
        .build()
        .unwrap();
    let rt = env.rt();
    limiter.try_acquire().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5usize {
        let (limiter2, order) = (limiter.clone(), order.clone());
        tasks.push(rt.spawn(async move {
            limiter2.acquire().await;
            order.lock().unwrap().push(i);
        }));
        // Each waiter is queued before the next one is spawned. (`waited` counts every waiter that
        // queued; `queued` alone can drop back as admissions start on a slow machine.)
        eventually(&env, "the waiter to queue", || {
            limiter.stats().waited as usize > i
        })
        .await;
    }
    for task in tasks {
        within(&env, "a queued waiter", task).await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(limiter.stats().waited, 5);
}

/// A waiter dropped at any point before admission consumes nothing, and the waiter behind it is
/// admitted when the first admission is due, not later.
pub async fn cancelled_waiter_consumes_nothing_and_stalls_nobody(env: Env) {
    for polls in 0..4 {
        let limiter = RateLimiter::builder(env.rt(), 1, 30 * MS)
            .burst(1)
            .build()
            .unwrap();
        let rt = env.rt();
        let start = rt.now();
        limiter.try_acquire().unwrap();
        let victim = limiter.acquire();
        let mut behind = std::pin::pin!(limiter.acquire());
        // The victim queues first (if polled at all), then the one behind it.
        let victim_out = poll_times(victim, polls).await;
        assert!(victim_out.is_none(), "admitted before its time");
        within(&env, "the waiter behind a dropped one", behind.as_mut()).await;
        assert_took(&env, rt.now() - start, 30 * MS);
        let stats = limiter.stats();
        assert_eq!(stats.admitted, 2, "polls={polls}: {stats:?}");
        assert_eq!(stats.queued, 0);
        let next = limiter.try_acquire().unwrap_err();
        assert_duration(
            &env,
            next.retry_after,
            30 * MS,
            ..,
            "the dropped waiter took no slot",
        );
    }
}

/// Clones share the limit.
pub async fn clones_share_one_limit(env: Env) {
    let limiter = RateLimiter::builder(env.rt(), 2, Duration::from_secs(1))
        .burst(2)
        .build()
        .unwrap();
    let clone = limiter.clone();
    limiter.try_acquire().unwrap();
    clone.try_acquire().unwrap();
    assert!(limiter.try_acquire().is_err());
    assert_eq!(clone.stats().admitted, 2);
}

/// `try_run` refuses with `RateLimited` and does not call the operation.
pub async fn try_run_refuses_without_calling_the_operation(env: Env) {
    let limiter = RateLimiter::builder(env.rt(), 1, Duration::from_secs(60))
        .build()
        .unwrap();
    let mut calls = 0;
    let mut op = || {
        calls += 1;
        async { Ok::<_, ()>(()) }
    };
    limiter.try_run(&mut op).await.unwrap();
    let err = limiter.try_run(&mut op).await.unwrap_err();
    assert!(matches!(err, ResilienceError::RateLimited { .. }));
    assert!(err.is_rejected());
    assert!(err.retry_after().unwrap() <= Duration::from_secs(60));
    assert_eq!(calls, 1);
}

/// Zero operations, period or burst, and an impossible rate, are typed errors.
pub async fn invalid_rate_limiter_configuration_is_a_typed_error(env: Env) {
    assert!(matches!(
        RateLimiter::builder(env.rt(), 0, Duration::from_secs(1)).build(),
        Err(ConfigError::Zero { .. })
    ));
    assert!(matches!(
        RateLimiter::builder(env.rt(), 1, Duration::ZERO).build(),
        Err(ConfigError::Zero { .. })
    ));
    assert!(matches!(
        RateLimiter::builder(env.rt(), 5, Duration::from_secs(1))
            .burst(0)
            .build(),
        Err(ConfigError::Zero { .. })
    ));
    assert!(matches!(
        RateLimiter::builder(env.rt(), 10, Duration::from_nanos(5)).build(),
        Err(ConfigError::RateTooHigh { .. })
    ));
}

/// A burst of a long period goes at once in full, whatever the period: 100 of one a year, three
/// of one per `Duration::MAX`; the next one is a whole interval away.
pub async fn long_period_admits_its_whole_burst(env: Env) {
    let year = Duration::from_secs(365 * 86_400);
    for (period, burst) in [(year, 100), (Duration::MAX, 3)] {
        let limiter = RateLimiter::builder(env.rt(), 1, period)
            .burst(burst)
            .build()
            .unwrap();
        let admitted = (0..2 * burst)
            .filter(|_| limiter.try_acquire().is_ok())
            .count();
        assert_eq!(
            admitted, burst as usize,
            "one per {period:?}, burst {burst}"
        );
        let wait = limiter.try_acquire().unwrap_err().retry_after;
        assert_duration(
            &env,
            wait,
            period,
            (Excluded(period - Duration::from_secs(60)), Included(period)),
            format_args!("the wait after a burst of {burst}, one per {period:?}"),
        );
    }
}

/// Spawns through the backend's runtime: for a runtime of our own with a hand-moved clock.
struct ViaBackend(Runtime);

impl Spawner for ViaBackend {
    fn spawn_boxed(&self, future: BoxFuture<()>) {
        self.0.spawner().spawn_boxed(future);
    }
}

/// A clock moved by centuries (here a `VirtualClock` moved by hand, on every backend) changes
/// nothing but the time: after each jump the limiter admits its burst, then one per interval,
/// says exactly when, and a waiting `acquire` is admitted when the clock gets there.
pub async fn huge_clock_jumps_keep_the_limiter_exact(env: Env) {
    let clock = VirtualClock::new();
    let rt = Runtime::new(ViaBackend(env.rt().clone()), clock.clone());
    let limiter = RateLimiter::builder(&rt, 10, Duration::from_secs(1))
        .burst(2)
        .build()
        .unwrap();
    for jump in 0..20 {
        if jump > 0 {
            clock.advance(Duration::MAX); // 30 years at a time, 570 in all
        }
        for _ in 0..2 {
            limiter.try_acquire().unwrap();
        }
        let refused = limiter.try_acquire().unwrap_err();
        assert_eq!(refused.retry_after, 100 * MS, "after {jump} jumps");
    }
    let mut waiter = std::pin::pin!(limiter.acquire());
    assert!(
        poll_times(waiter.as_mut(), 1).await.is_none(),
        "admitted early"
    );
    clock.advance(100 * MS);
    within(&env, "the waiter after the clock moved", waiter).await;
    assert_eq!(limiter.stats().queued, 0);
}
