//! [`RetryLayer`] and [`RetryService`]: a [`Retry`] as tower middleware, each attempt a clone of
//! the request through a ready clone of the inner service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tower_service::Service;

use crate::resilience::{Classify, DefaultClassify, ResilienceError, Retry};
use crate::resilience::{OwnedAttempts, Step};
use crate::time::Sleep;

/// Retries calls of a service with a [`Retry`] policy: its attempts, backoff, total deadline,
/// budget, hook and counters, shared by every clone of the layer and of its services (one
/// [`RetryBudget`](crate::resilience::RetryBudget) for all connections).
///
/// - **Requests are cloned per attempt** (`Req: Clone`): the first attempt gets a clone, the
///   original is kept for the retries. `http::Request` is not `Clone`; put the layer on a
///   service taking a cloneable description of the request (method, URI, `Bytes` body) that
///   builds the `http::Request` inside, as a client would.
/// - **Each retry waits for readiness** of a clone of the inner service (tower's own retry does
///   the same), after the backoff.
/// - **What is retried** is decided by the [`Verdict`](crate::resilience::Verdict) of
///   [`classify`](Self::classify) on each response. Without a classifier, every `Err` for which
///   the policy's [`retry_if`](crate::resilience::RetryBuilder::retry_if) holds is retried, as
///   [`Retry::run`] does; a [`Verdict::RetryAfter`](crate::resilience::Verdict::RetryAfter)
///   (the response's `Retry-After`) waits that long instead of the backoff, at most the policy's
///   [`max_retry_after`](crate::resilience::RetryBuilder::max_retry_after) (60 s unless set) and
///   within its `max_duration`; a longer one returns the response at once.
/// - **Giving up** returns the last response (`Ok`) as it is, or
///   [`ResilienceError::RetriesExhausted`] with the last error.
///
/// The policy's `E` is the inner service's error: `Retry<S::Error>`, so `retry_if` and
/// `delay_from` see it (over another uno layer, `Retry<ResilienceError<E>>`).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use uno_core::resilience::{Backoff, Retry, Verdict};
/// use uno_core::tower::RetryLayer;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// struct Response { status: u16, retry_after: Option<Duration> }
/// let retry = Retry::builder(&rt).backoff(Backoff::constant(Duration::from_millis(10))).build().unwrap();
/// let calls = Arc::new(AtomicU32::new(0));
/// let seen = calls.clone();
/// let service = ServiceBuilder::new()
///     .layer(RetryLayer::new(retry).classify(|outcome: Result<&Response, &std::io::Error>| {
///         match outcome {
///             Ok(Response { status: 429 | 503, retry_after: Some(after) }) => Verdict::RetryAfter(*after),
///             Ok(r) if r.status >= 500 => Verdict::Failure,
///             Ok(_) => Verdict::Success,
///             Err(_) => Verdict::Failure,
///         }
///     }))
///     .service(service_fn(move |path: &'static str| {
///         let n = seen.fetch_add(1, Ordering::Relaxed);
///         async move {
///             let _ = path;
///             Ok(if n == 0 {
///                 Response { status: 503, retry_after: Some(Duration::from_secs(2)) }
///             } else {
///                 Response { status: 200, retry_after: None }
///             })
///         }
///     }));
/// vrt.block_on(async move {
///     let start = rt.now();
///     let response = service.oneshot("/quote").await.unwrap();
///     assert_eq!(response.status, 200);
///     assert_eq!(rt.now() - start, Duration::from_secs(2)); // the 503's Retry-After
///     assert_eq!(calls.load(Ordering::Relaxed), 2);
/// });
/// ```
pub struct RetryLayer<E, C = DefaultClassify> {
    retry: Retry<E>,
    classify: C,
}

impl<E> RetryLayer<E> {
    /// A layer over `retry` (a handle: every service it makes shares its budget and counters).
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::ServiceBuilder;
    /// use uno_core::resilience::Retry;
    /// use uno_core::tower::RetryLayer;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let retry = Retry::<std::io::Error>::builder(&rt).max_attempts(2).build().unwrap();
    /// let builder = ServiceBuilder::new().layer(RetryLayer::new(retry));
    /// # let _ = builder;
    /// ```
    pub fn new(retry: Retry<E>) -> Self {
        RetryLayer {
            retry,
            classify: DefaultClassify,
        }
    }
}

impl<E, C> RetryLayer<E, C> {
    /// Decides from `classify`'s verdict on each response (any [`Classify`]: a closure
    /// `Fn(Result<&S::Response, &S::Error>) -> Verdict`, whose argument must be annotated, or a
    /// type of yours). Cloned into each call's future: keep it cheap to clone.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    /// use uno_core::resilience::{Backoff, Retry, Verdict};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let retry = Retry::builder(&rt).backoff(Backoff::constant(Duration::ZERO)).build().unwrap();
    /// let service = ServiceBuilder::new()
    ///     .layer(retry.layer().classify(|outcome: Result<&u16, &()>| match outcome {
    ///         Ok(status) if *status >= 500 => Verdict::Failure,
    ///         _ => Verdict::Success,
    ///     }))
    ///     .service(service_fn(|()| async { Ok::<u16, ()>(502) }));
    /// vrt.block_on(async move {
    ///     assert_eq!(service.oneshot(()).await, Ok(502)); // the last answer, after 3 attempts
    ///     assert_eq!(retry.stats().attempts, 3);
    /// });
    /// ```
    pub fn classify<C2>(self, classify: C2) -> RetryLayer<E, C2> {
        RetryLayer {
            retry: self.retry,
            classify,
        }
    }
}

impl<E> Retry<E> {
    /// A tower [`RetryLayer`] over this policy (sharing its budget and counters). With the
    /// `tower` feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::ServiceBuilder;
    /// use uno_core::resilience::Retry;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let retry = Retry::<std::io::Error>::builder(&rt).build().unwrap();
    /// let builder = ServiceBuilder::new().layer(retry.layer());
    /// # let _ = builder;
    /// ```
    pub fn layer(&self) -> RetryLayer<E> {
        RetryLayer::new(self.clone())
    }
}

/// The service of a [`RetryLayer`]; see the layer.
///
/// Its `poll_ready` is the inner service's; `call` makes the first attempt on the ready inner
/// service and gives the call's future a clone, which waits for readiness again before each retry.
///
/// # Examples
///
/// ```
/// use tower::{Service, ServiceExt, service_fn};
/// use uno_core::resilience::Retry;
/// use uno_core::tower::RetryService;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let retry = Retry::builder(&rt).build().unwrap();
/// let mut service: RetryService<_, ()> =
///     tower::Layer::layer(&retry.layer(), service_fn(|n: u8| async move { Ok::<_, ()>(n) }));
/// vrt.block_on(async move {
///     assert_eq!(service.ready().await.unwrap().call(7).await, Ok(7));
///     assert_eq!(retry.stats().successes, 1);
/// });
/// ```
pub struct RetryService<S, E, C = DefaultClassify> {
    inner: S,
    retry: Retry<E>,
    classify: C,
}

classified_layer!(RetryLayer, RetryService, retry);

impl<S, E, C, Req> Service<Req> for RetryService<S, E, C>
where
    S: Service<Req, Error = E> + Clone,
    Req: Clone,
    C: Classify<S::Response, E> + Clone,
{
    type Response = S::Response;
    type Error = ResilienceError<E>;
    type Future = RetryFuture<S, Req, E, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(ResilienceError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let mut attempts = self.retry.start_owned();
        // Right after `start_owned`: the first attempt begins and calls the service at once.
        attempts.begin();
        attempts.calling();
        // The ready service makes the first attempt and stays here; the future keeps a clone
        // for the retries, which waits for its own readiness before each.
        let call = self.inner.call(req.clone());
        let service = self.inner.clone();
        RetryFuture {
            state: State::Calling { call },
            service,
            request: req,
            attempts,
            classify: self.classify.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// Where a retried call is.
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] call: F },
        Backoff { sleep: Pin<Box<dyn Sleep>> },
        Readying,
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`RetryService`] call: the attempts, their backoff sleeps and the waits
    /// for readiness, until a response is kept or the policy gives up.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the attempt in flight (or the backoff, or the wait for readiness) and
    /// makes no further attempt; a budget token taken for a retry that has not called the
    /// service yet goes back, and nothing is counted as a failure.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct RetryFuture<S, Req, E, C>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future>,
        service: S,
        request: Req,
        attempts: OwnedAttempts<E>,
        classify: C,
    }
}

impl<S, Req, E, C> Future for RetryFuture<S, Req, E, C>
where
    S: Service<Req, Error = E>,
    Req: Clone,
    C: Classify<S::Response, E>,
{
    type Output = Result<S::Response, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let delay = match this.state.as_mut().project() {
                StateProj::Calling { call } => {
                    let out = ready!(call.poll(cx));
                    let verdict = this.classify.classify(out.as_ref());
                    match this
                        .attempts
                        .judged(out.map_err(ResilienceError::Inner), Some(verdict))
                    {
                        Step::Done(out) => return Poll::Ready(out),
                        Step::Retry(delay) => delay,
                    }
                }
                StateProj::Backoff { sleep } => {
                    ready!(sleep.as_mut().poll(cx));
                    this.state.set(State::Readying);
                    continue;
                }
                StateProj::Readying => {
                    let ready = ready!(this.service.poll_ready(cx));
                    this.attempts.begin();
                    match ready {
                        Ok(()) => {
                            this.attempts.calling();
                            let call = this.service.call(this.request.clone());
                            this.state.set(State::Calling { call });
                            continue;
                        }
                        // A readiness error is this attempt's error (it never called the
                        // service, so it is counted apart, as a refusal).
                        Err(err) => {
                            match this.attempts.judged(Err(ResilienceError::Inner(err)), None) {
                                Step::Done(out) => return Poll::Ready(out),
                                Step::Retry(delay) => delay,
                            }
                        }
                    }
                }
            };
            if delay.is_zero() {
                this.state.set(State::Readying);
            } else {
                let sleep = this.attempts.runtime().sleep(delay);
                this.state.set(State::Backoff { sleep });
            }
        }
    }
}

impl<S, Req, E, C> fmt::Debug for RetryFuture<S, Req, E, C>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryFuture")
            .field("attempt", &self.attempts.attempt())
            .finish_non_exhaustive()
    }
}
