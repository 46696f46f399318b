//! [`TwoLevelError`]: why a read of the two-level cache has no value.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use uno_core::cache::CacheError;
use uno_core::time::Elapsed;

use crate::RedisError;
use crate::codec::CodecError;

/// Why [`TwoLevelCache::get`](super::TwoLevelCache::get) (or
/// [`invalidate`](super::TwoLevelCache::invalidate)) has no value to return.
///
/// Every variant carries the cache's name. `Display` says what happened in the cache; the cause
/// (the fetch's error, the Redis error, the codec error) is the [`source`](Error::source), never
/// repeated in the message. Every reader of one load gets the same error, so the fetch's own
/// error is shared behind an [`Arc`].
///
/// # Examples
///
/// ```
/// use std::error::Error as _;
/// use std::sync::Arc;
/// use uno_redis::cache::TwoLevelError;
///
/// let err = TwoLevelError::Fetch { name: "users".into(), error: Arc::new(std::io::Error::other("db down")) };
/// assert_eq!(err.to_string(), r#"fetch for cache "users" failed"#);
/// assert_eq!(err.source().unwrap().to_string(), "db down");
/// assert_eq!(err.fetch_error().unwrap().to_string(), "db down");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum TwoLevelError<E> {
    /// The fetch function returned an error (the [`source`](Error::source)). Not cached: the next
    /// read fetches again.
    Fetch {
        /// The cache's name.
        name: Arc<str>,
        /// The fetch's own error, shared by every reader of that load.
        error: Arc<E>,
    },
    /// Redis could not be asked or answered with an error, and the cache is
    /// [`FailClosed`](crate::FailurePolicy::FailClosed) (a fail-open cache fetches directly
    /// instead). The [`RedisError`] is the [`source`](Error::source).
    Redis {
        /// The cache's name.
        name: Arc<str>,
        /// What the client reported.
        source: RedisError,
    },
    /// A value could not be encoded for Redis, or the bytes found there could not be decoded (the
    /// [`source`](Error::source)): another codec or an older layout of the value under the same
    /// cache name. Codec errors are never a fallback: they are bugs to see.
    Codec {
        /// The cache's name.
        name: Arc<str>,
        /// The codec's error.
        source: CodecError,
    },
    /// Another instance held the key's lease and neither filled the key nor let its lease expire
    /// within the cache's [`wait_timeout`](super::TwoLevelCacheBuilder::wait_timeout).
    WaitTimedOut {
        /// The cache's name.
        name: Arc<str>,
        /// How long this read waited.
        after: Duration,
    },
    /// The fetch (or the codec) panicked; the panic was caught, the lease released.
    Panicked {
        /// The cache's name.
        name: Arc<str>,
        /// The panic's message.
        message: String,
    },
    /// A background refresh ran longer than its limit (the L1 ttl) and was dropped; `elapsed` is
    /// the [`source`](Error::source). Only seen by a refresh, never by a read.
    TimedOut {
        /// The cache's name.
        name: Arc<str>,
        /// How long it ran.
        elapsed: Elapsed,
    },
    /// The load's task was dropped by the executor (say, at shutdown) before it finished.
    Cancelled {
        /// The cache's name.
        name: Arc<str>,
    },
}

impl<E> TwoLevelError<E> {
    /// The name of the cache the error comes from.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::cache::TwoLevelError;
    ///
    /// let err = TwoLevelError::<()>::Cancelled { name: "users".into() };
    /// assert_eq!(err.name(), "users");
    /// ```
    pub fn name(&self) -> &str {
        match self {
            TwoLevelError::Fetch { name, .. }
            | TwoLevelError::Redis { name, .. }
            | TwoLevelError::Codec { name, .. }
            | TwoLevelError::WaitTimedOut { name, .. }
            | TwoLevelError::Panicked { name, .. }
            | TwoLevelError::TimedOut { name, .. }
            | TwoLevelError::Cancelled { name } => name,
        }
    }

    /// The fetch's own error, if that is what this is.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::cache::TwoLevelError;
    ///
    /// let err = TwoLevelError::Fetch { name: "users".into(), error: "no such user".into() };
    /// assert_eq!(err.fetch_error(), Some(&"no such user"));
    /// ```
    pub fn fetch_error(&self) -> Option<&E> {
        match self {
            TwoLevelError::Fetch { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The Redis error, if Redis failed (only a fail-closed cache returns these from a read).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_redis::RedisError;
    /// use uno_redis::cache::TwoLevelError;
    ///
    /// let slow = RedisError::Timeout { name: "main".into(), after: Duration::from_millis(100) };
    /// let err = TwoLevelError::<()>::Redis { name: "users".into(), source: slow };
    /// assert!(err.redis_error().is_some_and(|e| e.is_timeout()));
    /// ```
    pub fn redis_error(&self) -> Option<&RedisError> {
        match self {
            TwoLevelError::Redis { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether a codec could not encode or decode a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::CodecError;
    /// use uno_redis::cache::TwoLevelError;
    ///
    /// let err = TwoLevelError::<()>::Codec { name: "users".into(), source: CodecError::decode("bad") };
    /// assert!(err.is_codec());
    /// ```
    pub fn is_codec(&self) -> bool {
        matches!(self, TwoLevelError::Codec { .. })
    }

    /// Whether the fetch (or the codec) panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::cache::TwoLevelError;
    ///
    /// let err = TwoLevelError::<()>::Panicked { name: "users".into(), message: "bug".into() };
    /// assert!(err.is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, TwoLevelError::Panicked { .. })
    }

    /// Whether this read gave up waiting for another instance's fill.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_redis::cache::TwoLevelError;
    ///
    /// let err = TwoLevelError::<()>::WaitTimedOut { name: "users".into(), after: Duration::from_secs(3) };
    /// assert!(err.is_wait_timeout());
    /// assert_eq!(err.to_string(), r#"cache "users": no fill by the lease holder within 3s"#);
    /// ```
    pub fn is_wait_timeout(&self) -> bool {
        matches!(self, TwoLevelError::WaitTimedOut { .. })
    }

    /// The error the L1 cache reports, flattened: a load's own error passes through as it was.
    pub(super) fn from_l1(err: CacheError<TwoLevelError<E>>) -> Self {
        match err {
            CacheError::Failed { error, .. } => (*error).clone(),
            CacheError::Panicked { name, message } => TwoLevelError::Panicked { name, message },
            CacheError::TimedOut { name, elapsed } => TwoLevelError::TimedOut { name, elapsed },
            CacheError::Cancelled { name } => TwoLevelError::Cancelled { name },
            // `CacheError` is non-exhaustive: a future variant is reported as a dropped load.
            other => TwoLevelError::Cancelled {
                name: other.name().into(),
            },
        }
    }
}

// Manual impl: a derive would demand `E: Clone`, but the fetch's error is shared as an `Arc`.
impl<E> Clone for TwoLevelError<E> {
    fn clone(&self) -> Self {
        match self {
            TwoLevelError::Fetch { name, error } => TwoLevelError::Fetch {
                name: name.clone(),
                error: error.clone(),
            },
            TwoLevelError::Redis { name, source } => TwoLevelError::Redis {
                name: name.clone(),
                source: source.clone(),
            },
            TwoLevelError::Codec { name, source } => TwoLevelError::Codec {
                name: name.clone(),
                source: source.clone(),
            },
            TwoLevelError::WaitTimedOut { name, after } => TwoLevelError::WaitTimedOut {
                name: name.clone(),
                after: *after,
            },
            TwoLevelError::Panicked { name, message } => TwoLevelError::Panicked {
                name: name.clone(),
                message: message.clone(),
            },
            TwoLevelError::TimedOut { name, elapsed } => TwoLevelError::TimedOut {
                name: name.clone(),
                elapsed: elapsed.clone(),
            },
            TwoLevelError::Cancelled { name } => TwoLevelError::Cancelled { name: name.clone() },
        }
    }
}

impl<E> fmt::Display for TwoLevelError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TwoLevelError::Fetch { name, .. } => write!(f, "fetch for cache {name:?} failed"),
            TwoLevelError::Redis { name, .. } => write!(f, "cache {name:?}: redis call failed"),
            TwoLevelError::Codec { name, .. } => write!(f, "cache {name:?}: codec failed"),
            TwoLevelError::WaitTimedOut { name, after } => {
                write!(
                    f,
                    "cache {name:?}: no fill by the lease holder within {after:?}"
                )
            }
            TwoLevelError::Panicked { name, message } => {
                write!(f, "fetch for cache {name:?} panicked: {message}")
            }
            TwoLevelError::TimedOut { name, .. } => {
                write!(f, "refresh for cache {name:?} exceeded its time limit")
            }
            TwoLevelError::Cancelled { name } => {
                write!(f, "load for cache {name:?} was dropped before it finished")
            }
        }
    }
}

impl<E: Error + 'static> Error for TwoLevelError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            TwoLevelError::Fetch { error, .. } => Some(&**error),
            TwoLevelError::Redis { source, .. } => Some(source),
            TwoLevelError::Codec { source, .. } => Some(source),
            TwoLevelError::TimedOut { elapsed, .. } => Some(elapsed),
            TwoLevelError::WaitTimedOut { .. }
            | TwoLevelError::Panicked { .. }
            | TwoLevelError::Cancelled { .. } => None,
        }
    }
}
