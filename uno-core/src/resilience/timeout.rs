//! The timeout policy: Uno's `@timeout_handler(seconds, message)` as a reusable value.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use crate::resilience::{ConfigError, ResilienceError};
use crate::rt::Runtime;
use crate::time::{Elapsed, Expiring, Limit, deadline_after};

/// A time limit and the message reported when it is exceeded (Uno's `timeout_handler`).
///
/// Used alone through [`run`](Self::run), or in a [`Pipeline`](super::Pipeline) as the overall
/// limit or the per-attempt limit. At expiry the operation's future is dropped (cancelled).
///
/// # Panics
///
/// A panic in the operation — in its `poll`, or in its `Drop`, also when the timeout drops it at
/// expiry — propagates out of `run` unchanged; the policy holds no state and is unaffected.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::TimeoutPolicy;
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let limit = TimeoutPolicy::new(Duration::from_secs(5), "fetching the invoice").unwrap();
/// vrt.block_on(async move {
///     let slow = limit
///         .run(&rt, || async {
///             rt.sleep(Duration::from_secs(60)).await;
///             Ok::<_, &str>(())
///         })
///         .await;
///     let err = slow.unwrap_err();
///     assert!(err.is_timeout());
///     assert_eq!(err.to_string(), "fetching the invoice: timed out after 5s");
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutPolicy {
    duration: Duration,
    message: Cow<'static, str>,
}

impl TimeoutPolicy {
    /// A limit of `duration`, reported with `message`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] for a zero duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ConfigError, TimeoutPolicy};
    ///
    /// let limit = TimeoutPolicy::new(Duration::from_secs(5), "fetching the invoice").unwrap();
    /// assert_eq!(limit.duration(), Duration::from_secs(5));
    /// let err = TimeoutPolicy::new(Duration::ZERO, "never").unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "timeout duration" });
    /// ```
    pub fn new(
        duration: Duration,
        message: impl Into<Cow<'static, str>>,
    ) -> Result<Self, ConfigError> {
        if duration.is_zero() {
            return Err(ConfigError::Zero {
                what: "timeout duration",
            });
        }
        Ok(TimeoutPolicy {
            duration,
            message: message.into(),
        })
    }

    /// The time limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::TimeoutPolicy;
    ///
    /// let limit = TimeoutPolicy::new(Duration::from_millis(1500), "").unwrap();
    /// assert_eq!(limit.duration(), Duration::from_millis(1500));
    /// ```
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The message of the [`Elapsed`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::TimeoutPolicy;
    ///
    /// let message = format!("loading user {}", 42);
    /// let limit = TimeoutPolicy::new(Duration::from_secs(5), message).unwrap();
    /// assert_eq!(limit.message(), "loading user 42"); // a `String` or a `&'static str`
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Runs `op` once with this limit.
    ///
    /// # Errors
    ///
    /// [`ResilienceError::Timeout`] at expiry, [`ResilienceError::Inner`] for the operation's error.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as the operation: dropping the future drops the operation's future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ResilienceError, TimeoutPolicy};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let limit = TimeoutPolicy::new(Duration::from_secs(1), "reading the config").unwrap();
    /// assert_eq!(limit.run(&rt, || async { Ok::<_, &str>(7) }).await, Ok(7));
    /// let failed = limit.run(&rt, || async { Err::<(), _>("no such file") }).await;
    /// assert_eq!(failed, Err(ResilienceError::Inner("no such file")));
    /// let hung = limit.run(&rt, || std::future::pending::<Result<(), &str>>()).await;
    /// assert_eq!(hung.unwrap_err().to_string(), "reading the config: timed out after 1s");
    /// # });
    /// ```
    pub async fn run<T, E, F, Fut>(&self, rt: &Runtime, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_flat(rt, || async { op().await.map_err(ResilienceError::Inner) })
            .await
    }

    /// As [`run`](Self::run), for an operation that already returns a [`ResilienceError`].
    ///
    /// # Errors
    ///
    /// [`ResilienceError::Timeout`] at expiry; the operation's errors as they are.
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Bulkhead, ResilienceError, TimeoutPolicy};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let limit = TimeoutPolicy::new(Duration::from_secs(1), "whole call").unwrap();
    /// let bulkhead = Bulkhead::builder(1).build().unwrap();
    /// let out = limit
    ///     .run_flat(&rt, || bulkhead.run(&rt, || async { Err::<(), _>("boom") }))
    ///     .await;
    /// assert_eq!(out, Err(ResilienceError::Inner("boom"))); // passed through, not nested
    /// # });
    /// ```
    pub async fn run_flat<T, E, F, Fut>(&self, rt: &Runtime, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        self.limit(rt, op()).await
    }

    /// Applies the limit to a future, starting now.
    pub(crate) fn limit<'a, Fut>(&'a self, rt: &'a Runtime, fut: Fut) -> Limited<'a, Fut> {
        self.limit_from(rt, rt.now(), fut)
    }

    /// Applies the limit to a future, counting from `start`: a clock reading the caller has
    /// just made, so that stacked policies share one.
    pub(crate) fn limit_from<'a, Fut>(
        &'a self,
        rt: &'a Runtime,
        start: Instant,
        fut: Fut,
    ) -> Limited<'a, Fut> {
        let limit = Borrowed {
            policy: self,
            rt,
            start,
        };
        Limited {
            inner: Expiring::new(fut, limit),
        }
    }
}

/// The [`Limit`] of a [`Limited`]: the runtime and the policy borrowed, so the happy path touches
/// no reference count, and the message cloned only on expiry.
struct Borrowed<'a> {
    policy: &'a TimeoutPolicy,
    rt: &'a Runtime,
    start: Instant,
}

impl Limit for Borrowed<'_> {
    fn runtime(&self) -> &Runtime {
        self.rt
    }

    fn start(&self) -> Instant {
        self.start
    }

    fn deadline(&self) -> Instant {
        deadline_after(self.start, self.policy.duration)
    }

    fn expired(&mut self, elapsed: Duration) -> Elapsed {
        event!(message = %self.policy.message, "operation timed out");
        Elapsed::new(self.policy.duration)
            .with_message(self.policy.message.clone())
            .with_elapsed(elapsed)
    }
}

pin_project_lite::pin_project! {
    /// [`crate::time::Timeout`]'s state machine over a borrowed [`TimeoutPolicy`], with the
    /// policies' error: the operation's own `ResilienceError`s pass through, expiry is
    /// [`ResilienceError::Timeout`].
    pub(crate) struct Limited<'a, Fut> {
        #[pin]
        inner: Expiring<Fut, Borrowed<'a>>,
    }
}

impl<T, E, Fut> Future for Limited<'_, Fut>
where
    Fut: Future<Output = Result<T, ResilienceError<E>>>,
{
    type Output = Result<T, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let expiring = ready!(self.project().inner.poll_expiring(cx));
        Poll::Ready(expiring.unwrap_or_else(|elapsed| Err(ResilienceError::Timeout(elapsed))))
    }
}
