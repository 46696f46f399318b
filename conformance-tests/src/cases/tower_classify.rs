//! Cases: failure classification in the breaker and the retry, through their tower layers
//! (`uno_core::tower`), and the pipeline's per-call cancellation token.
//!
//! A 5xx answer (`Ok`) can be a failure and a 404 (`Err`) ignored; a Retry-After verdict waits
//! exactly its delay; half-open probes go through the service; state is shared by every clone;
//! a call's own token cancels that call only, at whichever await point it is; cancelling a call's
//! future leaks nothing; a panicking classifier wedges nothing.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_tower_classify {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; tower_classify:
            ok_classified_as_failure_opens_the_breaker,
            ignored_error_is_not_counted_by_the_breaker,
            open_breaker_answers_without_taking_the_inner_readiness,
            half_open_probes_go_through_the_service,
            retry_retries_a_classified_ok_and_returns_the_last_answer,
            retry_after_verdict_waits_exactly_its_delay,
            retry_after_above_the_cap_ends_the_call,
            state_is_shared_across_clones,
            per_call_token_cancels_only_its_call,
            per_call_token_cancels_at_every_await_point,
            dropping_the_service_future_at_every_await_point_leaks_nothing,
            panicking_classifier_wedges_nothing,
        }
    };
}

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::FutureExt;
use tower_layer::Layer;
use tower_service::Service;
use uno_core::Runtime;
use uno_core::resilience::{
    Backoff, Bulkhead, CircuitBreaker, CircuitState, Pipeline, RateLimiter, ResilienceError, Retry,
    RetryBudget, Verdict,
};
use uno_core::sync::CancellationToken;
use uno_core::tower::{CircuitBreakerLayer, RetryLayer};

use crate::Env;
use crate::support::{assert_duration, drop_after_polls, poll_times, within};

const MS: Duration = Duration::from_millis(1);

/// A service answering `answer(request)` after `delay` (none: at once), counting its calls and
/// its `poll_ready`s.
#[derive(Clone)]
pub(crate) struct Backend<F> {
    rt: Runtime,
    delay: Duration,
    answer: F,
    pub(crate) calls: Arc<AtomicU32>,
    pub(crate) readiness: Arc<AtomicU32>,
}

pub(crate) fn backend<F, Req, T, E>(rt: &Runtime, delay: Duration, answer: F) -> Backend<F>
where
    F: Fn(Req) -> Result<T, E> + Clone,
{
    Backend {
        rt: rt.clone(),
        delay,
        answer,
        calls: Arc::default(),
        readiness: Arc::default(),
    }
}

impl<F, Req, T, E> Service<Req> for Backend<F>
where
    F: Fn(Req) -> Result<T, E> + Clone + Send + 'static,
    Req: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    type Response = T;
    type Error = E;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.readiness.fetch_add(1, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let (rt, delay, answer) = (self.rt.clone(), self.delay, self.answer.clone());
        Box::pin(async move {
            if !delay.is_zero() {
                rt.sleep(delay).await;
            }
            answer(req)
        })
    }
}

/// `poll_ready` then `call`, as `tower::ServiceExt::oneshot` (without tower's util).
pub(crate) async fn oneshot<S: Service<R>, R>(
    service: &mut S,
    req: R,
) -> Result<S::Response, S::Error> {
    poll_fn(|cx| service.poll_ready(cx)).await?;
    service.call(req).await
}

/// An HTTP-ish classifier: 5xx fails (503 with its Retry-After), 404 is ignored, else success.
fn http(outcome: Result<&u16, &u16>) -> Verdict {
    match outcome {
        Ok(503) => Verdict::RetryAfter(200 * MS),
        Ok(status) if *status >= 500 => Verdict::Failure,
        Err(404) => Verdict::Ignored,
        Err(_) => Verdict::Failure,
        Ok(_) => Verdict::Success,
    }
}

fn breaker(env: &Env, window: u32) -> CircuitBreaker {
    CircuitBreaker::builder(env.rt())
        .count_window(window)
        .minimum_calls(window)
        .failure_rate_threshold(1.0)
        .open_duration(100 * MS)
        .half_open_probes(2)
        .build()
        .unwrap()
}

/// A breaker opened by one failure for 1 ms, and that millisecond waited: the next call is its
/// one half-open probe.
async fn half_open_with_one_probe(rt: &Runtime) -> CircuitBreaker {
    let breaker = CircuitBreaker::builder(rt)
        .count_window(1)
        .minimum_calls(1)
        .open_duration(MS)
        .half_open_probes(1)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    rt.sleep(MS).await;
    breaker
}

fn retry(env: &Env, attempts: u32) -> Retry<u16> {
    Retry::builder(env.rt())
        .max_attempts(attempts)
        .backoff(Backoff::constant(10 * MS))
        .build()
        .unwrap()
}

/// `Ok(500)` answers are failures for the breaker: two of them open it, and the inner service is
/// not called while it is open.
pub async fn ok_classified_as_failure_opens_the_breaker(env: Env) {
    let breaker = breaker(&env, 2);
    let inner = backend(env.rt(), Duration::ZERO, |status: u16| {
        Ok::<u16, u16>(status)
    });
    let calls = inner.calls.clone();
    let mut service = CircuitBreakerLayer::new(breaker.clone())
        .classify(http)
        .layer(inner);
    assert_eq!(oneshot(&mut service, 200).await, Ok(200));
    assert_eq!(oneshot(&mut service, 500).await, Ok(500));
    assert_eq!(breaker.state(), CircuitState::Closed, "1 failure in 2");
    assert_eq!(oneshot(&mut service, 502).await, Ok(502));
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "2 failures in the last 2"
    );
    let err = oneshot(&mut service, 200).await.unwrap_err();
    assert!(matches!(err, ResilienceError::CircuitOpen(_)), "{err:?}");
    assert_eq!(calls.load(Ordering::Relaxed), 3, "not called while open");
    let stats = breaker.stats();
    assert_eq!((stats.successes, stats.failures, stats.rejected), (1, 2, 1));
}

/// `Err(404)` is ignored: neither success nor failure, so it never opens the breaker, while a
/// classified `Err(500)` does.
pub async fn ignored_error_is_not_counted_by_the_breaker(env: Env) {
    let breaker = breaker(&env, 2);
    let inner = backend(env.rt(), Duration::ZERO, |status: u16| {
        Err::<u16, u16>(status)
    });
    let mut service = breaker.layer().classify(http).layer(inner);
    for _ in 0..5 {
        let err = oneshot(&mut service, 404).await.unwrap_err();
        assert_eq!(
            err,
            ResilienceError::Inner(404),
            "the error itself comes back"
        );
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    let stats = breaker.stats();
    assert_eq!((stats.successes, stats.failures, stats.ignored), (0, 0, 5));
    for _ in 0..2 {
        let _ = oneshot(&mut service, 500).await;
    }
    assert_eq!(breaker.state(), CircuitState::Open);
}

/// While the breaker is open, `poll_ready` is ready without polling the inner service, and `call`
/// answers the refusal (with its retry_after) without calling it.
pub async fn open_breaker_answers_without_taking_the_inner_readiness(env: Env) {
    let breaker = breaker(&env, 1);
    let inner = backend(env.rt(), Duration::ZERO, |status: u16| {
        Ok::<u16, u16>(status)
    });
    let (calls, readiness) = (inner.calls.clone(), inner.readiness.clone());
    let mut service = breaker.layer().classify(http).layer(inner);
    let _ = oneshot(&mut service, 500).await;
    assert_eq!(breaker.state(), CircuitState::Open);
    let polled = readiness.load(Ordering::Relaxed);
    for _ in 0..3 {
        let err = oneshot(&mut service, 200).await.unwrap_err();
        assert!(err.retry_after().is_some_and(|after| after <= 100 * MS));
    }
    assert_eq!(
        readiness.load(Ordering::Relaxed),
        polled,
        "inner readiness untouched"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

/// After the open duration, the half-open probes go through the service: failing probes reopen
/// the breaker, two good ones close it.
pub async fn half_open_probes_go_through_the_service(env: Env) {
    let breaker = breaker(&env, 1);
    let inner = backend(env.rt(), Duration::ZERO, |status: u16| {
        Ok::<u16, u16>(status)
    });
    let calls = inner.calls.clone();
    let mut service = breaker.layer().classify(http).layer(inner);
    let _ = oneshot(&mut service, 500).await;
    env.rt().sleep(100 * MS).await;
    assert_eq!(
        oneshot(&mut service, 500).await,
        Ok(500),
        "the first probe fails"
    );
    assert_eq!(
        breaker.state(),
        CircuitState::HalfOpen,
        "one probe of two reported"
    );
    assert_eq!(
        oneshot(&mut service, 503).await,
        Ok(503),
        "so does the second"
    );
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "2 failures in 2 probes: reopened"
    );
    env.rt().sleep(100 * MS).await;
    assert_eq!(oneshot(&mut service, 200).await, Ok(200));
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    assert_eq!(oneshot(&mut service, 204).await, Ok(204));
    assert_eq!(breaker.state(), CircuitState::Closed, "two good probes");
    assert_eq!(calls.load(Ordering::Relaxed), 5);
    assert_eq!(breaker.stats().opened, 2);
}

/// The retry layer retries an `Ok(500)`, and when attempts run out returns the last answer as it
/// is (an `Ok`), counted as exhausted.
pub async fn retry_retries_a_classified_ok_and_returns_the_last_answer(env: Env) {
    let retry = retry(&env, 3);
    let answers = Arc::new(AtomicU32::new(0));
    let seen = answers.clone();
    let inner = backend(env.rt(), Duration::ZERO, move |()| {
        let n = seen.fetch_add(1, Ordering::Relaxed);
        Ok::<u16, u16>(if n < 2 { 500 } else { 200 })
    });
    let mut service = retry.layer().classify(http).layer(inner.clone());
    assert_eq!(
        oneshot(&mut service, ()).await,
        Ok(200),
        "two 500s, then 200"
    );
    let always = backend(env.rt(), Duration::ZERO, |()| Ok::<u16, u16>(500));
    let mut failing = retry.layer().classify(http).layer(always.clone());
    assert_eq!(oneshot(&mut failing, ()).await, Ok(500), "the last answer");
    assert_eq!(always.calls.load(Ordering::Relaxed), 3);
    let stats = retry.stats();
    assert_eq!((stats.calls, stats.attempts, stats.retries), (2, 6, 4));
    assert_eq!(
        (stats.successes, stats.failures, stats.exhausted),
        (1, 1, 1)
    );
    // Not classified: the error itself decides (retry_if holds for every error).
    let mut plain = retry
        .layer()
        .layer(backend(env.rt(), Duration::ZERO, |()| Err::<u16, u16>(503)));
    let err = oneshot(&mut plain, ()).await.unwrap_err();
    assert_eq!(err.attempts(), Some(3));
}

/// A 503 classified `RetryAfter(200 ms)` waits exactly 200 ms (not the 10 ms backoff) before
/// the next attempt.
pub async fn retry_after_verdict_waits_exactly_its_delay(env: Env) {
    let retry = retry(&env, 3);
    let answers = Arc::new(AtomicU32::new(0));
    let seen = answers.clone();
    let inner = backend(env.rt(), Duration::ZERO, move |()| {
        Ok::<u16, u16>(if seen.fetch_add(1, Ordering::Relaxed) == 0 {
            503
        } else {
            200
        })
    });
    let mut service = retry.layer().classify(http).layer(inner);
    let start = env.rt().now();
    assert_eq!(oneshot(&mut service, ()).await, Ok(200));
    let took = env.rt().now() - start;
    assert_duration(
        &env,
        took,
        200 * MS,
        200 * MS..10_000 * MS,
        "the Retry-After wait",
    );
    // The same through the core API.
    let start = env.rt().now();
    let mut first = true;
    let out = retry
        .run_classified(
            || {
                let status = if std::mem::replace(&mut first, false) {
                    503
                } else {
                    204
                };
                async move { Ok::<u16, u16>(status) }
            },
            http,
        )
        .await;
    assert_eq!(out, Ok(204));
    let took = env.rt().now() - start;
    assert_duration(
        &env,
        took,
        200 * MS,
        200 * MS..10_000 * MS,
        "run_classified's wait",
    );
}

/// A Retry-After above the policy's `max_retry_after` ends the call at once with the answer (an
/// `Ok`) or `RetriesExhausted` (an `Err`), rather than retrying early; within `max_duration` too.
pub async fn retry_after_above_the_cap_ends_the_call(env: Env) {
    let retry = Retry::<u16>::builder(env.rt())
        .max_retry_after(100 * MS)
        .build()
        .unwrap();
    let inner = backend(env.rt(), Duration::ZERO, |()| Ok::<u16, u16>(503));
    let mut service = retry.layer().classify(http).layer(inner.clone());
    let start = env.rt().now();
    assert_eq!(oneshot(&mut service, ()).await, Ok(503));
    assert_duration(
        &env,
        env.rt().now() - start,
        Duration::ZERO,
        ..1000 * MS,
        "no wait",
    );
    assert_eq!(inner.calls.load(Ordering::Relaxed), 1);
    let after = |outcome: Result<&u16, &u16>| match outcome {
        Err(_) => Verdict::RetryAfter(Duration::from_secs(3600)),
        Ok(_) => Verdict::Success,
    };
    let failing = backend(env.rt(), Duration::ZERO, |()| Err::<u16, u16>(429));
    let mut service = retry.layer().classify(after).layer(failing);
    let err = oneshot(&mut service, ()).await.unwrap_err();
    assert_eq!((err.attempts(), err.into_inner()), (Some(1), Some(429)));
    assert_eq!(retry.stats().exhausted, 2);
    // The default cap is 60 s.
    let default = Retry::<u16>::builder(env.rt()).build().unwrap();
    let mut service = default.layer().classify(after).layer(inner);
    assert!(oneshot(&mut service, ()).await.is_ok());
    assert_eq!(default.stats().retries, 0);
}

/// Every service from the layer, and every clone of a service, shares one breaker and one retry
/// budget: failures through different clones add up.
pub async fn state_is_shared_across_clones(env: Env) {
    let breaker = breaker(&env, 2);
    let layer = CircuitBreakerLayer::new(breaker.clone()).classify(http);
    let inner = backend(env.rt(), Duration::ZERO, |status: u16| {
        Ok::<u16, u16>(status)
    });
    let mut one = layer.layer(inner.clone());
    let mut two = layer.clone().layer(inner.clone());
    let mut three = one.clone();
    let _ = oneshot(&mut one, 500).await;
    let _ = oneshot(&mut two, 500).await;
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "two failures, two services"
    );
    assert!(oneshot(&mut three, 200).await.unwrap_err().is_rejected());

    let budget = RetryBudget::try_new(2, 0.1).unwrap();
    let retry = Retry::<u16>::builder(env.rt())
        .max_attempts(10)
        .backoff(Backoff::constant(MS))
        .budget(budget.clone())
        .build()
        .unwrap();
    let failing = backend(env.rt(), Duration::ZERO, |()| Err::<u16, u16>(500));
    let mut a = RetryLayer::new(retry.clone()).layer(failing.clone());
    let mut b = a.clone();
    let err = oneshot(&mut a, ()).await.unwrap_err();
    assert_eq!(err.attempts(), Some(3), "two retries from the budget");
    let err = oneshot(&mut b, ()).await.unwrap_err();
    assert_eq!(err.attempts(), Some(1), "the clone finds the budget empty");
    assert_eq!(budget.available(), 0);
    assert_eq!(retry.stats().budget_exhausted, 2);
}

/// Two calls of one pipeline, each with its own token: cancelling one stops it (as `Cancelled`,
/// counted by no policy as a failure) while the other completes.
pub async fn per_call_token_cancels_only_its_call(env: Env) {
    let pipeline = Pipeline::builder(env.rt())
        .retry(retry(&env, 3))
        .circuit_breaker(breaker(&env, 2))
        .bulkhead(Bulkhead::builder(env.rt(), 2).build().unwrap())
        .build()
        .unwrap();
    let (first, second) = (CancellationToken::new(), CancellationToken::new());
    let rt = env.rt().clone();
    let slow = || {
        let rt = rt.clone();
        async move {
            rt.sleep(50 * MS).await;
            Ok::<u16, u16>(200)
        }
    };
    let cancelled = pipeline.run_with(&first, slow);
    let completed = pipeline.run_with(&second, slow);
    let canceller = async {
        env.rt().sleep(10 * MS).await;
        first.cancel();
    };
    let (a, b, ()) = within(&env, "the two calls", async {
        let (a, (b, c)) =
            futures_lite::future::zip(cancelled, futures_lite::future::zip(completed, canceller))
                .await;
        (a, b, c)
    })
    .await;
    assert_eq!(a, Err(ResilienceError::Cancelled));
    assert_eq!(b, Ok(200));
    assert!(!second.is_cancelled());
    let breaker = pipeline.circuit_breaker().unwrap().stats();
    assert_eq!(
        (breaker.successes, breaker.failures, breaker.ignored),
        (1, 0, 1)
    );
    assert_eq!(pipeline.retry().unwrap().stats().failures, 0);
    assert_eq!(pipeline.bulkhead().unwrap().stats().in_flight, 0);
    // A token cancelled before the call: the operation is never called.
    let mut called = false;
    let out = pipeline
        .run_with(&first, || {
            called = true;
            async { Ok::<u16, u16>(200) }
        })
        .await;
    assert!(out.unwrap_err().is_cancelled() && !called);
    assert_eq!(pipeline.run_with(&second, slow).await, Ok(200));
}

/// A full pipeline (retry with a budget, breaker, limiter, one-slot bulkhead) whose call is
/// cancelled through its own token after every number of polls: waiting for the limiter, for the
/// slot, in the operation, in the backoff. Each time the call ends `Cancelled` (or completed
/// first), nothing is held and the next call goes through.
pub async fn per_call_token_cancels_at_every_await_point(env: Env) {
    let rt = env.rt();
    let budget = RetryBudget::try_new(5, 0.1).unwrap();
    let retry = Retry::<u16>::builder(rt)
        .max_attempts(3)
        .backoff(Backoff::constant(5 * MS))
        .budget(budget.clone())
        .build()
        .unwrap();
    let bulkhead = Bulkhead::builder(rt, 1).build().unwrap();
    let limiter = RateLimiter::builder(rt, 1000, Duration::from_secs(1))
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(rt)
        .retry(retry)
        .circuit_breaker(CircuitBreaker::builder(rt).build().unwrap())
        .rate_limiter(limiter)
        .bulkhead(bulkhead.clone())
        .build()
        .unwrap();
    for k in 0..12 {
        let token = CancellationToken::new();
        let mut attempt = 0;
        let call = pipeline.call().cancellation(&token).classify(http).run(|| {
            attempt += 1;
            let (rt, n) = (rt.clone(), attempt);
            async move {
                rt.sleep(2 * MS).await;
                Ok::<u16, u16>(if n < 3 { 500 } else { 200 })
            }
        });
        let mut call = pin!(call);
        let early = poll_times(call.as_mut(), k).await;
        token.cancel();
        let out = match early {
            Some(out) => out,
            None => within(&env, "the cancelled call", call).await,
        };
        assert!(
            out == Err(ResilienceError::Cancelled) || out == Ok(200),
            "cut after {k} polls: {out:?}"
        );
        assert_eq!(
            bulkhead.stats().in_flight,
            0,
            "cut after {k} polls: a slot is held"
        );
        let next = within(
            &env,
            "the next call",
            pipeline.run(|| async { Ok::<u16, u16>(1) }),
        )
        .await;
        assert_eq!(next, Ok(1), "cut after {k} polls");
    }
    let stats = pipeline.retry().unwrap().stats();
    assert_eq!(stats.failures, 0, "a cancellation is no failure");
    // Budget tokens went only to retries that called the operation: refilled by the successes.
    assert!(budget.available() >= 1);
}

/// The retry-over-breaker service stack, its call future dropped after every number of polls
/// (in an attempt, in the backoff, waiting for readiness): no budget token leaks, no probe slot
/// stays taken, and the next call goes through.
pub async fn dropping_the_service_future_at_every_await_point_leaks_nothing(env: Env) {
    let rt = env.rt();
    for k in 0..10 {
        let budget = RetryBudget::try_new(3, 0.1).unwrap();
        let retry = Retry::<ResilienceError<u16>>::builder(rt)
            .max_attempts(3)
            .backoff(Backoff::constant(5 * MS))
            .budget(budget.clone())
            .build()
            .unwrap();
        // Half-open with one probe slot: a probe whose call is dropped must give it back.
        let breaker = half_open_with_one_probe(rt).await;
        // The first answer fails (the probe reopens the breaker), the retry's backoff outlasts
        // the open duration, and the next probe succeeds.
        let answered = Arc::new(AtomicU32::new(0));
        let first = answered.clone();
        let inner = backend(rt, 3 * MS, move |status: u16| {
            Ok::<u16, u16>(if first.fetch_add(1, Ordering::Relaxed) == 0 {
                500
            } else {
                status
            })
        });
        let classify_inner = |outcome: Result<&u16, &ResilienceError<u16>>| match outcome {
            Ok(status) if *status >= 500 => Verdict::Failure,
            Ok(_) => Verdict::Success,
            Err(_) => Verdict::Failure,
        };
        let stack = RetryLayer::new(retry.clone())
            .classify(classify_inner)
            .layer(breaker.layer().classify(http).layer(inner));
        let mut service = stack.clone();
        let made = Cell::new(0);
        let out = drop_after_polls(oneshot(&mut service, 200), k, &made).await;
        drop(service);
        let context = format!("dropped after {k} polls ({out:?})");
        // Whatever was cut: the budget holds every token not spent on a call of the service.
        let stats = retry.stats();
        let spent = (stats.attempts - stats.calls) as u32;
        assert_eq!(budget.available(), 3 - spent, "{context}");
        if made.get() < k {
            assert_eq!(out, Some(Ok(200)), "{context}: completed");
        }
        let mut next = stack.clone();
        let answer = within(&env, "the next call", async {
            // The cut may have left the breaker open for its 1 ms.
            rt.sleep(MS).await;
            oneshot(&mut next, 200).await
        })
        .await;
        assert_eq!(answer, Ok(200), "{context}: the probe slot is free");
        assert_eq!(breaker.state(), CircuitState::Closed, "{context}");
    }
}

/// A classifier that panics: the panic reaches the caller; the breaker's probe slot is freed (the
/// call counts neither way), the retry leaks no budget token, and both policies work afterwards.
pub async fn panicking_classifier_wedges_nothing(env: Env) {
    let rt = env.rt();
    let breaker = half_open_with_one_probe(rt).await;
    let panicking = |_: Result<&u16, &u16>| -> Verdict { panic!("classifier") };
    let inner = backend(rt, Duration::ZERO, |status: u16| Ok::<u16, u16>(status));
    let mut service = breaker.layer().classify(panicking).layer(inner.clone());
    let out = AssertUnwindSafe(oneshot(&mut service, 200))
        .catch_unwind()
        .await;
    assert!(out.is_err(), "the panic reaches the caller");
    assert_eq!(breaker.stats().ignored, 1, "the probe counted neither way");
    let mut healthy = breaker.layer().classify(http).layer(inner.clone());
    assert_eq!(
        oneshot(&mut healthy, 200).await,
        Ok(200),
        "the probe slot is free"
    );
    assert_eq!(breaker.state(), CircuitState::Closed);
    // The core API: the same.
    breaker.try_acquire().unwrap().failure();
    rt.sleep(MS).await;
    let out = AssertUnwindSafe(breaker.run_classified(|| async { Ok::<u16, u16>(200) }, panicking))
        .catch_unwind()
        .await;
    assert!(out.is_err());
    assert!(breaker.try_acquire().is_ok(), "the probe slot is free");

    let budget = RetryBudget::try_new(2, 0.1).unwrap();
    let retry = Retry::<u16>::builder(rt)
        .backoff(Backoff::constant(MS))
        .budget(budget.clone())
        .build()
        .unwrap();
    let mut calls = 0;
    let panics_on_second = |outcome: Result<&u16, &u16>| match outcome {
        Ok(500) => Verdict::Failure,
        _ => panic!("classifier"),
    };
    let out = AssertUnwindSafe(retry.run_classified(
        || {
            calls += 1;
            let status = if calls == 1 { 500 } else { 200 };
            async move { Ok::<u16, u16>(status) }
        },
        panics_on_second,
    ))
    .catch_unwind()
    .await;
    assert!(out.is_err());
    assert_eq!(calls, 2);
    assert_eq!(
        budget.available(),
        1,
        "the token was spent on the second call, no more"
    );
    let mut service = retry.layer().classify(panicking).layer(inner);
    let out = AssertUnwindSafe(oneshot(&mut service, 200))
        .catch_unwind()
        .await;
    assert!(out.is_err());
    assert_eq!(budget.available(), 1, "a first attempt takes no token");
    let ok = within(
        &env,
        "a call after the panics",
        retry.run(|| async { Ok::<_, u16>(3) }),
    )
    .await;
    assert_eq!(ok, Ok(3));
}
