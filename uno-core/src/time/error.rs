//! [`Elapsed`]: the error of a timeout.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// The error of a [`timeout`](super::timeout): the operation did not finish in time.
///
/// Carries the configured [`limit`](Self::limit), how long the operation actually ran
/// ([`elapsed`](Self::elapsed), at least the limit, more if its executor was late), and the
/// caller's [`message`](Self::message) (the Uno `timeout_handler` message), which says what timed
/// out. `Display` shows the message and the limit: `fetching the quote: timed out after 100ms`,
/// or `timed out after 100ms` without a message.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// # vrt.block_on(async move {
/// let quote = std::future::pending::<u32>();
/// let err = rt.timeout(Duration::from_millis(100), "fetching the quote", quote).await.unwrap_err();
/// assert_eq!(err.limit(), Duration::from_millis(100));
/// assert_eq!(err.to_string(), "fetching the quote: timed out after 100ms");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elapsed {
    message: Cow<'static, str>,
    limit: Duration,
    elapsed: Duration,
}

impl Elapsed {
    /// A time limit of `limit` that passed, for code that enforces its own deadlines: no message,
    /// and an elapsed time of exactly `limit` until [`with_elapsed`](Self::with_elapsed) says
    /// otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::time::Elapsed;
    ///
    /// let err = Elapsed::new(Duration::from_secs(2))
    ///     .with_message("flushing the log")
    ///     .with_elapsed(Duration::from_millis(2050));
    /// assert_eq!(err.to_string(), "flushing the log: timed out after 2s");
    /// assert_eq!(err.elapsed(), Duration::from_millis(2050));
    /// ```
    pub fn new(limit: Duration) -> Self {
        Elapsed {
            message: Cow::Borrowed(""),
            limit,
            elapsed: limit,
        }
    }

    /// The message given to [`timeout`](super::timeout): what timed out (empty if none was given).
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

    /// The configured time limit: the duration given to [`timeout`](super::timeout), or, for
    /// [`timeout_at`](super::timeout_at), the time from the call to the deadline.
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
    /// assert_eq!(err.limit(), Duration::from_millis(300));
    /// assert_eq!(err.to_string(), "timed out after 300ms"); // no message
    /// # });
    /// ```
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// How long the operation ran before it was given up, on the runtime's clock: at least the
    /// [`limit`](Self::limit), more when the executor polled the timeout late.
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
    /// assert_eq!(err.elapsed(), Duration::from_millis(300)); // virtual time is never late
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
    /// let err = Elapsed::new(Duration::from_secs(1)).with_message("locking `accounts`");
    /// assert_eq!(err.message(), "locking `accounts`");
    /// assert_eq!(err.limit(), Duration::from_secs(1)); // kept
    /// ```
    pub fn with_message(self, message: impl Into<Cow<'static, str>>) -> Self {
        Elapsed {
            message: message.into(),
            ..self
        }
    }

    /// The same error with another elapsed time.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::time::Elapsed;
    ///
    /// let err = Elapsed::new(Duration::from_secs(1)).with_elapsed(Duration::from_secs(3));
    /// assert_eq!(err.elapsed(), Duration::from_secs(3));
    /// assert_eq!(err.to_string(), "timed out after 1s"); // the limit, not the wait
    /// ```
    pub fn with_elapsed(self, elapsed: Duration) -> Self {
        Elapsed { elapsed, ..self }
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.message.is_empty() {
            write!(f, "{}: ", self.message)?;
        }
        write!(f, "timed out after {:?}", self.limit)
    }
}

impl std::error::Error for Elapsed {}
