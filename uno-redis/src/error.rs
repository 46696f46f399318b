//! [`RedisError`], why a call to Redis produced no value, and [`ConfigError`], a bad
//! configuration refused at build time.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why a call to Redis produced no value.
///
/// Each variant either says what happened in its message or carries the cause as its
/// [`source`](Error::source), never both (std's rule), so a reporter that walks the chain prints
/// each cause once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_redis::RedisError;
///
/// let err = RedisError::Timeout { name: "sessions".into(), after: Duration::from_millis(250) };
/// assert!(err.is_timeout() && err.is_unavailable());
/// assert_eq!(err.to_string(), "redis `sessions`: no reply within 250ms");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RedisError {
    /// The call (connecting included) did not finish within the client's call timeout.
    Timeout {
        /// The client's name.
        name: Arc<str>,
        /// The timeout.
        after: Duration,
    },
    /// No connection to the server: connecting failed, or the connection broke during the call.
    /// The client reconnects in the background; the cause is the [`source`](Error::source).
    Connection {
        /// The client's name.
        name: Arc<str>,
        /// What the driver reported.
        source: Arc<redis::RedisError>,
    },
    /// The server answered with an error reply (`ERR ...`, `WRONGTYPE ...`, a script error).
    Server {
        /// The reply's code (`ERR`, `WRONGTYPE`, `NOSCRIPT`, ...).
        code: String,
        /// The rest of the reply.
        message: String,
    },
    /// The server's reply was not of the expected type (a bug or a key of the wrong kind); the
    /// driver's description is the [`source`](Error::source).
    Response {
        /// What the driver reported.
        source: Arc<redis::RedisError>,
    },
    /// A value could not be encoded or decoded; the codec's error is the
    /// [`source`](Error::source).
    Codec {
        /// The codec's error.
        source: Arc<dyn Error + Send + Sync>,
    },
    /// The configuration was refused.
    Config(ConfigError),
}

impl RedisError {
    /// Whether the call timed out.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::{ConfigError, RedisError};
    ///
    /// assert!(!RedisError::Config(ConfigError::EmptyKeyPrefix).is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, RedisError::Timeout { .. })
    }

    /// Whether Redis could not be asked at all (a timeout or no connection): the case a
    /// component's [`FailurePolicy`](crate::FailurePolicy) decides. Server errors, bad replies and
    /// codec errors are not: Redis answered.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::RedisError;
    ///
    /// let err = RedisError::Server { code: "ERR".into(), message: "unknown command".into() };
    /// assert!(!err.is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            RedisError::Timeout { .. } | RedisError::Connection { .. }
        )
    }

    /// The code of a server error reply (`"NOSCRIPT"`, `"WRONGTYPE"`, ...), if this is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::RedisError;
    ///
    /// let err = RedisError::Server { code: "WRONGTYPE".into(), message: "not a string".into() };
    /// assert_eq!(err.server_code(), Some("WRONGTYPE"));
    /// ```
    pub fn server_code(&self) -> Option<&str> {
        match self {
            RedisError::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Sorts a driver error into a variant: broken or refused connections are
    /// [`Connection`](Self::Connection), error replies [`Server`](Self::Server), the rest
    /// [`Response`](Self::Response).
    pub(crate) fn from_driver(name: &Arc<str>, err: redis::RedisError) -> Self {
        if err.is_io_error()
            || err.is_connection_dropped()
            || err.is_connection_refusal()
            || err.is_unrecoverable_error()
        {
            return RedisError::Connection {
                name: name.clone(),
                source: Arc::new(err),
            };
        }
        match err.code() {
            Some(code) => RedisError::Server {
                code: code.to_owned(),
                message: err.detail().unwrap_or_default().to_owned(),
            },
            None => RedisError::Response {
                source: Arc::new(err),
            },
        }
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Timeout { name, after } => {
                write!(f, "redis `{name}`: no reply within {after:?}")
            }
            RedisError::Connection { name, .. } => write!(f, "redis `{name}`: not connected"),
            RedisError::Server { code, message } => write!(f, "redis replied {code} {message}"),
            RedisError::Response { .. } => f.write_str("unexpected reply from redis"),
            RedisError::Codec { .. } => f.write_str("could not encode or decode a cached value"),
            RedisError::Config(err) => fmt::Display::fmt(err, f),
        }
    }
}

impl Error for RedisError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            RedisError::Connection { source, .. } | RedisError::Response { source } => {
                Some(&**source)
            }
            RedisError::Codec { source } => Some(&**source),
            RedisError::Timeout { .. } | RedisError::Server { .. } | RedisError::Config(_) => None,
        }
    }
}

impl From<ConfigError> for RedisError {
    fn from(err: ConfigError) -> Self {
        RedisError::Config(err)
    }
}

/// A configuration refused when a client or component is built: never a panic later.
///
/// # Examples
///
/// ```
/// use uno_redis::ConfigError;
///
/// let err = ConfigError::Zero { what: "lease ttl" };
/// assert_eq!(err.to_string(), "lease ttl must be greater than zero");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A count or duration that must be positive was zero.
    Zero {
        /// The setting.
        what: &'static str,
    },
    /// A duration longer than the component supports (`Duration::MAX`, say).
    TooLong {
        /// The setting.
        what: &'static str,
        /// The longest value accepted.
        max: Duration,
    },
    /// A count larger than the component supports (`u32::MAX`, say).
    TooLarge {
        /// The setting.
        what: &'static str,
        /// The largest value accepted.
        max: u64,
    },
    /// A rate limit finer than the limiter's clock (one microsecond, Redis' `TIME`) can count.
    RateTooHigh {
        /// Operations per period.
        operations: u32,
        /// The period.
        period: Duration,
    },
    /// A ratio outside its range (the fail-open share must be in `(0, 1]`).
    InvalidRatio {
        /// The setting.
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// The key prefix was empty: every component's keys must be told apart from other data.
    EmptyKeyPrefix,
    /// The connection URL could not be parsed (`redis://host:port/db`).
    InvalidUrl {
        /// What the driver said about it.
        reason: String,
    },
    /// A later setting contradicts an earlier one (`what` says which).
    Inconsistent {
        /// The contradiction.
        what: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Zero { what } => write!(f, "{what} must be greater than zero"),
            ConfigError::TooLong { what, max } => write!(f, "{what} must be at most {max:?}"),
            ConfigError::TooLarge { what, max } => write!(f, "{what} must be at most {max}"),
            ConfigError::RateTooHigh { operations, period } => write!(
                f,
                "{operations} operations per {period:?} is more than one per microsecond"
            ),
            ConfigError::InvalidRatio { what, value } => {
                write!(f, "{what} {value} is out of range")
            }
            ConfigError::EmptyKeyPrefix => f.write_str("the key prefix must not be empty"),
            ConfigError::InvalidUrl { reason } => write!(f, "invalid redis url: {reason}"),
            ConfigError::Inconsistent { what } => f.write_str(what),
        }
    }
}

impl Error for ConfigError {}

/// What a component does when Redis cannot be asked (a timeout, no connection).
///
/// # Examples
///
/// ```
/// use uno_redis::FailurePolicy;
///
/// assert_eq!(FailurePolicy::default(), FailurePolicy::FailClosed);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailurePolicy {
    /// Answer with a typed error (the limiter: "rate limit unavailable", with the
    /// [`RedisError`] as its source; the cache: the [`RedisError`]). The safe choice when
    /// admitting too much costs more than refusing.
    #[default]
    FailClosed,
    /// Carry on in-process: the limiter admits through a local `RateLimiter` at its configured
    /// share of the rate, the cache serves and fills its L1 alone. Stats count each fallback.
    FailOpen,
}
