//! The batcher's errors: what an item's caller can get back, and what a bad configuration is.

use std::fmt;

/// Why [`add_item`](super::AsyncBatcher::add_item) produced no result for its item.
///
/// `E` is the batch operation's own error type. A batch-wide error is handed to **every** waiter of
/// that batch, so it is cloned once per item: `E` must be `Clone`. Wrap an error that is not (or is
/// expensive to clone) in an `Arc`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchError<E> {
    /// The batch operation failed as a whole; every item of the batch gets this error.
    Operation(E),
    /// The batch operation returned a number of results different from the number of items it was
    /// given, so no result can be matched to its item: every item of the batch fails.
    ResultCount {
        /// Items in the batch.
        expected: usize,
        /// Results the operation returned.
        actual: usize,
    },
    /// The batch operation panicked (when called, in a poll of its future, or in that future's
    /// `Drop`); the panic was caught and every item of the batch fails. Other batches are not
    /// affected.
    Panicked {
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
    },
    /// The queue was full and the batcher was built with [`OverflowPolicy::Reject`]: the item was
    /// not queued. Retry later, or build the batcher with a larger
    /// [`max_queued`](super::BatcherBuilder::max_queued).
    ///
    /// [`OverflowPolicy::Reject`]: super::OverflowPolicy::Reject
    Rejected,
    /// The batcher was closed (by [`close`](super::AsyncBatcher::close),
    /// [`shutdown`](super::AsyncBatcher::shutdown), or because its runtime stopped running its
    /// tasks) before the item was queued. The item was not queued.
    Closed,
    /// The item was queued but its batch never ran to completion: the runtime dropped the task
    /// running it (typically because the runtime shut down).
    Cancelled,
}

impl<E> BatchError<E> {
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
    /// let batcher = AsyncBatcher::new(&rt, op, 8, Duration::from_millis(1)).unwrap();
    /// let err = batcher.add_item(1).await.unwrap_err();
    /// assert!(err.is_operation());
    /// batcher.close();
    /// assert!(!batcher.add_item(2).await.unwrap_err().is_operation()); // `Closed`
    /// # });
    /// ```
    pub fn is_operation(&self) -> bool {
        matches!(self, BatchError::Operation(_))
    }

    /// The operation's own error, if this is [`BatchError::Operation`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::batch::BatchError;
    ///
    /// let err = BatchError::Operation("database unavailable");
    /// assert_eq!(err.into_operation(), Some("database unavailable"));
    /// let wrong = BatchError::<&str>::ResultCount { expected: 3, actual: 2 };
    /// assert_eq!(wrong.into_operation(), None); // the operation broke its contract instead
    /// ```
    pub fn into_operation(self) -> Option<E> {
        match self {
            BatchError::Operation(e) => Some(e),
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
    /// let batcher = AsyncBatcher::new(&rt, echo, 8, Duration::ZERO).unwrap();
    /// batcher.close();
    /// let err = batcher.add_item(1).await.unwrap_err();
    /// assert_eq!(err, BatchError::Closed);
    /// assert!(err.is_not_queued()); // safe to send elsewhere: the operation never saw it
    /// assert!(!BatchError::<()>::Cancelled.is_not_queued()); // queued, outcome unknown
    /// # });
    /// ```
    pub fn is_not_queued(&self) -> bool {
        matches!(self, BatchError::Rejected | BatchError::Closed)
    }
}

impl<E: fmt::Display> fmt::Display for BatchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Operation(e) => write!(f, "batch operation failed: {e}"),
            BatchError::ResultCount { expected, actual } => write!(
                f,
                "batch operation returned {actual} results for {expected} items \
                 (it must return exactly one result per item, in order)"
            ),
            BatchError::Panicked { message } => write!(f, "batch operation panicked: {message}"),
            BatchError::Rejected => f.write_str(
                "batcher queue is full and the batcher rejects instead of waiting; retry later",
            ),
            BatchError::Closed => f.write_str("batcher is closed; no new items are accepted"),
            BatchError::Cancelled => {
                f.write_str("the item's batch was dropped before it finished (runtime shut down)")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BatchError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BatchError::Operation(e) => Some(e),
            _ => None,
        }
    }
}

/// A batcher configuration that cannot work, reported by
/// [`AsyncBatcher::new`](super::AsyncBatcher::new) and
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
            BatchConfigError::ZeroBatchSize => f.write_str("max_batch_size must be at least 1"),
            BatchConfigError::ZeroInFlight => f.write_str("max_in_flight must be at least 1"),
            BatchConfigError::ZeroQueue => {
                f.write_str("max_queued is 0: use at least max_batch_size, or an unbounded queue")
            }
            BatchConfigError::QueueSmallerThanBatch {
                max_queued,
                max_batch_size,
            } => write!(
                f,
                "max_queued ({max_queued}) must be at least max_batch_size ({max_batch_size}), \
                 or no batch could ever fill up"
            ),
        }
    }
}

impl std::error::Error for BatchConfigError {}
