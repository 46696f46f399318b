//! [`CircuitBreakerLayer`] and [`CircuitBreakerService`]: a [`CircuitBreaker`] as tower
//! middleware, admitting in `poll_ready` and recording each response by its [`Verdict`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tower_layer::Layer;
use tower_service::Service;

use crate::resilience::{
    BreakerPermit, CircuitBreaker, CircuitOpen, Classify, DefaultClassify, ResilienceError,
};

/// Puts a [`CircuitBreaker`] in front of a service: while it is open, calls fail fast with
/// [`ResilienceError::CircuitOpen`] and the inner service is neither called nor asked for
/// readiness; half-open, a limited number of probe calls go through.
///
/// Every response is recorded by the classifier's [`Verdict`](crate::resilience::Verdict)
/// ([`classify`](Self::classify)); without one, an `Ok` is a success and an `Err` a failure.
/// State is shared by every clone of the layer and of its services (one breaker for all
/// connections).
///
/// **Readiness.** `poll_ready` first asks the breaker: admitted, the service holds the admission
/// (a [`BreakerPermit`]) and then waits for the inner service's readiness; refused, it is ready
/// at once *without polling the inner service*, and the next `call` answers the refusal. So an
/// open breaker neither consumes nor waits for the inner service's capacity (a bulkhead slot, a
/// limiter token below it), and a server keeps answering fast while the dependency is down. A
/// clone starts without an admission; a service dropped while holding one counts nothing and
/// frees its half-open probe slot.
///
/// # Examples
///
/// ```
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use uno_core::resilience::{CircuitBreaker, CircuitState, ResilienceError, Verdict};
/// use uno_core::tower::CircuitBreakerLayer;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let breaker = CircuitBreaker::builder(&rt).count_window(2).minimum_calls(2).build().unwrap();
/// let service = ServiceBuilder::new()
///     .layer(CircuitBreakerLayer::new(breaker.clone()).classify(
///         |outcome: Result<&u16, &std::io::Error>| match outcome {
///             Ok(status) if *status >= 500 => Verdict::Failure, // a 5xx answer is a failure
///             Ok(_) => Verdict::Success,
///             Err(_) => Verdict::Failure,
///         },
///     ))
///     .service(service_fn(|status: u16| async move { Ok(status) }));
/// vrt.block_on(async move {
///     assert_eq!(service.clone().oneshot(503).await.unwrap(), 503);
///     assert_eq!(service.clone().oneshot(500).await.unwrap(), 500);
///     assert_eq!(breaker.state(), CircuitState::Open);
///     let err = service.oneshot(200).await.unwrap_err();
///     assert!(matches!(err, ResilienceError::CircuitOpen(_))); // the inner service is not called
/// });
/// ```
#[derive(Clone)]
pub struct CircuitBreakerLayer<C = DefaultClassify> {
    breaker: CircuitBreaker,
    classify: C,
}

impl CircuitBreakerLayer {
    /// A layer over `breaker` (a handle: every service it makes shares its state).
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::ServiceBuilder;
    /// use uno_core::resilience::CircuitBreaker;
    /// use uno_core::tower::CircuitBreakerLayer;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).name("payments").build().unwrap();
    /// let builder = ServiceBuilder::new().layer(CircuitBreakerLayer::new(breaker));
    /// # let _ = builder;
    /// ```
    pub fn new(breaker: CircuitBreaker) -> Self {
        CircuitBreakerLayer {
            breaker,
            classify: DefaultClassify,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Records each response by `classify`'s verdict (any [`Classify`]: a closure
    /// `Fn(Result<&S::Response, &S::Error>) -> Verdict`, whose argument must be annotated, or a
    /// type of yours). Cloned into each call's future: keep it cheap to clone (a closure, or
    /// state behind an `Arc`).
    ///
    /// # Examples
    ///
    /// A 404 answered as an `Err` is not the dependency's fault: ignored, not counted.
    ///
    /// ```
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    /// use uno_core::resilience::{CircuitBreaker, Verdict};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).build().unwrap();
    /// let service = ServiceBuilder::new()
    ///     .layer(breaker.layer().classify(|outcome: Result<&(), &u16>| match outcome {
    ///         Err(404) => Verdict::Ignored,
    ///         Err(_) => Verdict::Failure,
    ///         Ok(()) => Verdict::Success,
    ///     }))
    ///     .service(service_fn(|()| async { Err::<(), u16>(404) }));
    /// vrt.block_on(async move {
    ///     assert!(service.oneshot(()).await.is_err());
    ///     assert_eq!((breaker.stats().failures, breaker.stats().ignored), (0, 1));
    /// });
    /// ```
    pub fn classify<C2>(self, classify: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify,
        }
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> CircuitBreakerService<S, C> {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
            admission: Admission::None,
        }
    }
}

impl<C> fmt::Debug for CircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker.name())
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// A tower [`CircuitBreakerLayer`] over this breaker (sharing its state). With the `tower`
    /// feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::ServiceBuilder;
    /// use uno_core::resilience::CircuitBreaker;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).build().unwrap();
    /// let builder = ServiceBuilder::new().layer(breaker.layer());
    /// # let _ = builder;
    /// ```
    pub fn layer(&self) -> CircuitBreakerLayer {
        CircuitBreakerLayer::new(self.clone())
    }
}

/// What `poll_ready` got from the breaker for the next call.
enum Admission {
    None,
    Admitted(BreakerPermit),
    Refused(CircuitOpen),
}

/// The service of a [`CircuitBreakerLayer`]: see the layer for its readiness and recording.
///
/// # Examples
///
/// ```
/// use tower::{Service, ServiceExt, service_fn};
/// use uno_core::resilience::CircuitBreaker;
/// use uno_core::tower::CircuitBreakerService;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let breaker = CircuitBreaker::builder(&rt).build().unwrap();
/// let mut service: CircuitBreakerService<_> =
///     tower::Layer::layer(&breaker.layer(), service_fn(|n: u8| async move { Ok::<_, ()>(n) }));
/// vrt.block_on(async move {
///     assert_eq!(service.ready().await.unwrap().call(7).await, Ok(7));
///     assert_eq!(breaker.stats().successes, 1);
/// });
/// ```
pub struct CircuitBreakerService<S, C = DefaultClassify> {
    inner: S,
    breaker: CircuitBreaker,
    classify: C,
    admission: Admission,
}

impl<S: Clone, C: Clone> Clone for CircuitBreakerService<S, C> {
    /// A clone shares the breaker, without the admission this one may hold.
    fn clone(&self) -> Self {
        CircuitBreakerService {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
            admission: Admission::None,
        }
    }
}

impl<S, C, Req> Service<Req> for CircuitBreakerService<S, C>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = ResilienceError<S::Error>;
    type Future = CircuitBreakerFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !matches!(self.admission, Admission::Admitted(_)) {
            match self.breaker.try_acquire() {
                Ok(permit) => self.admission = Admission::Admitted(permit),
                Err(open) => {
                    // Ready to answer the refusal: the inner service's readiness is not taken.
                    self.admission = Admission::Refused(open);
                    return Poll::Ready(Ok(()));
                }
            }
        }
        match ready!(self.inner.poll_ready(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(err) => {
                // The admission goes unreported: not counted, its probe slot freed.
                self.admission = Admission::None;
                Poll::Ready(Err(ResilienceError::Inner(err)))
            }
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match std::mem::replace(&mut self.admission, Admission::None) {
            Admission::Admitted(permit) => CircuitBreakerFuture {
                call: Some(self.inner.call(req)),
                permit: Some(permit),
                refused: None,
                classify: self.classify.clone(),
            },
            Admission::Refused(open) => CircuitBreakerFuture {
                call: None,
                permit: None,
                refused: Some(open),
                classify: self.classify.clone(),
            },
            Admission::None => {
                panic!("CircuitBreakerService::call without a successful poll_ready")
            }
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreakerService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let admission = match self.admission {
            Admission::None => "none",
            Admission::Admitted(_) => "admitted",
            Admission::Refused(_) => "refused",
        };
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker.name())
            .field("admission", &admission)
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`CircuitBreakerService`] call: the inner call with its admission, or the
    /// breaker's refusal answered at once.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the inner call; the outcome is not counted and a half-open probe slot
    /// it held is freed.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct CircuitBreakerFuture<F, C> {
        #[pin]
        call: Option<F>,
        permit: Option<BreakerPermit>,
        refused: Option<CircuitOpen>,
        classify: C,
    }
}

impl<F, C, T, E> Future for CircuitBreakerFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(open) = this.refused.take() {
            return Poll::Ready(Err(ResilienceError::CircuitOpen(open)));
        }
        let call = this
            .call
            .as_pin_mut()
            .expect("CircuitBreakerFuture polled after it completed");
        let out = ready!(call.poll(cx));
        // Judged while the permit is held: a panicking classifier drops it unreported.
        let verdict = this.classify.classify(out.as_ref());
        let out = out.map_err(ResilienceError::Inner);
        if let Some(permit) = this.permit.take() {
            permit.record_judged(&out, Some(verdict), None);
        }
        Poll::Ready(out)
    }
}

impl<F, C> fmt::Debug for CircuitBreakerFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerFuture")
            .field("refused", &self.refused.is_some())
            .finish_non_exhaustive()
    }
}
