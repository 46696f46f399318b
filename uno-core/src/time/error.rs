//! [`Elapsed`]: the error of a timeout.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// The error of a [`timeout`](super::timeout): the operation did not finish in time.
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

    /// The message given to [`timeout`](super::timeout).
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
