//! The errors of the resilience policies: one [`ResilienceError`] for every policy (so policies
//! compose without nesting error types), and [`ConfigError`] for a bad configuration.

use std::fmt;
use std::time::Duration;

use crate::sync::Cancelled;
use crate::time::Elapsed;

/// Why a call run through a resilience policy produced no value.
///
/// `E` is the operation's own error. Every policy returns this one type, and a policy that runs an
/// operation which already returns `Result<T, ResilienceError<E>>` (through a `run_flat` method)
/// passes its errors through unchanged, so stacking policies never yields
/// `ResilienceError<ResilienceError<E>>`.
///
/// # Examples
///
/// ```
/// use uno_core::resilience::ResilienceError;
///
/// let err: ResilienceError<&str> = ResilienceError::Inner("disk full");
/// assert!(err.is_inner());
/// assert_eq!(err.into_inner(), Some("disk full"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ResilienceError<E> {
    /// The operation itself failed with its own error.
    Inner(E),
    /// The operation (one attempt, or the whole call) did not finish in time. Carries the
    /// `timeout_handler` message and the time elapsed.
    Timeout(Elapsed),
    /// A non-waiting rate-limit check refused the call; try again after `retry_after`.
    RateLimited {
        /// How long to wait before the limiter would admit the call.
        retry_after: Duration,
    },
    /// The bulkhead refused the call: its queue was full or the wait for a slot was too long.
    Rejected(BulkheadRejected),
    /// The circuit breaker is open (or half-open with every probe slot taken): the operation was
    /// not called.
    CircuitOpen {
        /// When the breaker will let a probe through, if known (`None` while probes are running).
        retry_after: Option<Duration>,
    },
    /// The call was cancelled through its [`CancellationToken`](crate::sync::CancellationToken).
    /// A cancellation is never counted as a failure by any policy.
    Cancelled,
    /// Retrying gave up: attempts, the total deadline or the retry budget ran out.
    RetriesExhausted {
        /// How many attempts were made (at most `max_attempts`). In a
        /// [`Pipeline`](super::Pipeline) this includes attempts that its breaker or bulkhead
        /// refused before the operation was called (see
        /// [`RetryStats::refused`](super::RetryStats::refused)); elsewhere each attempt is one
        /// call of the operation.
        attempts: u32,
        /// The error of the last attempt.
        last: Box<ResilienceError<E>>,
    },
}

impl<E> ResilienceError<E> {
    /// Whether the operation itself reported this error ([`Inner`](Self::Inner)).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::ResilienceError;
    ///
    /// let failed: ResilienceError<&str> = ResilienceError::Inner("404");
    /// assert!(failed.is_inner());
    /// let refused: ResilienceError<&str> = ResilienceError::CircuitOpen { retry_after: None };
    /// assert!(!refused.is_inner()); // the operation was never called
    /// ```
    pub fn is_inner(&self) -> bool {
        matches!(self, ResilienceError::Inner(_))
    }

    /// Whether this is a [`Timeout`](Self::Timeout), or retries that gave up after a timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::resilience::ResilienceError;
    /// use uno_core::time::Elapsed;
    ///
    /// let slow: ResilienceError<()> = Elapsed::new(Duration::from_secs(5)).into();
    /// assert!(slow.is_timeout());
    /// let gave_up = ResilienceError::RetriesExhausted { attempts: 3, last: Box::new(slow) };
    /// assert!(gave_up.is_timeout()); // looks through to the last attempt
    /// assert!(!ResilienceError::Inner(()).is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        match self {
            ResilienceError::Timeout(_) => true,
            ResilienceError::RetriesExhausted { last, .. } => last.is_timeout(),
            _ => false,
        }
    }

    /// Whether the call was cancelled (looking through [`RetriesExhausted`](Self::RetriesExhausted)
    /// to the last attempt's error, as [`is_timeout`](Self::is_timeout) does).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use uno_core::resilience::{ResilienceError, ResilienceExt};
    /// use uno_core::sync::CancellationToken;
    ///
    /// let token = CancellationToken::new();
    /// token.cancel();
    /// let out = async { 1 }.cancellable(&token).await;
    /// let err: ResilienceError<()> = out.unwrap_err().into(); // from `Cancelled`
    /// assert!(err.is_cancelled());
    /// # });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        match self {
            ResilienceError::Cancelled => true,
            ResilienceError::RetriesExhausted { last, .. } => last.is_cancelled(),
            _ => false,
        }
    }

    /// Whether a policy refused the call without running the operation (rate limited, bulkhead
    /// rejection or open circuit), looking through
    /// [`RetriesExhausted`](Self::RetriesExhausted) to the last attempt's error.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::resilience::ResilienceError;
    ///
    /// let retry_after = Duration::from_millis(100);
    /// let limited: ResilienceError<()> = ResilienceError::RateLimited { retry_after };
    /// assert!(limited.is_rejected());
    /// assert!(!ResilienceError::Inner(()).is_rejected());
    /// assert!(!ResilienceError::<()>::Cancelled.is_rejected());
    /// let exhausted = ResilienceError::RetriesExhausted { attempts: 3, last: Box::new(limited) };
    /// assert!(exhausted.is_rejected());
    /// ```
    pub fn is_rejected(&self) -> bool {
        match self {
            ResilienceError::RateLimited { .. }
            | ResilienceError::Rejected(_)
            | ResilienceError::CircuitOpen { .. } => true,
            ResilienceError::RetriesExhausted { last, .. } => last.is_rejected(),
            _ => false,
        }
    }

    /// How many attempts were made, when retries gave up.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::ResilienceError;
    ///
    /// let last = Box::new(ResilienceError::Inner("503"));
    /// let gave_up = ResilienceError::RetriesExhausted { attempts: 3, last };
    /// assert_eq!(gave_up.attempts(), Some(3));
    /// assert_eq!(ResilienceError::Inner("503").attempts(), None); // no retry involved
    /// ```
    pub fn attempts(&self) -> Option<u32> {
        match self {
            ResilienceError::RetriesExhausted { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }

    /// The operation's own error: from [`Inner`](Self::Inner), or from the last attempt of
    /// [`RetriesExhausted`](Self::RetriesExhausted).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::ResilienceError;
    ///
    /// let last = Box::new(ResilienceError::Inner("503"));
    /// let gave_up = ResilienceError::RetriesExhausted { attempts: 3, last };
    /// assert_eq!(gave_up.into_inner(), Some("503")); // the last attempt's error
    /// assert_eq!(ResilienceError::<&str>::Cancelled.into_inner(), None);
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            ResilienceError::Inner(e) => Some(e),
            ResilienceError::RetriesExhausted { last, .. } => last.into_inner(),
            _ => None,
        }
    }

    /// A reference to the operation's own error, as [`into_inner`](Self::into_inner).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::ResilienceError;
    ///
    /// let err = ResilienceError::Inner(std::io::ErrorKind::NotFound);
    /// assert_eq!(err.inner(), Some(&std::io::ErrorKind::NotFound));
    /// assert!(err.is_inner()); // still usable: only borrowed
    /// ```
    pub fn inner(&self) -> Option<&E> {
        match self {
            ResilienceError::Inner(e) => Some(e),
            ResilienceError::RetriesExhausted { last, .. } => last.inner(),
            _ => None,
        }
    }

    /// How long the policy suggests waiting before calling again, when it knows.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::resilience::ResilienceError;
    ///
    /// let retry_after = Some(Duration::from_secs(30));
    /// let open: ResilienceError<()> = ResilienceError::CircuitOpen { retry_after };
    /// assert_eq!(open.retry_after(), Some(Duration::from_secs(30)));
    /// let probing: ResilienceError<()> = ResilienceError::CircuitOpen { retry_after: None };
    /// assert_eq!(probing.retry_after(), None); // probes are running: unknown
    /// assert_eq!(ResilienceError::Inner(()).retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ResilienceError::RateLimited { retry_after } => Some(*retry_after),
            ResilienceError::CircuitOpen { retry_after } => *retry_after,
            _ => None,
        }
    }
}

impl<E> From<Elapsed> for ResilienceError<E> {
    fn from(e: Elapsed) -> Self {
        ResilienceError::Timeout(e)
    }
}

impl<E> From<Cancelled> for ResilienceError<E> {
    fn from(_: Cancelled) -> Self {
        ResilienceError::Cancelled
    }
}

impl<E> From<BulkheadRejected> for ResilienceError<E> {
    fn from(e: BulkheadRejected) -> Self {
        ResilienceError::Rejected(e)
    }
}

impl<E> From<RetryAfter> for ResilienceError<E> {
    fn from(e: RetryAfter) -> Self {
        ResilienceError::RateLimited {
            retry_after: e.retry_after,
        }
    }
}

impl<E> From<CircuitOpen> for ResilienceError<E> {
    fn from(e: CircuitOpen) -> Self {
        ResilienceError::CircuitOpen {
            retry_after: e.retry_after,
        }
    }
}

impl<E: fmt::Display> fmt::Display for ResilienceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResilienceError::Inner(e) => e.fmt(f),
            ResilienceError::Timeout(e) => e.fmt(f),
            ResilienceError::RateLimited { retry_after } => write!(
                f,
                "rate limit reached; try again in {retry_after:?} or use the waiting `acquire`"
            ),
            ResilienceError::Rejected(e) => e.fmt(f),
            ResilienceError::CircuitOpen {
                retry_after: Some(d),
            } => write!(
                f,
                "circuit breaker is open; the operation was not called. Try again in {d:?}"
            ),
            ResilienceError::CircuitOpen { retry_after: None } => f.write_str(
                "circuit breaker is half-open and all probe slots are taken; \
                 the operation was not called. Try again shortly",
            ),
            ResilienceError::Cancelled => f.write_str("the operation was cancelled"),
            ResilienceError::RetriesExhausted { attempts, last } => {
                write!(f, "gave up after {attempts} attempt(s); last error: {last}")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ResilienceError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ResilienceError::Inner(e) => Some(e),
            ResilienceError::Timeout(e) => Some(e),
            ResilienceError::Rejected(e) => Some(e),
            ResilienceError::RetriesExhausted { last, .. } => Some(&**last),
            _ => None,
        }
    }
}

/// Why a [`Bulkhead`](super::Bulkhead) refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BulkheadRejected {
    /// Every slot was busy and the queue already held `max_queue` waiters.
    QueueFull {
        /// The configured queue bound.
        max_queue: usize,
    },
    /// The call waited `max_wait` for a slot without getting one.
    MaxWait {
        /// The configured maximum wait.
        max_wait: Duration,
    },
}

impl fmt::Display for BulkheadRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BulkheadRejected::QueueFull { max_queue } => write!(
                f,
                "bulkhead is full and its queue holds {max_queue} waiter(s) already; \
                 shed load or raise max_concurrent/max_queue"
            ),
            BulkheadRejected::MaxWait { max_wait } => write!(
                f,
                "no bulkhead slot became free within {max_wait:?}; \
                 shed load or raise max_concurrent/max_wait"
            ),
        }
    }
}

impl std::error::Error for BulkheadRejected {}

/// A [`RateLimiter::try_acquire`](super::RateLimiter::try_acquire) refusal: when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    /// How long until the limiter would admit one more call (if no one else takes it first).
    pub retry_after: Duration,
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limit reached; try again in {:?} or use the waiting `acquire`",
            self.retry_after
        )
    }
}

impl std::error::Error for RetryAfter {}

/// A [`CircuitBreaker::try_acquire`](super::CircuitBreaker::try_acquire) refusal: the breaker is
/// open, or half-open with all its probe slots taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitOpen {
    /// When the breaker will let a probe through, if known.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.retry_after {
            Some(d) => write!(f, "circuit breaker is open; try again in {d:?}"),
            None => f.write_str(
                "circuit breaker is half-open and all probe slots are taken; try again shortly",
            ),
        }
    }
}

impl std::error::Error for CircuitOpen {}

/// A policy builder was given a configuration that cannot work. Returned by every `build()` in
/// [`resilience`](super), never a panic.
///
/// # Examples
///
/// ```
/// use uno_core::resilience::{ConfigError, RateLimiter};
///
/// let err = RateLimiter::per_second(0).build().unwrap_err();
/// assert_eq!(err, ConfigError::Zero { what: "rate limiter operations per period" });
/// println!("{err}"); // says what to change
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A count or duration that must be positive was zero (`what` names the setting).
    Zero {
        /// The setting.
        what: &'static str,
    },
    /// A ratio was NaN or outside its range (`(0, 1]` for failure-rate thresholds, finite and
    /// positive for the retry budget's deposit ratio).
    InvalidRatio {
        /// The setting.
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// An exponential backoff factor was NaN, infinite or below 1.
    InvalidFactor {
        /// The value given.
        value: f64,
    },
    /// A backoff's base (minimum) delay was larger than its maximum delay.
    InvertedDelays {
        /// The base (minimum) delay.
        min: Duration,
        /// The maximum delay.
        max: Duration,
    },
    /// The rate is so high that one operation would be allowed every zero nanoseconds.
    RateTooHigh {
        /// Operations per period.
        operations: u32,
        /// The period.
        period: Duration,
    },
    /// A circuit breaker's minimum number of calls exceeds its count-based window, so the
    /// failure rate could never be evaluated.
    MinimumCallsExceedWindow {
        /// The minimum number of calls.
        minimum_calls: u32,
        /// The window size.
        window: u32,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Zero { what } => write!(f, "{what} must be greater than zero"),
            ConfigError::InvalidRatio { what, value } => write!(
                f,
                "{what} is {value}; use a finite number in the documented range \
                 (a failure-rate threshold must lie in (0, 1])"
            ),
            ConfigError::InvalidFactor { value } => write!(
                f,
                "exponential backoff factor is {value}; use a finite factor of at least 1 \
                 (2.0 doubles each delay)"
            ),
            ConfigError::InvertedDelays { min, max } => write!(
                f,
                "backoff base delay {min:?} is larger than its maximum delay {max:?}; \
                 raise max_delay or lower the base"
            ),
            ConfigError::RateTooHigh { operations, period } => write!(
                f,
                "{operations} operations per {period:?} is below one nanosecond per operation; \
                 use a longer period or a burst"
            ),
            ConfigError::MinimumCallsExceedWindow {
                minimum_calls,
                window,
            } => write!(
                f,
                "minimum_calls ({minimum_calls}) exceeds the count window ({window}), so the \
                 breaker could never open; lower minimum_calls or widen the window"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
