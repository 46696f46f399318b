//! Cases: a whole `Pipeline` as one tower middleware (`uno_core::tower::PipelineLayer`), and a
//! pipeline over any `RateLimit` (`PipelineBuilder::shared_rate_limiter`).
//!
//! A classified 5xx is retried through the service; the per-attempt timeout is exact on virtual
//! time; the breaker opens through it and then answers without calling the service; refusals by
//! the bulkhead and the limiter are typed (`Rejected`, `RateLimited`, `Unavailable`); the builder's
//! token cancels a call in flight; dropping the call's future at any await point leaks nothing;
//! every clone shares the policies' state.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_tower_pipeline {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; tower_pipeline:
            classified_5xx_is_retried_through_the_service,
            per_attempt_timeout_is_exact,
            breaker_opens_through_the_service,
            bulkhead_refusal_is_typed,
            limiter_waits_its_turn_on_the_timer,
            builder_token_cancels_a_call_in_flight,
            dropping_the_call_at_every_await_point_leaks_nothing,
            state_is_shared_across_clones,
            custom_rate_limit_admits_and_refuses,
            unavailable_rate_limit_is_typed_and_not_retried,
        }
    };
}

use std::cell::Cell;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tower_layer::Layer;
use uno_core::Runtime;
use uno_core::resilience::{
    Backoff, Bulkhead, BulkheadRejected, CircuitBreaker, CircuitState, LimitError,
    LimitUnavailable, Pipeline, RateLimit, RateLimiter, ResilienceError, Retry, RetryAfter,
    RetryBudget, Verdict,
};
use uno_core::sync::CancellationToken;

use super::tower_classify::{backend, oneshot};
use crate::Env;
use crate::support::{assert_duration, drop_after_polls, within};

const MS: Duration = Duration::from_millis(1);

/// 5xx fails, everything else succeeds.
fn five_xx(outcome: Result<&u16, &u16>) -> Verdict {
    match outcome {
        Ok(status) if *status >= 500 => Verdict::Failure,
        Ok(_) => Verdict::Success,
        Err(_) => Verdict::Failure,
    }
}

/// Answers 500 to the first `failing` calls, then the request.
fn failing_first(failing: u32) -> impl Fn(u16) -> Result<u16, u16> + Clone + Send + 'static {
    let answered = Arc::new(AtomicU32::new(0));
    move |status| {
        Ok(if answered.fetch_add(1, Ordering::Relaxed) < failing {
            500
        } else {
            status
        })
    }
}

fn retry(rt: &Runtime, attempts: u32) -> Retry<u16> {
    Retry::builder(rt)
        .max_attempts(attempts)
        .backoff(Backoff::constant(10 * MS))
        .build()
        .unwrap()
}

/// A 500 (an `Ok`) classified as a failure is retried through the service, and the breaker
/// counts it.
pub async fn classified_5xx_is_retried_through_the_service(env: Env) {
    let rt = env.rt();
    let breaker = CircuitBreaker::builder(rt).build().unwrap();
    let pipeline = Pipeline::builder(rt)
        .retry(retry(rt, 3))
        .circuit_breaker(breaker.clone())
        .build()
        .unwrap();
    let inner = backend(rt, Duration::ZERO, failing_first(1));
    let calls = inner.calls.clone();
    let mut service = pipeline.layer().classify(five_xx).layer(inner);
    assert_eq!(oneshot(&mut service, 200).await, Ok(200));
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    let stats = breaker.stats();
    assert_eq!((stats.failures, stats.successes), (1, 1));
    assert_eq!(pipeline.retry().unwrap().stats().retries, 1);
    // Without a classifier, the 500 is an `Ok` and is returned as it is.
    let mut plain = pipeline
        .layer()
        .layer(backend(rt, Duration::ZERO, failing_first(1)));
    assert_eq!(oneshot(&mut plain, 200).await, Ok(500));
}

/// Each attempt has its own timeout, measured exactly on virtual time.
pub async fn per_attempt_timeout_is_exact(env: Env) {
    let rt = env.rt();
    let pipeline = Pipeline::builder(rt)
        .retry(
            Retry::builder(rt)
                .max_attempts(2)
                .backoff(Backoff::constant(Duration::ZERO))
                .build()
                .unwrap(),
        )
        .attempt_timeout(30 * MS, "one attempt")
        .build()
        .unwrap();
    let inner = backend(rt, 10_000 * MS, |status: u16| Ok::<u16, u16>(status));
    let calls = inner.calls.clone();
    let mut service = pipeline.layer().layer(inner);
    let start = rt.now();
    let err = oneshot(&mut service, 200).await.unwrap_err();
    let took = rt.now() - start;
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.attempts(), Some(2));
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert_duration(
        &env,
        took,
        60 * MS,
        60 * MS..5_000 * MS,
        "two timed-out attempts",
    );
}

/// Classified failures open the breaker through the service; then calls fail fast without
/// reaching it.
pub async fn breaker_opens_through_the_service(env: Env) {
    let rt = env.rt();
    let breaker = CircuitBreaker::builder(rt)
        .count_window(2)
        .minimum_calls(2)
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(rt)
        .circuit_breaker(breaker.clone())
        .build()
        .unwrap();
    let inner = backend(rt, Duration::ZERO, |_: u16| Ok::<u16, u16>(503));
    let calls = inner.calls.clone();
    let mut service = pipeline.layer().classify(five_xx).layer(inner);
    for _ in 0..2 {
        assert_eq!(oneshot(&mut service, 200).await, Ok(503));
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    let err = oneshot(&mut service, 200).await.unwrap_err();
    assert!(matches!(err, ResilienceError::CircuitOpen(_)), "{err:?}");
    assert_eq!(calls.load(Ordering::Relaxed), 2, "not called while open");
}

/// A full bulkhead refuses with the typed error, and the service is not called.
pub async fn bulkhead_refusal_is_typed(env: Env) {
    let rt = env.rt();
    let bulkhead = Bulkhead::builder(rt, 1).max_queue(0).build().unwrap();
    let pipeline = Pipeline::builder(rt)
        .bulkhead(bulkhead.clone())
        .build()
        .unwrap();
    let inner = backend(rt, Duration::ZERO, |s: u16| Ok::<u16, u16>(s));
    let calls = inner.calls.clone();
    let mut service = pipeline.layer().layer(inner);
    let held = bulkhead.try_acquire().unwrap();
    let err = oneshot(&mut service, 200).await.unwrap_err();
    assert!(
        matches!(
            err,
            ResilienceError::Rejected(BulkheadRejected::QueueFull { .. })
        ),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    drop(held);
    assert_eq!(oneshot(&mut service, 200).await, Ok(200));
    assert_eq!(bulkhead.stats().in_flight, 0);
}

/// The in-process limiter makes a call wait its turn, exactly, on the timer.
pub async fn limiter_waits_its_turn_on_the_timer(env: Env) {
    let rt = env.rt();
    let limiter = RateLimiter::builder(rt, 10, Duration::from_secs(1))
        .burst(1)
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(rt).rate_limiter(limiter).build().unwrap();
    let mut service = pipeline
        .layer()
        .layer(backend(rt, Duration::ZERO, |s: u16| Ok::<u16, u16>(s)));
    let start = rt.now();
    for _ in 0..3 {
        assert_eq!(oneshot(&mut service, 200).await, Ok(200));
    }
    let took = rt.now() - start;
    assert_duration(
        &env,
        took,
        200 * MS,
        200 * MS..5_000 * MS,
        "two waits of 100 ms",
    );
    assert_eq!(pipeline.rate_limiter().unwrap().stats().waited, 2);
}

/// The builder's token stops a call in flight with `Cancelled`.
pub async fn builder_token_cancels_a_call_in_flight(env: Env) {
    let rt = env.rt();
    let token = CancellationToken::new();
    let pipeline = Pipeline::builder(rt)
        .cancellation(token.clone())
        .build()
        .unwrap();
    let mut service = pipeline
        .layer()
        .layer(backend(rt, 10_000 * MS, |s: u16| Ok::<u16, u16>(s)));
    let canceller = {
        let rt = rt.clone();
        async move {
            rt.sleep(20 * MS).await;
            token.cancel();
        }
    };
    let call = oneshot(&mut service, 200);
    let (out, ()) = within(&env, "the cancelled call", async {
        futures_lite::future::zip(call, canceller).await
    })
    .await;
    assert_eq!(out, Err(ResilienceError::Cancelled));
}

/// Dropping the call's future after any number of polls (in the limiter's wait, the bulkhead's,
/// the service's call, the backoff) leaks nothing: no bulkhead slot, no budget token, no probe.
pub async fn dropping_the_call_at_every_await_point_leaks_nothing(env: Env) {
    let rt = env.rt();
    for k in 0..12 {
        let budget = RetryBudget::try_new(3, 0.1).unwrap();
        let retry = Retry::<u16>::builder(rt)
            .max_attempts(3)
            .backoff(Backoff::constant(5 * MS))
            .budget(budget.clone())
            .build()
            .unwrap();
        let bulkhead = Bulkhead::builder(rt, 1).build().unwrap();
        let limiter = RateLimiter::builder(rt, 100, Duration::from_secs(1))
            .burst(1)
            .build()
            .unwrap();
        let pipeline = Pipeline::builder(rt)
            .retry(retry.clone())
            .attempt_timeout(1_000 * MS, "one attempt")
            .timeout(5_000 * MS, "the call")
            .circuit_breaker(CircuitBreaker::builder(rt).build().unwrap())
            .rate_limiter(limiter)
            .bulkhead(bulkhead.clone())
            .build()
            .unwrap();
        let stack = pipeline
            .layer()
            .classify(five_xx)
            .layer(backend(rt, 3 * MS, failing_first(1)));
        let mut service = stack.clone();
        let made = Cell::new(0);
        let out = drop_after_polls(oneshot(&mut service, 200), k, &made).await;
        drop(service);
        let context = format!("dropped after {k} polls ({out:?})");
        if made.get() < k {
            assert_eq!(out, Some(Ok(200)), "{context}: completed");
        }
        assert_eq!(bulkhead.stats().in_flight, 0, "{context}: the slot is free");
        let stats = retry.stats();
        let spent = (stats.attempts - stats.calls) as u32;
        assert_eq!(budget.available(), 3 - spent, "{context}: no token leaked");
        let mut next = stack.clone();
        let answer = within(&env, "the next call", oneshot(&mut next, 200)).await;
        assert_eq!(answer, Ok(200), "{context}: the pipeline still works");
    }
}

/// Every clone of the layer's service shares one breaker, one bulkhead and one retry policy.
pub async fn state_is_shared_across_clones(env: Env) {
    let rt = env.rt();
    let breaker = CircuitBreaker::builder(rt)
        .count_window(2)
        .minimum_calls(2)
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(rt)
        .circuit_breaker(breaker.clone())
        .retry(retry(rt, 1))
        .build()
        .unwrap();
    let layer = pipeline.layer().classify(five_xx);
    let inner = backend(rt, Duration::ZERO, |_: u16| Ok::<u16, u16>(500));
    let mut first = layer.layer(inner.clone());
    let mut second = first.clone();
    let mut third = layer.clone().layer(inner);
    assert_eq!(oneshot(&mut first, 200).await, Ok(500));
    assert_eq!(oneshot(&mut second, 200).await, Ok(500));
    assert_eq!(breaker.state(), CircuitState::Open);
    let err = oneshot(&mut third, 200).await.unwrap_err();
    assert!(matches!(err, ResilienceError::CircuitOpen(_)), "{err:?}");
    assert_eq!(pipeline.retry().unwrap().stats().calls, 3);
}

/// A `RateLimit` of the test's own: admits while it has permits, then refuses (typed), or is
/// unavailable (its shared state cannot be asked).
#[derive(Clone)]
struct Quota {
    left: Arc<AtomicU32>,
    down: bool,
    asked: Arc<AtomicU32>,
}

impl Quota {
    fn new(left: u32, down: bool) -> Self {
        Quota {
            left: Arc::new(AtomicU32::new(left)),
            down,
            asked: Arc::default(),
        }
    }
}

impl RateLimit for Quota {
    type Acquire = Ready<Result<(), LimitError>>;
    type TryAcquire = Ready<Result<(), LimitError>>;

    fn name(&self) -> &str {
        "quota"
    }

    fn acquire(&self, (): ()) -> Self::Acquire {
        self.try_acquire(())
    }

    fn try_acquire(&self, (): ()) -> Self::TryAcquire {
        self.asked.fetch_add(1, Ordering::Relaxed);
        if self.down {
            return ready(Err(
                LimitUnavailable::new("quota", "connection refused").into()
            ));
        }
        let admitted = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        ready(if admitted {
            Ok(())
        } else {
            Err(RetryAfter::new("quota", Duration::from_secs(1)).into())
        })
    }
}

/// A pipeline over a custom `RateLimit`: admitted calls run, a refusal is `RateLimited` (not
/// counted by the breaker), through `Pipeline::run` and through the layer.
pub async fn custom_rate_limit_admits_and_refuses(env: Env) {
    let rt = env.rt();
    let quota = Quota::new(2, false);
    let breaker = CircuitBreaker::builder(rt).build().unwrap();
    let pipeline = Pipeline::builder(rt)
        .shared_rate_limiter(quota.clone())
        .circuit_breaker(breaker.clone())
        .build()
        .unwrap();
    assert_eq!(pipeline.rate_limit_name(), Some("quota"));
    assert!(
        pipeline.rate_limiter().is_none(),
        "not an in-process limiter"
    );
    assert_eq!(pipeline.run(|| async { Ok::<_, u16>(1) }).await, Ok(1));
    let inner = backend(rt, Duration::ZERO, |s: u16| Ok::<u16, u16>(s));
    let calls = inner.calls.clone();
    let mut service = pipeline.layer().layer(inner);
    assert_eq!(oneshot(&mut service, 200).await, Ok(200));
    let err = oneshot(&mut service, 200).await.unwrap_err();
    match &err {
        ResilienceError::RateLimited(refused) => {
            assert_eq!(refused.retry_after, Duration::from_secs(1));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    let err = pipeline
        .run(|| async { Ok::<_, u16>(1) })
        .await
        .unwrap_err();
    assert!(matches!(err, ResilienceError::RateLimited(_)), "{err:?}");
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(quota.asked.load(Ordering::Relaxed), 4);
    let stats = breaker.stats();
    assert_eq!(
        (stats.successes, stats.failures),
        (2, 0),
        "refusals not counted"
    );
}

/// An unavailable limit is `ResilienceError::Unavailable`, never retried, and the operation is
/// not called.
pub async fn unavailable_rate_limit_is_typed_and_not_retried(env: Env) {
    let rt = env.rt();
    let quota = Quota::new(10, true);
    let pipeline = Pipeline::builder(rt)
        .retry(
            Retry::builder(rt)
                .max_attempts(3)
                .retry_on_rejection(true)
                .build()
                .unwrap(),
        )
        .shared_rate_limiter(quota.clone())
        .build()
        .unwrap();
    let called = Cell::new(0);
    let err = pipeline
        .run(|| {
            called.set(called.get() + 1);
            async { Ok::<_, u16>(()) }
        })
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert_eq!(err.to_string(), "quota: rate limit unavailable");
    assert_eq!(called.get(), 0);
    let mut service = pipeline
        .layer()
        .layer(backend(rt, Duration::ZERO, |s: u16| Ok::<u16, u16>(s)));
    let err = oneshot(&mut service, 200).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert_eq!(
        quota.asked.load(Ordering::Relaxed),
        2,
        "asked once per call"
    );
}
