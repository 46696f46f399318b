use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{Sleep, deadline_after};
use crate::rt::Runtime;

/// The error of a [`timeout`]: the operation did not finish in time.
///
/// Carries the caller's message (the Uno `timeout_handler` message) and how long the operation ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elapsed {
    message: Cow<'static, str>,
    elapsed: Duration,
}

impl Elapsed {
    /// Creates an error, for code that enforces its own deadlines.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::time::Elapsed;
    ///
    /// let err = Elapsed::new("flushing the log", Duration::from_secs(2));
    /// assert_eq!(err.to_string(), "flushing the log (timed out after 2s)");
    /// ```
    pub fn new(message: impl Into<Cow<'static, str>>, elapsed: Duration) -> Self {
        Elapsed {
            message: message.into(),
            elapsed,
        }
    }

    /// The message given to [`timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let hung = std::future::pending::<()>();
    /// let err = rt.timeout(Duration::from_secs(1), "loading the profile", hung).await;
    /// let err = err.unwrap_err();
    /// assert_eq!(err.message(), "loading the profile");
    /// # });
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How long the operation ran before it was given up, on the runtime's clock.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let hung = std::future::pending::<()>();
    /// let err = rt.timeout(Duration::from_millis(300), "", hung).await.unwrap_err();
    /// assert_eq!(err.elapsed(), Duration::from_millis(300));
    /// assert_eq!(err.to_string(), "timed out after 300ms"); // no message
    /// # });
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The same error with another message.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::time::Elapsed;
    ///
    /// let err = Elapsed::new("", Duration::from_secs(1));
    /// let err = err.with_message("lock `accounts` was not acquired");
    /// assert_eq!(err.message(), "lock `accounts` was not acquired");
    /// assert_eq!(err.elapsed(), Duration::from_secs(1)); // kept
    /// ```
    pub fn with_message(self, message: impl Into<Cow<'static, str>>) -> Self {
        Elapsed {
            message: message.into(),
            ..self
        }
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "timed out after {:?}", self.elapsed)
        } else {
            write!(f, "{} (timed out after {:?})", self.message, self.elapsed)
        }
    }
}

impl std::error::Error for Elapsed {}

/// What a timeout runs by besides its future: the clock, the start and the deadline, and the
/// error to report at expiry. [`Timeout`] owns it ([`Owned`]); the resilience layer's timeout
/// policy borrows it, so its happy path touches no reference count.
pub(crate) trait Limit {
    /// The runtime whose clock the limit is measured on.
    fn runtime(&self) -> &Runtime;
    /// When the limit started counting (the error's elapsed time is measured from it).
    fn start(&self) -> Instant;
    /// When the future is given up.
    fn deadline(&self) -> Instant;
    /// The error at expiry, `elapsed` after the start. Called at most once.
    fn expired(&mut self, elapsed: Duration) -> Elapsed;
}

pin_project_lite::pin_project! {
    /// The one state machine of every timeout, generic over how it holds its [`Limit`]: the
    /// future is polled first, the sleep is created only if it is not ready at once (a timeout
    /// around a ready future never allocates), and at expiry the future is dropped (cancelled)
    /// before the error is returned.
    pub(crate) struct Expiring<F, L> {
        #[pin]
        future: Option<F>,
        limit: L,
        sleep: Option<Pin<Box<dyn Sleep>>>,
    }
}

impl<F, L: Limit> Expiring<F, L> {
    pub(crate) fn new(future: F, limit: L) -> Self {
        Expiring {
            future: Some(future),
            limit,
            sleep: None,
        }
    }

    pub(crate) fn limit(&self) -> &L {
        &self.limit
    }

    /// Polls the future, then the deadline: `Err` once the deadline has passed first.
    ///
    /// # Panics
    ///
    /// Polled again after it returned `Ready`.
    pub(crate) fn poll_expiring(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<F::Output, Elapsed>>
    where
        F: Future,
    {
        let mut this = self.project();
        let future = this
            .future
            .as_mut()
            .as_pin_mut()
            .expect("`Timeout` polled after completion");
        if let Poll::Ready(output) = future.poll(cx) {
            this.future.set(None);
            return Poll::Ready(Ok(output));
        }
        let limit = &*this.limit;
        let sleep = this
            .sleep
            .get_or_insert_with(|| limit.runtime().sleep_until(limit.deadline()));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.future.set(None);
        let limit = &mut *this.limit;
        let elapsed = limit
            .runtime()
            .now()
            .saturating_duration_since(limit.start());
        Poll::Ready(Err(limit.expired(elapsed)))
    }
}

/// The [`Limit`] a [`Timeout`] owns.
pub(crate) struct Owned {
    rt: Runtime,
    start: Instant,
    deadline: Instant,
    message: Cow<'static, str>,
}

impl Limit for Owned {
    fn runtime(&self) -> &Runtime {
        &self.rt
    }

    fn start(&self) -> Instant {
        self.start
    }

    fn deadline(&self) -> Instant {
        self.deadline
    }

    fn expired(&mut self, elapsed: Duration) -> Elapsed {
        Elapsed {
            message: std::mem::take(&mut self.message),
            elapsed,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`timeout`] and [`timeout_at`].
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub struct Timeout<F> {
        #[pin]
        inner: Expiring<F, Owned>,
    }
}

/// Runs `future` with a time limit of `duration` on `rt`'s clock.
///
/// Returns `Ok(output)` if the future completes first, otherwise `Err(Elapsed)` carrying `message`
/// and the time elapsed. At expiry the inner future is **dropped** (cancelled) at once, before the
/// error is returned.
///
/// The inner future is always polled before the clock is checked, so a ready future succeeds even
/// with a zero duration. A duration too large to represent saturates to a deadline decades away.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::time::timeout;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async move {
///     let slow = rt.sleep(Duration::from_secs(10));
///     let err = timeout(&rt, Duration::from_secs(1), "loading the profile", slow)
///         .await
///         .unwrap_err();
///     assert_eq!(err.message(), "loading the profile");
///     assert_eq!(err.elapsed(), Duration::from_secs(1));
/// });
/// ```
///
/// # Cancel safety
///
/// As cancel safe as `future` itself: dropping the `Timeout` drops `future`.
pub fn timeout<F: Future>(
    rt: &Runtime,
    duration: Duration,
    message: impl Into<Cow<'static, str>>,
    future: F,
) -> Timeout<F> {
    let start = rt.now();
    make(
        rt,
        start,
        deadline_after(start, duration),
        message.into(),
        future,
    )
}

/// Runs `future` until `deadline` on `rt`'s clock; see [`timeout`].
///
/// A deadline in the past still lets the future be polled once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::time::timeout_at;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async move {
///     let deadline = rt.now() + Duration::from_secs(5);
///     assert_eq!(timeout_at(&rt, deadline, "", async { 1 }).await, Ok(1));
///     let slow = rt.sleep(Duration::from_secs(10));
///     let err = timeout_at(&rt, deadline, "nightly export", slow).await.unwrap_err();
///     assert_eq!((err.message(), rt.now()), ("nightly export", deadline));
/// });
/// ```
///
/// # Cancel safety
///
/// As cancel safe as `future` itself: dropping the `Timeout` drops `future`.
pub fn timeout_at<F: Future>(
    rt: &Runtime,
    deadline: Instant,
    message: impl Into<Cow<'static, str>>,
    future: F,
) -> Timeout<F> {
    make(rt, rt.now(), deadline, message.into(), future)
}

fn make<F>(
    rt: &Runtime,
    start: Instant,
    deadline: Instant,
    message: Cow<'static, str>,
    future: F,
) -> Timeout<F> {
    let limit = Owned {
        rt: rt.clone(),
        start,
        deadline,
        message,
    };
    Timeout {
        inner: Expiring::new(future, limit),
    }
}

impl<F> Timeout<F> {
    /// The instant at which the future is given up.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use uno_core::rt::VirtualRuntime;
    /// use uno_core::time::timeout;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let fetch = timeout(&rt, Duration::from_secs(2), "fetch", async { "page" });
    /// assert_eq!(fetch.deadline(), rt.now() + Duration::from_secs(2));
    /// assert_eq!(vrt.block_on(fetch), Ok("page"));
    /// ```
    pub fn deadline(&self) -> Instant {
        self.inner.limit().deadline
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll_expiring(cx)
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limit = self.inner.limit();
        f.debug_struct("Timeout")
            .field("deadline", &limit.deadline)
            .field("message", &limit.message)
            .finish_non_exhaustive()
    }
}
