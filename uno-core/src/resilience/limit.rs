//! [`RateLimit`]: one trait over every rate limit, in this process or shared by many, and its
//! error [`LimitError`].
//!
//! In-process: [`RateLimiter`] (one limit, the key `()`) and
//! [`KeyedRateLimiter`](super::KeyedRateLimiter) (one limit per key). Shared by many processes:
//! `uno_redis::RedisRateLimiter`. The `tower` layer
//! (`uno_core::tower::RateLimitLayer`) takes any of them.

use std::error::Error;
use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::rate_limit::RateLimitAcquireOwned;
use super::{RateLimiter, RetryAfter};

/// A rate limit that admits or refuses calls for a key: in this process ([`RateLimiter`] for
/// `()`, [`KeyedRateLimiter<K>`](super::KeyedRateLimiter) per key) or shared by many processes
/// (`uno_redis::RedisRateLimiter`).
///
/// # Examples
///
/// Code written against the trait runs over any limit:
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::{LimitError, RateLimit, RateLimiter};
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// async fn send_all<L: RateLimit>(limit: &L, n: usize) -> Result<usize, LimitError> {
///     for _ in 0..n {
///         limit.acquire(()).await?;
///     }
///     Ok(n)
/// }
///
/// let limiter = RateLimiter::builder(&rt, 10, Duration::from_secs(1)).burst(1).build().unwrap();
/// vrt.block_on(async {
///     let start = rt.now();
///     assert_eq!(send_all(&limiter, 3).await.unwrap(), 3);
///     assert_eq!(rt.now() - start, Duration::from_millis(200));
///     let refused = RateLimit::try_acquire(&limiter, ()).await.unwrap_err();
///     assert!(matches!(refused, LimitError::RateLimited(_)));
/// });
/// ```
pub trait RateLimit<K = ()>: Send + Sync + 'static {
    /// The future of `acquire`: owned (no borrow of `self`), so a service can hold it in
    /// `poll_ready`.
    type Acquire: Future<Output = Result<(), LimitError>> + Send + 'static;
    /// The future of `try_acquire`.
    type TryAcquire: Future<Output = Result<(), LimitError>> + Send + 'static;

    /// The limiter's name (in errors, metrics, events).
    fn name(&self) -> &str;

    /// Waits until `key` is admitted (FIFO-ish through uno's timer).
    ///
    /// # Errors
    ///
    /// [`LimitError::Unavailable`] when the limit's shared state cannot be asked (never for an
    /// in-process limiter, which only waits).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it is ready consumes nothing from an in-process limiter; a
    /// remote one says what it does.
    fn acquire(&self, key: K) -> Self::Acquire;

    /// Answers at once: admitted, or refused with how long to wait.
    ///
    /// # Errors
    ///
    /// [`LimitError::RateLimited`] with the time to wait, or [`LimitError::Unavailable`].
    ///
    /// # Cancel safety
    ///
    /// An in-process limiter answers on the first poll; a remote one says what it does.
    fn try_acquire(&self, key: K) -> Self::TryAcquire;

    /// Gives back one admission for `key` that [`acquire`](Self::acquire) or
    /// [`try_acquire`](Self::try_acquire) granted and the caller never used — a tower service
    /// dropped between `poll_ready` and `call` does this. The next caller may take it. A limit
    /// that cannot give admissions back ignores it (the default); the in-process
    /// [`RateLimiter`] moves its arrival time back one interval (never below now, so a refund
    /// never saves up more than the burst). Stats still count the admission.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{RateLimit, RateLimiter};
    /// # let vrt = uno_core::rt::VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let limiter = RateLimiter::builder(&rt, 1, Duration::from_secs(60)).build().unwrap();
    /// limiter.try_acquire().unwrap();
    /// assert!(limiter.try_acquire().is_err());
    /// RateLimit::refund(&limiter, ()); // not used after all
    /// assert!(limiter.try_acquire().is_ok());
    /// ```
    fn refund(&self, key: K) {
        let _ = key;
    }
}

/// Why a rate limit did not admit a call.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::{LimitError, LimitUnavailable, ResilienceError, RetryAfter};
///
/// let refused = LimitError::RateLimited(RetryAfter::new("api", Duration::from_secs(1)));
/// assert_eq!(refused.retry_after(), Some(Duration::from_secs(1)));
/// let down = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
/// let unavailable = LimitError::Unavailable(LimitUnavailable::new("api", down));
/// assert_eq!(unavailable.to_string(), "api: rate limit unavailable");
/// let err: ResilienceError<()> = unavailable.into();
/// assert!(err.is_unavailable());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LimitError {
    /// Refused; try again after `retry_after`.
    RateLimited(RetryAfter),
    /// The limit's shared state could not be asked (a fail-closed remote limiter whose server is
    /// down or slow). Display: `"<name>: rate limit unavailable"`; the cause is its `source()`.
    Unavailable(LimitUnavailable),
}

impl LimitError {
    /// The time to wait, for [`RateLimited`](Self::RateLimited).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{LimitError, RetryAfter};
    ///
    /// let refused = LimitError::from(RetryAfter::new("api", Duration::from_millis(250)));
    /// assert_eq!(refused.retry_after(), Some(Duration::from_millis(250)));
    /// ```
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            LimitError::RateLimited(e) => Some(e.retry_after),
            LimitError::Unavailable(_) => None,
        }
    }
}

impl From<RetryAfter> for LimitError {
    fn from(e: RetryAfter) -> Self {
        LimitError::RateLimited(e)
    }
}

impl From<LimitUnavailable> for LimitError {
    fn from(e: LimitUnavailable) -> Self {
        LimitError::Unavailable(e)
    }
}

/// Transparent: each variant's own `Display` and `source()`.
impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::RateLimited(e) => e.fmt(f),
            LimitError::Unavailable(e) => e.fmt(f),
        }
    }
}

impl Error for LimitError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            LimitError::RateLimited(e) => e.source(),
            LimitError::Unavailable(e) => e.source(),
        }
    }
}

/// A rate limit whose shared state could not be asked: `"<name>: rate limit unavailable"`, with
/// the cause as its [`source`](Error::source).
///
/// Two values are equal when they name the same limit and share the same cause (the same `Arc`).
///
/// # Examples
///
/// ```
/// use std::error::Error;
/// use uno_core::resilience::LimitUnavailable;
///
/// let cause = std::io::Error::new(std::io::ErrorKind::TimedOut, "redis did not answer");
/// let err = LimitUnavailable::new("login", cause);
/// assert_eq!(err.name(), "login");
/// assert_eq!(err.to_string(), "login: rate limit unavailable");
/// assert_eq!(err.source().unwrap().to_string(), "redis did not answer");
/// ```
#[derive(Clone)]
pub struct LimitUnavailable {
    name: Arc<str>,
    source: Arc<dyn Error + Send + Sync>,
}

impl LimitUnavailable {
    /// The limit `name` could not be asked, because of `source`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::LimitUnavailable;
    ///
    /// let err = LimitUnavailable::new("api", "connection reset");
    /// assert_eq!(err.name(), "api");
    /// ```
    pub fn new(name: impl Into<Arc<str>>, source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        LimitUnavailable {
            name: name.into(),
            source: Arc::from(source.into()),
        }
    }

    /// The name of the limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::LimitUnavailable;
    ///
    /// assert_eq!(LimitUnavailable::new("search", "timed out").name(), "search");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl PartialEq for LimitUnavailable {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.source, &other.source)
    }
}

impl fmt::Debug for LimitUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitUnavailable")
            .field("name", &self.name)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for LimitUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: rate limit unavailable", self.name)
    }
}

impl Error for LimitUnavailable {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// The [`RateLimit::Acquire`] of an in-process limiter: its wait (`F`), which is never refused,
/// as the trait's `Result`.
#[must_use = "futures do nothing unless you .await or poll them"]
#[derive(Debug)]
pub struct LocalAcquire<F> {
    wait: F,
}

impl<F> LocalAcquire<F> {
    pub(crate) fn new(wait: F) -> Self {
        LocalAcquire { wait }
    }
}

impl<F: Future<Output = ()> + Unpin> Future for LocalAcquire<F> {
    type Output = Result<(), LimitError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.wait).poll(cx).map(Ok)
    }
}

/// The one limit of a [`RateLimiter`], for the key `()`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::{RateLimit, RateLimiter};
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let limiter = RateLimiter::builder(&rt, 1, Duration::from_secs(1)).build().unwrap();
/// vrt.block_on(async {
///     RateLimit::acquire(&limiter, ()).await.unwrap();
///     let refused = RateLimit::try_acquire(&limiter, ()).await.unwrap_err();
///     assert_eq!(refused.retry_after(), Some(Duration::from_secs(1)));
/// });
/// ```
impl RateLimit for RateLimiter {
    type Acquire = LocalAcquire<RateLimitAcquireOwned>;
    type TryAcquire = Ready<Result<(), LimitError>>;

    fn name(&self) -> &str {
        RateLimiter::name(self)
    }

    fn acquire(&self, (): ()) -> Self::Acquire {
        LocalAcquire::new(self.acquire_owned())
    }

    fn try_acquire(&self, (): ()) -> Self::TryAcquire {
        ready(RateLimiter::try_acquire(self).map_err(LimitError::RateLimited))
    }

    fn refund(&self, (): ()) {
        self.refund_one();
    }
}
