//! uno's resilience policies as [tower] middleware: using uno with axum, tonic and hyper.
//!
//! Available with the `tower` feature (which adds `tower-service` and `tower-layer`, and no
//! executor). Each policy becomes a [`Layer`](tower_layer::Layer) with a named
//! [`Service`](tower_service::Service) and a named future — nothing is boxed per request — built
//! from the policy with `XLayer::new(policy)` or `policy.layer()`:
//!
//! | policy | layer | service | future |
//! |---|---|---|---|
//! | [`TimeoutPolicy`](crate::resilience::TimeoutPolicy) | [`TimeoutLayer`] | [`TimeoutService`] | [`TimeoutFuture`] |
//! | [`RateLimiter`](crate::resilience::RateLimiter), any [`RateLimit`](crate::resilience::RateLimit) | [`RateLimitLayer`] | [`RateLimitService`] | [`RateLimitFuture`] |
//! | [`KeyedRateLimiter`](crate::resilience::KeyedRateLimiter), any `RateLimit<K>` | [`KeyedRateLimitLayer`] ([`RateLimitLayer::keyed`]) | [`KeyedRateLimitService`] | [`KeyedRateLimitFuture`] |
//! | [`Bulkhead`](crate::resilience::Bulkhead) | [`BulkheadLayer`] | [`BulkheadService`] | [`BulkheadFuture`] |
//! | [`Retry`](crate::resilience::Retry) | [`RetryLayer`] | [`RetryService`] | [`RetryFuture`] |
//! | [`CircuitBreaker`](crate::resilience::CircuitBreaker) | [`CircuitBreakerLayer`] | [`CircuitBreakerService`] | [`CircuitBreakerFuture`] |
//! | [`Pipeline`](crate::resilience::Pipeline) | [`PipelineLayer`] | [`PipelineService`] | [`PipelineFuture`] |
//!
//! # State is shared
//!
//! A layer holds a policy handle, and every service it makes — one per connection in a hyper or
//! axum server — shares it: a `RateLimitLayer` of 100/s admits 100 calls a second across all
//! connections, a `BulkheadLayer` of 8 keeps 8 calls in flight in the whole process.
//!
//! # Backpressure through readiness
//!
//! The bulkhead and the (unkeyed) rate limit take their admission in `poll_ready`: a slot, or a
//! rate-limit token, held by the service value and spent by the next `call`. A service not yet
//! admitted is `Pending` and is woken when capacity frees — in arrival order, within the
//! bulkhead's `max_queue` and `max_wait`, and on uno's timer for the limiter — so a server stops
//! reading requests it cannot serve. A clone starts without an admission; dropping a service
//! that holds one gives it back (a bulkhead slot; a rate-limit token, through
//! [`RateLimit::refund`](crate::resilience::RateLimit::refund), which the in-process limiters
//! honour), or leaves the queue (a limiter's wait).
//!
//! With `.shed()`, `poll_ready` never waits for capacity: a call made without it answers at once
//! with the typed refusal — [`ResilienceError::Rejected`] for the bulkhead,
//! [`ResilienceError::RateLimited`] (with [`RetryAfter`]) for the limiter — which an HTTP
//! server turns into 503 or 429 with a `Retry-After` header.
//!
//! # Errors
//!
//! Every service's error is [`ResilienceError<S::Error>`][ResilienceError], the inner service's
//! error being [`ResilienceError::Inner`]. axum wants infallible services, so the stack ends in
//! `HandleErrorLayer`, which maps the error to a response. A uno layer over another nests the
//! type (`ResilienceError<ResilienceError<E>>`); a handler matches the outer variants, then the
//! inner one.
//!
//! # Examples
//!
//! A `ServiceBuilder` stack: a timeout per call, a shedding limit of 100 calls a second and at
//! most 8 in flight (the same stack goes under an axum `Router` with `.layer(..)`, a tonic
//! `Server::builder().layer(..)`, or a hyper `service_fn` through `tower::ServiceBuilder`):
//!
//! ```
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use uno_core::resilience::{Bulkhead, RateLimiter, ResilienceError, RetryAfter, TimeoutPolicy};
//! use uno_core::rt::VirtualRuntime;
//!
//! # fn main() -> Result<(), uno_core::resilience::ConfigError> {
//! let vrt = VirtualRuntime::new(); // any adapter's Runtime: uno-tokio's under axum
//! let rt = vrt.handle();
//! let limiter = RateLimiter::builder(&rt, 100, Duration::from_secs(1)).name("api").build()?;
//! let bulkhead = Bulkhead::builder(&rt, 8).name("api").build()?;
//! let timeout = TimeoutPolicy::builder(&rt, Duration::from_secs(5)).message("handler").build()?;
//!
//! let service = ServiceBuilder::new()
//!     .layer(limiter.layer().shed())
//!     .layer(bulkhead.layer().shed())
//!     .layer(timeout.layer())
//!     .service(service_fn(|name: String| async move {
//!         Ok::<_, std::io::Error>(format!("hello, {name}"))
//!     }));
//!
//! vrt.block_on(async move {
//!     let reply = service.clone().oneshot("uno".to_string()).await;
//!     assert_eq!(reply.unwrap(), "hello, uno");
//!     // An error handler (axum's `HandleErrorLayer`) sees the typed refusal:
//!     let status = |err: &ResilienceError<ResilienceError<ResilienceError<std::io::Error>>>| {
//!         match err {
//!             ResilienceError::RateLimited(limited) => (429, Some(limited.retry_after)),
//!             ResilienceError::Inner(ResilienceError::Rejected(_)) => (503, None),
//!             ResilienceError::Inner(ResilienceError::Inner(e)) if e.is_timeout() => (504, None),
//!             _ => (500, None),
//!         }
//!     };
//!     let limited = RetryAfter::new("api", Duration::from_secs(1)).into();
//!     assert_eq!(status(&limited), (429, Some(Duration::from_secs(1))));
//! });
//! # Ok(())
//! # }
//! ```
//!
//! In axum, with `tower::BoxError` (the error type `HandleErrorLayer` hands over when layers
//! are boxed), downcast to the `ResilienceError` of the layer's position:
//!
//! ```
//! use std::time::Duration;
//! use uno_core::resilience::{ResilienceError, RetryAfter};
//!
//! /// 429 with `Retry-After` (whole seconds, rounded up) or 503, as axum's `HandleErrorLayer`
//! /// callback would answer.
//! fn to_status(err: &(dyn std::error::Error + 'static)) -> (u16, Option<u64>) {
//!     match err.downcast_ref::<ResilienceError<std::convert::Infallible>>() {
//!         Some(ResilienceError::RateLimited(RetryAfter { retry_after, .. })) => {
//!             let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
//!             (429, Some(secs))
//!         }
//!         Some(ResilienceError::Rejected(_)) => (503, None),
//!         _ => (500, None),
//!     }
//! }
//!
//! let limited: ResilienceError<std::convert::Infallible> =
//!     RetryAfter::new("api", Duration::from_millis(1500)).into();
//! assert_eq!(to_status(&limited), (429, Some(2)));
//! ```
//!
//! # Retry and circuit breaker: classifying responses
//!
//! An HTTP service answers most failures as values: a 503 is an `Ok(response)`. The retry and
//! breaker layers decide from the whole `Result` through a classifier,
//! `.classify(|outcome: Result<&Response, &Error>| -> Verdict)` (see
//! [`Verdict`](crate::resilience::Verdict) for how each layer reads a verdict): a 5xx is a
//! `Failure` (counted by the breaker, retried by the retry), a 429/503 with `Retry-After` a
//! `RetryAfter(delay)` (the retry waits that long — at most the policy's `max_retry_after`, 60 s
//! unless set, and within its `max_duration`; a longer one returns the response at once), a 404
//! `Ignored` (the breaker counts it neither way). Without a classifier, `Ok` succeeds and every
//! `Err` fails, as the policies' `run` does.
//!
//! - [`RetryLayer`] clones the request per attempt (`Req: Clone`: give it a cloneable
//!   description of the request — a `Uri`, method and `Bytes` body — and build the
//!   `http::Request` inside, which is not `Clone`), and waits for a clone of the inner service's
//!   readiness before each retry. Giving up returns the last response as it is, or
//!   `RetriesExhausted` with the last error.
//! - [`CircuitBreakerLayer`] asks the breaker in `poll_ready`: while it is open, the service is
//!   ready at once without polling the inner service's readiness (an open breaker takes no
//!   bulkhead slot or limiter token below it) and `call` answers
//!   [`ResilienceError::CircuitOpen`](crate::resilience::ResilienceError::CircuitOpen), with its
//!   `retry_after`, without calling the inner service.
//!
//! A uno layer over another nests the error: `ResilienceError<ResilienceError<E>>`.
//! [`ResilienceError::flatten`](crate::resilience::ResilienceError::flatten) removes one level
//! (put `.map_err(ResilienceError::flatten)` above the outer layer), so a handler matches one
//! level; [`retry_after`](crate::resilience::ResilienceError::retry_after) looks through
//! `RetriesExhausted`, so a 429's `Retry-After` is found after the retries gave up too.
//!
//! ```
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use uno_core::resilience::{Backoff, CircuitBreaker, ResilienceError, Retry, Verdict};
//! use uno_core::rt::VirtualRuntime;
//!
//! #[derive(Debug, Clone, PartialEq)]
//! struct Response { status: u16 }
//!
//! /// 5xx fails, 404 is ignored; for the breaker's view of its inner service.
//! fn http(outcome: Result<&Response, &std::io::ErrorKind>) -> Verdict {
//!     match outcome {
//!         Ok(r) if r.status >= 500 => Verdict::Failure,
//!         Ok(r) if r.status == 404 => Verdict::Ignored,
//!         Ok(_) => Verdict::Success,
//!         Err(_) => Verdict::Failure,
//!     }
//! }
//!
//! # fn main() -> Result<(), uno_core::resilience::ConfigError> {
//! let vrt = VirtualRuntime::new();
//! let rt = vrt.handle();
//! let breaker = CircuitBreaker::builder(&rt).name("quotes").build()?;
//! let retry = Retry::builder(&rt).backoff(Backoff::constant(Duration::from_millis(50))).build()?;
//! let service = ServiceBuilder::new()
//!     .map_err(ResilienceError::flatten)
//!     .layer(retry.layer().classify(
//!         |outcome: Result<&Response, &ResilienceError<std::io::ErrorKind>>| match outcome {
//!             Ok(r) if r.status >= 500 => Verdict::Failure,
//!             Err(e) if e.is_rejected() => Verdict::Permanent, // the breaker is open: do not insist
//!             Err(_) => Verdict::Failure,
//!             Ok(_) => Verdict::Success,
//!         },
//!     ))
//!     .layer(breaker.layer().classify(http))
//!     .service(service_fn(|status: u16| async move { Ok(Response { status }) }));
//! vrt.block_on(async move {
//!     let answer = service.clone().oneshot(503).await; // retried twice, then the last answer
//!     assert_eq!(answer.unwrap(), Response { status: 503 });
//!     assert_eq!(breaker.stats().failures, 3);
//!     let flat: Result<Response, ResilienceError<std::io::ErrorKind>> = service.oneshot(200).await;
//!     assert_eq!(flat.unwrap().status, 200);
//! });
//! # Ok(())
//! # }
//! ```
//!
//! # The whole pipeline as one layer
//!
//! [`PipelineLayer`] (`pipeline.layer()`) runs a [`Pipeline`](crate::resilience::Pipeline) —
//! cancellation, overall timeout, retry with budget, per-attempt timeout, breaker, rate limit,
//! bulkhead — as one middleware, in the pipeline's fixed order, with one error level
//! (`ResilienceError<S::Error>`, nothing to flatten) and `.classify(..)` as above. Its
//! `poll_ready` is the inner service's: admission is per attempt, inside the call's future, as
//! `Pipeline::run` does; for backpressure through readiness put a [`BulkheadLayer`] or
//! [`RateLimitLayer`] above it instead. A limit shared by many processes goes in with
//! [`PipelineBuilder::shared_rate_limiter`](crate::resilience::PipelineBuilder::shared_rate_limiter).
//!
//! [tower]: https://docs.rs/tower
//! [ResilienceError]: crate::resilience::ResilienceError
//! [`ResilienceError::Rejected`]: crate::resilience::ResilienceError::Rejected
//! [`ResilienceError::RateLimited`]: crate::resilience::ResilienceError::RateLimited
//! [`ResilienceError::Inner`]: crate::resilience::ResilienceError::Inner
//! [`RetryAfter`]: crate::resilience::RetryAfter

/// The plumbing two classified layers share — [`RetryLayer`] and [`PipelineLayer`], each a
/// policy in `$field` and a classifier: `Clone`, `Layer` (a service holding the inner service,
/// the policy and the classifier) and `Debug` for the layer, `Clone` and `Debug` for the service.
macro_rules! classified_layer {
    ($layer:ident, $service:ident, $field:ident) => {
        impl<E, C: Clone> Clone for $layer<E, C> {
            fn clone(&self) -> Self {
                $layer {
                    $field: self.$field.clone(),
                    classify: self.classify.clone(),
                }
            }
        }

        impl<S, E, C: Clone> tower_layer::Layer<S> for $layer<E, C> {
            type Service = $service<S, E, C>;

            fn layer(&self, inner: S) -> $service<S, E, C> {
                $service {
                    inner,
                    $field: self.$field.clone(),
                    classify: self.classify.clone(),
                }
            }
        }

        impl<E, C> std::fmt::Debug for $layer<E, C> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($layer))
                    .field(stringify!($field), &self.$field.name())
                    .finish_non_exhaustive()
            }
        }

        impl<S: Clone, E, C: Clone> Clone for $service<S, E, C> {
            fn clone(&self) -> Self {
                $service {
                    inner: self.inner.clone(),
                    $field: self.$field.clone(),
                    classify: self.classify.clone(),
                }
            }
        }

        impl<S: std::fmt::Debug, E, C> std::fmt::Debug for $service<S, E, C> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($service))
                    .field("inner", &self.inner)
                    .field(stringify!($field), &self.$field.name())
                    .finish_non_exhaustive()
            }
        }
    };
}

mod admitted;
mod bulkhead;
mod circuit_breaker;
mod pipeline;
mod rate_limit;
mod retry;
mod timeout;

pub use bulkhead::{BulkheadFuture, BulkheadLayer, BulkheadService};
pub use circuit_breaker::{CircuitBreakerFuture, CircuitBreakerLayer, CircuitBreakerService};
pub use pipeline::{PipelineFuture, PipelineLayer, PipelineService};
pub use rate_limit::{
    KeyedRateLimitFuture, KeyedRateLimitLayer, KeyedRateLimitService, RateLimitFuture,
    RateLimitLayer, RateLimitService,
};
pub use retry::{RetryFuture, RetryLayer, RetryService};
pub use timeout::{TimeoutFuture, TimeoutLayer, TimeoutService};
