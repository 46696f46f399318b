//! [`timeout`], [`timeout_at`] and their future, [`Timeout`], which owns its limit.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::expiring::{Expiring, Limit};
use super::{Elapsed, deadline_after};
use crate::rt::Runtime;

/// The [`Limit`] a [`Timeout`] owns.
pub(crate) struct Owned {
    rt: Runtime,
    start: Instant,
    /// The configured limit, for the error (the deadline may have saturated).
    limit: Duration,
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
        Elapsed::new(self.limit)
            .with_message(std::mem::take(&mut self.message))
            .with_elapsed(elapsed)
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
/// (what timed out, such as `"fetching the quote"`), the limit and the time elapsed. At expiry the inner future is **dropped** (cancelled) at once, before the
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
///     assert_eq!(err.limit(), Duration::from_secs(1));
///     assert_eq!(err.to_string(), "loading the profile: timed out after 1s");
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
        duration,
        deadline_after(start, duration),
        message.into(),
        future,
    )
}

/// Runs `future` until `deadline` on `rt`'s clock; see [`timeout`].
///
/// A deadline in the past still lets the future be polled once. The error's
/// [`limit`](Elapsed::limit) is the time from this call to `deadline` (zero if it has passed).
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
    let start = rt.now();
    let limit = deadline.saturating_duration_since(start);
    make(rt, start, limit, deadline, message.into(), future)
}

fn make<F>(
    rt: &Runtime,
    start: Instant,
    limit: Duration,
    deadline: Instant,
    message: Cow<'static, str>,
    future: F,
) -> Timeout<F> {
    let limit = Owned {
        rt: rt.clone(),
        start,
        limit,
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
            .field("limit", &limit.limit)
            .field("deadline", &limit.deadline)
            .field("message", &limit.message)
            .finish_non_exhaustive()
    }
}
