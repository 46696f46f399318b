//! The cache's errors: what a read can end with, and what a bad configuration is.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::time::Elapsed;

/// Why [`AsyncCache::get`](super::AsyncCache::get) has no value to return.
///
/// Every variant carries the cache's [`name`](super::CacheBuilder::name), shown by `Display`
/// (`fetch for cache "users" failed`) and read with [`name`](Self::name). Every waiter of one
/// fetch gets the same error, so the fetch's own error is shared behind an [`Arc`] (the error type
/// needs no `Clone`). Errors are not cached unless the cache was built with a
/// [`negative_ttl`](super::CacheBuilder::negative_ttl).
///
/// `Display` says what happened in the cache; the fetch's own error is not repeated there but
/// returned by [`source`](std::error::Error::source) (when `E` is an error type) and by
/// [`fetch_error`](Self::fetch_error), so an error reporter prints each cause once.
///
/// # Examples
///
/// ```
/// use std::error::Error as _;
/// # use uno_core::cache::AsyncCache;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// # vrt.block_on(async move {
/// let cache = AsyncCache::<u32, u32, std::io::Error>::builder(&rt)
///     .name("users")
///     .max_capacity(8)
///     .build()
///     .unwrap();
/// let refused = || async { Err(std::io::Error::other("connection refused")) };
/// let err = cache.get(1, refused).await.unwrap_err();
/// assert_eq!(err.to_string(), r#"fetch for cache "users" failed"#);
/// assert_eq!(err.source().unwrap().to_string(), "connection refused");
/// assert_eq!(err.name(), "users");
/// # });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CacheError<E> {
    /// The fetch returned an error: `error`, the [`source`](std::error::Error::source).
    Failed {
        /// The cache's name.
        name: Arc<str>,
        /// The fetch's own error, shared by every reader of the fetch.
        error: Arc<E>,
    },
    /// The fetch panicked — the closure, a poll of its future, or that future's `Drop` — or the
    /// loaded value's `Clone` did; the panic was caught and its message kept.
    Panicked {
        /// The cache's name.
        name: Arc<str>,
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
    },
    /// The fetch ran longer than the cache's [`fetch_timeout`](super::CacheBuilder::fetch_timeout)
    /// (or, for a background refresh, longer than its time limit) and was dropped. `elapsed` is
    /// the [`source`](std::error::Error::source).
    TimedOut {
        /// The cache's name.
        name: Arc<str>,
        /// How long the fetch ran.
        elapsed: Elapsed,
    },
    /// The fetch was dropped before it finished, because the executor dropped its task (for example
    /// while shutting down). Retrying on a live runtime starts a new fetch.
    Cancelled {
        /// The cache's name.
        name: Arc<str>,
    },
}

impl<E> CacheError<E> {
    /// The name of the cache the error comes from.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let cache = AsyncCache::<u32, u32, ()>::builder(&rt).max_capacity(8).build().unwrap();
    /// let err = cache.get(1, || async { Err(()) }).await.unwrap_err();
    /// assert_eq!(err.name(), "cache"); // the default name
    /// # });
    /// ```
    pub fn name(&self) -> &str {
        match self {
            CacheError::Failed { name, .. }
            | CacheError::Panicked { name, .. }
            | CacheError::TimedOut { name, .. }
            | CacheError::Cancelled { name } => name,
        }
    }

    /// The fetch's own error, if that is what this is.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let cache = AsyncCache::<u32, u32, std::io::ErrorKind>::builder(&rt);
    /// let cache = cache.max_capacity(8).build().unwrap();
    /// let err = cache.get(1, || async { Err(std::io::ErrorKind::NotFound) }).await.unwrap_err();
    /// assert_eq!(err.fetch_error(), Some(&std::io::ErrorKind::NotFound));
    /// let err = cache.get(2, || async { panic!("bug in the loader") }).await.unwrap_err();
    /// assert_eq!(err.fetch_error(), None); // a panic is not the fetch's own error
    /// # });
    /// ```
    pub fn fetch_error(&self) -> Option<&E> {
        match self {
            CacheError::Failed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether the fetch panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_core::cache::{AsyncCache, CacheError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let cache = AsyncCache::<u32, u32, ()>::builder(&rt).max_capacity(8).build().unwrap();
    /// let err = cache.get(1, || async { panic!("bug in the loader") }).await.unwrap_err();
    /// assert!(err.is_panic());
    /// assert!(matches!(err, CacheError::Panicked { message, .. } if message == "bug in the loader"));
    /// # });
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, CacheError::Panicked { .. })
    }

    /// Whether the fetch timed out.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let cache = AsyncCache::<u32, u32, ()>::builder(&rt)
    ///     .max_capacity(8)
    ///     .fetch_timeout(Duration::from_secs(1))
    ///     .build()
    ///     .unwrap();
    /// let err = cache.get(1, || std::future::pending()).await.unwrap_err();
    /// assert!(err.is_timeout() && !err.is_panic());
    /// # });
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, CacheError::TimedOut { .. })
    }

    /// Whether the fetch's task was dropped before it finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use uno_core::cache::CacheError;
    ///
    /// // What readers get when the executor drops the fetch's task (say, at shutdown).
    /// let dropped: CacheError<()> = CacheError::Cancelled { name: Arc::from("users") };
    /// assert!(dropped.is_cancelled());
    /// let failed = CacheError::Failed { name: Arc::from("users"), error: Arc::new(()) };
    /// assert!(!failed.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, CacheError::Cancelled { .. })
    }
}

// Manual impl: a derive would demand `E: Clone`, but the shared error is an `Arc`.
impl<E> Clone for CacheError<E> {
    fn clone(&self) -> Self {
        match self {
            CacheError::Failed { name, error } => CacheError::Failed {
                name: name.clone(),
                error: error.clone(),
            },
            CacheError::Panicked { name, message } => CacheError::Panicked {
                name: name.clone(),
                message: message.clone(),
            },
            CacheError::TimedOut { name, elapsed } => CacheError::TimedOut {
                name: name.clone(),
                elapsed: elapsed.clone(),
            },
            CacheError::Cancelled { name } => CacheError::Cancelled { name: name.clone() },
        }
    }
}

/// Compares the fetch errors by value (not by `Arc` identity), and everything else field by field.
impl<E: PartialEq> PartialEq for CacheError<E> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                CacheError::Failed { name, error },
                CacheError::Failed {
                    name: other_name,
                    error: other_error,
                },
            ) => name == other_name && error == other_error,
            (
                CacheError::Panicked { name, message },
                CacheError::Panicked {
                    name: other_name,
                    message: other_message,
                },
            ) => name == other_name && message == other_message,
            (
                CacheError::TimedOut { name, elapsed },
                CacheError::TimedOut {
                    name: other_name,
                    elapsed: other_elapsed,
                },
            ) => name == other_name && elapsed == other_elapsed,
            (CacheError::Cancelled { name }, CacheError::Cancelled { name: other_name }) => {
                name == other_name
            }
            _ => false,
        }
    }
}

impl<E: Eq> Eq for CacheError<E> {}

/// Says what happened in the cache, never the fetch's own error (that is the `source()`).
impl<E> fmt::Display for CacheError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Failed { name, .. } => write!(f, "fetch for cache {name:?} failed"),
            CacheError::Panicked { name, message } => {
                write!(f, "fetch for cache {name:?} panicked: {message}")
            }
            CacheError::TimedOut { name, .. } => {
                write!(f, "fetch for cache {name:?} exceeded its time limit")
            }
            CacheError::Cancelled { name } => {
                write!(f, "fetch for cache {name:?} was dropped before it finished")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CacheError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CacheError::Failed { error, .. } => Some(&**error),
            CacheError::TimedOut { elapsed, .. } => Some(elapsed),
            _ => None,
        }
    }
}

/// An invalid [`CacheBuilder`](super::CacheBuilder) configuration, reported by
/// [`build`](super::CacheBuilder::build) instead of a panic at use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheConfigError {
    /// No [`max_capacity`](super::CacheBuilder::max_capacity) was set: every cache needs a bound.
    MissingCapacity,
    /// `max_capacity(0)`: a cache that can hold nothing.
    ZeroCapacity,
    /// `ttl(Duration::ZERO)`: every entry would be expired on arrival.
    ZeroTtl,
    /// `refresh_after(Duration::ZERO)`: every read would start a refresh.
    ZeroRefreshAfter,
    /// `refresh_after >= ttl`: entries would expire before their refresh window opens.
    RefreshNotBeforeTtl {
        /// The configured refresh interval.
        refresh_after: Duration,
        /// The configured time to live.
        ttl: Duration,
    },
    /// `negative_ttl(Duration::ZERO)`: leave `negative_ttl` unset to not cache errors.
    ZeroNegativeTtl,
    /// `fetch_timeout(Duration::ZERO)`: every fetch would time out.
    ZeroFetchTimeout,
}

impl fmt::Display for CacheConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheConfigError::MissingCapacity => f.write_str("cache capacity is not set"),
            CacheConfigError::ZeroCapacity => f.write_str("cache capacity is zero"),
            CacheConfigError::ZeroTtl => f.write_str("cache ttl is zero"),
            CacheConfigError::ZeroRefreshAfter => f.write_str("cache refresh_after is zero"),
            CacheConfigError::RefreshNotBeforeTtl { refresh_after, ttl } => write!(
                f,
                "cache refresh_after ({refresh_after:?}) is not shorter than its ttl ({ttl:?})"
            ),
            CacheConfigError::ZeroNegativeTtl => f.write_str("cache negative_ttl is zero"),
            CacheConfigError::ZeroFetchTimeout => f.write_str("cache fetch_timeout is zero"),
        }
    }
}

impl std::error::Error for CacheConfigError {}
