//! Extension methods for a single future: the single-future decorators.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use crate::rt::Runtime;
use crate::sync::{Cancellable, CancellationToken};
use crate::time::Timeout;

/// `.timeout(..)` and `.cancellable(..)` on any future (Uno's `@timeout_handler` and
/// `@cancellable` for one call). Named so it does not clash with the `FutureExt` traits of
/// futures-rs or futures-lite.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::ResilienceExt;
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::sync::{Cancelled, CancellationToken};
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async move {
///     let slow = rt.sleep(Duration::from_secs(10));
///     let err = slow.timeout(&rt, Duration::from_secs(1), "warming the cache").await.unwrap_err();
///     assert_eq!(err.message(), "warming the cache");
///
///     let token = CancellationToken::new();
///     token.cancel();
///     assert_eq!(async { 1 }.cancellable(&token).await, Err(Cancelled));
/// });
/// ```
pub trait ResilienceExt: Future + Sized {
    /// Gives up on this future after `duration` on `rt`'s clock; see [`crate::time::timeout`].
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as this future: dropping the `Timeout` drops it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::resilience::ResilienceExt;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let quick = async { "pong" }.timeout(&rt, Duration::from_secs(1), "ping").await;
    /// assert_eq!(quick, Ok("pong"));
    /// let hung = std::future::pending::<()>().timeout(&rt, Duration::from_secs(1), "ping");
    /// assert_eq!(hung.await.unwrap_err().message(), "ping");
    /// # });
    /// ```
    fn timeout(
        self,
        rt: &Runtime,
        duration: Duration,
        message: impl Into<Cow<'static, str>>,
    ) -> Timeout<Self> {
        crate::time::timeout(rt, duration, message, self)
    }

    /// Stops this future when `token` is cancelled; see [`crate::sync::cancellable`].
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as this future: dropping the `Cancellable` drops it.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use uno_core::resilience::ResilienceExt;
    /// use uno_core::sync::{CancellationToken, Cancelled};
    ///
    /// let token = CancellationToken::new();
    /// assert_eq!(async { 1 }.cancellable(&token).await, Ok(1));
    /// token.cancel();
    /// let stuck = std::future::pending::<i32>().cancellable(&token);
    /// assert_eq!(stuck.await, Err(Cancelled));
    /// # });
    /// ```
    fn cancellable(self, token: &CancellationToken) -> Cancellable<Self> {
        crate::sync::cancellable(token, self)
    }
}

impl<F: Future> ResilienceExt for F {}
