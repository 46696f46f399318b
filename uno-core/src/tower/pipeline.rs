//! [`PipelineLayer`] and [`PipelineService`]: a whole [`Pipeline`] as one tower middleware, its
//! attempts calls of the inner service, run by the hand-written [`PipelineFuture`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tower_service::Service;

use crate::observe::event;
use crate::resilience::{
    BreakerPermit, BulkheadAcquire, BulkheadPermit, CircuitBreaker, Classify, DefaultClassify,
    HeldTimeout, OwnedAttempts, Pipeline, PipelineLimit, RateLimitAcquireOwned, ResilienceError,
    SharedAcquire, Step, TimeoutPolicy, Verdict, judge, shared_limit,
};
use crate::sync::RunUntilCancelledOwned;
use crate::time::{Deadline, Expiring, Sleep};

/// A whole [`Pipeline`] — cancellation, overall timeout, retry (with its budget), per-attempt
/// timeout, circuit breaker, rate limit and bulkhead, in the pipeline's fixed order — as one
/// tower middleware: each attempt is a call of the inner service with a clone of the request
/// (`Req: Clone`, as for [`RetryLayer`](super::RetryLayer)).
///
/// It runs exactly as [`Pipeline::run`] does, the operation being "wait for the inner
/// service's readiness, then call it":
///
/// - **Readiness.** The service's `poll_ready` is the inner service's. Admission (the breaker,
///   the limiter, the bulkhead) happens per attempt inside the call's future, as in
///   `Pipeline::run`, not in `poll_ready`: a waiting call waits in its future (within the
///   per-attempt and overall timeouts), and a [`BulkheadLayer`](super::BulkheadLayer) or
///   [`RateLimitLayer`](super::RateLimitLayer) is what to use for backpressure through
///   readiness. The first attempt calls the service readied by the caller; each retry waits
///   for its readiness again (under the attempt's timeout).
/// - **Classification.** [`classify`](Self::classify) judges each response for the retry and
///   the breaker (a 5xx `Ok` fails, a 404 `Err` is ignored...), as
///   [`Pipeline::run_classified`]; without it, `Ok` succeeds and `Err` fails.
/// - **State is shared** by the layer, every service it makes and their clones: one budget,
///   one breaker, one limit, one bulkhead.
/// - **Cancellation**: the builder's [`cancellation`](crate::resilience::PipelineBuilder::cancellation)
///   token stops every call in flight with [`ResilienceError::Cancelled`].
///
/// The policy's `E` is the inner service's error (`Pipeline<S::Error>`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use uno_core::resilience::{Backoff, Bulkhead, Pipeline, Retry, Verdict};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let pipeline = Pipeline::builder(&rt)
///     .retry(Retry::builder(&rt).backoff(Backoff::constant(Duration::from_millis(10))).build().unwrap())
///     .attempt_timeout(Duration::from_secs(1), "one attempt")
///     .bulkhead(Bulkhead::builder(&rt, 8).build().unwrap())
///     .build()
///     .unwrap();
/// let mut statuses = vec![200, 503];
/// let service = ServiceBuilder::new()
///     .layer(pipeline.layer().classify(|outcome: Result<&u16, &std::io::Error>| match outcome {
///         Ok(status) if *status >= 500 => Verdict::Failure,
///         Ok(_) => Verdict::Success,
///         Err(_) => Verdict::Failure,
///     }))
///     .service(service_fn(move |_path: &'static str| {
///         let status = statuses.pop().unwrap_or(200);
///         async move { Ok(status) }
///     }));
/// vrt.block_on(async move {
///     assert_eq!(service.oneshot("/quote").await.unwrap(), 200); // the 503 was retried
///     assert_eq!(pipeline.retry().unwrap().stats().retries, 1);
/// });
/// ```
pub struct PipelineLayer<E, C = DefaultClassify> {
    pipeline: Arc<Pipeline<E>>,
    classify: C,
}

impl<E> PipelineLayer<E> {
    /// A layer over `pipeline` (its policies are handles: every service shares their state).
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::ServiceBuilder;
    /// use uno_core::resilience::Pipeline;
    /// use uno_core::tower::PipelineLayer;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let pipeline = Pipeline::<std::io::Error>::builder(&rt).build().unwrap();
    /// let builder = ServiceBuilder::new().layer(PipelineLayer::new(pipeline));
    /// # let _ = builder;
    /// ```
    pub fn new(pipeline: Pipeline<E>) -> Self {
        PipelineLayer {
            pipeline: Arc::new(pipeline),
            classify: DefaultClassify,
        }
    }
}

impl<E, C> PipelineLayer<E, C> {
    /// Decides from `classify`'s [`Verdict`] on each response, for the retry and the breaker
    /// (any [`Classify`]: a closure `Fn(Result<&S::Response, &S::Error>) -> Verdict`, whose
    /// argument must be annotated). Cloned into each call's future: keep it cheap to clone.
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    /// use uno_core::resilience::{CircuitBreaker, Pipeline, Verdict};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).build().unwrap();
    /// let pipeline = Pipeline::builder(&rt).circuit_breaker(breaker.clone()).build().unwrap();
    /// let service = ServiceBuilder::new()
    ///     .layer(pipeline.layer().classify(|_: Result<&u16, &()>| Verdict::Ignored))
    ///     .service(service_fn(|()| async { Ok::<u16, ()>(404) }));
    /// vrt.block_on(async move {
    ///     assert_eq!(service.oneshot(()).await, Ok(404));
    ///     assert_eq!(breaker.stats().ignored, 1);
    /// });
    /// ```
    pub fn classify<C2>(self, classify: C2) -> PipelineLayer<E, C2> {
        PipelineLayer {
            pipeline: self.pipeline,
            classify,
        }
    }

    /// The pipeline, to read its policies' stats.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Pipeline;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let layer = Pipeline::<()>::builder(&rt).name("quotes").build().unwrap().layer();
    /// assert_eq!(layer.pipeline().name(), "quotes");
    /// ```
    pub fn pipeline(&self) -> &Pipeline<E> {
        &self.pipeline
    }
}

impl<E> Pipeline<E> {
    /// A tower [`PipelineLayer`] over this pipeline (sharing every policy's state). With the
    /// `tower` feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::ServiceBuilder;
    /// use uno_core::resilience::Pipeline;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let pipeline = Pipeline::<std::io::Error>::builder(&rt).build().unwrap();
    /// let builder = ServiceBuilder::new().layer(pipeline.layer());
    /// # let _ = builder;
    /// ```
    pub fn layer(&self) -> PipelineLayer<E> {
        PipelineLayer::new(self.clone())
    }
}

/// The service of a [`PipelineLayer`]; see the layer.
///
/// Its `poll_ready` is the inner service's; `call` moves the ready inner service into the
/// call's future (leaving a clone behind), which makes every attempt of that call.
///
/// # Examples
///
/// ```
/// use tower::{Service, ServiceExt, service_fn};
/// use uno_core::resilience::Pipeline;
/// use uno_core::tower::PipelineService;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let pipeline = Pipeline::builder(&rt).build().unwrap();
/// let mut service: PipelineService<_, ()> =
///     tower::Layer::layer(&pipeline.layer(), service_fn(|n: u8| async move { Ok::<_, ()>(n) }));
/// vrt.block_on(async move {
///     assert_eq!(service.ready().await.unwrap().call(7).await, Ok(7));
/// });
/// ```
pub struct PipelineService<S, E, C = DefaultClassify> {
    inner: S,
    pipeline: Arc<Pipeline<E>>,
    classify: C,
}

classified_layer!(PipelineLayer, PipelineService, pipeline);

impl<S, E, C, Req> Service<Req> for PipelineService<S, E, C>
where
    S: Service<Req, Error = E> + Clone,
    Req: Clone,
    C: Classify<S::Response, E> + Clone,
{
    type Response = S::Response;
    type Error = ResilienceError<E>;
    type Future = PipelineFuture<S, Req, E, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(ResilienceError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        let pipeline = &self.pipeline;
        let attempts = Attempts {
            retry: pipeline.retry.as_ref().map(|retry| retry.start_owned()),
            state: State::Start,
            service,
            ready: true, // readied by the caller for the first attempt
            request: req,
            classify: self.classify.clone(),
            turn: Turn::default(),
            pipeline: pipeline.clone(),
        };
        let bounded = match &pipeline.timeout {
            Some(limit) => Bounded::Timed {
                call: Expiring::new(attempts, shared_limit(limit)),
            },
            None => Bounded::Plain { call: attempts },
        };
        let outer = match &pipeline.token {
            Some(token) => Outer::Cancellable {
                call: token.clone().run_until_cancelled_owned(bounded),
            },
            None => Outer::Plain { call: bounded },
        };
        PipelineFuture { outer }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`PipelineService`] call: every attempt through the pipeline's policies,
    /// the backoff between them, within the overall timeout and the cancellation token.
    ///
    /// # Cancel safety
    ///
    /// As [`Pipeline::run`]'s: dropping it drops the attempt in flight (or the wait for the
    /// limiter, the bulkhead, the readiness, or the backoff), frees its bulkhead slot and its
    /// breaker probe (counting nothing), leaves the limiter's queue, gives back a budget token
    /// taken for a retry that has not called the service yet, and makes no further attempt.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct PipelineFuture<S, Req, E, C>
    where
        S: Service<Req>,
    {
        #[pin]
        outer: Outer<Attempts<S, Req, E, C>>,
    }
}

impl<S, Req, E, C> Future for PipelineFuture<S, Req, E, C>
where
    S: Service<Req, Error = E>,
    Req: Clone,
    C: Classify<S::Response, E>,
{
    type Output = Result<S::Response, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().outer.project() {
            OuterProj::Plain { call } => call.poll(cx),
            OuterProj::Cancellable { call } => call
                .poll(cx)
                .map(|out| out.unwrap_or(Err(ResilienceError::Cancelled))),
        }
    }
}

impl<S: Service<Req>, Req, E, C> fmt::Debug for PipelineFuture<S, Req, E, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineFuture").finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The cancellation token's place: outermost.
    #[project = OuterProj]
    enum Outer<F> {
        Plain { #[pin] call: Bounded<F> },
        Cancellable { #[pin] call: RunUntilCancelledOwned<Bounded<F>> },
    }
}

pin_project_lite::pin_project! {
    /// The overall timeout's place: around the retries.
    #[project = BoundedProj]
    enum Bounded<F> {
        Plain { #[pin] call: F },
        Timed { #[pin] call: Expiring<F, HeldTimeout<Arc<TimeoutPolicy>>> },
    }
}

impl<T, E, F> Future for Bounded<F>
where
    F: Future<Output = Result<T, ResilienceError<E>>>,
{
    type Output = Result<T, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            BoundedProj::Plain { call } => call.poll(cx),
            BoundedProj::Timed { call } => Poll::Ready(
                ready!(call.poll_expiring(cx))
                    .unwrap_or_else(|elapsed| Err(ResilienceError::Timeout(elapsed))),
            ),
        }
    }
}

/// What one attempt holds: the breaker's permit, the bulkhead's slot, the per-attempt
/// deadline, and the clock readings of `Pipeline::attempt`.
#[derive(Default)]
struct Turn {
    permit: Option<BreakerPermit>,
    slot: Option<BulkheadPermit>,
    deadline: Option<Deadline<HeldTimeout<Arc<TimeoutPolicy>>>>,
    now: Option<Instant>,
    waited: bool,
    start: Option<Instant>,
}

pin_project_lite::pin_project! {
    /// Where an attempt is.
    #[project = StateProj]
    enum State<F> {
        Start,
        LimitingLocal { wait: RateLimitAcquireOwned },
        LimitingShared { wait: SharedAcquire },
        Entering { wait: BulkheadAcquire },
        Readying,
        Calling { #[pin] call: F },
        Backoff { sleep: Pin<Box<dyn Sleep>> },
    }
}

pin_project_lite::pin_project! {
    /// The retries and each attempt's stages: `Pipeline::call_inner`'s retry loop and
    /// `Pipeline::attempt`, as a state machine owning what they borrow.
    struct Attempts<S, Req, E, C>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future>,
        turn: Turn,
        retry: Option<OwnedAttempts<E>>,
        service: S,
        ready: bool,
        request: Req,
        classify: C,
        pipeline: Arc<Pipeline<E>>,
    }
}

/// What an attempt's stage came to: the next stage, or the attempt's result and verdict.
enum Next<F, T, E> {
    Stage(State<F>),
    Ended(Result<T, ResilienceError<E>>, Option<Verdict>),
}

impl<S, Req, E, C> Future for Attempts<S, Req, E, C>
where
    S: Service<Req, Error = E>,
    Req: Clone,
    C: Classify<S::Response, E>,
{
    type Output = Result<S::Response, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let pipeline = &**this.pipeline;
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Start => {
                    if let Some(retry) = this.retry.as_mut() {
                        retry.begin();
                    }
                    event!(
                        debug,
                        "uno_core::resilience",
                        name = %pipeline.name,
                        attempt = this.retry.as_ref().map_or(1, OwnedAttempts::attempt),
                        "pipeline attempt"
                    );
                    begin(pipeline, this.turn)
                }
                StateProj::Backoff { sleep } => {
                    ready!(sleep.as_mut().poll(cx));
                    this.state.set(State::Start);
                    continue;
                }
                stage => {
                    let polled = match stage {
                        StateProj::LimitingLocal { wait } => Pin::new(wait)
                            .poll(cx)
                            .map(|()| admitted(pipeline, this.turn)),
                        StateProj::LimitingShared { wait } => {
                            wait.as_mut().poll(cx).map(|out| match out {
                                Ok(()) => admitted(pipeline, this.turn),
                                Err(refused) => Next::Ended(Err(refused.into()), None),
                            })
                        }
                        StateProj::Entering { wait } => {
                            Pin::new(wait).poll(cx).map(|out| match out {
                                Ok(slot) => {
                                    this.turn.slot = Some(slot);
                                    entered(pipeline, this.turn)
                                }
                                Err(refused) => Next::Ended(Err(refused.into()), None),
                            })
                        }
                        StateProj::Readying => {
                            if std::mem::take(this.ready) {
                                Poll::Ready(Ok(()))
                            } else {
                                this.service.poll_ready(cx)
                            }
                            .map(|ready| match ready {
                                Ok(()) => {
                                    if let Some(retry) = this.retry.as_mut() {
                                        retry.calling();
                                    }
                                    let call = this.service.call(this.request.clone());
                                    Next::Stage(State::Calling { call })
                                }
                                Err(err) => {
                                    // Not a call of the service: the breaker counts nothing.
                                    this.turn.permit = None;
                                    Next::Ended(Err(ResilienceError::Inner(err)), None)
                                }
                            })
                        }
                        StateProj::Calling { call } => call.poll(cx).map(|out| {
                            let out = out.map_err(ResilienceError::Inner);
                            let verdict = judge(this.classify, &out);
                            Next::Ended(out, verdict)
                        }),
                        StateProj::Start | StateProj::Backoff { .. } => {
                            unreachable!("handled above")
                        }
                    };
                    match polled {
                        Poll::Ready(next) => next,
                        Poll::Pending => {
                            // The stage first, then the attempt's deadline (as `Expiring`).
                            let Some(deadline) = this.turn.deadline.as_mut() else {
                                return Poll::Pending;
                            };
                            let elapsed = ready!(deadline.poll_expired(cx));
                            this.state.set(State::Start); // drops the stage
                            this.turn.start = None;
                            Next::Ended(Err(ResilienceError::Timeout(elapsed)), None)
                        }
                    }
                }
            };
            let (result, verdict) = match next {
                Next::Stage(stage) => {
                    this.state.set(stage);
                    continue;
                }
                Next::Ended(result, verdict) => (result, verdict),
            };
            // The attempt is over: its slot goes back before the breaker records it.
            let turn = std::mem::take(this.turn);
            drop(turn.slot);
            let op_time = match (&result, turn.start) {
                (Ok(_) | Err(ResilienceError::Inner(_)), Some(start)) => {
                    Some(pipeline.rt.now().saturating_duration_since(start))
                }
                _ => None,
            };
            if let Some(permit) = turn.permit {
                permit.record_judged(&result, verdict, op_time);
            }
            let Some(retry) = this.retry.as_mut() else {
                return Poll::Ready(result);
            };
            let delay: Duration = match retry.judged(result, verdict) {
                Step::Done(out) => return Poll::Ready(out),
                Step::Retry(delay) => delay,
            };
            if delay.is_zero() {
                this.state.set(State::Start);
            } else {
                this.state.set(State::Backoff {
                    sleep: pipeline.rt.sleep(delay),
                });
            }
        }
    }
}

/// An attempt's first steps, at one clock reading: the breaker, the per-attempt deadline, the
/// in-process limiter's immediate admission (or the wait for it).
fn begin<F, T, E>(pipeline: &Pipeline<E>, turn: &mut Turn) -> Next<F, T, E> {
    let now = (pipeline.attempt_timeout.is_some() || pipeline.limiter.is_some())
        .then(|| pipeline.rt.now());
    turn.now = now;
    if let Some(breaker) = &pipeline.breaker {
        match breaker.admit_owned(now) {
            Ok(permit) => turn.permit = Some(permit),
            Err(open) => return Next::Ended(Err(open.into()), None),
        }
    }
    if let (Some(limit), Some(now)) = (&pipeline.attempt_timeout, now) {
        turn.deadline = Some(Deadline::new(HeldTimeout::at(limit.clone(), now)));
    }
    match &pipeline.limiter {
        Some(PipelineLimit::Local(limiter))
            if !now.is_some_and(|now| limiter.try_admit_at(now)) =>
        {
            turn.waited = true;
            Next::Stage(State::LimitingLocal {
                wait: limiter.acquire_owned(),
            })
        }
        Some(PipelineLimit::Shared(limit)) => {
            turn.waited = true;
            Next::Stage(State::LimitingShared {
                wait: limit.acquire(),
            })
        }
        _ => admitted(pipeline, turn),
    }
}

/// After the limiter: the bulkhead's slot, at once or waited for.
fn admitted<F, T, E>(pipeline: &Pipeline<E>, turn: &mut Turn) -> Next<F, T, E> {
    if let Some(bulkhead) = &pipeline.bulkhead {
        match bulkhead.try_acquire() {
            Some(slot) => turn.slot = Some(slot),
            None => {
                turn.waited = true;
                return Next::Stage(State::Entering {
                    wait: bulkhead.acquire(),
                });
            }
        }
    }
    entered(pipeline, turn)
}

/// In the slot: the slow-call clock starts (from the attempt's reading unless it waited), then
/// the service's readiness and the call.
fn entered<F, T, E>(pipeline: &Pipeline<E>, turn: &mut Turn) -> Next<F, T, E> {
    let measure = pipeline
        .breaker
        .as_ref()
        .is_some_and(CircuitBreaker::detects_slow_calls);
    turn.start = measure.then(|| match turn.now {
        Some(now) if !turn.waited => now,
        _ => pipeline.rt.now(),
    });
    Next::Stage(State::Readying)
}
