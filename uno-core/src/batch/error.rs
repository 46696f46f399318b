//! The batcher's errors: what an item's caller can get back, and what a bad configuration is.

use std::fmt;
use std::sync::Arc;

/// Why [`add_item`](super::AsyncBatcher::add_item) produced no result for its item.
///
/// `E` is the batch operation's own error type. A batch-wide error is handed to **every** waiter of
/// that batch, so it is cloned once per item: `E` must be `Clone`. Wrap an error that is not (or is
/// expensive to clone) in an `Arc`.
///
/// Every variant carries the batcher's [`name`](super::BatcherBuilder::name), shown by `Display`
/// (`batcher "users" is closed`) and read with [`name`](Self::name). `Display` says what happened
/// in the batcher; the operation's own error is not repeated there but returned by
/// [`source`](std::error::Error::source) (when `E` is an error type) and by
/// [`operation_error`](Self::operation_error), so an error reporter prints each cause once.
///
/// # Examples
///
/// ```
/// use std::error::Error as _;
/// use std::sync::Arc;
/// use std::time::Duration;
/// use uno_core::batch::{AsyncBatcher, BatchError};
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// # vrt.block_on(async {
///
/// let refused = |_: Vec<u32>| async {
///     Err::<Vec<u32>, _>(Arc::new(std::io::Error::other("connection refused")))
/// };
/// let users = AsyncBatcher::builder(&rt, 8, Duration::from_millis(1))
///     .name("users")
///     .build(refused)
///     .unwrap();
/// let err = users.add_item(1).await.unwrap_err();
/// assert!(matches!(err, BatchError::Operation { .. }));
/// assert_eq!(err.to_string(), r#"batch operation of batcher "users" failed"#);
/// assert_eq!(err.source().unwrap().to_string(), "connection refused");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchError<E> {
    /// The batch operation failed as a whole with `error` (the
    /// [`source`](std::error::Error::source)); every item of the batch gets it.
    Operation {
        /// The batcher's name.
        name: Arc<str>,
        /// The operation's own error, cloned for each item of the batch.
        error: E,
    },
    /// The batch operation returned a number of results different from the number of items it was
    /// given, so no result can be matched to its item: every item of the batch fails. The
    /// operation must return exactly one result per item, in item order.
    ResultCount {
        /// The batcher's name.
        name: Arc<str>,
        /// Items in the batch.
        expected: usize,
        /// Results the operation returned.
        actual: usize,
    },
    /// The batch operation panicked (when called, in a poll of its future, or in that future's
    /// `Drop`); the panic was caught and every item of the batch fails. Other batches are not
    /// affected.
    Panicked {
        /// The batcher's name.
        name: Arc<str>,
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
    },
    /// The queue was full and the batcher was built with [`OverflowPolicy::Reject`]: the item was
    /// not queued. Retry later, or build the batcher with a larger
    /// [`max_queued`](super::BatcherBuilder::max_queued).
    ///
    /// [`OverflowPolicy::Reject`]: super::OverflowPolicy::Reject
    Rejected {
        /// The batcher's name.
        name: Arc<str>,
    },
    /// The batcher was closed (by [`close`](super::AsyncBatcher::close),
    /// [`shutdown`](super::AsyncBatcher::shutdown), or because its runtime stopped running its
    /// tasks) before the item was queued. The item was not queued.
    Closed {
        /// The batcher's name.
        name: Arc<str>,
    },
    /// The item was queued but its batch never ran to completion: the runtime dropped the task
    /// running it (typically because the runtime shut down).
    Cancelled {
        /// The batcher's name.
        name: Arc<str>,
    },
}

impl<E> BatchError<E> {
    /// The name of the batcher the error comes from.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::AsyncBatcher;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async {
    ///
    /// let echo = |v: Vec<u32>| async move { v };
    /// let batcher = AsyncBatcher::builder(&rt, 8, Duration::ZERO).build(echo).unwrap();
    /// batcher.close();
    /// assert_eq!(batcher.add_item(1).await.unwrap_err().name(), "batcher"); // the default
    /// # });
    /// ```
    pub fn name(&self) -> &str {
        match self {
            BatchError::Operation { name, .. }
            | BatchError::ResultCount { name, .. }
            | BatchError::Panicked { name, .. }
            | BatchError::Rejected { name }
            | BatchError::Closed { name }
            | BatchError::Cancelled { name } => name,
        }
    }

    /// Whether this is [`BatchError::Operation`]: the batch operation itself reported the error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::AsyncBatcher;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async {
    ///
    /// let op = |ids: Vec<u32>| async move { Err::<Vec<u32>, _>("database unavailable") };
    /// let batcher = AsyncBatcher::builder(&rt, 8, Duration::from_millis(1)).build(op).unwrap();
    /// let err = batcher.add_item(1).await.unwrap_err();
    /// assert!(err.is_operation());
    /// batcher.close();
    /// assert!(!batcher.add_item(2).await.unwrap_err().is_operation()); // `Closed`
    /// # });
    /// ```
    pub fn is_operation(&self) -> bool {
        matches!(self, BatchError::Operation { .. })
    }

    /// The operation's own error, if this is [`BatchError::Operation`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::batch::BatchError;
    ///
    /// let err = BatchError::Operation { name: "users".into(), error: "database unavailable" };
    /// assert_eq!(err.operation_error(), Some(&"database unavailable"));
    /// let closed = BatchError::<&str>::Closed { name: "users".into() };
    /// assert_eq!(closed.operation_error(), None);
    /// ```
    pub fn operation_error(&self) -> Option<&E> {
        match self {
            BatchError::Operation { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The operation's own error, if this is [`BatchError::Operation`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::batch::BatchError;
    ///
    /// let err = BatchError::Operation { name: "users".into(), error: "database unavailable" };
    /// assert_eq!(err.into_operation(), Some("database unavailable"));
    /// let wrong = BatchError::<&str>::ResultCount { name: "users".into(), expected: 3, actual: 2 };
    /// assert_eq!(wrong.into_operation(), None); // the operation broke its contract instead
    /// ```
    pub fn into_operation(self) -> Option<E> {
        match self {
            BatchError::Operation { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether the item was refused without being queued ([`Rejected`](BatchError::Rejected) or
    /// [`Closed`](BatchError::Closed)): the operation has certainly not seen it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::{AsyncBatcher, BatchError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async {
    ///
    /// let echo = |v: Vec<u32>| async move { v };
    /// let batcher = AsyncBatcher::builder(&rt, 8, Duration::ZERO).build(echo).unwrap();
    /// batcher.close();
    /// let err = batcher.add_item(1).await.unwrap_err();
    /// assert!(matches!(err, BatchError::Closed { .. }));
    /// assert!(err.is_not_queued()); // safe to send elsewhere: the operation never saw it
    /// let cancelled = BatchError::<()>::Cancelled { name: "batcher".into() };
    /// assert!(!cancelled.is_not_queued()); // queued, outcome unknown
    /// # });
    /// ```
    pub fn is_not_queued(&self) -> bool {
        matches!(
            self,
            BatchError::Rejected { .. } | BatchError::Closed { .. }
        )
    }
}

/// Says what happened in the batcher, never the operation's own error (that is the `source()`).
impl<E> fmt::Display for BatchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Operation { name, .. } => {
                write!(f, "batch operation of batcher {name:?} failed")
            }
            BatchError::ResultCount {
                name,
                expected,
                actual,
            } => write!(
                f,
                "batch operation of batcher {name:?} returned {actual} results for {expected} items"
            ),
            BatchError::Panicked { name, message } => {
                write!(f, "batch operation of batcher {name:?} panicked: {message}")
            }
            BatchError::Rejected { name } => write!(f, "batcher {name:?} queue is full"),
            BatchError::Closed { name } => write!(f, "batcher {name:?} is closed"),
            BatchError::Cancelled { name } => {
                write!(
                    f,
                    "batch of batcher {name:?} was dropped before it finished"
                )
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BatchError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BatchError::Operation { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A batcher configuration that cannot work, reported by
/// [`BatcherBuilder::build`](super::BatcherBuilder::build) instead of a panic later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchConfigError {
    /// `max_batch_size` is 0: no batch could ever hold an item. Use at least 1.
    ZeroBatchSize,
    /// `max_in_flight` is 0: no batch could ever run. Use at least 1.
    ZeroInFlight,
    /// `max_queued` is 0: no item could ever be queued. Use at least `max_batch_size`, or
    /// [`unbounded_queue`](super::BatcherBuilder::unbounded_queue).
    ZeroQueue,
    /// `max_queued` is smaller than `max_batch_size`, so a batch could never fill up and every
    /// batch would wait the full `max_wait_time`. Raise `max_queued` or lower `max_batch_size`.
    QueueSmallerThanBatch {
        /// The configured queue bound.
        max_queued: usize,
        /// The configured batch size.
        max_batch_size: usize,
    },
}

impl fmt::Display for BatchConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchConfigError::ZeroBatchSize => f.write_str("batcher max_batch_size is zero"),
            BatchConfigError::ZeroInFlight => f.write_str("batcher max_in_flight is zero"),
            BatchConfigError::ZeroQueue => f.write_str("batcher max_queued is zero"),
            BatchConfigError::QueueSmallerThanBatch {
                max_queued,
                max_batch_size,
            } => write!(
                f,
                "batcher max_queued ({max_queued}) is smaller than its max_batch_size ({max_batch_size})"
            ),
        }
    }
}

impl std::error::Error for BatchConfigError {}
