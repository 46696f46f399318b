//! Resilience: Uno's decorators `@cancellable @retry @timeout_handler @rate_limited
//! @concurrent_limited`, plus a circuit breaker, as composable policies that run on any runtime.
//!
//! Each policy is a cheap-to-clone handle (clones share state: limiter tokens, breaker state,
//! retry budget), built by a builder that returns [`ConfigError`] for a configuration that cannot
//! work, and runs an operation — a closure returning a future, called again per retry — with
//! `policy.run(&rt, || async { … })`:
//!
//! | Uno | uno-core |
//! |---|---|
//! | `@retry(max_attempts=3)` | [`Retry`], [`Backoff`], [`RetryBudget`] |
//! | `@timeout_handler(5.0, "msg")` | [`TimeoutPolicy`], [`ResilienceExt::timeout`] |
//! | `@rate_limited(10/s)` | [`RateLimiter`] |
//! | `@concurrent_limited(5)` | [`Bulkhead`] |
//! | `@cancellable` | [`Pipeline`]'s token, [`ResilienceExt::cancellable`] |
//! | circuit breaker | [`CircuitBreaker`] |
//! | the decorators stacked | [`Pipeline`] |
//!
//! Every policy returns one error type, [`ResilienceError<E>`], where `E` is the operation's own
//! error. Each also has a `run_flat` that takes an operation already returning
//! `Result<T, ResilienceError<E>>`, so policies nest without `ResilienceError<ResilienceError<E>>`.
//! Every policy has a `stats()` snapshot of its counters and, with the `tracing` feature, emits
//! `tracing` events (target `uno_core::resilience`). All time is read from the [`Runtime`], so
//! everything here runs on virtual time in tests.
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
//! let pipeline = Pipeline::builder(rt.clone())
//!     .cancellation(CancellationToken::new())
//!     .timeout(Duration::from_secs(30), "the whole call")
//!     .retry(Retry::builder()
//!         .max_attempts(3)
//!         .backoff(Backoff::exponential(Duration::from_millis(100), 2.0)
//!             .max_delay(Duration::from_secs(1)))
//!         .build()?)
//!     .attempt_timeout(Duration::from_secs(5), "one attempt")
//!     .circuit_breaker(CircuitBreaker::builder().build()?)
//!     .rate_limiter(RateLimiter::per_second(10).build()?)
//!     .bulkhead(Bulkhead::builder(5).build()?)
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
//! [`Task`]: crate::task::Task
//! [`JoinError`]: crate::task::JoinError

// `event!(..)`: a `tracing` event of the resilience policies. Defined before the modules below,
// so its textual scope covers all of them.
#[cfg(feature = "tracing")]
macro_rules! event {
    ($($arg:tt)*) => {
        ::tracing::debug!(target: "uno_core::resilience", $($arg)*)
    };
}

#[cfg(not(feature = "tracing"))]
macro_rules! event {
    ($($arg:tt)*) => {};
}

mod bulkhead;
mod circuit_breaker;
mod error;
mod ext;
mod pipeline;
mod rate_limit;
mod retry;
mod timeout;

pub use bulkhead::{Bulkhead, BulkheadBuilder, BulkheadPermit, BulkheadStats};
pub use circuit_breaker::{
    BreakerPermit, CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerStats, CircuitState,
    StateChange,
};
pub use error::{BulkheadRejected, CircuitOpen, ConfigError, ResilienceError, RetryAfter};
pub use ext::ResilienceExt;
pub use pipeline::{Pipeline, PipelineBuilder};
pub use rate_limit::{RateLimitAcquire, RateLimiter, RateLimiterBuilder, RateLimiterStats};
pub use retry::{
    Backoff, BackoffDelays, Retry, RetryAttempts, RetryBudget, RetryBuilder, RetryStats,
};
pub use timeout::TimeoutPolicy;

/// The metrics this module reports (see [`crate::observe`]), for `describe_metrics`.
pub(crate) const METRICS: &[crate::observe::Description] = &[];
