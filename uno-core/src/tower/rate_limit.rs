//! [`RateLimitLayer`] and [`RateLimitService`] (one limit, admitted in `poll_ready`), and the
//! keyed form [`KeyedRateLimitLayer`] / [`KeyedRateLimitService`] (a limit per key, admitted
//! inside the call, where the request is known).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tower_layer::Layer;
use tower_service::Service;

use super::admitted::{AdmittedCall, poll_fresh};
use crate::resilience::{LimitError, RateLimit, RateLimiter, ResilienceError};

/// Puts a rate limit in front of a service: a [`RateLimiter`] by default, or any [`RateLimit`]
/// (a remote one such as `uno_redis::RedisRateLimiter`). The limit is shared by every clone of
/// the layer and of its services: one limit for all connections.
///
/// The admission is taken in `poll_ready`, where the service waits its turn (in arrival order,
/// on uno's timer), and spent by the next `call`. With [`shed`](Self::shed), `poll_ready` asks
/// without waiting, and a call the limit refused answers [`ResilienceError::RateLimited`] with
/// its [`RetryAfter`](crate::resilience::RetryAfter) at once (an HTTP server's 429 with a
/// `Retry-After` header). For a limit per key (per client, per route), see
/// [`keyed`](Self::keyed).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use uno_core::resilience::{RateLimiter, ResilienceError};
/// use uno_core::tower::RateLimitLayer;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let limiter = RateLimiter::builder(&rt, 2, Duration::from_secs(1)).build().unwrap();
/// let service = ServiceBuilder::new()
///     .layer(RateLimitLayer::new(limiter).shed())
///     .service(service_fn(|n: u32| async move { Ok::<_, std::convert::Infallible>(n) }));
/// vrt.block_on(async move {
///     assert_eq!(service.clone().oneshot(1).await.unwrap(), 1);
///     assert_eq!(service.clone().oneshot(2).await.unwrap(), 2); // the burst of 2
///     let err = service.oneshot(3).await.unwrap_err();
///     assert!(matches!(err, ResilienceError::RateLimited(_)));
///     assert_eq!(err.retry_after(), Some(Duration::from_millis(500)));
/// });
/// ```
#[derive(Clone)]
pub struct RateLimitLayer<L = RateLimiter> {
    limiter: L,
    shed: bool,
}

impl<L> RateLimitLayer<L> {
    /// A layer over `limiter` (a handle: every service it makes shares the limit).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::ServiceBuilder;
    /// use uno_core::resilience::RateLimiter;
    /// use uno_core::tower::RateLimitLayer;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limiter = RateLimiter::builder(&rt, 100, Duration::from_secs(1)).build().unwrap();
    /// let builder = ServiceBuilder::new().layer(RateLimitLayer::new(limiter));
    /// # let _ = builder;
    /// ```
    pub fn new(limiter: L) -> Self {
        RateLimitLayer {
            limiter,
            shed: false,
        }
    }

    /// Sheds load instead of waiting: `poll_ready` asks the limit without waiting, and a call it
    /// refused fails at once with [`ResilienceError::RateLimited`] (the inner service is not
    /// called).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use uno_core::resilience::{RateLimiter, ResilienceError};
    /// use uno_core::tower::RateLimitLayer;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let limiter = RateLimiter::builder(&rt, 1, Duration::from_secs(10)).name("search").build();
    /// let layer = RateLimitLayer::new(limiter.unwrap()).shed();
    /// let service = layer.layer(service_fn(|()| async { Ok::<_, std::io::Error>("found") }));
    /// vrt.block_on(async move {
    ///     assert_eq!(service.clone().oneshot(()).await.unwrap(), "found");
    ///     let err = service.oneshot(()).await.unwrap_err();
    ///     assert_eq!(err.to_string(), r#"rate limiter "search" refused the call (retry after 10s)"#);
    /// });
    /// ```
    pub fn shed(mut self) -> Self {
        self.shed = true;
        self
    }

    /// A limit per key: `key` reads the key of each request (a client address, an API key, a
    /// route), and `limiter` (a [`KeyedRateLimiter`](crate::resilience::KeyedRateLimiter), or
    /// any [`RateLimit<K>`]) admits it. The admission is taken inside the call's future, where
    /// the request is known; `poll_ready` of the keyed service is always ready, and the inner
    /// service's own readiness is awaited after the admission, on a clone (so the inner service
    /// must be `Clone`). Add [`KeyedRateLimitLayer::shed`] to refuse instead of waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use uno_core::resilience::{KeyedRateLimiter, ResilienceError};
    /// use uno_core::tower::RateLimitLayer;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let per_client = KeyedRateLimiter::builder(&rt, 1, Duration::from_secs(1)).build().unwrap();
    /// let layer = RateLimitLayer::keyed(per_client, |req: &(u32, &'static str)| req.0).shed();
    /// let service = layer.layer(service_fn(|req: (u32, &'static str)| async move {
    ///     Ok::<_, ()>(req.1)
    /// }));
    /// vrt.block_on(async move {
    ///     assert_eq!(service.clone().oneshot((7, "a")).await, Ok("a"));
    ///     assert_eq!(service.clone().oneshot((8, "b")).await, Ok("b")); // another client
    ///     let err = service.oneshot((7, "c")).await.unwrap_err();
    ///     assert!(matches!(err, ResilienceError::RateLimited(_))); // client 7 again
    /// });
    /// ```
    pub fn keyed<F>(limiter: L, key: F) -> KeyedRateLimitLayer<L, F> {
        KeyedRateLimitLayer {
            limiter,
            key,
            shed: false,
        }
    }
}

impl<S, L: RateLimit + Clone> Layer<S> for RateLimitLayer<L> {
    type Service = RateLimitService<S, L>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limiter: self.limiter.clone(),
            shed: self.shed,
            admission: Admission::None,
        }
    }
}

impl<L: RateLimit> fmt::Debug for RateLimitLayer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.limiter.name())
            .field("shed", &self.shed)
            .finish()
    }
}

impl RateLimiter {
    /// A tower [`RateLimitLayer`] over this limiter (sharing its limit). With the `tower`
    /// feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::ServiceBuilder;
    /// use uno_core::resilience::RateLimiter;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limiter = RateLimiter::builder(&rt, 50, Duration::from_secs(1)).build().unwrap();
    /// let builder = ServiceBuilder::new().layer(limiter.layer().shed());
    /// # let _ = builder;
    /// ```
    pub fn layer(&self) -> RateLimitLayer {
        RateLimitLayer::new(self.clone())
    }
}

/// A service behind a rate limit; made by [`RateLimitLayer`].
///
/// Each service value holds at most one admission: taken (or, shedding, refused) by
/// `poll_ready`, spent by the next `call`. A clone starts without one. Dropping a service while
/// it waits for its turn leaves the queue, consuming nothing; dropping one that holds a granted
/// admission gives it back ([`RateLimit::refund`]: the in-process [`RateLimiter`] takes it back,
/// a limit that cannot ignores it). A call dropped after `call` has spent its admission.
///
/// The limit's futures are kept in the service between polls, so they must be `Unpin` (the
/// in-process limiters' are, and allocate nothing unless they wait).
///
/// # Errors
///
/// [`ResilienceError::RateLimited`] when the limit refused the call (shedding),
/// [`ResilienceError::Unavailable`] when a remote limit could not be asked;
/// [`ResilienceError::Inner`] for the inner service's errors (from `poll_ready` or the call).
///
/// # Panics
///
/// `call` panics if `poll_ready` did not return `Ready(Ok(()))` first (tower's contract).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{Layer, Service, ServiceExt, service_fn};
/// use uno_core::resilience::RateLimiter;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let limiter = RateLimiter::builder(&rt, 10, Duration::from_secs(1)).burst(1).build().unwrap();
/// let mut service = limiter.layer().layer(service_fn(|()| async { Ok::<_, ()>(()) }));
/// vrt.block_on(async move {
///     let start = rt.now();
///     for _ in 0..3 {
///         service.ready().await.unwrap().call(()).await.unwrap(); // waits its turn
///     }
///     assert_eq!(rt.now() - start, Duration::from_millis(200));
/// });
/// ```
pub struct RateLimitService<S, L: RateLimit = RateLimiter> {
    inner: S,
    limiter: L,
    shed: bool,
    admission: Admission<L>,
}

/// What a [`RateLimitService`] holds between `poll_ready` and `call`.
enum Admission<L: RateLimit> {
    None,
    Waiting(L::Acquire),
    Asking(L::TryAcquire),
    Admitted,
    Refused(LimitError),
}

impl<S: Clone, L: RateLimit + Clone> Clone for RateLimitService<S, L> {
    /// A clone shares the limit, without the admission this one may hold.
    fn clone(&self) -> Self {
        RateLimitService {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            shed: self.shed,
            admission: Admission::None,
        }
    }
}

impl<S, L, Req> Service<Req> for RateLimitService<S, L>
where
    S: Service<Req>,
    L: RateLimit,
    L::Acquire: Unpin,
    L::TryAcquire: Unpin,
{
    type Response = S::Response;
    type Error = ResilienceError<S::Error>;
    type Future = RateLimitFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        loop {
            let answer = match &mut self.admission {
                Admission::None => {
                    // Asked and polled where it stands (an in-process limiter answers at once),
                    // kept only if the answer is not ready (a wait, or a remote limiter).
                    let first = if self.shed {
                        poll_fresh(self.limiter.try_acquire(()), cx).map_err(Admission::Asking)
                    } else {
                        poll_fresh(self.limiter.acquire(()), cx).map_err(Admission::Waiting)
                    };
                    match first {
                        Ok(answer) => answer,
                        Err(pending) => {
                            self.admission = pending;
                            return Poll::Pending;
                        }
                    }
                }
                Admission::Waiting(wait) => ready!(Pin::new(wait).poll(cx)),
                Admission::Asking(ask) => ready!(Pin::new(ask).poll(cx)),
                Admission::Admitted => {
                    return self.inner.poll_ready(cx).map_err(ResilienceError::Inner);
                }
                // The refusal is the next call's answer; the inner service is not needed.
                Admission::Refused(_) => return Poll::Ready(Ok(())),
            };
            self.admission = match answer {
                Ok(()) => Admission::Admitted,
                Err(refused) => Admission::Refused(refused),
            };
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let call = match std::mem::replace(&mut self.admission, Admission::None) {
            Admission::Admitted => AdmittedCall::called(self.inner.call(req), ()),
            Admission::Refused(refused) => AdmittedCall::refused(refused.into()),
            _ => panic!("RateLimitService::call without a successful poll_ready"),
        };
        RateLimitFuture { call }
    }
}

impl<S, L: RateLimit> Drop for RateLimitService<S, L> {
    /// A service dropped between `poll_ready` and `call` gives its unused admission back to the
    /// limit ([`RateLimit::refund`]); one still waiting leaves the queue, consuming nothing.
    fn drop(&mut self) {
        if matches!(self.admission, Admission::Admitted) {
            self.limiter.refund(());
        }
    }
}

impl<S: fmt::Debug, L: RateLimit> fmt::Debug for RateLimitService<S, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let admission = match self.admission {
            Admission::None => "none",
            Admission::Waiting(_) => "waiting",
            Admission::Asking(_) => "asking",
            Admission::Admitted => "admitted",
            Admission::Refused(_) => "refused",
        };
        f.debug_struct("RateLimitService")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter.name())
            .field("shed", &self.shed)
            .field("admission", &admission)
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`RateLimitService`] call: the inner call, or the limit's refusal at once.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the inner call; the admission stays spent.
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub struct RateLimitFuture<F, E> {
        #[pin]
        call: AdmittedCall<F, (), E>,
    }
}

impl<T, E, F> Future for RateLimitFuture<F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().call.poll(cx)
    }
}

impl<F, E> fmt::Debug for RateLimitFuture<F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitFuture").finish_non_exhaustive()
    }
}

/// A limit per key in front of a service; from [`RateLimitLayer::keyed`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::ServiceBuilder;
/// use uno_core::resilience::KeyedRateLimiter;
/// use uno_core::tower::RateLimitLayer;
/// # let rt = uno_core::rt::VirtualRuntime::new().handle();
///
/// let per_user = KeyedRateLimiter::<String>::builder(&rt, 5, Duration::from_secs(1)).build();
/// let per_user = per_user.unwrap();
/// let layer = RateLimitLayer::keyed(per_user, |req: &String| req.clone());
/// let builder = ServiceBuilder::new().layer(layer);
/// # let _ = builder;
/// ```
#[derive(Clone)]
pub struct KeyedRateLimitLayer<L, F> {
    limiter: L,
    key: F,
    shed: bool,
}

impl<L, F> KeyedRateLimitLayer<L, F> {
    /// Refuses instead of waiting: a call whose key is over its limit fails at once with
    /// [`ResilienceError::RateLimited`] (the inner service is not called).
    ///
    /// # Examples
    ///
    /// See [`RateLimitLayer::keyed`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::KeyedRateLimiter;
    /// use uno_core::tower::RateLimitLayer;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let per_ip = KeyedRateLimiter::<[u8; 4]>::builder(&rt, 10, Duration::from_secs(1)).build();
    /// let per_ip = per_ip.unwrap();
    /// let layer = RateLimitLayer::keyed(per_ip, |req: &([u8; 4], u16)| req.0).shed();
    /// # let _ = layer;
    /// ```
    pub fn shed(mut self) -> Self {
        self.shed = true;
        self
    }
}

impl<S, L: Clone, F: Clone> Layer<S> for KeyedRateLimitLayer<L, F> {
    type Service = KeyedRateLimitService<S, L, F>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedRateLimitService {
            inner,
            limiter: self.limiter.clone(),
            key: self.key.clone(),
            shed: self.shed,
        }
    }
}

impl<L, F> fmt::Debug for KeyedRateLimitLayer<L, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitLayer")
            .field("shed", &self.shed)
            .finish_non_exhaustive()
    }
}

/// A service behind a limit per key; made by [`KeyedRateLimitLayer`].
///
/// `poll_ready` is always ready: the key is known only from the request, so each call's future
/// takes its admission (waiting its turn for its key, or refused at once when shedding), then
/// awaits the readiness of its own clone of the inner service and calls it. Nothing is held
/// between calls.
///
/// # Errors
///
/// [`ResilienceError::RateLimited`] when the key's limit refused the call (shedding),
/// [`ResilienceError::Unavailable`] when a remote limit could not be asked;
/// [`ResilienceError::Inner`] for the inner service's errors.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{Layer, ServiceExt, service_fn};
/// use uno_core::resilience::KeyedRateLimiter;
/// use uno_core::tower::RateLimitLayer;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let per_key = KeyedRateLimiter::builder(&rt, 1, Duration::from_secs(1)).build().unwrap();
/// let service = RateLimitLayer::keyed(per_key, |key: &&'static str| *key)
///     .layer(service_fn(|key: &'static str| async move { Ok::<_, ()>(key.len()) }));
/// vrt.block_on(async move {
///     let start = rt.now();
///     service.clone().oneshot("a").await.unwrap();
///     service.clone().oneshot("b").await.unwrap(); // its own limit: at once
///     service.oneshot("a").await.unwrap(); // waits a second for "a"
///     assert_eq!(rt.now() - start, Duration::from_secs(1));
/// });
/// ```
#[derive(Clone)]
pub struct KeyedRateLimitService<S, L, F> {
    inner: S,
    limiter: L,
    key: F,
    shed: bool,
}

impl<S, L, F, K, Req> Service<Req> for KeyedRateLimitService<S, L, F>
where
    S: Service<Req> + Clone,
    L: RateLimit<K>,
    F: Fn(&Req) -> K,
{
    type Response = S::Response;
    type Error = ResilienceError<S::Error>;
    type Future = KeyedRateLimitFuture<S, Req, L::Acquire, L::TryAcquire>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = (self.key)(&req);
        let admit = if self.shed {
            Admit::Asking {
                ask: self.limiter.try_acquire(key),
            }
        } else {
            Admit::Waiting {
                wait: self.limiter.acquire(key),
            }
        };
        KeyedRateLimitFuture {
            state: Keyed::Admitting {
                admit,
                service: Some(self.inner.clone()),
                req: Some(req),
            },
        }
    }
}

impl<S: fmt::Debug, L, F> fmt::Debug for KeyedRateLimitService<S, L, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitService")
            .field("inner", &self.inner)
            .field("shed", &self.shed)
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// A keyed admission: waiting its turn, or asking once (shedding).
    #[project = AdmitProj]
    enum Admit<A, T> {
        Waiting { #[pin] wait: A },
        Asking { #[pin] ask: T },
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`KeyedRateLimitService`] call: the key's admission, then the inner
    /// service's readiness (on the call's own clone), then the inner call.
    ///
    /// # Cancel safety
    ///
    /// Dropped while waiting for the admission: consumes nothing from an in-process limiter (the
    /// waiter leaves its key's queue). Dropped later: the admission stays spent, the inner call
    /// (or the clone waiting for readiness) is dropped.
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub struct KeyedRateLimitFuture<S, Req, A, T>
    where
        S: Service<Req>,
    {
        #[pin]
        state: Keyed<S, Req, A, T>,
    }
}

pin_project_lite::pin_project! {
    #[project = KeyedProj]
    enum Keyed<S, Req, A, T>
    where
        S: Service<Req>,
    {
        Admitting {
            #[pin]
            admit: Admit<A, T>,
            service: Option<S>,
            req: Option<Req>,
        },
        Readying {
            service: S,
            req: Option<Req>,
        },
        Calling {
            #[pin]
            call: S::Future,
        },
    }
}

impl<S, Req, A, T> Future for KeyedRateLimitFuture<S, Req, A, T>
where
    S: Service<Req>,
    A: Future<Output = Result<(), LimitError>>,
    T: Future<Output = Result<(), LimitError>>,
{
    type Output = Result<S::Response, ResilienceError<S::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                KeyedProj::Admitting {
                    admit,
                    service,
                    req,
                } => {
                    let admitted = match admit.project() {
                        AdmitProj::Waiting { wait } => ready!(wait.poll(cx)),
                        AdmitProj::Asking { ask } => ready!(ask.poll(cx)),
                    };
                    if let Err(refused) = admitted {
                        return Poll::Ready(Err(refused.into()));
                    }
                    let service = service.take().expect("taken only on leaving this state");
                    let req = req.take();
                    state.set(Keyed::Readying { service, req });
                }
                KeyedProj::Readying { service, req } => {
                    ready!(service.poll_ready(cx)).map_err(ResilienceError::Inner)?;
                    let req = req.take().expect("taken only on leaving this state");
                    let call = service.call(req);
                    state.set(Keyed::Calling { call });
                }
                KeyedProj::Calling { call } => {
                    return call.poll(cx).map_err(ResilienceError::Inner);
                }
            }
        }
    }
}

impl<S: Service<Req>, Req, A, T> fmt::Debug for KeyedRateLimitFuture<S, Req, A, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitFuture")
            .finish_non_exhaustive()
    }
}
