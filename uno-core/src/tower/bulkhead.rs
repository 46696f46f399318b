//! [`BulkheadLayer`] and [`BulkheadService`]: a [`Bulkhead`] as tower middleware, its slot taken
//! in `poll_ready`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tower_layer::Layer;
use tower_service::Service;

use super::admitted::{AdmittedCall, poll_fresh};
use crate::resilience::{
    Bulkhead, BulkheadAcquire, BulkheadPermit, BulkheadRejected, ResilienceError,
};

/// Puts a [`Bulkhead`] in front of a service: at most `max_concurrent` calls in flight across
/// every clone of the layer and of its services.
///
/// The slot is taken in `poll_ready` (the service waits, in arrival order, within the bulkhead's
/// `max_queue` and `max_wait`), held by the service until `call`, then by the call's future until
/// it completes. With [`shed`](Self::shed), `poll_ready` never waits: a call made when no slot is
/// free answers [`ResilienceError::Rejected`] at once.
///
/// # Examples
///
/// ```
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use uno_core::resilience::{Bulkhead, ResilienceError};
/// use uno_core::tower::BulkheadLayer;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let bulkhead = Bulkhead::builder(&rt, 1).name("reports").build().unwrap();
/// let service = ServiceBuilder::new()
///     .layer(BulkheadLayer::new(bulkhead.clone()).shed())
///     .service(service_fn(|n: u32| async move { Ok::<_, std::convert::Infallible>(n * 2) }));
/// vrt.block_on(async move {
///     let _busy = bulkhead.try_acquire().unwrap(); // the only slot
///     let err = service.clone().oneshot(1).await.unwrap_err();
///     assert!(matches!(err, ResilienceError::Rejected(_)));
///     drop(_busy);
///     assert_eq!(service.oneshot(21).await.unwrap(), 42);
/// });
/// ```
#[derive(Clone)]
pub struct BulkheadLayer {
    bulkhead: Bulkhead,
    shed: bool,
}

impl BulkheadLayer {
    /// A layer over `bulkhead` (a handle: every service it makes shares its slots).
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::ServiceBuilder;
    /// use uno_core::resilience::Bulkhead;
    /// use uno_core::tower::BulkheadLayer;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let bulkhead = Bulkhead::builder(&rt, 64).build().unwrap();
    /// let builder = ServiceBuilder::new().layer(BulkheadLayer::new(bulkhead));
    /// # let _ = builder;
    /// ```
    pub fn new(bulkhead: Bulkhead) -> Self {
        BulkheadLayer {
            bulkhead,
            shed: false,
        }
    }

    /// Sheds load instead of waiting: `poll_ready` is always ready (once the inner service is),
    /// and a call made when no slot is free fails at once with
    /// [`BulkheadRejected::QueueFull`] (`max_queue: 0`), counted as the bulkhead's
    /// `rejected_queue_full`. The bulkhead's own queue and wait bounds do not apply.
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::{Service, ServiceExt, service_fn};
    /// use uno_core::resilience::{Bulkhead, BulkheadRejected, ResilienceError};
    /// use uno_core::tower::BulkheadLayer;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let bulkhead = Bulkhead::builder(&rt, 1).build().unwrap();
    /// let layer = BulkheadLayer::new(bulkhead.clone()).shed();
    /// let inner = service_fn(|()| async { Ok::<_, std::io::Error>(()) });
    /// let mut service = tower::Layer::layer(&layer, inner);
    /// vrt.block_on(async move {
    ///     let _held = bulkhead.try_acquire().unwrap();
    ///     let call = service.ready().await.unwrap().call(()); // ready at once
    ///     let err = call.await.unwrap_err();
    ///     assert!(matches!(err, ResilienceError::Rejected(BulkheadRejected::QueueFull { .. })));
    ///     assert_eq!(err.to_string(), "bulkhead is full");
    ///     assert_eq!(bulkhead.stats().rejected_queue_full, 1);
    /// });
    /// ```
    pub fn shed(mut self) -> Self {
        self.shed = true;
        self
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;

    fn layer(&self, inner: S) -> BulkheadService<S> {
        BulkheadService {
            inner,
            bulkhead: self.bulkhead.clone(),
            shed: self.shed,
            slot: Slot::None,
        }
    }
}

impl fmt::Debug for BulkheadLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadLayer")
            .field("bulkhead", &self.bulkhead.name())
            .field("shed", &self.shed)
            .finish()
    }
}

impl Bulkhead {
    /// A tower [`BulkheadLayer`] over this bulkhead (sharing its slots). With the `tower`
    /// feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::ServiceBuilder;
    /// use uno_core::resilience::Bulkhead;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let bulkhead = Bulkhead::builder(&rt, 8).build().unwrap();
    /// let builder = ServiceBuilder::new().layer(bulkhead.layer().shed());
    /// # let _ = builder;
    /// ```
    pub fn layer(&self) -> BulkheadLayer {
        BulkheadLayer::new(self.clone())
    }
}

/// A service behind a [`Bulkhead`]; made by [`BulkheadLayer`].
///
/// Each service value holds at most one slot: taken by `poll_ready`, handed to the future of the
/// next `call`. A clone starts without one. Dropping a service that holds a slot (or is still
/// waiting for one) releases it (or leaves the queue).
///
/// # Errors
///
/// [`ResilienceError::Rejected`] when the bulkhead refuses the call (its queue is full, the wait
/// exceeded `max_wait`, or, shedding, no slot was free); [`ResilienceError::Inner`] for the inner
/// service's errors (from `poll_ready` or the call).
///
/// # Panics
///
/// `call` panics if `poll_ready` did not return `Ready(Ok(()))` first (tower's contract). A panic
/// in the inner service's future releases the slot as the future unwinds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{Service, ServiceExt, service_fn};
/// use uno_core::resilience::Bulkhead;
/// use uno_core::tower::BulkheadLayer;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let bulkhead = Bulkhead::builder(&rt, 1).build().unwrap();
/// let sleeper = rt.clone();
/// let mut service = bulkhead.layer().layer(service_fn(move |()| {
///     let rt = sleeper.clone();
///     async move {
///         rt.sleep(Duration::from_secs(1)).await;
///         Ok::<_, ()>(())
///     }
/// }));
/// # use tower::Layer;
/// vrt.block_on(async move {
///     let start = rt.now();
///     let first = service.ready().await.unwrap().call(()); // takes the slot
///     let mut second = service.clone();
///     let waiting = rt.spawn(async move { second.ready().await.map(|s| s.call(())).ok() });
///     first.await.unwrap(); // one second; then the slot goes to the waiting clone
///     waiting.await.unwrap().unwrap().await.unwrap();
///     assert_eq!(rt.now() - start, Duration::from_secs(2));
/// });
/// ```
pub struct BulkheadService<S> {
    inner: S,
    bulkhead: Bulkhead,
    shed: bool,
    slot: Slot,
}

/// What a [`BulkheadService`] holds between `poll_ready` and `call`.
enum Slot {
    None,
    Waiting(BulkheadAcquire),
    Held(BulkheadPermit),
    Refused(BulkheadRejected),
}

impl<S: Clone> Clone for BulkheadService<S> {
    /// A clone shares the bulkhead, without the slot this one may hold.
    fn clone(&self) -> Self {
        BulkheadService {
            inner: self.inner.clone(),
            bulkhead: self.bulkhead.clone(),
            shed: self.shed,
            slot: Slot::None,
        }
    }
}

impl<S, Req> Service<Req> for BulkheadService<S>
where
    S: Service<Req>,
{
    type Response = S::Response;
    type Error = ResilienceError<S::Error>;
    type Future = BulkheadFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        loop {
            let answer = match &mut self.slot {
                Slot::None if self.shed => self.bulkhead.try_acquire_or_shed(),
                // Polled where it stands, kept only if it must wait.
                Slot::None => match poll_fresh(self.bulkhead.acquire(), cx) {
                    Ok(answer) => answer,
                    Err(wait) => {
                        self.slot = Slot::Waiting(wait);
                        return Poll::Pending;
                    }
                },
                Slot::Waiting(wait) => ready!(Pin::new(wait).poll(cx)),
                Slot::Held(_) => return self.inner.poll_ready(cx).map_err(ResilienceError::Inner),
                // The refusal is the next call's answer; the inner service is not needed.
                Slot::Refused(_) => return Poll::Ready(Ok(())),
            };
            self.slot = match answer {
                Ok(permit) => Slot::Held(permit),
                Err(refused) => Slot::Refused(refused),
            };
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let call = match std::mem::replace(&mut self.slot, Slot::None) {
            Slot::Held(permit) => AdmittedCall::called(self.inner.call(req), permit),
            Slot::Refused(refused) => AdmittedCall::refused(refused.into()),
            Slot::None | Slot::Waiting(_) => {
                panic!("BulkheadService::call without a successful poll_ready")
            }
        };
        BulkheadFuture { call }
    }
}

impl<S: fmt::Debug> fmt::Debug for BulkheadService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slot = match self.slot {
            Slot::None => "none",
            Slot::Waiting(_) => "waiting",
            Slot::Held(_) => "held",
            Slot::Refused(_) => "refused",
        };
        f.debug_struct("BulkheadService")
            .field("inner", &self.inner)
            .field("bulkhead", &self.bulkhead.name())
            .field("shed", &self.shed)
            .field("slot", &slot)
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`BulkheadService`] call: the inner call, holding its slot until it
    /// completes or is dropped; or the bulkhead's refusal, at once.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the inner call and releases the slot.
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub struct BulkheadFuture<F, E> {
        #[pin]
        call: AdmittedCall<F, BulkheadPermit, E>,
    }
}

impl<T, E, F> Future for BulkheadFuture<F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().call.poll(cx)
    }
}

impl<F, E> fmt::Debug for BulkheadFuture<F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadFuture").finish_non_exhaustive()
    }
}
