//! The errors of the resilience policies: one [`ResilienceError`] for every policy (so policies
//! compose without nesting error types), and [`ConfigError`] for a bad configuration.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{LimitError, LimitUnavailable};
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
    /// A non-waiting rate-limit check refused the call; try again after its `retry_after`.
    RateLimited(RetryAfter),
    /// The bulkhead refused the call: its queue was full or the wait for a slot was too long.
    Rejected(BulkheadRejected),
    /// A rate limit's shared state could not be asked (a fail-closed remote limiter whose server
    /// is down or slow): the operation was not called. Not a refusal by the limit itself, so
    /// [`is_rejected`](Self::is_rejected) is false; see [`is_unavailable`](Self::is_unavailable).
    Unavailable(LimitUnavailable),
    /// The circuit breaker is open (or half-open with every probe slot taken): the operation was
    /// not called.
    CircuitOpen(CircuitOpen),
    /// The call was cancelled through its [`CancellationToken`](crate::sync::CancellationToken).
    /// A cancellation is never counted as a failure by any policy.
    Cancelled,
    /// Retrying gave up: attempts, the total deadline or the retry budget ran out.
    RetriesExhausted {
        /// The name of the [`Retry`](super::Retry) that gave up.
        name: Arc<str>,
        /// How many attempts were made (at most `max_attempts`). In a
        /// [`Pipeline`](super::Pipeline) this includes attempts that its breaker or bulkhead
        /// refused before the operation was called (see
        /// [`RetryStats::refused`](super::RetryStats::refused)); elsewhere each attempt is one
        /// call of the operation.
        attempts: u32,
        /// The error of the last attempt (also the [`source`](std::error::Error::source)).
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
    /// let refused: ResilienceError<&str> = ResilienceError::Cancelled;
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
    /// let gave_up = ResilienceError::RetriesExhausted {
    ///     name: "retry".into(),
    ///     attempts: 3,
    ///     last: Box::new(slow),
    /// };
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
    /// use uno_core::resilience::RetryAfter;
    ///
    /// let limited: ResilienceError<()> = RetryAfter::new("api", Duration::from_millis(100)).into();
    /// assert!(limited.is_rejected());
    /// assert!(!ResilienceError::Inner(()).is_rejected());
    /// assert!(!ResilienceError::<()>::Cancelled.is_rejected());
    /// let last = Box::new(limited);
    /// let exhausted = ResilienceError::RetriesExhausted { name: "retry".into(), attempts: 3, last };
    /// assert!(exhausted.is_rejected());
    /// ```
    pub fn is_rejected(&self) -> bool {
        match self {
            ResilienceError::RateLimited(_)
            | ResilienceError::Rejected(_)
            | ResilienceError::CircuitOpen(_) => true,
            ResilienceError::RetriesExhausted { last, .. } => last.is_rejected(),
            _ => false,
        }
    }

    /// Whether a rate limit could not be asked ([`Unavailable`](Self::Unavailable)), looking
    /// through [`RetriesExhausted`](Self::RetriesExhausted) to the last attempt's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{LimitUnavailable, ResilienceError};
    ///
    /// let down: ResilienceError<()> = LimitUnavailable::new("api", "connection refused").into();
    /// assert!(down.is_unavailable());
    /// assert!(!down.is_rejected()); // the limit did not refuse: it could not be asked
    /// assert!(!ResilienceError::Inner(()).is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        match self {
            ResilienceError::Unavailable(_) => true,
            ResilienceError::RetriesExhausted { last, .. } => last.is_unavailable(),
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
    /// let gave_up = ResilienceError::RetriesExhausted { name: "retry".into(), attempts: 3, last };
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
    /// let gave_up = ResilienceError::RetriesExhausted { name: "retry".into(), attempts: 3, last };
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
    /// use uno_core::resilience::RetryAfter;
    ///
    /// let limited: ResilienceError<()> = RetryAfter::new("api", Duration::from_secs(30)).into();
    /// assert_eq!(limited.retry_after(), Some(Duration::from_secs(30)));
    /// assert_eq!(ResilienceError::Inner(()).retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ResilienceError::RateLimited(e) => Some(e.retry_after),
            ResilienceError::CircuitOpen(e) => e.retry_after,
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
        ResilienceError::RateLimited(e)
    }
}

impl<E> From<LimitUnavailable> for ResilienceError<E> {
    fn from(e: LimitUnavailable) -> Self {
        ResilienceError::Unavailable(e)
    }
}

/// [`LimitError::RateLimited`] becomes [`RateLimited`](ResilienceError::RateLimited),
/// [`LimitError::Unavailable`] becomes [`Unavailable`](ResilienceError::Unavailable).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::{LimitError, ResilienceError, RetryAfter};
///
/// let refused = LimitError::RateLimited(RetryAfter::new("api", Duration::from_secs(2)));
/// let err: ResilienceError<()> = refused.into();
/// assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
/// ```
impl<E> From<LimitError> for ResilienceError<E> {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::RateLimited(e) => ResilienceError::RateLimited(e),
            LimitError::Unavailable(e) => ResilienceError::Unavailable(e),
        }
    }
}

impl<E> From<CircuitOpen> for ResilienceError<E> {
    fn from(e: CircuitOpen) -> Self {
        ResilienceError::CircuitOpen(e)
    }
}

/// `circuit breaker` or `circuit breaker "payments"`: a policy's kind, and its name when it was
/// given one (a policy left with its default name is not quoted back to the reader).
pub(crate) struct Subject<'a> {
    pub(crate) kind: &'static str,
    pub(crate) default: &'static str,
    pub(crate) name: &'a str,
}

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name == self.default {
            f.write_str(self.kind)
        } else {
            write!(f, "{} {:?}", self.kind, self.name)
        }
    }
}

/// Displays the error, following std's rule: an inner error is shown by `Display` or returned by
/// `source()`, never both.
///
/// - The operation's own error ([`Inner`](Self::Inner)) and each policy's own refusal pass
///   through: `Display` is theirs, and so is `source()`.
/// - [`RetriesExhausted`](Self::RetriesExhausted) says only that retrying gave up
///   (`retry gave up after 3 attempts`); the last attempt's error is its `source()`.
impl<E: fmt::Display> fmt::Display for ResilienceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResilienceError::Inner(e) => e.fmt(f),
            ResilienceError::Timeout(e) => e.fmt(f),
            ResilienceError::RateLimited(e) => e.fmt(f),
            ResilienceError::Rejected(e) => e.fmt(f),
            ResilienceError::Unavailable(e) => e.fmt(f),
            ResilienceError::CircuitOpen(e) => e.fmt(f),
            ResilienceError::Cancelled => f.write_str("operation cancelled"),
            ResilienceError::RetriesExhausted { name, attempts, .. } => {
                let retry = Subject {
                    kind: "retry",
                    default: "retry",
                    name,
                };
                let plural = if *attempts == 1 { "" } else { "s" };
                write!(f, "{retry} gave up after {attempts} attempt{plural}")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ResilienceError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: the inner error's Display is ours, so its source is ours too.
            ResilienceError::Inner(e) => e.source(),
            ResilienceError::Unavailable(e) => e.source(),
            ResilienceError::RetriesExhausted { last, .. } => Some(&**last),
            _ => None,
        }
    }
}

/// Why a [`Bulkhead`](super::Bulkhead) refused a call. Each variant carries the bulkhead's
/// [`name`](Self::name).
///
/// # Examples
///
/// ```
/// use uno_core::resilience::{Bulkhead, BulkheadRejected};
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// # vrt.block_on(async move {
///
/// let bulkhead = Bulkhead::builder(&rt, 1).name("db").max_queue(0).build().unwrap();
/// let _busy = bulkhead.try_acquire().unwrap();
/// let err = bulkhead.acquire().await.unwrap_err();
/// assert!(matches!(err, BulkheadRejected::QueueFull { max_queue: 0, .. }));
/// assert_eq!(err.name(), "db");
/// assert_eq!(err.to_string(), r#"bulkhead "db" is full"#);
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BulkheadRejected {
    /// Every slot was busy and the queue already held `max_queue` waiters.
    #[non_exhaustive]
    QueueFull {
        /// The bulkhead's name.
        name: Arc<str>,
        /// The configured queue bound.
        max_queue: usize,
    },
    /// The call waited `max_wait` for a slot without getting one.
    #[non_exhaustive]
    MaxWait {
        /// The bulkhead's name.
        name: Arc<str>,
        /// The configured maximum wait.
        max_wait: Duration,
    },
}

impl BulkheadRejected {
    /// The name of the bulkhead that refused the call.
    pub fn name(&self) -> &str {
        match self {
            BulkheadRejected::QueueFull { name, .. } | BulkheadRejected::MaxWait { name, .. } => {
                name
            }
        }
    }
}

impl fmt::Display for BulkheadRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bulkhead = Subject {
            kind: "bulkhead",
            default: "bulkhead",
            name: self.name(),
        };
        match self {
            BulkheadRejected::QueueFull { max_queue: 0, .. } => write!(f, "{bulkhead} is full"),
            BulkheadRejected::QueueFull { max_queue, .. } => {
                write!(f, "{bulkhead} and its queue of {max_queue} are full")
            }
            BulkheadRejected::MaxWait { max_wait, .. } => {
                write!(f, "{bulkhead} had no free slot within {max_wait:?}")
            }
        }
    }
}

impl std::error::Error for BulkheadRejected {}

/// A [`RateLimiter`](super::RateLimiter) refusal: when to try again.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::RateLimiter;
/// # use uno_core::rt::VirtualRuntime;
/// # let rt = VirtualRuntime::new().handle();
///
/// let limiter = RateLimiter::builder(&rt, 1, Duration::from_secs(1)).name("api").build().unwrap();
/// limiter.try_acquire().unwrap();
/// let refused = limiter.try_acquire().unwrap_err();
/// assert_eq!(refused.retry_after, Duration::from_secs(1));
/// assert_eq!(&*refused.name, "api");
/// assert_eq!(refused.to_string(), r#"rate limiter "api" refused the call (retry after 1s)"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryAfter {
    /// The name of the limiter that refused the call.
    pub name: Arc<str>,
    /// How long until the limiter would admit one more call (if no one else takes it first).
    pub retry_after: Duration,
}

impl RetryAfter {
    /// A refusal by the rate limiter (or remote service) `name`, for an operation that reports
    /// its own overload so that a [`Retry`](super::Retry) waits `retry_after` before trying again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ResilienceError, RetryAfter};
    ///
    /// // A server answered 429 with `Retry-After: 2`.
    /// let err: ResilienceError<()> = RetryAfter::new("billing-api", Duration::from_secs(2)).into();
    /// assert!(err.is_rejected());
    /// assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    /// ```
    pub fn new(name: impl Into<Arc<str>>, retry_after: Duration) -> Self {
        RetryAfter {
            name: name.into(),
            retry_after,
        }
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limiter = Subject {
            kind: "rate limiter",
            default: "rate_limiter",
            name: &self.name,
        };
        write!(
            f,
            "{limiter} refused the call (retry after {:?})",
            self.retry_after
        )
    }
}

impl std::error::Error for RetryAfter {}

/// A [`CircuitBreaker`](super::CircuitBreaker) refusal: the breaker is open, or half-open with
/// all its probe slots taken.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::CircuitBreaker;
/// # use uno_core::rt::VirtualRuntime;
/// # let rt = VirtualRuntime::new().handle();
///
/// let breaker = CircuitBreaker::builder(&rt)
///     .name("payments")
///     .count_window(1)
///     .minimum_calls(1)
///     .build()
///     .unwrap();
/// breaker.try_acquire().unwrap().failure();
/// let refused = breaker.try_acquire().unwrap_err();
/// assert_eq!(refused.retry_after, Some(Duration::from_secs(30)));
/// assert_eq!(refused.to_string(), r#"circuit breaker "payments" is open"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CircuitOpen {
    /// The name of the breaker that refused the call.
    pub name: Arc<str>,
    /// When the breaker will let a probe through, if known (`None` while half-open probes are
    /// running).
    pub retry_after: Option<Duration>,
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let breaker = Subject {
            kind: "circuit breaker",
            default: "circuit_breaker",
            name: &self.name,
        };
        match self.retry_after {
            Some(_) => write!(f, "{breaker} is open"),
            None => write!(f, "{breaker} is half-open with every probe slot taken"),
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
/// # let rt = uno_core::rt::VirtualRuntime::new().handle();
/// let err = RateLimiter::builder(&rt, 0, std::time::Duration::from_secs(1)).build().unwrap_err();
/// assert_eq!(err, ConfigError::Zero { what: "rate limiter operations per period" });
/// assert_eq!(err.to_string(), "rate limiter operations per period must be greater than zero");
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
            ConfigError::InvalidRatio { what, value } => {
                write!(f, "{what} {value} is out of range")
            }
            ConfigError::InvalidFactor { value } => {
                write!(
                    f,
                    "exponential backoff factor {value} is below 1 or not finite"
                )
            }
            ConfigError::InvertedDelays { min, max } => {
                write!(
                    f,
                    "backoff base delay {min:?} exceeds its maximum delay {max:?}"
                )
            }
            ConfigError::RateTooHigh { operations, period } => write!(
                f,
                "{operations} operations per {period:?} is more than one per nanosecond"
            ),
            ConfigError::MinimumCallsExceedWindow {
                minimum_calls,
                window,
            } => write!(
                f,
                "circuit breaker minimum_calls {minimum_calls} exceeds its count window {window}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    /// An operation's error with a cause of its own.
    #[derive(Debug)]
    struct Io(std::io::Error);

    impl fmt::Display for Io {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("reading the ledger failed")
        }
    }

    impl Error for Io {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    /// The messages down the `source()` chain, checking that none repeats the next one.
    fn chain(err: &(dyn Error + 'static)) -> Vec<String> {
        let mut messages = vec![err.to_string()];
        let mut next = err.source();
        while let Some(e) = next {
            let message = e.to_string();
            let previous = messages.last().unwrap();
            assert!(
                !previous.contains(&message),
                "{previous:?} repeats its source {message:?}"
            );
            messages.push(message);
            next = e.source();
        }
        messages
    }

    fn refused() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused")
    }

    #[test]
    fn retries_exhausted_says_the_context_and_returns_the_last_error_as_its_source() {
        let err = ResilienceError::RetriesExhausted {
            name: "ledger".into(),
            attempts: 3,
            last: Box::new(ResilienceError::Inner(Io(refused()))),
        };
        assert_eq!(
            chain(&err),
            [
                r#"retry "ledger" gave up after 3 attempts"#,
                "reading the ledger failed",
                "connection refused",
            ]
        );
    }

    #[test]
    fn the_operations_error_passes_through_display_and_source() {
        let err = ResilienceError::Inner(Io(refused()));
        assert_eq!(
            chain(&err),
            ["reading the ledger failed", "connection refused"]
        );
        let bare: ResilienceError<std::io::Error> = ResilienceError::Inner(refused());
        assert_eq!(chain(&bare), ["connection refused"]);
        let one = ResilienceError::<std::io::Error>::RetriesExhausted {
            name: "retry".into(),
            attempts: 1,
            last: Box::new(bare),
        };
        assert_eq!(
            chain(&one),
            ["retry gave up after 1 attempt", "connection refused"]
        );
    }

    #[test]
    fn refusals_name_their_policy_and_have_no_source() {
        let open = CircuitOpen {
            name: "payments".into(),
            retry_after: Some(Duration::from_secs(30)),
        };
        let probing = CircuitOpen {
            name: "circuit_breaker".into(),
            retry_after: None,
        };
        let limited = RetryAfter::new("api", Duration::from_millis(100));
        let full = BulkheadRejected::QueueFull {
            name: "db".into(),
            max_queue: 4,
        };
        let waited = BulkheadRejected::MaxWait {
            name: "bulkhead".into(),
            max_wait: Duration::from_secs(2),
        };
        let errors: [(ResilienceError<std::io::Error>, &str); 6] = [
            (open.into(), r#"circuit breaker "payments" is open"#),
            (
                probing.into(),
                "circuit breaker is half-open with every probe slot taken",
            ),
            (
                limited.into(),
                r#"rate limiter "api" refused the call (retry after 100ms)"#,
            ),
            (full.into(), r#"bulkhead "db" and its queue of 4 are full"#),
            (waited.into(), "bulkhead had no free slot within 2s"),
            (ResilienceError::Cancelled, "operation cancelled"),
        ];
        for (err, message) in errors {
            assert_eq!(chain(&err), [message]);
        }
    }

    #[test]
    fn config_errors_are_concise_phrases() {
        let errors = [
            ConfigError::Zero {
                what: "bulkhead max_concurrent",
            },
            ConfigError::InvalidRatio {
                what: "retry budget ratio",
                value: f64::NAN,
            },
            ConfigError::InvalidFactor { value: 0.5 },
            ConfigError::InvertedDelays {
                min: Duration::from_secs(2),
                max: Duration::from_secs(1),
            },
            ConfigError::RateTooHigh {
                operations: 2,
                period: Duration::from_nanos(1),
            },
            ConfigError::MinimumCallsExceedWindow {
                minimum_calls: 10,
                window: 5,
            },
        ];
        for err in errors {
            let message = err.to_string();
            let first = message.chars().next().unwrap();
            assert!(first.is_lowercase() || first.is_ascii_digit(), "{message}");
            assert!(
                !message.ends_with('.') && !message.contains(';'),
                "{message}"
            );
            assert!(err.source().is_none());
        }
    }
}
