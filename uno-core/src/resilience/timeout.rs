//! The timeout policy: Uno's `@timeout_handler(seconds, message)` as a reusable value.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use crate::resilience::{ConfigError, ResilienceError};
use crate::rt::Runtime;

/// A time limit and the message reported when it is exceeded (Uno's `timeout_handler`).
///
/// Used alone through [`run`](Self::run), or in a [`Pipeline`](super::Pipeline) as the overall
/// limit or the per-attempt limit. At expiry the operation's future is dropped (cancelled).
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
///     assert_eq!(err.to_string(), "fetching the invoice (timed out after 5s)");
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
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The message of the [`Elapsed`](crate::time::Elapsed) error.
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
    pub async fn run_flat<T, E, F, Fut>(&self, rt: &Runtime, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        self.limit(rt, op()).await
    }

    /// Applies the limit to a future. The message is attached only on expiry, so the happy path
    /// does not clone an owned message.
    pub(crate) async fn limit<T, E, Fut>(
        &self,
        rt: &Runtime,
        fut: Fut,
    ) -> Result<T, ResilienceError<E>>
    where
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        match rt.timeout(self.duration, "", fut).await {
            Ok(result) => result,
            Err(elapsed) => {
                super::event!(message = %self.message, "operation timed out");
                Err(ResilienceError::Timeout(
                    elapsed.with_message(self.message.clone()),
                ))
            }
        }
    }
}
