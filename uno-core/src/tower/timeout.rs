//! [`TimeoutLayer`] and [`TimeoutService`]: a [`TimeoutPolicy`] as tower middleware.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tower_layer::Layer;
use tower_service::Service;

use crate::resilience::{HeldTimeout, ResilienceError, TimeoutPolicy, shared_limit};
use crate::time::Expiring;

/// Gives every call of a service at most the policy's duration: at expiry the inner call's future
/// is dropped and the call fails with [`ResilienceError::Timeout`], whose
/// [`Elapsed`](crate::time::Elapsed) carries the policy's message (and name, if it was given one).
///
/// The clock starts at `call`: the wait for readiness is not counted, including the admissions
/// that inner [`BulkheadLayer`](super::BulkheadLayer)s and [`RateLimitLayer`](super::RateLimitLayer)s
/// take in `poll_ready` (a keyed rate limit, which waits inside the call, is counted).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use uno_core::resilience::TimeoutPolicy;
/// use uno_core::tower::TimeoutLayer;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let policy = TimeoutPolicy::builder(&rt, Duration::from_secs(2))
///     .message("rendering the report")
///     .build()
///     .unwrap();
/// let sleeper = rt.clone();
/// let service = ServiceBuilder::new()
///     .layer(TimeoutLayer::new(policy))
///     .service(service_fn(move |secs: u64| {
///         let rt = sleeper.clone();
///         async move {
///             rt.sleep(Duration::from_secs(secs)).await;
///             Ok::<_, std::convert::Infallible>(secs)
///         }
///     }));
/// vrt.block_on(async move {
///     assert_eq!(service.clone().oneshot(1).await.unwrap(), 1);
///     let err = service.oneshot(60).await.unwrap_err();
///     assert!(err.is_timeout());
///     assert_eq!(err.to_string(), "rendering the report: timed out after 2s");
/// });
/// ```
#[derive(Clone)]
pub struct TimeoutLayer {
    policy: Arc<TimeoutPolicy>,
}

impl TimeoutLayer {
    /// A layer over `policy`, shared (not copied) by every service it makes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::TimeoutPolicy;
    /// use uno_core::tower::TimeoutLayer;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let policy = TimeoutPolicy::builder(&rt, Duration::from_secs(5)).build().unwrap();
    /// let layer = TimeoutLayer::new(policy);
    /// assert_eq!(layer.policy().duration(), Duration::from_secs(5));
    /// ```
    pub fn new(policy: TimeoutPolicy) -> Self {
        TimeoutLayer {
            policy: Arc::new(policy),
        }
    }

    /// The policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::TimeoutPolicy;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let policy = TimeoutPolicy::builder(&rt, Duration::from_secs(5)).name("api").build().unwrap();
    /// assert_eq!(policy.layer().policy().name(), "api");
    /// ```
    pub fn policy(&self) -> &TimeoutPolicy {
        &self.policy
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;

    fn layer(&self, inner: S) -> TimeoutService<S> {
        TimeoutService {
            inner,
            policy: self.policy.clone(),
        }
    }
}

impl fmt::Debug for TimeoutLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutLayer")
            .field("policy", &self.policy.name())
            .field("duration", &self.policy.duration())
            .finish()
    }
}

impl TimeoutPolicy {
    /// A tower [`TimeoutLayer`] with this policy. With the `tower` feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::ServiceBuilder;
    /// use uno_core::resilience::TimeoutPolicy;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let policy = TimeoutPolicy::builder(&rt, Duration::from_secs(5)).build().unwrap();
    /// let builder = ServiceBuilder::new().layer(policy.layer());
    /// # let _ = builder;
    /// ```
    pub fn layer(&self) -> TimeoutLayer {
        TimeoutLayer::new(self.clone())
    }
}

/// A service whose calls are bounded by a [`TimeoutPolicy`]; made by [`TimeoutLayer`].
///
/// # Errors
///
/// [`ResilienceError::Timeout`] at expiry; [`ResilienceError::Inner`] for the inner service's
/// errors (from `poll_ready` or the call).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{Layer, ServiceExt, service_fn};
/// use uno_core::resilience::{ResilienceError, TimeoutPolicy};
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let policy = TimeoutPolicy::builder(&rt, Duration::from_secs(1)).build().unwrap();
/// let service = policy.layer().layer(service_fn(|()| async { Err::<(), _>("refused") }));
/// let err = vrt.block_on(service.oneshot(())).unwrap_err();
/// assert_eq!(err, ResilienceError::Inner("refused"));
/// ```
#[derive(Clone)]
pub struct TimeoutService<S> {
    inner: S,
    policy: Arc<TimeoutPolicy>,
}

impl<S, Req> Service<Req> for TimeoutService<S>
where
    S: Service<Req>,
{
    type Response = S::Response;
    type Error = ResilienceError<S::Error>;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(ResilienceError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        TimeoutFuture {
            call: Expiring::new(self.inner.call(req), shared_limit(&self.policy)),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for TimeoutService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutService")
            .field("inner", &self.inner)
            .field("policy", &self.policy.name())
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`TimeoutService`] call. Allocation-free while the inner call is ready at
    /// its first poll; otherwise one sleep, allocated by the runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the inner call.
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub struct TimeoutFuture<F> {
        #[pin]
        call: Expiring<F, HeldTimeout<Arc<TimeoutPolicy>>>,
    }
}

impl<T, E, F> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(self.project().call.poll_expiring(cx)) {
            Ok(out) => out.map_err(ResilienceError::Inner),
            Err(elapsed) => Err(ResilienceError::Timeout(elapsed)),
        })
    }
}

impl<F> fmt::Debug for TimeoutFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutFuture").finish_non_exhaustive()
    }
}
