//! Building a batcher: sizes, bounds and what to do when the queue is full.

use std::future::Future;
use std::time::Duration;

use super::AsyncBatcher;
use super::error::BatchConfigError;
use super::operation::BatchResults;
use crate::rt::Runtime;
use crate::sync::MAX_PERMITS;

/// How many full batches the queue holds by default: `max_queued = max_batch_size * 8`.
pub const DEFAULT_QUEUED_BATCHES: usize = 8;

/// What [`add_item`](AsyncBatcher::add_item) does when the queue already holds `max_queued` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Wait until there is room (backpressure). Waiters are served in arrival order.
    #[default]
    Wait,
    /// Fail at once with [`BatchError::Rejected`](super::BatchError::Rejected).
    Reject,
}

/// Configures and builds an [`AsyncBatcher`].
///
/// | setting | default |
/// |---|---|
/// | `max_batch_size` | required |
/// | `max_wait_time` | required |
/// | [`max_in_flight`](Self::max_in_flight): batch operations running at once | 1 |
/// | [`max_queued`](Self::max_queued): items waiting for their batch to start | `max_batch_size * 8` |
/// | [`when_full`](Self::when_full) | [`OverflowPolicy::Wait`] |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::batch::{BatchError, BatcherBuilder, OverflowPolicy};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async {
///     let batcher = BatcherBuilder::new(100, Duration::from_millis(5))
///         .max_in_flight(4)
///         .max_queued(1_000)
///         .when_full(OverflowPolicy::Reject)
///         .build(&rt, |ids: Vec<u64>| async move {
///             // One round trip for the whole batch; an outer `Err` fails the whole batch.
///             Ok::<_, String>(ids.into_iter().map(|id| id * 10).collect::<Vec<_>>())
///         })
///         .unwrap();
///     assert_eq!(batcher.add_item(7).await, Ok(70));
///
///     // A bad configuration is an error, not a panic.
///     assert!(BatcherBuilder::new(0, Duration::from_millis(5))
///         .build(&rt, |v: Vec<u64>| async move { v })
///         .is_err());
/// # let _ = BatchError::<String>::Rejected;
/// });
/// ```
#[derive(Debug, Clone)]
pub struct BatcherBuilder {
    pub(super) max_batch_size: usize,
    pub(super) max_wait_time: Duration,
    pub(super) max_in_flight: usize,
    /// `None`: the default (`max_batch_size * DEFAULT_QUEUED_BATCHES`); `Some(None)`: unbounded.
    max_queued: Option<Option<usize>>,
    pub(super) overflow: OverflowPolicy,
}

/// A validated configuration.
#[derive(Debug, Clone, Copy)]
pub(super) struct Config {
    pub(super) max_batch_size: usize,
    pub(super) max_wait_time: Duration,
    pub(super) max_in_flight: usize,
    /// `None`: unbounded.
    pub(super) max_queued: Option<usize>,
    pub(super) overflow: OverflowPolicy,
}

impl BatcherBuilder {
    /// A batch is flushed as soon as it holds `max_batch_size` items, or when its oldest item has
    /// waited `max_wait_time` (a zero wait flushes whatever arrived together, at the batcher's
    /// next turn).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::{BatcherBuilder, BatchConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let double = |v: Vec<u32>| async move { v.into_iter().map(|x| x * 2).collect::<Vec<_>>() };
    /// let builder = BatcherBuilder::new(50, Duration::from_millis(10));
    /// let batcher = builder.build(&rt, double).unwrap();
    /// assert_eq!(batcher.max_batch_size(), 50);
    /// let err = BatcherBuilder::new(0, Duration::from_millis(10)).build(&rt, double).unwrap_err();
    /// assert_eq!(err, BatchConfigError::ZeroBatchSize);
    /// ```
    pub fn new(max_batch_size: usize, max_wait_time: Duration) -> Self {
        BatcherBuilder {
            max_batch_size,
            max_wait_time,
            max_in_flight: 1,
            max_queued: None,
            overflow: OverflowPolicy::Wait,
        }
    }

    /// How many batch operations may run at once (default 1). Full batches beyond that wait in the
    /// queue, where they count towards [`max_queued`](Self::max_queued).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::{BatcherBuilder, BatchConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async {
    ///
    /// let clock = rt.clone();
    /// let slow = move |v: Vec<u32>| {
    ///     let clock = clock.clone();
    ///     async move { clock.sleep(Duration::from_secs(1)).await; v }
    /// };
    /// let builder = BatcherBuilder::new(1, Duration::ZERO).max_in_flight(2);
    /// let batcher = builder.build(&rt, slow).unwrap();
    /// let start = rt.now();
    /// let callers: Vec<_> = (0..4).map(|i| {
    ///     let batcher = batcher.clone();
    ///     rt.spawn(async move { batcher.add_item(i).await })
    /// }).collect();
    /// for caller in callers {
    ///     assert!(caller.await.unwrap().is_ok());
    /// }
    /// assert_eq!(rt.now() - start, Duration::from_secs(2)); // four 1 s batches, two at a time
    /// let none = BatcherBuilder::new(1, Duration::ZERO).max_in_flight(0);
    /// let err = none.build(&rt, |v: Vec<u32>| async move { v }).unwrap_err();
    /// assert_eq!(err, BatchConfigError::ZeroInFlight);
    /// # });
    /// ```
    pub fn max_in_flight(mut self, max_in_flight: usize) -> Self {
        self.max_in_flight = max_in_flight;
        self
    }

    /// How many items may wait for their batch to start (default `max_batch_size * 8`). When
    /// the queue is full, [`when_full`](Self::when_full) decides. Items whose batch is running do
    /// not count. Must be at least `max_batch_size`. A bound above [`MAX_PERMITS`] means unbounded.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::{BatcherBuilder, BatchConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let echo = |v: Vec<u8>| async move { v };
    /// let builder = BatcherBuilder::new(10, Duration::from_millis(5));
    /// let batcher = builder.clone().max_queued(100).build(&rt, echo);
    /// assert!(batcher.is_ok());
    /// let err = BatcherBuilder::new(10, Duration::from_millis(5)).max_queued(5).build(&rt, echo);
    /// let too_small = BatchConfigError::QueueSmallerThanBatch { max_queued: 5, max_batch_size: 10 };
    /// assert_eq!(err.unwrap_err(), too_small);
    /// let err = BatcherBuilder::new(10, Duration::from_millis(5)).max_queued(0).build(&rt, echo);
    /// assert_eq!(err.unwrap_err(), BatchConfigError::ZeroQueue);
    /// ```
    pub fn max_queued(mut self, max_queued: usize) -> Self {
        self.max_queued = Some(Some(max_queued));
        self
    }

    /// No bound on queued items: `add_item` never waits for room and never rejects.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::{BatcherBuilder, OverflowPolicy};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async {
    ///
    /// let batcher = BatcherBuilder::new(2, Duration::from_secs(1))
    ///     .unbounded_queue()
    ///     .when_full(OverflowPolicy::Reject) // never applies: the queue is never full
    ///     .build(&rt, |v: Vec<u32>| async move { v })
    ///     .unwrap();
    /// let callers: Vec<_> = (0..100).map(|i| {
    ///     let batcher = batcher.clone();
    ///     rt.spawn(async move { batcher.add_item(i).await })
    /// }).collect();
    /// for (i, caller) in callers.into_iter().enumerate() {
    ///     assert_eq!(caller.await.unwrap(), Ok(i as u32));
    /// }
    /// assert_eq!(batcher.stats().items_rejected, 0);
    /// # });
    /// ```
    pub fn unbounded_queue(mut self) -> Self {
        self.max_queued = Some(None);
        self
    }

    /// Wait for room (the default) or reject when the queue is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::{BatchError, BatcherBuilder, OverflowPolicy};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async {
    ///
    /// let clock = rt.clone();
    /// let slow = move |v: Vec<u32>| {
    ///     let clock = clock.clone();
    ///     async move { clock.sleep(Duration::from_secs(1)).await; v }
    /// };
    /// let batcher = BatcherBuilder::new(1, Duration::ZERO)
    ///     .max_queued(1)
    ///     .when_full(OverflowPolicy::Reject)
    ///     .build(&rt, slow)
    ///     .unwrap();
    /// for i in 0..2 {
    ///     let batcher = batcher.clone();
    ///     rt.spawn(async move { batcher.add_item(i).await }).detach();
    /// }
    /// rt.sleep(Duration::from_millis(1)).await; // item 0 is running, item 1 fills the queue
    /// assert_eq!(batcher.add_item(2).await, Err(BatchError::Rejected));
    /// # });
    /// ```
    pub fn when_full(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = policy;
        self
    }

    pub(super) fn validate(&self) -> Result<Config, BatchConfigError> {
        if self.max_batch_size == 0 {
            return Err(BatchConfigError::ZeroBatchSize);
        }
        if self.max_in_flight == 0 {
            return Err(BatchConfigError::ZeroInFlight);
        }
        let max_queued = match self.max_queued {
            None => Some(self.max_batch_size.saturating_mul(DEFAULT_QUEUED_BATCHES)),
            Some(None) => None,
            Some(Some(0)) => return Err(BatchConfigError::ZeroQueue),
            Some(Some(n)) if n < self.max_batch_size => {
                return Err(BatchConfigError::QueueSmallerThanBatch {
                    max_queued: n,
                    max_batch_size: self.max_batch_size,
                });
            }
            Some(Some(n)) => Some(n),
        };
        Ok(Config {
            max_batch_size: self.max_batch_size,
            max_wait_time: self.max_wait_time,
            max_in_flight: self.max_in_flight,
            // The queue bound is kept by a semaphore, which holds at most MAX_PERMITS.
            max_queued: max_queued.filter(|&n| n <= MAX_PERMITS),
            overflow: self.overflow,
        })
    }

    /// Builds the batcher on `rt` around `batch_operation`, and starts its background task.
    ///
    /// `batch_operation` gets the items of one batch, in arrival order, and returns one result per
    /// item in the same order: a `Vec<O>`, or a `Result<Vec<O>, E>` whose `Err` fails the whole
    /// batch (see [`BatchResults`]). For per-item errors, let `O` be a `Result` itself.
    ///
    /// # Errors
    ///
    /// [`BatchConfigError`] if a size or bound is zero, or `max_queued < max_batch_size`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::{BatchError, BatcherBuilder, BatchConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async {
    ///
    /// // Per-item errors as `O = Result<..>`, a batch-wide error as the outer `Err`.
    /// let lookup = |ids: Vec<u32>| async move {
    ///     let one = |id: u32| if id < 100 { Ok(id) } else { Err("unknown") };
    ///     Ok::<_, String>(ids.into_iter().map(one).collect::<Vec<_>>())
    /// };
    /// let batcher = BatcherBuilder::new(16, Duration::from_millis(2)).build(&rt, lookup).unwrap();
    /// assert_eq!(batcher.add_item(7).await, Ok(Ok(7)));
    /// assert_eq!(batcher.add_item(700).await, Ok(Err("unknown")));
    /// let err = BatcherBuilder::new(16, Duration::ZERO).max_in_flight(0).build(&rt, lookup);
    /// assert_eq!(err.unwrap_err(), BatchConfigError::ZeroInFlight);
    /// # let _ = BatchError::<String>::Closed;
    /// # });
    /// ```
    pub fn build<I, O, E, F, Fut>(
        &self,
        rt: &Runtime,
        batch_operation: F,
    ) -> Result<AsyncBatcher<I, O, E>, BatchConfigError>
    where
        I: Send + 'static,
        O: Send + 'static,
        E: Clone + Send + 'static,
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: BatchResults<Output = O, Error = E>,
    {
        let config = self.validate()?;
        Ok(AsyncBatcher::start(rt, config, batch_operation))
    }
}
