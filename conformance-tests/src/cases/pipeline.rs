//! Cases: policies composed — the pipeline in decorator order, per-attempt vs overall timeouts,
//! cancellation, composition by hand, and the single-future extension methods.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_pipeline {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; pipeline:
            flaky_operation_succeeds_behind_the_full_stack,
            per_attempt_timeout_is_retried,
            overall_timeout_bounds_all_attempts,
            cancellation_stops_the_call_and_counts_as_no_failure,
            open_breaker_in_a_pipeline_fails_fast,
            retry_stats_count_operation_calls_apart_from_refusals,
            policies_compose_by_hand_without_double_wrapping,
            extension_methods_time_out_and_cancel_one_future,
            invalid_pipeline_configuration_is_a_typed_error,
        }
    };
}

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use uno_core::resilience::{
    Backoff, Bulkhead, CircuitBreaker, CircuitOpen, CircuitState, ConfigError, Pipeline,
    RateLimiter, ResilienceError, ResilienceExt, Retry, TimeoutPolicy,
};
use uno_core::rt::Runtime;
use uno_core::sync::{CancellationToken, Cancelled};

use crate::Env;
use crate::support::{assert_duration, poll_times, within};

const MS: Duration = Duration::from_millis(1);

fn retry(rt: &Runtime, attempts: u32, delay: Duration) -> Retry<&'static str> {
    Retry::builder(rt)
        .max_attempts(attempts)
        .backoff(Backoff::constant(delay))
        .build()
        .unwrap()
}

/// An operation that fails twice then succeeds gets through every policy at once.
pub async fn flaky_operation_succeeds_behind_the_full_stack(env: Env) {
    let token = CancellationToken::new();
    let pipeline = Pipeline::builder(env.rt())
        .cancellation(token.clone())
        .timeout(Duration::from_secs(30), "the whole call")
        .retry(
            Retry::builder(env.rt())
                .max_attempts(3)
                .backoff(Backoff::exponential(10 * MS, 2.0).max_delay(100 * MS))
                .build()
                .unwrap(),
        )
        .attempt_timeout(Duration::from_secs(5), "one attempt")
        .circuit_breaker(CircuitBreaker::builder(env.rt()).build().unwrap())
        .rate_limiter(
            RateLimiter::builder(env.rt(), 100, Duration::from_secs(1))
                .build()
                .unwrap(),
        )
        .bulkhead(
            Bulkhead::builder(env.rt(), 5)
                .max_queue(10)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let start = env.rt().now();
    let out = within(
        &env,
        "the pipeline",
        pipeline.run(|| {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move { if n <= 2 { Err("flaky") } else { Ok(n) } }
        }),
    )
    .await;
    assert_eq!(out, Ok(3));
    let took = env.rt().now() - start;
    assert_duration(
        &env,
        took,
        30 * MS,
        29 * MS..Duration::from_secs(5),
        "backoff 10 + 20 ms",
    );
    let retry = pipeline.retry().unwrap().stats();
    assert_eq!((retry.attempts, retry.retries, retry.successes), (3, 2, 1));
    let breaker = pipeline.circuit_breaker().unwrap().stats();
    assert_eq!(
        (breaker.state, breaker.failures, breaker.successes),
        (CircuitState::Closed, 2, 1)
    );
    assert_eq!(pipeline.rate_limiter().unwrap().stats().admitted, 3);
    let bulkhead = pipeline.bulkhead().unwrap().stats();
    assert_eq!((bulkhead.admitted, bulkhead.in_flight), (3, 0));
}

/// Each attempt gets its own time limit; timed-out attempts are retried and the final error says
/// so, with the per-attempt message.
pub async fn per_attempt_timeout_is_retried(env: Env) {
    let pipeline = Pipeline::builder(env.rt())
        .retry(retry(env.rt(), 3, Duration::ZERO))
        .attempt_timeout(20 * MS, "one attempt")
        .build()
        .unwrap();
    let rt = env.rt().clone();
    let start = rt.now();
    let err = within(
        &env,
        "the pipeline",
        pipeline.run(|| {
            let rt = rt.clone();
            async move {
                rt.sleep(Duration::from_secs(3600)).await;
                Ok::<(), &str>(())
            }
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.attempts(), Some(3));
    assert!(err.is_timeout());
    match &err {
        ResilienceError::RetriesExhausted { last, .. } => match &**last {
            ResilienceError::Timeout(elapsed) => assert_eq!(elapsed.message(), "one attempt"),
            other => panic!("last error {other:?}"),
        },
        other => panic!("unexpected {other:?}"),
    }
    let took = rt.now() - start;
    assert_duration(
        &env,
        took,
        60 * MS,
        59 * MS..Duration::from_secs(5),
        "three timed-out attempts of 20 ms",
    );
}

/// The overall timeout bounds every attempt and backoff together, with its own message.
pub async fn overall_timeout_bounds_all_attempts(env: Env) {
    let pipeline = Pipeline::builder(env.rt())
        .timeout(50 * MS, "the whole call")
        .retry(retry(env.rt(), 100, Duration::ZERO))
        .attempt_timeout(20 * MS, "one attempt")
        .build()
        .unwrap();
    let rt = env.rt().clone();
    let start = rt.now();
    let err = within(
        &env,
        "the pipeline",
        pipeline.run(|| {
            let rt = rt.clone();
            async move {
                rt.sleep(Duration::from_secs(3600)).await;
                Ok::<(), &str>(())
            }
        }),
    )
    .await
    .unwrap_err();
    match &err {
        ResilienceError::Timeout(elapsed) => assert_eq!(elapsed.message(), "the whole call"),
        other => panic!("unexpected {other:?}"),
    }
    let took = rt.now() - start;
    assert_duration(
        &env,
        took,
        50 * MS,
        49 * MS..Duration::from_secs(5),
        "the overall timeout",
    );
    if env.is_virtual_time() {
        // Attempts at 0, 20 and 40 ms; the third is cut short at 50.
        assert_eq!(pipeline.retry().unwrap().stats().attempts, 3);
    }
    assert_eq!(
        pipeline.retry().unwrap().stats().failures,
        0,
        "the call was cut short, not failed"
    );
}

/// Cancelling the token stops the call with `Cancelled`; no policy counts it as a failure and
/// every slot is released.
pub async fn cancellation_stops_the_call_and_counts_as_no_failure(env: Env) {
    let token = CancellationToken::new();
    let pipeline = Pipeline::builder(env.rt())
        .cancellation(token.clone())
        .retry(retry(env.rt(), 3, MS))
        .circuit_breaker(CircuitBreaker::builder(env.rt()).build().unwrap())
        .bulkhead(Bulkhead::builder(env.rt(), 1).build().unwrap())
        .build()
        .unwrap();
    let canceller = {
        let (rt, token) = (env.rt().clone(), token.clone());
        env.rt().spawn(async move {
            rt.sleep(10 * MS).await;
            token.cancel();
        })
    };
    let rt = env.rt().clone();
    let err = within(
        &env,
        "the cancelled pipeline",
        pipeline.run(|| {
            let rt = rt.clone();
            async move {
                rt.sleep(Duration::from_secs(3600)).await;
                Ok::<(), &str>(())
            }
        }),
    )
    .await
    .unwrap_err();
    canceller.await.unwrap();
    assert_eq!(err, ResilienceError::Cancelled);
    assert_eq!(pipeline.retry().unwrap().stats().failures, 0);
    let breaker = pipeline.circuit_breaker().unwrap().stats();
    assert_eq!((breaker.failures, breaker.ignored), (0, 1));
    assert_eq!(pipeline.bulkhead().unwrap().stats().in_flight, 0);
    // A cancelled token refuses later calls without running them.
    let mut called = false;
    let err = pipeline
        .run(|| {
            called = true;
            async { Ok::<(), &str>(()) }
        })
        .await
        .unwrap_err();
    assert!(err.is_cancelled() && !called);
}

/// Once the breaker opens, the pipeline fails fast (refusals are not retried by default).
pub async fn open_breaker_in_a_pipeline_fails_fast(env: Env) {
    let breaker = CircuitBreaker::builder(env.rt())
        .count_window(2)
        .minimum_calls(2)
        .failure_rate_threshold(1.0)
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(env.rt())
        .retry(retry(env.rt(), 5, MS))
        .circuit_breaker(breaker.clone())
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let err = within(
        &env,
        "the pipeline",
        pipeline.run(|| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>("down") }
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the breaker opened after two failures"
    );
    assert!(
        matches!(
            err,
            ResilienceError::CircuitOpen(CircuitOpen {
                retry_after: Some(_),
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(breaker.state(), CircuitState::Open);
}

/// `RetryStats::attempts` counts calls of the operation only; attempts that the breaker or the
/// bulkhead refused, or that timed out waiting for the limiter, are counted in `refused`; an
/// attempt dropped before it called the operation in neither.
pub async fn retry_stats_count_operation_calls_apart_from_refusals(env: Env) {
    let calls = AtomicU32::new(0);
    let failing = || {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>("down") }
    };
    // An open breaker: the first attempt fails and opens it, the retry is refused.
    let open_on_first_failure = CircuitBreaker::builder(env.rt())
        .count_window(1)
        .minimum_calls(1)
        .failure_rate_threshold(1.0)
        .open_duration(Duration::from_secs(3600))
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(env.rt())
        .retry(retry(env.rt(), 3, Duration::ZERO))
        .circuit_breaker(open_on_first_failure)
        .build()
        .unwrap();
    let err = within(&env, "the pipeline", pipeline.run(failing))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ResilienceError::CircuitOpen { .. }),
        "{err:?}"
    );
    let err = within(&env, "the pipeline", pipeline.run(failing))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ResilienceError::CircuitOpen { .. }),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stats = pipeline.retry().unwrap().stats();
    assert_eq!(
        (stats.calls, stats.attempts, stats.refused, stats.retries),
        (2, 1, 2, 1),
        "one call of the operation, two refused attempts"
    );

    // A full bulkhead, with refusals retried: every attempt is refused.
    let bulkhead = Bulkhead::builder(env.rt(), 1).max_queue(0).build().unwrap();
    let holder = bulkhead.try_acquire().unwrap();
    let retry_refusals = Retry::builder(env.rt())
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::ZERO))
        .retry_on_rejection(true)
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(env.rt())
        .retry(retry_refusals)
        .bulkhead(bulkhead)
        .build()
        .unwrap();
    let err = within(&env, "the pipeline", pipeline.run(failing))
        .await
        .unwrap_err();
    assert!(err.is_rejected() && err.attempts() == Some(3), "{err:?}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the operation was not called"
    );
    let stats = pipeline.retry().unwrap().stats();
    assert_eq!(
        (
            stats.attempts,
            stats.refused,
            stats.retries,
            stats.exhausted
        ),
        (0, 3, 2, 1)
    );
    drop(holder);
    within(&env, "the pipeline", pipeline.run(|| async { Ok(()) }))
        .await
        .unwrap();
    let stats = pipeline.retry().unwrap().stats();
    assert_eq!((stats.calls, stats.attempts, stats.refused), (2, 1, 3));

    // Per-attempt timeouts that expire while waiting for the limiter count as refused; a call
    // dropped while waiting counts in neither.
    let limiter = RateLimiter::builder(env.rt(), 1, Duration::from_secs(3600))
        .burst(1)
        .build()
        .unwrap();
    limiter.try_acquire().unwrap();
    let pipeline = Pipeline::builder(env.rt())
        .retry(retry(env.rt(), 2, Duration::ZERO))
        .attempt_timeout(10 * MS, "waiting for the limiter")
        .rate_limiter(limiter)
        .build()
        .unwrap();
    let err = within(&env, "the pipeline", pipeline.run(failing))
        .await
        .unwrap_err();
    assert!(err.is_timeout() && err.attempts() == Some(2), "{err:?}");
    assert!(poll_times(pipeline.run(failing), 2).await.is_none());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the operation was not called"
    );
    let stats = pipeline.retry().unwrap().stats();
    assert_eq!((stats.calls, stats.attempts, stats.refused), (2, 0, 2));
}

/// Policies nest by hand through `run_flat`: the error type stays `ResilienceError<E>`.
pub async fn policies_compose_by_hand_without_double_wrapping(env: Env) {
    let retry = retry(env.rt(), 3, MS);
    let bulkhead = Bulkhead::builder(env.rt(), 1).build().unwrap();
    let limit = TimeoutPolicy::builder(env.rt(), Duration::from_secs(1))
        .message("inner")
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let out: Result<u32, ResilienceError<&'static str>> = retry
        .run_flat(|| {
            let calls = calls.clone();
            let bulkhead = &bulkhead;
            let limit = &limit;
            async move {
                bulkhead
                    .run_flat(|| {
                        limit.run(|| async move {
                            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                            if n < 2 { Err("once") } else { Ok(n) }
                        })
                    })
                    .await
            }
        })
        .await;
    assert_eq!(out, Ok(2));
    assert_eq!(retry.stats().retries, 1);
}

/// `.timeout(..)` and `.cancellable(..)` on a single future.
pub async fn extension_methods_time_out_and_cancel_one_future(env: Env) {
    let rt = env.rt();
    let err = rt
        .sleep(Duration::from_secs(3600))
        .timeout(rt, 10 * MS, "one future")
        .await
        .unwrap_err();
    assert_eq!(err.message(), "one future");
    assert_eq!(async { 5 }.timeout(rt, 10 * MS, "ready").await, Ok(5));
    let token = CancellationToken::new();
    assert_eq!(async { 1 }.cancellable(&token).await, Ok(1));
    token.cancel();
    assert_eq!(
        rt.sleep(Duration::from_secs(3600))
            .cancellable(&token)
            .await,
        Err(Cancelled)
    );
}

/// A zero timeout is a typed error, in the pipeline and in the policy.
pub async fn invalid_pipeline_configuration_is_a_typed_error(env: Env) {
    let err = Pipeline::<()>::builder(env.rt())
        .attempt_timeout(Duration::ZERO, "never")
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::Zero { .. }));
    assert!(
        Pipeline::<()>::builder(env.rt())
            .timeout(Duration::ZERO, "never")
            .build()
            .is_err()
    );
    assert!(
        TimeoutPolicy::builder(env.rt(), Duration::ZERO)
            .message("never")
            .build()
            .is_err()
    );
    assert!(Pipeline::<()>::builder(env.rt()).build().is_ok());
}
