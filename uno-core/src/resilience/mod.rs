//! Resilience: Uno's decorators `@cancellable @retry @timeout_handler @rate_limited
//! @concurrent_limited`, plus a circuit breaker, as composable policies that run on any runtime.
//!
//! Each policy is a cheap-to-clone handle (clones share state: limiter tokens, breaker state,
//! retry budget), built by a builder that takes the [`Runtime`] first (`Retry::builder(&rt)`,
//! `Bulkhead::builder(&rt, 5)`: the policy reads time and sleeps on it from then on), can be
//! named (`.name("payments")`), and returns [`ConfigError`] for a configuration that cannot work.
//! A policy runs an operation — a closure returning a future, called again per retry — with
//! `policy.run(|| async { … })`:
//!
//! | Uno | uno-core |
//! |---|---|
//! | `@retry(max_attempts=3)` | [`Retry`], [`Backoff`], [`RetryBudget`] |
//! | `@timeout_handler(5.0, "msg")` | [`TimeoutPolicy`], [`ResilienceExt::timeout`] |
//! | `@rate_limited(10/s)` | [`RateLimiter`], [`KeyedRateLimiter`] (per key), any [`RateLimit`] |
//! | `@concurrent_limited(5)` | [`Bulkhead`] |
//! | `@cancellable` | [`Pipeline`]'s token, [`ResilienceExt::cancellable`] |
//! | circuit breaker | [`CircuitBreaker`] |
//! | the decorators stacked | [`Pipeline`] |
//!
//! Every policy returns one error type, [`ResilienceError<E>`], where `E` is the operation's own
//! error. Each also has a `run_flat` that takes an operation already returning
//! `Result<T, ResilienceError<E>>`, so policies nest without `ResilienceError<ResilienceError<E>>`.
//! Every policy has a `stats()` snapshot of its counters, a name (its errors say it:
//! `circuit breaker "payments" is open`), [metrics](#metrics) with the `metrics` feature and
//! [`tracing` events](#tracing) with the `tracing` feature. All time is read from the
//! [`Runtime`], so everything here runs on virtual time in tests.
//!
//! # Errors
//!
//! [`ResilienceError`] follows std's rule: an inner error is shown by `Display` or returned by
//! `source()`, never both. The operation's own error and each policy's refusal pass through
//! (their `Display`, their `source()`); [`ResilienceError::RetriesExhausted`] says only
//! `retry gave up after 3 attempts` and returns the last attempt's error as its `source()`. A
//! policy's name is quoted in its messages once it was given one.
//!
//! # Metrics
//!
//! With the `metrics` feature (see [`crate::observe`]), each policy registers these when it is
//! built, every one labelled with the policy's `name`:
//!
//! | Metric | Kind | Labels | Meaning |
//! |---|---|---|---|
//! | `uno_retry_attempts_total` | counter | `name` | calls of the operation made by a [`Retry`] (alone or in a [`Pipeline`]) |
//! | `uno_retry_retries_total` | counter | `name` | retries decided (attempts after the first) |
//! | `uno_retry_budget_exhausted_total` | counter | `name` | retries refused because the [`RetryBudget`] was empty |
//! | `uno_resilience_rejections_total` | counter | `name`, `reason` | calls refused without calling the operation: `reason` is `rate_limited` ([`RateLimiter::try_acquire`], [`KeyedRateLimiter::try_acquire`]), `bulkhead_full`, `bulkhead_timeout` ([`Bulkhead`]) or `circuit_open` ([`CircuitBreaker`]) |
//! | `uno_circuit_breaker_state` | gauge | `name` | the breaker's state: 0 closed, 1 half-open, 2 open |
//! | `uno_circuit_breaker_transitions_total` | counter | `name`, `from`, `to` | state changes; `from`/`to` are `closed`, `open`, `half_open` |
//! | `uno_rate_limiter_admissions_total` | counter | `name` | admissions, waiting or not ([`RateLimiter`], [`KeyedRateLimiter`] over all keys) |
//! | `uno_rate_limiter_waits_total` | counter | `name` | `acquire` calls that had to queue (keyed: to wait) |
//! | `uno_bulkhead_in_flight` | gauge | `name` | calls holding a slot |
//! | `uno_bulkhead_queued` | gauge | `name` | callers waiting for a slot |
//! | `uno_timeout_expired_total` | counter | `name` | operations given up by a [`TimeoutPolicy`] (a pipeline's own timeouts carry its name) |
//!
//! # Tracing
//!
//! With the `tracing` feature, the policies emit these (target `uno_core::resilience`; every one
//! has a `name` field, the policy's or the pipeline's):
//!
//! | Event / span | Level | Fields | When |
//! |---|---|---|---|
//! | span `uno_pipeline_call` | DEBUG | `name` | around each [`Pipeline::run`] / [`Pipeline::run_flat`] call |
//! | `pipeline attempt` | DEBUG | `name`, `attempt` (1 for the first) | each attempt of a pipeline call, inside its span |
//! | `retrying` | DEBUG | `name`, `attempt` (the one that failed), `delay` | a [`Retry`] decided to retry |
//! | `retry refused by the budget` | DEBUG | `name`, `attempt` | the [`RetryBudget`] was empty |
//! | `retries exhausted` | DEBUG | `name`, `attempts` | a [`Retry`] gave up |
//! | `circuit breaker opened` | WARN | `name`, `from`, `to` (`open`) | a breaker opened |
//! | `circuit breaker state change` | INFO | `name`, `from`, `to` (`half_open`, `closed`) | a breaker half-opened or closed |
//! | `call rejected` | DEBUG | `name`, `reason` (as the metric), `retry_after` when known | a limiter, bulkhead or breaker refused a call |
//! | `waiting for the rate limiter` | DEBUG | `name`, `queued` (not for a [`KeyedRateLimiter`], whose waiters do not queue) | an `acquire` queued (or, keyed, had to wait) |
//! | `timeout expired` | DEBUG | `name`, `limit`, `elapsed` | a [`TimeoutPolicy`] gave up an operation |
//!
//! # Panics in user code
//!
//! A policy runs the operation inside the caller's own future, so a panic in user code — the
//! operation closure, its future (in `poll`, or in `Drop` when the policy or the caller drops it),
//! a breaker listener, a retry predicate, Retry-After extractor or hook — propagates to the caller
//! unchanged: the policy's future panics with the same payload (inside a [`Task`], that is
//! a [`JoinError`] with that payload). It never wedges a policy nor leaks what the call
//! held. Before the panic leaves the policy:
//! - a bulkhead slot or queue place is released, a rate limiter's queue place is left (an
//!   admission already taken stays spent, as for a dropped call);
//! - a circuit breaker state change the call made is complete, and a half-open probe slot it held
//!   is freed (the call counts as neither success nor failure);
//! - a retry budget token taken for a retry that did not start goes back, and no further attempt
//!   is made.
//!
//! Each policy's "Panics" section says what it counts.
//!
//! # Examples
//!
//! A flaky operation behind the whole stack:
//!
//! ```
//! use std::time::Duration;
//! use uno_core::resilience::{
//!     Backoff, Bulkhead, CircuitBreaker, Pipeline, RateLimiter, ResilienceError, Retry,
//! };
//! use uno_core::rt::VirtualRuntime;
//! use uno_core::sync::CancellationToken;
//!
//! # fn main() -> Result<(), uno_core::resilience::ConfigError> {
//! let vrt = VirtualRuntime::new();
//! let rt = vrt.handle();
//! let pipeline = Pipeline::builder(&rt)
//!     .name("quotes")
//!     .cancellation(CancellationToken::new())
//!     .timeout(Duration::from_secs(30), "the whole call")
//!     .retry(Retry::builder(&rt)
//!         .max_attempts(3)
//!         .backoff(Backoff::exponential(Duration::from_millis(100), 2.0)
//!             .max_delay(Duration::from_secs(1)))
//!         .build()?)
//!     .attempt_timeout(Duration::from_secs(5), "one attempt")
//!     .circuit_breaker(CircuitBreaker::builder(&rt).name("quotes-api").build()?)
//!     .rate_limiter(RateLimiter::builder(&rt, 10, Duration::from_secs(1)).build()?)
//!     .bulkhead(Bulkhead::builder(&rt, 5).build()?)
//!     .build()?;
//! vrt.block_on(async move {
//!     let start = rt.now();
//!     let mut calls = 0;
//!     let answer = pipeline
//!         .run(|| {
//!             calls += 1;
//!             let n = calls;
//!             async move { if n <= 2 { Err("503") } else { Ok(42) } }
//!         })
//!         .await;
//!     assert_eq!(answer, Ok(42));
//!     assert_eq!(rt.now() - start, Duration::from_millis(300)); // backoff 100 + 200 ms
//!     assert_eq!(pipeline.retry().unwrap().stats().retries, 2);
//! });
//! # Ok(())
//! # }
//! ```
//!
//! [`Runtime`]: crate::rt::Runtime
//! [`RateLimiter::try_acquire`]: RateLimiter::try_acquire
//! [`KeyedRateLimiter::try_acquire`]: KeyedRateLimiter::try_acquire
//! [`Task`]: crate::task::Task
//! [`JoinError`]: crate::task::JoinError

mod bulkhead;
mod circuit_breaker;
mod error;
mod ext;
mod limit;
mod pipeline;
mod rate_limit;
mod retry;
mod timeout;

pub use bulkhead::{Bulkhead, BulkheadAcquire, BulkheadBuilder, BulkheadPermit, BulkheadStats};
pub use circuit_breaker::{
    BreakerPermit, CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerStats, CircuitState,
    StateChange,
};
pub use error::{BulkheadRejected, CircuitOpen, ConfigError, ResilienceError, RetryAfter};
pub use ext::ResilienceExt;
pub use limit::{LimitError, LimitUnavailable, LocalAcquire, RateLimit};
pub use pipeline::{Pipeline, PipelineBuilder};
pub use rate_limit::{
    KeyedAcquire, KeyedRateLimiter, KeyedRateLimiterBuilder, KeyedRateLimiterStats,
    RateLimitAcquire, RateLimitAcquireOwned, RateLimiter, RateLimiterBuilder, RateLimiterStats,
};
pub use retry::{
    Backoff, BackoffDelays, Retry, RetryAttempts, RetryBudget, RetryBuilder, RetryStats,
};
#[cfg(feature = "tower")]
pub(crate) use timeout::{Held as HeldTimeout, shared_limit};
pub use timeout::{TimeoutPolicy, TimeoutPolicyBuilder};

use crate::observe::{Description, Kind, Unit};

/// The counter of refusals by every policy, told apart by its `reason` label.
pub(crate) const REJECTIONS: &str = "uno_resilience_rejections_total";

/// The metrics this module reports (see [`crate::observe`] and "Metrics" above), for
/// `describe_metrics`.
pub(crate) const METRICS: &[Description] = &[
    counter(
        retry::ATTEMPTS,
        "Calls of the operation made by a retry policy.",
    ),
    counter(retry::RETRIES, "Retries decided by a retry policy."),
    counter(
        retry::BUDGET_EXHAUSTED,
        "Retries refused because the retry budget was empty.",
    ),
    counter(
        REJECTIONS,
        "Calls refused by a policy without calling the operation, by reason.",
    ),
    Description {
        name: circuit_breaker::STATE,
        kind: Kind::Gauge,
        unit: Unit::Count,
        help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
    },
    counter(
        circuit_breaker::TRANSITIONS,
        "Circuit breaker state changes, by from and to state.",
    ),
    counter(rate_limit::ADMISSIONS, "Admissions by a rate limiter."),
    counter(
        rate_limit::WAITS,
        "Rate limiter acquisitions that had to queue.",
    ),
    Description {
        name: bulkhead::IN_FLIGHT,
        kind: Kind::Gauge,
        unit: Unit::Count,
        help: "Calls holding a bulkhead slot.",
    },
    Description {
        name: bulkhead::QUEUED,
        kind: Kind::Gauge,
        unit: Unit::Count,
        help: "Callers waiting for a bulkhead slot.",
    },
    counter(timeout::EXPIRED, "Operations given up by a timeout policy."),
];

const fn counter(name: &'static str, help: &'static str) -> Description {
    Description {
        name,
        kind: Kind::Counter,
        unit: Unit::Count,
        help,
    }
}
