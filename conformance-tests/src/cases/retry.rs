//! Cases: the retry policy — backoff schedules, jitter, predicates, Retry-After, the budget, the
//! hook, the final error, and cancellation.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_retry {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; retry:
            constant_backoff_waits_the_same_delay,
            exponential_backoff_doubles_up_to_the_cap,
            jitter_stays_in_bounds_and_is_reproducible_with_a_seed,
            predicate_stops_on_a_non_transient_error,
            retry_after_from_the_error_overrides_the_backoff,
            budget_shared_by_clones_stops_a_retry_storm,
            hook_is_called_once_per_retry,
            final_error_carries_attempts_and_last_error,
            total_deadline_stops_retrying,
            cancellation_is_never_counted_as_a_failure,
            invalid_retry_configuration_is_a_typed_error,
            hand_driven_loop_over_mut_state_matches_run,
        }
    };
}

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uno_core::Runtime;
use uno_core::resilience::{
    Backoff, ConfigError, ResilienceError, Retry, RetryAttempts, RetryBudget, RetryStats,
};

use crate::Env;
use crate::support::{assert_duration, assert_send_sync, poll_times, within};

const MS: Duration = Duration::from_millis(1);

type Log<T> = Arc<Mutex<Vec<T>>>;

fn log<T>() -> Log<T> {
    Arc::new(Mutex::new(Vec::new()))
}

fn taken<T: Clone>(log: &Log<T>) -> Vec<T> {
    log.lock().unwrap().clone()
}

/// Runs an always-failing operation through `retry`, returning the instants of its attempts.
async fn attempt_times(env: &Env, retry: &Retry<u32>) -> (ResilienceError<u32>, Vec<Instant>) {
    let times = log();
    let rt = env.rt().clone();
    let err = within(
        env,
        "a retried call",
        retry.run(|| {
            let mut times = times.lock().unwrap();
            times.push(rt.now());
            let n = times.len() as u32;
            async move { Err::<(), _>(n) }
        }),
    )
    .await
    .unwrap_err();
    (err, taken(&times))
}

fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[track_caller]
fn assert_gaps(env: &Env, times: &[Instant], expected: &[Duration]) {
    let gaps = gaps(times);
    assert_eq!(gaps.len(), expected.len(), "attempts: {gaps:?}");
    for (i, (&gap, &want)) in gaps.iter().zip(expected).enumerate() {
        assert_duration(
            env,
            gap,
            want,
            want..want + Duration::from_secs(5),
            format_args!("the wait before retry {} (all waits: {gaps:?})", i + 1),
        );
    }
}

/// A constant backoff waits exactly its delay before every retry.
pub async fn constant_backoff_waits_the_same_delay(env: Env) {
    let retry = Retry::builder(env.rt())
        .max_attempts(4)
        .backoff(Backoff::constant(20 * MS))
        .build()
        .unwrap();
    let (err, times) = attempt_times(&env, &retry).await;
    assert_eq!(err.attempts(), Some(4));
    assert_gaps(&env, &times, &[20 * MS, 20 * MS, 20 * MS]);
}

/// Exponential backoff multiplies each delay by the factor and stops at `max_delay`.
pub async fn exponential_backoff_doubles_up_to_the_cap(env: Env) {
    let delays = log();
    let retry = {
        let delays = delays.clone();
        Retry::builder(env.rt())
            .max_attempts(5)
            .backoff(Backoff::exponential(10 * MS, 2.0).max_delay(30 * MS))
            .on_retry(move |_, _, delay| delays.lock().unwrap().push(delay))
            .build()
            .unwrap()
    };
    let (_, times) = attempt_times(&env, &retry).await;
    let expected = [10 * MS, 20 * MS, 30 * MS, 30 * MS];
    assert_eq!(
        taken(&delays),
        expected,
        "the schedule itself is exact everywhere"
    );
    assert_gaps(&env, &times, &expected);
}

/// Full and decorrelated jitter stay within their bounds, and the same seed gives the same delays
/// (also the ones `Backoff::delays` predicts).
pub async fn jitter_stays_in_bounds_and_is_reproducible_with_a_seed(env: Env) {
    let full = Backoff::exponential(4 * MS, 2.0)
        .max_delay(20 * MS)
        .full_jitter();
    let decorrelated = Backoff::decorrelated_jitter(2 * MS, 20 * MS);
    for backoff in [full, decorrelated] {
        let mut runs = Vec::new();
        for _ in 0..2 {
            let delays = log();
            let retry = {
                let delays = delays.clone();
                Retry::builder(env.rt())
                    .max_attempts(6)
                    .backoff(backoff)
                    .seed(42)
                    .on_retry(move |_, _, delay| delays.lock().unwrap().push(delay))
                    .build()
                    .unwrap()
            };
            attempt_times(&env, &retry).await;
            runs.push(taken(&delays));
        }
        assert_eq!(runs[0], runs[1], "same seed, same delays");
        assert_eq!(runs[0], backoff.delays(42).take(5).collect::<Vec<_>>());
        for (i, d) in runs[0].iter().enumerate() {
            assert!(*d <= 20 * MS, "delay {i} = {d:?} above the cap");
            if backoff == decorrelated {
                assert!(*d >= 2 * MS, "decorrelated delay {d:?} below the base");
            } else {
                let ceiling = (4 * MS * 2u32.pow(i as u32)).min(20 * MS);
                assert!(*d <= ceiling, "full-jitter delay {d:?} above {ceiling:?}");
            }
        }
        let other: Vec<_> = backoff.delays(43).take(5).collect();
        assert_ne!(runs[0], other, "another seed gives another schedule");
    }
}

/// An error the predicate calls permanent is returned at once, unwrapped, after one call.
pub async fn predicate_stops_on_a_non_transient_error(env: Env) {
    let retry = Retry::builder(env.rt())
        .max_attempts(5)
        .backoff(Backoff::constant(MS))
        .retry_if(|e: &&str| *e == "busy")
        .build()
        .unwrap();
    let mut calls = 0;
    let err = retry
        .run(|| {
            calls += 1;
            let e = if calls < 3 { "busy" } else { "forbidden" };
            async move { Err::<(), _>(e) }
        })
        .await
        .unwrap_err();
    assert_eq!(
        calls, 3,
        "two transient failures retried, the permanent one not"
    );
    assert_eq!(err, ResilienceError::Inner("forbidden"));
    let stats = retry.stats();
    assert_eq!((stats.attempts, stats.retries, stats.failures), (3, 2, 1));
}

/// `delay_from` takes the delay from the error (a Retry-After), not from the backoff.
pub async fn retry_after_from_the_error_overrides_the_backoff(env: Env) {
    let delays = log();
    let retry = {
        let delays = delays.clone();
        Retry::builder(env.rt())
            .max_attempts(3)
            .backoff(Backoff::constant(MS))
            .delay_from(|e: &u32| (*e == 1).then_some(Duration::from_millis(50)))
            .on_retry(move |_, _, delay| delays.lock().unwrap().push(delay))
            .build()
            .unwrap()
    };
    let (_, times) = attempt_times(&env, &retry).await;
    assert_eq!(
        taken(&delays),
        [50 * MS, MS],
        "first error says 50 ms, second says nothing"
    );
    assert_gaps(&env, &times, &[50 * MS, MS]);
}

/// A budget shared by clones allows its tokens of retries, then none until successes refill it.
pub async fn budget_shared_by_clones_stops_a_retry_storm(env: Env) {
    let budget = RetryBudget::try_new(2, 0.5).unwrap();
    let retry = Retry::builder(env.rt())
        .max_attempts(5)
        .backoff(Backoff::constant(Duration::ZERO))
        .budget(budget.clone())
        .build()
        .unwrap();
    let clone = retry.clone();
    let (err, times) = attempt_times(&env, &retry).await;
    assert_eq!(times.len(), 3, "two retries from the budget");
    assert_eq!(err.attempts(), Some(3));
    let (err, times) = attempt_times(&env, &clone).await;
    assert_eq!(times.len(), 1, "the clone shares the empty budget");
    assert_eq!(err.attempts(), Some(1));
    assert_eq!(retry.stats().budget_exhausted, 2);
    assert_eq!(budget.available(), 0);
    for _ in 0..2 {
        retry.run(|| async { Ok::<_, u32>(()) }).await.unwrap();
    }
    assert_eq!(budget.available(), 1, "two successes at 0.5 earn one retry");
}

/// The hook sees every retry: the attempt that failed, its error and the coming delay.
pub async fn hook_is_called_once_per_retry(env: Env) {
    let seen = log();
    let retry = {
        let seen = seen.clone();
        Retry::builder(env.rt())
            .max_attempts(4)
            .backoff(Backoff::constant(2 * MS))
            .on_retry(move |attempt, err: &ResilienceError<u32>, delay| {
                seen.lock()
                    .unwrap()
                    .push((attempt, err.inner().copied(), delay));
            })
            .build()
            .unwrap()
    };
    attempt_times(&env, &retry).await;
    assert_eq!(
        taken(&seen),
        [
            (1, Some(1), 2 * MS),
            (2, Some(2), 2 * MS),
            (3, Some(3), 2 * MS)
        ],
        "no hook call after the last attempt"
    );
}

/// Giving up yields `RetriesExhausted` with the attempt count and the last attempt's error.
pub async fn final_error_carries_attempts_and_last_error(env: Env) {
    let retry = Retry::builder(env.rt())
        .max_attempts(3)
        .backoff(Backoff::constant(MS))
        .build()
        .unwrap();
    let (err, _) = attempt_times(&env, &retry).await;
    assert_eq!(
        err,
        ResilienceError::RetriesExhausted {
            name: "retry".into(),
            attempts: 3,
            last: Box::new(ResilienceError::Inner(3)),
        }
    );
    assert_eq!(err.attempts(), Some(3));
    assert_eq!(err.inner(), Some(&3));
    assert!(err.to_string().contains("3 attempt"), "{err}");
    let stats = retry.stats();
    assert_eq!((stats.calls, stats.exhausted, stats.failures), (1, 1, 1));
}

/// `max_duration` stops retrying when the next retry would start past the deadline.
pub async fn total_deadline_stops_retrying(env: Env) {
    let retry = Retry::builder(env.rt())
        .max_attempts(100)
        .max_duration(Duration::from_millis(50))
        .backoff(Backoff::constant(20 * MS))
        .build()
        .unwrap();
    let (err, times) = attempt_times(&env, &retry).await;
    if env.is_virtual_time() {
        assert_eq!(
            times.len(),
            3,
            "attempts at 0, 20 and 40 ms; 60 ms is past the deadline"
        );
    } else {
        assert!((2..=3).contains(&times.len()), "{} attempts", times.len());
    }
    assert_eq!(err.attempts(), Some(times.len() as u32));
}

/// A cancelled attempt ends the call at once and is not a failure; nor is a dropped call.
pub async fn cancellation_is_never_counted_as_a_failure(env: Env) {
    let retry = Retry::<u32>::builder(env.rt())
        .max_attempts(5)
        .backoff(Backoff::constant(MS))
        .build()
        .unwrap();
    let mut calls = 0;
    let err = retry
        .run_flat(|| {
            calls += 1;
            async { Err::<(), _>(ResilienceError::Cancelled) }
        })
        .await
        .unwrap_err();
    assert_eq!(err, ResilienceError::Cancelled);
    assert_eq!(calls, 1, "a cancellation is not retried");
    // A call dropped in the middle of an attempt.
    let rt = env.rt().clone();
    let dropped = poll_times(
        retry.run(|| {
            let rt = rt.clone();
            async move {
                rt.sleep(Duration::from_secs(3600)).await;
                Err::<(), u32>(0)
            }
        }),
        3,
    )
    .await;
    assert!(dropped.is_none());
    let stats = retry.stats();
    assert_eq!(stats.failures, 0, "{stats:?}");
    assert_eq!(stats.cancelled, 1);
    assert_eq!(stats.retries, 0);
}

/// Zero attempts, a zero deadline, a bad factor, an inverted range and a bad budget are typed
/// errors at build time.
pub async fn invalid_retry_configuration_is_a_typed_error(env: Env) {
    let build = |b: uno_core::resilience::RetryBuilder<()>| b.build().unwrap_err();
    assert_eq!(
        build(Retry::builder(env.rt()).max_attempts(0)),
        ConfigError::Zero {
            what: "retry max_attempts"
        }
    );
    assert!(matches!(
        build(Retry::builder(env.rt()).max_duration(Duration::ZERO)),
        ConfigError::Zero { .. }
    ));
    for factor in [f64::NAN, 0.5, f64::INFINITY] {
        assert!(matches!(
            build(Retry::builder(env.rt()).backoff(Backoff::exponential(MS, factor))),
            ConfigError::InvalidFactor { .. }
        ));
    }
    assert_eq!(
        build(Retry::builder(env.rt()).backoff(Backoff::exponential(10 * MS, 2.0).max_delay(MS))),
        ConfigError::InvertedDelays {
            min: 10 * MS,
            max: MS
        }
    );
    assert!(matches!(
        build(Retry::builder(env.rt()).backoff(Backoff::decorrelated_jitter(10 * MS, MS))),
        ConfigError::InvertedDelays { .. }
    ));
    assert!(matches!(
        build(Retry::builder(env.rt()).backoff(Backoff::exponential(Duration::ZERO, 2.0))),
        ConfigError::Zero { .. }
    ));
    assert!(matches!(
        RetryBudget::try_new(0, 0.1),
        Err(ConfigError::Zero { .. })
    ));
    for ratio in [f64::NAN, 0.0, -1.0, f64::INFINITY] {
        assert!(matches!(
            RetryBudget::try_new(10, ratio),
            Err(ConfigError::InvalidRatio { .. })
        ));
    }
    let err = build(Retry::builder(env.rt()).max_attempts(0));
    assert!(!err.to_string().is_empty());
}

/// A policy with jitter, a predicate and a hook logging each delay: the same seed gives the same
/// schedule to `run` and to a hand-driven loop.
fn jittered(rt: &Runtime, delays: &Log<Duration>) -> Retry<u32> {
    let delays = delays.clone();
    Retry::builder(rt)
        .max_attempts(4)
        .backoff(
            Backoff::exponential(4 * MS, 2.0)
                .max_delay(20 * MS)
                .full_jitter(),
        )
        .seed(7)
        .retry_if(|e: &u32| *e != 0)
        .on_retry(move |_, _, delay| delays.lock().unwrap().push(delay))
        .build()
        .unwrap()
}

/// One attempt that borrows its state mutably across an `.await`: records its instant and fails
/// with its number, or with 0 (not retried) when it is attempt `stop`.
async fn record(rt: &Runtime, times: &mut Vec<Instant>, stop: Option<usize>) -> Result<(), u32> {
    times.push(rt.now());
    uno_core::task::yield_now().await;
    let n = times.len();
    Err(if Some(n) == stop { 0 } else { n as u32 })
}

/// A retry loop written by hand with `Retry::attempts` — each attempt borrowing a `&mut` state —
/// makes the same attempts, waits the same delays and ends with the same error and counters as
/// `run` over the same policy.
pub async fn hand_driven_loop_over_mut_state_matches_run(env: Env) {
    assert_send_sync::<RetryAttempts<'static, u32>>();
    // (the final error, the attempt instants, the delays the hook saw, the counters)
    type Outcome = (
        ResilienceError<u32>,
        Vec<Instant>,
        Vec<Duration>,
        RetryStats,
    );
    let rt = env.rt().clone();
    for stop in [None, Some(2)] {
        let by_run: Outcome = {
            let delays = log();
            let retry = jittered(env.rt(), &delays);
            let times = log();
            let err = within(
                &env,
                "a retried call",
                retry.run(|| {
                    let mut times = times.lock().unwrap();
                    times.push(rt.now());
                    let n = times.len();
                    async move { Err::<(), _>(if Some(n) == stop { 0 } else { n as u32 }) }
                }),
            )
            .await
            .unwrap_err();
            (err, taken(&times), taken(&delays), retry.stats())
        };
        let by_hand: Outcome = {
            let delays = log();
            let retry = jittered(env.rt(), &delays);
            let mut times = Vec::new();
            let hand = async {
                let mut attempts = retry.attempts();
                loop {
                    assert_eq!(attempts.attempt() as usize, times.len() + 1);
                    match record(&rt, &mut times, stop).await {
                        Ok(()) => {
                            attempts.succeeded();
                            return Ok(());
                        }
                        Err(e) => attempts = attempts.failed(ResilienceError::Inner(e)).await?,
                    }
                }
            };
            let err: ResilienceError<u32> =
                within(&env, "a hand-driven call", hand).await.unwrap_err();
            (err, times, taken(&delays), retry.stats())
        };
        let (run_err, run_times, run_delays, run_stats) = by_run;
        let (hand_err, hand_times, hand_delays, hand_stats) = by_hand;
        assert_eq!(hand_err, run_err, "the same final error (stop at {stop:?})");
        assert_eq!(hand_delays, run_delays, "the same backoff delays");
        assert_eq!(hand_stats, run_stats, "the same counters");
        assert_eq!(hand_times.len(), run_times.len(), "the same attempts");
        assert_gaps(&env, &hand_times, &hand_delays);
        match stop {
            None => assert_eq!(
                hand_err,
                ResilienceError::RetriesExhausted {
                    name: "retry".into(),
                    attempts: 4,
                    last: Box::new(ResilienceError::Inner(4)),
                }
            ),
            Some(_) => assert_eq!(hand_err, ResilienceError::Inner(0), "not retried"),
        }
    }
    // A success after a failure deposits, counts and ends the call as `run` does.
    let delays = log();
    let retry = jittered(env.rt(), &delays);
    let mut state = 0u32;
    let attempts = retry.attempts();
    state += 1;
    let attempts = within(
        &env,
        "a retry",
        attempts.failed(ResilienceError::Inner(state)),
    )
    .await
    .unwrap();
    assert_eq!(attempts.attempt(), 2);
    state += 1;
    attempts.succeeded();
    let stats = retry.stats();
    assert_eq!(state, 2);
    assert_eq!(
        (stats.calls, stats.attempts, stats.retries, stats.successes),
        (1, 2, 1, 1)
    );
    assert_eq!(stats.failures, 0);
}
